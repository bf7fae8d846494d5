"""Bounds a submission must pass before the board spends work on it.

A public board reads files anyone can submit, and Refresh is public: an 11 KB file must not cost a
minute or gigabytes. Everything here reads sizes, parquet footers and one column, never the rows'
content, and runs before the schema, the registry or the metric see the file:

* the results JSON and the predictions parquet are refused above a byte size;
* the parquet footer's row count and uncompressed size are bounded (a 142 KB zstd file can hold
  10 M rows);
* a file names at most :attr:`Limits.max_configs` configs, and every config it names is either one
  the registry already knows or one the benchmark dataset itself has (so made-up sweep levels never
  reach :mod:`imagenet_e_dataset.registry`, which would register them process-wide);
* the board computes intervals with its own ``n_bootstrap`` (:attr:`Limits.n_bootstrap`), whatever
  the file says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from imagenet_e_dataset.registry import ALL_SUBSETS


@dataclass(frozen=True)
class Limits:
    """What one submission may cost the board (defaults fit the full benchmark with room to spare)."""

    max_results_bytes: int = 2_000_000
    max_predictions_bytes: int = 256_000_000
    max_rows: int = 2_000_000
    """12 configs x 50,000 ImageNet val images is 600,000 rows."""
    max_uncompressed_bytes: int = 1_000_000_000
    max_configs: int = 64
    n_bootstrap: int = 1000
    """Resamples the board uses for every interval it shows (the file's own setting is ignored)."""

    def __post_init__(self) -> None:
        for name in ("max_results_bytes", "max_predictions_bytes", "max_rows", "max_uncompressed_bytes",
                     "max_configs", "n_bootstrap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"board limit {name} must be a non-negative integer, got {value!r}")


DEFAULT_LIMITS = Limits()


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def check_size(path: Path, limit: int, what: str) -> None:
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{what} is {_megabytes(size)}, over the board's limit of {_megabytes(limit)}")


def known_config(name: str) -> bool:
    """Whether the registry already knows ``name`` as a config or alias, without registering anything
    (:func:`imagenet_e_dataset.registry.resolve` would add a well-formed sweep level)."""
    return name in ALL_SUBSETS or any(s.alias == name for s in ALL_SUBSETS.values())


def check_config_names(names: Iterable[Any], limits: Limits, dataset_configs: Callable[[], set[str]],
                       where: str) -> None:
    """Refuse more than ``limits.max_configs`` names, non-strings, and names neither the registry nor
    the benchmark dataset (``dataset_configs()``, asked only when needed) has."""
    names = list(names)
    if len(names) > limits.max_configs:
        raise ValueError(f"{where} names {len(names)} configs, over the board's limit of {limits.max_configs}")
    unknown = []
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"{where} names a config that is a {type(name).__name__}, not a string")
        if not known_config(name):
            unknown.append(name)
    if unknown:
        allowed = dataset_configs()
        foreign = [n for n in unknown if n not in allowed]
        if foreign:
            shown = ", ".join(repr(n[:40]) for n in foreign[:3])
            raise ValueError(f"{where} names config(s) the benchmark dataset does not have: {shown}"
                             f"{f' and {len(foreign) - 3} more' if len(foreign) > 3 else ''}")


def results_configs(doc: Any) -> list[Any]:
    """``dataset.configs`` of a parsed results document, whatever its shape (the schema checks it later)."""
    dataset = doc.get("dataset") if isinstance(doc, dict) else None
    configs = dataset.get("configs") if isinstance(dataset, dict) else None
    return configs if isinstance(configs, list) else []


def check_predictions_file(path: Path, limits: Limits, dataset_configs: Callable[[], set[str]]) -> None:
    """Bytes, footer row count and uncompressed size, then the distinct ``subset`` names (one column)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    check_size(path, limits.max_predictions_bytes, f"its predictions file {path.name}")
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # noqa: BLE001 - any footer fault is this file's reason
        raise ValueError(f"its predictions file {path.name} is not a readable parquet file ({exc})") from None
    if meta.num_rows > limits.max_rows:
        raise ValueError(f"its predictions file {path.name} has {meta.num_rows:,} rows, over the board's limit of "
                         f"{limits.max_rows:,}")
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > limits.max_uncompressed_bytes:
        raise ValueError(f"its predictions file {path.name} unpacks to {_megabytes(unpacked)}, over the board's "
                         f"limit of {_megabytes(limits.max_uncompressed_bytes)}")
    if "subset" not in meta.schema.names:
        return  # read_predictions names the missing column
    column = pq.read_table(path, columns=["subset"]).column("subset")
    try:
        names = pc.unique(column.combine_chunks()).to_pylist()
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"its predictions file {path.name} has an unreadable subset column ({exc})") from None
    check_config_names([n for n in names if n is not None], limits, dataset_configs,
                       f"its predictions file {path.name}")
