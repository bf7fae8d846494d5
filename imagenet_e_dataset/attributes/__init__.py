"""The declaration side of attributes (ground floor): edit specs and the configs each attribute publishes.

One module per built-in attribute holds its spec dataclass(es) and its :class:`AttributePlugin`
subclass; :data:`BUILTIN_ATTRIBUTES` lists them for :mod:`imagenet_e_dataset.registry`, which
registers them (and plug-ins, through :func:`imagenet_e_dataset.registry.register_attribute`).
How an edit is made is the editing toolkit's part: :mod:`generation.attributes` (planners).
"""

from __future__ import annotations

from .background import Background, BackgroundSpec, RandomBackgroundSpec
from .base import AttributePlugin, EditSpec, Subset, check_attribute_class, format_number, parse_number
from .direction import Direction, DirectionSpec
from .occlusion import Occlusion, OcclusionSpec
from .original import Original, OriginalSpec
from .position import Position, PositionSpec
from .size import Size, SizeSpec

BUILTIN_ATTRIBUTES: tuple[type[AttributePlugin], ...] = (Original, Background, Size, Position, Direction, Occlusion)
"""The attributes the package ships (the four ImageNet-E ones, the control, and the ``occlusion`` extra)."""

__all__ = [
    "AttributePlugin", "BUILTIN_ATTRIBUTES", "Background", "BackgroundSpec", "Direction", "DirectionSpec", "EditSpec",
    "Occlusion", "OcclusionSpec", "Original", "OriginalSpec", "Position", "PositionSpec", "RandomBackgroundSpec", "Size",
    "SizeSpec", "Subset", "check_attribute_class", "format_number", "parse_number",
]
