"""The work folder beside the output (``<out>.work``): the run's fingerprint and the committed chunks.

A chunk is a fixed run of ``chunk_size`` consecutive selected sources × every requested subset,
committed as one parquet file (``chunks/chunk-000042.parquet``) written to a temporary name and
renamed, with an fsync, so a killed run loses at most the chunks in flight. Chunk ``k`` belongs to
shard ``k % num_shards``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping, Sequence

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent identical runs are not detected there
    fcntl = None  # type: ignore[assignment]

import pyarrow as pa
import pyarrow.parquet as pq

from imagenet_e_dataset.atomic import atomic_write_bytes, current_umask
from imagenet_e_dataset.checksums import sha256_bytes as sha256_hex  # noqa: F401  (re-exported)
from imagenet_e_dataset.output_folder import make_staging, release_staging

from .fingerprint import INPUTS_NAME, changed_inputs


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

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    def check_is_ours(self) -> None:
        """Refuse a folder at the work folder's place that no run of the tool made (it would be written into and deleted)."""
        if self.root.is_symlink():
            raise ValueError(f"work folder {self.root} is a symbolic link; the tool never writes through a link: remove it")
        if self.root.exists() and not self.run_file.is_file():
            if self.root.is_dir() and not self._foreign_entries():
                return  # empty (e.g. left by an older version killed at its start), or only a Hub staging of ours
            raise FileExistsError(
                f"{self.root} exists but is not an imagenet-e work folder (no run.json); generate keeps its chunks there "
                "and deletes it when done: rename or remove it, or choose another --out"
            )

    def _foreign_entries(self) -> list[str]:
        """Entries of the folder other than a Hub dataset's staging (``hf-source``, written before the claim)."""
        from ..source_hub import MARKER_NAME, REQUEST_NAME, STAGING_NAME

        entries = [e.name for e in self.root.iterdir()]
        staging = self.root / STAGING_NAME
        ours = staging.is_dir() and not staging.is_symlink() and (
            (staging / REQUEST_NAME).is_file() or (staging / MARKER_NAME).is_file() or not any(staging.iterdir()))
        return [e for e in entries if not (e == STAGING_NAME and ours)]

    def claim(self, run_doc: Mapping[str, Any], inputs_doc: Mapping[str, Any] | None = None) -> None:
        """Create the folder or check it belongs to a run with the same arguments and inputs.

        A new folder appears with its ``run.json`` in one rename, so a folder without one is never ours.
        """
        self.check_is_ours()
        text = json.dumps(run_doc, sort_keys=True, indent=1)
        if not self.run_file.is_file() and self.root.is_dir() and any(self.root.iterdir()):
            # A Hub dataset staged before the claim lives here already: the run's files are added beside
            # it and run.json is written last (atomically), so the folder is still never "ours" without it.
            self.chunks.mkdir(exist_ok=True)
            if inputs_doc is not None:
                atomic_write_bytes(self.root / INPUTS_NAME, json.dumps(inputs_doc, sort_keys=True, indent=1).encode())
            atomic_write_bytes(self.run_file, text.encode())
        if not self.run_file.is_file():
            self.root.parent.mkdir(parents=True, exist_ok=True)
            staging = make_staging(self.root, "new")  # locked; removed by the next run if this one is killed
            try:
                (staging / "chunks").mkdir()
                (staging / "run.json").write_text(text, encoding="utf-8")
                if inputs_doc is not None:
                    (staging / INPUTS_NAME).write_text(json.dumps(inputs_doc, sort_keys=True, indent=1), encoding="utf-8")
                os.chmod(staging, 0o777 & ~current_umask())
                try:
                    if self.root.exists():
                        self.root.rmdir()  # the empty folder check_is_ours let through
                    os.rename(staging, self.root)
                    return
                except OSError:
                    if not self.run_file.is_file():  # not another rank of this launch that won the race
                        raise
            finally:
                release_staging(staging)
        old = json.loads(self.run_file.read_text(encoding="utf-8"))
        if old.get("fingerprint") != run_doc["fingerprint"]:
            changed: list[str] = []
            if inputs_doc is not None and (self.root / INPUTS_NAME).is_file():
                changed = changed_inputs(json.loads((self.root / INPUTS_NAME).read_text(encoding="utf-8")), inputs_doc)
            if changed:
                raise ValueError(
                    f"work folder {self.root} belongs to a run with different inputs: {'; '.join(changed)}. Restore the "
                    f"inputs, or delete {self.root} to start over with the new ones (the output would otherwise mix "
                    "edits of old and new files)."
                )
            # Compared as they were stored (JSON): tuples now and lists then are the same setting.
            settings = json.loads(json.dumps(run_doc["settings"], default=str))
            diffs = _differences(old.get("settings", {}), settings)
            raise ValueError(
                f"work folder {self.root} belongs to a run with different arguments or inputs "
                f"({'; '.join(diffs) or 'different source list'}). Resume with the same arguments, "
                f"or delete {self.root} to start over."
            )
        self.chunks.mkdir(exist_ok=True)

    def lock_path(self, name: str) -> Path:
        return self.root / "locks" / f"{name}.lock"

    @contextmanager
    def run_lock(self, name: str) -> Iterator[Path]:
        """Hold ``locks/<name>.lock`` in the work folder for the rest of the run, or refuse at once.

        Two identical runs (same ``--out``, same shard) would each clean the other's temporaries and
        the first to finish would delete the work folder under the second. The lock is an advisory
        ``flock`` with the holder's pid written in it: the kernel drops it when its process dies, so a
        killed run never leaves a stale lock behind.
        """
        path = self.lock_path(name)
        try:
            path.parent.mkdir(exist_ok=True)
            handle = open(path, "a+", encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"work folder {self.root} was removed while this run started: another run of the same command "
                "finished (or removed it) meanwhile; check its output, or run the command again") from None
        with handle:
            if fcntl is not None:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.seek(0)
                    holder = handle.read().strip() or "?"
                    raise ValueError(
                        f"another run holds the lock {path} (pid {holder}): it is generating into the same work "
                        f"folder; wait for it to finish (or stop it), then run the command again to resume") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield path

    # -- launcher ranks ------------------------------------------------------------------------------
    def heartbeat_path(self, rank: int) -> Path:
        return self.root / "ranks" / f"rank-{rank}.json"

    def heartbeat(self, rank: int, state: str) -> None:
        """Record that ``rank`` is alive (its file's mtime is the last sign of life rank 0 sees)."""
        path = self.heartbeat_path(rank)
        path.parent.mkdir(exist_ok=True)
        doc = {"rank": rank, "state": state, "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        atomic_write_bytes(path, json.dumps(doc, sort_keys=True).encode())

    def last_sign_of_life(self, rank: int) -> tuple[float, str] | None:
        """(mtime, state) of ``rank``'s heartbeat file, or None when it never wrote one."""
        path = self.heartbeat_path(rank)
        try:
            state = json.loads(path.read_text(encoding="utf-8")).get("state", "?")
            return path.stat().st_mtime, str(state)
        except (OSError, ValueError):
            return None

    def set_aside(self, index: int) -> Path:
        """Move a damaged chunk out of the way, so the next run regenerates it; return where it went."""
        src = self.chunk_path(index)
        dest = src.with_name(src.name + ".damaged")
        os.replace(src, dest)
        return dest

    def clean_temporaries(self, own: Sequence[int]) -> None:
        """Remove partial files left by a killed process (only chunks this process owns)."""
        for index in own:
            # atomic_path names its temporaries ".<name>.<random>.tmp" (tempfile.mkstemp prefix/suffix).
            for tmp in self.chunks.glob(f".{self.chunk_path(index).name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def commit(self, index: int, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=CHUNK_SCHEMA)
        sink = io.BytesIO()
        # Page checksums: a chunk damaged on disk (a flipped byte in an image) fails to read instead of
        # merging silently; the rows' sha256 are checked again at the merge.
        pq.write_table(table, sink, compression="none", write_statistics=False, write_page_checksum=True)
        _atomic_write_bytes(self.chunk_path(index), sink.getvalue())

    def read(self, index: int) -> pa.Table:
        return pq.read_table(self.chunk_path(index), schema=CHUNK_SCHEMA, page_checksum_verification=True)

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


