"""The work folder beside the output (``<out>.work``): the run's fingerprint and the committed chunks.

A chunk is a fixed run of ``chunk_size`` consecutive selected sources × every requested subset,
committed as one parquet file (``chunks/chunk-000042.parquet``) written to a temporary name and
renamed, with an fsync, so a killed run loses at most the chunks in flight. Chunk ``k`` belongs to
shard ``k % num_shards``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from imagenet_e_dataset.atomic import atomic_write_bytes


CHUNK_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("subset", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("label", pa.int64()),
        ("seed", pa.int64()),
        ("image_name", pa.string()),
        ("image", pa.binary()),
        ("object_mask", pa.binary()),
        ("params", pa.string()),
        ("sha256", pa.string()),
    ]
)


class RowStatus:
    OK = "ok"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Committed work must survive a kill -9 or a power cut, hence the fsync."""
    atomic_write_bytes(path, data, fsync=True)


def work_dir_for(out: Path) -> Path:
    """The work folder beside the output: ``<out>.work``."""
    out = Path(out).absolute()
    return out.parent / f"{out.name}.work"


class WorkFolder:
    """Committed chunks and the run's fingerprint, beside the output folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.chunks = self.root / "chunks"

    def chunk_path(self, index: int) -> Path:
        return self.chunks / f"chunk-{index:06d}.parquet"

    def is_done(self, index: int) -> bool:
        return self.chunk_path(index).is_file()

    def missing(self, num_chunks: int) -> list[int]:
        return [k for k in range(num_chunks) if not self.is_done(k)]

    def claim(self, run_doc: Mapping[str, Any]) -> None:
        """Create the folder or check it belongs to a run with the same arguments and inputs."""
        self.chunks.mkdir(parents=True, exist_ok=True)
        path = self.root / "run.json"
        text = json.dumps(run_doc, sort_keys=True, indent=1)
        if path.is_file():
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("fingerprint") != run_doc["fingerprint"]:
                diffs = _differences(old.get("settings", {}), run_doc["settings"])
                raise ValueError(
                    f"work folder {self.root} belongs to a run with different arguments or inputs "
                    f"({'; '.join(diffs) or 'different source list'}). Resume with the same arguments, "
                    f"or delete {self.root} to start over."
                )
            return
        _atomic_write_bytes(path, text.encode())

    def clean_temporaries(self, own: Sequence[int]) -> None:
        """Remove partial files left by a killed process (only chunks this process owns)."""
        for index in own:
            # atomic_path names its temporaries ".<name>.<random>.tmp" (tempfile.mkstemp prefix/suffix).
            for tmp in self.chunks.glob(f".{self.chunk_path(index).name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def commit(self, index: int, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=CHUNK_SCHEMA)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="none", write_statistics=False)
        _atomic_write_bytes(self.chunk_path(index), sink.getvalue())

    def read(self, index: int) -> pa.Table:
        return pq.read_table(self.chunk_path(index), schema=CHUNK_SCHEMA)

    def write_json(self, name: str, doc: Any) -> None:
        _atomic_write_bytes(self.root / name, json.dumps(doc, sort_keys=True, indent=1).encode())

    def read_json(self, name: str) -> Any:
        path = self.root / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; run the generation (not --merge) first")
        return json.loads(path.read_text(encoding="utf-8"))


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys if old.get(k) != new.get(k)]


def chunk_ranges(num_sources: int, chunk_size: int) -> list[range]:
    """Consecutive source index runs of ``chunk_size`` (the last may be shorter).

    >>> [list(r) for r in chunk_ranges(5, 2)]
    [[0, 1], [2, 3], [4]]
    """
    return [range(s, min(s + chunk_size, num_sources)) for s in range(0, num_sources, chunk_size)]


def shard_chunks(num_chunks: int, num_shards: int, shard_index: int) -> list[int]:
    """Chunks of one shard: round-robin, so every shard gets a similar share even for short runs.

    >>> shard_chunks(5, 2, 0), shard_chunks(5, 2, 1)
    ([0, 2, 4], [1, 3])
    """
    return list(range(shard_index, num_chunks, num_shards))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
