"""Load one ImageNet-E subset by config name or official alias, from a local folder or the Hub."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from PIL import Image as PILImage

from .card_yaml import cached_card_metadata, data_file_patterns
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
            return _load_local(path, subset.name, split, streaming)
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


def _load_local(folder: Path, config: str, split: str, streaming: bool) -> datasets.Dataset | datasets.IterableDataset:
    """A config of a Hub-layout folder through the ``parquet`` builder, features taken from the card.

    ``load_dataset(folder, config)`` re-reads the card for every config it opens, with PyYAML's
    pure-Python loader (~0.1-0.2 s each: the card lists every class name). This reads the card once
    per file version (libyaml, :func:`cached_card_metadata`), hands the builder the config's shards
    and gets the same rows and the same features. A card this cannot follow (no ``configs`` entry
    for the config, no features) goes to ``load_dataset`` as is.
    """
    readme = (folder / README_NAME).resolve()
    stat = readme.stat()
    plan = _local_plan(str(readme), stat.st_size, stat.st_mtime_ns, config, split)
    if plan is None:
        return datasets.load_dataset(str(folder), config, split=split, streaming=streaming)
    patterns, card_features = plan
    files = sorted({str(f) for pattern in patterns for f in folder.glob(pattern)})
    if not files:
        raise ValueError(f"{readme}: config {config!r} split {split!r} matches no data file in {folder}")
    # The card's features are the truth; the shards written by this project embed the same ones. Handing
    # them to the builder again costs it a hash of every class name per call, so only when they differ.
    embedded = datasets.Features.from_arrow_schema(pq.read_schema(files[0]))
    features = None if embedded == card_features else card_features
    return datasets.load_dataset("parquet", data_files={split: files}, features=features, split=split,
                                 streaming=streaming)


@lru_cache(maxsize=64)
def _local_plan(readme: str, size: int, mtime_ns: int, config: str,
                split: str) -> tuple[tuple[str, ...], datasets.Features] | None:
    """(data file patterns, features) of one config per card version; None when the card lacks either."""
    meta = cached_card_metadata(Path(readme))
    entry = next((c for c in meta.get("configs") or [] if isinstance(c, dict) and c.get("config_name") == config), None)
    infos = meta.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    info = next((i for i in infos if isinstance(i, dict) and i.get("config_name", config) == config), None)
    if entry is None or info is None or not info.get("features"):
        return None
    return tuple(data_file_patterns(entry, Path(readme), split=split)), datasets.Features._from_yaml_list(info["features"])


def iter_rows(name_or_alias: str, folder: str | os.PathLike, *, split: str = SPLIT,
              batch_rows: int = 64) -> Iterator[dict[str, Any]]:
    """Rows of one config of a local Hub-layout folder, straight from its parquet shards: the fast path.

    The same rows as :func:`load` (column values as Python objects, ``image`` and ``object_mask``
    opened with PIL, lazily decoded like ``datasets``' ``Image`` feature; ``label`` the integer
    class index) without ``datasets``' builder, cache or per-row feature decoding: pyarrow reads
    ``batch_rows`` rows at a time. For reading every image once, e.g. to score or inspect them.
    """
    subset = resolve(name_or_alias)
    root = Path(folder).expanduser()
    readme = (root / README_NAME).resolve()
    if not readme.is_file():
        raise FileNotFoundError(f"{root} is not a dataset folder in the Hub layout (no {README_NAME})")
    stat = readme.stat()
    plan = _local_plan(str(readme), stat.st_size, stat.st_mtime_ns, subset.name, split)
    if plan is None:
        raise ValueError(f"{readme} has no configs entry with features for config {subset.name!r} split {split!r}")
    patterns, features = plan
    files = sorted({str(f) for pattern in patterns for f in root.glob(pattern)})
    if not files:
        raise ValueError(f"{readme}: config {subset.name!r} split {split!r} matches no data file in {root}")
    images = [name for name, feature in features.items() if isinstance(feature, datasets.Image)]
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                for column in images:
                    row[column] = _open_image(row.get(column), root)
                yield row


def _open_image(value: dict | None, root: Path) -> PILImage.Image | None:
    if value is None:
        return None
    if value.get("bytes") is not None:
        return PILImage.open(io.BytesIO(value["bytes"]))
    if value.get("path"):
        return PILImage.open(root / value["path"])
    raise ValueError("image cell has neither bytes nor path")
