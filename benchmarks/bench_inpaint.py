"""Ghosting benchmark: remove known objects pasted onto real backgrounds, compare the fill with the truth.

Objects (the demo photos' cat, cup and Grace Hopper, cut out with their committed masks) are pasted
onto real photos from scikit-image (rocket, motorcycle, astronaut, brick, grass, gravel) at 256x256,
the way a photographed object sits in its scene: a soft anti-aliased edge (a halo of mixed colours
outside the binary mask) and a soft cast shadow. The inpainter gets the object's binary mask
eroded by one pixel (automatic and hand masks alike stop short of the rim) and must return the
background. Because the background photo is known, the error of the fill is measured exactly, over
every pixel the object changed (object, halo and shadow):

- ``MAE``: mean absolute error against the true background (0..255);
- ``low-freq MAE``: the same after a Gaussian blur (sigma 4): the silhouette-shaped ghosts;
- ``ghost %``: share of the clearly changed pixels whose fill is within a third of the way from the
  object's colour to the true background's (the object's colours, halo or shadow left or copied back).

Rows: each inpainter in its earlier behaviour (``growth=fixed``: 3 px margin, the object pixels
visible to the backend) and the current one (``adaptive``: halo + proportional rim, background-only
fill, with and without the structure guide). ``--inpainter diffusers:<id or folder>`` adds a learned
inpainting pipeline. Ratios are against patchmatch/fixed, measured in the same process.

    python benchmarks/bench_inpaint.py [--quick] [--inpainter diffusers:DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZE = 256


def _objects() -> list[tuple[str, np.ndarray, np.ndarray]]:
    from imagenet_e.demo.run import photo_pixels

    out = []
    for name, spec, asset in (("cat", "skimage:chelsea", "chelsea_mask.png"), ("cup", "skimage:coffee", "coffee_mask.png"),
                              ("hopper", "matplotlib:grace_hopper.jpg", "grace_hopper_mask.png")):
        photo = photo_pixels(spec)
        mask = np.asarray(Image.open(resources.files("imagenet_e.demo").joinpath(f"assets/{asset}")).convert("L")) > 127
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        out.append((name, photo[y0:y1, x0:x1], mask[y0:y1, x0:x1]))
    return out


def _backgrounds() -> list[tuple[str, np.ndarray]]:
    import skimage.data as data

    out = []
    for name in ("rocket", "stereo_motorcycle", "astronaut", "brick", "grass", "gravel"):
        image = getattr(data, name)()
        if isinstance(image, tuple):
            image = image[0]
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        out.append((name, np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.BICUBIC))))
    return out


def make_case(background: np.ndarray, obj: np.ndarray, obj_mask: np.ndarray, share: float, where: tuple[float, float]):
    """The scene (object with soft edge and shadow over ``background``), the given mask and the changed region."""
    import cv2

    h, w = obj_mask.shape
    scale = np.sqrt(share * SIZE * SIZE / obj_mask.sum())
    nw, nh = max(8, int(w * scale)), max(8, int(h * scale))
    nw, nh = min(nw, SIZE - 8), min(nh, SIZE - 8)
    o = np.asarray(Image.fromarray(obj).resize((nw, nh), Image.BICUBIC)).astype(np.float32)
    m = np.asarray(Image.fromarray(obj_mask.astype(np.uint8) * 255).resize((nw, nh), Image.BILINEAR)).astype(np.float32) / 255
    x0 = int(where[0] * (SIZE - nw))
    y0 = int(where[1] * (SIZE - nh))
    alpha = np.zeros((SIZE, SIZE), np.float32)
    alpha[y0:y0 + nh, x0:x0 + nw] = m
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)  # the anti-aliased rim: mixed colours outside the binary mask
    layer = np.zeros((SIZE, SIZE, 3), np.float32)
    layer[y0:y0 + nh, x0:x0 + nw] = o
    shadow = cv2.GaussianBlur(np.roll(np.roll(alpha, 4, axis=0), 3, axis=1), (0, 0), 3.0)
    bg = background.astype(np.float32) * (1 - 0.45 * shadow[..., None])
    scene = bg * (1 - alpha[..., None]) + layer * alpha[..., None]
    scene = np.clip(np.rint(scene), 0, 255).astype(np.uint8)
    binary = alpha > 0.5
    given = cv2.erode(binary.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    changed = np.abs(scene.astype(int) - background.astype(int)).max(axis=2) > 6
    return scene, given, changed | binary


def score(fill: np.ndarray, scene: np.ndarray, truth: np.ndarray, region: np.ndarray) -> tuple[float, float, float]:
    import cv2

    f, s, t = (a.astype(np.float32) for a in (fill, scene, truth))
    mae = float(np.abs(f - t)[region].mean())
    low = float(np.abs(cv2.GaussianBlur(f, (0, 0), 4) - cv2.GaussianBlur(t, (0, 0), 4))[region].mean())
    # A ghost pixel reproduces what the object put there: the fill is within a third of the way from
    # the scene's colour towards the truth (only where the object changed the colour clearly).
    d_st = np.linalg.norm(s - t, axis=-1)
    ghost = float((np.linalg.norm(f - s, axis=-1) < d_st / 3)[region & (d_st > 30)].mean())
    return mae, low, ghost


def main(argv: list[str] | None = None) -> int:
    from generation.inpaint import make_inpainter

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 backgrounds x 3 objects x 1 placement")
    ap.add_argument("--inpainter", action="append", default=[], help="more inpainters, e.g. diffusers:DIR")
    args = ap.parse_args(argv)

    objects, backgrounds = _objects(), _backgrounds()
    placements = [(0.12, (0.5, 0.9)), (0.25, (0.2, 0.4))]
    if args.quick:
        backgrounds, placements = backgrounds[:2], placements[:1]
    configs = [("patchmatch", "fixed", False), ("patchmatch", "adaptive", False), ("patchmatch", "adaptive", True),
               ("opencv", "fixed", False), ("opencv", "adaptive", False), ("opencv", "adaptive", True)]
    configs += [(name, "fixed", False) for name in args.inpainter] + [(name, "adaptive", True) for name in args.inpainter]
    cases = [(f"{o[0]}@{b[0]}/{share}", make_case(b[1], o[1], o[2], share, where), b[1])
             for b in backgrounds for o in objects for share, where in placements]
    print(f"{len(cases)} cases ({len(objects)} objects x {len(backgrounds)} backgrounds x {len(placements)} placements), "
          f"{SIZE}x{SIZE}; errors over the pixels the object changed")
    rows = []
    for name, growth, structure in configs:
        painter = make_inpainter(name, growth=growth, structure=structure)
        scores, t0 = [], time.perf_counter()
        for _, (scene, given, region), truth in cases:
            scores.append(score(painter.inpaint(scene, given), scene, truth, region))
        seconds = (time.perf_counter() - t0) / len(cases)
        mae, low, ghost = (float(np.mean(col)) for col in zip(*scores))
        rows.append((f"{name} / {growth}{' + structure' if structure else ''}", mae, low, 100 * ghost, seconds))
    base = rows[0]
    print("| inpainter / hole | MAE | low-freq MAE | ghost % | s/image | MAE vs patchmatch/fixed |")
    print("|---|---|---|---|---|---|")
    for label, mae, low, ghost, seconds in rows:
        print(f"| {label} | {mae:.1f} | {low:.1f} | {ghost:.1f} | {seconds:.2f} | {mae / base[1]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
