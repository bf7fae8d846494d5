"""A 5-level severity sweep vs the twelve fixed ImageNet-E configs through `imagenet-e generate` (cpu backend).

Both runs use the same synthetic sources and settings in one process each; the figure of merit is
dataset images written per second (the sweep's configs are cheaper per image: no background
re-synthesis), and the ratio sweep / fixed.

    python benchmarks/bench_sweep.py [--sources 16] [--sweep size=0.02,0.05,0.1,0.2,0.3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import REPO, build_layout  # noqa: E402  (the same synthetic layout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--steps", type=int, default=3, help="cpu background-editor iterations")
    parser.add_argument("--sweep", default="size=0.02,0.05,0.1,0.2,0.3")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)
        images, masks = build_layout(root / "data", args.sources, args.size)

        def run(out: Path, *selection: str) -> tuple[float, int]:
            cmd = [sys.executable, "-m", "imagenet_e.cli", "generate", "--images", str(images), "--masks", str(masks),
                   "--out", str(out), "--steps", str(args.steps), "--edit-option", f"resolution={args.resolution}",
                   "--no-progress", *selection]
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - start
            if proc.returncode:
                raise SystemExit(f"generate failed:\n{proc.stderr[-3000:]}")
            import json

            rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]
            return elapsed, sum(1 for r in rows if r["status"] == "ok")  # images written (unreachable edits are not)

        t_fixed, n_fixed = run(root / "fixed", "--subsets", "all")
        t_sweep, n_sweep = run(root / "sweep", "--sweep", args.sweep)

    print(f"{args.sources} sources, {args.resolution}px edits, cpu backend, {args.steps} iterations, 1 torch thread")
    print(f"12 fixed configs : {t_fixed:6.1f} s  {n_fixed} images  {n_fixed / t_fixed:6.2f} dataset images/s")
    print(f"sweep {args.sweep}: {t_sweep:6.1f} s  {n_sweep} images  {n_sweep / t_sweep:6.2f} dataset images/s")
    print(f"sweep / fixed: {(n_sweep / t_sweep) / (n_fixed / t_fixed):.2f}x images/s")


if __name__ == "__main__":
    main()
