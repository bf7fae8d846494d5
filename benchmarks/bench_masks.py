"""Automatic masks against hand-checked reference masks: IoU per method and photo, and the flags raised.

The references (``tests/data/masks/<photo>.png``) were made with OpenCV GrabCut started from
hand-placed seeds (a box around the object, polygons of sure object and sure background, listed in
``SEEDS`` below, in the photo's pixel coordinates) and checked by eye on an outline drawing
(``--remake`` writes them again and draws ``docs/assets/reference_masks.png``). No automatic masker
took part in making them. The photos are the demo's (scikit-image's cat and coffee cup, matplotlib's
Grace Hopper, the zebra of Debian's darknet package) and scikit-image's motorcycle and rocket.

    python benchmarks/bench_masks.py [--remake]
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
REFERENCES = ROOT / "tests" / "data" / "masks"

# photo -> (pixels, seeds). Seeds: "box" (x0, y0, x1, y1) outside which is background (None: none),
# "fg"/"bg": polygons of sure object / sure background.
SEEDS: dict[str, tuple[str, dict]] = {
    "chelsea": ("skimage:chelsea", {
        "box": None,
        "fg": [[(60, 40), (320, 30), (320, 230), (60, 260)]],
        "bg": [[(0, 0), (30, 0), (0, 110)], [(375, 130), (451, 110), (451, 300), (335, 300), (335, 250)]],
    }),
    "coffee": ("skimage:coffee", {
        "box": (70, 10, 495, 400),
        "fg": [[(180, 60), (400, 40), (455, 200), (420, 340), (200, 370), (100, 250)]],
        "bg": [[(0, 0), (150, 0), (0, 150)], [(525, 0), (600, 0), (600, 400), (525, 400)], [(0, 300), (85, 400), (0, 400)]],
    }),
    "grace_hopper": ("matplotlib:grace_hopper.jpg", {
        "box": None,
        "fg": [[(175, 75), (345, 65), (355, 300), (495, 420), (500, 600), (20, 600), (20, 445), (165, 330)]],
        "bg": [[(0, 0), (140, 0), (140, 150), (60, 330), (0, 375)], [(385, 0), (512, 0), (512, 395), (405, 330), (385, 200)],
               [(150, 0), (225, 0), (195, 45), (150, 60)]],
    }),
    "motorcycle": ("skimage:stereo_motorcycle", {
        "box": (90, 95, 690, 455),
        "fg": [[(160, 175), (470, 155), (555, 150), (560, 250), (470, 330), (300, 350), (190, 300)]],
        "bg": [[(0, 0), (741, 0), (741, 90), (0, 90)], [(0, 460), (741, 460), (741, 500), (0, 500)],
               [(300, 90), (470, 90), (470, 135), (300, 135)], [(585, 90), (741, 90), (741, 255), (640, 255), (600, 160)],
               [(560, 195), (615, 195), (615, 255), (560, 255)], [(350, 385), (500, 385), (500, 460), (350, 460)],
               [(40, 100), (92, 100), (92, 250), (40, 250)]],
    }),
    "rocket": ("skimage:rocket", {
        "box": (300, 118, 345, 408),
        "fg": [[(316, 165), (327, 165), (327, 390), (316, 390)]],
        "bg": [],
    }),
    "zebra": ("asset:darknet_giraffe.jpg", {
        "box": (240, 200, 430, 435),
        "fg": [[(372, 215), (398, 215), (400, 300), (372, 300)], [(322, 305), (392, 305), (390, 365), (322, 365)],
               [(248, 305), (257, 305), (257, 368), (248, 368)], [(287, 302), (295, 302), (295, 362), (287, 362)]],
        "bg": [[(262, 250), (282, 250), (282, 440), (262, 440)], [(298, 240), (318, 240), (318, 440), (298, 440)]],
    }),
}
METHODS = ("u2netp", "grabcut", "grabcut+u2netp")


def photo(name: str) -> np.ndarray:
    from imagenet_e.demo.run import photo_pixels

    return photo_pixels(SEEDS[name][0])


def make_reference(image: np.ndarray, seeds: dict) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    state = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    if seeds["box"] is not None:
        x0, y0, x1, y1 = seeds["box"]
        state[:] = cv2.GC_BGD
        state[y0:y1, x0:x1] = cv2.GC_PR_FGD
    else:
        state[:] = cv2.GC_PR_FGD
    for poly in seeds["bg"]:
        cv2.fillPoly(state, [np.array(poly, np.int32)], cv2.GC_BGD)
    for poly in seeds["fg"]:
        cv2.fillPoly(state, [np.array(poly, np.int32)], cv2.GC_FGD)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), state, None, bgd, fgd, 8, cv2.GC_INIT_WITH_MASK)
    mask = (state == cv2.GC_FGD) | (state == cv2.GC_PR_FGD)
    # Keep the pieces that hold a sure-object seed (an occluder may cut the object in several);
    # specks of look-alike background elsewhere are not the object.
    seeds_fg = np.zeros((h, w), np.uint8)
    for poly in seeds["fg"]:
        cv2.fillPoly(seeds_fg, [np.array(poly, np.int32)], 1)
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.unique(labels[(seeds_fg > 0) & mask])
    return np.isin(labels, keep[keep > 0])


def reference(name: str) -> np.ndarray:
    return np.asarray(Image.open(REFERENCES / f"{name}.png").convert("L")) > 127


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def main(argv: list[str] | None = None) -> int:
    from generation.masks import auto_mask, mask_warnings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--remake", action="store_true", help="rebuild the references from SEEDS and draw them")
    args = ap.parse_args(argv)
    if args.remake:
        from generation.contact_sheet import contact_sheet, outline

        REFERENCES.mkdir(parents=True, exist_ok=True)
        items = []
        for name, (_, seeds) in SEEDS.items():
            image = photo(name)
            mask = make_reference(image, seeds)
            Image.fromarray(mask.astype(np.uint8) * 255).save(REFERENCES / f"{name}.png", optimize=True)
            items.append((f"{name} ({mask.mean():.0%})", outline(image, mask)))
        contact_sheet(items, ROOT / "docs" / "assets" / "reference_masks.png", columns=3, tile=320)
    rows, totals, seconds = [], {m: [] for m in METHODS}, {m: 0.0 for m in METHODS}
    for name in SEEDS:
        image, ref = photo(name), reference(name)
        cells = [name, f"{ref.mean():.0%}"]
        for method in METHODS:
            t0 = time.perf_counter()
            mask = auto_mask(image, method)
            seconds[method] += time.perf_counter() - t0
            score = iou(mask, ref)
            totals[method].append(score)
            flags = mask_warnings(mask)
            cells.append(f"{score:.3f} ({mask.mean():.0%}{', flagged' if flags else ''})")
        rows.append(cells)
    print("| photo | reference area | " + " | ".join(f"{m} IoU (area)" for m in METHODS) + " |")
    print("|---|---|" + "---|" * len(METHODS))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print("| **mean** | | " + " | ".join(f"**{np.mean(totals[m]):.3f}**" for m in METHODS) + " |")
    print("| s/photo | | " + " | ".join(f"{seconds[m] / len(SEEDS):.2f}" for m in METHODS) + " |")
    best = max(METHODS, key=lambda m: np.mean(totals[m]))
    print(f"best mean IoU: {best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
