"""``direction``: what the rotation edits are, as a dataset records them.

``DirectionSpec()`` is the benchmark's edit, an angle drawn uniformly from ``[-45, 45]`` degrees
(``max_angle`` changes the range, level ``random<max>``); ``DirectionSpec(angle=a)`` is a sweep level
of ``a`` degrees. The rotation itself is planned in :mod:`generation.attributes.direction`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditSpec, Subset, format_number, parse_number


@dataclass(frozen=True)
class DirectionSpec(EditSpec):
    """A random angle in ``[-max_angle, max_angle]`` (``angle=None``), or ``angle`` degrees in a random sense."""

    attribute: ClassVar[str] = "direction"
    max_angle: int = 45
    angle: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_angle, bool) or not isinstance(self.max_angle, int) or not 0 <= self.max_angle <= 180:
            raise ValueError(f"DirectionSpec.max_angle must be an integer in 0..180 degrees, got {self.max_angle!r}")
        if self.angle is not None:
            if isinstance(self.angle, bool) or not isinstance(self.angle, (int, float)) or not math.isfinite(self.angle) \
                    or not -180 <= self.angle <= 180:
                raise ValueError(f"DirectionSpec.angle must be a number of degrees in [-180, 180], got {self.angle!r}")
            object.__setattr__(self, "angle", float(self.angle))

    def level(self) -> str:
        if self.angle is not None:
            return format_number(self.angle)
        # The official release calls its ±45° subset "random"; other ranges say their bound.
        return "random" if self.max_angle == 45 else f"random{self.max_angle}"

    def seed_key(self) -> str:
        return self.config_name() if self.angle is None else f"{self.attribute}_sweep"


class Direction(AttributePlugin):
    name = "direction"
    description = "Object direction: the object rotated by a random angle; its old place becomes background."
    spec_types = (DirectionSpec,)
    colour = "#CC79A7"
    order = 40
    sweep_unit = "rotation in degrees, in [-180, 180] (the sense is drawn once per image)"

    def subsets(self) -> tuple[Subset, ...]:
        return (self.subset(DirectionSpec(), "Object rotated by a random angle.", alias="rd", benchmark=True),)

    def sweep_spec(self, value: float) -> EditSpec:
        return DirectionSpec(angle=value)

    def severity(self, spec: EditSpec) -> float | None:
        return None if spec.angle is None else abs(spec.angle)

    def spec_from_level(self, level: str) -> EditSpec | None:
        if level.startswith("random"):
            bound = level.removeprefix("random") or "45"
            return DirectionSpec(max_angle=int(bound)) if bound.isascii() and bound.isdigit() and int(bound) <= 180 else None
        angle = parse_number(level)
        return DirectionSpec(angle=angle) if angle is not None and -180 <= angle <= 180 else None
