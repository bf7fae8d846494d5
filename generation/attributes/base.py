"""What an attribute plug-in is: a typed edit spec, the subsets it publishes, and a planner.

An attribute (background, size, position, direction, or one a user adds) is one class derived
from :class:`AttributePlugin` and decorated with :func:`register_attribute`. It declares

- ``name`` (the prefix of its config names: ``size`` -> ``size_0.05``), a one-line ``description``
  for cards and the leaderboard, an optional plot ``colour`` and an ``order`` among attributes;
- ``spec_types``: frozen dataclasses derived from :class:`EditSpec` that say what one edit does
  (``SizeSpec(rate=0.05)``); its ``level()`` is the text of the data's ``level`` column and of the
  config name, so nothing outside the attribute's module ever parses a level;
- ``subsets()``: the configs it publishes at fixed levels (``benchmark=True`` for the twelve
  ImageNet-E configs; ``False`` for extras that ``--subsets all`` leaves out);
- ``plan(ctx, spec)``: the CPU-side work of one edit (see :mod:`generation.edits`);
- ``harmonizable``: whether its result may go through the background editor with λ = 0.

The subset registry (:mod:`imagenet_e_dataset.registry`) is built from the registered plug-ins;
the metric, runner, plots, card, leaderboard and CLI read attributes from it.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

if TYPE_CHECKING:  # the types are only needed by planners, at call time
    import numpy as np

    from ..edit_types import EditOptions, PlannedEdit, PreparedSource
    from ..transforms import TransformResult


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


@dataclass(frozen=True)
class EditSpec:
    """Base of every typed edit spec: one frozen dataclass per kind of edit.

    Subclasses set the class variable ``attribute`` to their plug-in's name and implement
    :meth:`level`. The default config name is ``f"{attribute}_{level}"``.
    """

    attribute: ClassVar[str] = ""

    def level(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement level()")

    def config_name(self) -> str:
        return f"{self.attribute}_{self.level()}"

    def seed_key(self) -> str:
        """What the per-row seed is derived from besides (global seed, source id).

        The config name by default, so every subset draws independently. Specs of a severity sweep
        return one key for all their levels, so an image gets the same draws (rotation sense, target
        place, occluded side) at every level and its edits grow monotonically with the severity.
        """
        return self.config_name()

    def record(self) -> dict[str, Any]:
        """The spec as JSON-safe data (recorded in manifests and edits.json)."""
        doc: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            doc[f.name] = value.value if isinstance(value, enum.Enum) else value
        return doc


def format_number(value: float) -> str:
    """Shortest text of a level number: ``0.1``, ``0.08``, ``-20``, ``20``.

    >>> format_number(20.0), format_number(-20), format_number(0.05)
    ('20', '-20', '0.05')
    """
    text = f"{float(value):.10g}"
    return "0" if text == "-0" else text


def parse_number(text: str) -> float | None:
    """A level number written by :func:`format_number` (plain ASCII decimal), else None.

    >>> parse_number("0.05"), parse_number("-20"), parse_number("1e400"), parse_number("٥")
    (0.05, -20.0, None, None)
    """
    import math
    import re

    if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?", text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Subset:
    """One dataset config: a named edit spec of one attribute."""

    name: str
    """Config name on the Hub, e.g. ``background_20``."""
    alias: str | None
    """Folder name in the authors' release (``20_hard``), if the subset is part of it."""
    attribute: "AttributePlugin"
    spec: EditSpec
    description: str
    file_extension: str = ".png"
    """Extension of the images in the official release folder."""
    benchmark: bool = True
    """One of the twelve ImageNet-E configs (what ``--subsets all`` means)."""

    @property
    def level(self) -> str:
        """The attribute's setting as text (the data's ``level`` column)."""
        return self.spec.level()

    @property
    def is_original(self) -> bool:
        return not self.attribute.edited

    @property
    def is_edited(self) -> bool:
        return self.attribute.edited

    def requirements(self, options: "EditOptions") -> frozenset[Requirement]:
        """What an edit of this subset needs under ``options`` (see :class:`Requirement`)."""
        return self.attribute.requirements(self.spec, options)


# A palette for attributes that declare no colour (the Okabe-Ito colours the built-ins do not use,
# then tab10); the choice is a hash of the name, so an attribute keeps its colour across runs.
_AUTO_COLOURS = ("#D55E00", "#56B4E9", "#F0E442", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd")


class AttributePlugin:
    """Base class of attribute plug-ins (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]
    spec_types: ClassVar[tuple[type[EditSpec], ...]]
    harmonizable: ClassVar[bool] = False
    colour: ClassVar[str | None] = None
    order: ClassVar[int] = 100
    edited: ClassVar[bool] = True
    """False only for ``original`` (the unedited control)."""
    keeps_object_pixels: ClassVar[bool] = False
    """Whether the object's pixels are the source photo's, unmoved and unresampled, in every subset of the
    attribute: the claim a dataset card makes ("the object is kept pixel-exact") only where it holds."""

    # --- declared by subclasses ----------------------------------------------------------------

    def subsets(self) -> tuple[Subset, ...]:
        """The configs this attribute publishes at fixed levels."""
        return ()

    def plan(self, ctx: "EditContext", spec: EditSpec) -> "PlannedEdit":
        raise NotImplementedError(f"attribute {self.name!r} has no planner")

    # --- severity sweeps (optional) ----------------------------------------------------------

    sweep_unit: ClassVar[str] = ""
    """What a sweep value means, for help and errors (e.g. "object rate in (0, 1)")."""

    def sweep_spec(self, value: float) -> EditSpec:
        """The spec of one sweep level (``--sweep NAME=VALUES``); a ValueError names the valid range."""
        raise ValueError(f"attribute {self.name!r} has no severity sweep")

    def severity(self, spec: EditSpec) -> float | None:
        """A number that grows with the strength of the edit (None: not on a severity scale).

        Accuracy-vs-severity curves and per-image failure points are computed over the subsets of
        an attribute that have one.
        """
        return None

    def spec_from_level(self, level: str) -> EditSpec | None:
        """The spec whose ``level()`` is ``level`` (None if there is none): lets a config such as
        ``size_0.02`` that no module declares be recognised from its name (sweep datasets)."""
        return None

    def requirements(self, spec: EditSpec, options: "EditOptions") -> frozenset[Requirement]:
        """What an edit with ``spec`` needs under ``options`` (default: a harmonised edit needs the editor)."""
        if self.harmonizable and options.harmonize:
            return frozenset({Requirement.EDITOR})
        return frozenset()

    # --- helpers -------------------------------------------------------------------------------

    def subset(self, spec: EditSpec, description: str, *, alias: str | None = None, file_extension: str = ".png",
               benchmark: bool = False, name: str | None = None) -> Subset:
        """Declare one config of this attribute (used inside :meth:`subsets`)."""
        if not isinstance(spec, self.spec_types):
            expected = " or ".join(t.__name__ for t in self.spec_types)
            raise TypeError(f"attribute {self.name!r} declares a {type(spec).__name__}, expected {expected}")
        return Subset(name or spec.config_name(), alias, self, spec, description, file_extension, benchmark)

    @property
    def value(self) -> str:
        """The attribute's name (what results files and the data's ``attribute`` column hold)."""
        return self.name

    @property
    def plot_colour(self) -> str:
        if self.colour:
            return self.colour
        digest = hashlib.sha256(self.name.encode()).digest()
        return _AUTO_COLOURS[digest[0] % len(_AUTO_COLOURS)]

    def __repr__(self) -> str:
        return f"<attribute {self.name}>"

    def __str__(self) -> str:
        return self.name


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
        image = composite(self.source.background, image, mask)
        if self.subset.attribute.harmonizable and self.options.harmonize:
            return self.needs_editor(image, mask, params, lam=0.0)
        return self.finished(image, mask, params)


# --- the registry of attributes -----------------------------------------------------------------

_ATTRIBUTES: dict[str, AttributePlugin] = {}
_LISTENERS: list[Any] = []


def register_attribute(cls: type[AttributePlugin]) -> type[AttributePlugin]:
    """Class decorator: register an attribute plug-in (one instance per class)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"attribute plug-in {cls.__name__}: name must be a lower-case identifier, got {name!r}")
    spec_types = getattr(cls, "spec_types", None)
    if not (isinstance(spec_types, tuple) and spec_types
            and all(isinstance(t, type) and issubclass(t, EditSpec) for t in spec_types)):
        raise ValueError(f"attribute plug-in {cls.__name__} ({name}): spec_types must be a tuple of EditSpec subclasses")
    wrong = [t.__name__ for t in spec_types if t.attribute != name]
    if wrong:
        raise ValueError(f"attribute plug-in {cls.__name__}: spec types {wrong} must set attribute = {name!r}")
    if not getattr(cls, "description", ""):
        raise ValueError(f"attribute plug-in {cls.__name__} ({name}) needs a one-line description")
    existing = _ATTRIBUTES.get(name)
    if existing is not None:
        if type(existing).__qualname__ == cls.__qualname__ and type(existing).__module__ == cls.__module__:
            return cls  # the same module imported twice (e.g. a plug-in file loaded again)
        raise ValueError(f"attribute {name!r} is registered twice ({type(existing).__module__} and {cls.__module__})")
    plugin = cls()
    _ATTRIBUTES[name] = plugin
    for listener in _LISTENERS:
        listener(plugin)
    return cls


def registered_attributes() -> Iterator[AttributePlugin]:
    """Registered plug-ins, by ``order`` then name."""
    return iter(sorted(_ATTRIBUTES.values(), key=lambda a: (a.order, a.name)))


def on_register(listener: Any) -> None:
    """Call ``listener(plugin)`` for every plug-in registered from now on (the subset registry uses it)."""
    _LISTENERS.append(listener)
