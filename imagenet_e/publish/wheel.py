"""Build this project's wheel at publish time, reproducibly, from the source checkout.

The leaderboard Space carries the package as a wheel, so it starts on the Hub whether or not the
project is on PyPI. The wheel is built from a copy of the checkout's package folders (a ``build/``
folder left in the checkout would otherwise leak modules deleted since into the wheel) with
``SOURCE_DATE_EPOCH`` fixed, so the same sources give the same bytes and a re-publish of unchanged
code uploads nothing.
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# The project's top-level packages: the same list as `[tool.setuptools.packages.find] include`.
PROJECT_PACKAGES: tuple[str, ...] = ("imagenet_e", "imagenet_e_dataset", "imagenet_e_metric", "generation")
DISTRIBUTION = "imagenet-e"
# Zip timestamps of every build: 1980-01-01, the earliest a zip can hold.
SOURCE_DATE_EPOCH = "315532800"
_ROOT_FILES: tuple[str, ...] = ("pyproject.toml", "README.md", "LICENSE", "dataset_card.md")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


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


def _copy_sources(root: Path, into: Path) -> None:
    for name in _ROOT_FILES:
        if (root / name).exists():
            shutil.copy2(root / name, into / name)  # follows symlinks: a wheel holds files
    for package in PROJECT_PACKAGES:
        shutil.copytree(root / package, into / package, ignore=_IGNORE)


def build_wheel(out_dir: str | Path, *, root: Path | None = None) -> Path:
    """Build ``imagenet_e-<version>-py3-none-any.whl`` into ``out_dir`` and return its path."""
    root = root or project_root()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imagenet-e-wheel-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        _copy_sources(root, source)
        built = Path(tmp) / "dist"
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "-q", "-w", str(built), str(source)]
        if importlib.util.find_spec("setuptools") is not None:
            # The build backend is already here: no isolated build environment to download.
            command.insert(4, "--no-build-isolation")
        else:
            command.remove("--no-index")
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        result = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
        wheels = sorted(built.glob("imagenet_e-*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"building the imagenet-e wheel from {root} failed:\n{result.stdout}{result.stderr}")
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


__all__ = ["build_wheel", "project_root", "wheel_requirements"]
