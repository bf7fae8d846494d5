"""A contact sheet of a written dataset: one row per source image, the original with the outline of
the object mask its edits used, then every config (a sweep's levels in order).

Read back from the dataset itself (a Hub-layout folder or a Hub repo), so the sheet shows what a
user of the dataset gets, not what the generator meant to write. ``imagenet-e contact-sheet`` and
the demo draw it.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_e_dataset.registry import ORIGINAL_CONFIG

from .contact_sheet import contact_sheet, outline


def dataset_configs(source: str | os.PathLike, revision: str | None = None) -> list[str]:
    """The configs a dataset holds, in its description's order (attribute, then severity: a sweep reads
    left to right from the mildest level). Read from the dataset, not from the installed plug-ins."""
    return list(_description(source, revision).config_names)


def _description(source: str | os.PathLike, revision: str | None):
    from imagenet_e_dataset.description_io import read_description

    return read_description(source, revision)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No per-config "Generating test split" bars and no per-retry "Retrying in 1s" lines while loading: the
    caller shows one bar, and a Hub that cannot be reached ends in one clear error."""
    import datasets
    import huggingface_hub

    bars = datasets.utils.logging.is_progress_bar_enabled()
    ds_level = datasets.utils.logging.get_verbosity()
    hub_level = huggingface_hub.utils.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()
    huggingface_hub.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        if bars:
            datasets.enable_progress_bars()
        datasets.utils.logging.set_verbosity(ds_level)
        huggingface_hub.utils.logging.set_verbosity(hub_level)


def load_tables(source: str | os.PathLike, configs: Sequence[str] | None = None, *,
                revision: str | None = None, progress: bool = True) -> dict[str, Any]:
    """``config -> datasets.Dataset`` of ``source`` (every config it holds unless ``configs`` names some), in
    the dataset's order, the original first; one progress bar over the configs."""
    from tqdm import tqdm

    from imagenet_e_dataset.reader import load

    with quiet_loading():
        description = _description(source, revision)
    chosen = {description.config(name).name for name in configs} if configs else set(description.config_names)
    original = [c.name for c in description.configs if c.is_original]
    if not original:
        raise ValueError(f"{source} has no original config, so a contact sheet has nothing to compare edits with")
    chosen.add(original[0])
    names = [name for name in description.config_names if name in chosen]
    tables = {}
    with quiet_loading():
        for name in tqdm(names, desc="loading configs", unit="config", disable=not progress):
            tables[name] = load(name, source, revision=revision)
    return tables


def skip_reasons(source: str | os.PathLike) -> dict[tuple[str, str], str]:
    """``(source_id, config) -> reason`` from a dataset folder's ``skipped.tsv`` (empty when it has none)."""
    from .pipeline.merge import SKIPPED_NAME  # source_id, subset, reason, detail (written by generate)

    path = Path(source) / SKIPPED_NAME
    if not path.is_file():
        return {}
    reasons: dict[tuple[str, str], str] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1]:
            reasons[(fields[0], fields[1])] = fields[2]
    return reasons


def _pixels(cell: Mapping[str, Any] | None) -> np.ndarray | None:
    from PIL import Image

    if cell is None:
        return None
    with Image.open(io.BytesIO(cell["bytes"])) as image:
        return np.asarray(image.convert("RGB"))


def dataset_contact_sheet(tables: Mapping[str, Any], out: str | os.PathLike, *, limit: int | None = None,
                          tile: int = 192, reasons: Mapping[tuple[str, str], str] | None = None) -> Path:
    """Draw ``tables`` (``config -> Dataset``, ``original`` among them) into ``out`` (PNG, written atomically).

    ``limit``: only the first N source images (by id). A source missing from a config shows as a grey
    tile saying "skipped: <reason>" (``reasons``: :func:`skip_reasons`; else "not in this config").
    """
    import datasets

    if ORIGINAL_CONFIG not in tables:
        raise ValueError(f"a contact sheet needs the {ORIGINAL_CONFIG!r} config; got {', '.join(tables)}")
    reasons = reasons or {}
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
    items: list[tuple[str, np.ndarray | str | None]] = []
    for source_id in ids:
        for config in configs:
            label = f"{source_id} + mask" if config == ORIGINAL_CONFIG else config
            cells = by_config[config]
            image = cells[source_id] if source_id in cells else reasons.get((source_id, config), "not in this config")
            items.append((label, image))
    return contact_sheet(items, out, columns=len(configs), tile=tile)
