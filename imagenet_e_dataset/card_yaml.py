"""A dataset card's YAML front matter: parsed with libyaml, once per file version.

The card's ``dataset_info`` lists every class name (1,000 for ImageNet-1k): PyYAML's pure-Python
loader takes ~0.1–0.2 s on it, libyaml's ``CSafeLoader`` a tenth of that. Readers that open several
configs of one dataset (the eval runner opens up to 12) share one parse through
:func:`cached_card_metadata`, keyed by the file's path, size and modification time, so an edited
card is read again.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml when PyYAML was built with it, else the pure-Python safe loader (same results)."""


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with libyaml when available."""
    return yaml.load(text, Loader=YAML_LOADER)


def read_card_metadata(readme: Path) -> dict[str, Any]:
    """The YAML front matter of a dataset card; ValueError naming the file when absent or invalid."""
    text = Path(readme).read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"{readme} has no YAML front matter (it must start with a '---' line)")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ValueError(f"{readme}: the YAML front matter is not closed by a '---' line") from None
    try:
        metadata = load_yaml("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise ValueError(f"{readme}: invalid YAML front matter: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ValueError(f"{readme}: the YAML front matter must be a mapping")
    return metadata


@lru_cache(maxsize=32)
def _parsed(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    return read_card_metadata(Path(path))


def cached_card_metadata(readme: Path) -> dict[str, Any]:
    """:func:`read_card_metadata`, parsed once per (path, size, mtime).

    The mapping is shared by every caller (a deep copy of 1,000 class names costs as much as
    the libyaml parse): read it, never modify it.
    """
    resolved = Path(readme).resolve()
    stat = os.stat(resolved)
    return _parsed(str(resolved), stat.st_size, stat.st_mtime_ns)


def data_file_patterns(config: dict[str, Any], readme: Path, *, split: str | None = None) -> list[str]:
    """The path patterns of one ``configs:`` entry (``data_files`` as str, list, or split/path dicts);
    with ``split``, only that split's (a bare string or list applies to every split)."""
    name = config.get("config_name")
    data_files = config.get("data_files")
    items = data_files if isinstance(data_files, list) else [data_files]
    patterns: list[str] = []
    for item in items:
        if split is not None and isinstance(item, dict) and item.get("split") != split:
            continue
        paths = item.get("path") if isinstance(item, dict) else item
        for path in paths if isinstance(paths, list) else [paths]:
            if not isinstance(path, str) or not path:
                raise ValueError(f"{readme}: config {name!r} has an invalid data_files entry {item!r}")
            patterns.append(path)
    if not patterns:
        raise ValueError(f"{readme}: config {name!r} lists no data_files" + (f" for split {split!r}" if split else ""))
    return patterns
