"""The demo's adversarial backgrounds with the classifier gradient evaluated every iteration
(``adv_refresh=1``) and every second one (``adv_refresh=2``, the default), side by side with their
difference, and the guiding classifier's top-1 for each. Writes ``docs/assets/demo_adv_iterations.png``.

    python benchmarks/adv_refresh_picture.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch

    from generation.contact_sheet import contact_sheet
    from generation.cpu_background import CPUBackgroundEditor
    from generation.edits import plan_edit, prepare_source, run_edits
    from generation.guidance_classifier import load_guidance_classifier
    from generation.protocol import Protocol
    from generation.seeding import derive_seed
    from imagenet_e.demo.run import DEMO_ADV_ITERATIONS, stage_embedded_inputs
    from imagenet_e_dataset.labels import class_names

    names = class_names()
    classifier = load_guidance_classifier("efficientnet-lite0")
    editors = {r: CPUBackgroundEditor(classifier=classifier, adv_iterations=DEMO_ADV_ITERATIONS, adv_refresh=r)
               for r in (1, 2)}
    options = Protocol.resolve("official")

    def top1(image: np.ndarray) -> str:
        with torch.inference_mode():
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            return names[int(classifier(x).argmax())]

    items = []
    with tempfile.TemporaryDirectory() as tmp:
        images, masks, labels = stage_embedded_inputs(Path(tmp))
        for line in labels.read_text().split("\n"):
            if not line.strip():
                continue
            file, label = line.split("\t")
            sid = Path(file).stem
            photo = np.asarray(Image.open(images / file).convert("RGB"))
            mask = np.asarray(Image.open(masks / f"{sid}.png").convert("L")) > 127
            source = prepare_source(photo, mask, options=options, source_id=sid)
            seed = derive_seed(404, sid, "background_20_adv")
            outs = {r: run_edits([plan_edit(source, None, "background_20_adv", seed=seed, label=int(label),
                                            options=options)], e)[0].image for r, e in editors.items()}
            diff = np.abs(outs[1].astype(int) - outs[2].astype(int))
            items.append((f"{sid}: adv_refresh=1 -> {top1(outs[1])}", outs[1]))
            items.append((f"adv_refresh=2 -> {top1(outs[2])}", outs[2]))
            items.append((f"|difference| x4 (mean {diff.mean():.1f})", np.clip(diff * 4, 0, 255).astype(np.uint8)))
    out = contact_sheet(items, ROOT / "docs" / "assets" / "demo_adv_iterations.png", columns=3, tile=256)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
