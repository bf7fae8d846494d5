"""A 5-level severity sweep vs the twelve fixed ImageNet-E configs through ``imagenet-e generate`` (cpu backend).

Both runs use the same synthetic sources and settings (:func:`bench_generate.build_layout`), one
``generate`` process each, one torch thread; compared interleaved through :mod:`benchmarks.harness`
with a start-up-only process beside them, so the share of start-up can be read off. Throughput is
dataset images written per second (the sweep's configs are cheaper per image: no background
re-synthesis); the image counts come from each run's manifest (unreachable edits are not written).

    python -m benchmarks sweep [--quick]      # 16 sources at 96 px (6 at 64 px quick)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .bench_generate import REPO, build_layout, one_thread_env, startup_only

SWEEP = "size=0.02,0.05,0.1,0.2,0.3"


def run(quick: bool = False) -> list:
    from .harness import Case, compare, rounds, scratch

    sources, size, resolution, steps = (6, 96, 64, 2) if quick else (16, 128, 96, 3)
    env, runs = one_thread_env(), iter(range(10_000))
    with scratch("bench-sweep-") as root:
        images, masks = build_layout(root / "data", sources, size)

        def generate(*selection: str) -> int:
            out = root / f"run-{next(runs)}"
            cmd = [sys.executable, "-m", "imagenet_e.cli", "generate", "--images", str(images), "--masks", str(masks),
                   "--out", str(out), "--steps", str(steps), "--edit-option", f"resolution={resolution}",
                   "--no-progress", *selection]
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
            if proc.returncode:
                raise RuntimeError(f"generate failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]
            return sum(1 for r in rows if r["status"] == "ok")

        fixed_images, sweep_images = generate("--subsets", "all"), generate("--sweep", SWEEP)  # counts, and warm-up
        return [compare(f"Sweep vs fixed configs: {sources} sources, {resolution}px edits, cpu backend, {steps} iterations",
                        [Case(f"12 fixed configs ({fixed_images} images)", lambda: generate("--subsets", "all"),
                              fixed_images),
                         Case(f"sweep {SWEEP} ({sweep_images} images)", lambda: generate("--sweep", SWEEP), sweep_images),
                         Case("start-up only (imports, no work)", lambda: startup_only(env))],
                        repeats=rounds(quick) - 1 if quick else rounds(quick), warmup=0, unit="images",
                        notes=["CPU includes the child processes (generate runs in subprocesses)",
                               "the first run of each (image counts) served as warm-up"])]


if __name__ == "__main__":
    from .harness import write_results

    print(write_results("sweep", run())[1].read_text(encoding="utf-8"))
