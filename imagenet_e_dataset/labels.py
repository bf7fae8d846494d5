"""The ImageNet-1k label space: standard indices (sorted WordNet ids), wnids, unique names.

Shipped as package data (``data/imagenet1k_classes.json``) so nothing is fetched at run time.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Mapping

NUM_CLASSES = 1000


@functools.cache
def _classes() -> tuple[dict, ...]:
    text = resources.files("imagenet_e_dataset").joinpath("data/imagenet1k_classes.json").read_text("utf-8")
    return tuple(json.loads(text)["classes"])


@functools.cache
def class_names() -> tuple[str, ...]:
    """Unique human-readable names, index i = ImageNet-1k class i (valid ``ClassLabel`` names)."""
    return tuple(c["name"] for c in _classes())


@functools.cache
def wnids() -> tuple[str, ...]:
    """WordNet ids in the standard (sorted) index order."""
    return tuple(c["wnid"] for c in _classes())


@functools.cache
def synonyms() -> tuple[str, ...]:
    """The original comma-separated synset strings (``"tench, Tinca tinca"``), as many models' id2label use."""
    return tuple(c["synonyms"] for c in _classes())


@functools.cache
def wnid_to_index() -> Mapping[str, int]:
    return {w: i for i, w in enumerate(wnids())}


@functools.cache
def val_labels() -> Mapping[str, int]:
    """ImageNet-1k validation labels: ``ILSVRC2012_val_XXXXXXXX.JPEG`` -> class index (all 50,000)."""
    text = resources.files("imagenet_e_dataset").joinpath("data/imagenet1k_val_labels.json").read_text("utf-8")
    return json.loads(text)


def check_label(label: int, *, where: str = "") -> int:
    """Return ``label`` as int if it is a valid ImageNet-1k index, else raise a ValueError naming ``where``."""
    if isinstance(label, bool):  # bool is an int subclass; True is no class index
        raise ValueError(f"label {label!r}{' in ' + where if where else ''} is not an integer")
    try:
        value = int(label)
    except (TypeError, ValueError):
        raise ValueError(f"label {label!r}{' in ' + where if where else ''} is not an integer") from None
    if value != label or not 0 <= value < NUM_CLASSES:
        raise ValueError(f"label {label!r}{' in ' + where if where else ''} is outside 0..{NUM_CLASSES - 1}")
    return value
