"""Object removal: fill the object's region so that a clean, object-free background remains.

The official pipeline uses the TFill ImageNet model; any inpainter fits behind :class:`Inpainter`.
Backends registered here:

- ``"patchmatch"`` (default, offline): PatchMatch texture synthesis (``patchmatch-cython``), multi-scale;
- ``"layered"`` (the ``corrected`` protocol's): PatchMatch texture over Telea's (edge) and push-pull's (deep)
  low frequencies in a tight hole (the halo, the cast shadow and 1 px); better than ``patchmatch`` on every
  score of ``benchmarks/bench_removal.py``;
- ``"opencv"``: ``cv2.inpaint`` (Telea), a fast smooth fallback;
- ``"diffusers:<hub id or folder>"``: a learned inpainting pipeline loaded through ``diffusers``
  (:mod:`generation.inpaint_diffusers`), e.g. a Stable Diffusion inpainting checkpoint.

Every backend fills the same hole, made by :mod:`generation.hole`: the mask grown into the object's
halo and by a rim proportional to the object's size (``growth="fixed"`` keeps the earlier fixed
3 px, for comparison). The backend receives the image with the hole already filled from the
background around it, so no object pixel can be copied into the fill; a large hole then takes its
low frequencies from a structure guide that continues the surrounding background. Only pixels
inside the hole change.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from imagenet_e_dataset.named_registry import NamedRegistry

from .hole import Growth, HoleInpainter, Structure, dilate, fixed_dilation  # noqa: F401 - re-exported


@runtime_checkable
class Inpainter(Protocol):
    """``inpaint(image uint8 (H, W, 3), mask bool (H, W)) -> uint8 (H, W, 3)``: fill ``mask``."""

    name: str

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


_INPAINTERS: NamedRegistry[Callable[..., Inpainter]] = NamedRegistry("inpainter")
register_inpainter = _INPAINTERS.register
"""Class/function decorator adding an inpainter factory under a name."""


def available_inpainters() -> tuple[str, ...]:
    """Registered names (``diffusers:<id>`` is accepted besides them)."""
    return tuple(sorted(_INPAINTERS.names()))


DIFFUSERS_PREFIX = "diffusers:"


def make_inpainter(name: str | Inpainter, **options: Any) -> Inpainter:
    """Build an inpainter: a registered name, ``diffusers:<hub id or folder>``, or an :class:`Inpainter` as is.

    ``None`` values in ``options`` mean "the backend's default" and are dropped.
    """
    if not isinstance(name, str):
        if isinstance(name, Inpainter):
            return name
        raise ValueError(f"inpainter must be a name or an Inpainter, got {type(name).__name__}")
    options = {k: v for k, v in options.items() if v is not None}
    if name.startswith(DIFFUSERS_PREFIX):
        from .inpaint_diffusers import DiffusersInpainter

        model = name[len(DIFFUSERS_PREFIX):].strip()
        if not model:
            raise ValueError("--inpainter diffusers:<hub id or folder> needs the inpainting pipeline after 'diffusers:'")
        return DiffusersInpainter(model, **options)
    return _INPAINTERS.get(name)(**options)


def describe_removal(name: str) -> str:
    """What the inpainter registered as ``name`` removes and how, for the dataset card (no model is loaded)."""
    if name.startswith(DIFFUSERS_PREFIX):
        return f"the diffusers inpainting pipeline `{name[len(DIFFUSERS_PREFIX):]}` fills {HoleInpainter.removal}"
    factory = _INPAINTERS.get(name)
    return f"`{name}` fills {getattr(factory, 'removal', HoleInpainter.removal)}"


def default_dilation(shape: tuple[int, ...]) -> int:
    """The earlier fixed halo margin (``growth="fixed"``): ~1.2 % of the longer side, at least 3."""
    return fixed_dilation(shape)


_DilatingInpainter = HoleInpainter  # the earlier name


@register_inpainter("patchmatch")
class PatchMatchInpainter(HoleInpainter):
    """Multi-scale PatchMatch texture synthesis; deterministic for a given ``seed``."""

    name = "patchmatch"

    def __init__(self, dilation: int | None = None, patch_size: int = 5, seed: int = 0, **hole: Any):
        super().__init__(dilation, **hole)
        self.patch_size = patch_size
        self.seed = seed

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        from patchmatch_cython import inpaint_pyramid

        return inpaint_pyramid(image, hole, patch_size=self.patch_size, seed=self.seed)


@register_inpainter("layered")
class LayeredInpainter(PatchMatchInpainter):
    """PatchMatch texture on Telea's structure, in the tight hole (``Growth.TIGHT``, ``Structure.TELEA``).

    Against ``patchmatch`` (adaptive hole, push-pull structure) it keeps the true background around the
    object (1 px rim instead of ~3.5 % of the object's side), and its fill meets the hole's edge in
    colour instead of leaving a tinted blob or an outline (``docs/removal-and-masks.md``).
    """

    name = "layered"
    removal = ("the object's mask grown by its halo, its cast shadow and 1 px, from the background around it only: "
               "PatchMatch texture over the low frequencies of a Telea fill near the hole's edge and of a push-pull "
               "membrane deep inside")

    def __init__(self, dilation: int | None = None, patch_size: int = 5, seed: int = 0,
                 growth: Growth | str = Growth.TIGHT, structure: Structure | str | bool | None = None, **hole: Any):
        super().__init__(dilation, patch_size, seed, growth=growth, structure=structure, **hole)


@register_inpainter("opencv")
class OpenCVInpainter(HoleInpainter):
    """``cv2.inpaint`` with the Telea method: smooth fill, no texture; fast."""

    name = "opencv"

    def __init__(self, dilation: int | None = None, radius: int = 5, **hole: Any):
        super().__init__(dilation, **hole)
        self.radius = radius

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8) * 255, self.radius, cv2.INPAINT_TELEA)
