"""Cost of the adversarial guidance on the cpu backend: a demo photo's ``background_20`` against
``background_20_adv`` (the demo's settings: 60 iterations, 20 for the adversarial subset), and the
classifier's share of it (cProfile), for the editor evaluating the classifier gradient every
iteration (``adv_refresh=1``, the earlier behaviour) and every second one (``adv_refresh=2``, the default).

Interleaved repetitions, medians of CPU seconds (process time) and wall seconds per request, with the
load average. Under load, OpenMP threads spinning while they wait count as CPU time: compare rows of
one run only.

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
    classifier = load_guidance_classifier("efficientnet-lite0")
    editors = {refresh: CPUBackgroundEditor(classifier=classifier, adv_iterations=DEMO_ADV_ITERATIONS, adv_refresh=refresh)
               for refresh in (1, 2)}
    plans = {subset: [plan_edit(source, None, subset, seed=s, label=281, options=options) for s in range(args.batch)]
             for subset in ("background_20", "background_20_adv")}
    run_edits(plans["background_20_adv"][:1], editors[1])  # warm-up
    rows = [(subset, refresh) for subset in plans for refresh in (editors if subset.endswith("_adv") else (2,))]
    times: dict[tuple[str, int], list[tuple[float, float]]] = {row: [] for row in rows}
    loads = []
    for _ in range(args.repeats):
        for subset, refresh in rows:  # interleaved
            t0, w0 = time.process_time(), time.perf_counter()
            run_edits(plans[subset], editors[refresh])
            times[(subset, refresh)].append(((time.process_time() - t0) / args.batch, (time.perf_counter() - w0) / args.batch))
            loads.append(os.getloadavg()[0])
    shares, probs = {}, {}
    for refresh, editor in editors.items():
        profile = cProfile.Profile()
        profile.enable()
        results = run_edits(plans["background_20_adv"], editor)
        profile.disable()
        probs[refresh] = statistics.mean(_true_probability(classifier, r.image, 281) for r in results)
        stats = pstats.Stats(profile, stream=io.StringIO())
        total = stats.total_tt
        forward = sum(v[3] for k, v in stats.stats.items() if k[2] == "forward" and "guidance_classifier" in k[0])
        backward = sum(v[3] for k, v in stats.stats.items() if "run_backward" in k[2])  # a built-in: "<method ...>"
        shares[refresh] = (forward / total, backward / total)
    print(f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores; {args.repeats} interleaved repeats, "
          f"batch {args.batch}, chelsea at 256x256, {DEMO_ADV_ITERATIONS} adversarial iterations")
    print("| subset | adv_refresh | CPU s / request (median, min-max) | wall s / request (median) | classifier fwd / bwd share |")
    print("|---|---|---|---|---|")
    for subset, refresh in rows:
        cpu, wall = zip(*times[(subset, refresh)])
        share = f"{shares[refresh][0]:.0%} / {shares[refresh][1]:.0%}" if subset.endswith("_adv") else ""
        print(f"| {subset} | {refresh} | {statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) | "
              f"{statistics.median(wall):.2f} | {share} |")
    adv = {r: statistics.median(c for c, _ in times[("background_20_adv", r)]) for r in editors}
    print(f"background_20_adv CPU time, adv_refresh=2 / adv_refresh=1: {adv[2] / adv[1]:.2f}")
    plain = statistics.mean(_true_probability(classifier, r.image, 281) for r in run_edits(plans["background_20"], editors[2]))
    print(f"guiding classifier's p(tabby): background_20 {plain:.3f}, background_20_adv with adv_refresh=1 "
          f"{probs[1]:.3f}, with adv_refresh=2 {probs[2]:.3f}")
    return 0


def _true_probability(classifier, image, label: int) -> float:
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        return float(torch.softmax(classifier(x), -1)[0, label])


if __name__ == "__main__":
    raise SystemExit(main())
