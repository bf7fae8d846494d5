"""The subset records the metric reads, written from the registry (the metric imports no registry).

``imagenet_e_metric/benchmark_subsets.json`` (the twelve ImageNet-E configs) is this module's
:func:`benchmark_document` output; ``python -m imagenet_e_dataset.metric_table`` rewrites it and a
test checks it is current. :func:`metric_description` gives the same records for any configs
(sweep levels, extras, plug-ins): the ``description`` argument of the metric's ``compute``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

from .labels import NUM_CLASSES
from .registry import ALL_SUBSETS, CONTROL_CONFIG, ORIGINAL_CONFIG, SUBSETS, Subset, resolve

__all__ = ["benchmark_document", "metric_description", "subset_record", "write_benchmark_document"]


def subset_record(sub: Subset, order: int) -> dict[str, Any]:
    """One config as the metric reads it."""
    severity = sub.attribute.severity(sub.spec) if sub.is_edited else None
    return {"attribute": sub.attribute.name, "alias": sub.alias, "level": sub.level,
            "severity": None if severity is None else float(severity), "order": order}


def metric_description(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{config: record}`` for the configs (names or aliases) in ``names``, ordered as the registry orders them."""
    wanted = {resolve(n).name for n in dict.fromkeys(names)}
    position = {name: k for k, name in enumerate(ALL_SUBSETS)}
    return {name: subset_record(ALL_SUBSETS[name], position[name]) for name in sorted(wanted, key=position.__getitem__)}


def benchmark_document() -> dict[str, Any]:
    """The metric's shipped table: the twelve configs in the paper's order, the original and control configs."""
    return {
        "_generated_by": "python -m imagenet_e_dataset.metric_table (from imagenet_e_dataset.registry)",
        "original": ORIGINAL_CONFIG,
        "control": CONTROL_CONFIG,
        "num_classes": NUM_CLASSES,
        "configs": {name: subset_record(sub, k) for k, (name, sub) in enumerate(SUBSETS.items())},
    }


def write_benchmark_document(path: Path) -> None:
    from .atomic import atomic_write_text

    atomic_write_text(path, json.dumps(benchmark_document(), indent=2) + "\n")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parents[1] / "imagenet_e_metric" / "benchmark_subsets.json"
    write_benchmark_document(target)
    print(f"wrote {target}")
