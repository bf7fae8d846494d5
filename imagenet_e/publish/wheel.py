"""Build this project's wheel at publish time, reproducibly, from the checkout's tracked files only.

The leaderboard Space carries the package as a wheel, so it starts on the Hub whether or not the
project is on PyPI. What goes into that public wheel is decided by git and pyproject, never by what
happens to lie in the package folders:

* the sources are exported from ``git ls-files`` (the tracked files, with the working tree's
  content, so what was just tested is what ships; untracked files, ignored build output and
  anything a developer left beside the code never leave the machine);
* a tracked symbolic link is refused, naming it, unless it leads to another tracked file of the
  checkout (whose content ships as a copy): a link's target could be any file (a token, a key);
* the wheel is built by the standard backend (``python -m build --wheel``) from that export, with
  ``SOURCE_DATE_EPOCH`` fixed, so the same sources give the same bytes and a re-publish of
  unchanged code uploads nothing;
* the built wheel's file list must equal :func:`declared_package_files`: the tracked modules of the
  packages pyproject declares plus the package data it names file pattern by file pattern.
"""

from __future__ import annotations

import email.parser
import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# The project's top-level packages: the same list as `[tool.setuptools.packages.find] include`.
PROJECT_PACKAGES: tuple[str, ...] = ("imagenet_e", "imagenet_e_dataset", "imagenet_e_metric", "generation")
DISTRIBUTION = "imagenet-e"
# Zip timestamps of every build: 1980-01-01, the earliest a zip can hold.
SOURCE_DATE_EPOCH = "315532800"
# Files outside the packages that the build reads (pyproject names README.md as the long description).
_ROOT_FILES: tuple[str, ...] = ("pyproject.toml", "README.md", "LICENSE", "dataset_card.md")


def project_root() -> Path:
    """The source checkout holding this package; ValueError when the package is installed without one."""
    spec = importlib.util.find_spec("imagenet_e")
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or not re.search(r'(?m)^name\s*=\s*"imagenet-e"', pyproject.read_text("utf-8")):
        raise ValueError(f"imagenet_e is installed from {root}, which is not a source checkout of imagenet-e "
                         "(no pyproject.toml): publishing builds a wheel from the sources, so run it from a "
                         "checkout installed with `pip install -e .`")
    return root


def tracked_files(root: Path) -> list[str]:
    """The files git tracks in ``root`` (posix paths); ValueError when ``root`` is not a git checkout."""
    result = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, text=True)
    if result.returncode != 0:
        raise ValueError(f"{root} is not a git checkout (git ls-files: {result.stderr.strip()}): the published "
                         "wheel is built from the files git tracks, so publish from a clone of the project")
    return sorted(name for name in result.stdout.split("\0") if name)


def _setuptools_config(root: Path) -> dict:
    with open(root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle).get("tool", {}).get("setuptools", {})


def _matches(relative: str, pattern: str) -> bool:
    # fnmatch's "*" also crosses "/"; setuptools' globs do not, so the depth must agree.
    return relative.count("/") == pattern.count("/") and fnmatch.fnmatchcase(relative, pattern)


def declared_package_files(root: Path, tracked: list[str] | None = None) -> set[str]:
    """The files the wheel must hold: tracked modules of the declared packages and the declared data."""
    tracked = tracked_files(root) if tracked is None else tracked
    config = _setuptools_config(root)
    include = config.get("packages", {}).get("find", {}).get("include", ["*"])
    packages = {os.path.dirname(name) for name in tracked if name.endswith("/__init__.py")}
    packages = {p for p in packages if any(fnmatch.fnmatchcase(p.replace("/", "."), i) for i in include)}
    declared = {name for name in tracked if name.endswith(".py") and os.path.dirname(name) in packages}
    for package, patterns in config.get("package-data", {}).items():
        folder = package.replace(".", "/")
        if folder not in packages:
            raise ValueError(f"pyproject.toml declares package data for {package!r}, which is not a package here")
        for name in tracked:
            if name.startswith(folder + "/") and any(_matches(name[len(folder) + 1:], p) for p in patterns):
                declared.add(name)
    return declared


def _links_to_tracked_file(link: Path, real_root: Path, tracked: set[str]) -> bool:
    target = link.resolve()
    if not target.is_file() or real_root not in target.parents:
        return False
    relative = target.relative_to(real_root).as_posix()
    return relative in tracked and not (real_root / relative).is_symlink()


def export_tracked_sources(root: Path, into: Path) -> list[str]:
    """Copy the tracked files the build reads into ``into``; ValueError naming a tracked link."""
    tracked = tracked_files(root)
    packages = {name.split("/", 1)[0] for name in declared_package_files(root, tracked)}
    real_root, tracked_set = root.resolve(), set(tracked)
    exported = []
    for name in tracked:
        if name.split("/", 1)[0] not in packages and name not in _ROOT_FILES:
            continue
        source = root / name
        if source.is_symlink() and not _links_to_tracked_file(source, real_root, tracked_set):
            raise ValueError(f"{source} is a symbolic link (to {os.readlink(source)}) that does not lead to a tracked file "
                             "of the checkout; the published wheel holds only tracked files: replace the link by the "
                             "file itself or stop tracking it")
        if not source.exists():  # deleted in the working tree, not yet in git: it does not ship
            continue
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        exported.append(name)
    return exported


def wheel_files(wheel: Path) -> set[str]:
    """The files of a wheel outside its ``.dist-info`` folder."""
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if not n.split("/", 1)[0].endswith(".dist-info")}


def check_wheel_files(wheel: Path, declared: set[str]) -> None:
    """ValueError listing the differences when ``wheel`` does not hold exactly ``declared``."""
    found = wheel_files(wheel)
    extra, missing = sorted(found - declared), sorted(declared - found)
    if extra or missing:
        raise ValueError(f"{wheel.name} does not hold exactly the declared package files: "
                         f"undeclared {extra[:20]}, missing {missing[:20]}")


def build_wheel(out_dir: str | Path, *, root: Path | None = None) -> Path:
    """Build ``imagenet_e-<version>-py3-none-any.whl`` into ``out_dir`` from tracked files; return its path."""
    root = root or project_root()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    declared = declared_package_files(root)
    with tempfile.TemporaryDirectory(prefix="imagenet-e-wheel-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        export_tracked_sources(root, source)
        built = Path(tmp) / "dist"
        command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(built), str(source)]
        if importlib.util.find_spec("setuptools") is not None:
            command.insert(4, "--no-isolation")  # the backend is here already: nothing to download
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        result = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
        wheels = sorted(built.glob("imagenet_e-*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"building the imagenet-e wheel from {root} failed:\n{result.stdout}{result.stderr}")
        check_wheel_files(wheels[0], {name for name in declared if (source / name).exists()})
        target = out / wheels[0].name
        shutil.move(str(wheels[0]), target)
    return target


def wheel_requirements(wheel: Path, *, extras: tuple[str, ...] = ()) -> list[str]:
    """The wheel's ``Requires-Dist`` lines: the base ones, plus those of ``extras``, markers dropped."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    requirements = []
    for line in message.get_all("Requires-Dist") or []:
        requirement, _, marker = line.partition(";")
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if not marker.strip() or (extra and extra[1] in extras):
            requirements.append(requirement.strip().replace(" ", ""))
    return requirements


__all__ = ["build_wheel", "check_wheel_files", "declared_package_files", "export_tracked_sources", "project_root",
           "tracked_files", "wheel_files", "wheel_requirements"]
