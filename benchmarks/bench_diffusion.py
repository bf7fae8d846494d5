"""Throughput of the blended-diffusion background editor: batched versus one image at a time.

The baseline is the official loop's shape — one image per UNet call — measured in the same process
with the same editor, so the printed ratio isolates what batching buys. Weights are random (no
checkpoint can be downloaded here), which does not change the cost of a step.

    python benchmarks/bench_diffusion.py                       # CPU, ADM-shaped small UNet at 64 px, < ~60 s
    python benchmarks/bench_diffusion.py --preset adm256 --steps 1 --batch-sizes 1,2 --warmup 0
                                                               # the real ADM-256 architecture on CPU (minutes)
    python benchmarks/bench_diffusion.py --preset adm256 --device cuda --dtype bf16 --steps 10 --batch-sizes 1,8,32
                                                               # the official settings on a GPU
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation.adm_convert import ADMFlags, diffusers_layout  # noqa: E402
from generation.diffusion_editor import DiffusionBackgroundEditor  # noqa: E402
from generation.interfaces import BackgroundEditRequest  # noqa: E402

PRESETS: dict[str, ADMFlags] = {
    # The paper's model: 256×256 unconditional ADM, 552 M parameters.
    "adm256": ADMFlags(),
    # Same block structure (scale-shift, resnet up/down, legacy attention at 3 levels), CPU-sized.
    "small": replace(ADMFlags(), image_size=64, num_channels=32, channel_mult=(1, 2, 2), attention_resolutions=(32, 16), num_head_channels=32),
}


def make_requests(n: int, size: int, seed0: int = 404) -> list[BackgroundEditRequest]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), bool)
    mask[size // 4 : 3 * size // 4, size // 3 : 2 * size // 3] = True
    return [
        BackgroundEditRequest(image=image, object_mask=mask, background=image, lam=20.0, seed=seed0 + i) for i in range(n)
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    ap.add_argument("--steps", type=int, default=2, help="respaced steps actually run (official: 10 of 100)")
    ap.add_argument("--batch-sizes", default="1,8", help="comma-separated; the first is the baseline")
    ap.add_argument("--with-32", action="store_true", help="also time batch 32")
    ap.add_argument("--images", type=int, default=0, help="images per measurement (default: the largest batch)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed single-image edits before each measurement")
    args = ap.parse_args(argv)

    from diffusers import UNet2DModel

    flags = PRESETS[args.preset]
    torch.manual_seed(0)
    t0 = time.perf_counter()
    unet = UNet2DModel(**diffusers_layout(flags).config)
    n_params = sum(p.numel() for p in unet.parameters()) / 1e6
    print(f"preset {args.preset}: {flags.image_size}px UNet2DModel, {n_params:.1f} M params (built in {time.perf_counter() - t0:.1f}s)")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")] + ([32] if args.with_32 else [])
    n_images = args.images or max(batch_sizes)
    requests = make_requests(n_images, flags.image_size)

    results: list[tuple[int, float]] = []
    for bs in batch_sizes:
        editor = DiffusionBackgroundEditor(
            unet, steps=args.steps, device=args.device, dtype=args.dtype, batch_size=bs, progress=False
        )
        for _ in range(args.warmup):  # allocator, kernels, autotuning
            editor.edit(requests[:1])
        if editor.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        editor.edit(requests)
        if editor.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        results.append((bs, n_images / seconds))
        print(f"  batch {bs:>3}: {n_images} images × {args.steps} steps in {seconds:7.2f}s = {n_images / seconds:8.3f} images/s "
              f"[{editor.device.type}, {str(editor.dtype).removeprefix('torch.')}]", flush=True)
    base = results[0][1]
    for bs, ips in results[1:]:
        print(f"batch {bs} vs batch {results[0][0]}: {ips / base:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
