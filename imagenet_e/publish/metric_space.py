"""The metric as a Hub Space that ``evaluate.load("NS/imagenet_e_metric")`` loads with evaluate, datasets and numpy alone.

The package folder ``imagenet_e_metric/`` is already a complete evaluate module: its script imports
every sibling it needs relatively and nothing of the project, so :func:`build_metric_space` copies
its files unchanged (checked, not rewritten) and adds the two files a Space needs beside them:

* ``README.md``: the metric card with Space front matter, its usage block filled in from the ids;
* ``requirements.txt``: evaluate, datasets, numpy and gradio, with the package's own lower bounds.

The Space is named ``imagenet_e_metric``, like the script (evaluate imports ``NAME.py``), the
module's ``info.module_name`` and the card's examples. :func:`publish_metric` uploads it to a
Space (see :mod:`imagenet_e.publish.hub`).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .. import __version__
from .hub import SpaceUpload, check_space, hub_api, require_token, upload_space
from imagenet_e_dataset.hub_ids import PublishedIds, check_repo_id, join_front_matter, replace_usage_block, split_front_matter, usage_markdown

METRIC_PACKAGE = "imagenet_e_metric"
"""The package, its module script (``imagenet_e_metric.py``) and the Space's name."""
APP_FILE = "app.py"
ALLOWED_LIBRARIES = frozenset({"numpy", "datasets", "evaluate", "pyarrow"})
APP_LIBRARIES = frozenset({"evaluate", "gradio"})
GENERATED_FILES: tuple[str, ...] = ("README.md", "requirements.txt")


def _package_folder() -> Path:
    spec = importlib.util.find_spec(METRIC_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the {METRIC_PACKAGE} package is not importable")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_file(name: str) -> Path:
    path = _package_folder() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {METRIC_PACKAGE} package")
    return path


def check_module_name(name: str) -> str:
    """The Space's name: evaluate imports ``NAME.py``, which is the package's ``imagenet_e_metric.py``."""
    if name != METRIC_PACKAGE:
        raise ValueError(f"metric Space name {name!r}: it must be {METRIC_PACKAGE!r} (evaluate imports NAME.py, and "
                         f"the module script, its info.module_name and the card's examples are all "
                         f"{METRIC_PACKAGE}); publish to NS/{METRIC_PACKAGE}")
    return name


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(top-level libraries, relatively imported siblings) of one module."""
    libraries, siblings = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            libraries.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                siblings.add((node.module or "").split(".")[0])
            else:
                libraries.add((node.module or "").split(".")[0])
    return libraries - set(sys.stdlib_module_names) - {"__future__"}, siblings


def space_modules() -> dict[str, Path]:
    """``{file name: path}`` of the package modules the Space ships, checked: the script imports every
    other module relatively (evaluate copies only those, and follows no import further) and nothing
    imports a library the Space does not install."""
    folder = _package_folder()
    script = f"{METRIC_PACKAGE}.py"
    modules = {p.name: p for p in sorted(folder.glob("*.py")) if p.name != "__init__.py"}
    if script not in modules or APP_FILE not in modules:
        raise FileNotFoundError(f"{folder} lacks {script} or {APP_FILE}")
    _, script_siblings = _imports(modules[script])
    for name, path in modules.items():
        libraries, siblings = _imports(path)
        allowed = APP_LIBRARIES if name == APP_FILE else ALLOWED_LIBRARIES
        if libraries - allowed:
            raise ValueError(f"{path} imports {sorted(libraries - allowed)}; the metric Space installs only "
                             f"{sorted(allowed)} (the metric imports numpy and the standard library)")
        missing = {s for s in siblings if f"{s}.py" not in modules}
        if missing:
            raise ValueError(f"{path} imports {sorted(missing)}, which are not modules of {folder}")
        if name not in (script, APP_FILE) and path.stem not in script_siblings:
            raise ValueError(f"{modules[script]} must import .{path.stem} itself (evaluate copies only the "
                             f"siblings the script imports)")
    return modules


def _requirement_bounds() -> dict[str, str]:
    """``{library: requirement}`` for the Space's libraries, with the bounds the package declares."""
    wanted = ["evaluate", "datasets", "numpy", "gradio"]
    bounds = {name: name for name in wanted}
    try:
        requires = metadata.requires("imagenet-e") or []
    except metadata.PackageNotFoundError:
        requires = []
    for requirement in requires:
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*([^;]*)", requirement)
        if match and match[1].lower() in bounds and match[2].strip():
            bounds[match[1].lower()] = f"{match[1].lower()}{match[2].strip().replace(' ', '')}"
    return bounds


def render_card(ids: PublishedIds, *, endpoint: str) -> str:
    """The metric Space's README: the package's metric card, Space front matter, usage block filled in."""
    source = _package_file("README.md")
    meta, body = split_front_matter(source.read_text(encoding="utf-8"), where=str(source))
    meta["sdk"] = "gradio"
    meta["app_file"] = "app.py"
    try:
        meta["sdk_version"] = metadata.version("gradio")
    except metadata.PackageNotFoundError:
        pass
    body = replace_usage_block(body, usage_markdown(ids, endpoint=endpoint, version=__version__), where=str(source))
    return join_front_matter(meta, body)


def _requirements() -> str:
    bounds = _requirement_bounds()
    return (f"# Generated by `imagenet-e publish-metric` (imagenet-e {__version__}): the metric needs only these.\n"
            + "".join(f"{bounds[lib]}\n" for lib in ("evaluate", "datasets", "numpy"))
            + ("gradio>=6,<7\n" if bounds["gradio"] == "gradio" else f"{bounds['gradio']}\n"))


def build_metric_space(folder: str | Path, *, ids: PublishedIds | None = None, endpoint: str | None = None) -> Path:
    """Write the metric Space into ``folder`` (created; named ``imagenet_e_metric``) and return it.

    ``evaluate.load(folder)`` then loads the metric with only evaluate, datasets and numpy
    installed. ``ids`` fill the card's usage block (default: the standard names under ``<org>``).
    The folder is written next to its final place and renamed into it, so a failed build leaves
    nothing; an existing ``folder`` is refused.
    """
    target = Path(folder)
    name = check_module_name(target.name)
    if target.exists():
        raise FileExistsError(f"{target} already exists; give a new folder for the metric Space")
    if ids is None:
        ids = PublishedIds.for_namespace("<org>")
    if endpoint is None:
        endpoint = "https://huggingface.co"
    files = {file_name: path.read_text(encoding="utf-8") for file_name, path in space_modules().items()}
    files["requirements.txt"] = _requirements()
    files["README.md"] = render_card(ids, endpoint=endpoint)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        for relative, text in files.items():
            (staging / relative).write_text(text, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; the folder is meant to be shared
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def publish_metric(repo_id: str, *, private: bool = False, dataset: str | None = None, results: str | None = None,
                   leaderboard: str | None = None, overwrite: bool = False, dry_run: bool = False) -> SpaceUpload:
    """Build the metric Space and make the gradio Space ``repo_id`` hold it; ``evaluate.load(repo_id)`` then works.

    Checks before uploading anything (ValueError naming the repo and the fix): the id's form, the repo
    name ``imagenet_e_metric``, a token the Hub accepts, that ``repo_id`` is not a Space of another
    SDK. Modules the package no longer has are deleted from the Space; unchanged files make no commit.
    """
    space_id = check_repo_id(repo_id, what="--repo-id", repo_type="space")
    name = check_module_name(space_id.split("/", 1)[1])
    ids = PublishedIds.around(space_id, metric=space_id, dataset=dataset, results=results, leaderboard=leaderboard)
    api = hub_api()
    require_token(api)
    check_space(api, space_id, what="metric Space")
    with tempfile.TemporaryDirectory(prefix="imagenet-e-metric-") as tmp:
        folder = build_metric_space(Path(tmp) / name, ids=ids, endpoint=api.endpoint)
        return upload_space(api, space_id, folder, kind="metric", private=private,
                            message=f"Publish the ImageNet-E metric (imagenet-e {__version__})",
                            delete_patterns=["*.py"], overwrite=overwrite, dry_run=dry_run)  # a module the package no longer has leaves the Space


__all__ = ["build_metric_space", "check_module_name", "publish_metric", "render_card", "space_modules"]
