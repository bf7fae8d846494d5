"""The working resolution: how a photo (and every transformed object) is brought to the square the editor works on.

Two resamplings exist, one per protocol (:mod:`generation.protocol`):

- ``lanczos`` (the authors', ``image_editor.py`` 222-228): the photo is resized with LANCZOS; the mask
  is resized with NEAREST (only when it is not at the working size already) and binarised at ``> 0.5``
  of its 0..255 values (``np.array(mask) > 0.5``), so a grey mask pixel (the authors' size loop
  carries bilinear grey masks) counts as object from the value 1 up;
- ``bicubic`` (the toolkit's own, used by the ``corrected`` protocol): the photo is resized bicubic,
  the mask with nearest neighbour, so the mask keeps the object's outline.

Masks arrive as ``bool`` or as the authors' 8-bit grey masks (0..255 after their bilinear rescaling
steps, :mod:`generation.transforms_official`); ``bool`` masks count as 0/255.

``Fit`` says how a photo whose aspect is not square becomes square: ``stretch`` (the authors': the
whole photo, aspect not kept) or ``center_crop`` (the centre square of the photo).
"""

from __future__ import annotations

import enum

import numpy as np
from PIL import Image

__all__ = ["Fit", "WorkingResize", "fit_region", "mask_u8", "resize_mask_to", "resize_photo_to", "to_working"]


class Fit(str, enum.Enum):
    """How a photo is brought to the square working resolution."""

    STRETCH = "stretch"
    CENTER_CROP = "center_crop"


class WorkingResize(str, enum.Enum):
    """The resampling of photo and mask to the working resolution (see the module docstring)."""

    LANCZOS = "lanczos"
    """The authors': photo LANCZOS, mask NEAREST then ``> 0.5`` of 0..255."""
    BICUBIC = "bicubic"
    """The toolkit's: photo bicubic, mask nearest neighbour."""


def mask_u8(mask: np.ndarray) -> np.ndarray:
    """A mask as 8-bit values: ``bool`` becomes 0/255, an 8-bit mask stays as it is."""
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        return mask.astype(np.uint8) * 255
    if mask.dtype != np.uint8:
        raise ValueError(f"mask must be bool or uint8 0..255, got {mask.dtype}")
    return mask


def fit_region(photo: np.ndarray, mask: np.ndarray, fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    """The part of the photo (and mask) that becomes the working square: all of it, or its centre square."""
    if Fit(fit) is Fit.CENTER_CROP:
        h, w = mask.shape[:2]
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        return photo[y0:y0 + side, x0:x0 + side], mask[y0:y0 + side, x0:x0 + side]
    return photo, mask


def resize_photo_to(photo: np.ndarray, side: int, how: WorkingResize) -> np.ndarray:
    """The photo at ``side x side`` (unchanged when it already is)."""
    if photo.shape[:2] == (side, side):
        return photo
    resample = Image.LANCZOS if WorkingResize(how) is WorkingResize.LANCZOS else Image.BICUBIC
    return np.asarray(Image.fromarray(photo).resize((side, side), resample))


def resize_mask_to(mask: np.ndarray, side: int, how: WorkingResize) -> np.ndarray:
    """The mask at ``side x side`` as ``bool`` (see the module docstring for the two rules)."""
    values = mask_u8(mask)
    if values.shape != (side, side):  # the authors resize only a mask that is not at the working size
        values = np.asarray(Image.fromarray(values).resize((side, side), Image.NEAREST))
    # The authors' np.array(mask) > 0.5 on 0..255; the toolkit's half level.
    return values > 0.5 if WorkingResize(how) is WorkingResize.LANCZOS else values > 127


def to_working(photo: np.ndarray, mask: np.ndarray, side: int, how: WorkingResize) -> tuple[np.ndarray, np.ndarray]:
    """Photo and mask (already fitted to a square or not: resizing ignores the aspect) at ``side x side``."""
    return resize_photo_to(photo, side, how), resize_mask_to(mask, side, how)
