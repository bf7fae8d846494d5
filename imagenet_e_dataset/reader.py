"""Load one ImageNet-E subset by config name or official alias, from a local folder or the Hub."""

from __future__ import annotations

import os
import re
from pathlib import Path

import datasets

from .hub_layout import README_NAME, SPLIT
from .registry import resolve

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+")  # ASCII, used with fullmatch


def load(
    name_or_alias: str,
    source: str | os.PathLike,
    *,
    split: str = SPLIT,
    revision: str | None = None,
    streaming: bool = False,
) -> datasets.Dataset | datasets.IterableDataset:
    """One subset as a ``datasets.Dataset`` (``IterableDataset`` when ``streaming``).

    ``name_or_alias``: a config name (``background_20``) or the official folder name (``20_hard``).
    ``source``: a folder in the Hub layout (as written by the importer / generator), the authors'
    release folder (``labels.txt`` + subset folders; read through the builder), or a Hub repo id
    (``org/imagenet-e``; ``revision`` picks a branch, tag or commit).
    """
    subset = resolve(name_or_alias)
    path = Path(source).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ValueError(f"revision={revision!r} only applies to a Hub repo id, not the local folder {path}")
        if (path / README_NAME).is_file():
            if not (path / subset.name).is_dir():
                raise ValueError(f"config {subset.name!r} is not in the dataset folder {path}")
            return datasets.load_dataset(str(path), subset.name, split=split, streaming=streaming)
        from .imagenet_e import LABELS_FILE, ImagenetE

        if (path / LABELS_FILE).is_file():
            builder = ImagenetE(config_name=subset.name, data_dir=str(path))
            if streaming:
                return builder.as_streaming_dataset(split=split)
            builder.download_and_prepare()
            return builder.as_dataset(split=split)
        raise FileNotFoundError(
            f"{path} is neither a dataset folder in the Hub layout (no {README_NAME}) nor the authors' release (no {LABELS_FILE})"
        )
    text = os.fspath(source)
    if not _REPO_ID.fullmatch(text):
        raise FileNotFoundError(f"{text!r} is not an existing folder nor a Hub repo id of the form 'namespace/name'")
    return datasets.load_dataset(text, subset.name, split=split, revision=revision, streaming=streaming)
