"""Per-image predictions: the file every ImageNet-E number is computed from.

``predictions.parquet`` holds one row per (subset, source image) the run was asked to score:

============  ==================================  =============================================
column        type                                meaning
============  ==================================  =============================================
subset        dictionary<string>                  config name (``background_20``)
source_id     string                              source image id (``ILSVRC2012_val_00000001``)
label         int16                               the dataset's label for the row (a class index of
                                                  the dataset's label space, ImageNet-1k by default)
top1          int16, null when skipped            the model's top-1 class (same space)
top5          fixed_size_list<int16>[5], nullable the model's five best classes, best first; only
                                                  present when the model ranks at least 5 classes
skipped       string, null when scored            why the row has no prediction (unreadable image,
                                                  non-finite logits with ``--skip-non-finite``)
============  ==================================  =============================================

The schema metadata key ``imagenet_e`` holds the run's description as JSON (model, dataset,
preprocessing, protocol, environment, run settings, date): everything a results file says that is
not computed from the rows, so :func:`imagenet_e.eval.scoring.results_from_predictions` rebuilds
the results file from this file alone. Its ``label_space`` entry names the classes the indices
are ({name, num_classes, sha256} of :class:`~imagenet_e_dataset.label_space.LabelSpace`, plus the
class ``names`` for a space other than ImageNet-1k); a file without it (written before label
spaces) is ImageNet-1k. No torch here: the leaderboard reads these files.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_e_dataset.checksums import file_sha256, sha256_bytes  # noqa: F401  (re-exported)
from imagenet_e_dataset.label_space import LabelSpace
from imagenet_e_dataset.registry import ALL_SUBSETS, recognise, resolve


PREDICTIONS_FILE = "predictions.parquet"
PREDICTIONS_SUFFIX = ".predictions.parquet"
METADATA_KEY = b"imagenet_e"
FORMAT_VERSION = 1
TOP_K = 5
COLUMNS = ("subset", "source_id", "label", "top1", "top5", "skipped")
MAX_CLASSES = 2**15 - 1  # label, top1 and top5 are int16 columns


def label_space_metadata(space: LabelSpace) -> dict[str, Any]:
    """What a predictions file records about its label space (the names only when not ImageNet-1k:
    ImageNet-1k's are known, its sha256 identifies them)."""
    if space.num_classes > MAX_CLASSES:
        raise ValueError(f"label space {space.name!r} has {space.num_classes} classes; a predictions file holds "
                         f"at most {MAX_CLASSES}")
    return space.describe() if space.is_imagenet else {**space.describe(), "names": list(space.names)}


def label_space_from_metadata(metadata: dict[str, Any], *, where: str) -> LabelSpace:
    """The label space a predictions file's metadata records (ImageNet-1k when it records none)."""
    recorded = metadata.get("label_space")
    if recorded is None:
        return LabelSpace.imagenet()
    if not isinstance(recorded, dict) or not isinstance(recorded.get("sha256"), str):
        raise _fail(where, "the metadata's label_space must be an object with name, num_classes and sha256")
    names = recorded.get("names")
    try:
        space = LabelSpace.imagenet() if names is None else LabelSpace.from_names(
            names, name=str(recorded.get("name") or "custom"))
    except (TypeError, ValueError) as exc:
        raise _fail(where, f"the metadata's label_space names are not a label space ({exc})") from None
    if recorded["sha256"] != space.digest() or recorded.get("num_classes") != space.num_classes:
        raise _fail(where, f"the metadata's label_space says {recorded.get('num_classes')!r} classes with sha256 "
                           f"{recorded['sha256']}, but its class names give {space.num_classes} with sha256 "
                           f"{space.digest()}" + (" (ImageNet-1k; a custom space records its names)" if names is None else ""))
    return space
_REQUIRED = ("subset", "source_id", "label", "top1")


def predictions_path_for(results_path: str | os.PathLike) -> Path:
    """Where the predictions of ``results_path`` live: ``results.json`` -> ``predictions.parquet``,
    ``X.json`` -> ``X.predictions.parquet`` (so several results files can share a folder)."""
    path = Path(results_path)
    if path.name == "results.json":
        return path.with_name(PREDICTIONS_FILE)
    return path.with_name(path.stem + PREDICTIONS_SUFFIX)


def results_path_for(predictions_path: str | os.PathLike) -> Path:
    """The inverse of :func:`predictions_path_for`."""
    path = Path(predictions_path)
    if path.name == PREDICTIONS_FILE:
        return path.with_name("results.json")
    if path.name.endswith(PREDICTIONS_SUFFIX):
        return path.with_name(path.name[: -len(PREDICTIONS_SUFFIX)] + ".json")
    return path.with_suffix(".json")


@dataclass(frozen=True)
class PredictionTable:
    """The rows of a predictions file, as numpy arrays in file order."""

    subsets: np.ndarray
    """Config name per row (object array of str)."""
    source_ids: np.ndarray
    labels: np.ndarray
    """int64 ImageNet-1k label per row."""
    top1: np.ndarray
    """int64 top-1 class per row; -1 where the row was skipped."""
    top5: np.ndarray | None
    """(N, 5) int64 ranked classes, or None when the model ranks fewer than 5 classes."""
    skipped: np.ndarray
    """Reason per row (object array), None where the row was scored."""
    metadata: dict[str, Any] = field(default_factory=dict)
    subset_codes: tuple[np.ndarray, list[str]] | None = field(default=None, compare=False, repr=False)
    """(code per row, distinct names) when the reader already has them (it saves a pass)."""

    @cached_property
    def label_space(self) -> LabelSpace:
        """The classes the label and prediction indices are (the metadata's ``label_space``; ImageNet-1k if none)."""
        return label_space_from_metadata(self.metadata, where="predictions")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @cached_property
    def scored(self) -> np.ndarray:
        return self.top1 >= 0

    @cached_property
    def groups(self) -> dict[str, np.ndarray]:
        """Row indices of each config present (file order within a config), configs in registry order."""
        codes, names = self.subset_codes if self.subset_codes is not None else _codes(self.subsets)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        rows = {names[k]: order[bounds[k]:bounds[k + 1]] for k in range(len(names))}
        recognise(rows)  # a sweep level seen for the first time joins the registry's order
        # A config the registry lacks reached here only as one the dataset's layout describes (a plug-in's,
        # read without the plug-in): after the registered ones, never registered.
        return {**{name: rows[name] for name in ALL_SUBSETS if name in rows},
                **{name: rows[name] for name in sorted(rows) if name not in ALL_SUBSETS}}

    @property
    def configs(self) -> list[str]:
        """Config names present, in registry order."""
        return list(self.groups)


def _arrow_table(table: PredictionTable):
    import pyarrow as pa

    n = len(table)
    scored = table.scored
    columns = {
        "subset": pa.array(table.subsets.tolist(), pa.string()).dictionary_encode(),
        "source_id": pa.array(table.source_ids.tolist(), pa.string()),
        "label": pa.array(table.labels.astype(np.int16)),
        "top1": pa.array(table.top1.astype(np.int16), mask=~scored),
    }
    if table.top5 is not None:
        values = pa.array(table.top5.astype(np.int16).reshape(-1))
        columns["top5"] = pa.FixedSizeListArray.from_arrays(values, TOP_K, mask=pa.array(~scored))
    columns["skipped"] = pa.array([r if r else None for r in table.skipped.tolist()], pa.string()) \
        if n else pa.array([], pa.string())
    arrow = pa.table(columns)
    meta = {"format": FORMAT_VERSION, **table.metadata}
    return arrow.replace_schema_metadata({METADATA_KEY: json.dumps(meta, ensure_ascii=False)})


def predictions_bytes(table: PredictionTable) -> bytes:
    """The parquet file's bytes (deterministic for equal tables: fixed writer options)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(_arrow_table(table), buffer, compression="zstd", write_statistics=False)
    return buffer.getvalue()


def _fail(source: str, message: str) -> ValueError:
    return ValueError(f"{source}: {message}")


def _row(table_subsets: np.ndarray, ids: np.ndarray, i: int) -> str:
    return f"row {i} ({table_subsets[i]}, {ids[i]})"


def read_predictions(source: str | os.PathLike | bytes, *, name: str | None = None) -> PredictionTable:
    """Read and check a predictions file; ``ValueError`` names the file and the first bad row.

    Checked: the columns and their types, known subset names, no missing subset/source id/label,
    the recorded label space, labels and predictions inside it (0..999 for ImageNet-1k), ``top5``
    starting with ``top1``, each row either scored or skipped with a reason, and each
    (subset, source_id) at most once.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    where = name or (str(source) if not isinstance(source, bytes) else "predictions")
    try:
        arrow = pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else source)
    except FileNotFoundError:
        raise FileNotFoundError(f"predictions file not found: {where}") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise _fail(where, f"not a readable parquet file ({exc})") from None
    missing = [c for c in _REQUIRED if c not in arrow.column_names]
    if missing:
        raise _fail(where, f"missing column(s) {missing}; a predictions file has {list(COLUMNS)}")
    extra = [c for c in arrow.column_names if c not in COLUMNS]
    if extra:
        raise _fail(where, f"unknown column(s) {extra}; a predictions file has {list(COLUMNS)}")
    raw_meta = (arrow.schema.metadata or {}).get(METADATA_KEY)
    try:
        metadata = json.loads(raw_meta) if raw_meta else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        metadata = None
    if not isinstance(metadata, dict):
        raise _fail(where, "the schema metadata 'imagenet_e' (the run's description) is missing or not a JSON object")
    if metadata.get("format") != FORMAT_VERSION:
        raise _fail(where, f"predictions format {metadata.get('format')!r}, this version reads {FORMAT_VERSION}")
    metadata = {k: v for k, v in metadata.items() if k != "format"}
    for section in ("model", "dataset", "run", "environment"):
        # Any JSON can sit here in a hostile or corrupt file: a list must be a one-line refusal, not a TypeError later.
        if metadata.get(section) is not None and not isinstance(metadata[section], dict):
            raise _fail(where, f"the metadata's {section!r} is a {type(metadata[section]).__name__}, not an object")
    space = label_space_from_metadata(metadata, where=where)
    num_classes = space.num_classes
    space_text = "ImageNet-1k" if space.is_imagenet else f"the {num_classes} classes of {space.name!r}"

    def text(column: str) -> np.ndarray:
        col = arrow.column(column)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            raise _fail(where, f"column {column!r} must hold strings, has {col.type}")
        return col.to_numpy(zero_copy_only=False).astype(object, copy=False)

    def integers(column: str) -> pa.ChunkedArray:
        col = arrow.column(column)
        if not pa.types.is_integer(col.type):
            raise _fail(where, f"column {column!r} must hold integers, has {col.type}")
        return col

    subsets, ids = text("subset"), text("source_id")
    for column, values in (("subset", subsets), ("source_id", ids)):
        empty = np.flatnonzero((values == None) | (values == ""))  # noqa: E711 (element-wise)
        if empty.size:
            raise _fail(where, f"row {int(empty[0])} has no {column}")
    encoded = pc.dictionary_encode(arrow.column("subset").combine_chunks()) \
        if not pa.types.is_dictionary(arrow.column("subset").type) else arrow.column("subset").combine_chunks()
    subset_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names = encoded.dictionary.to_pylist()
    layout = (metadata.get("dataset") or {}).get("layout")
    described = {e.get("name") for e in layout if isinstance(e, dict)} if isinstance(layout, list) else set()
    for k, name_ in enumerate(names):
        try:
            canonical = resolve(name_).name
        except ValueError as exc:
            if name_ in described:  # the dataset's own description names it (a plug-in not installed here)
                continue
            raise _fail(where, f"row {int(np.flatnonzero(subset_codes == k)[0])}: {exc}") from None
        if canonical != name_:  # an alias: spelled as the config name from here on
            subsets[subset_codes == k] = canonical
            names[k] = canonical
    if len(set(names)) != len(names):  # an alias and its config name both used: merge their codes
        subset_codes = np.asarray([names.index(n) for n in names])[subset_codes]
    label_col = integers("label")
    if label_col.null_count:
        bad = int(pc.index(pc.is_null(label_col), True).as_py())
        raise _fail(where, f"{_row(subsets, ids, bad)} has no label")
    labels = label_col.to_numpy().astype(np.int64)
    top1_col = integers("top1")
    top1 = top1_col.fill_null(-1).to_numpy().astype(np.int64)
    skipped = text("skipped") if "skipped" in arrow.column_names else np.full(len(labels), None, dtype=object)
    for values, column in ((labels, "label"), (top1, "top1")):
        bad = np.flatnonzero((values < (0 if column == "label" else -1)) | (values >= num_classes))
        if bad.size:
            raise _fail(where, f"{_row(subsets, ids, int(bad[0]))}: {column} {int(values[bad[0]])} is outside "
                               f"0..{num_classes - 1} ({space_text})")
    has_reason = ~((skipped == None) | (skipped == ""))  # noqa: E711 (element-wise)
    bad = np.flatnonzero((top1 < 0) != has_reason)
    if bad.size:
        i = int(bad[0])
        state = "has no top1 and no skip reason" if top1[i] < 0 else "has both a top1 and a skip reason"
        raise _fail(where, f"{_row(subsets, ids, i)} {state}")
    top5 = None
    if "top5" in arrow.column_names:
        col = arrow.column("top5").combine_chunks()
        if not (pa.types.is_fixed_size_list(col.type) and col.type.list_size == TOP_K
                and pa.types.is_integer(col.type.value_type)):
            raise _fail(where, f"column 'top5' must be fixed-size lists of {TOP_K} integers, has {col.type}")
        filled = col.fill_null(pa.scalar([0] * TOP_K, col.type)) if col.null_count else col
        top5 = filled.flatten().to_numpy().astype(np.int64).reshape(-1, TOP_K)
        scored = top1 >= 0
        bad = np.flatnonzero(scored & ((top5 < 0).any(axis=1) | (top5 >= num_classes).any(axis=1)))
        if bad.size:
            raise _fail(where, f"{_row(subsets, ids, int(bad[0]))}: top5 holds a class outside 0..{num_classes - 1} "
                               f"({space_text})")
        bad = np.flatnonzero(scored & (top5[:, 0] != top1))
        if bad.size:
            raise _fail(where, f"{_row(subsets, ids, int(bad[0]))}: top5 starts with {int(top5[bad[0], 0])}, "
                               f"top1 is {int(top1[bad[0]])}")
    _refuse_duplicates(subset_codes, pc.dictionary_encode(arrow.column("source_id").combine_chunks()).indices,
                       subsets, ids, where)
    table = PredictionTable(subsets, ids, labels, top1, top5, skipped, metadata, subset_codes=(subset_codes, names))
    table.__dict__["label_space"] = space  # the cached_property, already read and checked
    return table


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer code per row and the distinct values (first-seen order), via Arrow's hash table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(values, pa.string()))
    return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary.to_pylist()


def _refuse_duplicates(subset_codes: np.ndarray, id_codes, subsets: np.ndarray, ids: np.ndarray, where: str) -> None:
    if not len(ids):
        return
    id_codes = id_codes.to_numpy(zero_copy_only=False).astype(np.int64)
    key = subset_codes * (int(id_codes.max()) + 1) + id_codes
    order = np.argsort(key, kind="stable")
    repeated = np.flatnonzero(key[order][1:] == key[order][:-1])
    if repeated.size:
        # the earliest second occurrence in file order, and the row it repeats
        seconds = order[repeated + 1]
        k = int(np.argmin(seconds))
        second, first = int(seconds[k]), int(order[repeated[k]])
        raise _fail(where, f"duplicate rows {first} and {second} for ({subsets[second]}, {ids[second]})")


def write_predictions(path: str | os.PathLike, data: bytes) -> Path:
    """Write predictions bytes atomically."""
    from imagenet_e_dataset.atomic import atomic_write_bytes

    return atomic_write_bytes(path, data)
