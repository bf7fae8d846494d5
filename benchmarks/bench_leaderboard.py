"""Leaderboard load speed: every number recomputed from per-image predictions.

Workload (the issue's): 50 submissions x 52,224 predictions (12 subsets x 4,352 source images,
the real ImageNet-E size), each a results file + its predictions.parquet, against a labels-only
dataset in the Hub layout. Prints, measured in this process:

(a) the floor: reading every results JSON and every predictions parquet into memory (no checks);
(b) load_board_dir cold: schema, sha256, predictions read + checked against the dataset's labels
    (read once, cached per revision), metric recomputed with 1,000 bootstrap resamples,
    compared with the results file; and the ratio to (a);
(c) the same warm (labels cached), as a Space's Refresh does it;
(d) build_table for the benchmark's table.
Target: (b) under 5 s. Also prints the predictions file size per model.

    python benchmarks/bench_leaderboard.py                  # 50 x 4352 sources
    python benchmarks/bench_leaderboard.py --submissions 5 --sources 500   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.leaderboard import DATASET_NAME, write_labels_dataset, write_submission  # noqa: E402

import imagenet_e.eval.dataset_labels as dataset_labels  # noqa: E402
from imagenet_e.leaderboard.table import build_table, load_board_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--sources", type=int, default=4352)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = write_labels_dataset(root / DATASET_NAME, n_sources=args.sources)
        start = time.perf_counter()
        for i in range(args.submissions):
            write_submission(root / "results", f"results/org--model-{i:03d}/main", dataset, f"org/model-{i:03d}",
                             original=0.5 + (i % 40) / 100, mean_drop=0.05 + (i % 37) / 400,
                             n_bootstrap=args.n_bootstrap)
        made = time.perf_counter() - start
        files = sorted((root / "results").rglob("*.predictions.parquet"))
        sizes = [f.stat().st_size for f in files]

        import pyarrow.parquet as pq

        start = time.perf_counter()
        for path in sorted((root / "results").rglob("*.json")):
            json.loads(path.read_text("utf-8"))
        for path in files:
            pq.read_table(path)
        floor = time.perf_counter() - start

        dataset_labels._CACHE.clear()
        start = time.perf_counter()
        board = load_board_dir(root / "results", datasets={DATASET_NAME: str(dataset)})
        cold = time.perf_counter() - start
        assert len(board.entries) == args.submissions and not board.skipped, board.skipped[:3]

        start = time.perf_counter()
        load_board_dir(root / "results", datasets={DATASET_NAME: str(dataset)})
        warm = time.perf_counter() - start

        start = time.perf_counter()
        view = build_table(board)
        table = time.perf_counter() - start
        assert len(view.rows) == args.submissions

    rows = board.entries[0].n_images * len(board.entries[0].configs)
    print(f"{args.submissions} submissions x {rows:,} predictions ({args.sources} sources x "
          f"{len(board.entries[0].configs)} subsets), {args.n_bootstrap} bootstrap resamples (made in {made:.1f} s)")
    print(f"predictions file size per model: {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KiB "
          f"(mean {sum(sizes) / len(sizes) / 1024:.0f} KiB)")
    print(f"(a) read JSON + parquet only      : {floor:6.2f} s")
    print(f"(b) load_board_dir, cold labels   : {cold:6.2f} s  ({cold / floor:.1f}x the read floor; target < 5 s)")
    print(f"(c) load_board_dir, labels cached : {warm:6.2f} s  ({warm / floor:.1f}x)")
    print(f"(d) build_table                   : {table * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
