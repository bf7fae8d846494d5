"""The metric core vs its evaluate route, for whichever tree is on PYTHONPATH (before/after comparisons).

    PYTHONPATH=<tree> python benchmarks/metric_route_vs_core.py [SOURCES] [LABEL]

Times ``compute_imagenet_e`` (paired, the twelve configs x SOURCES, default 50,000, 1,000 resamples)
and ``evaluate.load(<tree>/imagenet_e_metric).compute(...)`` on the same lists with this checkout's
harness (loaded by file path, so an older tree without it can be measured), and prints the table.
Run it alternately on two trees to compare them under the same load.
"""

import importlib.util
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parent / "harness.py"
CONFIGS = ("original", "background_0", "background_-20", "background_20", "background_20_adv", "background_random",
           "size_full", "size_0.1", "size_0.08", "size_0.05", "position_random", "direction_random")


def main() -> None:
    spec = importlib.util.spec_from_file_location("bench_harness", HARNESS)
    harness = importlib.util.module_from_spec(spec)
    sys.modules["bench_harness"] = harness
    spec.loader.exec_module(harness)
    import evaluate
    import numpy as np

    import imagenet_e_metric
    from imagenet_e_metric.core import compute_imagenet_e

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    label = sys.argv[2] if len(sys.argv) > 2 else str(Path(imagenet_e_metric.__file__).parents[1])
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 1000, n)
    preds, refs, subsets, ids = [], [], [], []
    for k, name in enumerate(CONFIGS):
        right = rng.random(n) < 0.8 - 0.02 * k
        preds += np.where(right, truth, rng.integers(0, 1000, n)).tolist()
        refs += truth.tolist()
        subsets += [name] * n
        ids += [f"ILSVRC2012_val_{i + 1:08d}" for i in range(n)]
    metric = evaluate.load(str(Path(imagenet_e_metric.__file__).parent))
    comp = harness.compare(f"{label}: 12 x {n}", [
        harness.Case("core paired", lambda: compute_imagenet_e(preds, refs, subsets, ids), len(preds)),
        harness.Case("evaluate route paired", lambda: metric.compute(
            predictions=preds, references=refs, subsets=subsets, source_ids=ids), len(preds)),
    ], repeats=5, unit="rows")
    print(harness.markdown(label, [comp], harness.machine()))


if __name__ == "__main__":
    main()
