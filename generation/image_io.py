"""Decoding photos and encoding PNGs for the editing toolkit (RGB uint8 arrays, atomic writes).

``imagenet-e edit`` and ``imagenet-e generate`` both go through here, so an image edited alone is
decoded and encoded exactly as in a batch run (the dataset's bytes are reproducible per image).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from imagenet_e_dataset.atomic import atomic_write_bytes


# 16-bit greyscale modes: PNG's 16-bit grey opens as "I;16" (PIL's own convert("RGB") clips every value
# above 255 to white instead of scaling).
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# Premultiplied-alpha modes PIL cannot convert to RGB directly: un-premultiply first.
_VIA = {"La": "LA", "RGBa": "RGBA"}


# Modes the usual `Image.open(...).convert("RGB")` misreads (16-bit turns white, 32-bit and premultiplied
# alpha come out wrong): an original in one of them is stored re-encoded by to_rgb8 (store_as_rgb8).
_MISREAD_MODES = _SIXTEEN_BIT_MODES | {"I", "F"} | set(_VIA)


def image_error_text(exc: BaseException) -> str:
    """The message of a decoder error without the ``<_io.BytesIO object at 0x...>`` PIL puts in it (callers name the file)."""
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc)).strip()
    return text or type(exc).__name__


def _grey_to_rgb(values: np.ndarray, full_scale: float) -> Image.Image:
    grey = np.floor(values / full_scale * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")


def to_rgb8(img: Image.Image) -> Image.Image:
    """``img`` as an 8-bit RGB image, whatever its PIL mode; ValueError (reason, no file name) when it has no 8-bit meaning.

    * ``I;16`` family (16-bit grey): scaled by 255/65535, not clipped;
    * ``I`` (32-bit integers): values within 0..255 taken as they are, within 0..65535 scaled as 16-bit; else refused;
    * ``F`` (32-bit floats): values within 0..1 scaled by 255, within 0..255 taken as they are; else (or NaN) refused;
    * ``La``/``RGBa`` (premultiplied alpha) are un-premultiplied; every other mode (``1``, ``L``, ``P``, ``LA``,
      ``PA``, ``RGBA``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ...) goes through PIL's own conversion (alpha dropped,
      as ImageNet's loaders do).
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        values = np.asarray(img).astype(np.float64)
        if values.size == 0:
            return _grey_to_rgb(values, 255.0)
        if not np.isfinite(values).all():
            raise ValueError(f"pixel mode {mode} holds NaN or infinite values")
        low, high = float(values.min()), float(values.max())
        if mode in _SIXTEEN_BIT_MODES:
            return _grey_to_rgb(values, 65535.0)
        if mode == "I":
            if low < 0 or high > 65535:
                raise ValueError(f"32-bit integer pixels from {low:g} to {high:g} have no 8-bit meaning; "
                                 "save the photo as 8- or 16-bit")
            return _grey_to_rgb(values, 255.0 if high <= 255 else 65535.0)
        if low < 0 or high > 255:
            raise ValueError(f"floating-point pixels from {low:g} to {high:g} are neither in 0..1 nor in 0..255")
        return _grey_to_rgb(values, 1.0 if high <= 1.0 else 255.0)
    try:
        if mode in _VIA:
            img = img.convert(_VIA[mode])
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ValueError(f"pixel mode {mode} cannot be converted to RGB ({exc})") from None


def decode_rgb(raw: bytes, where: str | os.PathLike) -> np.ndarray:
    """Decode image bytes (read once by the caller) into an ``(H, W, 3)`` uint8 RGB array.

    ``where`` names the file in the error raised for bytes that are not a readable image, or whose
    pixel mode has no 8-bit RGB meaning (see :func:`to_rgb8`).
    """
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            return np.asarray(to_rgb8(img)).copy()
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{where}: not a readable image ({image_error_text(exc)})") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


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


def misread_mode(raw: bytes) -> str | None:
    """The PIL mode of the encoded image ``raw`` when ordinary readers misread it, else None.

    A dataset row's image is read by other tools the usual PIL way (``convert("RGB")``, as
    ``contact-sheet`` and most loaders do): an original in such a mode is stored as the 8-bit RGB
    PNG :func:`to_rgb8` makes of it, the source bytes' hash recorded beside it.
    """
    with Image.open(io.BytesIO(raw)) as img:
        return img.mode if img.mode in _MISREAD_MODES else None


def write_png_atomic(image: np.ndarray | Image.Image, path: str | os.PathLike) -> Path:
    """Write :func:`encode_png`'s bytes via a temporary file, so a crash never leaves a partial file."""
    return atomic_write_bytes(path, encode_png(image))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 or bool image array, got dtype {array.dtype}")
    return array
