"""Compositing: the object's pixels over a background.

:class:`Compositing` says how the object's edge meets the background:

- ``hard`` (the authors'): the object's pixels pasted exactly under its binary mask. At the working
  resolution the mask's outline is a staircase, and the object's own rim pixels (mixed with its old
  surroundings: dark or greenish fringes) are pasted as they are;
- ``soft`` (the ``corrected`` protocol): an alpha matte from the mask, edge-aware by a guided filter on
  the object image (He et al., 2010), feathered *inward* only (alpha = 1 inside the object, 0 outside
  its mask, so every pixel outside the mask is the background's), blended in linear light (sRGB
  decoded, mixed, encoded), where mixing two colours does not darken their edge as 8-bit sRGB does;
- ``poisson``: gradient-domain blending (``cv2.seamlessClone``, normal clone) of the object into the
  background: the cpu stand-in for the λ = 0 harmonisation of a moved object, which changes the object's
  colours towards the new surroundings (not the default for that reason: the object is what is scored).
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["Compositing", "composite", "soft_alpha"]


class Compositing(str, enum.Enum):
    """How the object's edge meets the background (module docstring)."""

    HARD = "hard"
    SOFT = "soft"
    POISSON = "poisson"


def _check(background: np.ndarray, object_image: np.ndarray, object_mask: np.ndarray) -> None:
    if background.shape != object_image.shape or background.shape[:2] != object_mask.shape:
        raise ValueError(
            f"composite: background {background.shape}, object {object_image.shape} and mask {object_mask.shape} differ in size"
        )
    if background.dtype != np.uint8 or object_image.dtype != np.uint8:
        raise ValueError(f"composite expects uint8 images, got {background.dtype} and {object_image.dtype}")


def composite(background: np.ndarray, object_image: np.ndarray, object_mask: np.ndarray,
              mode: Compositing | str = Compositing.HARD) -> np.ndarray:
    """``object_image`` over ``background`` where ``object_mask`` is True (uint8, same shapes), by ``mode``."""
    _check(background, object_image, object_mask)
    mask = object_mask.astype(bool)
    mode = Compositing(mode)
    if mode is Compositing.HARD or not mask.any():
        return np.where(mask[..., None], object_image, background)
    if mode is Compositing.POISSON:
        cloned = _poisson(background, object_image, mask)
        if cloned is not None:
            return cloned
    alpha = soft_alpha(object_image, mask)[..., None]
    mixed = alpha * _to_linear(object_image) + (1 - alpha) * _to_linear(background)
    return _to_srgb(mixed)


def soft_alpha(guide: np.ndarray, mask: np.ndarray, radius: int | None = None, eps: float = 1e-3) -> np.ndarray:
    """An alpha matte in [0, 1] from a binary mask: 1 inside, 0 outside the mask, and in the mask's inner
    rim (``radius`` px, default ~1 % of the shorter side, at least 1) the mask filtered by a guided filter
    on the grey ``guide``, so the feather follows the object's own edges."""
    import cv2

    mask = np.asarray(mask, bool)
    r = max(1, int(round(0.01 * min(mask.shape)))) if radius is None else int(radius)
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    p = mask.astype(np.float32)
    size = (2 * r + 1, 2 * r + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(grey), box(p)
    cov = box(grey * p) - mean_i * mean_p
    var = box(grey * grey) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    alpha = np.clip(box(a) * grey + box(b), 0.0, 1.0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, size)
    inner = cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    # Inward only: the interior stays the object's exact pixels, outside the mask stays the background.
    return np.where(inner, 1.0, np.where(mask, alpha, 0.0)).astype(np.float32)


def _to_linear(image: np.ndarray) -> np.ndarray:
    c = image.astype(np.float32) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    s = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(s * 255), 0, 255).astype(np.uint8)


def _poisson(background: np.ndarray, object_image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """``cv2.seamlessClone`` of the object in place; None where OpenCV cannot (a mask on the frame's edge)."""
    import cv2

    region = mask.copy()
    # seamlessClone needs a border of background around the mask; the object's frame-edge pixels are pasted.
    region[0, :] = region[-1, :] = False
    region[:, 0] = region[:, -1] = False
    if not region.any():
        return None
    ys, xs = np.nonzero(region)
    center = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
    try:
        cloned = cv2.seamlessClone(object_image, background, region.astype(np.uint8) * 255, center, cv2.NORMAL_CLONE)
    except cv2.error:
        return None
    out = np.where(region[..., None], cloned, background)
    return np.where((mask & ~region)[..., None], object_image, out)
