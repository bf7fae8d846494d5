"""Removal benchmark: a real object pasted onto a clean photo, removed again, compared with the clean photo.

The cases are those of ``bench_inpaint.py`` (the demo photos' cat, cup and Grace Hopper, cut out with
their committed masks, on scikit-image photos at 256x256), pasted in two compositing modes:

- ``soft``: the way a photographed object sits in its scene (anti-aliased rim outside the binary mask,
  soft cast shadow); the inpainter gets the binary mask eroded by one pixel, as real masks stop short;
- ``hard``: the object pasted under its binary mask (the authors' paste), the mask given exactly.

Scores against the clean photo, for every inpainter and hole growth:

- ``PSNR`` (dB) and ``SSIM`` over the bounding box of the pixels the object changed, grown by 8 px
  (skimage's ``structural_similarity``, RGB, data range 255);
- ``halo``: mean absolute error (0..255) in a band 4 px either side of the outline of the changed
  region: the outline, fringe or smear that a removal leaves where the object's edge was.

    python benchmarks/bench_removal.py [--quick] [--crops docs/assets/removal_bench_crops.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inpaint import SIZE, _backgrounds, _objects, make_case  # noqa: E402

CONFIGS = (("patchmatch", "fixed", "none"), ("patchmatch", "adaptive", "push_pull"), ("opencv", "fixed", "none"),
           ("opencv", "adaptive", "push_pull"), ("patchmatch", "tight", "none"), ("layered", "tight", "telea"))
DEFAULTS = (("patchmatch", "adaptive", "push_pull"), ("layered", "tight", "telea"))
"""The official protocol's removal (``EditOptions.inpainter``'s default) and the corrected protocol's."""
CROP_CONFIGS = (("patchmatch", "adaptive", "push_pull"), ("opencv", "fixed", "none"), ("layered", "tight", "telea"))
"""The columns of ``--crops`` after the pasted scene and the clean photo: before, the smooth fill, after."""
CROP_CASES = (("soft", "cup@rocket/0.12"), ("soft", "cup@stereo_motorcycle/0.12"), ("soft", "hopper@astronaut/0.12"),
              ("soft", "cat@brick/0.12"), ("hard", "hopper@rocket/0.12"))
"""The rows of ``--crops``: one object on each background, then a hard paste."""
BAND = 4
MARGIN = 8


def hard_case(background: np.ndarray, obj: np.ndarray, obj_mask: np.ndarray, share: float, where: tuple[float, float]):
    """The object pasted under its binary mask (no rim, no shadow); the given mask is that mask."""
    h, w = obj_mask.shape
    scale = np.sqrt(share * SIZE * SIZE / obj_mask.sum())
    nw, nh = min(max(8, int(w * scale)), SIZE - 8), min(max(8, int(h * scale)), SIZE - 8)
    o = np.asarray(Image.fromarray(obj).resize((nw, nh), Image.BICUBIC))
    m = np.asarray(Image.fromarray(obj_mask.astype(np.uint8) * 255).resize((nw, nh), Image.NEAREST)) > 127
    x0, y0 = int(where[0] * (SIZE - nw)), int(where[1] * (SIZE - nh))
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y0:y0 + nh, x0:x0 + nw] = m
    layer = background.copy()
    layer[y0:y0 + nh, x0:x0 + nw] = o
    scene = np.where(mask[..., None], layer, background)
    return scene, mask, mask.copy()


def score(fill: np.ndarray, truth: np.ndarray, region: np.ndarray) -> tuple[float, float, float]:
    """(PSNR dB, SSIM, halo MAE) of ``fill`` against ``truth`` around the changed ``region``."""
    import cv2
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ys, xs = np.nonzero(region)
    y0, y1 = max(0, ys.min() - MARGIN), min(SIZE, ys.max() + 1 + MARGIN)
    x0, x1 = max(0, xs.min() - MARGIN), min(SIZE, xs.max() + 1 + MARGIN)
    f, t = fill[y0:y1, x0:x1], truth[y0:y1, x0:x1]
    psnr = float(peak_signal_noise_ratio(t, f, data_range=255)) if not np.array_equal(f, t) else 99.0
    ssim = float(structural_similarity(t, f, channel_axis=2, data_range=255))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
    r = region.astype(np.uint8)
    band = (cv2.dilate(r, kernel) > 0) & ~(cv2.erode(r, kernel) > 0)
    halo = float(np.abs(fill.astype(np.float32) - truth.astype(np.float32))[band].mean())
    return psnr, ssim, halo


def _label(config: tuple[str, str, str]) -> str:
    name, growth, structure = config
    return f"{name} / {growth}{'' if structure == 'none' else f' + {structure} structure'}"


def main(argv: list[str] | None = None) -> int:
    from generation.inpaint import make_inpainter

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 backgrounds x 3 objects x 1 placement")
    ap.add_argument("--crops", type=Path, help="write before/after crops of the first cases to this PNG")
    args = ap.parse_args(argv)

    objects, backgrounds = _objects(), _backgrounds()
    placements = [(0.12, (0.5, 0.9)), (0.25, (0.2, 0.4))]
    backgrounds, placements = (backgrounds[:2], placements[:1]) if args.quick else (backgrounds[:4], placements)
    builders = {"soft": make_case, "hard": hard_case}
    cases = [(paste, f"{o[0]}@{b[0]}/{share}", builders[paste](b[1], o[1], o[2], share, where), b[1])
             for paste in builders for b in backgrounds for o in objects for share, where in placements]
    print(f"{len(cases)} cases ({len(objects)} objects x {len(backgrounds)} backgrounds x {len(placements)} placements "
          f"x {len(builders)} pastes), {SIZE}x{SIZE}")
    fills: dict[tuple[str, str], list[np.ndarray]] = {}
    rows = []
    for config in CONFIGS:
        name, growth, structure = config
        painter = make_inpainter(name, growth=growth, structure=structure)
        for paste in builders:
            scores, t0, outs = [], time.process_time(), []
            for kind, _, (scene, given, region), truth in cases:
                if kind != paste:
                    continue
                out = painter.inpaint(scene, given)
                outs.append(out)
                scores.append(score(out, truth, region))
            seconds = (time.process_time() - t0) / len(outs)
            fills[(_label(config), paste)] = outs
            psnr, ssim, halo = (float(np.mean(col)) for col in zip(*scores))
            rows.append((_label(config), paste, psnr, ssim, halo, seconds))
    print("| inpainter / hole | paste | PSNR dB ↑ | SSIM ↑ | halo MAE ↓ | CPU s/image |")
    print("|---|---|---|---|---|---|")
    for label, paste, psnr, ssim, halo, seconds in rows:
        mark = "**" if label in {_label(c) for c in DEFAULTS} else ""
        print(f"| {mark}{label}{mark} | {paste} | {psnr:.2f} | {ssim:.3f} | {halo:.1f} | {seconds:.2f} |")
    if args.crops:
        _write_crops(args.crops, cases, fills)
    return 0


def _write_crops(path: Path, cases, fills) -> None:
    """One row per shown case: pasted scene, truth, then each inpainter's fill, cropped around the object."""
    shown = [next(i for i, c in enumerate(cases) if c[:2] == want) for want in CROP_CASES if any(c[:2] == want for c in cases)]
    labels = [_label(c) for c in CROP_CONFIGS]
    rows = []
    for i in shown:
        kind, _, (scene, _, region), truth = cases[i]
        k = [j for j, c in enumerate(cases) if c[0] == kind].index(i)
        ys, xs = np.nonzero(region)
        cy, cx = int(ys.mean()), int(xs.mean())
        half = 56
        y0, x0 = min(max(0, cy - half), SIZE - 2 * half), min(max(0, cx - half), SIZE - 2 * half)
        tiles = [scene, truth] + [fills[(label, kind)][k] for label in labels]
        crops = [np.asarray(Image.fromarray(t[y0:y0 + 2 * half, x0:x0 + 2 * half]).resize((224, 224), Image.NEAREST))
                 for t in tiles]
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in crops], 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(np.concatenate(rows, 0)).save(tmp)
    tmp.replace(path)
    print(f"crops: {path} (columns: pasted, clean truth, {', '.join(labels)})")


if __name__ == "__main__":
    raise SystemExit(main())
