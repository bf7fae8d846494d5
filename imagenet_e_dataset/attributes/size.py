"""``size``: what the object-size edits are, as a dataset records them.

``SizeSpec(rate=0.05)``: the object rescaled to cover 5 % of the image; ``SizeSpec(full=True)``: a
window around its bounding box cropped to the frame. Severity grows as the rate falls. How the edit
is made (the authors' loop or the corrected one) is the planner's part: :mod:`generation.attributes.size`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditSpec, Subset, format_number, parse_number


@dataclass(frozen=True)
class SizeSpec(EditSpec):
    """Target object rate in (0, 1), or ``full=True`` for the box cropped to the frame."""

    attribute: ClassVar[str] = "size"
    rate: float | None = None
    full: bool = False

    def __post_init__(self) -> None:
        if self.full:
            if self.rate is not None:
                raise ValueError("SizeSpec takes either rate= or full=True, not both")
            return
        if self.rate is None or isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) \
                or not math.isfinite(self.rate) or not 0 < self.rate < 1:
            raise ValueError(f"SizeSpec.rate must be a number in (0, 1) (object pixels / image pixels), got {self.rate!r}")
        object.__setattr__(self, "rate", float(self.rate))

    def level(self) -> str:
        return "full" if self.full else format_number(self.rate)


class Size(AttributePlugin):
    name = "size"
    description = "Object size: the object rescaled to cover a given share of the image, or cropped to fill it."
    spec_types = (SizeSpec,)
    colour = "#E69F00"
    order = 20
    sweep_unit = "object rate: object pixels / image pixels, in (0, 1)"

    def sweep_spec(self, value: float) -> EditSpec:
        return SizeSpec(rate=value)

    def severity(self, spec: EditSpec) -> float | None:
        # Smaller objects are the harder edit: severity grows as the rate falls.
        return None if spec.full else 1.0 - spec.rate

    def spec_from_level(self, level: str) -> EditSpec | None:
        if level == "full":
            return SizeSpec(full=True)
        rate = parse_number(level)
        return SizeSpec(rate=rate) if rate is not None and 0 < rate < 1 else None

    def subsets(self) -> tuple[Subset, ...]:
        s = self.subset
        return (
            s(SizeSpec(full=True), "Object's bounding box cropped and resized to fill the frame.", alias="full",
              file_extension=".JPEG", benchmark=True),
            s(SizeSpec(0.1), "Object rescaled to cover 10 % of the image.", alias="01", benchmark=True),
            s(SizeSpec(0.08), "Object rescaled to cover 8 % of the image.", alias="008", benchmark=True),
            s(SizeSpec(0.05), "Object rescaled to cover 5 % of the image.", alias="005", benchmark=True),
        )
