"""Predictions -> results: the one function every number of a results file comes from.

``imagenet-e evaluate`` writes the predictions file and then calls
:func:`results_from_predictions` on it; ``imagenet-e score`` calls it on a file written earlier;
``submit`` and the leaderboard call it to check a results file against its predictions. One code
path, so a results file is reproducible from its predictions alone, byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_e_dataset.atomic import atomic_write_text

from .predictions import PredictionTable
from .results_schema import SCHEMA_VERSION, validate_results

SKIPPED_LISTED = 100
"""How many skipped rows a results file lists by name (all are counted)."""

_ORDER = ("schema_version", "model", "dataset", "preprocessing", "protocol", "metrics", "counts", "environment",
          "created_at", "run", "predictions")


def compute_metrics(table: PredictionTable, *, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """The metric (:func:`imagenet_e_metric.core.compute_imagenet_e`) on the scored rows, paired by source id.

    Returns the metric's dict, ``counts`` included.
    """
    from imagenet_e_dataset.metric_table import metric_description
    from imagenet_e_metric.core import compute_imagenet_e

    scored = table.scored
    if not scored.any():
        raise ValueError("no row of the predictions was scored (every image was skipped)")
    missing = [c for c, rows in table.groups.items() if not scored[rows].any()]
    if missing:
        raise ValueError(f"no image of config(s) {missing} could be scored; see the skipped rows")
    return compute_imagenet_e(
        table.top1[scored],
        table.labels[scored],
        table.subsets[scored].tolist(),
        table.source_ids[scored].tolist(),
        top5=None if table.top5 is None else table.top5[scored],
        n_bootstrap=n_bootstrap,
        seed=seed,
        num_classes=None if table.label_space.is_imagenet else table.label_space.num_classes,
        # The metric knows the twelve benchmark configs only: sweep levels, extras and plug-ins come from here.
        description=metric_description(table.groups, (table.metadata.get("dataset") or {}).get("layout")),
    )


def skipped_rows(table: PredictionTable, limit: int = SKIPPED_LISTED) -> list[dict[str, str]]:
    rows = np.flatnonzero(~table.scored)[:limit]
    return [{"config": str(table.subsets[i]), "source_id": str(table.source_ids[i]),
             "error": str(table.skipped[i])[:300]} for i in rows]


def results_from_predictions(table: PredictionTable, *, file_name: str, sha256: str,
                             source: str = "results", validate: bool = True) -> dict[str, Any]:
    """The validated results document of ``table`` (whose file is ``file_name`` with ``sha256``).

    Descriptive sections (model, dataset, preprocessing, protocol, environment, date, run
    settings) come from the file's metadata; ``metrics`` and ``counts`` are computed from its rows
    with the bootstrap settings the run recorded (``run.n_bootstrap``, ``run.seed``).
    """
    meta = table.metadata
    run = dict(meta.get("run") or {})
    try:
        n_bootstrap, seed = int(run["n_bootstrap"]), int(run["seed"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{source}: the predictions' metadata lacks run.n_bootstrap / run.seed") from None
    metrics = compute_metrics(table, n_bootstrap=n_bootstrap, seed=seed)
    counts = metrics.pop("counts")
    n_skipped = int((~table.scored).sum())
    run["skipped"] = skipped_rows(table)
    run["skipped_count"] = n_skipped
    doc: dict[str, Any] = {
        **{k: v for k, v in meta.items() if k not in _ORDER and k != "label_space"},
        "schema_version": SCHEMA_VERSION,
        "model": meta.get("model"),
        # The space the predictions' indices are: recorded by the file (names + sha256), summarised here.
        "dataset": {**(meta.get("dataset") or {}), "configs": table.configs,
                    "label_space": table.label_space.describe()},
        "preprocessing": meta.get("preprocessing"),
        "protocol": meta.get("protocol"),
        "metrics": metrics,
        "counts": counts,
        "environment": meta.get("environment"),
        "created_at": meta.get("created_at"),
        "run": run,
        "predictions": {"file": file_name, "sha256": sha256, "rows": len(table), "skipped": n_skipped},
    }
    ordered = {k: doc[k] for k in _ORDER}
    ordered.update({k: v for k, v in doc.items() if k not in ordered})
    # validate=False only where the document is then compared field by field with a validated one.
    return validate_results(ordered, source=source) if validate else ordered


METRIC_TOLERANCE = 1e-9


def first_difference(expected: Any, given: Any, path: str = "$", *, allow_missing: bool = False) -> str | None:
    """Where two JSON values differ (floats within :data:`METRIC_TOLERANCE`), or None.

    ``allow_missing``: keys of ``expected`` absent from ``given`` are no difference (a results
    file written before a metric gained a number still matches what it does say).
    """
    if isinstance(expected, dict) and isinstance(given, dict):
        for key in list(expected) + [k for k in given if k not in expected]:
            if key not in given:
                if allow_missing:
                    continue
                return f"{path}.{key} is missing"
            if key not in expected:
                return f"{path}.{key} is not computed from the predictions"
            found = first_difference(expected[key], given[key], f"{path}.{key}", allow_missing=allow_missing)
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(given, list):
        if len(expected) != len(given):
            return f"{path} has {len(given)} entries, the predictions give {len(expected)}"
        for i, (a, b) in enumerate(zip(expected, given)):
            found = first_difference(a, b, f"{path}[{i}]", allow_missing=allow_missing)
            if found:
                return found
        return None
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(given, numbers) and not isinstance(given, bool) \
            and not isinstance(expected, bool):
        if abs(float(expected) - float(given)) <= METRIC_TOLERANCE:
            return None
    elif expected == given:
        return None
    return f"{path} is {given!r}, the predictions give {expected!r}"


def check_results_match(results: dict[str, Any], recomputed: dict[str, Any], *, source: str) -> None:
    """Refuse a results file that says anything its predictions do not give: every field it has
    must equal the recomputed one (numbers within :data:`METRIC_TOLERANCE`). Fields it lacks that
    a newer metric computes are no disagreement: the board shows the recomputed document. The
    predictions' file name may differ (a results repo stores them under its own name)."""
    given = {**results, "predictions": {**results.get("predictions", {}), "file": None}}
    expected = {**recomputed, "predictions": {**recomputed["predictions"], "file": None}}
    found = first_difference(expected, given, allow_missing=True)
    if found:
        raise ValueError(f"{source}: {found}")


def write_results(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """Validate ``doc`` and write it as JSON, atomically (a crash never leaves a half file)."""
    path = Path(path)
    validate_results(doc, source=str(path))
    atomic_write_text(path, json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path
