"""The ImageNet-E subset table: the single source of truth for config names, aliases and attributes.

Every other part of the project (importer, writer, metric, runner, card, leaderboard) reads
:data:`SUBSETS` and :func:`resolve`; nothing else spells a subset name out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


class Attribute(str, enum.Enum):
    """The object attribute a subset edits (``original`` for the unedited control)."""

    ORIGINAL = "original"
    BACKGROUND = "background"
    SIZE = "size"
    POSITION = "position"
    DIRECTION = "direction"


EDITED_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute.BACKGROUND,
    Attribute.SIZE,
    Attribute.POSITION,
    Attribute.DIRECTION,
)


@dataclass(frozen=True)
class Subset:
    """One ImageNet-E subset (one dataset config)."""

    name: str
    """Config name on the Hub, e.g. ``background_20``."""
    alias: str
    """Folder name in the authors' release, e.g. ``20_hard``."""
    attribute: Attribute
    level: str
    """The attribute's setting, as text (``"20"``, ``"0.05"``, ``"random"``, ``"full"``)."""
    description: str
    file_extension: str
    """Extension of the images in the official release folder."""

    @property
    def is_original(self) -> bool:
        return self.attribute is Attribute.ORIGINAL

    @property
    def is_edited(self) -> bool:
        return not self.is_original


_TABLE: tuple[Subset, ...] = (
    Subset("original", "ori", Attribute.ORIGINAL, "none",
           "Unedited ImageNet validation image (the same source images as every other subset).", ".JPEG"),
    Subset("background_0", "rec", Attribute.BACKGROUND, "0",
           "Background re-synthesised by the diffusion editor with lambda = 0 (controls for generation artefacts).", ".png"),
    Subset("background_-20", "20_smooth", Attribute.BACKGROUND, "-20",
           "lambda = -20: simpler, smoother background.", ".png"),
    Subset("background_20", "20_hard", Attribute.BACKGROUND, "20",
           "lambda = +20: more complex background.", ".png"),
    Subset("background_20_adv", "20_adv", Attribute.BACKGROUND, "20_adv",
           "lambda = +20 plus adversarial classifier guidance.", ".png"),
    Subset("background_random", "random_bg", Attribute.BACKGROUND, "random",
           "Object pasted onto the background of another image.", ".png"),
    Subset("size_full", "full", Attribute.SIZE, "full",
           "Object's bounding box cropped and resized to fill the frame.", ".JPEG"),
    Subset("size_0.1", "01", Attribute.SIZE, "0.1",
           "Object rescaled to cover 10 % of the image.", ".png"),
    Subset("size_0.08", "008", Attribute.SIZE, "0.08",
           "Object rescaled to cover 8 % of the image.", ".png"),
    Subset("size_0.05", "005", Attribute.SIZE, "0.05",
           "Object rescaled to cover 5 % of the image.", ".png"),
    Subset("position_random", "rp", Attribute.POSITION, "random",
           "Object moved to a uniformly random place, fully inside the frame.", ".png"),
    Subset("direction_random", "rd", Attribute.DIRECTION, "random",
           "Object rotated by a random angle.", ".png"),
)

SUBSETS: Mapping[str, Subset] = MappingProxyType({s.name: s for s in _TABLE})
"""Config name -> subset, in the canonical order of the paper's table."""

ALIASES: Mapping[str, str] = MappingProxyType({s.alias: s.name for s in _TABLE})
"""Official release folder name -> config name."""

CONFIG_NAMES: tuple[str, ...] = tuple(SUBSETS)
EDITED_CONFIG_NAMES: tuple[str, ...] = tuple(s.name for s in _TABLE if s.is_edited)
DEFAULT_CONFIG = "original"


def resolve(name: str) -> Subset:
    """Return the subset for a config name or an official folder alias.

    >>> resolve("20_hard").name
    'background_20'
    >>> resolve("size_0.05").attribute.value
    'size'
    """
    if isinstance(name, Subset):
        return name
    if not isinstance(name, str):
        raise ValueError(f"subset name must be a string, got {type(name).__name__}: {name!r}")
    if name in SUBSETS:
        return SUBSETS[name]
    if name in ALIASES:
        return SUBSETS[ALIASES[name]]
    valid = ", ".join(f"{s.name} (alias {s.alias})" for s in _TABLE)
    raise ValueError(f"unknown ImageNet-E subset {name!r}; valid names and aliases: {valid}")


def resolve_many(names: str | list[str] | tuple[str, ...]) -> list[Subset]:
    """Resolve ``"all"``, a comma-separated string, or a list of names/aliases, keeping table order."""
    if isinstance(names, str):
        if names.strip() == "all":
            return list(_TABLE)
        names = [n.strip() for n in names.split(",") if n.strip()]
    wanted = {resolve(n).name for n in names}
    if not wanted:
        raise ValueError("no subset named; give 'all' or config names such as 'background_20'")
    return [s for s in _TABLE if s.name in wanted]


def subsets_of(attribute: Attribute | str) -> list[Subset]:
    """All subsets editing one attribute, in table order."""
    try:
        attr = Attribute(attribute)
    except ValueError:
        raise ValueError(
            f"unknown attribute {attribute!r}; valid: {', '.join(a.value for a in Attribute)}"
        ) from None
    return [s for s in _TABLE if s.attribute is attr]
