"""Atomic file and folder writes: every output of the project appears whole or not at all.

A temporary file in the destination folder is written, given ordinary permissions (``mkstemp``
makes 0600 files, which other users of a shared dataset folder could not read), and renamed over
the destination; a crash at any point leaves the old file (or nothing), never half a file. A
folder built beside its destination is swapped in by :func:`replace_folder`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    For writers that want a file name (``fig.savefig``, ``Image.save``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> Path:
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def _asides(dest: Path) -> list[Path]:
    """Folders where :func:`replace_folder` parks an old ``dest``, oldest first."""
    found = [p for p in dest.parent.glob(f".{glob.escape(dest.name)}.old-*") if p.is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns)


def recover_folder(dest: str | os.PathLike) -> Path | None:
    """Finish what an interrupted :func:`replace_folder` left behind; return the folder restored, if any.

    A crash after the old ``dest`` was moved aside but before the new one moved in leaves no
    ``dest`` and the old one at ``.<name>.old-*/<name>``: it is moved back. Parked copies left by a
    crash after the new folder was in place are deleted.
    """
    dest = Path(dest)
    asides = _asides(dest)
    restored = None
    if not dest.exists() and not dest.is_symlink():
        for aside in reversed(asides):
            if (aside / dest.name).is_dir():
                os.replace(aside / dest.name, dest)
                restored = dest
                break
    for aside in asides:
        shutil.rmtree(aside, ignore_errors=True)
    return restored


def replace_folder(new: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Move the finished folder ``new`` to ``dest`` (same file system), replacing any folder there.

    There is never a moment with neither folder: the old ``dest`` is renamed aside (into
    ``.<name>.old-*`` beside it), ``new`` is renamed in, and only then is the old one deleted. A
    crash in between leaves the old folder whole under the aside name, and the next
    :func:`replace_folder` (or :func:`recover_folder`) on ``dest`` puts it back first.
    """
    new, dest = Path(new), Path(dest)
    recover_folder(dest)
    if not dest.exists() and not dest.is_symlink():
        os.replace(new, dest)
        return dest
    aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.replace(dest, aside / dest.name)
    try:
        os.replace(new, dest)
    except BaseException:
        os.replace(aside / dest.name, dest)
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return dest
