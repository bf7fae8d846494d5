"""Reading photos and writing PNGs for the editing toolkit (atomic writes, RGB uint8 arrays)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from imagenet_e_dataset.atomic import atomic_path


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file once into an ``(H, W, 3)`` uint8 RGB array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")).copy()
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None


def write_png_atomic(image: np.ndarray | Image.Image, path: str | os.PathLike) -> Path:
    """Write a PNG via a temporary file in the same folder, so a crash never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = image if isinstance(image, Image.Image) else Image.fromarray(_to_uint8(image))
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG", optimize=False)
    return path


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 or bool image array, got dtype {array.dtype}")
    return array
