"""ImageNet-E scores in plain numpy: per-subset accuracy, accuracy drop, flip rate, bootstrap CIs.

This module is the whole metric; the ``evaluate`` script beside it only feeds it. It imports no
``evaluate``/``datasets`` so the evaluation runner and the leaderboard can use it directly.

Pairing. ImageNet-E edits the same source images in every subset, so when ``source_ids`` are given
an edited subset's drop is measured on the source images it shares with ``original``: both
accuracies over the same images, which removes the between-image variance from the comparison.

Bootstrap. The drop on ``n`` paired images is the mean of the per-image difference
``correct_original - correct_edited``, which only takes the values +1, 0 and -1. Resampling ``n``
source images with replacement therefore changes the drop only through how many +1 and -1 images
the resample holds, and those counts are exactly Multinomial(n, (n_plus/n, n_minus/n, n_zero/n)).
Drawing the counts instead of the image indices gives the identical bootstrap distribution at
O(n_bootstrap) cost instead of O(n_bootstrap * n). Unpaired, each subset's resampled accuracy is
Binomial(n_subset, accuracy)/n_subset for the same reason, resampled independently per subset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from imagenet_e_dataset.labels import NUM_CLASSES
from imagenet_e_dataset.registry import ALL_SUBSETS, Subset, edited_attributes, resolve

__all__ = ["BootstrapSettings", "compute_imagenet_e"]

_REGISTRY: tuple[Subset, ...] = tuple(ALL_SUBSETS.values())
_REGISTRY_INDEX: dict[str, int] = {s.name: i for i, s in enumerate(_REGISTRY)}
_ORIGINAL_INDEX: int = next(i for i, s in enumerate(_REGISTRY) if s.is_original)
_TOP_K = 5
_ROW_CHUNK = 16_384


@dataclass(frozen=True)
class BootstrapSettings:
    """How the drop's confidence interval is estimated (checked on construction)."""

    n_bootstrap: int = 1000
    """Resamples; 0 skips the intervals (``ci95`` is then empty)."""
    seed: int = 0
    """Non-negative; each subset draws from its own stream derived from (seed, subset), so a
    subset's interval does not depend on which other subsets are in the input."""
    confidence: float = 0.95
    """Coverage of the percentile interval, strictly between 0 and 1."""

    def __post_init__(self) -> None:
        if isinstance(self.n_bootstrap, bool) or not isinstance(self.n_bootstrap, (int, np.integer)) \
                or self.n_bootstrap < 0:
            raise ValueError(f"n_bootstrap must be a non-negative integer, got {self.n_bootstrap!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, (int, float, np.floating)) \
                or not 0.0 < float(self.confidence) < 1.0:
            raise ValueError(f"confidence must be a number strictly between 0 and 1, got {self.confidence!r}")

    def rng_for(self, subset: Subset) -> np.random.Generator:
        return np.random.default_rng([int(self.seed), _REGISTRY_INDEX[subset.name]])

    def interval(self, resampled_drops: np.ndarray) -> list[float]:
        tail = (1.0 - float(self.confidence)) / 2.0
        low, high = np.quantile(resampled_drops, [tail, 1.0 - tail])
        return [float(low), float(high)]


# ---------------------------------------------------------------------------------------------
# Input checking and conversion
# ---------------------------------------------------------------------------------------------

def _length(values: Any, name: str) -> int:
    if values is None:
        raise ValueError(f"{name} is required")
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a sequence with one entry per row, got a single string {values!r}")
    try:
        return len(values)
    except TypeError:
        raise ValueError(f"{name} must be a sequence with one entry per row, "
                         f"got {type(values).__name__}") from None


def _factorize(values: Any, name: str) -> tuple[list[Any], np.ndarray]:
    """Distinct values in first-seen order and each row's code.

    A dict pass beats ``np.unique`` on Python strings (no fixed-width unicode copy, no sort).
    """
    items = values.tolist() if isinstance(values, np.ndarray) else values
    try:
        # dict.fromkeys and map(dict.__getitem__) stay in C: no Python frame per row.
        lookup = {value: code for code, value in enumerate(dict.fromkeys(items))}
    except TypeError:
        bad = next(i for i, v in enumerate(items) if not isinstance(v, str))
        raise ValueError(f"{name}[{bad}] must be a string, got {type(items[bad]).__name__}: "
                         f"{items[bad]!r}") from None
    codes = np.fromiter(map(lookup.__getitem__, items), dtype=np.int64, count=len(items))
    return list(lookup), codes


def _first_position(codes: np.ndarray, code: int) -> int:
    return int(np.flatnonzero(codes == code)[0])


def _class_indices(values: Any, name: str) -> np.ndarray:
    """A 1-D int64 array of ImageNet-1k indices, or ValueError naming the first bad entry."""
    try:
        array = np.asarray(values)
    except ValueError as exc:
        raise ValueError(f"{name} must be a flat sequence of class indices ({exc})") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of class indices, got shape {array.shape}")
    if array.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(array) | (array != np.round(array)))
        if bad.size:
            pos = int(bad[0])
            raise ValueError(f"{name}[{pos}] = {array[pos]!r} is not an integer class index")
        array = array.astype(np.int64)
    elif array.dtype.kind not in "iu":
        pos = next((i for i, v in enumerate(array.tolist())
                    if isinstance(v, bool) or not isinstance(v, (int, np.integer))), 0)
        raise ValueError(f"{name}[{pos}] = {array.tolist()[pos]!r} is not an integer class index")
    bad = np.flatnonzero((array < 0) | (array >= NUM_CLASSES))
    if bad.size:
        pos = int(bad[0])
        raise ValueError(f"{name}[{pos}] = {int(array[pos])} is outside 0..{NUM_CLASSES - 1}")
    return array.astype(np.int64, copy=False)


def _score_rows(values: Any) -> np.ndarray | None:
    """The (N, 1000) score matrix when ``predictions`` are score rows, else None."""
    if isinstance(values, np.ndarray):
        if values.ndim != 2:
            return None
        array = values
    else:
        first = next(iter(values), None)
        if first is None or np.ndim(first) == 0:
            return None
        try:
            array = np.asarray(values, dtype=np.float64)
        except ValueError:
            widths = sorted({np.size(row) for row in values})
            raise ValueError(f"predictions score rows must all have {NUM_CLASSES} entries, "
                             f"got rows of widths {widths[:5]}") from None
    if array.ndim != 2 or array.shape[1] != NUM_CLASSES:
        raise ValueError(f"predictions score rows must have {NUM_CLASSES} columns (one per ImageNet-1k class), "
                         f"got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"predictions score rows must be numbers, got dtype {array.dtype}")
    for start in range(0, array.shape[0], _ROW_CHUNK):
        finite = np.isfinite(array[start:start + _ROW_CHUNK]).all(axis=1)
        if not finite.all():
            raise ValueError(f"predictions score row {start + int(np.flatnonzero(~finite)[0])} holds NaN or infinity")
    return array


def _in_top_k(scores: np.ndarray, references: np.ndarray, k: int) -> np.ndarray:
    """Whether the true class ranks in the top ``k`` when rows are sorted by score, ties by index.

    Ties go to the lower class index, as ``argmax`` does, so top-1 here equals argmax accuracy.
    """
    inside = np.empty(scores.shape[0], dtype=bool)
    columns = np.arange(scores.shape[1])
    for start in range(0, scores.shape[0], _ROW_CHUNK):  # bounds the (rows, 1000) temporaries
        block, refs = scores[start:start + _ROW_CHUNK], references[start:start + _ROW_CHUNK]
        true_score = block[np.arange(block.shape[0]), refs][:, None]
        ahead = (block > true_score).sum(axis=1)
        ahead += ((block == true_score) & (columns < refs[:, None])).sum(axis=1)
        inside[start:start + _ROW_CHUNK] = ahead < k
    return inside


# ---------------------------------------------------------------------------------------------
# The computation
# ---------------------------------------------------------------------------------------------

def _per_subset(present: list[Subset], values: np.ndarray) -> dict[str, float]:
    return {s.name: float(v) for s, v in zip(present, values)}


def _attribute_means(edited: list[Subset], drops: np.ndarray) -> dict[str, float]:
    means: dict[str, float] = {}
    for attribute in edited_attributes():
        mine = [d for s, d in zip(edited, drops) if s.attribute is attribute]
        if mine:
            means[attribute.value] = float(np.mean(mine))
    return means


def compute_imagenet_e(
    predictions: Any,
    references: Any,
    subsets: Sequence[str],
    source_ids: Sequence[str] | None = None,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Accuracy per subset and the accuracy drop each edit causes, with paired statistics.

    Args:
        predictions: predicted class index per row (N,), or class scores per row (N, 1000); with
            scores the top-1 prediction is the argmax and ``top5_accuracy`` is reported too.
        references: true ImageNet-1k class index per row, 0..999.
        subsets: each row's ImageNet-E subset: config name (``background_20``) or official folder
            alias (``20_hard``). Rows of ``original`` are required.
        source_ids: optional source image id per row (``ILSVRC2012_val_00000001``). When given,
            each drop is computed on the source images the subset shares with ``original``, and
            ``flip_rate`` is reported.
        n_bootstrap: bootstrap resamples of source images for ``ci95`` (0 skips the intervals).
        seed: seed of the resampling; equal seeds give equal intervals.
        confidence: coverage of the percentile interval reported under ``ci95``.

    Returns:
        Plain Python values, subsets in the registry's table order: ``accuracy``
        {subset: top-1}, [``top5_accuracy`` {subset: top-5} for score rows], ``accuracy_drop``
        {edited subset: acc(original) - acc(subset)}, ``attribute_drop`` {attribute: mean drop of
        its subsets present}, ``mean_drop`` (mean over edited subsets present), ``flip_rate``
        {edited subset: share of paired images whose prediction differs from the original's;
        empty without source_ids}, ``ci95`` {edited subset: [low, high]}, ``counts``
        {subset: rows}.

    Raises:
        ValueError: naming the problem (length mismatch, unknown subset, no ``original`` rows,
            no edited rows, class index out of range, duplicate (subset, source_id), empty source
            id, score rows of the wrong width, empty input, an edited subset sharing no source
            image with ``original``).

    >>> result = compute_imagenet_e(
    ...     predictions=[1, 2, 3, 4, 1, 2, 0, 4],
    ...     references=[1, 2, 3, 4, 1, 2, 3, 4],
    ...     subsets=["original"] * 4 + ["20_hard"] * 4,
    ...     source_ids=["a", "b", "c", "d"] * 2,
    ... )
    >>> result["accuracy"]
    {'original': 1.0, 'background_20': 0.75}
    >>> result["accuracy_drop"], result["flip_rate"], result["mean_drop"]
    ({'background_20': 0.25}, {'background_20': 0.25}, 0.25)
    """
    settings = BootstrapSettings(n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    lengths = {"predictions": _length(predictions, "predictions"),
               "references": _length(references, "references"),
               "subsets": _length(subsets, "subsets")}
    if source_ids is not None:
        lengths["source_ids"] = _length(source_ids, "source_ids")
    if len(set(lengths.values())) > 1:
        raise ValueError("length mismatch: " + ", ".join(f"{k} has {v} rows" for k, v in lengths.items()))
    n_rows = lengths["predictions"]
    if n_rows == 0:
        raise ValueError("empty input: predictions, references and subsets hold no rows")

    refs = _class_indices(references, "references")
    scores = _score_rows(predictions)
    if scores is None:
        preds = _class_indices(predictions, "predictions")
    else:
        preds = scores.argmax(axis=1)
    correct = preds == refs

    # Subsets: resolve each distinct spelling once, then map rows to registry positions.
    raw_names, raw_codes = _factorize(subsets, "subsets")
    registry_of_raw = np.empty(len(raw_names), dtype=np.int64)
    for code, raw in enumerate(raw_names):
        try:
            registry_of_raw[code] = _REGISTRY_INDEX[resolve(raw).name]
        except ValueError as exc:
            raise ValueError(f"subsets[{_first_position(raw_codes, code)}]: {exc}") from None
    registry_codes = registry_of_raw[raw_codes]
    rows_per_registry = np.bincount(registry_codes, minlength=len(_REGISTRY))
    if rows_per_registry[_ORIGINAL_INDEX] == 0:
        raise ValueError("no 'original' rows: every accuracy drop is measured against the unedited "
                         "images, so include the original subset's predictions")
    present_idx = np.flatnonzero(rows_per_registry)
    if present_idx.size < 2:
        raise ValueError("no edited subset rows: give predictions on at least one edited subset "
                         "besides 'original' to measure a drop")
    present = [_REGISTRY[i] for i in present_idx]
    compact_of_registry = np.full(len(_REGISTRY), -1, dtype=np.int64)
    compact_of_registry[present_idx] = np.arange(present_idx.size)
    rows = compact_of_registry[registry_codes]
    counts = rows_per_registry[present_idx]
    edited = present[1:]  # original is first in the table, hence first among those present

    accuracy = np.bincount(rows, weights=correct, minlength=len(present)) / counts
    result: dict[str, Any] = {"accuracy": _per_subset(present, accuracy)}
    if scores is not None:
        top5 = np.bincount(rows, weights=_in_top_k(scores, refs, _TOP_K), minlength=len(present)) / counts
        result["top5_accuracy"] = _per_subset(present, top5)

    if source_ids is None:
        drops, flip_rate, ci95 = _unpaired(edited, accuracy, counts, settings)
    else:
        drops, flip_rate, ci95 = _paired(present, rows, source_ids, correct, preds, settings)

    result["accuracy_drop"] = _per_subset(edited, drops)
    result["attribute_drop"] = _attribute_means(edited, drops)
    result["mean_drop"] = float(np.mean(drops))
    result["flip_rate"] = flip_rate
    result["ci95"] = ci95
    result["counts"] = {s.name: int(c) for s, c in zip(present, counts)}
    return result


def _unpaired(edited: list[Subset], accuracy: np.ndarray, counts: np.ndarray,
              settings: BootstrapSettings) -> tuple[np.ndarray, dict, dict]:
    drops = accuracy[0] - accuracy[1:]
    ci95: dict[str, list[float]] = {}
    if settings.n_bootstrap:
        for j, subset in enumerate(edited, start=1):
            rng = settings.rng_for(subset)
            resampled_original = rng.binomial(counts[0], accuracy[0], settings.n_bootstrap) / counts[0]
            resampled_edited = rng.binomial(counts[j], accuracy[j], settings.n_bootstrap) / counts[j]
            ci95[subset.name] = settings.interval(resampled_original - resampled_edited)
    return drops, {}, ci95


def _paired(present: list[Subset], rows: np.ndarray, source_ids: Sequence[str], correct: np.ndarray,
            preds: np.ndarray, settings: BootstrapSettings) -> tuple[np.ndarray, dict, dict]:
    ids, id_codes = _factorize(source_ids, "source_ids")
    for code, sid in enumerate(ids):
        if not isinstance(sid, str) or not sid:
            raise ValueError(
                f"source_ids[{_first_position(id_codes, code)}] is {sid!r}: give every row its source image "
                f"id (e.g. 'ILSVRC2012_val_00000001'), or source_ids=None for unpaired statistics")
    n_sources = len(ids)
    key = rows * n_sources + id_codes
    per_key = np.bincount(key, minlength=len(present) * n_sources)
    duplicated = np.flatnonzero(per_key > 1)
    if duplicated.size:
        k = int(duplicated[0])
        where = np.flatnonzero(key == k)[:2].tolist()
        raise ValueError(f"duplicate row for subset {present[k // n_sources].name!r} and source_id "
                         f"{ids[k % n_sources]!r} (positions {where[0]} and {where[1]})")

    # (subset, source) tables; -1 marks a source image the subset does not hold.
    correct_table = np.full((len(present), n_sources), -1, dtype=np.int8)
    correct_table[rows, id_codes] = correct
    pred_table = np.full((len(present), n_sources), -1, dtype=np.int16)
    pred_table[rows, id_codes] = preds

    original, edits = correct_table[0], correct_table[1:]
    shared = (original >= 0) & (edits >= 0)
    n_shared = shared.sum(axis=1)
    lonely = np.flatnonzero(n_shared == 0)
    if lonely.size:
        raise ValueError(f"subset {present[1 + int(lonely[0])].name!r} shares no source_id with 'original'; "
                         f"paired drops need the same source images in both")
    n_plus = (shared & (original == 1) & (edits == 0)).sum(axis=1)
    n_minus = (shared & (original == 0) & (edits == 1)).sum(axis=1)
    drops = (n_plus - n_minus) / n_shared
    flips = (shared & (pred_table[0] != pred_table[1:])).sum(axis=1) / n_shared

    edited = present[1:]
    ci95: dict[str, list[float]] = {}
    if settings.n_bootstrap:
        for j, subset in enumerate(edited):
            n = int(n_shared[j])
            shares = np.array([n_plus[j], n_minus[j], n - n_plus[j] - n_minus[j]], dtype=np.float64) / n
            draws = settings.rng_for(subset).multinomial(n, shares, size=settings.n_bootstrap)
            ci95[subset.name] = settings.interval((draws[:, 0] - draws[:, 1]) / n)
    return drops, _per_subset(edited, flips), ci95

