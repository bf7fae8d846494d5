"""How an attribute's edits are made: planners, registered by attribute name.

What an attribute *is* (its typed edit specs, the configs it publishes, its severity scale) is
declared on the ground floor, :mod:`imagenet_e_dataset.attributes`, and registered in
:mod:`imagenet_e_dataset.registry`. This module adds the editing side: an :class:`AttributePlanner`
per attribute, registered with :func:`register_planner` under the attribute's name, that says

- ``plan(ctx, spec)``: the CPU-side work of one edit (see :mod:`generation.edits`);
- ``requirements(spec, options)``: what the edit needs besides the photo (:class:`Requirement`);
- ``harmonizable``: whether its result may go through the background editor with λ = 0.

A plug-in file holds both halves (docs/plugins.md). An older one-class plug-in whose
:class:`AttributePlugin` subclass defines ``plan`` (and optionally ``requirements`` and
``harmonizable``) keeps working: :func:`planner_for` adapts it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from imagenet_e_dataset.attributes.base import AttributePlugin, EditSpec, Subset, format_number, parse_number
from imagenet_e_dataset.named_registry import NamedRegistry
from imagenet_e_dataset.registry import register_attribute, registered_attributes

if TYPE_CHECKING:  # the types are only needed by planners, at call time
    import numpy as np

    from ..edit_types import EditOptions, PlannedEdit, PreparedSource
    from ..transforms import TransformResult

__all__ = [
    "AttributePlanner", "AttributePlugin", "EditContext", "EditSpec", "Requirement", "Subset", "format_number",
    "parse_number", "planner_for", "register_attribute", "register_planner", "registered_attributes", "requirements",
]


class Requirement(str, enum.Enum):
    """What an edit needs besides the prepared photo."""

    EDITOR = "editor"
    """A background editor (cpu or diffusion) finishes it."""
    CLASSIFIER = "classifier"
    """A guiding classifier (adversarial guidance)."""
    LABEL = "label"
    """The source's class index."""
    OTHER_BACKGROUND = "other_background"
    """The clean background of another source image."""


class AttributePlanner:
    """Base class of planners: how the edits of one attribute are made (see the module docstring)."""

    harmonizable: ClassVar[bool] = False

    def plan(self, ctx: "EditContext", spec: EditSpec) -> "PlannedEdit":
        raise NotImplementedError(f"{type(self).__name__} must implement plan()")

    def requirements(self, spec: EditSpec, options: "EditOptions") -> frozenset[Requirement]:
        """What an edit with ``spec`` needs under ``options`` (default: a harmonised edit needs the editor)."""
        if self.harmonizable and options.harmonize:
            return frozenset({Requirement.EDITOR})
        return frozenset()


def _same_class(existing: AttributePlanner, new: AttributePlanner) -> bool:
    return (type(existing).__qualname__, type(existing).__module__) == (type(new).__qualname__, type(new).__module__)


_PLANNERS: NamedRegistry[AttributePlanner] = NamedRegistry("attribute planner", same=_same_class)


def register_planner(attribute: str):
    """Class decorator: register an :class:`AttributePlanner` subclass (one instance) for ``attribute``."""

    def wrap(cls: type[AttributePlanner]) -> type[AttributePlanner]:
        if not (isinstance(cls, type) and issubclass(cls, AttributePlanner)):
            raise ValueError(f"register_planner({attribute!r}): {cls!r} is not an AttributePlanner subclass")
        _PLANNERS.add(attribute, cls())
        return cls

    return wrap


class _OneClassPlugin(AttributePlanner):
    """A plug-in written as one class (declaration and ``plan`` together), planned through its own methods."""

    def __init__(self, plugin: AttributePlugin) -> None:
        self.plugin = plugin
        self.harmonizable = bool(getattr(plugin, "harmonizable", False))  # type: ignore[misc]

    def plan(self, ctx: "EditContext", spec: EditSpec) -> "PlannedEdit":
        return self.plugin.plan(ctx, spec)  # type: ignore[attr-defined]

    def requirements(self, spec: EditSpec, options: "EditOptions") -> frozenset[Requirement]:
        own = getattr(self.plugin, "requirements", None)
        return frozenset(own(spec, options)) if own is not None else super().requirements(spec, options)


def planner_for(attribute: AttributePlugin | str) -> AttributePlanner:
    """The planner of an attribute; a ValueError when the attribute has none (a declaration-only plug-in)."""
    name = attribute if isinstance(attribute, str) else attribute.name
    planner = _PLANNERS.find(name)
    if planner is not None:
        return planner
    if isinstance(attribute, AttributePlugin) and callable(getattr(attribute, "plan", None)):
        return _OneClassPlugin(attribute)
    raise ValueError(f"attribute {name!r} has no planner: the editing toolkit cannot make its edits (a plug-in "
                     f"registers one with generation.attributes.register_planner({name!r})); planners exist for "
                     f"{', '.join(_PLANNERS.names())}")


def requirements(subset: Subset, options: "EditOptions") -> frozenset[Requirement]:
    """What an edit of ``subset`` needs under ``options`` (see :class:`Requirement`)."""
    return planner_for(subset.attribute).requirements(subset.spec, options)


@dataclass(frozen=True)
class EditContext:
    """Everything a planner may use for one (photo, subset) edit."""

    source: "PreparedSource"
    subset: Subset
    seed: int
    options: "EditOptions"
    params: dict[str, Any]
    """Parameters recorded so far (subset, seed, options); a planner adds what it draws."""
    other_background: Any
    """``np.ndarray`` or ``PreparedSource`` of another image, for edits that need one."""
    label: int | None
    lam: float | None
    """A λ override from the caller (``--lambda``); attributes without λ ignore it."""

    def finished(self, image: "np.ndarray | None", mask: "np.ndarray | None", params: dict[str, Any],
                 status: Any = None) -> "PlannedEdit":
        """A plan that needs no background editor."""
        from ..edit_types import EditResult, EditStatus, PlannedEdit

        result = EditResult(self.subset.name, image, mask, status or EditStatus.OK, params)
        return PlannedEdit(self.subset.name, self.seed, params, result=result)

    def needs_editor(self, image: "np.ndarray", object_mask: "np.ndarray", params: dict[str, Any], *,
                     lam: float, adversarial: bool = False, background: "np.ndarray | None" = None) -> "PlannedEdit":
        """A plan finished by the background editor (object pixels of ``image`` are kept exactly)."""
        from ..edit_types import PlannedEdit
        from ..interfaces import BackgroundEditRequest

        request = BackgroundEditRequest(
            image=image, object_mask=object_mask,
            background=self.source.background if background is None else background,
            lam=float(lam), seed=self.seed, adversarial=adversarial, label=self.label,
            rounding=self.options.output_rounding,
        )
        return PlannedEdit(self.subset.name, self.seed, {**params, "lam": float(lam)}, request=request)

    def transform_input(self) -> "tuple[np.ndarray, np.ndarray]":
        """The photo and mask an object transform starts from: the photo at its own resolution (the part
        that becomes the working square), as the authors transform the original before resizing it."""
        from ..working import fit_region

        return fit_region(self.source.photo, self.source.mask, self.options.fit)

    def from_transform(self, t: "TransformResult") -> "PlannedEdit":
        """Bring a transformed object to the working resolution, composite it over the clean background,
        and send it through the background editor with λ = 0 when the options harmonise."""
        from ..composite import composite
        from ..edit_types import EditStatus
        from ..working import to_working

        params = {**self.params, **t.params}
        if t.status is not EditStatus.OK:
            params["reason"] = t.reason
            return self.finished(None, None, params, t.status)
        r, how = self.options.resolution, self.options.working_resize
        image, mask = to_working(t.object_image, t.object_mask if t.mask_u8 is None else t.mask_u8, r, how)
        if not mask.any():
            params["reason"] = "nothing of the transformed object is left at the working resolution"
            return self.finished(None, None, params, EditStatus.UNREACHABLE)
        image = composite(self.source.background, image, mask, self.options.compositing)
        if planner_for(self.subset.attribute).harmonizable and self.options.harmonize:
            return self.needs_editor(image, mask, params, lam=0.0)
        return self.finished(image, mask, params)
