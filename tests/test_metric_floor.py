"""The metric stands on numpy and the standard library: its subset facts come from a table shipped in
the package (written from the registry, checked current here) and from the caller's description."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.metric_rows import rows_from_marks
from imagenet_e_dataset.metric_table import benchmark_document, metric_description, render_benchmark_module
from imagenet_e_dataset.registry import SUBSETS
from imagenet_e_metric import compute_imagenet_e
from imagenet_e_metric.subsets import benchmark_table

PACKAGE = Path(__file__).resolve().parents[1] / "imagenet_e_metric"
MODULE_FILE_LIBRARIES = {"numpy", "evaluate", "datasets", "pyarrow"}


def _libraries(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add((node.module or "").split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


def test_the_shipped_table_is_the_registry_rendered():
    shipped = (PACKAGE / "benchmark_subsets.py").read_text(encoding="utf-8")
    assert shipped == render_benchmark_module(), \
        "imagenet_e_metric/benchmark_subsets.py is stale: run `python -m imagenet_e_dataset.metric_table`"
    table = benchmark_table()
    assert [s.name for s in table.ordered()] == list(SUBSETS)
    assert {s.alias: s.name for s in table.subsets.values()} == {s.alias: s.name for s in SUBSETS.values()}
    assert table.control == benchmark_document()["control"] and table.control_subset.attribute == "background"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_each_module_imports_only_numpy_and_the_standard_library(path):
    allowed = {"imagenet_e_metric.py": MODULE_FILE_LIBRARIES, "app.py": {"evaluate", "gradio"}}.get(path.name, {"numpy"})
    assert _libraries(path) <= allowed, path.name


def test_importing_the_metric_loads_no_other_project_package():
    code = ("import sys, imagenet_e_metric\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'imagenet_e', 'imagenet_e_dataset', 'generation'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_description_groups_orders_and_sweeps_configs_the_metric_does_not_ship():
    data = {"original": [1, 1, 1, 1], "warp_3": [1, 0, 1, 0], "warp_1": [1, 1, 1, 0], "rp": [1, 1, 0, 1]}
    with pytest.raises(ValueError, match=r"subsets\[4\]: unknown ImageNet-E subset 'warp_3'.*description="):
        compute_imagenet_e(*rows_from_marks(data))
    description = {"warp_1": {"attribute": "warp", "severity": 1, "order": 20},
                   "warp_3": {"attribute": "warp", "severity": 3, "order": 21, "level": "3 px"}}
    r = compute_imagenet_e(*rows_from_marks(data), description=description, n_bootstrap=50)
    assert list(r["accuracy"]) == ["original", "position_random", "warp_1", "warp_3"]  # by order, original first
    assert r["attribute_drop"] == pytest.approx({"position": 0.25, "warp": 0.375})
    sweep = r["sweeps"]["warp"]
    assert sweep["levels"] == ["1", "3 px"] and sweep["accuracy"] == [0.75, 0.5]
    assert sweep["failure"]["first_failure_counts"] == {"1": 1, "3 px": 1}


def test_the_registry_description_reproduces_the_registry_grouping():
    # What the eval runner passes: the registry's records for the configs present (a size sweep here).
    names = ["original", "size_0.2", "size_0.05", "occlusion_0.5"]
    description = metric_description(names)
    assert description["size_0.2"]["attribute"] == "size" and description["size_0.2"]["severity"] > 0
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 2, 40).tolist()
    r = compute_imagenet_e(preds, [1] * 40, [n for n in names for _ in range(10)], [f"s{k}" for k in range(10)] * 4,
                           description=description, n_bootstrap=0)
    assert list(r["accuracy"]) == names[:1] + [n for n in description if n != "original"]
    assert set(r["attribute_drop"]) == {"size", "occlusion"} and set(r["sweeps"]) == {"size"}


def test_a_whole_dataset_description_is_read_through_its_configs():
    data = rows_from_marks({"original": [1, 1], "warp_1": [1, 0]})
    record = {"attribute": "warp", "severity": 1.0, "order": 20, "spec": {"px": 1}}
    as_mapping = {"name": "photos-e", "configs": {"warp_1": record}, "label_space": {"names": ["a"]}}
    as_list = {"name": "photos-e", "configs": [{"name": "warp_1", **record}]}
    expected = compute_imagenet_e(*data, description={"warp_1": record}, n_bootstrap=0)
    assert expected["attribute_drop"] == {"warp": 0.5}
    assert compute_imagenet_e(*data, description=as_mapping, n_bootstrap=0) == expected
    assert compute_imagenet_e(*data, description=as_list, n_bootstrap=0) == expected


@pytest.mark.parametrize("description, message", [
    ({"warp_1": {"severity": 1}}, r"description: config 'warp_1' has no 'attribute'"),
    ({"warp_1": "warp"}, r"description: config 'warp_1' must map to a record"),
    ({"warp_1": {"attribute": "warp", "severity": "high"}}, r"'severity' must be a finite number or null, got 'high'"),
    (["warp_1"], r"description must map config name"),
])
def test_a_bad_description_is_refused_naming_the_config(description, message):
    with pytest.raises(ValueError, match=message):
        compute_imagenet_e(*rows_from_marks({"original": [1], "rp": [0]}), description=description)
