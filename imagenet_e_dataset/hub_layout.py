"""Write ImageNet-E in the Hub's dataset layout: ``<config>/test-0000K-of-0000N.parquet`` + ``README.md``.

The layout is the one ``Dataset.push_to_hub(config_name=...)`` produces (same parquet writer
options, same ``configs:`` / ``dataset_info:`` YAML, built with the ``datasets`` helpers that
``push_to_hub`` itself uses), so a folder written here loads with ``load_dataset(folder, config)``
and can be uploaded as-is.

The writer is streaming: rows are appended per config to Arrow IPC staging files (bounded memory,
image bytes are never re-encoded) and only :meth:`HubLayoutWriter.finalize` sorts them by
``source_id``, splits them into size-bounded shards and writes the card. Everything goes to a
temporary sibling folder renamed into place at the very end, so a crashed or failed run never
leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import os
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .output_folder import OutputKind, check_output_folder, make_staging, release_staging, replace_output
from .features import is_source_id, make_features
from .label_space import LabelSpace
from .labels import check_label
from .layout_records import SPLIT, CardContext, ConfigStats, ShardFile
from .registry import ALL_SUBSETS, resolve
from .checksums import file_sha256 as _sha256
from .description import describe_configs
from .description_io import write_description

DEFAULT_MAX_SHARD_BYTES = 500 * 2**20
# One row group per this many rows: random access to an image dataset reads a whole row group,
# and the Hub's viewer works best with ~100-row groups for images.
ROW_GROUP_ROWS = 100
# Rows buffered in memory per config before they are appended to the staging file.
_STAGE_FLUSH_ROWS = 256
_STAGE_FLUSH_BYTES = 64 * 2**20
README_NAME = "README.md"
# A bound far above any sensible shard (the Hub recommends < 1 GB) that still fits every integer type.
MAX_SHARD_BYTES_LIMIT = 10**15
EVAL_YAML_NAME = "eval.yaml"


def parse_size(text: str | int) -> int:
    """``"500MB"`` -> bytes (decimal units like ``datasets``' ``max_shard_size``; ``MiB`` binary).

    >>> parse_size("500MB"), parse_size("1MiB"), parse_size(123)
    (500000000, 1048576, 123)
    """
    if isinstance(text, int):
        value = text
    else:
        units = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
        raw = text.strip().upper()
        for unit, factor in units.items():
            if raw.endswith(unit):
                number = raw[: -len(unit)].strip()
                break
        else:
            number, factor = raw, 1
        try:
            amount = float(number) * factor
        except ValueError:
            raise ValueError(f"cannot parse size {text!r}; use e.g. 500MB, 64MiB or a byte count") from None
        if math.isnan(amount):
            raise ValueError(f"cannot parse size {text!r}; use e.g. 500MB, 64MiB or a byte count")
        if amount <= 0:
            raise ValueError(f"size must be positive, got {text!r}")
        if amount > MAX_SHARD_BYTES_LIMIT:
            # float("1e400") is inf: int() of it would raise OverflowError, not a message.
            raise ValueError(f"size {text!r} is too large; the largest accepted is {MAX_SHARD_BYTES_LIMIT} bytes (e.g. 500MB)")
        value = int(amount)
    if isinstance(value, bool) or value <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return value


def shard_file_name(index: int, num_shards: int) -> str:
    return f"{SPLIT}-{index:05d}-of-{num_shards:05d}.parquet"


def _normalise_image(value: Any, *, column: str, where: str, required: bool) -> dict | None:
    """Keep the encoded bytes as given (no re-encoding); store only the file's base name as path."""
    if value is None:
        if required:
            raise ValueError(f"{where}: {column} is missing")
        return None
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value), "path": None}
    if not isinstance(value, Mapping) or not isinstance(value.get("bytes"), (bytes, bytearray)):
        raise ValueError(f"{where}: {column} must be a dict with encoded 'bytes' (and optional 'path'), got {type(value).__name__}")
    path = value.get("path")
    return {"bytes": bytes(value["bytes"]), "path": os.path.basename(path) if path else None}


class HubLayoutWriter:
    """Streaming writer of one ImageNet-E dataset folder in the Hub layout.

    ``add(config, row)`` any number of times (configs in any order, rows in any order), then
    ``finalize(card_context)`` once. ``abort()`` (or leaving a ``with`` block by an exception)
    removes the staging folder and leaves ``out_dir`` untouched.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        *,
        max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
        with_object_mask: bool = False,
        overwrite: bool = False,
        command: str = "dataset writer",
        inputs: Sequence[str | os.PathLike] = (),
        label_space: LabelSpace | None = None,
    ) -> None:
        # The output-folder rule (imagenet_e_dataset.output_folder): only a new folder, or with
        # ``overwrite`` one of the tool's own dataset folders, never one overlapping an input.
        self.command = command
        self.inputs = tuple(inputs)
        self.out_dir = check_output_folder(out_dir, command=command, kind=OutputKind.DATASET, inputs=self.inputs,
                                           overwrite=overwrite)
        self.max_shard_bytes = parse_size(max_shard_bytes)
        self.with_object_mask = bool(with_object_mask)
        # The dataset's classes (default ImageNet-1k): the ``label`` ClassLabel names and the ``wnid`` ids.
        self.label_space = label_space or LabelSpace.imagenet()
        self.features = make_features(self.with_object_mask, self.label_space)
        self.schema = self.features.arrow_schema
        self.overwrite = overwrite
        # Sibling of the output so the final move into place is a same-filesystem rename; locked while
        # this writer lives, so the next writer removes it if this process is killed.
        self._tmp = make_staging(self.out_dir, "tmp")
        self._stage_dir = self._tmp / ".staging"
        self._stage_dir.mkdir()
        self._buffers: dict[str, list[dict]] = {}
        self._buffer_bytes: dict[str, int] = {}
        self._stage_writers: dict[str, pa.RecordBatchStreamWriter] = {}
        self._stage_sinks: dict[str, Any] = {}
        self._closed = False

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> HubLayoutWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._closed:
            self.abort()

    # -- adding rows ----------------------------------------------------------------------------
    def validate_row(self, config: str, row: Mapping[str, Any]) -> tuple[str, dict]:
        """Check one row against the schema and the registry; return (config name, normalised row).

        ``wnid``, ``attribute`` and ``level`` are filled from the label / registry when absent and
        must agree with them when present.
        """
        subset = resolve(config)
        source_id = row.get("source_id")
        where = f"config {subset.name!r}, source_id {source_id!r}"
        if not is_source_id(source_id):
            raise ValueError(f"{where}: source_id must be an ImageNet id like ILSVRC2012_val_XXXXXXXX or a file-name-safe "
                             "stem (letters, digits, '_', '.', '-')")
        allowed = set(self.features) | {"object_mask"}
        unknown = set(row) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown columns {sorted(unknown)}; the schema has {sorted(allowed)}")
        if self.label_space.is_imagenet:
            label = check_label(row.get("label"), where=where)
        else:
            label = self.label_space.check(row.get("label"), where=where)
        expected = {"wnid": self.label_space.ids[label], "attribute": subset.attribute.name, "level": subset.level}
        out: dict[str, Any] = {"source_id": source_id, "label": label}
        for key, value in expected.items():
            given = row.get(key)
            if given is not None and given != value:
                raise ValueError(f"{where}: {key} {given!r} disagrees with the expected {value!r}")
            out[key] = value
        seed = row.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63):
            raise ValueError(f"{where}: seed must be an int64 or None, got {seed!r}")
        out["seed"] = seed
        out["image"] = _normalise_image(row.get("image"), column="image", where=where, required=True)
        if self.with_object_mask:
            out["object_mask"] = _normalise_image(row.get("object_mask"), column="object_mask", where=where, required=False)
        elif row.get("object_mask") is not None:
            raise ValueError(f"{where}: row has an object_mask but the writer was made with with_object_mask=False")
        return subset.name, out

    def add(self, config: str, row: Mapping[str, Any]) -> None:
        """Append one row to ``config`` (a config name or official folder alias)."""
        self._check_open()
        name, clean = self.validate_row(config, row)
        self._buffers.setdefault(name, []).append(clean)
        size = len(clean["image"]["bytes"]) + (len(clean["object_mask"]["bytes"]) if clean.get("object_mask") else 0)
        self._buffer_bytes[name] = self._buffer_bytes.get(name, 0) + size
        if len(self._buffers[name]) >= _STAGE_FLUSH_ROWS or self._buffer_bytes[name] >= _STAGE_FLUSH_BYTES:
            self._flush(name)

    def _stage_writer(self, name: str) -> pa.RecordBatchStreamWriter:
        if name not in self._stage_writers:
            sink = pa.OSFile(str(self._stage_dir / f"{name}.arrow"), "wb")
            self._stage_sinks[name] = sink
            self._stage_writers[name] = pa.ipc.new_stream(sink, self.schema)
        return self._stage_writers[name]

    def _flush(self, name: str) -> None:
        rows = self._buffers.pop(name, None)
        self._buffer_bytes.pop(name, None)
        if not rows:
            return
        encoded = self.features.encode_batch({k: [r.get(k) for r in rows] for k in self.features})
        batch = pa.RecordBatch.from_pydict(encoded, schema=self.schema)
        self._stage_writer(name).write_batch(batch)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"writer for {self.out_dir} is already finalized or aborted")

    def _close_staging(self) -> None:
        for name in list(self._buffers):
            self._flush(name)
        for writer in self._stage_writers.values():
            writer.close()
        for sink in self._stage_sinks.values():
            sink.close()
        self._stage_writers.clear()
        self._stage_sinks.clear()

    # -- finishing ------------------------------------------------------------------------------
    def abort(self) -> None:
        """Drop everything written so far; ``out_dir`` is left as it was."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close_staging()
        finally:
            release_staging(self._tmp)

    def finalize(self, card_context: CardContext | Mapping[str, Any] | None = None) -> Path:
        """Sort, shard and write every config, the card and ``eval.yaml``; move the folder into place."""
        self._check_open()
        context = CardContext.coerce(card_context)
        try:
            self._close_staging()
            staged = sorted(p.stem for p in self._stage_dir.glob("*.arrow"))
            if not staged:
                raise ValueError(f"no rows were added; refusing to write an empty dataset to {self.out_dir}")
            order = [name for name in ALL_SUBSETS if name in staged]
            stats = [self._write_config(name) for name in order]
            shutil.rmtree(self._stage_dir)
            from .card import LICENSE_FILE, licence_file, render_readme  # imports datasets: only when a card is written
            from .eval_yaml import eval_yaml_text

            # The description is captured from the plug-ins now; every later surface reads it, not them.
            description = describe_configs(
                {s.name: s.num_examples for s in stats}, self.label_space, origin=context.origin,
                protocol=context.protocol, backend=context.backend, model=context.model,
                mask_source=context.mask_source)
            write_description(self._tmp, description)
            stats.sort(key=lambda s: description.config(s.name).severity_rank)
            readme = render_readme(stats, self.features, context, description)
            (self._tmp / README_NAME).write_text(readme, encoding="utf-8")
            licence = licence_file(context)
            if licence is not None:
                (self._tmp / LICENSE_FILE).write_text(licence, encoding="utf-8")
            (self._tmp / EVAL_YAML_NAME).write_text(eval_yaml_text(description), encoding="utf-8")
            # Checked again: a folder that appeared at out_dir while writing is never replaced unless it is ours.
            replace_output(self._tmp, self.out_dir, command=self.command, kind=OutputKind.DATASET,
                           inputs=self.inputs, overwrite=self.overwrite)
        except BaseException:
            self._closed = True
            release_staging(self._tmp)
            raise
        self._closed = True
        release_staging(self._tmp, remove=False)
        return self.out_dir

    def _write_config(self, name: str) -> ConfigStats:
        # The staged rows stay memory-mapped; only one shard's rows are gathered (sorted) at a time.
        source = pa.memory_map(str(self._stage_dir / f"{name}.arrow"))
        table = None
        try:
            table = pa.ipc.open_stream(source).read_all()
            order = pc.sort_indices(table.column("source_id"))
            sorted_ids = table.column("source_id").take(order).to_pylist()
            for a, b in zip(sorted_ids, sorted_ids[1:]):
                if a == b:
                    raise ValueError(f"config {name!r}: source_id {a!r} was added more than once")
            unsorted_sizes = _row_sizes(table)
            row_bytes = [unsorted_sizes[i] for i in order.to_pylist()]
            bounds = _shard_bounds(row_bytes, self.max_shard_bytes)
            (self._tmp / name).mkdir()
            files = []
            dataset_bytes = 0
            for index, (start, stop) in enumerate(bounds):
                rel = f"{name}/{shard_file_name(index, len(bounds))}"
                shard = table.take(order.slice(start, stop - start))
                dataset_bytes += _dataset_nbytes(shard)
                _write_parquet(shard, self._tmp / rel, self.features)
                files.append(ShardFile(rel, shard.num_rows, (self._tmp / rel).stat().st_size, _sha256(self._tmp / rel)))
                del shard
            return ConfigStats(name, table.num_rows, dataset_bytes, tuple(files))
        finally:
            del table
            source.close()


def _dataset_nbytes(table: pa.Table) -> int:
    """``SplitInfo.num_bytes`` as ``Dataset._estimate_nbytes`` (used by push_to_hub) defines it:
    the Arrow size minus the image columns' ``path`` strings (up to validity-bitmap bytes)."""
    paths = sum(pc.struct_field(table.column(c), "path").nbytes for c in ("image", "object_mask") if c in table.column_names)
    return table.nbytes - paths


def _row_sizes(table: pa.Table) -> list[int]:
    """Approximate bytes per row: the encoded image (and mask) bytes dominate everything else."""
    sizes = pc.binary_length(pc.struct_field(table.column("image"), "bytes")).fill_null(0)
    if "object_mask" in table.column_names:
        mask = pc.binary_length(pc.struct_field(table.column("object_mask"), "bytes")).fill_null(0)
        sizes = pc.add(sizes, mask)
    return [s + 128 for s in sizes.to_pylist()]


def _shard_bounds(row_bytes: Sequence[int], max_bytes: int) -> list[tuple[int, int]]:
    """Greedy contiguous split: a new shard starts when the next row would push past ``max_bytes``."""
    bounds, start, total = [], 0, 0
    for i, size in enumerate(row_bytes):
        if total and total + size > max_bytes:
            bounds.append((start, i))
            start, total = i, 0
        total += size
    bounds.append((start, len(row_bytes)))
    return bounds


def _write_parquet(table: pa.Table, path: Path, features) -> None:
    # Same writer options as datasets' ParquetDatasetWriter (what push_to_hub uploads): the HF
    # features in the schema metadata, image bytes stored PLAIN and uncompressed, content-defined
    # chunking for Xet dedup, page index.
    from datasets import config as ds_config
    from datasets.arrow_writer import get_parquet_column_options

    schema = features.arrow_schema
    with pq.ParquetWriter(
        str(path),
        schema=schema,
        use_content_defined_chunking=ds_config.DEFAULT_CDC_OPTIONS,
        write_page_index=True,
        **get_parquet_column_options(features, schema),
    ) as writer:
        for offset in range(0, max(table.num_rows, 1), ROW_GROUP_ROWS):
            writer.write_table(table.slice(offset, ROW_GROUP_ROWS).cast(schema))
        writer.add_key_value_metadata({"content_defined_chunking": json.dumps(ds_config.DEFAULT_CDC_OPTIONS)})


__all__ = [
    "DEFAULT_MAX_SHARD_BYTES",
    "SPLIT",
    "CardContext",
    "ConfigStats",
    "HubLayoutWriter",
    "ShardFile",
    "parse_size",
    "shard_file_name",
]
