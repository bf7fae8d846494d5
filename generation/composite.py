"""Compositing: the object's pixels over a background, pasted exactly (no blending at the edge)."""

from __future__ import annotations

import numpy as np


def composite(background: np.ndarray, object_image: np.ndarray, object_mask: np.ndarray) -> np.ndarray:
    """``object_image`` where ``object_mask`` is True, ``background`` elsewhere (uint8, same shapes)."""
    if background.shape != object_image.shape or background.shape[:2] != object_mask.shape:
        raise ValueError(
            f"composite: background {background.shape}, object {object_image.shape} and mask {object_mask.shape} differ in size"
        )
    if background.dtype != np.uint8 or object_image.dtype != np.uint8:
        raise ValueError(f"composite expects uint8 images, got {background.dtype} and {object_image.dtype}")
    return np.where(object_mask.astype(bool)[..., None], object_image, background)
