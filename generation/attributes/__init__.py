"""Attribute plug-ins: one module per attribute, each a typed edit spec, its subsets and a planner.

Importing this package registers the built-in attributes (``original``, ``background``, ``size``,
``position``, ``direction`` and the extra ``occlusion``). Attributes from elsewhere come in two ways:

- an installed distribution that declares an entry point in the group ``imagenet_e.attributes``
  (``[project.entry-points."imagenet_e.attributes"] my_attr = "my_pkg.my_attr"``), loaded by
  :func:`load_entry_points` when the subset registry is first used;
- ``--plugin module.name`` or ``--plugin path/to/file.py`` on ``edit``, ``generate``, ``evaluate``
  and ``leaderboard`` (:func:`load_plugin`).

A plug-in module registers itself with :func:`register_attribute` on import. See ``docs/plugins.md``.
"""

from __future__ import annotations

from . import background, direction, occlusion, original, position, size  # noqa: F401  (registers them)
from .background import BackgroundSpec, RandomBackgroundSpec
from .base import (
    AttributePlugin,
    parse_number,
    EditContext,
    EditSpec,
    Requirement,
    Subset,
    format_number,
    on_register,
    register_attribute,
    registered_attributes,
)
from .direction import DirectionSpec
from .loading import ENTRY_POINT_GROUP, load_entry_points, load_plugin
from .occlusion import OcclusionSpec
from .original import OriginalSpec
from .position import PositionSpec
from .size import SizeSpec

__all__ = [
    "AttributePlugin", "BackgroundSpec", "DirectionSpec", "EditContext", "EditSpec", "OcclusionSpec", "OriginalSpec",
    "PositionSpec", "RandomBackgroundSpec", "Requirement", "SizeSpec", "Subset", "ENTRY_POINT_GROUP", "format_number",
    "load_entry_points", "load_plugin", "on_register", "parse_number", "register_attribute", "registered_attributes",
]
