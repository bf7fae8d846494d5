"""Benchmark: the ImageNet-E metric against plain per-subset accuracy with scikit-learn.

Workload (the benchmark's full size): 12 subsets x 50,000 predictions, paired by source id, 1,000 bootstrap
resamples. Baseline, measured in the same process on the same Python lists: per-subset top-1
accuracy with ``sklearn.metrics.accuracy_score`` (no drops, no pairing, no intervals). Prints the
best-of-N seconds of each and their ratio to the bare baseline (arrays already split per subset;
also shown: the same starting from the row lists, grouping included); the target is under 2 s and within 10x of the baseline.

    python benchmarks/bench_metric.py                  # core + evaluate module
    python benchmarks/bench_metric.py --sources 4352   # the real ImageNet-E size
    python benchmarks/bench_metric.py --no-evaluate    # core only
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np

from imagenet_e_dataset.registry import CONFIG_NAMES
from imagenet_e_metric.core import compute_imagenet_e

FOLDER = Path(__file__).resolve().parents[1] / "imagenet_e_metric"


def make_workload(n_sources: int, seed: int = 0) -> tuple[list[int], list[int], list[str], list[str]]:
    """Python lists, as a user's loop or `evaluate` hands them over."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 1000, n_sources)
    preds, refs, subsets, ids = [], [], [], []
    source_ids = [f"ILSVRC2012_val_{i + 1:08d}" for i in range(n_sources)]
    for k, name in enumerate(CONFIG_NAMES):
        right = rng.random(n_sources) < 0.8 - 0.02 * k
        preds.extend(np.where(right, truth, rng.integers(0, 1000, n_sources)).tolist())
        refs.extend(truth.tolist())
        subsets.extend([name] * n_sources)
        ids.extend(source_ids)
    return preds, refs, subsets, ids


def split_per_subset(preds: list[int], refs: list[int], subsets: list[str]) -> dict[str, tuple[np.ndarray, ...]]:
    p, r, s = np.asarray(preds), np.asarray(refs), np.asarray(subsets)
    return {name: (r[s == name], p[s == name]) for name in np.unique(s)}


def sklearn_on_split(split: dict[str, tuple[np.ndarray, ...]]) -> dict[str, float]:
    """The bare baseline: accuracy only, on arrays already split per subset."""
    from sklearn.metrics import accuracy_score

    return {name: accuracy_score(r, p) for name, (r, p) in split.items()}


def sklearn_from_rows(preds: list[int], refs: list[int], subsets: list[str]) -> dict[str, float]:
    """The same, starting from the row lists the metric gets (grouping by subset included)."""
    return sklearn_on_split(split_per_subset(preds, refs, subsets))


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=50_000, help="source images per subset")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-evaluate", action="store_true", help="skip the evaluate.load route")
    args = parser.parse_args()

    preds, refs, subsets, ids = make_workload(args.sources)
    n = len(preds)
    print(f"workload: {len(CONFIG_NAMES)} subsets x {args.sources:,} predictions = {n:,} rows, "
          f"{args.bootstrap:,} bootstrap resamples, paired by source id")

    split = split_per_subset(preds, refs, subsets)
    base_s, base = best_of(lambda: sklearn_on_split(split), args.repeats)
    rows_s, _ = best_of(lambda: sklearn_from_rows(preds, refs, subsets), args.repeats)
    core_s, result = best_of(lambda: compute_imagenet_e(preds, refs, subsets, ids, n_bootstrap=args.bootstrap),
                             args.repeats)
    unpaired_s, _ = best_of(lambda: compute_imagenet_e(preds, refs, subsets, n_bootstrap=args.bootstrap),
                            args.repeats)
    assert all(abs(result["accuracy"][k] - v) < 1e-12 for k, v in base.items()), "accuracies disagree"

    print(f"baseline: sklearn accuracy_score, pre-split:  {base_s:8.3f} s")
    print(f"sklearn accuracy_score from the row lists:    {rows_s:8.3f} s  ratio {rows_s / base_s:5.2f}x")
    print(f"compute_imagenet_e paired + CIs:             {core_s:8.3f} s  ratio {core_s / base_s:5.2f}x  "
          f"({n / core_s / 1e6:.2f} M rows/s)")
    print(f"compute_imagenet_e unpaired + CIs:           {unpaired_s:8.3f} s  ratio {unpaired_s / base_s:5.2f}x")
    if not args.no_evaluate:
        start = time.perf_counter()
        import evaluate

        import_s = time.perf_counter() - start
        start = time.perf_counter()
        metric = evaluate.load(str(FOLDER))
        cold_s = time.perf_counter() - start
        load_s, _ = best_of(lambda: evaluate.load(str(FOLDER)), args.repeats)
        # evaluate's own `import evaluate` imports transformers.pipelines (and torch) when they are
        # installed; the metric script adds numpy, datasets and the core only.
        print(f"import evaluate (evaluate's own imports):    {import_s:8.3f} s")
        print(f"evaluate.load(folder) first / warm:          {cold_s:8.3f} s / {load_s:.3f} s  (target warm < 3 s)")
        eval_s, _ = best_of(lambda: metric.compute(predictions=preds, references=refs, subsets=subsets,
                                                   source_ids=ids, n_bootstrap=args.bootstrap), 1)
        print(f"evaluate.load(...).compute (Arrow round trip): {eval_s:6.3f} s  ratio {eval_s / base_s:5.2f}x")
    verdict = "OK" if core_s < 2.0 and core_s / base_s <= 10 else "MISSED"
    print(f"target (< 2 s and <= 10x baseline): {verdict}; mean_drop {result['mean_drop']:.4f}")


if __name__ == "__main__":
    main()
