"""Image -> tensor transforms the runner applies inside DataLoader workers.

Every transform is a picklable top-level class (workers may be spawned, not forked) with a
``describe()`` that says exactly what it does, because the preprocessing actually used is part
of a result (the paper's third-party evaluators used Resize 256 -> CenterCrop 224; the default here
is each model's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from imagenet_e_dataset.jsonsafe import to_jsonable
from imagenet_e_dataset.vocab import Resample

from .processor_geometry import PilGeometry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ResizeCropNormalize:
    """Resize the shorter side to ``resize``, centre-crop ``crop``×``crop``, scale to [0, 1], normalise.

    >>> t = ResizeCropNormalize(resize=8, crop=4)
    >>> tuple(t(Image.new("RGB", (20, 10), (255, 0, 0))).shape)
    (3, 4, 4)
    """

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resample: Resample = Resample.BILINEAR

    def __post_init__(self) -> None:
        if self.crop > self.resize or self.crop <= 0:
            raise ValueError(f"crop {self.crop} must be in 1..resize ({self.resize})")
        object.__setattr__(self, "resample", Resample(self.resample))

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image.convert("RGB")
        w, h = image.size
        scale = self.resize / min(w, h)
        size = (max(self.resize, round(w * scale)), max(self.resize, round(h * scale)))
        if size != (w, h):
            image = image.resize(size, self.resample.pil)
        left, top = (size[0] - self.crop) // 2, (size[1] - self.crop) // 2
        image = image.crop((left, top, left + self.crop, top + self.crop))
        array = np.asarray(image, dtype=np.float32) * (1.0 / 255.0)
        array = (array - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))

    def describe(self) -> str:
        return (f"Resize shorter side to {self.resize} ({self.resample.value}) -> CenterCrop {self.crop} -> "
                f"scale to [0,1] -> Normalize(mean={list(self.mean)}, std={list(self.std)})")

    def details(self) -> dict[str, Any]:
        return {"resize": self.resize, "crop": self.crop, "mean": list(self.mean), "std": list(self.std),
                "resample": self.resample.value}


_PROCESSOR_KEYS = ("do_resize", "size", "resample", "crop_pct", "do_center_crop", "crop_size", "do_rescale",
                   "rescale_factor", "do_normalize", "image_mean", "image_std", "do_convert_rgb")


class ProcessorTransform:
    """A ``transformers`` image processor applied to one image (the model's own preprocessing).

    Fast path: the processor only resizes and crops (on uint8 pixels), and its rescale + normalise, a
    per-channel function of each 8-bit value, becomes a 256-entry table per channel (values computed
    with the processor's own float64-then-float32 arithmetic). That skips two float passes over every
    image in numpy (a fifth of the per-image CPU, which competes with the forward on a small machine).
    The table is used only when a probe image gives bit-identical output both ways; any other processor
    (one that rescales before resizing, pads, or is not 8-bit in between) keeps the plain call.
    """

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.table = _exact_value_table(processor)
        # Per input size: the processor's resize + crop done by PIL directly, or None where PIL does
        # not reproduce it bit for bit (checked once per size; a benchmark's images share one size).
        self.geometry: dict[tuple[int, int], PilGeometry | None] = {}

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image if image.mode == "RGB" else image.convert("RGB")
        if self.table is None:
            return self.processor(images=image, return_tensors="pt")["pixel_values"][0]
        if image.size not in self.geometry:
            self.geometry[image.size] = PilGeometry.verified(self.processor, image.size)
        geometry = self.geometry[image.size]
        if geometry is None:
            return _apply_table(self.table, _geometry_only(self.processor, image).transpose(1, 2, 0))
        return _apply_table(self.table, geometry(image))

    def details(self) -> dict[str, Any]:
        config = self.processor.to_dict() if hasattr(self.processor, "to_dict") else {}
        if "resample" in config and isinstance(config["resample"], int):  # PIL's Resampling is an IntEnum too
            config["resample"] = Image.Resampling(config["resample"]).name.lower()
        return {"image_processor": type(self.processor).__name__,
                **{k: to_jsonable(config[k]) for k in _PROCESSOR_KEYS if k in config}}

    def describe(self) -> str:
        d = self.details()
        steps = [f"the model's own {d['image_processor']}"]
        if d.get("do_resize", True) and "size" in d:
            crop_pct = f", crop_pct {d['crop_pct']}" if d.get("crop_pct") else ""
            steps.append(f"resize {d['size']} ({d.get('resample', 'default')}{crop_pct})")
        if d.get("do_center_crop") and "crop_size" in d:
            steps.append(f"center crop {d['crop_size']}")
        if d.get("do_rescale", True):
            steps.append(f"rescale x{d.get('rescale_factor', 1 / 255):.6g}")
        if d.get("do_normalize", True) and "image_mean" in d:
            steps.append(f"normalize mean={d['image_mean']} std={d.get('image_std')}")
        return " -> ".join(steps)


class CallableTransform:
    """A user-supplied preprocess callable; its description is its qualified name (or its docstring's first line)."""

    def __init__(self, fn: Any) -> None:
        if not callable(fn):
            raise ValueError(f"preprocess must be callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, image: Image.Image) -> torch.Tensor:
        out = self.fn(image)
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(np.asarray(out))
        if out.ndim == 4 and out.shape[0] == 1:
            out = out[0]
        if out.ndim != 3:
            raise ValueError(f"preprocess {self.describe()} returned shape {tuple(out.shape)}, expected (C, H, W)")
        return out

    def describe(self) -> str:
        if hasattr(self.fn, "describe"):
            return str(self.fn.describe())
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        module = getattr(self.fn, "__module__", None) or type(self.fn).__module__
        doc = (getattr(self.fn, "__doc__", None) or "").strip().splitlines()
        return f"{module}.{name}" + (f": {doc[0]}" if doc else "")

    def details(self) -> dict[str, Any]:
        return dict(self.fn.details()) if hasattr(self.fn, "details") else {}


def _geometry_only(processor: Any, image: Image.Image) -> np.ndarray:
    """The processor's resize/crop alone: (C, H, W) uint8."""
    out = processor(images=image, do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"][0]
    return out


def _apply_table(table: np.ndarray, pixels: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 -> (C, H, W) float32 through the (1, 256, C) table, with OpenCV's LUT (one SIMD
    pass, a third of numpy's gather's CPU); the result is stored HWC (channels-last strides) so a
    channels-last batch is filled by plain copies."""
    import cv2

    return torch.from_numpy(cv2.LUT(np.ascontiguousarray(pixels), table)).permute(2, 0, 1)


def _exact_value_table(processor: Any) -> np.ndarray | None:
    """The float32 table equal to the processor's rescale + normalise, or None where it is not exact; laid
    out (1, 256, 3) as OpenCV's LUT takes it, once here rather than per image."""
    config = processor.to_dict() if hasattr(processor, "to_dict") else {}
    if config.get("do_convert_rgb") is False or config.get("do_pad"):
        return None
    scale = float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else None
    mean = np.asarray(config.get("image_mean", (0.0, 0.0, 0.0)), np.float32).reshape(-1)
    std = np.asarray(config.get("image_std", (1.0, 1.0, 1.0)), np.float32).reshape(-1)
    if not config.get("do_normalize", True):
        mean, std = np.zeros(3, np.float32), np.ones(3, np.float32)
    if mean.size not in (1, 3) or std.size not in (1, 3):
        return None
    values = np.arange(256, dtype=np.float64)
    values = (values * scale if scale is not None else values).astype(np.float32)
    table = ((values[:, None] - np.broadcast_to(mean, (3,))[None, :])
             / np.broadcast_to(std, (3,))[None, :]).astype(np.float32).reshape(1, 256, 3)
    # Trust the table only after the processor itself agrees, bit for bit, on a probe covering every value.
    rng = np.random.default_rng(0)
    probe = Image.fromarray(rng.integers(0, 256, size=(301, 263, 3), dtype=np.uint8))
    try:
        geometry = _geometry_only(processor, probe)
        full = processor(images=probe, return_tensors="pt")["pixel_values"][0]
    except Exception:
        return None
    if geometry.dtype != np.uint8 or geometry.ndim != 3 or geometry.shape[0] != 3:
        return None
    fast = _apply_table(table, geometry.transpose(1, 2, 0))
    if fast.shape != full.shape or full.dtype != torch.float32 or not torch.equal(fast, full):
        return None
    return table
