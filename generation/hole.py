"""The hole an object leaves: how far to grow its mask, and background-only guides for filling it.

A segmentation mask stops at the object's edge (and an automatic one often short of it): the
anti-aliased rim, a shadow, a strip of the object the mask missed all stay outside it. Inpainting
only the mask then copies those remains into the hole and leaves the object's outline in the
"clean" background (a ghost). :func:`grow_hole` grows the mask

- into the object's *halo*: pixels in a band around the mask, connected to it, whose colour is clearly
  closer to the object's border colours than to the background just beyond the band, or farther from
  that background than almost any of its own pixels (a shadow, a dark rim: what automatic masks miss);
- then by a rim proportional to the object's size (``ADAPTIVE_RIM`` × the side of a square of the
  object's area, at least 3 px), instead of a fixed few pixels.

:func:`background_guide` fills the hole from the pixels *outside* it only (a smooth push-pull
membrane: masked averages down an image pyramid and back up); every inpainter starts from it, so
no object pixel can reach a fill. :func:`continue_structure` gives a large hole the low frequencies
of that guide, so a big hole continues the colour layout around it (flag on one side, wall on the
other) instead of repeating one texture patch everywhere. (OpenCV's Navier-Stokes inpainting as
the guide measured the same in ``benchmarks/bench_inpaint.py`` but carried cast shadows deep into
the hole as dark blobs.)
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from imagenet_e_dataset.vocab import parse_choice

ADAPTIVE_RIM = 0.035
"""Rim added around the object, as a share of the side of a square of the object's area."""
HALO_BAND = 0.08
"""Width of the band searched for the object's halo, same unit."""
HALO_MARGIN = 0.7
"""A band pixel joins the object when its colour distance to the object is below this share of its
distance to the background."""
TIGHT_RIM = 1
"""Rim in pixels of ``Growth.TIGHT``."""
LARGE_HOLE = 0.06
"""A hole is large when its deepest pixel is farther than this share of the shorter image side from
the hole's edge; then its low frequencies come from the structure guide."""


class Growth(str, enum.Enum):
    """How the object mask becomes the hole."""

    ADAPTIVE = "adaptive"
    """Halo search + a rim proportional to the object's size (default)."""
    FIXED = "fixed"
    """The earlier behaviour: a fixed ~1.2 % of the longer side (3 px at 256x256), no halo search."""
    TIGHT = "tight"
    """Halo search + the cast shadow below the object (:func:`shadow`) + a 1 px rim (``TIGHT_RIM``): the
    halo already takes the rim pixels that look like the object, and every further pixel of rim replaces
    true background (``benchmarks/bench_removal.py``:
    the proportional rim raised the halo error around the hole by half)."""


class Structure(str, enum.Enum):
    """Where a fill's low frequencies come from (its texture is always the backend's)."""

    NONE = "none"
    """The backend's fill as it is."""
    PUSH_PULL = "push_pull"
    """Large holes only, more so deeper inside: the push-pull membrane (:func:`continue_structure`)."""
    TELEA = "telea"
    """Every hole: near its edge the fine low frequencies of OpenCV's Telea fill, which continues the
    edge's colours exactly (no seam, no fringe); deep inside the coarse ones of the push-pull membrane
    (:func:`layer_structure`)."""


def object_side(mask: np.ndarray) -> float:
    """Side of a square with the object's area, in pixels (the object's size for rims and bands)."""
    return math.sqrt(float(np.count_nonzero(mask)))


def fixed_dilation(shape: tuple[int, ...]) -> int:
    """The earlier fixed margin: ~1.2 % of the longer side, at least 3 (3 px at 256x256)."""
    return max(3, int(round(0.012 * max(shape[:2]))))


def adaptive_rim(mask: np.ndarray) -> int:
    """Rim in pixels: ``ADAPTIVE_RIM`` x the object's side, at least 3 (7 px for a cat filling 3/4 of 256x256)."""
    return max(3, int(round(ADAPTIVE_RIM * object_side(mask))))


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a bool mask by ``pixels`` with a round structuring element."""
    if pixels <= 0:
        return mask.astype(bool, copy=True)
    import cv2

    k = 2 * pixels + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _palette(lab: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` k-means colour centres of ``lab`` pixels (deterministic: fixed seed, subsampled evenly)."""
    import cv2

    if len(lab) > 4000:
        lab = lab[:: len(lab) // 4000 + 1]
    k = min(k, len(lab))
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, _, centres = cv2.kmeans(np.ascontiguousarray(lab, np.float32), k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres


def _nearest(lab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.sqrt(((lab[:, None, :] - centres[None]) ** 2).sum(-1)).min(axis=1)


def halo(image: np.ndarray, mask: np.ndarray, band: int | None = None) -> np.ndarray:
    """Pixels next to the mask that look like the object (its halo, shadow or missed rim), connected to it.

    Colours are compared in CIE Lab against small k-means palettes of the object's border (inside
    the mask) and of the background just beyond the search band.
    """
    import cv2

    mask = mask.astype(bool)
    band = max(6, int(round(HALO_BAND * object_side(mask)))) if band is None else band
    near = dilate(mask, band)
    candidates = near & ~mask
    inner = mask & ~_erode(mask, band)
    outer = dilate(mask, 2 * band) & ~near
    if not candidates.any() or inner.sum() < 8 or outer.sum() < 8:
        return np.zeros_like(mask)
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    obj_c, bg_c = _palette(lab[inner], 6), _palette(lab[outer], 6)
    cand = lab[candidates]
    d_bg = _nearest(cand, bg_c)
    # Unlike the background: farther from its palette than almost any background pixel is (a shadow,
    # a dark rim); like the object: clearly nearer the object's border colours.
    spread = float(np.percentile(_nearest(lab[outer][:: max(1, int(outer.sum()) // 4000)], bg_c), 97))
    joins = np.zeros_like(mask)
    joins[candidates] = (_nearest(cand, obj_c) < HALO_MARGIN * d_bg) | (d_bg > max(spread, 12.0))
    # Only what touches the object: a similar colour elsewhere in the band is background.
    count, labels = cv2.connectedComponents((mask | joins).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[mask])] = True
    keep[0] = False
    return keep[labels] & ~mask


SHADOW_BAND = 0.1
"""Width of the band searched for the object's cast shadow, as a share of the object's side."""
SHADOW_DARKER = 20.0
"""A shadow pixel is darker than the background around it by this many CIE L levels (of 255)..."""
SHADOW_CHROMA = 2.0
"""...and no more colourful than it by this many Lab chroma levels (a shadow darkens, it does not tint)."""


def shadow(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The object's cast shadow: pixels next to the mask and below its centre, clearly darker than the
    background beyond the band and no more colourful, connected to the mask.

    The halo search takes pixels that look like the object; a contact shadow under a cup or an animal
    looks like neither, so the tight hole would leave it as a dark crescent that a structure fill then
    spreads into the hole (``docs/removal-and-masks.md``).
    """
    import cv2

    mask = mask.astype(bool)
    if not mask.any():
        return np.zeros_like(mask)
    band = max(4, int(round(SHADOW_BAND * object_side(mask))))
    near = dilate(mask, band) & ~mask
    below = near & (np.arange(mask.shape[0])[:, None] > np.nonzero(mask)[0].mean())
    outer = (dilate(mask, 2 * band) & ~near & ~mask).astype(np.float32)
    if not below.any() or outer.sum() < 8:
        return np.zeros_like(mask)
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)

    def around(x: np.ndarray) -> np.ndarray:  # the background's local mean, from the ring beyond the band
        return cv2.GaussianBlur(x * outer, (0, 0), band) / np.maximum(cv2.GaussianBlur(outer, (0, 0), band), 1e-6)

    dark = (lab[..., 0] < around(lab[..., 0]) - SHADOW_DARKER) & (chroma <= around(chroma) + SHADOW_CHROMA)
    count, labels = cv2.connectedComponents((mask | (below & dark)).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[mask])] = True
    keep[0] = False
    return keep[labels] & ~mask


def _erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    k = 2 * pixels + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.erode(mask.astype(np.uint8), kernel).astype(bool)


def grow_hole(image: np.ndarray, mask: np.ndarray, growth: Growth | str = Growth.ADAPTIVE,
              dilation: int | None = None) -> np.ndarray:
    """The region to fill for removing the object ``mask`` (see the module docstring).

    ``dilation`` overrides the rim in pixels (both modes); ``growth="fixed"`` is the earlier
    behaviour (fixed rim, no halo), kept for comparison (``benchmarks/bench_inpaint.py``).
    """
    growth = Growth(growth)
    mask = mask.astype(bool)
    if growth is Growth.FIXED:
        return dilate(mask, fixed_dilation(mask.shape) if dilation is None else dilation)
    grown = mask | halo(image, mask)
    if growth is Growth.TIGHT:
        grown |= shadow(image, mask)
    if dilation is None:
        dilation = TIGHT_RIM if growth is Growth.TIGHT else adaptive_rim(mask)
    return dilate(grown, dilation)


# --- fills from the background only ---------------------------------------------------------------

def push_pull(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Smooth fill of ``hole`` from the pixels outside it: masked averages down a pyramid, then back up.

    Pixels outside the hole are returned unchanged; the hole's own content is never read.
    """
    import cv2

    known = (~hole).astype(np.float32)
    x = image.astype(np.float32) * known[..., None]
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    w = known
    while min(w.shape) > 2 and (w <= 0).any():
        levels.append((x, w))
        size = (max(1, w.shape[1] // 2), max(1, w.shape[0] // 2))
        x = cv2.resize(x, size, interpolation=cv2.INTER_AREA)
        w = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
    # Normalise the coarsest level; fill what is still unknown with the mean known colour.
    est = x / np.maximum(w, 1e-6)[..., None]
    if (w <= 0).any():
        est[w <= 0] = image[~hole].mean(axis=0)
    for fine_x, fine_w in reversed(levels):
        up = cv2.resize(est, (fine_w.shape[1], fine_w.shape[0]), interpolation=cv2.INTER_LINEAR)
        # Where the fine level knows (part of) a pixel it wins, in proportion to how much it knows.
        wk = np.clip(fine_w, 0, 1)[..., None]
        est = np.where(wk > 0, fine_x / np.maximum(fine_w, 1e-6)[..., None], 0) * wk + up * (1 - wk)
    out = np.where(hole[..., None], est, image.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def background_guide(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The image with ``hole`` filled from outside it only (what every inpainter starts from)."""
    return push_pull(image, hole)


def hole_depth(hole: np.ndarray) -> float:
    """Distance in pixels from the hole's deepest pixel to its edge."""
    import cv2

    if not hole.any():
        return 0.0
    padded = np.pad(hole.astype(np.uint8), 1, constant_values=0)
    return float(cv2.distanceTransform(padded, cv2.DIST_L2, 5).max())


def is_large(hole: np.ndarray) -> bool:
    return hole_depth(hole) > LARGE_HOLE * min(hole.shape)


def continue_structure(filled: np.ndarray, guide: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Replace the low frequencies of a large hole's fill by those of ``guide``, more so deeper inside.

    Texture (high frequencies) stays the fill's; the colour layout follows the surrounding
    background's structure. Small holes are returned unchanged.
    """
    import cv2

    if not is_large(hole):
        return filled
    depth = cv2.distanceTransform(np.pad(hole.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    sigma = max(2.0, 0.25 * float(depth.max()))
    low_fill = cv2.GaussianBlur(filled.astype(np.float32), (0, 0), sigma)
    low_guide = cv2.GaussianBlur(guide.astype(np.float32), (0, 0), sigma)
    weight = np.clip(depth / (2.0 * sigma), 0.0, 1.0)[..., None]
    out = filled.astype(np.float32) + weight * (low_guide - low_fill)
    out = np.where(hole[..., None], out, filled.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


EDGE_SIGMA = 4.0
"""Blur (px) of the edge layer: below it the fill takes Telea's frequencies at the hole's edge."""
DEEP_SIGMA = 24.0
"""Blur (px) of the deep layer: below it the fill takes the push-pull membrane's frequencies deep inside."""
EDGE_DEPTH = 24.0
"""Depth (px) over which the edge layer hands over to the deep one."""


def telea(image: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """``cv2.inpaint`` (Telea): smooth fill of ``hole`` that continues the colours at its edge."""
    import cv2

    return cv2.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


def layer_structure(filled: np.ndarray, edge_fill: np.ndarray, deep_fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``filled``'s texture over the low frequencies of two smooth fills, inside ``hole`` only.

    A texture fill (PatchMatch) pastes patches whose colour need not match the hole's edge: a seam and a
    fringe where the object's outline was. Near the edge the result takes ``edge_fill``'s frequencies
    below ``EDGE_SIGMA`` (Telea: it continues the edge's colours exactly); deeper than ``EDGE_DEPTH``
    those of ``deep_fill`` below ``DEEP_SIGMA`` (the push-pull membrane: a colour layout averaged over
    the whole surroundings). Telea deep inside smeared what touches one side of the hole (a cast shadow,
    a flag's stripe) across all of it; the membrane alone tinted large holes with one mean colour
    (``benchmarks/bench_removal.py``, ``docs/removal-and-masks.md``).
    """
    import cv2

    f = filled.astype(np.float32)
    depth = cv2.distanceTransform(np.pad(hole.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    edge = np.clip(1.0 - depth / EDGE_DEPTH, 0.0, 1.0)[..., None]

    def shift(smooth: np.ndarray, sigma: float) -> np.ndarray:
        return cv2.GaussianBlur(smooth.astype(np.float32), (0, 0), sigma) - cv2.GaussianBlur(f, (0, 0), sigma)

    out = f + edge * shift(edge_fill, EDGE_SIGMA) + (1 - edge) * shift(deep_fill, DEEP_SIGMA)
    out = np.where(hole[..., None], out, f)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --- the base of the inpainters ---------------------------------------------------------------

def _check(image: np.ndarray, mask: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"inpaint expects a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"inpaint mask shape {mask.shape} does not match image {image.shape[:2]}")


class HoleInpainter:
    """Base of the built-in inpainters: grow the hole, pre-fill it from the background, fill, continue structure.

    ``growth``: ``"adaptive"`` (default), ``"tight"`` or the earlier ``"fixed"`` margin; ``dilation``
    overrides the rim in pixels; ``structure``: a :class:`Structure` (``True`` = push-pull, ``False`` =
    none); by default push-pull with adaptive growth, Telea with tight growth, none with fixed.
    """

    name = "base"
    removal = ("the object's mask grown by its halo and a rim proportional to its size, "
               "from the background around it only")
    """What the default settings remove and how (the card's words, :func:`generation.inpaint.describe_removal`)."""

    def __init__(self, dilation: int | None = None, growth: Growth | str = Growth.ADAPTIVE,
                 structure: Structure | str | bool | None = None):
        self.dilation = dilation
        self.growth = Growth(growth)
        self.structure = _structure(structure, self.growth)

    def hole_for(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hole = grow_hole(image, mask.astype(bool), self.growth, self.dilation)
        if hole.all():
            raise ValueError("the object mask (after growing it by its halo and rim) covers the whole image; "
                             "nothing to inpaint from")
        return hole

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        _check(image, mask)
        hole = self.hole_for(image, mask)
        guide = background_guide(image, hole)
        # The hole's content is replaced before any backend sees it: fills come from the background only
        # (the earlier behaviour, growth="fixed", let the backend see the object pixels in the hole).
        start = image if self.growth is Growth.FIXED else guide
        filled = self._fill(start, hole)
        # Only the hole may change: some backends blend a seam band around it.
        filled = np.where(hole[..., None], filled, image).astype(np.uint8)
        if self.structure is Structure.PUSH_PULL:
            filled = continue_structure(filled, guide, hole)
        elif self.structure is Structure.TELEA:
            filled = layer_structure(filled, telea(image, hole), guide, hole)
        return filled

    def record(self) -> dict[str, Any]:
        """What determines this inpainter's output (for provenance)."""
        return {"inpainter": self.name, "growth": self.growth.value, "dilation": self.dilation,
                "structure": self.structure.value}

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        raise NotImplementedError


_DEFAULT_STRUCTURE = {Growth.ADAPTIVE: Structure.PUSH_PULL, Growth.TIGHT: Structure.TELEA, Growth.FIXED: Structure.NONE}


def _structure(value: Structure | str | bool | None, growth: Growth) -> Structure:
    if value is None:
        return _DEFAULT_STRUCTURE[growth]
    if isinstance(value, (bool, np.bool_)):  # the earlier on/off flag: on meant the push-pull guide
        return Structure.PUSH_PULL if value else Structure.NONE
    return parse_choice(Structure, value, "inpainter structure")
