"""Leaderboard load speed: results files -> validated board -> ranked table.

Prints files/second for (a) json.loads alone (the floor), (b) load_board_dir (read + schema
validation + entries), (c) build_table on the loaded board, and the ratios against (a).
Default: 300 files (well under 60 s on 2 cores); --files N for more.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.results import make_results  # noqa: E402  (the same factory the tests use)

from imagenet_e.leaderboard.table import build_table, load_board_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.files):
            doc = make_results(f"org/model-{i:05d}", original=0.5 + (i % 40) / 100, mean_drop=0.05 + (i % 37) / 400)
            (folder / f"{i:05d}.json").write_text(json.dumps(doc), "utf-8")

        start = time.perf_counter()
        for path in sorted(folder.glob("*.json")):
            json.loads(path.read_text("utf-8"))
        floor = time.perf_counter() - start

        start = time.perf_counter()
        board = load_board_dir(folder)
        load = time.perf_counter() - start
        assert len(board.entries) == args.files and not board.skipped

        start = time.perf_counter()
        view = build_table(board, sort_by="mean_drop")
        table = time.perf_counter() - start
        assert len(view.rows) == args.files

    n = args.files
    print(f"{n} results files")
    print(f"json.loads only        : {n / floor:10.0f} files/s")
    print(f"load_board_dir         : {n / load:10.0f} files/s  ({load / floor:.1f}x the json floor)")
    print(f"build_table (all cols) : {n / table:10.0f} rows/s")


if __name__ == "__main__":
    main()
