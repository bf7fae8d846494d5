"""Leaderboard load speed: every number recomputed from per-image predictions.

Workload (the issue's): 50 submissions x 52,224 predictions (12 subsets x 4,352 source images,
the real ImageNet-E size), each a results file + its predictions.parquet, against a labels-only
dataset in the Hub layout. Compares, interleaved through :mod:`benchmarks.harness`:

(a) the floor: reading every results JSON and every predictions parquet into memory (no checks);
(b) load_board_dir cold: schema, sha256, predictions read + checked against the dataset's labels
    (read once, cached per revision), metric recomputed with 1,000 bootstrap resamples,
    compared with the results file; and the ratio to (a);
(c) the same warm (labels and the content-keyed recomputation cached), as a Space's Refresh does it;
(d) build_table for the benchmark's table.
Target: (b) under 5 s CPU at the full size. Also notes the predictions file size per model.

Then a board's Refresh at a Space's scale (issue 22 item 4): 200 submissions x 12 subsets x 1,000
sources (20 x 200 quick), each with 50 resamples of its own, against the same kind of dataset:

(e) the cold load (every cache cleared: every file checked and recomputed);
(f) Refresh with nothing changed (every file's bytes hashed, nothing recomputed);
(g) Refresh after one new submission arrived (only that file recomputed). Target: (g) < 2 s.
The new files are written before the timing and moved in by a rename, so (g) times the Refresh only.

    python -m benchmarks leaderboard [--quick]     # 50 x 4352 sources (5 x 500 quick); 200 x 1000 (20 x 200)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.leaderboard import DATASET_NAME, write_labels_dataset, write_submission  # noqa: E402

from imagenet_e.eval.predictions import PREDICTIONS_SUFFIX  # noqa: E402

import imagenet_e.eval.dataset_labels as dataset_labels  # noqa: E402
from imagenet_e.leaderboard import loading  # noqa: E402
from imagenet_e.leaderboard.table import build_table, load_board_dir  # noqa: E402


def _clear_caches() -> None:
    """Nothing cached: the dataset's labels, the recomputation keyed by file content."""
    dataset_labels._CACHE.clear()
    loading._CACHE.clear()


def _submit(results: Path, dataset: Path, i: int, n_bootstrap: int) -> Path:
    return write_submission(results, f"results/org--model-{i:03d}/main", dataset, f"org/model-{i:03d}",
                            original=0.5 + (i % 40) / 100, mean_drop=0.05 + (i % 37) / 400, n_bootstrap=n_bootstrap)


def run(quick: bool = False) -> list:
    """``python -m benchmarks leaderboard``: the load (50 x 4,352 sources; 5 x 500 under ``--quick``) and
    the Refresh (200 x 1,000; 20 x 200 under ``--quick``)."""
    return [_load(quick), _refresh(quick)]


def _load(quick: bool):
    """50 x 4,352 sources (5 x 500 under ``--quick``), 1,000 resamples: the floor, cold, warm, the table."""
    import pyarrow.parquet as pq

    from benchmarks.harness import Case, compare, rounds, scratch

    submissions, sources, n_bootstrap = (5, 500, 1000) if quick else (50, 4352, 1000)
    with scratch("bench-leaderboard-") as root:
        dataset = write_labels_dataset(root / DATASET_NAME, n_sources=sources)
        for i in range(submissions):
            _submit(root / "results", dataset, i, n_bootstrap)
        files = sorted((root / "results").rglob("*.predictions.parquet"))
        documents = sorted((root / "results").rglob("*.json"))
        sizes = [f.stat().st_size for f in files]
        datasets = {DATASET_NAME: str(dataset)}

        def floor() -> None:
            for path in documents:
                json.loads(path.read_text("utf-8"))
            for path in files:
                pq.read_table(path)

        def load(cold: bool):
            def go() -> None:
                if cold:
                    _clear_caches()
                board = load_board_dir(root / "results", datasets=datasets)
                assert len(board.entries) == submissions and not board.skipped, board.skipped[:3]
            return go

        board = load_board_dir(root / "results", datasets=datasets)
        rows = board.entries[0].n_images * len(board.entries[0].configs)
        comp = compare(f"Leaderboard: {submissions} submissions x {rows:,} predictions, {n_bootstrap} resamples", [
            Case("read JSON + parquet only (floor)", floor, submissions),
            Case("load_board_dir, cold", load(True), submissions),
            Case("load_board_dir, warm (a Refresh: caches kept)", load(False), submissions),
            Case("build_table", lambda: build_table(board), submissions),
        ], repeats=rounds(quick), unit="submissions", notes=[
            "target: load_board_dir cold < 5 s CPU for 50 x 52,224 predictions (the full size)",
            f"predictions file per model: {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KiB"])
    return comp


def _refresh(quick: bool):
    """A Space's Refresh: 200 x 1,000 sources (20 x 200 under ``--quick``), cold vs nothing changed vs one
    new submission (each run of that case moves in one more file written beforehand)."""
    from benchmarks.harness import Case, compare, rounds, scratch

    submissions, sources, n_bootstrap = (20, 200, 50) if quick else (200, 1000, 50)
    warmup, repeats = 1, rounds(quick)
    with scratch("bench-board-refresh-") as root:
        dataset = write_labels_dataset(root / DATASET_NAME, n_sources=sources)
        datasets = {DATASET_NAME: str(dataset)}
        results = root / "results"
        for i in range(submissions):
            _submit(results, dataset, i, n_bootstrap)
        # One new submission per run of the case, written now so that the timing holds the Refresh only.
        waiting = [_submit(root / "incoming", dataset, submissions + k, n_bootstrap) for k in range(warmup + repeats)]

        def load() -> None:
            board = load_board_dir(results, datasets=datasets)
            assert len(board.entries) >= submissions and not board.skipped, board.skipped[:3]

        def cold() -> None:
            _clear_caches()
            load()

        def one_new() -> None:
            new = waiting.pop()
            target = results / new.relative_to(root / "incoming")
            target.parent.mkdir(parents=True)
            for path in (new, new.with_name(new.name[: -len(".json")] + PREDICTIONS_SUFFIX)):
                path.rename(target.parent / path.name)
            load()

        load()
        comp = compare(f"Board refresh: {submissions} submissions x 12 subsets x {sources:,} sources", [
            Case("load_board_dir, cold (every file recomputed)", cold, submissions),
            Case("Refresh, nothing changed", load, submissions),
            Case("Refresh, one new submission", one_new, 1),
        ], repeats=repeats, warmup=warmup, unit="submissions", notes=[
            "target: Refresh after one new submission < 2 s at 200 x 1,000 (the full size)",
            f"each run of the one-new case adds a file, so the board grows to {submissions + warmup + repeats} "
            "submissions; the cold case recomputes all of them",
            f"{n_bootstrap} resamples in each file; the board recomputes with its own count"])
    return comp


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository root
    from benchmarks.harness import write_results

    print(write_results("leaderboard", run())[1].read_text(encoding="utf-8"))
