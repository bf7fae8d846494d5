"""Object transforms (SPEC §2.2): size, full-frame crop, position and direction edits.

Every transform takes the photo (at the working resolution) and its bool object mask and returns a
:class:`TransformResult`: the object image, the transformed object mask and the parameters drawn.
The object image is only meaningful under its mask; it is sampled from the *photo* (not from a
black-filled cut-out), so resampled edge pixels blend with the object's real surroundings instead of
black. The caller composites it over the clean background (:mod:`generation.composite`).

All randomness comes from the ``numpy.random.Generator`` passed in, which callers make with
:func:`generation.seeding.rng_for` from the per-image seed.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image


class EditStatus(str, enum.Enum):
    """Whether an edit could be made for this image (official code prints "Invalid size" otherwise)."""

    OK = "ok"
    UNREACHABLE = "unreachable"


class FullMode(str, enum.Enum):
    """How ``size_full`` brings the object's bounding box to the frame."""

    ASPECT = "aspect"
    """Crop the smallest window of the frame's aspect ratio that holds the bounding box (default)."""
    STRETCH = "stretch"
    """Official behaviour: resize the bounding box itself to the frame (anisotropic stretch)."""


class RotationCenter(str, enum.Enum):
    OBJECT = "object"
    """Rotate about the centre of the object's bounding box (default)."""
    IMAGE = "image"
    """Official behaviour: ``PIL.Image.rotate(angle)`` about the image centre."""


@dataclass(frozen=True)
class TransformResult:
    object_image: np.ndarray
    object_mask: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    status: EditStatus = EditStatus.OK
    reason: str = ""


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` with exclusive ends, of the True pixels."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        raise ValueError("object mask is empty")
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def object_center(mask: np.ndarray) -> tuple[float, float]:
    """Centre of the bounding box in pixel-centre coordinates (OpenCV convention)."""
    x0, y0, x1, y1 = bbox(mask)
    return (x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0


def rate(mask: np.ndarray) -> float:
    """Object pixels / image pixels."""
    return float(np.count_nonzero(mask)) / mask.size


def _warp(image: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = mask.shape
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    soft = cv2.warpAffine(mask.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out, soft >= 0.5


# --- size ---------------------------------------------------------------------------------------

def _scale_matrix(scale: float, center: tuple[float, float]) -> np.ndarray:
    cx, cy = center
    return np.array([[scale, 0.0, cx * (1 - scale)], [0.0, scale, cy * (1 - scale)]], np.float64)


def _fits_after_scale(mask: np.ndarray, scale: float, center: tuple[float, float]) -> bool:
    h, w = mask.shape
    x0, y0, x1, y1 = bbox(mask)
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
) -> TransformResult:
    """Rescale the object about its centre until ``|rate - target| <= tolerance`` on the output mask.

    The scale starts at ``sqrt(target / rate)`` and is corrected multiplicatively from the measured
    rate (resampling and clipping make the area differ from ``scale**2 * area``). Unless
    ``allow_clip``, an object that would leave the frame is "unreachable" (the official "Invalid size").
    """
    if not 0 < target < 1:
        raise ValueError(f"size target rate must be in (0, 1), got {target}")
    center = object_center(mask)
    rate0 = rate(mask)
    scale = math.sqrt(target / rate0)
    base = {"target_rate": target, "source_rate": rate0, "center": [center[0], center[1]], "tolerance": tolerance}
    for iteration in range(1, max_iterations + 1):
        if not allow_clip and not _fits_after_scale(mask, scale, center):
            return TransformResult(image, mask, {**base, "scale": scale}, EditStatus.UNREACHABLE,
                                   f"object would leave the frame at scale {scale:.3f} (rate {rate0:.3f} -> {target})")
        out, out_mask = _warp(image, mask, _scale_matrix(scale, center))
        got = rate(out_mask)
        if abs(got - target) <= tolerance:
            return TransformResult(out, out_mask, {**base, "scale": scale, "rate": got, "iterations": iteration})
        scale *= math.sqrt(target / got) if got > 0 else 2.0
    return TransformResult(image, mask, {**base, "scale": scale}, EditStatus.UNREACHABLE,
                           f"rate did not reach {target} +- {tolerance} in {max_iterations} rescalings")


def crop_to_frame(image: np.ndarray, mask: np.ndarray, mode: FullMode = FullMode.ASPECT) -> TransformResult:
    """``size_full``: crop the object's bounding box and resize it to the frame (same size as input)."""
    mode = FullMode(mode)
    h, w = mask.shape
    x0, y0, x1, y1 = bbox(mask)
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
    return TransformResult(out, out_mask, {"full_mode": mode.value, "window": list(window), "rate": rate(out_mask)})


# --- position -----------------------------------------------------------------------------------

def move_random(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> TransformResult:
    """Move the object's box to a top-left corner uniform in ``[0, W-w] x [0, H-h]`` (integer pixels)."""
    h, w = mask.shape
    x0, y0, x1, y1 = bbox(mask)
    bw, bh = x1 - x0, y1 - y0
    nx = int(rng.integers(0, w - bw + 1))
    ny = int(rng.integers(0, h - bh + 1))
    return move_to(image, mask, nx, ny)


def move_to(image: np.ndarray, mask: np.ndarray, x: int, y: int) -> TransformResult:
    """Translate the object so its bounding box's top-left corner is at ``(x, y)``; pixels copied exactly."""
    h, w = mask.shape
    x0, y0, x1, y1 = bbox(mask)
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
) -> TransformResult:
    """Rotate by an integer angle uniform in ``angle_range`` (inclusive, degrees, counter-clockwise)."""
    lo, hi = int(angle_range[0]), int(angle_range[1])
    if lo > hi:
        raise ValueError(f"angle range {angle_range} is empty")
    angle = int(rng.integers(lo, hi + 1))
    result = rotate(image, mask, angle, center=center, keep_inside=keep_inside)
    result.params["angle_range"] = [lo, hi]
    return result


def rotate(
    image: np.ndarray,
    mask: np.ndarray,
    angle: float,
    *,
    center: RotationCenter = RotationCenter.OBJECT,
    keep_inside: bool = True,
) -> TransformResult:
    """Rotate object and mask by ``angle`` degrees counter-clockwise (``PIL.Image.rotate``'s sense).

    With ``keep_inside`` the rotated object is shifted back into the frame when it sticks out; if it
    is larger than the frame it is clipped, and ``params["inside_frame"]`` is False either way.
    """
    import cv2

    center = RotationCenter(center)
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
    out, out_mask = _warp(image, mask, matrix)
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
    return TransformResult(out, out_mask, params)
