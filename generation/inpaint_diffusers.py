"""A learned inpainter behind :class:`generation.inpaint.Inpainter`: any ``diffusers`` inpainting pipeline.

``--inpainter diffusers:<hub id or folder>`` loads the pipeline with
``diffusers.AutoPipelineForInpainting.from_pretrained`` (e.g. a Stable Diffusion inpainting
checkpoint you downloaded, or a Hub id when you are online) and fills the hole that
:mod:`generation.hole` makes, like the offline inpainters: the pipeline sees the image with the hole
already filled from the background around it, never the object. The fill is seeded (the same
photo gives the same bytes on the same machine and torch build).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_e_dataset.runtime import choose_device, torch_dtype
from imagenet_e_dataset.vocab import DeviceChoice, DtypeChoice, parse_dtype

from .hole import Growth, HoleInpainter

DEFAULT_PROMPT = "background, empty scene, no objects"
DEFAULT_STEPS = 25


@functools.lru_cache(maxsize=2)
def load_inpainting_pipeline(model: str, device: str, dtype: DtypeChoice) -> Any:
    """The pipeline for ``model`` on ``device`` (cached per process: loading is the slow part)."""
    try:
        import torch
        from diffusers import AutoPipelineForInpainting
    except ImportError:
        raise ValueError("--inpainter diffusers:... needs torch and diffusers (pip install 'imagenet-e[generation]')") from None
    from diffusers.pipelines import pipeline_utils

    local = Path(model).expanduser()
    if local.exists():
        model = str(local)
    elif model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model:
        # A path, not a Hub id ("org/name"): say so instead of asking the Hub for it.
        raise ValueError(f"inpainting pipeline folder {model} does not exist")

    # Newer diffusers take ``dtype=`` and warn about ``torch_dtype=``; older ones only know the latter.
    key = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"
    try:
        pipe = AutoPipelineForInpainting.from_pretrained(model, **{key: torch_dtype(dtype)})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot load an inpainting pipeline from {model!r} (a diffusers folder with model_index.json, "
                         f"or a Hub id): {exc}") from None
    if getattr(pipe, "safety_checker", None) is not None:
        pipe.safety_checker = None  # backgrounds of benchmark photos, not generated content to screen
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class DiffusersInpainter(HoleInpainter):
    """Fill the hole with a ``diffusers`` inpainting pipeline (see the module docstring)."""

    def __init__(self, model: str, dilation: int | None = None, growth: Growth | str = Growth.ADAPTIVE,
                 structure: bool | None = False, steps: int = DEFAULT_STEPS, prompt: str = DEFAULT_PROMPT,
                 guidance_scale: float = 1.0, seed: int = 0, device: str | DeviceChoice = DeviceChoice.AUTO,
                 dtype: str | DtypeChoice = DtypeChoice.AUTO):
        # A learned model brings its own structure: the low-frequency guide is off unless asked for.
        super().__init__(dilation, growth, structure)
        if int(steps) < 1:
            raise ValueError(f"diffusers inpainter: steps must be >= 1, got {steps}")
        self.model = str(model)
        self.name = f"diffusers:{self.model}"
        self.steps = int(steps)
        self.prompt = str(prompt)
        self.guidance_scale = float(guidance_scale)
        self.seed = int(seed)
        self.device = choose_device(device)
        # Not choose_dtype's auto (bf16 where supported): inpainting pipelines are published and run in fp16.
        self.dtype = parse_dtype(dtype)
        if self.dtype is DtypeChoice.AUTO:
            self.dtype = DtypeChoice.FP16 if self.device.startswith("cuda") else DtypeChoice.FP32
        # Load now (cached per process): a wrong id or folder fails the command at once with its name,
        # instead of every photo being skipped later as "preparing the photo failed".
        load_inpainting_pipeline(self.model, self.device, self.dtype)

    def record(self) -> dict[str, Any]:
        return {**super().record(), "model": self.model, "steps": self.steps, "prompt": self.prompt,
                "guidance_scale": self.guidance_scale, "seed": self.seed, "dtype": self.dtype.value}

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        import torch
        from PIL import Image

        pipe = load_inpainting_pipeline(self.model, self.device, self.dtype)
        h, w = hole.shape
        # The pipelines work on multiples of 8 (the VAE's downsampling); resize there and back.
        ph, pw = max(8, -(-h // 8) * 8), max(8, -(-w // 8) * 8)
        photo = Image.fromarray(image).resize((pw, ph), Image.BICUBIC)
        mask = Image.fromarray(hole.astype(np.uint8) * 255).resize((pw, ph), Image.NEAREST)
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        out = pipe(prompt=self.prompt, image=photo, mask_image=mask, height=ph, width=pw,
                   num_inference_steps=self.steps, guidance_scale=self.guidance_scale, generator=generator,
                   output_type="np").images[0]
        out = np.clip(np.rint(np.asarray(out, np.float32) * 255), 0, 255).astype(np.uint8)
        if out.shape[:2] != (h, w):
            out = np.asarray(Image.fromarray(out).resize((w, h), Image.BICUBIC))
        return out
