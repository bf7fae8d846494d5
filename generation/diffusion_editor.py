"""Blended-diffusion background editor with complexity and adversarial guidance (the paper's background edit).

An ADM-style pixel-space ``diffusers.UNet2DModel`` with learned sigma re-synthesises the background
of each request, SDEdit-style from its clean background, while the object region is re-imposed
after every step at the matching noise level. Every step's mean is shifted down the gradient of a
guidance loss on the predicted clean image x̂0:

    L = −λ · mean|FFT2((x̂0 + 1) / 2)| + range_scale · mean((x̂0 − clamp(x̂0, −1, 1))²)
        [ + adv_scale · log p_classifier(y | x̂0)  for adversarial requests ]

A whole batch goes through each UNet call, but every random draw comes from a per-request
``torch.Generator`` seeded by ``request.seed`` (drawn on the CPU, so a seed means the same noise on
any device); a request therefore gives the same image alone or in any batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
import torch

from imagenet_e_dataset.runtime import choose_device, choose_dtype, torch_dtype

from .diffusion_schedule import RespacedSchedule
from .interfaces import BackgroundEditRequest, ClassifierFn, register_background_editor

DeviceName = str
DtypeName = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class DiffusionEditSettings:
    """Everything that determines an edit besides the UNet weights and the requests."""

    steps: int = 10
    respaced_steps: int = 100
    num_train_steps: int = 1000
    range_scale: float = 50.0
    adv_scale: float = 0.0
    # Blended diffusion samples without clipping x̂0 so the range loss sees (and corrects) overshoot.
    clip_denoised: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.respaced_steps <= self.num_train_steps:
            raise ValueError(f"respaced_steps must be in [1, {self.num_train_steps}], got {self.respaced_steps}")
        if not 1 <= self.steps <= self.respaced_steps:
            raise ValueError(f"steps must be in [1, respaced_steps={self.respaced_steps}], got {self.steps}")
        if self.range_scale < 0 or self.adv_scale < 0:
            raise ValueError(f"range_scale and adv_scale must be >= 0, got {self.range_scale}, {self.adv_scale}")


def fft_complexity(images01: torch.Tensor) -> torch.Tensor:
    """Per-image mean |DFT| over channels and frequencies, DC included (official ``HighFrequencyLoss``)."""
    return torch.fft.fft2(images01.float()).abs().flatten(1).mean(1)


def _load_unet(unet: "str | os.PathLike[str] | Any") -> tuple[Any, str]:
    from diffusers import UNet2DModel

    if isinstance(unet, UNet2DModel):
        return unet, getattr(unet.config, "_name_or_path", "") or "<in-memory UNet2DModel>"
    if isinstance(unet, (str, os.PathLike)):
        source = os.fspath(unet)
        from imagenet_e_dataset.local_paths import looks_like_local_path

        if not os.path.isdir(source) and looks_like_local_path(source):
            raise FileNotFoundError(f"cannot load a diffusers UNet2DModel from {source!r}: no such folder "
                                    "(it looks like a local path, so the Hub was not asked)")
        try:
            return UNet2DModel.from_pretrained(source), source
        except OSError as exc:
            raise FileNotFoundError(f"cannot load a diffusers UNet2DModel from {source!r}: {exc}") from exc
    raise ValueError(f"unet must be a path, a Hub id or a diffusers UNet2DModel, got {type(unet).__name__}")


@register_background_editor("diffusion")
class DiffusionBackgroundEditor:
    """The ``"diffusion"`` :class:`~generation.interfaces.BackgroundEditor` backend: blended diffusion
    around a learned-sigma ``UNet2DModel`` (folder, Hub id or instance)."""

    name = "diffusion"

    def __init__(
        self,
        unet: "str | os.PathLike[str] | Any",
        steps: int = 10,
        respaced_steps: int = 100,
        device: DeviceName = "auto",
        dtype: DtypeName = "auto",
        classifier: ClassifierFn | None = None,
        adv_scale: float = 0.0,
        range_scale: float = 50.0,
        batch_size: int = 8,
        progress: bool = True,
    ) -> None:
        batch_size = int(batch_size)  # options may arrive as CLI strings
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.settings = DiffusionEditSettings(
            steps=int(steps), respaced_steps=int(respaced_steps), range_scale=float(range_scale), adv_scale=float(adv_scale)
        )
        self.device = torch.device(choose_device(device))
        self.dtype = torch_dtype(choose_dtype(dtype, self.device))
        model, self.unet_source = _load_unet(unet)
        if model.config.out_channels != 2 * model.config.in_channels:
            raise ValueError(
                f"UNet {self.unet_source!r} has out_channels={model.config.out_channels}; the editor needs a "
                f"learned-sigma model with 2 × in_channels = {2 * model.config.in_channels} (ε and v)"
            )
        # Weights stay fp32 (autocast handles low precision), so the guidance gradient accumulates in fp32.
        self.unet = model.to(self.device).eval().requires_grad_(False)
        if self.device.type == "cuda":
            self.unet = self.unet.to(memory_format=torch.channels_last)
        if isinstance(classifier, torch.nn.Module):
            # Only the gradient with respect to the image is needed, never the classifier's own.
            classifier = classifier.to(self.device).eval().requires_grad_(False)
        self.classifier = classifier
        self.batch_size = int(batch_size)
        self.progress = progress
        self.schedule = RespacedSchedule.build(self.settings.num_train_steps, self.settings.respaced_steps)

    # -- BackgroundEditor ---------------------------------------------------------------------------

    def provenance(self) -> dict[str, Any]:
        config = {k: v for k, v in dict(self.unet.config).items() if not k.startswith("_")}
        config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return {
            "backend": self.name,
            "unet": self.unet_source,
            "unet_config_sha256_16": config_hash,
            "schedule": "linear",
            "num_train_steps": self.settings.num_train_steps,
            "respaced_steps": self.settings.respaced_steps,
            "steps": self.settings.steps,
            "sampler": "ddpm-ancestral, learned-range sigma, blended",
            "clip_denoised": self.settings.clip_denoised,
            "range_scale": self.settings.range_scale,
            "adv_scale": self.settings.adv_scale,
            "classifier": None if self.classifier is None else getattr(self.classifier, "name", type(self.classifier).__name__),
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def edit(self, requests: Sequence[BackgroundEditRequest]) -> list[np.ndarray]:
        for i, request in enumerate(requests):
            self._check(request, i)
        # Same-size requests share a UNet call; each group keeps the caller's order.
        groups: dict[tuple[int, int], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(request.image.shape[:2], []).append(i)
        chunks = [idx[s : s + self.batch_size] for idx in groups.values() for s in range(0, len(idx), self.batch_size)]
        out: list[np.ndarray | None] = [None] * len(requests)
        from tqdm.auto import tqdm

        for chunk in tqdm(chunks, desc="diffusion edit", unit="batch", disable=not self.progress or len(chunks) < 2):
            for i, image in zip(chunk, self._edit_batch([requests[i] for i in chunk])):
                out[i] = image
        return out  # type: ignore[return-value]

    # -- internals ----------------------------------------------------------------------------------

    def _check(self, r: BackgroundEditRequest, i: int) -> None:
        h, w = r.image.shape[:2]
        if r.image.dtype != np.uint8 or r.image.ndim != 3 or r.image.shape[2] != 3:
            raise ValueError(f"request {i}: image must be uint8 (H, W, 3), got {r.image.dtype} {r.image.shape}")
        # Each down block halves the feature map and the up path concatenates skips of the same size,
        # so other sizes fail deep inside diffusers with a tensor-shape error.
        factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
        if h % factor or w % factor:
            raise ValueError(
                f"request {i}: image is {w}x{h}, but the UNet {self.unet_source!r} downsamples by {factor}, so both "
                f"sides must be multiples of {factor} (e.g. --edit-option resolution=256)"
            )
        if r.background.shape != r.image.shape or r.background.dtype != np.uint8:
            raise ValueError(f"request {i}: background must be uint8 {r.image.shape}, got {r.background.dtype} {r.background.shape}")
        for name, mask in (("object_mask", r.object_mask), ("edit_mask", r.edit_mask)):
            if mask is not None and (mask.shape != (h, w) or mask.dtype != np.bool_):
                raise ValueError(f"request {i}: {name} must be bool ({h}, {w}), got {mask.dtype} {mask.shape}")
        if r.adversarial:
            if self.classifier is None or self.settings.adv_scale == 0:
                raise ValueError(f"request {i} is adversarial but the editor has no classifier / adv_scale is 0")
            if r.label is None or not 0 <= int(r.label) < 1000:
                raise ValueError(f"request {i} is adversarial and needs an ImageNet-1k label in [0, 999], got {r.label}")
        if self.unet.config.num_class_embeds is not None and r.label is None:
            raise ValueError(f"request {i}: the UNet is class-conditional and the request has no label")

    def _autocast(self):
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _edit_batch(self, requests: list[BackgroundEditRequest]) -> list[np.ndarray]:
        s, sched, dev = self.settings, self.schedule, self.device
        gens = [torch.Generator().manual_seed(int(r.seed) & 0xFFFF_FFFF_FFFF_FFFF) for r in requests]
        shape = (3, *requests[0].image.shape[:2])

        def noise() -> torch.Tensor:
            # One draw per request from its own generator: batch composition never changes a request's noise.
            return torch.stack([torch.randn(shape, generator=g) for g in gens]).to(dev)

        def to_tensor(arrays: list[np.ndarray]) -> torch.Tensor:
            x = torch.from_numpy(np.stack(arrays)).to(dev).permute(0, 3, 1, 2).float()
            return x / 127.5 - 1.0

        image = to_tensor([r.image for r in requests])
        background = to_tensor([r.background for r in requests])
        region = torch.from_numpy(np.stack([r.region() for r in requests])).to(dev)[:, None].float()
        lam = torch.tensor([float(r.lam) for r in requests], device=dev)
        adv_rows = [i for i, r in enumerate(requests) if r.adversarial]
        adv_labels = torch.tensor([int(requests[i].label) for i in adv_rows], device=dev, dtype=torch.long)
        class_labels = None
        if self.unet.config.num_class_embeds is not None:
            class_labels = torch.tensor([int(r.label) for r in requests], device=dev, dtype=torch.long)
        needs_grad = s.range_scale > 0 or bool(lam.abs().max() > 0) or bool(adv_rows)

        first = s.steps - 1
        x = sched.q_sample(background, first, noise())
        pred_x0 = background
        for index in range(first, -1, -1):
            t = torch.full((len(requests),), int(sched.timestep_map[index]), device=dev, dtype=torch.long)
            with torch.enable_grad() if needs_grad else torch.no_grad():
                x_in = x.detach().requires_grad_(needs_grad)
                with self._autocast():
                    model_out = self.unet(x_in, t, class_labels=class_labels).sample
                mean, log_var, pred_x0 = sched.p_mean_variance(model_out.float(), x_in, index, s.clip_denoised)
                if needs_grad:
                    loss = self._guidance_loss(pred_x0, lam, adv_rows, adv_labels)
                    grad = torch.autograd.grad(loss, x_in)[0]
                    mean = mean.detach() - log_var.detach().exp() * grad
            mean, log_var, pred_x0 = mean.detach(), log_var.detach(), pred_x0.detach()
            step_noise = noise()
            x = mean + (0.5 * log_var).exp() * step_noise if index > 0 else mean
            x = x * region + sched.q_sample(image, index - 1, noise()) * (1 - region)

        out = ((pred_x0 + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        results = []
        for r, edited in zip(requests, out):
            edited = edited.copy()
            edited[r.object_mask] = r.image[r.object_mask]
            results.append(edited)
        return results

    def _guidance_loss(
        self, pred_x0: torch.Tensor, lam: torch.Tensor, adv_rows: list[int], adv_labels: torch.Tensor
    ) -> torch.Tensor:
        """Sum over the batch of each request's loss, so ∂/∂x_t gives every request its own gradient."""
        s = self.settings
        per_request = -lam * fft_complexity((pred_x0 + 1) / 2)
        if s.range_scale > 0:
            per_request = per_request + s.range_scale * (pred_x0 - pred_x0.clamp(-1, 1)).pow(2).flatten(1).mean(1)
        loss = per_request.sum()
        if adv_rows:
            images01 = ((pred_x0[adv_rows] + 1) / 2).clamp(0, 1)
            with self._autocast():
                logits = self.classifier(images01)
            log_p = torch.log_softmax(logits.float(), dim=-1).gather(1, adv_labels[:, None]).squeeze(1)
            loss = loss + s.adv_scale * log_p.sum()
        return loss
