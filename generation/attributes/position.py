"""``position``: the object moved to a uniformly random place fully inside the frame.

``PositionSpec()`` is the benchmark's edit: a new top-left corner uniform in ``[0, W - w] x
[0, H - h]``. ``PositionSpec(shift=s)`` is a sweep level: the object moves the fraction ``s`` of
the way from its place to that random corner, drawn once per image for every level, so the
displacement grows with ``s`` along one line.

The object is the box ``options.object_box`` picks: the authors move the bounding box of the mask's
largest contour (the mask pixels inside it; other parts of the mask are left out), the corrected
protocol the whole mask's box. The move is made at the working resolution, on the resized photo and
mask, as the authors do (``image_editor.py`` 224-242: the photo and mask are resized to 256x256 first,
then ``find_bbox`` takes the largest contour's box on the resized mask and ``change_place`` moves those
pixels); the moved pixels are copied exactly, with no second resampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditContext, EditSpec, Subset, format_number, parse_number, register_attribute


@dataclass(frozen=True)
class PositionSpec(EditSpec):
    """A random new place (``shift=None``), or the fraction ``shift`` in [0, 1] of the way to it."""

    attribute: ClassVar[str] = "position"
    shift: float | None = None

    def __post_init__(self) -> None:
        if self.shift is None:
            return
        if isinstance(self.shift, bool) or not isinstance(self.shift, (int, float)) or not math.isfinite(self.shift) \
                or not 0 <= self.shift <= 1:
            raise ValueError(f"PositionSpec.shift must be a number in [0, 1] (share of the way to the new place), "
                             f"got {self.shift!r}")
        object.__setattr__(self, "shift", float(self.shift))

    def level(self) -> str:
        return "random" if self.shift is None else format_number(self.shift)

    def seed_key(self) -> str:
        return self.config_name() if self.shift is None else f"{self.attribute}_sweep"


@register_attribute
class Position(AttributePlugin):
    name = "position"
    description = "Object position: the object moved to a random place in the frame; its old place becomes background."
    spec_types = (PositionSpec,)
    harmonizable = True
    colour = "#009E73"
    order = 30
    sweep_unit = "share of the way to a random new place, in [0, 1]"

    def subsets(self) -> tuple[Subset, ...]:
        return (self.subset(PositionSpec(), "Object moved to a uniformly random place, fully inside the frame.",
                            alias="rp", benchmark=True),)

    def sweep_spec(self, value: float) -> EditSpec:
        return PositionSpec(shift=value)

    def severity(self, spec: EditSpec) -> float | None:
        return spec.shift

    def spec_from_level(self, level: str) -> EditSpec | None:
        if level == "random":
            return PositionSpec()
        shift = parse_number(level)
        return PositionSpec(shift=shift) if shift is not None and 0 <= shift <= 1 else None

    def plan(self, ctx: EditContext, spec: EditSpec):
        from ..seeding import rng_for
        from ..transforms import box_of, move_random, move_to

        assert isinstance(spec, PositionSpec)
        # The working-resolution photo and mask (not ctx.transform_input()): the authors move after the resize.
        image, mask = ctx.source.image, ctx.source.object_mask
        box_kind = ctx.options.object_box
        if spec.shift is None:
            return ctx.from_transform(move_random(image, mask, rng_for(ctx.seed), box_kind))
        target = move_random(image, mask, rng_for(ctx.seed), box_kind).params
        box = box_of(mask, box_kind)
        x0, y0 = box[0], box[1]
        x = int(round(x0 + spec.shift * (target["x"] - x0)))
        y = int(round(y0 + spec.shift * (target["y"] - y0)))
        t = move_to(image, mask, x, y, box=box)
        t.params.update(shift=spec.shift, target=[target["x"], target["y"]], object_box=target["object_box"])
        return ctx.from_transform(t)
