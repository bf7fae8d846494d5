"""The dataset schema shared by the writer, the importer, the builder and the generator."""

from __future__ import annotations

import re

import datasets

from .labels import class_names

SOURCE_ID_PATTERN = re.compile(r"^ILSVRC2012_val_\d{8}$")
"""An ImageNet validation image id: what the official release and ImageNet val sources use."""
SAFE_SOURCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
"""Any source id the writer accepts: ImageNet ids, or file stems of a user's own photos (the demo's
``skimage_chelsea``); safe as a file name on every platform."""


def make_features(with_object_mask: bool = False) -> datasets.Features:
    """Features of one ImageNet-E config: image, label, wnid, source_id, attribute, level, seed.

    ``object_mask`` is present where the toolkit produced the edit (the official release has none).
    """
    fields = {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=list(class_names())),
        "wnid": datasets.Value("string"),
        "source_id": datasets.Value("string"),
        "attribute": datasets.Value("string"),
        "level": datasets.Value("string"),
        "seed": datasets.Value("int64"),
    }
    if with_object_mask:
        fields["object_mask"] = datasets.Image()
    return datasets.Features(fields)
