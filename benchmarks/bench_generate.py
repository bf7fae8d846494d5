"""Generation on CPU: one process vs two shard processes + merge, with process start-up reported apart.

Builds a synthetic ImageNet val + ImageNet-S layout (textured photos with one elliptical object) and
compares, interleaved (:mod:`benchmarks.harness`), ``imagenet-e generate`` (CPU backend) as

* ``1 process`` (baseline): one process doing every source;
* ``2 shards + merge``: ``--num-shards 2 --shard-index 0/1`` in parallel, then ``--merge``;
* ``start-up only``: one process importing what ``generate`` imports (torch, the CLI) and exiting,
  so the share of start-up in the two runs above can be read off instead of hidden in them.

Sources default to 64 (24 ``--quick``), so that per-source work outweighs the ~3-4 s start-up of
each process; every process runs one torch thread (K processes on K cores). Both generate runs
must give byte-identical datasets (checked once before timing).

    python -m benchmarks generate [--quick]
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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


def one_thread_env() -> dict[str, str]:
    # One torch thread per process: two processes with torch's default (all cores each) oversubscribe
    # the CPU, and the adversarial subset's gradients change in the last bit with the thread count.
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def startup_only(env: dict[str, str]) -> None:
    """A process that imports what ``generate`` imports and exits: the start-up every generate process pays."""
    subprocess.run([sys.executable, "-c", "import torch, imagenet_e.cli, generation.pipeline"], cwd=REPO, env=env,
                   check=True)


def run(quick: bool = False) -> list:
    from .harness import Case, compare, rounds, scratch

    sources, size, resolution, steps = (24, 96, 64, 2) if quick else (64, 128, 96, 3)
    env = one_thread_env()
    with scratch("bench-generate-") as root:
        images, masks = build_layout(root / "data", sources, size)
        runs = iter(range(10_000))

        def command(out: Path, *extra: str) -> list[str]:
            return [sys.executable, "-m", "imagenet_e.cli", "generate", "--images", str(images), "--masks", str(masks),
                    "--out", str(out), "--subsets", "all", "--steps", str(steps), "--edit-option",
                    f"resolution={resolution}", "--chunk-size", str(max(1, sources // 4)), "--no-progress", *extra]

        def processes(cmds: list[list[str]]) -> None:
            procs = [subprocess.Popen(c, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
                     for c in cmds]
            for p in procs:
                _, err = p.communicate()
                if p.returncode:
                    raise RuntimeError(f"generate failed ({p.returncode}):\n{err[-3000:]}")

        def one_process(out: Path | None = None) -> Path:
            out = out or root / f"one-{next(runs)}" / "imagenet-e"
            processes([command(out)])
            return out

        def two_shards(out: Path | None = None) -> Path:
            out = out or root / f"two-{next(runs)}" / "imagenet-e"
            processes([command(out, "--num-shards", "2", "--shard-index", str(i)) for i in (0, 1)])
            processes([command(out, "--merge")])
            return out

        if digest(one_process(root / "check-one")) != digest(two_shards(root / "check-two")):
            raise RuntimeError("two shards + merge did not reproduce the one-process dataset byte for byte")
        return [compare(f"Generation: {sources} sources, every subset, {resolution}px edits, {steps} iterations, "
                        f"1 torch thread per process", [
                            Case("1 process", one_process, sources),
                            Case("2 shards + merge", two_shards, sources),
                            Case("start-up only (imports, no work)", lambda: startup_only(env)),
                        ], repeats=rounds(quick) - 1 if quick else rounds(quick), warmup=0, unit="sources",
                        notes=["the one-time check before timing: 2 shards + merge == 1 process, byte for byte",
                               "CPU includes the child processes (generate runs in subprocesses)"])]


if __name__ == "__main__":
    from .harness import write_results

    print(write_results("generate", run())[1].read_text())
