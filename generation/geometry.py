"""What an object is, geometrically: its box, its rate, and the result type of every object transform.

The object of a mask is :class:`ObjectBox`: the whole mask, or (the authors' rule) only what lies in
the bounding box of the mask's largest contour. The size rate, the ``full`` window and the box that
``position`` moves all follow it. Masks are ``bool`` or the authors' 8-bit grey masks (0..255): a
pixel is counted above 127.5 and contours are traced above 127, as the authors' ``get_bbox_and_rate``.

Used by :mod:`generation.transforms` (the toolkit's transforms) and
:mod:`generation.transforms_official` (the authors' size loop and ``full`` window).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imagenet_e_dataset.vocab import Resample

from .working import mask_u8

__all__ = [
    "ROTATION_RESAMPLES", "Box", "EditStatus", "FullMode", "ObjectBox", "RotationCenter", "TransformResult", "bbox",
    "box_of", "largest_contour_box", "measure", "object_center", "rate", "rotation_resample",
]


class EditStatus(str, enum.Enum):
    """Whether an edit could be made for this image (official code prints "Invalid size" otherwise)."""

    OK = "ok"
    UNREACHABLE = "unreachable"


class FullMode(str, enum.Enum):
    """How ``size_full`` brings the object's bounding box to the frame."""

    OFFICIAL = "official"
    """The authors' window: ``new_w = w/H*h`` (or the height analogue) unioned with the box, bilinear (cv2)."""
    ASPECT = "aspect"
    """Crop the smallest window of the frame's aspect ratio that holds the bounding box."""
    STRETCH = "stretch"
    """The tight bounding box resized to the frame (neither the authors' window nor aspect-preserving;
    what ``--full-mode stretch`` did before the protocols existed)."""


class RotationCenter(str, enum.Enum):
    OBJECT = "object"
    """Rotate about the centre of the object's bounding box."""
    IMAGE = "image"
    """The authors' behaviour: ``PIL.Image.rotate(angle)`` about the image centre."""


class ObjectBox(str, enum.Enum):
    """Which mask pixels are the object that is measured, cropped and moved."""

    LARGEST_CONTOUR = "largest_contour"
    """The authors': pixels inside the bounding box of the contour whose box is largest."""
    WHOLE_MASK = "whole_mask"
    """Every mask pixel (an object in several parts counts whole)."""


ROTATION_RESAMPLES: tuple[Resample, ...] = (Resample.NEAREST, Resample.BILINEAR)
"""The filters a rotated object is resampled with: NEAREST is ``PIL.Image.rotate``'s default, as the
authors use it (black fill); BILINEAR the smooth one. :func:`generation.transforms.rotate` maps each to
both PIL's rotate and OpenCV's warp, which have no LANCZOS between them."""


def rotation_resample(value: str | Resample) -> Resample:
    """The :class:`Resample` of ``value`` when it is one of :data:`ROTATION_RESAMPLES`; a ValueError naming it else."""
    try:
        member = Resample(value)
    except ValueError:
        member = None
    if member not in ROTATION_RESAMPLES:
        raise ValueError(f"rotation resampling {value!r}; valid: {', '.join(r.value for r in ROTATION_RESAMPLES)}")
    return member


Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` with exclusive ends."""


@dataclass(frozen=True)
class TransformResult:
    object_image: np.ndarray
    object_mask: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    status: EditStatus = EditStatus.OK
    reason: str = ""
    mask_u8: np.ndarray | None = None
    """The mask as the authors' code carries it (8-bit grey after bilinear rescaling), when it differs
    from ``object_mask`` * 255; the working-resolution resize starts from it."""


def bbox(mask: np.ndarray) -> Box:
    """``(x0, y0, x1, y1)`` with exclusive ends, of the True pixels."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        raise ValueError("object mask is empty")
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def largest_contour_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the contour (of ``mask > 127``) whose box has the largest area; None if there is none.

    Contours are taken over the whole hierarchy (holes included), the first of equal areas wins.
    """
    import cv2

    binary = (mask_u8(mask) > 127).astype(np.uint8) * 255
    contours, _ = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    best, best_area = None, 0
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if w * h > best_area:
            best, best_area = (x, y, x + w, y + h), w * h
    return best


def box_of(mask: np.ndarray, kind: ObjectBox = ObjectBox.WHOLE_MASK) -> Box | None:
    """The object's box under ``kind`` (None for a mask with no pixel above 127)."""
    values = mask_u8(mask)
    if ObjectBox(kind) is ObjectBox.LARGEST_CONTOUR:
        return largest_contour_box(values)
    on = values > 127
    return bbox(on) if on.any() else None


def measure(mask: np.ndarray, kind: ObjectBox = ObjectBox.WHOLE_MASK) -> tuple[Box | None, float]:
    """``(box, rate)``: the object's box and its rate, mask pixels > 127.5 inside the box / image pixels."""
    values = mask_u8(mask)
    box = box_of(values, kind)
    if box is None:
        return None, 0.0
    x0, y0, x1, y1 = box
    return box, float(np.count_nonzero(values[y0:y1, x0:x1] > 127.5)) / values.size


def object_center(mask: np.ndarray, kind: ObjectBox = ObjectBox.WHOLE_MASK) -> tuple[float, float]:
    """Centre of the object's box in pixel-centre coordinates (OpenCV convention)."""
    box = box_of(mask, kind)
    if box is None:
        raise ValueError("object mask is empty")
    x0, y0, x1, y1 = box
    return (x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0


def rate(mask: np.ndarray, kind: ObjectBox = ObjectBox.WHOLE_MASK) -> float:
    """Object pixels / image pixels (under ``kind``)."""
    return measure(mask, kind)[1]
