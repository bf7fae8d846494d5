"""``original``: the unedited photo, the control every edited subset is paired with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditSpec, Subset


@dataclass(frozen=True)
class OriginalSpec(EditSpec):
    """No edit."""

    attribute: ClassVar[str] = "original"

    def level(self) -> str:
        return "none"

    def config_name(self) -> str:
        return "original"


class Original(AttributePlugin):
    name = "original"
    description = "The unedited photo (the control every edited subset is compared with)."
    spec_types = (OriginalSpec,)
    colour = "#3b3b3b"
    order = 0
    edited = False
    keeps_object_pixels = True

    def subsets(self) -> tuple[Subset, ...]:
        return (self.subset(OriginalSpec(), "Unedited ImageNet validation image (the same source images as every other subset).",
                            alias="ori", file_extension=".JPEG", benchmark=True),)
