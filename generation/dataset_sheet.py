"""A contact sheet of a written dataset: one row per source image, the original with the outline of
the object mask its edits used, then every config (a sweep's levels in order).

Read back from the dataset itself (a Hub-layout folder or a Hub repo), so the sheet shows what a
user of the dataset gets, not what the generator meant to write. ``imagenet-e contact-sheet`` and
the demo draw it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_e_dataset.registry import ALL_SUBSETS, ORIGINAL_CONFIG, recognise, resolve_many

from .contact_sheet import contact_sheet, outline

_LABEL_CHARS = 30  # what fits above a 192 px tile in PIL's default font


def sheet_order(names: Sequence[str]) -> list[str]:
    """``names`` grouped by attribute (registry order) and, within one, by growing severity, so a
    sweep reads left to right from the mildest level; subsets off a severity scale keep registry order."""
    subsets = [ALL_SUBSETS[name] for name in ALL_SUBSETS if name in set(names)]
    first = {}
    for k, subset in enumerate(subsets):
        first.setdefault(subset.attribute.name, k)

    def key(item: tuple[int, Any]) -> tuple[int, int, float, int]:
        k, subset = item
        severity = subset.attribute.severity(subset.spec)
        return (first[subset.attribute.name], severity is None, severity or 0.0, k)

    return [subset.name for _, subset in sorted(enumerate(subsets), key=key)]


def dataset_configs(source: str | os.PathLike, revision: str | None = None) -> list[str]:
    """The configs a dataset holds (sweep levels recognised from their names), in :func:`sheet_order`."""
    import datasets

    names = datasets.get_dataset_config_names(os.fspath(source), revision=revision)
    recognise(names)
    return sheet_order(names)


def load_tables(source: str | os.PathLike, configs: Sequence[str] | None = None, *,
                revision: str | None = None) -> dict[str, Any]:
    """``config -> datasets.Dataset`` of ``source`` (every config it holds unless ``configs`` names some)."""
    from imagenet_e_dataset.reader import load

    chosen = list(configs) if configs else dataset_configs(source, revision)
    names = sheet_order([s.name for s in resolve_many(chosen, levels=True)]) if configs else chosen
    if ORIGINAL_CONFIG not in names:
        names.insert(0, ORIGINAL_CONFIG)
    return {name: load(name, source, revision=revision) for name in names}


def _pixels(cell: Mapping[str, Any] | None) -> np.ndarray | None:
    from PIL import Image

    if cell is None:
        return None
    with Image.open(io.BytesIO(cell["bytes"])) as image:
        return np.asarray(image.convert("RGB"))


def dataset_contact_sheet(tables: Mapping[str, Any], out: str | os.PathLike, *, limit: int | None = None,
                          tile: int = 192) -> Path:
    """Draw ``tables`` (``config -> Dataset``, ``original`` among them) into ``out`` (PNG, written atomically).

    ``limit``: only the first N source images (by id). A source missing from a config (skipped, or
    unreachable) shows as a grey tile.
    """
    import datasets

    if ORIGINAL_CONFIG not in tables:
        raise ValueError(f"a contact sheet needs the {ORIGINAL_CONFIG!r} config; got {', '.join(tables)}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be positive, got {limit}")
    configs = [ORIGINAL_CONFIG] + [name for name in tables if name != ORIGINAL_CONFIG]
    original = tables[ORIGINAL_CONFIG].cast_column("image", datasets.Image(decode=False))
    ids = sorted(original["source_id"])[:limit]
    wanted = set(ids)
    by_config: dict[str, dict[str, np.ndarray | None]] = {}
    for config in configs:
        table = tables[config].cast_column("image", datasets.Image(decode=False))
        with_mask = config == ORIGINAL_CONFIG and "object_mask" in table.column_names
        if with_mask:
            table = table.cast_column("object_mask", datasets.Image(decode=False))
        keep = [i for i, sid in enumerate(table["source_id"]) if sid in wanted]
        cells: dict[str, np.ndarray | None] = {}
        for row in table.select(keep):
            image = _pixels(row["image"])
            if with_mask and row["object_mask"] is not None and image is not None:
                image = outline(image, _pixels(row["object_mask"])[..., 0] > 127)
            cells[row["source_id"]] = image
        by_config[config] = cells
    items: list[tuple[str, np.ndarray | None]] = []
    for source_id in ids:
        for config in configs:
            label = f"{source_id} + mask" if config == ORIGINAL_CONFIG else config
            items.append((label[:_LABEL_CHARS], by_config[config].get(source_id)))
    return contact_sheet(items, out, columns=len(configs), tile=tile)
