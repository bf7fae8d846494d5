"""Blended-diffusion background editor throughput: batched vs one image per UNet call (the official loop's shape).

Weights are random (no checkpoint can be downloaded here); the cost of a step does not depend on
their values. Both cases run the same editor on the same requests through :mod:`benchmarks.harness`
(warm-up, interleaved rounds, medians, CPU beside wall). Reported beside the table: images/s per
case, peak GPU memory per case on CUDA, and the projected hours for every diffusion edit of the
benchmark (4,352 sources x 9 subsets through the editor, at the measured steps) on one device.

    python -m benchmarks diffusion [--quick]          # CPU, ADM-shaped small UNet at 64 px
    python benchmarks/bench_diffusion.py --preset adm256 --device cuda --dtype fp16 --steps 10 --batch-sizes 1,8
                                                      # the paper's architecture (552 M params) on a GPU
    python benchmarks/bench_diffusion.py --preset adm256 --steps 1 --batch-sizes 1,2 --rounds 1
                                                      # the same architecture on CPU (minutes)

Batch 32 at 256 px needs ~138 GiB of saved activations (~4.2 GiB per image); 8 fits an 80 GB card.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation.adm_convert import ADMFlags, diffusers_layout  # noqa: E402
from generation.diffusion_editor import DiffusionBackgroundEditor  # noqa: E402
from generation.interfaces import BackgroundEditRequest  # noqa: E402
from imagenet_e_dataset.vocab import DEVICE_FORMS, device_argument, dtype_argument  # noqa: E402

PRESETS: dict[str, ADMFlags] = {
    # The paper's model: 256×256 unconditional ADM, 552 M parameters.
    "adm256": ADMFlags(),
    # Same block structure (scale-shift, resnet up/down, legacy attention at 3 levels), CPU-sized.
    "small": replace(ADMFlags(), image_size=64, num_channels=32, channel_mult=(1, 2, 2), attention_resolutions=(32, 16), num_head_channels=32),
    # The smallest of that structure: for --quick on 2 cores.
    "tiny": replace(ADMFlags(), image_size=32, num_channels=32, channel_mult=(1, 2), attention_resolutions=(16,),
                    num_head_channels=32, num_res_blocks=1),
}
BENCHMARK_EDITS = 4352 * 9
"""Diffusion edits of the full benchmark: 4,352 sources through the 9 subsets the editor makes."""


def make_requests(n: int, size: int, seed0: int = 404) -> list[BackgroundEditRequest]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), bool)
    mask[size // 4 : 3 * size // 4, size // 3 : 2 * size // 3] = True
    return [
        BackgroundEditRequest(image=image, object_mask=mask, background=image, lam=20.0, seed=seed0 + i) for i in range(n)
    ]


def measure(preset: str, device: str, dtype: str, steps: int, batch_sizes: list[int], images: int, repeats: int,
            warmup: int) -> list:
    from diffusers import UNet2DModel

    from benchmarks.harness import Case, compare

    flags = PRESETS[preset]
    torch.manual_seed(0)
    unet = UNet2DModel(**diffusers_layout(flags).config)
    n_params = sum(p.numel() for p in unet.parameters()) / 1e6
    requests = make_requests(images, flags.image_size)
    editors = {bs: DiffusionBackgroundEditor(unet, steps=steps, device=device, dtype=dtype, batch_size=bs, progress=False)
               for bs in batch_sizes}
    first = editors[batch_sizes[0]]
    cuda = first.device.type == "cuda"
    peaks: dict[int, int] = {}

    def case(bs: int):
        def run() -> None:
            if cuda:
                torch.cuda.reset_peak_memory_stats(first.device)
            editors[bs].edit(requests)
            if cuda:
                torch.cuda.synchronize(first.device)
                peaks[bs] = max(peaks.get(bs, 0), torch.cuda.max_memory_allocated(first.device))
        return run

    comp = compare(
        f"Diffusion editor: {preset} ({flags.image_size}px, {n_params:.1f} M params), {images} images x {steps} steps, "
        f"{first.device.type} {str(first.dtype).removeprefix('torch.')}",
        [Case(f"batch {bs}", case(bs), images) for bs in batch_sizes], repeats=repeats, warmup=warmup, unit="images")
    for bs in batch_sizes:
        rate = comp.summary(f"batch {bs}").throughput_per_s or float("nan")
        memory = f", peak GPU memory {peaks[bs] / 2**30:.2f} GiB" if bs in peaks else ""
        comp.notes.append(f"batch {bs}: {rate:.3f} images/s{memory}; all {BENCHMARK_EDITS:,} diffusion edits at "
                          f"{steps} steps on one such device: {BENCHMARK_EDITS / rate / 3600:.1f} h")
    comp.settings.update({"preset": preset, "device": str(first.device), "dtype": str(first.dtype), "steps": steps,
                          "parameters_millions": round(n_params, 1), "peak_gpu_bytes": peaks})
    return [comp]


def run(quick: bool = False) -> list:
    """``python -m benchmarks diffusion``: CPU, a small ADM-shaped UNet, batch 1 vs 4."""
    from benchmarks.harness import rounds

    return measure("tiny" if quick else "small", "cpu", "fp32", 2, [1, 4], 4, rounds(quick), 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--device", type=device_argument, default="cpu", help=f"one of {DEVICE_FORMS} (default cpu)")
    ap.add_argument("--dtype", type=dtype_argument, default="auto", help="auto (default), fp32, bf16 or fp16")
    ap.add_argument("--steps", type=int, default=2, help="respaced steps actually run (official: 10 of 100)")
    ap.add_argument("--batch-sizes", default="1,8", help="comma-separated; the first is the baseline")
    ap.add_argument("--images", type=int, default=0, help="images per measurement (default: the largest batch)")
    ap.add_argument("--rounds", type=int, default=3, help="timed interleaved rounds")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (allocator, kernels, autotuning)")
    ap.add_argument("--name", default="diffusion", help="results file name under benchmarks/results/")
    args = ap.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if min(batch_sizes) < 1 or args.steps < 1 or args.rounds < 1:
        ap.error("batch sizes, --steps and --rounds must be >= 1")
    from benchmarks.harness import write_results

    comps = measure(args.preset, args.device, args.dtype, args.steps, batch_sizes, args.images or max(batch_sizes),
                    args.rounds, args.warmup)
    print(write_results(args.name, comps)[1].read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
