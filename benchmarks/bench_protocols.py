"""``imagenet-e generate`` on the demo photos under the ``official`` and the ``corrected`` protocol.

The official protocol sends five more subsets through the background editor (size 0.1 / 0.08 / 0.05,
position, direction, with λ = 0) and ``background_random`` too, so it costs more; this script says
how much. It stages the three embedded demo photos (as ``imagenet-e demo`` does), then runs the
batch generator in this process for each protocol, alternating, ``--repeats`` times, and prints the
best wall time of each and the ratio official / corrected. The guiding classifier and the inpainter
are loaded by the first (warm-up) run, which is not counted.

    python benchmarks/bench_protocols.py                       # cpu backend, 60 iterations (default)
    python benchmarks/bench_protocols.py --diffusion --steps 10 # also a tiny random UNet (64 px)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def tiny_unet(folder: Path, size: int) -> Path:
    import torch
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    UNet2DModel(  # ADM-shaped (scale-shift norm, resnet resampling, attention, learned sigma), tiny
        sample_size=size, in_channels=3, out_channels=6, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "ResnetUpsampleBlock2D"),
        attention_head_dim=16, resnet_time_scale_shift="scale_shift", attn_norm_num_groups=32,
        downsample_type="resnet", upsample_type="resnet",
    ).save_pretrained(folder)
    return folder


def run_once(inputs: tuple[Path, Path, Path], out: Path, protocol: str, backend: str, backend_options: dict) -> float:
    from generation.pipeline import GenerateSettings, Inputs, Placement, generate
    from imagenet_e_dataset.registry import ALL, resolve_many

    settings = GenerateSettings(
        subsets=tuple(s.name for s in resolve_many(ALL) if s.is_edited), protocol=protocol, backend=backend,
        backend_options=tuple(sorted(backend_options.items())), chunk_size=4, batch_size=4,
    )
    start = time.perf_counter()
    generate(Inputs(*inputs), settings, out, Placement(progress=False), overwrite=True)
    return time.perf_counter() - start


def bench(inputs, root: Path, backend: str, backend_options: dict, repeats: int) -> dict[str, float]:
    run_once(inputs, root / "warmup", "official", backend, backend_options)
    best = {"official": float("inf"), "corrected": float("inf")}
    for r in range(repeats):
        for protocol in ("corrected", "official"):
            seconds = run_once(inputs, root / f"{protocol}-{r}", protocol, backend, backend_options)
            best[protocol] = min(best[protocol], seconds)
    return best


def report(name: str, best: dict[str, float], n_images: int) -> None:
    for protocol, seconds in best.items():
        print(f"{name:30s} {protocol:9s} {seconds:7.2f} s  ({n_images / seconds:.3f} source images/s)", flush=True)
    print(f"{name:30s} official / corrected = {best['official'] / best['corrected']:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--iterations", type=int, help="cpu backend iterations (default: the backend's)")
    parser.add_argument("--diffusion", action="store_true", help="also time the diffusion backend with a tiny UNet")
    parser.add_argument("--no-cpu", action="store_true", help="skip the cpu backend")
    parser.add_argument("--unet-size", type=int, default=64, help="sample_size of the tiny UNet (its working resolution)")
    parser.add_argument("--steps", type=int, default=10, help="diffusion steps")
    args = parser.parse_args()

    from imagenet_e.demo.run import EMBEDDED_PHOTOS, stage_embedded_inputs

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs = stage_embedded_inputs(root / "inputs", None)
        n = len(EMBEDDED_PHOTOS)
        cpu_options = {} if args.iterations is None else {"iterations": args.iterations}
        if not args.no_cpu:
            report("cpu backend", bench(inputs, root / "cpu", "cpu", cpu_options, args.repeats), n)
        if args.diffusion:
            unet = tiny_unet(root / "unet", args.unet_size)
            options = {"unet": str(unet), "steps": args.steps, "adv_scale": 100.0}
            report(f"diffusion, tiny UNet {args.unet_size}px", bench(inputs, root / "diff", "diffusion", options,
                                                                      args.repeats), n)


if __name__ == "__main__":
    main()
