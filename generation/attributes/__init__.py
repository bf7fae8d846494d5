"""Attribute planners: how the editing toolkit makes each attribute's edits.

What an attribute declares (typed edit specs, published configs, severity scale) lives on the ground
floor, :mod:`imagenet_e_dataset.attributes`, registered in :mod:`imagenet_e_dataset.registry`; this
package holds the planning half, one module per attribute (``original``, ``background``, ``size``,
``position``, ``direction`` and the extra ``occlusion``), each an :class:`AttributePlanner` registered
with :func:`register_planner` under the attribute's name. Importing it registers the built-in planners.

Attributes from elsewhere come in two ways (:mod:`imagenet_e_dataset.plugin_loading`):

- an installed distribution that declares an entry point in the group ``imagenet_e.attributes``
  (``[project.entry-points."imagenet_e.attributes"] my_attr = "my_pkg.my_attr"``), loaded when the
  registry is first imported;
- ``--plugin module.name`` or ``--plugin path/to/file.py`` on ``edit``, ``generate``, ``evaluate``
  and ``leaderboard`` (:func:`load_plugin`).

A plug-in module declares its attribute (ground-floor API) and its planner (this API); see
``docs/plugins.md``. The declaration names are re-exported here so a plug-in needs one import line.
"""

from __future__ import annotations

from imagenet_e_dataset.attributes import (
    BackgroundSpec,
    DirectionSpec,
    OcclusionSpec,
    OriginalSpec,
    PositionSpec,
    RandomBackgroundSpec,
    SizeSpec,
)
from imagenet_e_dataset.plugin_loading import ENTRY_POINT_GROUP, load_entry_points, load_plugin

from . import background, direction, occlusion, original, position, size  # noqa: F401  (registers the planners)
from .base import (
    AttributePlanner,
    AttributePlugin,
    EditContext,
    EditSpec,
    Requirement,
    Subset,
    format_number,
    parse_number,
    planner_for,
    register_attribute,
    register_planner,
    registered_attributes,
    requirements,
)

__all__ = [
    "AttributePlanner", "AttributePlugin", "BackgroundSpec", "DirectionSpec", "EditContext", "EditSpec", "OcclusionSpec",
    "OriginalSpec", "PositionSpec", "RandomBackgroundSpec", "Requirement", "SizeSpec", "Subset", "ENTRY_POINT_GROUP",
    "format_number", "load_entry_points", "load_plugin", "parse_number", "planner_for", "register_attribute",
    "register_planner", "registered_attributes", "requirements",
]
