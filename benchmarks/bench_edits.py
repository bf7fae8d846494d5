"""CPU throughput of the editing toolkit, per subset, at the official 256x256 resolution.

    python benchmarks/bench_edits.py            # ~1 min on 2 busy cores
    python benchmarks/bench_edits.py --repeats 5 --batch 16

Prints, for every subset, seconds and images/s per image, with the CPU background editor at its
default iterations. Baselines measured in the same process:

- the shared object removal (``prepare_source``: resize + PatchMatch inpainting), done once per photo
  and reused by every subset; each subset's cost is shown as a ratio to it;
- batching: the background editor on ``--batch`` requests in one call vs the same requests one by one.

The photo is ``skimage.data.chelsea()`` with the committed test mask; ``background_20_adv`` uses the
EfficientNet-Lite0 guiding classifier.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="best of N timings per subset")
    parser.add_argument("--batch", type=int, default=4, help="requests in the batching comparison")
    parser.add_argument("--iterations", type=int, default=None, help="CPU editor iterations (default: its default)")
    args = parser.parse_args()

    import skimage.data
    import torch

    from generation.cpu_background import CPUBackgroundEditor
    from generation.edits import EditOptions, plan_edit, prepare_source, run_edits
    from generation.guidance_classifier import load_guidance_classifier
    from generation.seeding import derive_seed
    from imagenet_e_dataset.registry import CONFIG_NAMES

    torch.set_num_threads(max(1, torch.get_num_threads()))
    photo = skimage.data.chelsea()
    mask = np.asarray(Image.open(ROOT / "tests" / "data" / "edit_chelsea_mask.png")) > 127
    other_photo = skimage.data.coffee()
    options = EditOptions()
    kwargs = {} if args.iterations is None else {"iterations": args.iterations}
    editor = CPUBackgroundEditor(classifier=load_guidance_classifier("efficientnet-lite0"), **kwargs)

    t_prepare = _timed(lambda: prepare_source(photo, mask, options=options), args.repeats)
    source = prepare_source(photo, mask, options=options, source_id="chelsea")
    other = prepare_source(other_photo, np.pad(np.ones((100, 100), bool), ((150, 150), (250, 250))), options=options)

    def one(name: str):
        plan = plan_edit(source, None, name, seed=derive_seed(404, "chelsea", name), other_background=other,
                         label=285, options=options)
        return run_edits([plan], editor)[0]

    rows = []
    for name in CONFIG_NAMES:
        seconds = _timed(lambda: one(name), args.repeats)
        rows.append((name, seconds))

    print(f"CPU editing throughput at {options.resolution}x{options.resolution}, cpu editor "
          f"iterations={editor.iterations}, torch threads={torch.get_num_threads()}")
    print(f"baseline: prepare_source (resize + PatchMatch removal, once per photo) = {t_prepare:.3f} s")
    print(f"{'subset':20s} {'s/img':>8s} {'img/s':>8s} {'x prepare':>10s}")
    for name, seconds in rows:
        print(f"{name:20s} {seconds:8.3f} {1 / seconds:8.2f} {seconds / t_prepare:10.2f}")
    per_photo = t_prepare + sum(s for _, s in rows)
    print(f"{'all 12 (one photo)':20s} {per_photo:8.3f} {len(rows) / per_photo:8.2f}  (incl. one prepare_source)")

    plans = [plan_edit(source, None, "background_20", seed=s, options=options) for s in range(args.batch)]
    t_batch = _timed(lambda: run_edits(plans, editor), args.repeats)
    t_single = _timed(lambda: [run_edits([p], editor) for p in plans], args.repeats)
    print(f"batching: {args.batch} background_20 requests in one edit() call {t_batch:.2f} s vs one by one "
          f"{t_single:.2f} s -> {t_single / t_batch:.2f}x")


if __name__ == "__main__":
    main()
