"""cProfile of ``load_dataset(folder, config)`` + decoding every row, warm, on the ``loader --quick`` data.

    python benchmarks/profile_loader.py [--images 200] [--route load_dataset|reader|iter_rows]

Prints the most expensive calls by cumulative time: where the loader's time goes beyond PIL decode.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_loader import build  # noqa: E402
from benchmarks.harness import scratch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--route", choices=["load_dataset", "reader", "iter_rows"], default="load_dataset")
    parser.add_argument("--lines", type=int, default=30)
    args = parser.parse_args()
    with scratch("profile-loader-") as root:
        os.environ["HF_DATASETS_CACHE"] = str(root / "cache")
        import datasets

        from imagenet_e_dataset.reader import iter_rows, load

        datasets.disable_progress_bars()
        _, folder = build(root, args.images, 256)
        routes = {
            "load_dataset": lambda: datasets.load_dataset(str(folder), "background_20", split="test"),
            "reader": lambda: load("background_20", folder),
            "iter_rows": lambda: iter_rows("background_20", folder),
        }

        def once() -> None:
            for row in routes[args.route]():
                row["image"].load()

        once()  # warm: the Arrow cache, lazy imports
        profiler = cProfile.Profile()
        profiler.runcall(once)
        pstats.Stats(profiler).sort_stats("cumtime").print_stats(args.lines)


if __name__ == "__main__":
    main()
