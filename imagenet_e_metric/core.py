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

Two references. ``accuracy_drop`` is measured against ``original`` (the paper's definition): it
answers "how much does the edited benchmark image cost the model?", which mixes the edit with
everything the generation pipeline does to every edited image (resizing to 256x256, diffusion
regeneration). ``control_drop`` is measured against the control subset (the background
re-synthesised with no edit strength), which went through that same pipeline: it answers "how
much does the attribute edit itself cost?". Each comes with its own paired bootstrap interval and
an exact McNemar p-value (two-sided binomial test on the discordant pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import math
import zlib

import numpy as np

from .subsets import SubsetInfo, SubsetTable, benchmark_table
from .sweeps import sweeps_of_rows

__all__ = ["BootstrapSettings", "CONTROL_SUBSET", "Factorized", "check_class_indices", "check_score_rows", "compute_imagenet_e",
           "mcnemar_exact_p"]

_TOP_K = 5
_ROW_CHUNK = 16_384

NUM_CLASSES: int = benchmark_table().num_classes
"""ImageNet-1k's 1000 classes: the label space when ``num_classes`` is not given."""

# The generation-artefact control: the background regenerated with edit strength 0 (the shipped
# table names it, written from the registry).
CONTROL_SUBSET: SubsetInfo | None = benchmark_table().control_subset


def _stream_key(subset: SubsetInfo) -> int:
    """A subset's bootstrap stream: its place in the twelve-config table (the key of earlier releases,
    so their intervals are reproduced), else a stable hash of its name (plug-ins and sweep levels)."""
    benchmark = list(benchmark_table().subsets)
    if subset.name in benchmark:
        return benchmark.index(subset.name)
    return 1000 + zlib.crc32(subset.name.encode("utf-8"))


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

    def rng_for(self, subset: SubsetInfo, stream: int = 0) -> np.random.Generator:
        # Stream 0 (drops vs original) keeps the seed sequence of earlier releases, so their
        # intervals are reproduced exactly; the control's drops draw from stream 1.
        key = [int(self.seed), _stream_key(subset)] + ([stream] if stream else [])
        return np.random.default_rng(key)

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


@dataclass(frozen=True)
class Factorized:
    """A string column already coded (e.g. by Arrow's ``dictionary_encode``): distinct values in
    first-seen order and each row's code; accepted wherever the metric takes ``subsets`` or ``source_ids``."""

    uniques: list[Any]
    codes: np.ndarray

    def __len__(self) -> int:
        return int(self.codes.shape[0])


def _factorize(values: Any, name: str) -> tuple[list[Any], np.ndarray]:
    """Distinct values in first-seen order and each row's code.

    A dict pass beats ``np.unique`` on Python strings (no fixed-width unicode copy, no sort).
    """
    if isinstance(values, Factorized):
        return list(values.uniques), np.asarray(values.codes, dtype=np.int64)
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


def _space(num_classes: int | None) -> int:
    """The label space's size: ``None`` is ImageNet-1k; anything else a positive integer."""
    if num_classes is None:
        return NUM_CLASSES
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer (the size of the label space), got {num_classes!r}")
    return int(num_classes)


def _space_text(num_classes: int) -> str:
    return "ImageNet-1k" if num_classes == NUM_CLASSES else f"a label space of {num_classes} classes"


def check_class_indices(values: Any, name: str, num_classes: int | None = NUM_CLASSES) -> np.ndarray:
    """A 1-D int64 array of class indices ``0..num_classes-1`` (default ImageNet-1k), or ValueError
    naming the first bad entry and the space's size."""
    num_classes = _space(num_classes)
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
            raise ValueError(f"{name}[{pos}] = {array[pos].item()!r} is not an integer class index")
        array = array.astype(np.int64)
    elif array.dtype.kind not in "iu":
        pos = next((i for i, v in enumerate(array.tolist())
                    if isinstance(v, bool) or not isinstance(v, (int, np.integer))), 0)
        raise ValueError(f"{name}[{pos}] = {array.tolist()[pos]!r} is not an integer class index")
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        pos = int(bad[0])
        raise ValueError(f"{name}[{pos}] = {int(array[pos])} is outside 0..{num_classes - 1} "
                         f"({_space_text(num_classes)})")
    return array.astype(np.int64, copy=False)


def check_score_rows(values: Any, num_classes: int | None = NUM_CLASSES) -> np.ndarray | None:
    """The (N, num_classes) score matrix when ``predictions`` are score rows, else None."""
    num_classes = _space(num_classes)
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
            raise ValueError(f"predictions score rows must all have {num_classes} entries, "
                             f"got rows of widths {widths[:5]}") from None
    if array.ndim != 2 or array.shape[1] != num_classes:
        raise ValueError(f"predictions score rows must have {num_classes} columns (one per class of "
                         f"{_space_text(num_classes)}), got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"predictions score rows must be numbers, got dtype {array.dtype}")
    for start in range(0, array.shape[0], _ROW_CHUNK):
        finite = np.isfinite(array[start:start + _ROW_CHUNK]).all(axis=1)
        if not finite.all():
            raise ValueError(f"predictions score row {start + int(np.flatnonzero(~finite)[0])} holds NaN or infinity")
    return array


def _top5_rows(values: Any, top1: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, 5) ranked class indices whose first column is the top-1 prediction."""
    try:
        array = np.asarray(values)
    except ValueError as exc:
        raise ValueError(f"top5 must be rows of 5 class indices ({exc})") from None
    if array.ndim != 2 or array.shape != (top1.shape[0], _TOP_K):
        raise ValueError(f"top5 must have shape ({top1.shape[0]}, {_TOP_K}) (one row of {_TOP_K} ranked classes "
                         f"per prediction), got shape {array.shape}")
    flat = check_class_indices(array.reshape(-1), "top5 (flattened)", num_classes).reshape(array.shape)
    differs = np.flatnonzero(flat[:, 0] != top1)
    if differs.size:
        row = int(differs[0])
        raise ValueError(f"top5[{row}] starts with class {int(flat[row, 0])} but predictions[{row}] is "
                         f"{int(top1[row])}: the first of the top-5 is the top-1 prediction")
    return flat


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

def _per_subset(present: list[SubsetInfo], values: np.ndarray) -> dict[str, float]:
    return {s.name: float(v) for s, v in zip(present, values)}


def _attribute_means(edited: list[SubsetInfo], drops: np.ndarray) -> dict[str, float]:
    """Mean drop per attribute, attributes in the order their first subset appears (the table's order)."""
    by_attribute: dict[str, list[float]] = {}
    for s, d in zip(edited, drops):
        by_attribute.setdefault(s.attribute, []).append(float(d))
    return {a: float(np.mean(v)) for a, v in by_attribute.items()}


def mcnemar_exact_p(worse: int, better: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    ``worse``: pairs right on the reference and wrong on the edit; ``better``: the reverse. Under
    the null hypothesis (the edit changes nothing) each discordant pair goes either way with
    probability 1/2, so the p-value is twice the smaller binomial tail, capped at 1.

    >>> mcnemar_exact_p(0, 0), mcnemar_exact_p(5, 5)
    (1.0, 1.0)
    >>> round(mcnemar_exact_p(9, 1), 6)   # 2 * P(X <= 1), X ~ Binomial(10, 1/2) = 22/1024
    0.021484
    """
    n = int(worse) + int(better)
    low = min(int(worse), int(better))
    if n == 0:
        return 1.0
    # log C(n, k) for k = 0..low by cumulative sums (exact enough, no factorial overflow).
    k = np.arange(1, low + 1, dtype=np.float64)
    log_comb = np.concatenate([[0.0], np.cumsum(np.log((n - k + 1) / k))])
    log_terms = log_comb - n * math.log(2.0)
    top = float(log_terms.max())
    tail = math.exp(top) * float(np.exp(log_terms - top).sum())
    return float(min(1.0, 2.0 * tail))


def compute_imagenet_e(
    predictions: Any,
    references: Any,
    subsets: Sequence[str],
    source_ids: Sequence[str] | None = None,
    *,
    top5: Any = None,
    pair_by_position: bool = False,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    num_classes: int | None = None,
    description: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Accuracy per subset and the accuracy drop each edit causes, with paired statistics.

    Args:
        predictions: predicted class index per row (N,), or class scores per row (N, num_classes);
            with scores the top-1 prediction is the argmax and ``top5_accuracy`` is reported too.
        references: true class index per row, 0..num_classes-1 (ImageNet-1k: 0..999).
        subsets: each row's ImageNet-E subset: config name (``background_20``) or official folder
            alias (``20_hard``). Rows of ``original`` are required.
        source_ids: optional source image id per row (``ILSVRC2012_val_00000001``). When given,
            each drop is computed on the source images the subset shares with its reference, and
            ``flip_rate`` and the McNemar p-values are reported.
        top5: optional (N, 5) ranked class indices per row (first = the prediction) for
            ``top5_accuracy`` without a dense score matrix; only with class-index predictions.
        pair_by_position: without ``source_ids``, pair the k-th row of every subset with the
            k-th row of every other (each subset must then hold the same number of rows, listed
            in the same source order).
        n_bootstrap: bootstrap resamples of source images for ``ci95`` (0 skips the intervals).
        seed: seed of the resampling; equal seeds give equal intervals.
        confidence: coverage of the percentile interval reported under ``ci95``.
        num_classes: size of the label space the indices live in; None (the default) is
            ImageNet-1k's 1000. A dataset with its own classes (``LabelSpace.num_classes``) gives
            its own: references, predictions, ``top5`` and score-row widths are checked against it.
        description: the configs of a dataset beyond the twelve ImageNet-E ones (sweep levels,
            extras, plug-ins): ``{config: {"attribute": ..., "severity": ..., "order": ...}}``, as
            the dataset's description records them (see :mod:`imagenet_e_metric.subsets`); they
            group ``attribute_drop``, order the tables and form the severity sweeps.

    Returns:
        Plain Python values, subsets in table order (original first, then by ``order``): ``accuracy``
        {subset: top-1}, [``top5_accuracy`` {subset: top-5} for score rows or ``top5``],
        ``accuracy_drop`` {edited subset: acc(original) - acc(subset)}, ``attribute_drop``
        {attribute: mean drop of its subsets present}, ``mean_drop`` (mean over edited subsets
        present), ``flip_rate`` {edited subset: share of paired images whose prediction differs
        from the original's; empty unpaired}, ``ci95`` {edited subset: [low, high]},
        ``mcnemar_p`` {edited subset: exact McNemar p-value vs original; empty unpaired}; when
        the control subset and another edited subset are present, the same against the control:
        ``control_subset`` (its name), ``control_drop``, ``control_attribute_drop``,
        ``control_mean_drop``, ``control_ci95``, ``control_mcnemar_p`` (over the edited subsets
        other than the control that share a source image with it); and ``counts`` {subset: rows}.

    Raises:
        ValueError: naming the problem (length mismatch, unknown subset, no ``original`` rows,
            no edited rows, class index out of range, duplicate (subset, source_id), empty source
            id, score rows of the wrong width, empty input, an edited subset sharing no source
            image with ``original``, unequal subset sizes when pairing by position).

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

    A dataset with its own three classes:

    >>> result = compute_imagenet_e([0, 2, 1, 2], [0, 2, 1, 1], ["original"] * 2 + ["rp"] * 2,
    ...                             ["a", "b"] * 2, num_classes=3)
    >>> result["accuracy"]
    {'original': 1.0, 'position_random': 0.5}
    >>> compute_imagenet_e([0, 3], [0, 1], ["original", "rp"], num_classes=3)
    Traceback (most recent call last):
    ...
    ValueError: predictions[1] = 3 is outside 0..2 (a label space of 3 classes)
    """
    space = _space(num_classes)
    settings = BootstrapSettings(n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    lengths = {"predictions": _length(predictions, "predictions"),
               "references": _length(references, "references"),
               "subsets": _length(subsets, "subsets")}
    if source_ids is not None:
        lengths["source_ids"] = _length(source_ids, "source_ids")
        if pair_by_position:
            raise ValueError("pair_by_position pairs rows without source_ids; give one or the other")
    if len(set(lengths.values())) > 1:
        raise ValueError("length mismatch: " + ", ".join(f"{k} has {v} rows" for k, v in lengths.items()))
    n_rows = lengths["predictions"]
    if n_rows == 0:
        raise ValueError("empty input: predictions, references and subsets hold no rows")

    refs = check_class_indices(references, "references", space)
    scores = check_score_rows(predictions, space)
    if scores is None:
        preds = check_class_indices(predictions, "predictions", space)
    else:
        if top5 is not None:
            raise ValueError("top5 goes with class-index predictions; score rows already rank every class")
        preds = scores.argmax(axis=1)
    correct = preds == refs

    # Subsets: resolve each distinct spelling once, then map rows to table positions.
    table = benchmark_table().with_description(description)
    raw_names, raw_codes = _factorize(subsets, "subsets")
    resolved = []
    for code, raw in enumerate(raw_names):
        try:
            resolved.append(table.resolve(raw))
        except ValueError as exc:
            raise ValueError(f"subsets[{_first_position(raw_codes, code)}]: {exc}") from None
    ordered = table.ordered()
    table_index = {s.name: i for i, s in enumerate(ordered)}
    table_codes = np.array([table_index[sub.name] for sub in resolved], dtype=np.int64)[raw_codes]
    rows_per_subset = np.bincount(table_codes, minlength=len(ordered))
    if rows_per_subset[table_index[table.original]] == 0:
        raise ValueError(f"no {table.original!r} rows: every accuracy drop is measured against the unedited "
                         "images, so include the original subset's predictions")
    present_idx = np.flatnonzero(rows_per_subset)
    if present_idx.size < 2:
        raise ValueError(f"no edited subset rows: give predictions on at least one edited subset "
                         f"besides {table.original!r} to measure a drop")
    present = [ordered[i] for i in present_idx]
    compact = np.full(len(ordered), -1, dtype=np.int64)
    compact[present_idx] = np.arange(present_idx.size)
    rows = compact[table_codes]
    counts = rows_per_subset[present_idx]
    edited = present[1:]  # original is first in the table, hence first among those present

    accuracy = np.bincount(rows, weights=correct, minlength=len(present)) / counts
    result: dict[str, Any] = {"accuracy": _per_subset(present, accuracy)}
    if scores is not None:
        top5_hit = _in_top_k(scores, refs, _TOP_K)
    elif top5 is not None:
        top5_hit = (_top5_rows(top5, preds, space) == refs[:, None]).any(axis=1)
    else:
        top5_hit = None
    if top5_hit is not None:
        result["top5_accuracy"] = _per_subset(present, np.bincount(rows, weights=top5_hit, minlength=len(present))
                                              / counts)

    control_subset = table.control_subset
    control = present.index(control_subset) if control_subset in edited and len(edited) > 1 else None
    if source_ids is None and not pair_by_position:
        stats = _Unpaired(present, accuracy, counts, settings)
    else:
        if source_ids is None:
            id_codes, n_sources, ids = _positional_codes(present, rows, counts)
        else:
            id_codes, n_sources, ids = _source_codes(source_ids)
        stats = _Paired(present, rows, id_codes, n_sources, ids, correct, preds, settings)

    drops, flips, ci95, pvalues = stats.versus(0, range(1, len(present)), stream=0)
    result["accuracy_drop"] = _per_subset(edited, drops)
    result["attribute_drop"] = _attribute_means(edited, drops)
    result["mean_drop"] = float(np.mean(drops))
    result["flip_rate"] = flips
    result["ci95"] = ci95
    result["mcnemar_p"] = pvalues
    if control is not None:
        # The control is an extra view: a subset sharing no source image with it is left out of
        # the control statistics instead of failing the whole computation.
        targets = [j for j in range(1, len(present)) if j != control and stats.shares(control, j)]
    if control is not None and targets:
        others = [present[j] for j in targets]
        c_drops, _, c_ci95, c_pvalues = stats.versus(control, targets, stream=1)
        result["control_subset"] = present[control].name
        result["control_drop"] = _per_subset(others, c_drops)
        result["control_attribute_drop"] = _attribute_means(others, c_drops)
        result["control_mean_drop"] = float(np.mean(c_drops))
        result["control_ci95"] = c_ci95
        result["control_mcnemar_p"] = c_pvalues
    result["counts"] = {s.name: int(c) for s, c in zip(present, counts)}
    if source_ids is not None or pair_by_position:
        # Attributes edited at several severities (sweeps): accuracy curves and per-image failure points.
        swept = sweeps_of_rows(present, rows, preds, refs, id_codes, list(ids),
                               n_bootstrap=settings.n_bootstrap, seed=settings.seed)
        if swept:
            result["sweeps"] = swept
    return result


def _source_codes(source_ids: Sequence[str]) -> tuple[np.ndarray, int, list[Any]]:
    ids, id_codes = _factorize(source_ids, "source_ids")
    for code, sid in enumerate(ids):
        if not isinstance(sid, str) or not sid:
            raise ValueError(
                f"source_ids[{_first_position(id_codes, code)}] is {sid!r}: give every row its source image "
                f"id (e.g. 'ILSVRC2012_val_00000001'), or source_ids=None for unpaired statistics")
    return id_codes, len(ids), ids


def _positional_codes(present: list[SubsetInfo], rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, int, list]:
    """Row k of each subset is source k: the codes are each row's rank within its subset."""
    if len(set(counts.tolist())) > 1:
        sizes = ", ".join(f"{s.name} {int(c)}" for s, c in zip(present, counts))
        raise ValueError(f"pairing by position needs the same number of rows in every subset, got {sizes}; "
                         "give source_ids to pair by source image")
    order = np.argsort(rows, kind="stable")
    codes = np.empty(rows.size, dtype=np.int64)
    codes[order] = np.arange(rows.size) - np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    n = int(counts[0])
    return codes, n, [f"row {k} of each subset" for k in range(n)]


class _Unpaired:
    """Whole-subset comparisons: drops of accuracies, binomial bootstrap, no McNemar."""

    def __init__(self, present: list[SubsetInfo], accuracy: np.ndarray, counts: np.ndarray,
                 settings: BootstrapSettings) -> None:
        self.present, self.accuracy, self.counts, self.settings = present, accuracy, counts, settings

    def shares(self, ref: int, j: int) -> bool:
        return True

    def versus(self, ref: int, targets, stream: int) -> tuple[np.ndarray, dict, dict, dict]:
        targets = list(targets)
        acc, counts, settings = self.accuracy, self.counts, self.settings
        drops = acc[ref] - acc[targets]
        ci95: dict[str, list[float]] = {}
        if settings.n_bootstrap:
            for j in targets:
                rng = settings.rng_for(self.present[j], stream)
                resampled_ref = rng.binomial(counts[ref], acc[ref], settings.n_bootstrap) / counts[ref]
                resampled_edit = rng.binomial(counts[j], acc[j], settings.n_bootstrap) / counts[j]
                ci95[self.present[j].name] = settings.interval(resampled_ref - resampled_edit)
        return drops, {}, ci95, {}


class _Paired:
    """(subset, source) tables of correctness and prediction; comparisons on shared sources."""

    def __init__(self, present: list[SubsetInfo], rows: np.ndarray, id_codes: np.ndarray, n_sources: int,
                 ids: list[Any], correct: np.ndarray, preds: np.ndarray, settings: BootstrapSettings) -> None:
        key = rows * n_sources + id_codes
        per_key = np.bincount(key, minlength=len(present) * n_sources)
        duplicated = np.flatnonzero(per_key > 1)
        if duplicated.size:
            k = int(duplicated[0])
            where = np.flatnonzero(key == k)[:2].tolist()
            raise ValueError(f"duplicate row for subset {present[k // n_sources].name!r} and source_id "
                             f"{ids[k % n_sources]!r} (positions {where[0]} and {where[1]})")
        # -1 marks a source image the subset does not hold.
        self.correct = np.full((len(present), n_sources), -1, dtype=np.int8)
        self.correct[rows, id_codes] = correct
        self.preds = np.full((len(present), n_sources), -1, dtype=np.int32)  # any label space size
        self.preds[rows, id_codes] = preds
        self.present, self.settings = present, settings

    def shares(self, ref: int, j: int) -> bool:
        return bool(((self.correct[ref] >= 0) & (self.correct[j] >= 0)).any())

    def versus(self, ref: int, targets, stream: int) -> tuple[np.ndarray, dict, dict, dict]:
        targets = list(targets)
        reference, edits = self.correct[ref], self.correct[targets]
        shared = (reference >= 0) & (edits >= 0)
        n_shared = shared.sum(axis=1)
        lonely = np.flatnonzero(n_shared == 0)
        if lonely.size:
            raise ValueError(f"subset {self.present[targets[int(lonely[0])]].name!r} shares no source_id with "
                             f"{self.present[ref].name!r}; paired drops need the same source images in both")
        n_plus = (shared & (reference == 1) & (edits == 0)).sum(axis=1)
        n_minus = (shared & (reference == 0) & (edits == 1)).sum(axis=1)
        drops = (n_plus - n_minus) / n_shared
        flips = (shared & (self.preds[ref] != self.preds[targets])).sum(axis=1) / n_shared
        names = [self.present[j].name for j in targets]
        pvalues = {name: mcnemar_exact_p(int(b), int(c)) for name, b, c in zip(names, n_plus, n_minus)}
        ci95: dict[str, list[float]] = {}
        settings = self.settings
        if settings.n_bootstrap:
            for k, j in enumerate(targets):
                n = int(n_shared[k])
                shares = np.array([n_plus[k], n_minus[k], n - n_plus[k] - n_minus[k]], dtype=np.float64) / n
                draws = settings.rng_for(self.present[j], stream).multinomial(n, shares, size=settings.n_bootstrap)
                ci95[names[k]] = settings.interval((draws[:, 0] - draws[:, 1]) / n)
        return drops, dict(zip(names, flips.tolist())), ci95, pvalues
