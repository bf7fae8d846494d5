"""Blended-diffusion background editor with complexity and adversarial guidance (the paper's background edit).

An ADM-style pixel-space ``diffusers.UNet2DModel`` with learned sigma re-synthesises the background
of each request, SDEdit-style from its clean background. Each step from respaced index i to i−1
shifts the mean down the gradient of a guidance loss on the predicted clean image x̂0,

    L = −λ · mean|FFT2((x̂0 + 1) / 2)| + range_scale · mean((x̂0 − clamp(x̂0, −1, 1))²)
    μ ← μ − Σ · ∇_{x_t} L

plus, for adversarial requests, the authors' ``class_guided`` term taken on a *detached* x̂0
(the gradient does not go back through the UNet):

    μ ← μ − Σ · adv_scale · ∇_{x̂0'} log p_classifier(y | x̂0'),   x̂0' = x̂0.detach()

then samples x_{i−1} and re-imposes the object region at the noise level of the step's own index i
(the authors' ``postprocess_fn`` calls ``q_sample(object, t)`` with the t of the step just taken):

    x_{i−1} ← x_{i−1} ⊙ m_bg + q_sample(object_image, i) ⊙ (1 − m_bg)

The result is the last x̂0 with the object pixels pasted back exactly, turned into 8 bits by the
request's ``rounding`` (the authors truncate).

A whole batch goes through each UNet call, but every random draw comes from a per-request
``torch.Generator`` seeded by ``request.seed`` (drawn on the CPU, so a seed means the same noise on
any device; all of a batch's draws are made up front and copied to the device once, so no step waits
for a CPU -> GPU copy). A request gives the same image alone or in any batch wherever the UNet's
kernels are batch-invariant (CPU fp32: pinned by the tests).

Precision and reproducibility. In bf16 / fp16 the frozen UNet is cast to that dtype once (autocast
would recast its weights at every forward: it caches casts only of weights that require grad) and
runs under autocast so normalisations stay fp32; activations are channels_last on CUDA. The
guidance gradient through the UNet is taken of the loss times a loss scale in fp16 (halved and
retried on overflow), so small gradients do not round to zero in fp16 activations (the authors'
precision). The adversarial classifier always runs in fp32 outside autocast (in bf16 its gradient
has a cosine of only ~0.8 with fp32) and one request at a time, so its reduction order does not
depend on the batch; on CUDA cuDNN is set deterministic during an edit. What stays
nondeterministic on CUDA: ops of the classifier whose backward uses atomics (adaptive average pooling
in most CNNs) and of the UNet's attention; the classifiers of :mod:`generation.guidance_classifier`
resize by matrix products, which are deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from imagenet_e_dataset.runtime import choose_device, choose_dtype, torch_dtype
from imagenet_e_dataset.vocab import DeviceChoice, DtypeChoice

from .diffusion_schedule import RespacedSchedule
from .interfaces import BackgroundEditRequest, ClassifierFn, Rounding, register_background_editor

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


def unet_sample_size(unet: "str | os.PathLike[str] | Any") -> int | None:
    """The square ``sample_size`` of a UNet (folder, Hub id or instance) from its config alone; None if unset.

    The working resolution of the diffusion backend defaults to it (256 for the paper's model).
    """
    from diffusers import UNet2DModel

    if isinstance(unet, UNet2DModel):
        config = unet.config
    elif isinstance(unet, (str, os.PathLike)):
        source = _unet_source(unet)
        try:
            config = UNet2DModel.load_config(source)
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"cannot read the config of a diffusers UNet2DModel at {os.fspath(unet)!r}: {exc}") from exc
    else:
        raise ValueError(f"unet must be a path, a Hub id or a diffusers UNet2DModel, got {type(unet).__name__}")
    size = config.get("sample_size") if isinstance(config, dict) else getattr(config, "sample_size", None)
    if isinstance(size, (list, tuple)):
        if len(size) != 2 or size[0] != size[1]:
            raise ValueError(f"UNet sample_size {size} is not square; pass the working resolution explicitly")
        size = size[0]
    return None if size is None else int(size)


def _unet_source(unet: "str | os.PathLike[str]") -> str:
    """The UNet's folder or Hub id; a path-looking argument that does not exist is a local error at once."""
    from imagenet_e_dataset.local_paths import looks_like_local_path

    source = os.fspath(unet)
    if not os.path.isdir(source) and looks_like_local_path(source):
        raise FileNotFoundError(f"cannot load a diffusers UNet2DModel from {source!r}: no such folder "
                                "(it looks like a local path, so the Hub was not asked)")
    return source


def _load_unet(unet: "str | os.PathLike[str] | Any") -> tuple[Any, str]:
    from diffusers import UNet2DModel

    if isinstance(unet, UNet2DModel):
        return unet, getattr(unet.config, "_name_or_path", "") or "<in-memory UNet2DModel>"
    if isinstance(unet, (str, os.PathLike)):
        source = _unet_source(unet)
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
        device: str | DeviceChoice = DeviceChoice.AUTO,
        dtype: str | DtypeChoice = DtypeChoice.AUTO,
        classifier: ClassifierFn | None = None,
        adv_scale: float = 0.0,
        range_scale: float = 50.0,
        batch_size: int | str = 8,
        progress: bool = True,
    ) -> None:
        auto_batch = isinstance(batch_size, str) and batch_size.strip().lower() == "auto"
        try:
            batch_size = 0 if auto_batch else int(batch_size)  # options may arrive as CLI strings
        except (TypeError, ValueError):
            raise ValueError(f"batch_size must be an integer >= 1 or 'auto', got {batch_size!r}") from None
        if not auto_batch and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or 'auto', got {batch_size}")
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
        # Frozen weights are cast once (autocast casts only weights that require grad from its cache, so
        # fp32 weights would be recast at every forward); the input, and so its gradient, stays fp32.
        self.unet = model.to(self.device, dtype=self.dtype).eval().requires_grad_(False)
        if self.device.type == "cuda":
            self.unet = self.unet.to(memory_format=torch.channels_last)
        if isinstance(classifier, torch.nn.Module):
            # Only the gradient with respect to the image is needed, never the classifier's own.
            classifier = classifier.to(self.device).eval().requires_grad_(False)
        self.classifier = classifier
        # "auto": from the GPU's free memory, measured on the first request (see _auto_batch); 8 on a CPU.
        self.batch_size: int | None = None if auto_batch and self.device.type == "cuda" else (batch_size or 8)
        self.progress = progress
        self.schedule = RespacedSchedule.build(self.settings.num_train_steps, self.settings.respaced_steps)

    @property
    def sample_size(self) -> int | None:
        """The UNet's square ``sample_size`` (the default working resolution with this backend)."""
        return unet_sample_size(self.unet)

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
            "sampler": "ddpm-ancestral, learned-range sigma, blended at the step's own t",
            "adversarial_gradient": "class_guided: -adv_scale * grad of log p(y | x0) w.r.t. detached x0",
            "clip_denoised": self.settings.clip_denoised,
            "range_scale": self.settings.range_scale,
            "adv_scale": self.settings.adv_scale,
            "classifier": None if self.classifier is None else getattr(self.classifier, "name", type(self.classifier).__name__),
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def edit(self, requests: Sequence[BackgroundEditRequest],
             progress: Callable[[float], None] | None = None) -> list[np.ndarray]:
        for i, request in enumerate(requests):
            self._check(request, i)
        # Same-size requests share a UNet call; each group keeps the caller's order.
        groups: dict[tuple[int, int], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(request.image.shape[:2], []).append(i)
        out: list[np.ndarray | None] = [None] * len(requests)
        if self.batch_size is None and requests:
            first = next(iter(groups.values()))[0]
            out[first] = self._auto_batch(requests[first])
            if progress is not None:
                progress(1.0)
            groups = {k: [i for i in idx if i != first] for k, idx in groups.items()}
        chunks = [idx[s : s + self.batch_size] for idx in groups.values() for s in range(0, len(idx), self.batch_size)]
        from tqdm.auto import tqdm

        for chunk in tqdm(chunks, desc="diffusion edit", unit="batch", disable=not self.progress or len(chunks) < 2):
            for i, image in zip(chunk, self._edit_batch([requests[i] for i in chunk])):
                out[i] = image
            if progress is not None:
                progress(float(len(chunk)))
        return out  # type: ignore[return-value]

    # -- internals ----------------------------------------------------------------------------------

    def _auto_batch(self, request: BackgroundEditRequest) -> np.ndarray:
        """Edit one request alone, measuring its peak GPU memory, and size batches from the free memory.

        The result is kept (a request gives the same image alone or in a batch). A guided step keeps the
        UNet's activations for the backward pass (~4.2 GiB per 256x256 image for ADM-256), so a fixed
        batch of 32 needs ~138 GiB: the batch is what the free memory holds instead.
        """
        torch.cuda.synchronize(self.device)
        before = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        (edited,) = self._edit_batch([request])
        per_image = torch.cuda.max_memory_allocated(self.device) - before
        free, _ = torch.cuda.mem_get_info(self.device)
        self.batch_size = batch_size_for(free, per_image)
        return edited

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

    def _deterministic(self):
        """cuDNN picks deterministic kernels during an edit (restored after)."""
        if self.device.type != "cuda":
            return nullcontext()
        return _cudnn_deterministic()

    def _guidance_grad(self, loss: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
        """∂loss/∂x_in; in fp16 through a loss scale (halved on overflow) so small gradients survive fp16."""
        if self.dtype != torch.float16:
            return torch.autograd.grad(loss, x_in)[0]
        return scaled_input_grad(loss, x_in)

    def _edit_batch(self, requests: list[BackgroundEditRequest]) -> list[np.ndarray]:
        s, sched, dev = self.settings, self.schedule, self.device
        gens = [torch.Generator().manual_seed(int(r.seed) & 0xFFFF_FFFF_FFFF_FFFF) for r in requests]
        shape = (3, *requests[0].image.shape[:2])

        # Every draw of the batch up front (one per request from its own generator, so batch composition never
        # changes a request's noise; the start, then two per step), copied to the device once.
        draws = 1 + 2 * s.steps
        drawn = torch.stack([torch.stack([torch.randn(shape, generator=g) for _ in range(draws)]) for g in gens], 1)
        if dev.type == "cuda":
            drawn = drawn.pin_memory()
        drawn = drawn.to(dev, non_blocking=True)
        next_draw = iter(drawn)

        def noise() -> torch.Tensor:
            return next(next_draw)

        def to_tensor(arrays: list[np.ndarray]) -> torch.Tensor:
            x = torch.from_numpy(np.stack(arrays)).to(dev).permute(0, 3, 1, 2).float()
            return x / 127.5 - 1.0

        image = to_tensor([r.image for r in requests])  # the object image (object in its place)
        background = to_tensor([r.background for r in requests])
        region = torch.from_numpy(np.stack([r.region() for r in requests])).to(dev)[:, None].float()
        lam = torch.tensor([float(r.lam) for r in requests], device=dev)
        adv_rows = [i for i, r in enumerate(requests) if r.adversarial]
        adv_labels = torch.tensor([int(requests[i].label) for i in adv_rows], device=dev, dtype=torch.long)
        class_labels = None
        if self.unet.config.num_class_embeds is not None:
            class_labels = torch.tensor([int(r.label) for r in requests], device=dev, dtype=torch.long)
        needs_grad = s.range_scale > 0 or bool(lam.abs().max() > 0)

        first = s.steps - 1
        x = sched.q_sample(background, first, noise())
        pred_x0 = background
        for index in range(first, -1, -1):
            t = torch.full((len(requests),), int(sched.timestep_map[index]), device=dev, dtype=torch.long)
            with torch.enable_grad() if needs_grad else torch.no_grad():
                x_in = x.detach().requires_grad_(needs_grad)
                unet_in = x_in.contiguous(memory_format=torch.channels_last) if dev.type == "cuda" else x_in
                with self._autocast(), self._deterministic():
                    model_out = self.unet(unet_in, t, class_labels=class_labels).sample
                mean, log_var, pred_x0 = sched.p_mean_variance(model_out.float(), x_in, index, s.clip_denoised)
                if needs_grad:
                    grad = self._guidance_grad(self._guidance_loss(pred_x0, lam), x_in)
                    mean = mean.detach() - log_var.detach().exp() * grad
            mean, log_var, pred_x0 = mean.detach(), log_var.detach(), pred_x0.detach()
            if adv_rows:
                # class_guided: the gradient is taken on the detached x̂0, not through the UNet.
                adv = self._class_guided(pred_x0[adv_rows], adv_labels)
                mean = mean.clone()
                mean[adv_rows] = mean[adv_rows] + log_var[adv_rows].exp() * adv
            step_noise = noise()
            x = mean + (0.5 * log_var).exp() * step_noise if index > 0 else mean
            # The step went from index to index-1; the object is re-imposed at the noise level of `index`.
            x = x * region + sched.q_sample(image, index, noise()) * (1 - region)

        x01 = ((pred_x0 + 1) / 2).clamp(0, 1) * 255
        floor = torch.tensor([r.rounding is Rounding.FLOOR for r in requests], device=dev)[:, None, None, None]
        levels = torch.where(floor, x01.floor(), x01.round())
        out = levels.clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        results = []
        for r, edited in zip(requests, out):
            edited = edited.copy()
            edited[r.object_mask] = r.image[r.object_mask]
            results.append(edited)
        return results

    def _guidance_loss(self, pred_x0: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """Sum over the batch of each request's loss, so ∂/∂x_t gives every request its own gradient."""
        s = self.settings
        per_request = -lam * fft_complexity((pred_x0 + 1) / 2)
        if s.range_scale > 0:
            per_request = per_request + s.range_scale * (pred_x0 - pred_x0.clamp(-1, 1)).pow(2).flatten(1).mean(1)
        return per_request.sum()

    def _class_guided(self, pred_x0: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The authors' ``class_guided``: −adv_scale · ∇_{x̂0'} log p(y | x̂0') for a detached x̂0'.

        The classifier sees (x̂0' + 1) / 2, unclamped (the authors feed x̂0 as it is), so the gradient
        reaches every pixel. It runs in fp32 outside the UNet's autocast, one request at a time: the
        reduction order of its forward and backward is then the same alone or in any batch.
        """
        grads = []
        with torch.enable_grad(), torch.autocast(device_type=self.device.type, enabled=False), self._deterministic():
            for row in range(pred_x0.shape[0]):
                x0 = pred_x0[row:row + 1].detach().float().requires_grad_(True)
                logits = self.classifier((x0 + 1) / 2)
                log_p = torch.log_softmax(logits.float(), dim=-1)[0, labels[row]]
                grads.append(torch.autograd.grad(log_p, x0)[0])
        return -self.settings.adv_scale * torch.cat(grads)


def batch_size_for(free_bytes: int, per_image_bytes: int, *, headroom: float = 0.8, cap: int = 64) -> int:
    """Requests per UNet call that fit ``headroom`` of ``free_bytes`` at ``per_image_bytes`` each (1..cap).

    >>> gib = 2**30
    >>> batch_size_for(70 * gib, int(4.2 * gib)), batch_size_for(130 * gib, int(4.2 * gib)), batch_size_for(gib, 4 * gib)
    (13, 24, 1)
    """
    return max(1, min(cap, int(headroom * free_bytes // max(1, per_image_bytes))))


class _cudnn_deterministic:
    """Context: ``torch.backends.cudnn`` deterministic and not benchmarking, restored on exit."""

    def __enter__(self) -> None:
        cudnn = torch.backends.cudnn
        self._saved = (cudnn.deterministic, cudnn.benchmark)
        cudnn.deterministic, cudnn.benchmark = True, False

    def __exit__(self, *exc: object) -> None:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = self._saved


def scaled_input_grad(loss: torch.Tensor, x_in: torch.Tensor, scale: float = 2.0 ** 16, min_scale: float = 1.0) -> torch.Tensor:
    """∂loss/∂x_in taken of ``loss * scale`` and divided back (fp32 result).

    fp16 activations flush gradients below ~6e-8 to zero on the way back; scaling the loss lifts them
    into range, as ``torch.amp.GradScaler`` does for weights. On overflow (an inf or nan) the scale is
    halved and the backward retried, down to ``min_scale``.
    """
    while True:
        (grad,) = torch.autograd.grad(loss * scale, x_in, retain_graph=scale > min_scale)
        if bool(torch.isfinite(grad).all()) or scale <= min_scale:
            return grad.float() / scale
        scale /= 2
