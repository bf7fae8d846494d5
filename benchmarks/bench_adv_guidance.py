"""Cost of the adversarial guidance on the cpu backend: a demo photo's ``background_20`` against
``background_20_adv`` (the demo's settings: 60 iterations, 20 for the adversarial subset), and the
classifier's share of it (cProfile).

Interleaved repetitions, medians of CPU seconds (process time) per request, with the load average.
Under load, OpenMP threads spinning while they wait count as CPU time: compare rows of one run only.

    python benchmarks/bench_adv_guidance.py [--repeats 3] [--batch 2]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from skimage import data

    from generation.cpu_background import CPUBackgroundEditor
    from generation.edits import plan_edit, prepare_source, run_edits
    from generation.guidance_classifier import load_guidance_classifier
    from generation.protocol import Protocol
    from imagenet_e.demo.run import DEMO_ADV_ITERATIONS
    from importlib import resources

    import numpy as np
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2, help="requests per edit call (images of one chunk)")
    args = ap.parse_args(argv)

    mask_file = resources.files("imagenet_e.demo").joinpath("assets/chelsea_mask.png")
    mask = np.asarray(Image.open(mask_file).convert("L")) > 127
    options = Protocol.resolve("official", {"inpainter": "opencv"})
    source = prepare_source(data.chelsea(), mask, options=options)
    editor = CPUBackgroundEditor(classifier=load_guidance_classifier("efficientnet-lite0"),
                                 adv_iterations=DEMO_ADV_ITERATIONS)
    plans = {subset: [plan_edit(source, None, subset, seed=s, label=281, options=options) for s in range(args.batch)]
             for subset in ("background_20", "background_20_adv")}
    run_edits(plans["background_20_adv"][:1], editor)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in plans}
    for _ in range(args.repeats):
        for subset, batch in plans.items():  # interleaved
            t0 = time.process_time()
            run_edits(batch, editor)
            times[subset].append((time.process_time() - t0) / len(batch))
    profile = cProfile.Profile()
    profile.enable()
    run_edits(plans["background_20_adv"], editor)
    profile.disable()
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = stats.total_tt
    forward = sum(v[3] for k, v in stats.stats.items() if k[2] == "forward" and "guidance_classifier" in k[0])
    backward = sum(v[3] for k, v in stats.stats.items() if "run_backward" in k[2])  # a built-in: "<method ...>"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.repeats} interleaved repeats, "
          f"batch {args.batch}, chelsea at 256x256")
    print("| subset | CPU s / request (median, min-max) |")
    print("|---|---|")
    for subset, values in times.items():
        print(f"| {subset} | {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f}) |")
    print(f"classifier forward {forward / total:.0%} and backward {backward / total:.0%} of the adversarial edit's profile")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
