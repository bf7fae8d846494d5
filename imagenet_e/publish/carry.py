"""Carry package modules into a flat folder whose modules import each other relatively.

An ``evaluate`` module on the Hub is one folder: the script plus ``.py`` files it imports with
``from .name import ...``. The metric's numpy core and the facts it checks (subset table, label
count) live in the package under absolute names. :func:`carry_modules` follows the project-local
imports of the modules asked for, copies each module's source, and rewrites every project import to
a relative one, so the folder needs no ``imagenet-e`` install. Anything else a carried module
imports must be the standard library or one of the allowed libraries; a new import of, say,
``PIL`` in the core fails the build here, naming the module, instead of breaking ``evaluate.load``
for users.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

# The project's top-level packages: the same list as `[tool.setuptools.packages.find] include`.
PROJECT_PACKAGES: tuple[str, ...] = ("imagenet_e", "imagenet_e_dataset", "imagenet_e_metric", "generation")


@dataclass(frozen=True)
class CarriedModule:
    """One package module as it will sit in the flat folder."""

    module: str
    """Dotted name in the package (``imagenet_e_dataset.registry``)."""
    flat_name: str
    """File stem in the folder (``registry``)."""
    source: str
    """Source with every project import rewritten to ``from .<flat_name> import ...``."""


def _is_project(module: str) -> bool:
    return module.split(".", 1)[0] in PROJECT_PACKAGES


def _origin(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"cannot find the source of module {module!r}")
    return Path(spec.origin)


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".")
    if node.level - 1 >= len(parts):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    base = ".".join(parts[: len(parts) - (node.level - 1)])
    return f"{base}.{node.module}" if node.module else base


def _aliases(node: ast.ImportFrom) -> str:
    return ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in node.names)


def _check_library(name: str, where: str, allowed: frozenset[str]) -> None:
    top = name.split(".", 1)[0]
    if top and top not in sys.stdlib_module_names and top not in allowed:
        raise ValueError(
            f"{where} imports {name!r}, which the published folder cannot carry: it may import only the "
            f"standard library, {', '.join(sorted(allowed))} and project modules")


def _import_time_nodes(tree: ast.Module):
    """The import statements that run when the module is imported.

    Imports inside functions run only when the function is called (planners import the image
    toolkit lazily; the metric never calls them), and ``if TYPE_CHECKING:`` blocks never run, so
    neither is carried nor checked.
    """
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending += node.orelse
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        pending += list(ast.iter_child_nodes(node))


def _scan(module: str, source: str, path: Path, allowed: frozenset[str]) -> tuple[list[str], list[tuple[ast.ImportFrom, str, list[str]]]]:
    """Project modules ``module`` imports when imported, and the project imports to rewrite with their
    targets (lazy imports inside functions are rewritten when their target is carried anyway)."""
    tree = ast.parse(source, filename=str(path))
    is_package = path.name == "__init__.py"
    deps: list[str] = []
    rewrites: list[tuple[ast.ImportFrom, str, list[str]]] = []
    eager = {id(node) for node in _import_time_nodes(tree)}
    for node in ast.walk(tree):
        lazy = id(node) not in eager
        if isinstance(node, ast.Import):
            if lazy:
                continue
            for alias in node.names:
                if _is_project(alias.name):
                    raise ValueError(f"{path}:{node.lineno}: `import {alias.name}` cannot be carried; "
                                     f"write `from {alias.name.rpartition('.')[0] or alias.name} import ...`")
                _check_library(alias.name, f"{path}:{node.lineno}", allowed)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            target = _absolute(node, module, is_package)
            if not _is_project(target):
                if not lazy:
                    _check_library(target, f"{path}:{node.lineno}", allowed)
                continue
            if _is_package(target):
                # `from pkg import sub` carries submodules; names defined in the package's __init__
                # would drag the whole package along, so they are refused.
                subs = [f"{target}.{a.name}" for a in node.names]
                missing = [s for s in subs if importlib.util.find_spec(s) is None]
                if missing:
                    if lazy:
                        continue
                    raise ValueError(f"{path}:{node.lineno}: imports {', '.join(a.name for a in node.names)} from "
                                     f"package {target!r}; import them from the module that defines them")
                if not lazy:
                    deps += subs
                rewrites.append((node, "", subs))
            else:
                if not lazy:
                    deps.append(target)
                rewrites.append((node, target, [target]))
    return deps, rewrites


def carry_modules(roots: list[str], *, allowed_libraries: frozenset[str], reserved: frozenset[str] = frozenset()) -> list[CarriedModule]:
    """The ``roots`` and every project module they import (transitively), with relative imports.

    Raises ValueError when a module imports a library outside ``allowed_libraries`` (and the
    standard library), imports a project package's ``__init__`` names, or when two carried modules
    (or a module and a ``reserved`` file stem) would share a file name.
    """
    order: list[str] = []
    found: dict[str, tuple[str, Path, list[tuple[ast.ImportFrom, str, list[str]]]]] = {}
    pending = list(roots)
    while pending:
        module = pending.pop(0)
        if module in found:
            continue
        path = _origin(module)
        source = path.read_text(encoding="utf-8")
        deps, rewrites = _scan(module, source, path, allowed_libraries)
        found[module] = (source, path, rewrites)
        order.append(module)
        pending += [d for d in deps if d not in found]

    flat: dict[str, str] = {}
    for module in order:
        stem = module.rpartition(".")[2]
        if stem == "__init__" or stem in reserved or stem in flat.values():
            clash = next((m for m, s in flat.items() if s == stem), "a generated file")
            raise ValueError(f"modules {module!r} and {clash!r} would both be {stem}.py in the published folder")
        flat[module] = stem

    carried = []
    for module in order:
        source, path, rewrites = found[module]
        lines = source.splitlines(keepends=True)
        # Bottom-up, so earlier line numbers stay valid; each rewrite replaces the node's whole lines
        # (a trailing comment goes too: evaluate reads `# From:` comments on relative imports as URLs).
        for node, target, targets in sorted(rewrites, key=lambda r: r[0].lineno, reverse=True):
            if any(t not in flat for t in targets):
                continue  # a lazy import of a module the folder does not carry: only fails if called
            indent = " " * node.col_offset
            if target:
                text = f"{indent}from .{flat[target]} import {_aliases(node)}\n"
            else:
                names = ", ".join(flat[t] if a.asname is None else f"{flat[t]} as {a.asname}"
                                  for a, t in zip(node.names, targets))
                text = f"{indent}from . import {names}\n"
            lines[node.lineno - 1: node.end_lineno] = [text]
        carried.append(CarriedModule(module, flat[module], "".join(lines)))
    return carried
