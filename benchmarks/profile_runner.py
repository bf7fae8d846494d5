"""cProfile of one ``evaluate_model`` call with the model already loaded, on the ``eval --quick`` workload.

    python benchmarks/profile_runner.py [--sources 8]

Prints the 35 most expensive calls by cumulative time (the runner's fixed per-run costs show here).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_eval import build_dataset, build_model  # noqa: E402
from benchmarks.harness import scratch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=8)
    args = parser.parse_args()
    from imagenet_e.eval.models import load_model
    from imagenet_e.eval.runner import evaluate_model

    with scratch("profile-runner-") as root:
        os.environ["HF_DATASETS_CACHE"] = str(root / "cache")
        dataset = build_dataset(root, ["original", "background_20", "size_0.05", "direction_random"], args.sources)
        model = build_model(root)
        loaded = load_model(str(model))

        def once(k: int) -> None:
            evaluate_model(str(model), dataset, loaded_model=loaded, batch_size=16, output=root / f"r{k}.json",
                           n_bootstrap=10, progress=False)

        once(0)  # warm: the datasets cache and lazy imports
        profiler = cProfile.Profile()
        profiler.runcall(once, 1)
        pstats.Stats(profiler).sort_stats("cumtime").print_stats(int(os.environ.get("PROFILE_LINES", "35")))


if __name__ == "__main__":
    main()
