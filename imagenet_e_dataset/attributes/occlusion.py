"""``occlusion`` (an extra, not one of the twelve ImageNet-E configs): a share of the object hidden.

``OcclusionSpec(share=0.5)`` hides half the object's pixels behind its own clean background; the
visible part keeps its pixels. The band is drawn in :mod:`generation.attributes.occlusion`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditSpec, Subset, format_number, parse_number


@dataclass(frozen=True)
class OcclusionSpec(EditSpec):
    """Share of the object's pixels to hide, in (0, 1)."""

    attribute: ClassVar[str] = "occlusion"
    share: float

    def __post_init__(self) -> None:
        if isinstance(self.share, bool) or not isinstance(self.share, (int, float)) or not math.isfinite(self.share) \
                or not 0 < self.share < 1:
            raise ValueError(f"OcclusionSpec.share must be a number in (0, 1), got {self.share!r}")
        object.__setattr__(self, "share", float(self.share))

    def level(self) -> str:
        return format_number(self.share)

    def seed_key(self) -> str:
        # One side per image for every share, so a larger share hides a superset of a smaller one.
        return self.attribute


class Occlusion(AttributePlugin):
    name = "occlusion"
    description = "Object occlusion: a share of the object's pixels hidden behind its own clean background."
    spec_types = (OcclusionSpec,)
    order = 50
    keeps_object_pixels = True  # the visible part of the object keeps its pixels
    sweep_unit = "share of the object's pixels hidden, in (0, 1)"

    def sweep_spec(self, value: float) -> EditSpec:
        return OcclusionSpec(value)

    def severity(self, spec: EditSpec) -> float | None:
        return spec.share

    def spec_from_level(self, level: str) -> EditSpec | None:
        share = parse_number(level)
        return OcclusionSpec(share) if share is not None and 0 < share < 1 else None

    def subsets(self) -> tuple[Subset, ...]:
        return tuple(self.subset(OcclusionSpec(v), f"{round(v * 100)} % of the object's pixels covered by background.")
                     for v in (0.25, 0.5, 0.75))
