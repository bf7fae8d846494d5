"""``python -m benchmarks {all|NAME...} [--quick]``: run benchmarks through the harness, write benchmarks/results/.

``python -m benchmarks render-docs [--check]`` copies the committed results into the docs' marked
blocks instead (see ``benchmarks/render_docs.py``).

Each registered benchmark is a module with ``run(quick: bool) -> list[Comparison]``; this runner
writes ``results/<name>.json`` and ``.md`` and prints the Markdown. A benchmark that fails is
reported and the others still run (exit status 1 at the end).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from .harness import write_results

BENCHMARKS: dict[str, str] = {
    "metric": "benchmarks.bench_metric",
    "loader": "benchmarks.bench_loader",
    "eval": "benchmarks.bench_eval",
    "generate": "benchmarks.bench_generate",
    "diffusion": "benchmarks.bench_diffusion",
    "fingerprint": "benchmarks.bench_fingerprint",
    "leaderboard": "benchmarks.bench_leaderboard",
    "sweep": "benchmarks.bench_sweep",
    "edits": "benchmarks.bench_edits",
    "protocols": "benchmarks.bench_protocols",
    "metric_space": "benchmarks.bench_metric_space",
}
"""name -> module; ``all`` runs them in this order."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["render-docs"]:
        from .render_docs import main as render_docs
        return render_docs(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", metavar="NAME", help=f"'all' or any of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (minutes on 2 cores)")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if "all" in args.names else args.names
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; valid: all, {', '.join(BENCHMARKS)}")
    failed = []
    for name in names:
        try:
            comparisons = importlib.import_module(BENCHMARKS[name]).run(quick=args.quick)
            _, md_path = write_results(name, comparisons)
            print(md_path.read_text(encoding="utf-8"))
        except Exception:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
