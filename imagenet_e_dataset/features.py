"""The dataset schema shared by the writer, the importer, the builder and the generator."""

from __future__ import annotations

import re

import datasets

from .label_space import LabelSpace

# Both patterns are ASCII-only ([0-9], never \d, which also matches "٥") and anchored with \Z, not $
# (which accepts a trailing newline); match them with ``fullmatch`` (see :func:`is_source_id`).
SOURCE_ID_PATTERN = re.compile(r"ILSVRC2012_val_[0-9]{8}\Z")
"""An ImageNet validation image id: what the official release and ImageNet val sources use."""
SAFE_SOURCE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}\Z")
"""Any source id the writer accepts: ImageNet ids, or file stems of a user's own photos (the demo's
``skimage_chelsea``); safe as a file name on every platform."""


def is_source_id(value: object, *, imagenet_only: bool = False) -> bool:
    """Whether ``value`` is a usable source id (``imagenet_only``: an ``ILSVRC2012_val_XXXXXXXX`` id)."""
    pattern = SOURCE_ID_PATTERN if imagenet_only else SAFE_SOURCE_ID_PATTERN
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def make_features(with_object_mask: bool = False, label_space: LabelSpace | None = None) -> datasets.Features:
    """Features of one ImageNet-E config: image, label, wnid, source_id, attribute, level, seed.

    ``object_mask`` is present where the toolkit produced the edit (the official release has none).
    ``label_space`` (default ImageNet-1k) gives the ``label`` column's ``ClassLabel`` names.
    """
    space = label_space or LabelSpace.imagenet()
    fields = {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=list(space.names)),
        "wnid": datasets.Value("string"),
        "source_id": datasets.Value("string"),
        "attribute": datasets.Value("string"),
        "level": datasets.Value("string"),
        "seed": datasets.Value("int64"),
    }
    if with_object_mask:
        fields["object_mask"] = datasets.Image()
    return datasets.Features(fields)
