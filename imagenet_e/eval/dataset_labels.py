"""The labels side of a check: what an ImageNet-E dataset revision says each (subset, source) is.

Predictions are only worth their numbers if their labels are the dataset's, and every
(subset, source image) of the dataset has a row. :func:`load_dataset_labels` reads only the
``source_id`` and ``label`` columns of a dataset (a Hub-layout folder, a Hub dataset repo at a
revision, or anything :func:`imagenet_e_dataset.reader.load` reads) and caches them per
(dataset, revision); :func:`check_against_dataset` compares a predictions table with them. No
torch: the leaderboard and ``imagenet-e score`` use this.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Mapping

import numpy as np

from imagenet_e_dataset.label_space import LabelSpace
from imagenet_e_dataset.registry import resolve

from .predictions import PredictionTable

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_repo_id(value: str) -> bool:
    return bool(_REPO_ID.match(value)) and not Path(value).expanduser().exists()


_FILE_DIGESTS: dict[tuple[str, int, int, int, int, int], str] = {}
"""sha256 of a file's bytes, keyed by (path, size, mtime_ns, ctime_ns, inode, device): a shard rewritten
in place with the same size and its mtime set back still changes ctime (which no tool can set back),
and a file is hashed once while unchanged."""
_DIGEST_LOCK = threading.Lock()


def file_digest(file: Path) -> str:
    """sha256 of ``file``'s bytes, cached by path + size + mtime + ctime (ns) + inode + device."""
    st = file.stat()
    key = (str(file.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    with _DIGEST_LOCK:
        known = _FILE_DIGESTS.get(key)
    if known is None:
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        known = digest.hexdigest()
        with _DIGEST_LOCK:
            _FILE_DIGESTS[key] = known
    return known


def folder_revision(path: str | os.PathLike) -> str:
    """Content hash of a local dataset folder: README.md bytes + each parquet file's path and the
    sha256 of its bytes.

    The labels live in the parquet bytes, so the revision follows them: a re-generated shard of the
    same size and mtime is a new revision (size + mtime alone would serve stale labels). Each file's
    hash is cached by path + size + mtime + ctime + inode, so a long-running board re-reads only what changed.
    """
    path = Path(path)
    digest = hashlib.sha256()
    readme = path / "README.md"
    if readme.is_file():
        digest.update(readme.read_bytes())
    for file in sorted(path.rglob("*.parquet")):
        digest.update(f"\0{file.relative_to(path).as_posix()}\0{file_digest(file)}".encode())
    return "sha256:" + digest.hexdigest()[:32]


def dataset_revision(source: str | os.PathLike, revision: str | None = None) -> str | None:
    """Hub commit sha for a repo id; for a local folder its content hash."""
    path = Path(source)
    if path.is_dir():
        return folder_revision(path)
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(os.fspath(source), revision=revision).sha or revision
    except Exception:  # offline or private: the run is still valid, the revision just stays unknown
        return revision


def recorded_dataset_id(source: str | os.PathLike, *, record_paths: bool = False) -> str:
    """How a results file names its dataset: a Hub id as given, a local folder by its name only
    (its content hash is the revision), the absolute path only with ``record_paths``."""
    path = Path(source).expanduser()
    if path.is_dir():
        return str(path.resolve()) if record_paths else path.resolve().name
    return os.fspath(source)


@dataclass(frozen=True)
class ConfigLabels:
    source_ids: np.ndarray
    """object array of str, dataset order"""
    labels: np.ndarray
    label_space: LabelSpace = LabelSpace.imagenet()
    """The classes of the ``label`` column (from the parquet files' ``huggingface`` features)."""

    @cached_property
    def arrow_ids(self):
        import pyarrow as pa

        return pa.array(self.source_ids, pa.string())


@dataclass(frozen=True)
class DatasetLabels:
    """Labels of some configs of one dataset revision."""

    source: str
    revision: str | None
    configs: Mapping[str, ConfigLabels]

    @cached_property
    def label_space(self) -> LabelSpace:
        """The configs' one label space (an error naming the configs when they disagree)."""
        from .dataset_space import dataset_space_of

        return dataset_space_of({c: v.label_space for c, v in self.configs.items()}, source=self.source)


def _space_of_schema(schema, name: str) -> LabelSpace:
    """The ``label`` ClassLabel names ``datasets`` stores in a parquet schema (key ``huggingface``);
    ImageNet-1k when the file records none (files written before label spaces, plain integer labels)."""
    import json

    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        label = json.loads(raw)["info"]["features"]["label"] if raw else None
    except (ValueError, KeyError, TypeError):
        label = None
    names = label.get("names") if isinstance(label, dict) else None
    return LabelSpace.from_names(names, name=name) if names else LabelSpace.imagenet()


def _read_columns(files: list, open_file=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for file in files:
        if open_file is None:
            parquet = pq.ParquetFile(file)
            tables.append(parquet.read(columns=["source_id", "label"]).replace_schema_metadata(parquet.schema_arrow.metadata))
        else:
            with open_file(file) as fh:  # range reads: only the two small columns travel
                parquet = pq.ParquetFile(fh)
                tables.append(parquet.read(columns=["source_id", "label"])
                              .replace_schema_metadata(parquet.schema_arrow.metadata))
    return pa.concat_tables(tables) if tables else None


def _as_config(table, where: str, space_name: str = "custom", space: LabelSpace | None = None) -> ConfigLabels:
    if table is None or table.num_rows == 0:
        raise ValueError(f"{where} holds no rows")
    if table.column("label").null_count:
        raise ValueError(f"{where} has rows without a label")
    ids = table.column("source_id").to_numpy(zero_copy_only=False).astype(object, copy=False)
    space = space if space is not None else _space_of_schema(table.schema, space_name)
    return ConfigLabels(ids, table.column("label").to_numpy().astype(np.int64), space)


def _from_folder(folder: Path, config: str) -> ConfigLabels:
    files = sorted((folder / config).glob("*.parquet"))
    if not files:
        raise ValueError(f"the dataset {folder.name!r} has no config {config!r}")
    return _as_config(_read_columns(files), f"config {config!r} of {folder.name!r}", folder.resolve().name)


def _from_hub(repo_id: str, revision: str, config: str) -> ConfigLabels:
    from huggingface_hub import HfApi, HfFileSystem

    files = sorted(f for f in HfApi().list_repo_files(repo_id, repo_type="dataset", revision=revision)
                   if f.startswith(f"{config}/") and f.endswith(".parquet"))
    if not files:
        raise ValueError(f"the dataset {repo_id}@{revision} has no config {config!r}")
    fs = HfFileSystem()
    table = _read_columns([f"datasets/{repo_id}@{revision}/{f}" for f in files], open_file=fs.open)
    return _as_config(table, f"config {config!r} of {repo_id}@{revision}", repo_id)


def _from_reader(source: str, revision: str | None, config: str) -> ConfigLabels:
    from imagenet_e_dataset.reader import load

    from .data import features_space

    ds = load(config, source, revision=revision)
    return _as_config(ds.select_columns(["source_id", "label"]).data.table, f"config {config!r} of {source}",
                      space=features_space(ds.features, name=Path(source).name or source))


_CACHE: dict[tuple[str, str | None, str], ConfigLabels] = {}
_CACHE_LOCK = threading.Lock()


def load_dataset_labels(source: str | os.PathLike, configs: list[str], *, revision: str | None = None) -> DatasetLabels:
    """Labels of ``configs`` from ``source`` at ``revision``, cached per (dataset, revision, config).

    A local folder's revision is its content hash; when ``revision`` is given for a folder it must
    match (a results file names the revision it was scored on). A Hub repo is read at ``revision``
    (resolved to a commit sha first, so a moving branch is never cached under its name).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        actual = folder_revision(path)
        if revision is not None and revision != actual:
            raise ValueError(f"the dataset folder {path.name!r} is at revision {actual}, not {revision}: "
                             "it changed since the predictions were made")
        key_source, resolved = str(path.resolve()), actual
        is_layout = (path / "README.md").is_file()

        def load_one(config):
            return _from_folder(path, config) if is_layout else _from_reader(str(path), None, config)
    else:
        text = os.fspath(source)
        if not _REPO_ID.match(text):
            raise FileNotFoundError(f"dataset {text!r} is neither an existing folder nor a Hub repo id")
        from huggingface_hub import HfApi

        resolved = HfApi().dataset_info(text, revision=revision).sha or revision
        key_source = text

        def load_one(config):
            return _from_hub(text, resolved, config)
    out: dict[str, ConfigLabels] = {}
    for config in configs:
        try:
            name = resolve(config).name
        except ValueError:
            # A config the registry lacks (a plug-in's, read without it) is read under its own name, if it
            # is a plain folder name: the dataset then says whether it has it.
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", str(config)):
                raise
            name = config
        key = (key_source, resolved, name)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
        if cached is None:
            cached = load_one(name)
            with _CACHE_LOCK:
                _CACHE[key] = cached
        out[name] = cached
    return DatasetLabels(key_source, resolved, out)


def check_against_dataset(table: PredictionTable, labels: DatasetLabels, *, where: str,
                          allow_partial: bool = False) -> None:
    """Refuse predictions that do not match the dataset, naming the first offending row.

    The predictions' label space must be the dataset's (same class names in the same order);
    every row must be a (config, source) of the dataset with the dataset's label; every
    (config, source) of the dataset must have a row unless ``allow_partial`` (a ``--limit`` run).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    missing_configs = [c for c in table.configs if c not in labels.configs]
    if missing_configs:
        raise ValueError(f"{where}: the dataset has no config(s) {missing_configs}")
    ours, theirs_space = table.label_space, labels.label_space
    if ours.digest() != theirs_space.digest():
        def said(space: LabelSpace) -> str:
            shown = ", ".join(repr(n) for n in space.names[:4]) + (", ..." if space.num_classes > 4 else "")
            return f"{space.name!r} ({space.num_classes} classes: {shown}; sha256 {space.digest()[:12]})"

        raise ValueError(f"{where}: the predictions are in the label space {said(ours)}, but the dataset's labels are "
                         f"in {said(theirs_space)}: predictions made for another label space are not scored here")
    for config, rows in table.groups.items():
        theirs = labels.configs[config]
        ids = pa.array(table.source_ids[rows], pa.string())
        position = pc.index_in(ids, value_set=theirs.arrow_ids)
        if position.null_count:
            k = int(pc.index(pc.is_null(position), True).as_py())
            raise ValueError(f"{where}: row {int(rows[k])} ({config}, {table.source_ids[rows[k]]}) is not an image of "
                             f"the dataset's config {config!r}")
        at = position.to_numpy().astype(np.int64)
        wrong = np.flatnonzero(table.labels[rows] != theirs.labels[at])
        if wrong.size:
            k = int(wrong[0])
            raise ValueError(f"{where}: row {int(rows[k])} ({config}, {table.source_ids[rows[k]]}) has label "
                             f"{int(table.labels[rows[k]])} but the dataset's label is {int(theirs.labels[at[k]])}")
        present = np.zeros(len(theirs.labels), dtype=bool)
        present[at] = True
        if not allow_partial and not present.all():
            absent = np.flatnonzero(~present)
            raise ValueError(f"{where}: {absent.size} of the dataset's {present.size} images of {config!r} have no row, "
                             f"first ({config}, {theirs.source_ids[absent[0]]}); predictions must cover the dataset")


def coverage(table: PredictionTable, labels: DatasetLabels) -> tuple[int, int]:
    """(rows the predictions hold, rows the dataset's configs hold) for the configs predicted."""
    return len(table), sum(len(labels.configs[c].labels) for c in table.configs if c in labels.configs)
