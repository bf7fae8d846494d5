"""``position``: the object moved to a uniformly random place fully inside the frame.

The object is the box ``options.object_box`` picks: the authors move the bounding box of the mask's
largest contour (the mask pixels inside it; other parts of the mask are left out), the corrected
protocol the whole mask's box. The move is made on the photo at its own resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditContext, EditSpec, Subset, register_attribute


@dataclass(frozen=True)
class PositionSpec(EditSpec):
    """A new top-left corner uniform in ``[0, W - w] x [0, H - h]`` (drawn from the row's seed)."""

    attribute: ClassVar[str] = "position"

    def level(self) -> str:
        return "random"


@register_attribute
class Position(AttributePlugin):
    name = "position"
    description = "Object position: the object moved to a random place in the frame; its old place becomes background."
    spec_types = (PositionSpec,)
    harmonizable = True
    colour = "#009E73"
    order = 30

    def subsets(self) -> tuple[Subset, ...]:
        return (self.subset(PositionSpec(), "Object moved to a uniformly random place, fully inside the frame.",
                            alias="rp", benchmark=True),)

    def plan(self, ctx: EditContext, spec: EditSpec):
        from ..seeding import rng_for
        from ..transforms import move_random

        image, mask = ctx.transform_input()
        return ctx.from_transform(move_random(image, mask, rng_for(ctx.seed), ctx.options.object_box))
