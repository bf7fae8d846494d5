"""``position``: what the move edits are, as a dataset records them.

``PositionSpec()`` is the benchmark's edit (a uniformly random place fully inside the frame);
``PositionSpec(shift=s)`` is a sweep level, the share ``s`` of the way to that place. The move is
planned in :mod:`generation.attributes.position`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditSpec, Subset, format_number, parse_number


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


class Position(AttributePlugin):
    name = "position"
    description = "Object position: the object moved to a random place in the frame; its old place becomes background."
    spec_types = (PositionSpec,)
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
