"""Results files as the evaluation runner writes them, and a small board of them (leaderboard tests,
benchmarks/bench_leaderboard.py)."""

from __future__ import annotations

import json
from pathlib import Path

from imagenet_e_dataset.registry import EDITED_ATTRIBUTES, EDITED_CONFIG_NAMES, SUBSETS, subsets_of

XSS_NAME = "<img src=x onerror=alert(1)>"

# Per-subset offsets around the mean drop: they sum to zero, so mean_drop is the mean of the drops.
DROP_OFFSETS = dict(zip(EDITED_CONFIG_NAMES, [-0.02, 0.01, 0.03, 0.05, 0.0, -0.04, 0.02, 0.0, -0.03, -0.01, -0.01]))
assert abs(sum(DROP_OFFSETS.values())) < 1e-12


def make_results(model_id: str, *, original: float, mean_drop: float, loader: str = "transformers",
                 revision: str | None = "main", dataset_revision: str = "0" * 40,
                 created_at: str = "2026-11-28T12:00:00Z", link: str | None = None,
                 configs: tuple[str, ...] | None = None) -> dict:
    """A complete, consistent results file as the evaluation runner writes it."""
    configs = configs or tuple(SUBSETS)
    edited = [c for c in configs if c != "original"]
    drops = {c: round(mean_drop + DROP_OFFSETS[c], 6) for c in edited}
    if set(edited) != set(EDITED_CONFIG_NAMES):  # the offsets sum to zero only over all subsets
        drops = {c: d - (sum(drops.values()) / len(drops) - mean_drop) for c, d in drops.items()}
    attribute_drop = {}
    for attribute in EDITED_ATTRIBUTES:
        present = [drops[s.name] for s in subsets_of(attribute) if s.name in drops]
        if present:
            attribute_drop[attribute.value] = sum(present) / len(present)
    return {
        "schema_version": 1,
        "model": {"id": model_id, "revision": revision, "loader": loader, "link": link},
        "dataset": {"id": "imagenet-e/imagenet-e", "revision": dataset_revision, "configs": list(configs)},
        "preprocessing": {"description": "Resize 256, CenterCrop 224, ImageNet mean/std"},
        "metrics": {
            "accuracy": {"original": original, **{c: round(original - d, 6) for c, d in drops.items()}},
            "accuracy_drop": drops,
            "attribute_drop": attribute_drop,
            "mean_drop": mean_drop,
            "flip_rate": {c: min(1.0, abs(d) + 0.05) for c, d in drops.items()},
            "ci95": {c: [max(-1.0, d - 0.02), min(1.0, d + 0.02)] for c, d in drops.items()},
        },
        "counts": {c: 40 for c in configs},
        "environment": {"python": "3.11", "imagenet-e": "0.1.0"},
        "created_at": created_at,
    }


def write_results(folder: Path, name: str, doc) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), "utf-8")
    return path


BOARD_MODELS = [
    # model id, original accuracy, mean drop, loader
    ("org/robust-net", 0.70, 0.05, "transformers"),
    ("org/accurate-net", 0.85, 0.15, "transformers"),
    ("other/middle-net", 0.80, 0.10, "torch"),
    (XSS_NAME, 0.60, 0.20, "transformers"),
]


def populate_board(folder: Path) -> None:
    for model_id, original, mean_drop, loader in BOARD_MODELS:
        safe = model_id.replace("/", "--").replace("<", "_").replace(">", "_").replace(" ", "_")
        write_results(folder, f"results/{safe}/main.json",
                      make_results(model_id, original=original, mean_drop=mean_drop, loader=loader,
                                   link="https://huggingface.co/" + model_id if "/" in model_id else "javascript:alert(1)"))
