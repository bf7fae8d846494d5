"""What an attribute is, as a dataset sees it: a typed edit spec and the configs it publishes.

An attribute (background, size, position, direction, or one a user adds) is one class derived from
:class:`AttributePlugin`, registered with :func:`imagenet_e_dataset.registry.register_attribute`. It
declares

- ``name`` (the prefix of its config names: ``size`` -> ``size_0.05``), a one-line ``description``
  for cards and the leaderboard, an optional plot ``colour`` and an ``order`` among attributes;
- ``spec_types``: frozen dataclasses derived from :class:`EditSpec` that say what one edit does
  (``SizeSpec(rate=0.05)``); its ``level()`` is the text of the data's ``level`` column and of the
  config name, so nothing outside the attribute modules ever parses a level;
- ``subsets()``: the configs it publishes at fixed levels (``benchmark=True`` for the twelve
  ImageNet-E configs; ``False`` for extras that ``--subsets all`` leaves out);
- severity sweeps (``sweep_spec``, ``severity``, ``spec_from_level``) and claims a card may make
  (``keeps_object_pixels``).

This is the declaration side only, on the ground floor, so reading a dataset never needs the editing
toolkit. How an edit is *made* (its planner) lives in :mod:`generation.attributes`, registered under
the attribute's name.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar


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


# A palette for attributes that declare no colour (the Okabe-Ito colours the built-ins do not use,
# then tab10); the choice is a hash of the name, so an attribute keeps its colour across runs.
_AUTO_COLOURS = ("#D55E00", "#56B4E9", "#F0E442", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd")


class AttributePlugin:
    """Base class of attribute plug-ins (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]
    spec_types: ClassVar[tuple[type[EditSpec], ...]]
    colour: ClassVar[str | None] = None
    order: ClassVar[int] = 100
    edited: ClassVar[bool] = True
    """False only for ``original`` (the unedited control)."""
    keeps_object_pixels: ClassVar[bool] = False
    """Whether every edit keeps the object's pixels exactly as in the (working-resolution) photo: a claim
    a dataset card may make about this attribute. True for edits that only change what is around the
    object; False for edits that resample the object (resize, rotate, move through a resize)."""

    # --- declared by subclasses ----------------------------------------------------------------

    def subsets(self) -> tuple[Subset, ...]:
        """The configs this attribute publishes at fixed levels."""
        return ()

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


def check_attribute_class(cls: type) -> str:
    """The name of a well-formed attribute class; a ValueError says what is wrong with it."""
    name = getattr(cls, "name", None)
    if not (isinstance(cls, type) and issubclass(cls, AttributePlugin)):
        raise ValueError(f"{cls!r} is not an AttributePlugin subclass")
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
    return name
