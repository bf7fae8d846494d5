"""``protocol.json``: which editing protocol made a dataset, beside its card.

``imagenet-e generate`` writes it at the dataset's root (so it is pushed with the shards)::

    {"name": "official", "label": "official", "overrides": {}, "resolution_from": "model",
     "settings": {"resolution": 256, "full_mode": "official", ...}}

The evaluation runner copies ``label`` into every results file as ``dataset.protocol``, so results
on datasets made under different protocols (``official``, ``corrected``, or a protocol with
overrides) are never ranked together. A dataset without the file (the authors' release imported,
or one made before protocols existed) has protocol ``None``: unknown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from .atomic import atomic_write_text

PROTOCOL_FILE = "protocol.json"


def write_protocol_file(folder: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` (``generation.protocol.Protocol.record()``) as ``<folder>/protocol.json``."""
    if not isinstance(record.get("label"), str) or not record["label"]:
        raise ValueError(f"a protocol record needs a non-empty 'label', got {record.get('label')!r}")
    path = Path(folder) / PROTOCOL_FILE
    atomic_write_text(path, json.dumps(dict(record), indent=1, sort_keys=True) + "\n")
    return path


def read_protocol_record(source: str | os.PathLike, revision: str | None = None) -> dict[str, Any] | None:
    """The ``protocol.json`` of a dataset folder or Hub dataset repo; None when it has none.

    A file that is there but unreadable is a ValueError naming it (a dataset must not silently lose
    its protocol).
    """
    path = Path(source)
    if path.is_dir():
        file = path / PROTOCOL_FILE
        if not file.is_file():
            return None
        text, where = file.read_text(encoding="utf-8"), str(file)
    else:
        text = _hub_text(os.fspath(source), revision)
        if text is None:
            return None
        where = f"{source}/{PROTOCOL_FILE}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("label"), str) or not record["label"]:
        raise ValueError(f"{where} has no protocol 'label'")
    return record


def read_protocol(source: str | os.PathLike, revision: str | None = None) -> str | None:
    """The protocol label of a dataset (``"official"``, ``"corrected"``, ...), or None when unknown."""
    record = read_protocol_record(source, revision)
    return None if record is None else str(record["label"])


def _hub_text(repo_id: str, revision: str | None) -> str | None:
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:
        return None
    try:
        local = hf_hub_download(repo_id, PROTOCOL_FILE, repo_type="dataset", revision=revision)
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
        return None
    except OSError:  # offline or unreachable: the protocol stays unknown, like the revision does
        return None
    return Path(local).read_text(encoding="utf-8")
