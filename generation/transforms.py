"""Object transforms: size, full-frame crop, position and direction edits.

Every transform takes a photo and its object mask and returns a :class:`TransformResult`: the object
image, the transformed object mask and the parameters drawn. The object image is only meaningful
under its mask; it is sampled from the *photo* (not from a black-filled cut-out), so resampled edge
pixels blend with the object's real surroundings instead of black. The caller brings the result to
the working resolution (:mod:`generation.working`) and composites it over the clean background
(:mod:`generation.composite`).

Which pixels are "the object" is :class:`~generation.geometry.ObjectBox` (:mod:`generation.geometry`,
with the object's box and rate). The authors' own size loop and ``full`` window live in
:mod:`generation.transforms_official`; this module holds the toolkit's (``corrected``) variants,
position and direction (both protocols), and re-exports the geometry.

All randomness comes from the ``numpy.random.Generator`` passed in, which callers make with
:func:`generation.seeding.rng_for` from the per-image seed.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from imagenet_e_dataset.vocab import Resample

from .geometry import (  # noqa: F401  (re-exported: the transform API and its types)
    ROTATION_RESAMPLES,
    Box,
    EditStatus,
    FullMode,
    ObjectBox,
    RotationCenter,
    TransformResult,
    bbox,
    box_of,
    largest_contour_box,
    measure,
    object_center,
    rate,
    rotation_resample,
)
from .transforms_official import official_full


def _warp(image: np.ndarray, mask: np.ndarray, matrix: np.ndarray, resample: Resample = Resample.BILINEAR):
    import cv2

    h, w = mask.shape
    flag = cv2.INTER_NEAREST if rotation_resample(resample) is Resample.NEAREST else cv2.INTER_LINEAR
    out = cv2.warpAffine(image, matrix, (w, h), flags=flag, borderMode=cv2.BORDER_REPLICATE)
    soft = cv2.warpAffine(mask.astype(np.float32), matrix, (w, h), flags=flag,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out, soft >= 0.5


# --- size ---------------------------------------------------------------------------------------

def _scale_matrix(scale: float, center: tuple[float, float]) -> np.ndarray:
    cx, cy = center
    return np.array([[scale, 0.0, cx * (1 - scale)], [0.0, scale, cy * (1 - scale)]], np.float64)


def _fits_after_scale(box: Box, shape: tuple[int, int], scale: float, center: tuple[float, float]) -> bool:
    h, w = shape
    x0, y0, x1, y1 = box
    cx, cy = center
    # Pixel edges (centres +- 0.5) of the box, mapped through the scaling; one pixel of slack.
    left, right = cx + scale * (x0 - 0.5 - cx), cx + scale * (x1 - 0.5 - cx)
    top, bottom = cy + scale * (y0 - 0.5 - cy), cy + scale * (y1 - 0.5 - cy)
    return left >= -1.5 and top >= -1.5 and right <= w + 0.5 and bottom <= h + 0.5


def rescale_to_rate(
    image: np.ndarray,
    mask: np.ndarray,
    target: float,
    *,
    tolerance: float = 0.015,
    max_iterations: int = 20,
    allow_clip: bool = False,
    object_box: ObjectBox = ObjectBox.WHOLE_MASK,
) -> TransformResult:
    """The toolkit's size loop: rescale about the object's centre until ``|rate - target| <= tolerance``.

    Every try warps the *original* once (no resampling piles up): the scale starts at
    ``sqrt(target / rate)`` and is corrected multiplicatively from the measured rate (resampling and
    clipping make the area differ from ``scale**2 * area``). Unless ``allow_clip``, an object that
    would leave the frame is "unreachable" (the official "Invalid size").
    """
    if not 0 < target < 1:
        raise ValueError(f"size target rate must be in (0, 1), got {target}")
    mask = np.asarray(mask, dtype=bool)
    box, rate0 = measure(mask, object_box)
    if box is None:
        raise ValueError("object mask is empty")
    center = object_center(mask, object_box)
    scale = math.sqrt(target / rate0)
    base = {"target_rate": target, "source_rate": rate0, "center": [center[0], center[1]], "tolerance": tolerance,
            "size_loop": "centred"}
    for iteration in range(1, max_iterations + 1):
        if not allow_clip and not _fits_after_scale(box, mask.shape, scale, center):
            return TransformResult(image, mask, {**base, "scale": scale}, EditStatus.UNREACHABLE,
                                   f"object would leave the frame at scale {scale:.3f} (rate {rate0:.3f} -> {target})")
        out, out_mask = _warp(image, mask, _scale_matrix(scale, center))
        got = rate(out_mask, object_box)
        if abs(got - target) <= tolerance:
            return TransformResult(out, out_mask, {**base, "scale": scale, "rate": got, "iterations": iteration})
        scale *= math.sqrt(target / got) if got > 0 else 2.0
    return TransformResult(image, mask, {**base, "scale": scale}, EditStatus.UNREACHABLE,
                           f"rate did not reach {target} +- {tolerance} in {max_iterations} rescalings")


def crop_to_frame(
    image: np.ndarray, mask: np.ndarray, mode: FullMode = FullMode.ASPECT, object_box: ObjectBox = ObjectBox.WHOLE_MASK
) -> TransformResult:
    """``size_full``: the object's box (a window around it) cropped and resized to the frame (same size as input)."""
    mode = FullMode(mode)
    if mode is FullMode.OFFICIAL:
        return official_full(image, mask, object_box)
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    box = box_of(mask, object_box)
    if box is None:
        raise ValueError("object mask is empty")
    x0, y0, x1, y1 = box
    if mode is FullMode.ASPECT:
        bw, bh = x1 - x0, y1 - y0
        # Smallest window with the frame's aspect holding the box; it always fits inside the image.
        if bw * h >= bh * w:
            ww, wh = bw, min(h, max(bh, int(round(bw * h / w))))
        else:
            ww, wh = min(w, max(bw, int(round(bh * w / h)))), bh
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        x0 = int(min(max(round(cx - ww / 2.0), 0), w - ww))
        y0 = int(min(max(round(cy - wh / 2.0), 0), h - wh))
        x1, y1 = x0 + ww, y0 + wh
    window = (x0, y0, x1, y1)
    out = np.asarray(Image.fromarray(image[y0:y1, x0:x1]).resize((w, h), Image.BICUBIC))
    out_mask = np.asarray(Image.fromarray(mask[y0:y1, x0:x1].astype(np.uint8) * 255).resize((w, h), Image.NEAREST)) > 127
    return TransformResult(out, out_mask, {"full_mode": mode.value, "window": list(window),
                                           "rate": rate(out_mask, object_box)})


# --- position -----------------------------------------------------------------------------------

def move_random(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, object_box: ObjectBox = ObjectBox.WHOLE_MASK
) -> TransformResult:
    """Move the object's box to a top-left corner uniform in ``[0, W-w] x [0, H-h]`` (integer pixels)."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    box = box_of(mask, object_box)
    if box is None:
        raise ValueError("object mask is empty")
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    nx = int(rng.integers(0, w - bw + 1))
    ny = int(rng.integers(0, h - bh + 1))
    result = move_to(image, mask, nx, ny, box=box)
    result.params["object_box"] = ObjectBox(object_box).value
    return result


def move_to(image: np.ndarray, mask: np.ndarray, x: int, y: int, *, box: Box | None = None) -> TransformResult:
    """Translate the mask pixels inside ``box`` (default: the whole mask's box) so the box's top-left
    corner is at ``(x, y)``; pixels copied exactly. Mask pixels outside ``box`` are left behind (dropped)."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    x0, y0, x1, y1 = bbox(mask) if box is None else box
    bw, bh = x1 - x0, y1 - y0
    if not (0 <= x <= w - bw and 0 <= y <= h - bh):
        raise ValueError(f"position ({x}, {y}) puts the {bw}x{bh} object outside the {w}x{h} frame")
    out = image.copy()
    out_mask = np.zeros_like(mask)
    out[y:y + bh, x:x + bw] = image[y0:y1, x0:x1]
    out_mask[y:y + bh, x:x + bw] = mask[y0:y1, x0:x1]
    return TransformResult(out, out_mask, {"x": x, "y": y, "dx": x - x0, "dy": y - y0})


# --- direction ----------------------------------------------------------------------------------

def rotate_random(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    angle_range: tuple[int, int] = (-45, 45),
    center: RotationCenter = RotationCenter.OBJECT,
    keep_inside: bool = True,
    resample: Resample = Resample.BILINEAR,
) -> TransformResult:
    """Rotate by an integer angle uniform in ``angle_range`` (inclusive, degrees, counter-clockwise)."""
    lo, hi = int(angle_range[0]), int(angle_range[1])
    if lo > hi:
        raise ValueError(f"angle range {angle_range} is empty")
    angle = int(rng.integers(lo, hi + 1))
    result = rotate(image, mask, angle, center=center, keep_inside=keep_inside, resample=resample)
    result.params["angle_range"] = [lo, hi]
    return result


def rotate(
    image: np.ndarray,
    mask: np.ndarray,
    angle: float,
    *,
    center: RotationCenter = RotationCenter.OBJECT,
    keep_inside: bool = True,
    resample: Resample = Resample.BILINEAR,
) -> TransformResult:
    """Rotate object and mask by ``angle`` degrees counter-clockwise (``PIL.Image.rotate``'s sense).

    With ``keep_inside`` the rotated object is shifted back into the frame when it sticks out; if it
    is larger than the frame it is clipped, and ``params["inside_frame"]`` is False either way.
    About the image centre without ``keep_inside`` this is exactly ``PIL.Image.rotate(angle)`` (no
    expand, black fill), the authors' transform: the object may be clipped or leave the frame, and
    an object with nothing left in the frame is unreachable.
    """
    import cv2

    center, resample = RotationCenter(center), rotation_resample(resample)
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    # PIL rotates about (W/2, H/2) in edge coordinates, i.e. ((W-1)/2, (H-1)/2) in pixel centres.
    c = object_center(mask) if center is RotationCenter.OBJECT else ((w - 1) / 2.0, (h - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(c, float(angle), 1.0)
    ys, xs = np.nonzero(mask)
    px = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    py = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    shift = [0.0, 0.0]
    if keep_inside:
        for axis, (coords, size) in enumerate(((px, w), (py, h))):
            lo, hi = float(coords.min()), float(coords.max())
            if hi - lo <= size - 1:
                shift[axis] = max(0.0, -lo) - max(0.0, hi - (size - 1))
        matrix[:, 2] += shift
    if center is RotationCenter.IMAGE and not keep_inside:
        pil = Image.NEAREST if resample is Resample.NEAREST else Image.BILINEAR
        out = np.asarray(Image.fromarray(image).rotate(angle, resample=pil))
        out_mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).rotate(angle, resample=pil)) > 127
    else:
        out, out_mask = _warp(image, mask, matrix, resample)
    area_in = int(np.count_nonzero(mask))
    inside = bool(((px + shift[0]).min() >= -0.5) and ((px + shift[0]).max() <= w - 0.5)
                  and ((py + shift[1]).min() >= -0.5) and ((py + shift[1]).max() <= h - 0.5))
    params = {
        "angle": angle,
        "rotation_center": center.value,
        "center": [float(c[0]), float(c[1])],
        "shift": shift,
        "inside_frame": inside,
        "area_ratio": float(np.count_nonzero(out_mask)) / area_in,
    }
    if not out_mask.any():
        return TransformResult(out, out_mask, params, EditStatus.UNREACHABLE,
                               f"the object rotated by {angle} degrees about the image centre left the frame")
    return TransformResult(out, out_mask, params)
