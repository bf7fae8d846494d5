"""The one rule for every command that writes a folder (``import-release``, ``generate``, ``convert-adm``, ``demo``).

A command writes only into a folder it creates, or into one that holds its marker
(:data:`MARKER_NAME`, a small JSON file naming the tool, the command, the kind of output and the
version). ``--overwrite`` replaces only such a folder, atomically (the new folder is built beside it
and swapped in by :func:`imagenet_e_dataset.atomic.replace_folder`), and never one that is,
contains, or is inside one of the command's inputs. An existing folder without the marker (a
user's photos, notes, a checkpoint folder, even an empty folder or a mount point) is never
replaced, with or without ``--overwrite``: the user removes it themselves or picks another name.

Staging folders (``.<name>.<tag>-XXXX`` beside the destination) are locked while their writer lives
(an ``flock`` on a sibling ``.lock`` file, released by the kernel when the process dies, kill -9
included), so the next writer to the same destination removes the ones a killed run left behind
without touching one that a live process is still writing.
"""

from __future__ import annotations

import enum
import glob
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from .atomic import current_umask, replace_folder

try:  # POSIX; elsewhere stale staging folders are simply left for the user
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MARKER_NAME = ".imagenet-e-output.json"
TOOL = "imagenet-e"


class OutputKind(str, enum.Enum):
    """What a folder written by the tool holds; ``--overwrite`` replaces a folder only with the same kind."""

    DATASET = "dataset"
    UNET = "unet"
    DEMO = "demo"


def _version() -> str:
    from imagenet_e_dataset.version import __version__

    return __version__


def marker_document(command: str, kind: OutputKind) -> dict[str, str]:
    """The marker's content: deterministic (no date), so reruns stay byte-identical."""
    return {"tool": TOOL, "command": command, "kind": OutputKind(kind).value, "version": _version()}


def write_marker(folder: str | os.PathLike, command: str, kind: OutputKind) -> Path:
    path = Path(folder) / MARKER_NAME
    text = json.dumps(marker_document(command, kind), sort_keys=True, indent=1) + "\n"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o666 & ~current_umask())
    return path


def read_marker(folder: str | os.PathLike) -> dict[str, str] | None:
    """The marker of ``folder``, or None when it has none (or one that is not the tool's)."""
    path = Path(folder) / MARKER_NAME
    if path.is_symlink() or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("tool") != TOOL or not isinstance(doc.get("kind"), str):
        return None
    return doc


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_no_overlap(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], *, flag: str = "--out") -> None:
    """Refuse an output that is, contains, or is inside one of ``inputs`` (compared after resolving links)."""
    out_resolved = Path(out).resolve()
    for item in inputs:
        if item is None:
            continue
        resolved = Path(item).resolve()
        if out_resolved == resolved:
            raise ValueError(f"{flag} {out} is the input {item}; writing there would destroy it: choose another "
                             f"location for {flag}")
        if _within(resolved, out_resolved):
            raise ValueError(f"{flag} {out} contains the input {item}; replacing it would destroy the input: "
                             f"choose a location outside it for {flag}")
        if _within(out_resolved, resolved):
            raise ValueError(f"{flag} {out} is inside the input {item}; the output must not change an input: "
                             f"choose a location outside it for {flag}")


def check_output_folder(
    out: str | os.PathLike,
    *,
    command: str,
    kind: OutputKind,
    inputs: Iterable[str | os.PathLike | None] = (),
    overwrite: bool = False,
    flag: str = "--out",
) -> Path:
    """Check that ``command`` may write its ``kind`` of output at ``out``; return ``out`` as an absolute path.

    Allowed: ``out`` does not exist, or it is a folder holding a marker of the same kind and
    ``overwrite`` is set. Everything else raises (``FileExistsError`` for an existing target,
    ``ValueError`` for a link or an overlap with an input) with the reason and the way out.
    """
    kind = OutputKind(kind)
    out = Path(out).absolute()
    if out.is_symlink():
        raise ValueError(f"{flag} {out} is a symbolic link (to {os.readlink(out)}); the tool never writes through a "
                         f"link: give a real folder path as {flag}")
    check_no_overlap(out, inputs, flag=flag)
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"{flag} {out}: {parent} is a file, not a folder")
    if not out.exists():
        return out
    if not out.is_dir():
        raise FileExistsError(f"{flag} {out} is an existing file, not a folder; choose another {flag}")
    marker = read_marker(out)
    if marker is None:
        raise FileExistsError(
            f"{flag} {out} already exists and was not written by imagenet-e (it has no {MARKER_NAME}); "
            f"--overwrite only replaces the tool's own output folders: remove or rename it yourself, or choose "
            f"another {flag}"
        )
    if marker["kind"] != kind.value:
        raise FileExistsError(
            f"{flag} {out} already holds an imagenet-e {marker['kind']} output (from `imagenet-e "
            f"{marker.get('command', '?')}`), not a {kind.value}; choose another {flag}"
        )
    if not overwrite:
        raise FileExistsError(f"{flag} {out} already exists (an earlier `imagenet-e {marker.get('command', command)}` "
                              "output); pass --overwrite to replace it")
    return out


def replace_output(
    staged: str | os.PathLike,
    out: str | os.PathLike,
    *,
    command: str,
    kind: OutputKind,
    inputs: Iterable[str | os.PathLike | None] = (),
    overwrite: bool = False,
    flag: str = "--out",
) -> Path:
    """Mark the finished folder ``staged`` and swap it in at ``out`` (checked again right before the swap)."""
    out = check_output_folder(out, command=command, kind=kind, inputs=inputs, overwrite=overwrite, flag=flag)
    staged = Path(staged)
    write_marker(staged, command, kind)
    os.chmod(staged, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders; outputs are for sharing
    return replace_folder(staged, out)


# -- staging folders ---------------------------------------------------------------------------------

_LOCKS: dict[Path, int] = {}


def _lock_path(staging: Path) -> Path:
    return staging.with_name(staging.name + ".lock")


def make_staging(dest: str | os.PathLike, tag: str = "tmp") -> Path:
    """Create a locked staging folder ``.<dest name>.<tag>-XXXX`` beside ``dest`` (same file system).

    Stale staging folders of killed writers to the same ``dest`` are removed first. Call
    :func:`release_staging` when the folder has been moved into place or deleted.
    """
    dest = Path(dest).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(dest, tag)
    fd, lock_name = tempfile.mkstemp(prefix=f".{dest.name}.{tag}-", suffix=".lock", dir=dest.parent)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    staging = Path(lock_name[: -len(".lock")])
    try:
        staging.mkdir()
    except BaseException:
        os.close(fd)
        Path(lock_name).unlink(missing_ok=True)
        raise
    _LOCKS[staging] = fd
    return staging


def release_staging(staging: str | os.PathLike, *, remove: bool = True) -> None:
    """Unlock a staging folder from :func:`make_staging`; delete what is left of it when ``remove``."""
    staging = Path(staging)
    if remove:
        shutil.rmtree(staging, ignore_errors=True)
    _lock_path(staging).unlink(missing_ok=True)
    fd = _LOCKS.pop(staging, None)
    if fd is not None:
        os.close(fd)


def _owner_alive(lock: Path) -> bool:
    if fcntl is None:
        return True
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the lock we may have taken
    return False


def clean_stale_staging(dest: str | os.PathLike, tag: str = "tmp") -> list[Path]:
    """Remove staging folders of ``dest`` whose writer is gone; return what was removed.

    A folder is stale when its lock file is not held by a live process, or when it has no lock file
    at all (left by a kill between the rename of the lock and the folder, or by an older version).
    """
    if fcntl is None:  # pragma: no cover - no way to tell a live writer from a dead one
        return []
    dest = Path(dest).absolute()
    removed = []
    pattern = f".{glob.escape(dest.name)}.{tag}-*"
    for path in sorted(dest.parent.glob(pattern)):
        if path.name.endswith(".lock"):
            if not path.with_name(path.name[: -len(".lock")]).exists() and not _owner_alive(path):
                path.unlink(missing_ok=True)
            continue
        if not path.is_dir() or path in _LOCKS:
            continue
        lock = _lock_path(path)
        if lock.exists() and _owner_alive(lock):
            continue
        shutil.rmtree(path, ignore_errors=True)
        lock.unlink(missing_ok=True)
        removed.append(path)
    return removed


__all__ = [
    "MARKER_NAME",
    "OutputKind",
    "check_no_overlap",
    "check_output_folder",
    "clean_stale_staging",
    "make_staging",
    "marker_document",
    "read_marker",
    "release_staging",
    "replace_output",
    "write_marker",
]
