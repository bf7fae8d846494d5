"""CPU throughput of the editing toolkit, per subset, at the official 256x256 resolution.

    python -m benchmarks edits [--quick]        # the editor's default iterations (2 under --quick)
    python -m benchmarks.bench_edits --iterations 60 --batch 16

Compares, through :mod:`benchmarks.harness` (interleaved rounds, medians), every subset's edit of one
photo. Baselines measured in the same process:

- the shared object removal (``prepare_source``: resize + PatchMatch inpainting), done once per photo
  and reused by every subset; each subset's cost is shown as a ratio to it;
- batching: the background editor on ``--batch`` requests in one call vs the same requests one by one.

The photo is ``skimage.data.chelsea()`` with the committed test mask; ``background_20_adv`` uses the
EfficientNet-Lite0 guiding classifier.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool = False, iterations: int | None = None, batch: int = 4) -> list:
    """``python -m benchmarks edits``: every subset on one photo vs the shared removal; batching (2 iterations quick)."""
    import skimage.data
    import torch

    from generation.cpu_background import CPUBackgroundEditor
    from generation.edits import EditOptions, plan_edit, prepare_source, run_edits
    from generation.guidance_classifier import load_guidance_classifier
    from generation.seeding import derive_seed
    from imagenet_e_dataset.registry import CONFIG_NAMES

    from .harness import Case, compare, rounds

    iterations = 2 if quick and iterations is None else iterations
    photo = skimage.data.chelsea()
    mask = np.asarray(Image.open(ROOT / "tests" / "data" / "edit_chelsea_mask.png")) > 127
    options = EditOptions()
    kwargs = {} if iterations is None else {"iterations": iterations}
    editor = CPUBackgroundEditor(classifier=load_guidance_classifier("efficientnet-lite0"), **kwargs)
    source = prepare_source(photo, mask, options=options, source_id="chelsea")
    other = prepare_source(skimage.data.coffee(), np.pad(np.ones((100, 100), bool), ((150, 150), (250, 250))),
                           options=options)

    def one(name: str):
        plan = plan_edit(source, None, name, seed=derive_seed(404, "chelsea", name), other_background=other,
                         label=285, options=options)
        return lambda: run_edits([plan], editor)

    setting = (f"{options.resolution}x{options.resolution}, cpu editor iterations={editor.iterations}, "
               f"torch threads={torch.get_num_threads()}")
    subsets = compare(f"Edits per subset, one photo: {setting}",
                      [Case("prepare_source (resize + PatchMatch removal, once per photo)",
                            lambda: prepare_source(photo, mask, options=options), 1)]
                      + [Case(name, one(name), 1) for name in CONFIG_NAMES],
                      repeats=rounds(quick), unit="images",
                      notes=["each subset's time is its own edit; prepare_source is paid once per photo and shared"])
    plans = [plan_edit(source, None, "background_20", seed=s, options=options) for s in range(batch)]
    batching = compare(f"Batching: {batch} background_20 requests, {setting}",
                       [Case("one by one", lambda: [run_edits([p], editor) for p in plans], batch),
                        Case("one edit() call", lambda: run_edits(plans, editor), batch)],
                       repeats=rounds(quick), unit="images")
    return [subsets, batching]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=4, help="requests in the batching comparison")
    parser.add_argument("--iterations", type=int, default=None, help="CPU editor iterations (default: its default)")
    args = parser.parse_args()
    from .harness import write_results

    print(write_results("edits", run(args.quick, args.iterations, args.batch))[1].read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
