"""The authors' size transforms (their ImageNet-Editing code's `rescale` and `rescale_maximum`), step by step.

- :func:`official_full_window` / :func:`official_full`: the ``full`` crop window, ``new_w = w/H*h``
  (or the height analogue) placed about the box centre, unioned with the box, resized bilinear (cv2)
  to the frame. The window does not have the frame's aspect, so the object is stretched; it is not the
  tight box either.
- :func:`official_rescale`: the size loop. While ``floor(rate*100) != target*100`` and
  ``|rate - target| > tolerance`` it steps by ``s = sqrt(target / rate)``: shrinking places the picture
  in a canvas ``1/s`` times larger (initialised with the picture itself resized to it) so that the
  object's box centre stays put, and resizes the canvas back; growing crops the ``(H/s, W/s)`` window
  about the box centre and resizes it back, so the frame may clip the object and the image is kept.
  A step that moves the rate the wrong way, or more than ``max_steps`` steps, fails ("Invalid size");
  an object already within tolerance is returned untouched.

Masks are carried as the authors carry them: 8-bit grey, resized bilinear at every step, measured at
``> 127`` (contours) and ``> 127.5`` (pixels) by :func:`generation.geometry.measure`. Every resize
is OpenCV's default bilinear.
"""

from __future__ import annotations

import math

import numpy as np

from .geometry import Box, EditStatus, ObjectBox, TransformResult, measure
from .working import mask_u8

__all__ = ["official_full", "official_full_window", "official_rescale"]


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(array, (width, height), interpolation=cv2.INTER_LINEAR)


def official_full_window(box: Box, shape: tuple[int, int]) -> Box:
    """The authors' ``full`` crop window ``(x0, y0, x1, y1)`` for the object box ``box`` in a frame ``shape``.

    >>> official_full_window((0, 0, 401, 300), (300, 451))  # chelsea's box spans the frame's height
    (0, 0, 423, 300)
    """
    H, W = shape
    bx0, by0, bx1, by1 = box
    x, y, w, h = bx0, by0, bx1 - bx0, by1 - by0
    if H / h < W / w:
        # The box fills more of the height: keep its rows, take a width of w/H*h about the centre.
        y_start, y_end = float(y), float(y + h)
        new_w = w / H * h
        c_x = x + w // 2
        x_start = c_x - new_w * c_x / W
        x_end = x_start + new_w
    else:
        x_start, x_end = float(x), float(x + w)
        new_h = h / W * w
        c_y = y + h // 2
        y_start = c_y - new_h * c_y / H
        y_end = y_start + new_h
    # The window is unioned with the box (it is never smaller than the object); int() truncates.
    return min(x, int(x_start)), min(y, int(y_start)), max(int(x_end), x + w), max(int(y_end), y + h)


def official_full(image: np.ndarray, mask: np.ndarray, object_box: ObjectBox = ObjectBox.LARGEST_CONTOUR) -> TransformResult:
    """The authors' ``full``: :func:`official_full_window` cropped and resized bilinear to the frame."""
    values = mask_u8(mask)
    box, _ = measure(values, object_box)
    if box is None:
        raise ValueError("object mask is empty")
    h, w = values.shape
    x0, y0, x1, y1 = official_full_window(box, (h, w))
    out = _resize(np.ascontiguousarray(image[y0:y1, x0:x1]), w, h)
    out_u8 = _resize(np.ascontiguousarray(values[y0:y1, x0:x1]), w, h)
    _, got = measure(out_u8, object_box)
    params = {"full_mode": "official", "window": [x0, y0, x1, y1], "box": list(box), "rate": got}
    return TransformResult(out, out_u8 > 127, params, mask_u8=out_u8)


def _step(image: np.ndarray, values: np.ndarray, box: Box, s: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """One rescaling step by ``s`` about the box centre; returns (image, mask, whether the frame clipped the mask)."""
    H, W = values.shape
    bx0, by0, bx1, by1 = box
    cy, cx = by0 + (by1 - by0) / 2, bx0 + (bx1 - bx0) / 2
    if s < 1:
        ch, cw = int(H / s), int(W / s)
        oy, ox = int(cy * (1 / s - 1)), int(cx * (1 / s - 1))
        canvas = _resize(image, cw, ch)  # the margin shows the picture itself, enlarged
        canvas[oy:oy + H, ox:ox + W] = image
        mask_canvas = np.zeros((ch, cw), np.uint8)
        mask_canvas[oy:oy + H, ox:ox + W] = values
        return _resize(canvas, W, H), _resize(mask_canvas, W, H), False
    oy, ox = int(cy * (1 - 1 / s)), int(cx * (1 - 1 / s))
    wh, ww = int(H / s), int(W / s)
    window = values[oy:oy + wh, ox:ox + ww]
    clipped = int(np.count_nonzero(window > 127)) < int(np.count_nonzero(values > 127))
    out = _resize(np.ascontiguousarray(image[oy:oy + wh, ox:ox + ww]), W, H)
    return out, _resize(np.ascontiguousarray(window), W, H), clipped


def official_rescale(
    image: np.ndarray,
    mask: np.ndarray,
    target: float,
    *,
    tolerance: float = 0.015,
    max_steps: int = 50,
    allow_clip: bool = True,
    object_box: ObjectBox = ObjectBox.LARGEST_CONTOUR,
) -> TransformResult:
    """The authors' size loop (module docstring). ``allow_clip=False`` fails a step that clips the object."""
    if not 0 < target < 1:
        raise ValueError(f"size target rate must be in (0, 1), got {target}")
    values = mask_u8(mask)
    box, current = measure(values, object_box)
    base = {"target_rate": target, "source_rate": current, "tolerance": tolerance, "size_loop": "official"}
    if box is None:
        return TransformResult(image, values > 127, base, EditStatus.UNREACHABLE, "Invalid size: the mask has no object")
    steps, scale, clipped_any = 0, 1.0, False
    # target * 100 is compared in floating point as the authors do (0.1 * 100 is 10.000000000000002, so for
    # 0.1 only the tolerance can stop the loop); floor(rate*100) == target*100 implies the tolerance anyway.
    while math.floor(current * 100) != target * 100 and abs(current - target) > tolerance:
        grow = math.floor(current * 100) < target * 100
        s = math.sqrt(target / current)
        image, values, clipped = _step(image, values, box, s)
        if clipped and not allow_clip:
            return TransformResult(image, values > 127, {**base, "scale": scale * s, "steps": steps + 1},
                                   EditStatus.UNREACHABLE, f"Invalid size: the frame clips the object at scale {scale * s:.3f}")
        clipped_any |= clipped
        box, new = measure(values, object_box)
        if box is None:
            return TransformResult(image, values > 127, {**base, "steps": steps + 1}, EditStatus.UNREACHABLE,
                                   "Invalid size: the object vanished while rescaling")
        if (grow and new < current) or (not grow and new > current):
            return TransformResult(image, values > 127, {**base, "steps": steps + 1, "rate": new}, EditStatus.UNREACHABLE,
                                   f"Invalid size: a rescaling step moved the rate the wrong way ({current:.4f} -> {new:.4f})")
        steps, scale, current = steps + 1, scale * s, new
        if steps > max_steps:
            return TransformResult(image, values > 127, {**base, "steps": steps, "rate": current}, EditStatus.UNREACHABLE,
                                   f"Invalid size: the rate did not reach {target} +- {tolerance} in {max_steps} steps")
    params = {**base, "scale": scale, "steps": steps, "rate": current, "clipped": clipped_any}
    return TransformResult(image, values > 127, params, mask_u8=values)
