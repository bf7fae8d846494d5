"""End-to-end generation throughput on CPU, and how it scales from 1 to 2 shard processes.

Builds a synthetic ImageNet val + ImageNet-S layout (textured photos with one elliptical object),
then times ``imagenet-e generate`` (every subset, CPU backend) as

1. one process doing all the work (baseline), and
2. two shard processes (``--num-shards 2 --shard-index 0/1``) running in parallel, then ``--merge``,

and prints source images per second for both and their ratio. Both runs must produce identical
datasets (checked). Process start-up (torch import, classifier load) is part of the wall time, as it
is for a user; use ``--sources`` to make it matter less. Each process runs one torch thread
(``OMP_NUM_THREADS=1``), as sharded CPU runs should: K processes on K cores.

    python benchmarks/bench_generate.py                 # ~1 min on 2 cores
    python benchmarks/bench_generate.py --sources 64 --resolution 256 --steps 20
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def build_layout(root: Path, count: int, size: int) -> tuple[Path, Path]:
    from imagenet_e_dataset.labels import val_labels, wnids

    images, masks = root / "val", root / "masks"
    images.mkdir(parents=True)
    labels = val_labels()
    yy, xx = np.mgrid[:size, :size]
    for n in range(1, count + 1):
        sid = f"ILSVRC2012_val_{n:08d}"
        rng = np.random.default_rng(n)
        photo = (rng.integers(40, 200, 3) + 30 * np.sin(xx[..., None] / (3 + n % 5)) + rng.normal(0, 8, (size, size, 3)))
        photo = photo.clip(0, 255).astype(np.uint8)
        cy, cx = size * (0.35 + 0.3 * rng.random()), size * (0.35 + 0.3 * rng.random())
        ry, rx = size * (0.15 + 0.12 * rng.random()), size * (0.15 + 0.12 * rng.random())
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        photo[mask] = rng.integers(0, 255, 3)
        Image.fromarray(photo).save(images / f"{sid}.JPEG", quality=90)
        folder = masks / wnids()[labels[f"{sid}.JPEG"]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{sid}.png")
    return images, masks


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=8, help="synthetic source images (default 8)")
    parser.add_argument("--size", type=int, default=128, help="photo side in pixels (default 128)")
    parser.add_argument("--resolution", type=int, default=96, help="working resolution of the edits (default 96)")
    parser.add_argument("--steps", type=int, default=3, help="CPU background-editor iterations (default 3)")
    parser.add_argument("--classifier", default="efficientnet-lite0", help="guidance classifier for background_20_adv")
    parser.add_argument("--subsets", default="all")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp)
        images, masks = build_layout(root / "data", args.sources, args.size)
        chunk = max(1, args.sources // 4)

        def command(out: Path, *extra: str) -> list[str]:
            return [sys.executable, "-m", "imagenet_e.cli", "generate", "--images", str(images), "--masks", str(masks),
                    "--out", str(out), "--subsets", args.subsets, "--steps", str(args.steps), "--classifier", args.classifier,
                    "--edit-option", f"resolution={args.resolution}", "--chunk-size", str(chunk), "--no-progress", *extra]

        def run(cmds: list[list[str]]) -> float:
            # One torch thread per process in both runs: two processes with torch's default (all cores each)
            # oversubscribe the CPU and crawl, and the adversarial subset's classifier gradients change in the
            # last bit with the thread count, so equal counts are what makes identical bytes possible.
            env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            start = time.perf_counter()
            procs = [subprocess.Popen(c, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
                     for c in cmds]
            for p in procs:
                _, err = p.communicate()
                if p.returncode:
                    raise SystemExit(f"generate failed ({p.returncode}):\n{err[-3000:]}")
            return time.perf_counter() - start

        one = root / "one" / "imagenet-e"
        t_one = run([command(one)])
        two = root / "two" / "imagenet-e"
        t_shards = run([command(two, "--num-shards", "2", "--shard-index", str(i)) for i in (0, 1)])
        t_merge = run([command(two, "--merge")])
        t_two = t_shards + t_merge
        same = digest(one) == digest(two)

    n = args.sources
    from imagenet_e_dataset.registry import resolve_many

    per_source = len({"original", *(s.name for s in resolve_many(args.subsets))})
    print(f"sources: {n} ({args.size}x{args.size} photos, {args.resolution}px edits, {args.steps} iterations, subsets {args.subsets})")
    print(f"1 process : {t_one:7.1f} s  {n / t_one:6.3f} source images/s = {n * per_source / t_one:6.2f} dataset images/s")
    print(f"2 shards  : {t_two:7.1f} s  {n / t_two:6.3f} source images/s = {n * per_source / t_two:6.2f} dataset images/s (parallel {t_shards:.1f} s + merge {t_merge:.1f} s)")
    print(f"scaling 1 -> 2 processes: {t_one / t_two:.2f}x  (identical output: {same})")


if __name__ == "__main__":
    main()
