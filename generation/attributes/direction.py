"""``direction``: the object rotated by a random angle; its old place becomes background.

The options choose the authors' rotation (``PIL.Image.rotate`` about the image centre, NEAREST, black
fill, no expand: the object may be clipped or leave the frame, and is unreachable when nothing is
left) or the corrected one (about the object's centre, kept inside the frame, bilinear). The rotation
is made on the photo at its own resolution, as the authors rotate the original before resizing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditContext, EditSpec, Subset, register_attribute


@dataclass(frozen=True)
class DirectionSpec(EditSpec):
    """A rotation by an integer angle uniform in ``[-max_angle, max_angle]`` degrees."""

    attribute: ClassVar[str] = "direction"
    max_angle: int = 45

    def __post_init__(self) -> None:
        if isinstance(self.max_angle, bool) or not isinstance(self.max_angle, int) or not 0 <= self.max_angle <= 180:
            raise ValueError(f"DirectionSpec.max_angle must be an integer in 0..180 degrees, got {self.max_angle!r}")

    def level(self) -> str:
        # The official release calls its ±45° subset "random"; other ranges say their bound.
        return "random" if self.max_angle == 45 else f"random{self.max_angle}"


@register_attribute
class Direction(AttributePlugin):
    name = "direction"
    description = "Object direction: the object rotated by a random angle; its old place becomes background."
    spec_types = (DirectionSpec,)
    harmonizable = True
    colour = "#CC79A7"
    order = 40

    def subsets(self) -> tuple[Subset, ...]:
        return (self.subset(DirectionSpec(), "Object rotated by a random angle.", alias="rd", benchmark=True),)

    def plan(self, ctx: EditContext, spec: EditSpec):
        from ..seeding import rng_for
        from ..transforms import rotate_random

        assert isinstance(spec, DirectionSpec)
        opt = ctx.options
        angle_range = opt.angle_range if opt.angle_range is not None else (-spec.max_angle, spec.max_angle)
        image, mask = ctx.transform_input()
        t = rotate_random(image, mask, rng_for(ctx.seed), angle_range=angle_range, center=opt.rotation_center,
                          keep_inside=opt.rotation_keep_inside, resample=opt.rotation_resample)
        return ctx.from_transform(t)
