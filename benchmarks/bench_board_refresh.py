"""Board Refresh with recomputation cached by file content (issue 22 item 4).

Workload: a board of N submissions (default 200) x 12 subsets x S source images (default 1,000)
against a labels-only dataset in the Hub layout. Prints, measured in this process:

(a) the cold load (every file checked and recomputed from its predictions);
(b) Refresh with nothing changed (every file's bytes hashed, nothing recomputed);
(c) Refresh after one new submission arrived (only that file recomputed). Target: (c) < 2 s.

    python benchmarks/bench_board_refresh.py                       # 200 submissions x 1000 sources
    python benchmarks/bench_board_refresh.py --submissions 20 --sources 200   # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.leaderboard import DATASET_NAME, write_labels_dataset, write_submission  # noqa: E402

from imagenet_e.leaderboard.table import load_board_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--sources", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = write_labels_dataset(root / DATASET_NAME, n_sources=args.sources)
        datasets = {DATASET_NAME: str(dataset)}

        def submit(i: int) -> None:
            write_submission(root / "results", f"results/org--model-{i:03d}/main", dataset, f"org/model-{i:03d}",
                             original=0.5 + (i % 40) / 100, mean_drop=0.05 + (i % 37) / 400, n_bootstrap=50)

        for i in range(args.submissions):
            submit(i)
        start = time.perf_counter()
        board = load_board_dir(root / "results", datasets=datasets)
        cold = time.perf_counter() - start
        assert len(board.entries) == args.submissions and not board.skipped, board.skipped[:3]
        start = time.perf_counter()
        load_board_dir(root / "results", datasets=datasets)
        unchanged = time.perf_counter() - start
        submit(args.submissions)
        start = time.perf_counter()
        board = load_board_dir(root / "results", datasets=datasets)
        one_new = time.perf_counter() - start
        assert len(board.entries) == args.submissions + 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"board: {args.submissions} submissions x 12 subsets x {args.sources} sources; load average {load:.1f}, "
          f"{os.cpu_count()} CPUs")
    print(f"(a) cold load, every file recomputed : {cold:7.2f} s")
    print(f"(b) Refresh, nothing changed         : {unchanged:7.2f} s")
    print(f"(c) Refresh, one new submission      : {one_new:7.2f} s  (target < 2 s)")


if __name__ == "__main__":
    main()
