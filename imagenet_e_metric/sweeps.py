"""Accuracy-vs-severity curves and per-image failure points for attributes edited at several levels.

An attribute forms a sweep when the input holds two or more of its subsets that lie on its
severity scale (the ``severity`` of the subset records, written from ``AttributePlugin.severity``: λ for background, 1 − rate for size, the angle for
direction, the shift for position, the hidden share for occlusion). For each such attribute:

- the curve: top-1 accuracy per level in increasing severity, with a bootstrap 95 % interval
  (resampling the level's source images; the count of correct images in a resample is binomial,
  so the resamples are drawn as binomials: the same distribution, without an images × resamples matrix);
- the failure point of every source image whose ``original`` prediction is correct: the smallest
  severity at which its prediction is wrong (None, "never", when it survives every level it has;
  a level where the image's edit is missing, e.g. an unreachable size, is skipped for that image),
  with the (lower) median over those images and the share that never flips.

Everything is paired by ``source_id``, like the rest of the metric. Pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .subsets import SubsetInfo, benchmark_table


@dataclass(frozen=True)
class Level:
    subset: SubsetInfo
    index: int
    """The subset's position among the present subsets (its code in the rows)."""
    severity: float


def sweep_levels(subsets: Sequence[SubsetInfo]) -> dict[str, list[Level]]:
    """``{attribute: levels in increasing severity}`` for the attributes with >= 2 levels on their scale,
    one of which at least is not one of the twelve ImageNet-E configs (the benchmark's own fixed
    levels are reported as they always were, not as a curve)."""
    by_attribute: dict[str, list[Level]] = {}
    for index, sub in enumerate(subsets):
        if sub.is_edited and sub.severity is not None:
            by_attribute.setdefault(sub.attribute, []).append(Level(sub, index, sub.severity))
    return {a: sorted(v, key=lambda lv: lv.severity) for a, v in by_attribute.items()
            if len(v) >= 2 and any(not lv.subset.benchmark for lv in v)}


def _lower_median(values: np.ndarray) -> float:
    ordered = np.sort(values)
    return float(ordered[(len(ordered) - 1) // 2])


def compute_sweeps(
    predictions: Sequence[int] | np.ndarray,
    references: Sequence[int] | np.ndarray,
    subsets: Sequence[str],
    source_ids: Sequence[str],
    *,
    description: Mapping[str, Any] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    per_image: bool = False,
) -> dict[str, dict[str, Any]]:
    """The curves and failure points of every swept attribute present (see the module docstring).

    ``description`` gives the configs beyond the twelve (see :mod:`imagenet_e_metric.subsets`).

    >>> preds = [1, 1, 1, 1, 1, 0, 1, 0, 0]
    >>> refs = [1] * 9
    >>> subs = ["original"] * 3 + ["size_0.2"] * 3 + ["size_0.05"] * 3
    >>> sweep = {"size_0.2": {"attribute": "size", "severity": 0.8}}
    >>> out = compute_sweeps(preds, refs, subs, ["a", "b", "c"] * 3, description=sweep, n_bootstrap=10)
    >>> out["size"]["levels"], out["size"]["accuracy"]
    (['0.2', '0.05'], [0.6666666666666666, 0.3333333333333333])
    >>> out["size"]["failure"]["median_level"], out["size"]["failure"]["never_flip"]
    ('0.05', 0.3333333333333333)
    """
    predictions = np.asarray(predictions)
    references = np.asarray(references)
    if not (len(predictions) == len(references) == len(subsets) == len(source_ids)):
        raise ValueError(f"predictions ({len(predictions)}), references ({len(references)}), subsets "
                         f"({len(subsets)}) and source_ids ({len(source_ids)}) must have the same length")
    table = benchmark_table().with_description(description)
    # One np.unique per column, then one lookup per distinct value (never one per row).
    names, name_codes = np.unique(np.asarray(subsets, dtype=object).astype(str), return_inverse=True)
    resolved = [table.resolve(str(n)) for n in names]
    present = [s for s in table.ordered() if s in resolved]
    position = {s.name: k for k, s in enumerate(present)}
    rows = np.array([position[s.name] for s in resolved], dtype=np.int64)[name_codes]
    ids, id_codes = np.unique(np.asarray(source_ids, dtype=object).astype(str), return_inverse=True)
    return sweeps_of_rows(present, rows, predictions, references, id_codes, ids.tolist(),
                          n_bootstrap=n_bootstrap, seed=seed, per_image=per_image)


def sweeps_of_rows(present: Sequence[SubsetInfo], rows: np.ndarray, predictions: np.ndarray,
                   references: np.ndarray, id_codes: np.ndarray, ids: list[Any], *, n_bootstrap: int,
                   seed: int, per_image: bool = False) -> dict[str, dict[str, Any]]:
    """:func:`compute_sweeps` on coded rows: ``rows[i]`` indexes ``present``, ``id_codes[i]`` indexes ``ids``."""
    sweeps = sweep_levels(present)
    if not sweeps:
        return {}
    original = next(k for k, s in enumerate(present) if s.is_original)
    is_original = rows == original
    # original_correct[c]: 1/0 whether source c's original prediction is right, -1 without an original row.
    original_correct = np.full(len(ids), -1, dtype=np.int8)
    original_correct[id_codes[is_original]] = predictions[is_original] == references[is_original]
    correct_codes = np.flatnonzero(original_correct == 1)
    correct_codes = correct_codes[np.argsort(np.asarray([str(ids[c]) for c in correct_codes], dtype=object),
                                             kind="stable")]
    correct_ids = [ids[c] for c in correct_codes]
    row_of = np.full(len(ids), -1, dtype=np.int64)
    row_of[correct_codes] = np.arange(correct_codes.size)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for attribute, levels in sweeps.items():
        # correct[i, j]: image i right at level j (NaN where the image has no edit at that level).
        correct = np.full((len(correct_ids), len(levels)), np.nan)
        accuracy, ci, counts = [], [], []
        for j, level in enumerate(levels):
            mine = rows == level.index
            right = predictions[mine] == references[mine]
            n = int(mine.sum())
            acc = float(right.mean())
            accuracy.append(acc)
            if n_bootstrap:  # 0 skips the intervals, as in the rest of the metric (ci95 is then empty)
                draws = rng.binomial(n, acc, size=n_bootstrap) / n
                ci.append([float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))])
            counts.append(n)
            k = row_of[id_codes[mine]]
            kept = k >= 0
            correct[k[kept], j] = right[kept]
        wrong = correct == 0.0
        first = np.where(wrong.any(axis=1), wrong.argmax(axis=1), -1)
        severities = np.array([lv.severity for lv in levels])
        failure_severity = np.where(first >= 0, severities[np.maximum(first, 0)], math.inf)
        n_images = len(correct_ids)
        if n_images:
            median = _lower_median(failure_severity)
            median_level = None if math.isinf(median) else levels[int(np.searchsorted(severities, median))].subset.level
            never = float(np.mean(first < 0))
        else:
            median_level, never = None, None
        histogram = {lv.subset.level: int(np.sum(first == j)) for j, lv in enumerate(levels)}
        doc: dict[str, Any] = {
            "configs": [lv.subset.name for lv in levels],
            "levels": [lv.subset.level for lv in levels],
            "severity": [lv.severity for lv in levels],
            "accuracy": accuracy,
            "ci95": ci,
            "counts": counts,
            "failure": {
                "images": n_images,
                "median_level": median_level,
                "never_flip": never,
                "first_failure_counts": histogram,
            },
        }
        if per_image:
            doc["failure_points"] = {sid: (levels[f].subset.level if f >= 0 else None)
                                     for sid, f in zip(correct_ids, first.tolist())}
        out[attribute] = doc
    return out
