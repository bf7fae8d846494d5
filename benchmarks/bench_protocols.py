"""``imagenet-e generate`` on the demo photos under the ``official`` and the ``corrected`` protocol.

The official protocol sends five more subsets through the background editor (size 0.1 / 0.08 / 0.05,
position, direction, with λ = 0) and ``background_random`` too, so it costs more; this script says
how much. It stages the three embedded demo photos (as ``imagenet-e demo`` does), then runs the
batch generator in this process for each protocol, interleaved through :mod:`benchmarks.harness`
(medians, CPU beside wall; the ratio is official / corrected). The guiding classifier and the
inpainter are loaded by the warm-up round, which is not counted.

    python -m benchmarks protocols [--quick]    # cpu backend, its default iterations (quick: 1 photo, 128 px, 2 iterations)
    python -m benchmarks.bench_protocols --diffusion --steps 10   # also a tiny random UNet (64 px)
"""

from __future__ import annotations

import argparse
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


def run_once(inputs: tuple[Path, Path, Path], out: Path, protocol: str, backend: str, backend_options: dict,
             limit: int | None = None, edit_options: dict | None = None) -> None:
    from generation.pipeline import GenerateSettings, Inputs, Placement, generate
    from imagenet_e_dataset.registry import ALL, resolve_many

    settings = GenerateSettings(
        subsets=tuple(s.name for s in resolve_many(ALL) if s.is_edited), protocol=protocol, backend=backend,
        backend_options=tuple(sorted(backend_options.items())), chunk_size=4, batch_size=4, limit=limit,
        edit_options=tuple(sorted((edit_options or {}).items())),
    )
    generate(Inputs(*inputs), settings, out, Placement(progress=False), overwrite=True)


def bench(title: str, inputs, root: Path, backend: str, backend_options: dict, n: int, repeats: int,
          edit_options: dict | None = None):
    """Corrected (baseline) vs official, interleaved; the first round (classifier, inpainter loads) unrecorded."""
    from .harness import Case, compare

    runs = iter(range(10_000))

    def case(protocol: str):
        return lambda: run_once(inputs, root / f"{protocol}-{next(runs)}", protocol, backend, backend_options, n,
                                edit_options)

    return compare(title, [Case("corrected", case("corrected"), n), Case("official", case("official"), n)],
                   repeats=repeats, unit="source images")


def run(quick: bool = False, iterations: int | None = None, diffusion: bool = False, unet_size: int = 64,
        steps: int = 10) -> list:
    """``python -m benchmarks protocols``: the cpu backend; ``--quick``: one photo at 128 px, 2 iterations."""
    from imagenet_e.demo.run import EMBEDDED_PHOTOS, stage_embedded_inputs

    from .harness import rounds, scratch

    iterations = 2 if quick and iterations is None else iterations
    comps = []
    with scratch("bench-protocols-") as root:
        inputs = stage_embedded_inputs(root / "inputs", None)
        n = 1 if quick else len(EMBEDDED_PHOTOS)
        edit_options = {"resolution": 128} if quick else None
        cpu_options = {} if iterations is None else {"iterations": iterations}
        repeats = rounds(quick) - 1 if quick else rounds(quick)
        size = f", {edit_options['resolution']}px" if edit_options else ""
        comps.append(bench(f"Protocols, cpu backend (iterations {iterations or 'default'}{size}), {n} demo photo(s), "
                           "every edited subset", inputs, root / "cpu", "cpu", cpu_options, n, repeats, edit_options))
        if diffusion:
            unet = tiny_unet(root / "unet", unet_size)
            options = {"unet": str(unet), "steps": steps, "adv_scale": 100.0}
            comps.append(bench(f"Protocols, diffusion backend (tiny UNet {unet_size}px, {steps} steps), {n} demo photos",
                               inputs, root / "diff", "diffusion", options, n, repeats))
    return comps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--iterations", type=int, help="cpu backend iterations (default: the backend's)")
    parser.add_argument("--diffusion", action="store_true", help="also time the diffusion backend with a tiny UNet")
    parser.add_argument("--unet-size", type=int, default=64, help="sample_size of the tiny UNet (its working resolution)")
    parser.add_argument("--steps", type=int, default=10, help="diffusion steps")
    args = parser.parse_args()
    from .harness import write_results

    comps = run(args.quick, args.iterations, args.diffusion, args.unet_size, args.steps)
    print(write_results("protocols", comps)[1].read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
