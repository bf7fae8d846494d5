"""The evaluation's input side: ImageNet-E configs as one flat, undecoded image table.

All selected configs are scored in one pass: one DataLoader walks the concatenation of the
configs. ``datasets`` is told not to decode the image column, so each image is decoded exactly
once, by PIL, inside a DataLoader worker, and goes straight into the model's preprocessing.
"""

from __future__ import annotations

import logging

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from imagenet_e_dataset.label_space import LabelSpace
from imagenet_e_dataset.registry import Subset
from generation.image_io import image_error_text, to_rgb8

REQUIRED_COLUMNS = ("image", "label", "source_id")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfigTable:
    """One config's rows: the undecoded image column plus labels and source ids held in memory."""

    subset: Subset
    images: Any
    """A ``datasets.Dataset`` with only the ``image`` column, ``decode=False`` (dicts of bytes/path)."""
    labels: np.ndarray
    source_ids: np.ndarray
    rows: np.ndarray
    """Row numbers of ``images`` to score (all of them unless ``--limit`` picked some)."""
    label_space: LabelSpace = LabelSpace.imagenet()
    """The classes of the config's ``label`` column (its ClassLabel names)."""


def features_space(features: Any, *, name: str = "custom") -> LabelSpace:
    """The label space of a config's features; ImageNet-1k when ``label`` has no class names (a plain
    integer column, as datasets written before label spaces were recorded may hold)."""
    label = features.get("label") if hasattr(features, "get") else None
    if not getattr(label, "names", None):
        return LabelSpace.imagenet()
    return LabelSpace.from_features(features, name=name)


def _local_files_state(source: str, config: str) -> tuple | None:
    """What a local Hub-layout config's bytes are, cheaply: (path, size, mtime) of its card and shards;
    None for anything else (a Hub id, the authors' release), which is not cached."""
    folder = Path(source).expanduser()
    readme = folder / "README.md"
    if not readme.is_file() or not (folder / config).is_dir():
        return None
    files = [readme, *sorted(p for p in (folder / config).rglob("*") if p.is_file())]
    return tuple((str(p.resolve()), st.st_size, st.st_mtime_ns) for p in files for st in [p.stat()])


_OPENED: dict[tuple, "ConfigTable"] = {}
_OPENED_MAX = 64


def _config_table(source: str, subset: Subset, revision: str | None) -> "ConfigTable":
    """One config's table (every row), built once per process and file version: a second evaluation in
    the same process (the next model of a sweep, a benchmark round) skips ``datasets``' per-open cost
    and the column reads, casts and label-space copies after it (~30 ms a config, most of it copying
    the 1,000 class names). Any change to the card or a shard (size or mtime) reopens it."""
    state = _local_files_state(source, subset.name) if revision is None else None
    key = (subset.name, state)
    if state is not None and key in _OPENED:
        return replace(_OPENED[key], subset=subset)
    table = _read_config_table(source, subset, revision)
    if state is not None:
        if len(_OPENED) >= _OPENED_MAX:
            _OPENED.pop(next(iter(_OPENED)))
        _OPENED[key] = table
    return table


def _read_config_table(source: str, subset: Subset, revision: str | None) -> "ConfigTable":
    import datasets

    ds = _open_config(source, subset, revision)
    label_column = ds.data.column("label")
    if label_column.null_count:
        raise ValueError(f"config {subset.name!r} in {source} has rows without a label")
    labels = label_column.to_numpy().astype(np.int64)
    source_ids = np.asarray(ds.data.column("source_id").to_pylist(), dtype=object)
    for shared in (labels, source_ids):  # cached and handed to every later call: nobody may edit them
        shared.setflags(write=False)
    images = ds.select_columns(["image"]).cast_column("image", datasets.Image(decode=False))
    space = features_space(ds.features, name=_space_name(source))
    return ConfigTable(subset, images, labels, source_ids, np.arange(len(labels)), space)


def _open_config(source: str, subset: Subset, revision: str | None) -> Any:
    import datasets

    try:
        from imagenet_e_dataset.reader import load
    except ImportError:  # the reader is optional: plain load_dataset reads the same Hub layout
        load = None
    try:
        if load is not None:
            ds = load(subset.name, source, revision=revision)
        else:
            ds = datasets.load_dataset(source, subset.name, split="test", revision=revision)
    except (ValueError, FileNotFoundError):
        raise
    except Exception as exc:  # datasets raises many types for a config that is not there
        raise ValueError(f"cannot load config {subset.name!r} from {source}: {type(exc).__name__}: {exc}") from None
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["test"]
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise ValueError(f"config {subset.name!r} in {source} lacks column(s) {missing}; has {ds.column_names}")
    return ds


def available_configs(source: str | os.PathLike, revision: str | None = None) -> list[str] | None:
    """Config names the dataset actually has (registry order), or None when that cannot be listed.

    ``--configs all`` means every subset the dataset holds: a partial build (only some subsets
    generated yet) is still scorable.
    """
    path = Path(source)
    if path.is_dir():
        if (path / "README.md").is_file():
            return _known([p.name for p in path.iterdir() if p.is_dir() and any(p.glob("*.parquet"))])
        return None  # e.g. the authors' release folder: the reader knows how to read it
    try:
        import datasets

        names = datasets.get_dataset_config_names(os.fspath(source), revision=revision)
    except Exception:
        return None
    return _known(names)


def _known(names: Sequence[str]) -> list[str]:
    """The configs among ``names`` the registry knows, in its order. Sweep levels (``size_0.02``) are
    recognised from their names; a config of an attribute no loaded plug-in provides is reported."""
    from imagenet_e_dataset.registry import ALL_SUBSETS, recognise

    unknown = recognise(names)
    if unknown:
        logger.warning("the dataset's config(s) %s belong to no registered attribute and are not scored; "
                       "load their plug-in with --plugin", ", ".join(sorted(unknown)))
    return [name for name in ALL_SUBSETS if name in set(names)]


def load_configs(source: str | os.PathLike, subsets: Sequence[Subset], *, revision: str | None = None,
                 limit: int | None = None) -> list[ConfigTable]:
    """Load every selected config undecoded; with ``limit``, keep the first ``limit`` source images.

    The limit picks source images, not rows, so the subsets stay paired: the first ``limit``
    source ids of the first config (``original``) are kept in every config.
    """
    source = os.fspath(source)
    tables: list[ConfigTable] = []
    keep: set[str] | None = None
    for subset in subsets:
        table = _config_table(source, subset, revision)
        if limit is not None and keep is None:
            keep = set(list(dict.fromkeys(table.source_ids.tolist()))[:limit])
        if keep is not None:
            table = replace(table, rows=np.flatnonzero([s in keep for s in table.source_ids]))
        tables.append(table)
    return tables


def _space_name(source: str) -> str:
    """A custom label space is named after its dataset: a Hub id as given, a folder by its name."""
    path = Path(source).expanduser()
    return path.resolve().name if path.is_dir() else source


@dataclass(frozen=True)
class Item:
    position: int
    pixels: torch.Tensor | None
    error: str | None = None


class EncodedImages(torch.utils.data.Dataset):
    """Flat view over several :class:`ConfigTable`; position ``p`` is a (config, row) pair.

    ``__getitems__`` lets the DataLoader fetch a whole batch with one Arrow read per config.
    """

    def __init__(self, tables: Sequence[ConfigTable], preprocess: Callable[[Image.Image], torch.Tensor]) -> None:
        self.tables = list(tables)
        self.preprocess = preprocess
        self.table_of = np.concatenate([np.full(len(t.rows), i, dtype=np.int64) for i, t in enumerate(self.tables)])
        self.row_of = np.concatenate([t.rows for t in self.tables]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.row_of)

    def __getitem__(self, position: int) -> Item:
        return self.__getitems__([position])[0]

    def __getitems__(self, positions: Sequence[int]) -> list[Item]:
        positions = np.asarray(positions, dtype=np.int64)
        out: dict[int, Item] = {}
        for t in np.unique(self.table_of[positions]):
            mine = positions[self.table_of[positions] == t]
            records = self.tables[t].images[self.row_of[mine].tolist()]["image"]
            for position, record in zip(mine.tolist(), records):
                out[position] = self._decode(position, record)
        return [out[p] for p in positions.tolist()]

    def _decode(self, position: int, record: dict | None) -> Item:
        # A corrupt or missing image is reported and skipped, not fatal: one bad file must not
        # throw away an hour of scoring.
        try:
            if record is None:
                raise ValueError("image is missing")
            if record.get("bytes") is not None:
                image = Image.open(io.BytesIO(record["bytes"]))
            elif record.get("path"):
                image = Image.open(record["path"])
            else:
                raise ValueError("image has neither bytes nor path")
            # The shared conversion: 16-bit, float and other modes scaled to 8-bit RGB, not clipped to white.
            return Item(position, self.preprocess(to_rgb8(image)))
        except Exception as exc:
            return Item(position, None, f"{type(exc).__name__}: {image_error_text(exc)}")


@dataclass(frozen=True)
class Batch:
    positions: torch.Tensor
    pixels: torch.Tensor | None
    failures: tuple[tuple[int, str], ...]

    def pin_memory(self) -> "Batch":
        return Batch(self.positions, None if self.pixels is None else self.pixels.pin_memory(), self.failures)


def collate(items: Sequence[Item], channels_last: bool = False) -> Batch:
    """One batch; ``channels_last`` lays the pixels out NHWC here, in the worker, with the single copy the
    stacking makes anyway, instead of a second full copy on the main process, between forwards."""
    good = [it for it in items if it.pixels is not None]
    failures = tuple((it.position, it.error or "unknown error") for it in items if it.pixels is None)
    if good:
        shapes = {tuple(it.pixels.shape) for it in good}
        if len(shapes) > 1:
            raise ValueError(f"preprocessing produced tensors of different shapes {sorted(shapes)}; "
                             "it must resize/crop every image to one size")
        if channels_last and good[0].pixels.ndim == 3:
            first = good[0].pixels
            pixels = torch.empty((len(good), *first.shape), dtype=first.dtype).contiguous(
                memory_format=torch.channels_last)
            for i, it in enumerate(good):
                pixels[i].copy_(it.pixels)
        else:
            pixels = torch.stack([it.pixels for it in good])
    else:
        pixels = None
    return Batch(torch.as_tensor([it.position for it in good], dtype=torch.int64), pixels, failures)


def worker_init(_: int) -> None:
    # Each worker decodes one image at a time; intra-op threads would only fight the model's. OpenCV is
    # left alone: cv2.setNumThreads in a forked child deadlocks on the parent's thread pool, and the only
    # OpenCV call here (the LUT) runs on one thread below 2^18 pixels, i.e. for any crop up to 512 px.
    torch.set_num_threads(1)
