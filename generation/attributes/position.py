"""``position``: the object moved to a uniformly random place fully inside the frame."""

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

        return ctx.from_transform(move_random(ctx.source.image, ctx.source.object_mask, rng_for(ctx.seed)))
