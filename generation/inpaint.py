"""Object removal: fill the object's region so that a clean, object-free background remains.

The official pipeline uses the TFill ImageNet model; any inpainter fits behind :class:`Inpainter`.
CPU backends registered here:

- ``"patchmatch"``: PatchMatch texture synthesis (``patchmatch-cython``), multi-scale;
- ``"opencv"``: ``cv2.inpaint`` (Telea), a fast smooth fallback.

Both dilate the mask by a few pixels first: a segmentation mask stops at the object's edge, and the
anti-aliased rim left outside it (the "halo") would otherwise be copied into the hole as a ghost
outline. Only pixels inside the (dilated) hole change.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np

from imagenet_e_dataset.named_registry import NamedRegistry


@runtime_checkable
class Inpainter(Protocol):
    """``inpaint(image uint8 (H, W, 3), mask bool (H, W)) -> uint8 (H, W, 3)``: fill ``mask``."""

    name: str

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


_INPAINTERS: NamedRegistry[Callable[..., Inpainter]] = NamedRegistry("inpainter")
register_inpainter = _INPAINTERS.register
"""Class/function decorator adding an inpainter factory under a name."""


def available_inpainters() -> tuple[str, ...]:
    return tuple(sorted(_INPAINTERS.names()))


def make_inpainter(name: str | Inpainter, **options) -> Inpainter:
    """Build a registered inpainter by name (an :class:`Inpainter` instance is returned as is)."""
    if not isinstance(name, str):
        if isinstance(name, Inpainter):
            return name
        raise ValueError(f"inpainter must be a name or an Inpainter, got {type(name).__name__}")
    return _INPAINTERS.get(name)(**options)


def default_dilation(shape: tuple[int, ...]) -> int:
    """Halo margin in pixels: ~1.2 % of the longer side, at least 3 (3 px at 256x256)."""
    return max(3, int(round(0.012 * max(shape[:2]))))


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a bool mask by ``pixels`` with a round structuring element."""
    if pixels <= 0:
        return mask.copy()
    import cv2

    k = 2 * pixels + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _check(image: np.ndarray, mask: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"inpaint expects a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"inpaint mask shape {mask.shape} does not match image {image.shape[:2]}")


class _DilatingInpainter:
    name = "base"

    def __init__(self, dilation: int | None = None):
        self.dilation = dilation

    def hole(self, mask: np.ndarray) -> np.ndarray:
        hole = dilate(mask.astype(bool), default_dilation(mask.shape) if self.dilation is None else self.dilation)
        if hole.all():
            raise ValueError("the object mask (after halo dilation) covers the whole image; nothing to inpaint from")
        return hole

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        _check(image, mask)
        hole = self.hole(mask)
        filled = self._fill(image, hole)
        # Only the hole may change: some backends blend a seam band around it.
        return np.where(hole[..., None], filled, image).astype(np.uint8)

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register_inpainter("patchmatch")
class PatchMatchInpainter(_DilatingInpainter):
    """Multi-scale PatchMatch texture synthesis; deterministic for a given ``seed``."""

    name = "patchmatch"

    def __init__(self, dilation: int | None = None, patch_size: int = 5, seed: int = 0):
        super().__init__(dilation)
        self.patch_size = patch_size
        self.seed = seed

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        from patchmatch_cython import inpaint_pyramid

        return inpaint_pyramid(image, hole, patch_size=self.patch_size, seed=self.seed)


@register_inpainter("opencv")
class OpenCVInpainter(_DilatingInpainter):
    """``cv2.inpaint`` with the Telea method: smooth fill, no texture; fast."""

    name = "opencv"

    def __init__(self, dilation: int | None = None, radius: int = 5):
        super().__init__(dilation)
        self.radius = radius

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8) * 255, self.radius, cv2.INPAINT_TELEA)
