"""An example attribute plug-in for imagenet-e: the background blurred, the object kept sharp.

A shallow depth of field is a natural shift the classifier may meet: the object stays exactly as
it is and everything behind it is blurred with a Gaussian of standard deviation ``sigma`` pixels
(at the 256x256 working resolution). Load it with ``--plugin examples/plugins/background_blur.py``
on ``edit``, ``generate``, ``evaluate`` and ``leaderboard``, or install it with an entry point in
the group ``imagenet_e.attributes``. It publishes ``blur_2``, ``blur_4`` and ``blur_8``; any other
sigma is a ``BlurSpec(sigma=...)``.

The file has the two halves of every attribute: the declaration (the spec and the configs, from
``imagenet_e_dataset``: enough to read and score a dataset made with it) and the planner (how an edit
is made, from ``generation.attributes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from generation.attributes import AttributePlanner, EditContext, register_planner
from imagenet_e_dataset.attributes import AttributePlugin, EditSpec, format_number
from imagenet_e_dataset.registry import register_attribute


@dataclass(frozen=True)
class BlurSpec(EditSpec):
    """Gaussian blur of the background with standard deviation ``sigma`` (pixels, > 0)."""

    attribute: ClassVar[str] = "blur"
    sigma: float

    def __post_init__(self) -> None:
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float)) or not math.isfinite(self.sigma) \
                or not 0 < self.sigma <= 64:
            raise ValueError(f"BlurSpec.sigma must be a number in (0, 64] pixels, got {self.sigma!r}")
        object.__setattr__(self, "sigma", float(self.sigma))

    def level(self) -> str:
        return format_number(self.sigma)


@register_attribute
class BackgroundBlur(AttributePlugin):
    name = "blur"
    description = "Background blur: everything but the object blurred (a shallow depth of field)."
    spec_types = (BlurSpec,)
    keeps_object_pixels = True  # only the background is blurred

    def subsets(self):
        return tuple(self.subset(BlurSpec(s), f"Background blurred with a Gaussian of sigma {s} px.") for s in (2, 4, 8))


@register_planner("blur")
class BackgroundBlurPlanner(AttributePlanner):
    def plan(self, ctx: EditContext, spec: EditSpec):
        import numpy as np
        from PIL import Image, ImageFilter

        src = ctx.source
        blurred = np.asarray(Image.fromarray(src.image).filter(ImageFilter.GaussianBlur(spec.sigma)))
        image = np.where(src.object_mask[..., None], src.image, blurred)
        return ctx.finished(image, src.object_mask, {**ctx.params, "sigma": spec.sigma})
