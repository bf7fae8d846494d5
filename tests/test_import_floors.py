"""The project's floors, checked on the source: every import of every module (top level, inside functions,
under ``TYPE_CHECKING``) read with ``ast``.

- ``imagenet_e_dataset`` is the ground floor: it imports no other project package;
- ``generation`` and ``imagenet_e_metric`` stand on it and do not import each other;
- ``imagenet_e_metric`` imports no project package at all (its evaluate Space ships its own files);
- ``imagenet_e`` is on top;
- no import circle between modules (a package ``__init__`` re-exporting its children is not one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Known edges owned by other branches. Each line is removed when that branch merges; the lead empties
# this allow-list at merge. Nothing else may be added here.
KNOWN_CLIMBS: frozenset[str] = frozenset()

FLOOR = {"imagenet_e_dataset": 0, "generation": 1, "imagenet_e_metric": 1, "imagenet_e": 2}
"""Higher imports lower; equal floors do not import each other."""


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the floor packages under ``root``."""
    modules = {}
    for package in FLOOR:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (``from a import b`` counts as ``a.b`` when
    ``b`` is a module, else as ``a``)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` also imports a and a.b, but those are packages on the same floor as a.b.c.
            if target in modules and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def climbing_imports(graph: dict[str, set[str]]) -> list[str]:
    """``module -> import`` for every import that breaks the floors."""
    bad = []
    for module, targets in graph.items():
        a = module.split(".")[0]
        for target in sorted(targets):
            b = target.split(".")[0]
            if a == b:
                continue
            if a == "imagenet_e_metric" or FLOOR[b] >= FLOOR[a]:
                bad.append(f"{module} -> {target}")
    return sorted(bad)


def import_circles(graph: dict[str, set[str]], modules: dict[str, Path]) -> list[list[str]]:
    """Strongly connected groups of more than one non-``__init__`` module (each an import circle)."""
    leaves = {m for m, p in modules.items() if p.name != "__init__.py"}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm (the graph is a few hundred modules: recursion is fine)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v] & leaves):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for v in sorted(leaves):
        if v not in index:
            visit(v)
    return circles


def _explain(circle: list[str], graph: dict[str, set[str]]) -> str:
    members = set(circle)
    return "; ".join(f"{m} -> {t}" for m in circle for t in sorted(graph[m] & members))


def test_no_import_climbs_a_floor():
    graph = import_graph(REPO)
    climbs = climbing_imports(graph)
    unexpected = [c for c in climbs if c not in KNOWN_CLIMBS]
    assert not unexpected, "imports from a lower floor to a higher one:\n" + "\n".join(unexpected)
    # The allow-list only shrinks: an entry that no longer happens must be deleted with the fix.
    stale = sorted(KNOWN_CLIMBS - set(climbs))
    assert not stale, "KNOWN_CLIMBS lists edges that are gone (delete them):\n" + "\n".join(stale)


def test_no_import_circle_between_modules():
    modules = project_modules(REPO)
    graph = import_graph(REPO)
    circles = import_circles(graph, modules)
    assert not circles, "import circles:\n" + "\n".join(_explain(c, graph) for c in circles)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for package in FLOOR:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(("source", "edge"), [
    ("from imagenet_e.eval import runner\n", "imagenet_e_dataset.reader -> imagenet_e.eval.runner"),
    ("def f():\n    import generation.masks\n", "imagenet_e_dataset.reader -> generation.masks"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from imagenet_e_metric.core import x\n",
     "imagenet_e_dataset.reader -> imagenet_e_metric.core"),
])
def test_the_checker_names_a_climb_wherever_the_import_sits(tmp_path, source, edge):
    root = _tree(tmp_path, {"imagenet_e_dataset/reader.py": source, "imagenet_e/eval/__init__.py": "",
                            "imagenet_e/eval/runner.py": "", "generation/masks.py": "", "imagenet_e_metric/core.py": ""})
    assert climbing_imports(import_graph(root)) == [edge]


def test_the_checker_names_metric_generation_edges_and_relative_circles(tmp_path):
    root = _tree(tmp_path, {
        "imagenet_e_metric/core.py": "from imagenet_e_dataset import labels\n",
        "imagenet_e_dataset/labels.py": "",
        "generation/a.py": "from .b import thing\nimport imagenet_e_metric.core\n",
        "generation/b.py": "def f():\n    from . import a\n",
    })
    graph = import_graph(root)
    assert climbing_imports(graph) == ["generation.a -> imagenet_e_metric.core",
                                       "imagenet_e_metric.core -> imagenet_e_dataset.labels"]
    assert import_circles(graph, project_modules(root)) == [["generation.a", "generation.b"]]
