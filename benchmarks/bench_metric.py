"""The metric against plain numpy doing the same statistics, and its evaluate route against its core.

Workload: the twelve ImageNet-E configs x N source images (50,000 full, 5,000 ``--quick``), paired
by source id, 1,000 bootstrap resamples, as Python lists (what a user's loop or evaluate hands over).

Peers (same inputs, same answers up to the random draws):

* ``numpy paired``: group rows with ``np.unique``, a (subset x source) correctness table, the paired
  drop per edited subset and a percentile bootstrap drawn as multinomial counts of the (+1, -1, 0)
  per-image differences (the identical distribution to resampling images; see the core's docstring);
* ``numpy unpaired``: per-subset accuracy and binomial bootstrap of the accuracy difference.

Project cases: ``compute_imagenet_e`` (the core; it also validates input, computes flips, McNemar
p-values, control drops) and the ``evaluate`` module loaded from ``imagenet_e_metric.path()``
(Arrow cache write + read + the core). evaluate's own ``accuracy`` module is the unpaired peer when
it can be loaded (it needs the Hub or a cached copy; offline it is reported as skipped).

    python -m benchmarks metric [--quick]
"""

from __future__ import annotations

import numpy as np

from imagenet_e_metric import compute_imagenet_e, path
from imagenet_e_metric.subsets import benchmark_table

from .harness import Case, Comparison, compare

N_BOOTSTRAP = 1000


def make_workload(n_sources: int, seed: int = 0) -> tuple[list[int], list[int], list[str], list[str]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 1000, n_sources)
    source_ids = [f"ILSVRC2012_val_{i + 1:08d}" for i in range(n_sources)]
    preds, refs, subsets, ids = [], [], [], []
    for k, sub in enumerate(benchmark_table().ordered()):
        right = rng.random(n_sources) < 0.8 - 0.02 * k
        preds += np.where(right, truth, rng.integers(0, 1000, n_sources)).tolist()
        refs += truth.tolist()
        subsets += [sub.name] * n_sources
        ids += source_ids
    return preds, refs, subsets, ids


def numpy_paired(preds, refs, subsets, ids, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict[str, tuple]:
    """Paired drop vs ``original`` and its percentile interval, per edited subset, in plain numpy."""
    correct = np.asarray(preds) == np.asarray(refs)
    names, name_codes = np.unique(np.asarray(subsets), return_inverse=True)
    _, id_codes = np.unique(np.asarray(ids), return_inverse=True)
    table = np.full((len(names), id_codes.max() + 1), -1, dtype=np.int8)
    table[name_codes, id_codes] = correct
    original = table[list(names).index("original")]
    rng = np.random.default_rng(seed)
    out = {}
    for k, name in enumerate(names):
        if name == "original":
            continue
        both = (original >= 0) & (table[k] >= 0)
        diff = original[both].astype(np.int64) - table[k][both]
        n, plus, minus = diff.size, int((diff == 1).sum()), int((diff == -1).sum())
        draws = rng.multinomial(n, [plus / n, minus / n, (n - plus - minus) / n], size=n_bootstrap)
        out[str(name)] = ((plus - minus) / n, np.quantile((draws[:, 0] - draws[:, 1]) / n, [0.025, 0.975]))
    return out


def numpy_unpaired(preds, refs, subsets, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict[str, tuple]:
    correct = np.asarray(preds) == np.asarray(refs)
    names, codes = np.unique(np.asarray(subsets), return_inverse=True)
    counts = np.bincount(codes)
    accuracy = np.bincount(codes, weights=correct) / counts
    o = list(names).index("original")
    rng = np.random.default_rng(seed)
    out = {}
    for k, name in enumerate(names):
        if k != o:
            resampled = (rng.binomial(counts[o], accuracy[o], n_bootstrap) / counts[o]
                         - rng.binomial(counts[k], accuracy[k], n_bootstrap) / counts[k])
            out[str(name)] = (accuracy[o] - accuracy[k], np.quantile(resampled, [0.025, 0.975]))
    return out


def _evaluate_accuracy():
    """evaluate's own accuracy module, or the reason it cannot be had here."""
    import evaluate

    try:
        return evaluate.load("accuracy"), ""
    except Exception as exc:  # offline: no Hub and no cached copy
        return None, f"evaluate's `accuracy` module skipped: it could not be loaded ({type(exc).__name__})"


def run(quick: bool = False) -> list[Comparison]:
    import evaluate

    n_sources = 5_000 if quick else 50_000
    repeats = 3 if quick else 7
    preds, refs, subsets, ids = make_workload(n_sources)
    rows = len(preds)
    paired_module = evaluate.load(path())
    unpaired_module = evaluate.load(path(), "unpaired")
    # The peers and the core agree before anything is timed.
    core = compute_imagenet_e(preds, refs, subsets, ids, n_bootstrap=N_BOOTSTRAP)
    plain = numpy_paired(preds, refs, subsets, ids)
    assert all(abs(core["accuracy_drop"][k] - v[0]) < 1e-12 for k, v in plain.items())
    size = f"12 configs x {n_sources:,} sources = {rows:,} rows, {N_BOOTSTRAP} resamples"
    paired = compare(f"Metric, paired ({size})", [
        Case("numpy paired drop + bootstrap", lambda: numpy_paired(preds, refs, subsets, ids), rows),
        Case("compute_imagenet_e (core)", lambda: compute_imagenet_e(preds, refs, subsets, ids), rows),
        Case("evaluate module (Arrow cache + core)",
             lambda: paired_module.compute(predictions=preds, references=refs, subsets=subsets, source_ids=ids), rows),
    ], repeats=repeats, unit="rows")
    accuracy, skipped = _evaluate_accuracy()
    cases = [
        Case("numpy unpaired drop + bootstrap", lambda: numpy_unpaired(preds, refs, subsets), rows),
        Case("compute_imagenet_e unpaired (core)", lambda: compute_imagenet_e(preds, refs, subsets), rows),
        Case("evaluate module, unpaired",
             lambda: unpaired_module.compute(predictions=preds, references=refs, subsets=subsets), rows),
    ]
    if accuracy is not None:
        cases.append(Case("evaluate `accuracy` (one overall number, no drops)",
                          lambda: accuracy.compute(predictions=preds, references=refs), rows))
    unpaired = compare(f"Metric, unpaired ({size})", cases, repeats=repeats, unit="rows",
                       notes=[skipped] if skipped else [])
    return [paired, unpaired]
