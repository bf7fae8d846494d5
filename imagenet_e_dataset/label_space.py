"""A dataset's label space: its class names (the ``ClassLabel`` names), one id per class, a name.

ImageNet-1k is the default space (names from ``labels.class_names()``, ids the WordNet ids). A
dataset generated from an image folder or a Hub image-classification dataset has its own space,
taken from the source (the folder names, or the source's ``ClassLabel`` names). The space travels
with the data: it *is* the ``label`` feature's ``ClassLabel`` names of every config, so any reader
(``load_dataset``, the metric, the runner, the leaderboard) recovers it from the features alone,
and the ``wnid`` column holds the class id (the WordNet id for ImageNet-1k, the folder or class
name otherwise).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .labels import class_names, wnid_to_index, wnids

IMAGENET_1K = "imagenet-1k"
_WNID = re.compile(r"n[0-9]{8}")  # ASCII digits; used with fullmatch
MAX_NAME_CHARS = 200


def _check_name(value: object, what: str, index: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} {index} is {value!r}, not a string")
    if not value.strip() or value != value.strip():
        raise ValueError(f"{what} {index} {value!r} is empty or has leading/trailing spaces")
    if len(value) > MAX_NAME_CHARS or any(not c.isprintable() for c in value):
        raise ValueError(f"{what} {index} {value[:60]!r} must be at most {MAX_NAME_CHARS} printable characters")
    return value


@dataclass(frozen=True)
class LabelSpace:
    """Classes ``0..num_classes-1``: ``names[i]`` (the ``ClassLabel`` name) and ``ids[i]`` (the ``wnid`` column).

    >>> space = LabelSpace.from_names(["cat", "dog"], name="pets")
    >>> space.num_classes, space.check(1, where="row 3"), space.is_imagenet
    (2, 1, False)
    >>> space.check(2, where="row 3")
    Traceback (most recent call last):
    ...
    ValueError: label 2 in row 3 is outside 0..1 (the 2 classes of pets)
    >>> LabelSpace.imagenet().num_classes, LabelSpace.imagenet().ids[0]
    (1000, 'n01440764')
    """

    names: tuple[str, ...]
    ids: tuple[str, ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "ids", tuple(self.ids))
        if not self.names:
            raise ValueError(f"label space {self.name!r} has no classes")
        if len(self.ids) != len(self.names):
            raise ValueError(f"label space {self.name!r}: {len(self.names)} names but {len(self.ids)} ids")
        for what, values in (("class name", self.names), ("class id", self.ids)):
            seen: dict[str, int] = {}
            for i, value in enumerate(values):
                _check_name(value, what, i)
                if value in seen:
                    raise ValueError(f"label space {self.name!r}: {what} {value!r} is given to classes {seen[value]} "
                                     f"and {i}; every class needs its own")
                seen[value] = i

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    @functools.cache
    def imagenet(cls) -> LabelSpace:
        return cls(class_names(), wnids(), IMAGENET_1K)

    @classmethod
    def from_names(cls, names: Sequence[str], *, ids: Sequence[str] | None = None, name: str = "custom") -> LabelSpace:
        """A space from class names (ids default to the names). The ImageNet-1k names give ImageNet-1k."""
        names = tuple(names)
        if names == class_names() and (ids is None or tuple(ids) == wnids()):
            return cls.imagenet()
        return cls(names, tuple(ids) if ids is not None else names, name)

    @classmethod
    def from_class_ids(cls, ids: Sequence[str], *, name: str = "custom") -> LabelSpace:
        """A space from class ids such as folder names, in the order given.

        When every id is an ImageNet WordNet id, the names are ImageNet-1k's class names, so an
        ImageNet classifier's outputs are matched to them by name; the 1000 wnids in order are
        ImageNet-1k itself.
        """
        ids = tuple(ids)
        index = wnid_to_index()
        if ids and all(_WNID.fullmatch(i) and i in index for i in ids):
            if ids == wnids():
                return cls.imagenet()
            return cls(tuple(class_names()[index[i]] for i in ids), ids, name)
        return cls(ids, ids, name)

    @classmethod
    def from_features(cls, features: Mapping[str, Any], *, name: str = "custom") -> LabelSpace:
        """The space of a dataset's ``label`` column (a ``datasets.ClassLabel``)."""
        label = features.get("label") if isinstance(features, Mapping) else None
        names = getattr(label, "names", None)
        if not names:
            raise ValueError("the dataset's 'label' column is not a ClassLabel with class names, so its label space "
                             f"is unknown (got {type(label).__name__})")
        return cls.from_names(list(names), name=name)

    # -- use ------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def is_imagenet(self) -> bool:
        return self.names == class_names()

    def check(self, label: object, *, where: str = "") -> int:
        """``label`` as an int if it is a class index of this space, else a ValueError naming ``where``."""
        at = f" in {where}" if where else ""
        if isinstance(label, bool):  # bool is an int subclass; True is no class index
            raise ValueError(f"label {label!r}{at} is not an integer")
        try:
            value = int(label)  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"label {label!r}{at} is not an integer") from None
        if value != label or not 0 <= value < self.num_classes:
            what = "ImageNet-1k" if self.is_imagenet else f"the {self.num_classes} classes of {self.name}"
            raise ValueError(f"label {label!r}{at} is outside 0..{self.num_classes - 1} ({what})")
        return value

    def index(self, class_name: str) -> int:
        try:
            return self.names.index(class_name)
        except ValueError:
            raise ValueError(f"{class_name!r} is not a class of {self.name} "
                             f"(classes: {', '.join(self.names[:8])}{', ...' if self.num_classes > 8 else ''})") from None

    def digest(self) -> str:
        """sha256 of the class names in order: equal digests, equal label spaces."""
        return hashlib.sha256("\n".join(self.names).encode("utf-8")).hexdigest()

    def describe(self) -> dict[str, Any]:
        """What a card, a results file or a leaderboard row records about the space."""
        return {"name": self.name, "num_classes": self.num_classes, "sha256": self.digest()}


def own_classes_note(described: Mapping[str, Any] | None) -> str | None:
    """A short text for a :meth:`LabelSpace.describe` record that is not ImageNet-1k (None for ImageNet-1k
    or no record): what a leaderboard shows so runs on different label spaces are never ranked together.

    >>> own_classes_note(LabelSpace.from_names(["cat", "dog"], name="pets").describe())
    '2 classes of pets (3a450eb1)'
    """
    if not isinstance(described, Mapping) or described.get("name") in (None, IMAGENET_1K):
        return None
    return f"{described.get('num_classes')} classes of {described['name']} ({str(described.get('sha256', ''))[:8]})"


__all__ = ["IMAGENET_1K", "LabelSpace", "own_classes_note"]
