"""Decoding photos and encoding PNGs for the editing toolkit (RGB uint8 arrays, atomic writes).

``imagenet-e edit`` and ``imagenet-e generate`` both go through here, so an image edited alone is
decoded and encoded exactly as in a batch run (the dataset's bytes are reproducible per image).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from imagenet_e_dataset.atomic import atomic_write_bytes


def decode_rgb(raw: bytes, where: str | os.PathLike) -> np.ndarray:
    """Decode image bytes (read once by the caller) into an ``(H, W, 3)`` uint8 RGB array.

    ``where`` names the file in the error raised for bytes that are not a readable image.
    """
    try:
        with Image.open(io.BytesIO(raw)) as img:
            return np.asarray(img.convert("RGB")).copy()
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{where}: not a readable image ({exc})") from None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read and decode an image file into an ``(H, W, 3)`` uint8 RGB array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    return decode_rgb(path.read_bytes(), path)


def encode_png(image: np.ndarray | Image.Image) -> bytes:
    """Deterministic PNG bytes (fixed zlib level, no metadata, no timestamps); bool masks become 0/255."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(_to_uint8(image)))
    sink = io.BytesIO()
    pil.save(sink, format="PNG", compress_level=6, optimize=False)
    return sink.getvalue()


def write_png_atomic(image: np.ndarray | Image.Image, path: str | os.PathLike) -> Path:
    """Write :func:`encode_png`'s bytes via a temporary file, so a crash never leaves a partial file."""
    return atomic_write_bytes(path, encode_png(image))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 or bool image array, got dtype {array.dtype}")
    return array
