"""Interfaces the editing toolkit's parts meet at.

The CPU background editor (``generation/cpu_background.py``) and the blended-diffusion editor
(``generation/diffusion_editor.py``) both implement :class:`BackgroundEditor`, so every background
subset (and the hole re-synthesis of the object-transform subsets) runs on either backend, and the
batch pipeline only ever talks to this protocol. Backends are registered by name with
:func:`register_background_editor` and built with :func:`make_background_editor`.

Conventions: images are ``uint8`` arrays ``(H, W, 3)`` RGB; masks are ``bool`` arrays ``(H, W)``,
True on the object.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from imagenet_e_dataset.named_registry import NamedRegistry


class Rounding(str, enum.Enum):
    """How an editor turns its float result into 8-bit pixels."""

    FLOOR = "floor"
    """The authors': ``to_pil_image`` of a float tensor truncates (``x * 255`` then ``byte()``)."""
    ROUND = "round"
    """To the nearest level (no half-level darkening)."""


@dataclass(frozen=True)
class BackgroundEditRequest:
    """One background edit: blended diffusion (or the CPU approximation) re-synthesises the background.

    ``image`` is the object image: the object in its (possibly transformed) place over the clean
    background; its object pixels (``object_mask``) are pasted back exactly at the end.
    ``background`` is the clean, object-free background that starts the edit (SDEdit start).
    ``edit_mask`` is the region that may change (default: everything outside the object).
    """

    image: np.ndarray
    object_mask: np.ndarray
    background: np.ndarray
    lam: float
    seed: int
    adversarial: bool = False
    label: int | None = None
    edit_mask: np.ndarray | None = None
    rounding: Rounding = Rounding.FLOOR
    """How the diffusion editor turns its result into uint8 (the protocol's ``output_rounding``). The cpu
    editor always rounds: it copies pixels it does not move, and truncating their float round trip
    would change some by one level."""

    def region(self) -> np.ndarray:
        return ~self.object_mask if self.edit_mask is None else self.edit_mask


# The built-in background-editor backends (their modules register them on import; see make_background_editor).
BackendName = Literal["cpu", "diffusion"]
BACKENDS: tuple[str, ...] = ("cpu", "diffusion")

# A differentiable guiding classifier: float tensor (N, 3, H, W) in [0, 1] -> ImageNet-1k logits (N, 1000).
ClassifierFn = Callable[[Any], Any]


@runtime_checkable
class BackgroundEditor(Protocol):
    """Edits backgrounds for a batch of requests; returns one uint8 (H, W, 3) image per request.

    Implementations must (a) leave ``image[object_mask]`` byte-identical in the output, (b) give the
    same output for a request whether it is edited alone or in a batch, given its ``seed``.
    """

    name: str

    def edit(self, requests: Sequence[BackgroundEditRequest],
             progress: Callable[[float], None] | None = None) -> list[np.ndarray]:
        """``progress(k)`` reports ``k`` more requests' worth of work done (fractions allowed, so a long
        optimisation moves a bar per iteration); the calls add up to ``len(requests)``."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Settings that determine the output (backend, model id, steps, ...), recorded in the dataset card."""
        ...


_BACKGROUND_EDITORS: NamedRegistry[Callable[..., BackgroundEditor]] = NamedRegistry("background editor backend")
register_background_editor = _BACKGROUND_EDITORS.register
"""Class/function decorator adding a background-editor factory under a name."""


def make_background_editor(name: str, **options: Any) -> BackgroundEditor:
    """Build a registered backend (``"cpu"``, ``"diffusion"``) with its options."""
    import importlib

    # Backends register on import; importing here keeps heavy deps (diffusers) off the default path.
    for module in ("generation.cpu_background", "generation.diffusion_editor"):
        if name not in _BACKGROUND_EDITORS:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
    return _BACKGROUND_EDITORS.get(name)(**options)
