"""Writing and reading a dataset's description (``imagenet_e.json``), from a folder or a Hub repo.

A dataset written before descriptions existed has none: :func:`read_description` then rebuilds one
from what is on disk (the card's ``configs``/``dataset_info`` and each config's first row, whose
``attribute`` and ``level`` columns the writer always filled), never from the installed plug-ins, and
warns that severities, specs and claims are unknown for it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .description import (
    DESCRIPTION_NAME, AttributeDescription, ConfigDescription, DatasetDescription, LabelSpaceDescription,
)
from .hub_ids import looks_like_repo_id
from .label_space import LabelSpace
from .layout_records import README_NAME


class DerivedDescriptionWarning(UserWarning):
    """The dataset has no ``imagenet_e.json``; its description was rebuilt from the card and the data."""


def write_description(folder: str | os.PathLike, description: DatasetDescription) -> Path:
    """Write ``description`` to ``folder/imagenet_e.json`` (atomically)."""
    return atomic_write_text(Path(folder) / DESCRIPTION_NAME, description.to_json())


def read_description(folder_or_repo_id: str | os.PathLike, revision: str | None = None) -> DatasetDescription:
    """The description of a dataset folder in the Hub layout, or of a Hub dataset repo at ``revision``.

    Raises FileNotFoundError naming the folder or repo when neither a description nor a card is there,
    and ValueError naming the file when it cannot be read.
    """
    path = Path(folder_or_repo_id).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ValueError(f"revision={revision!r} only applies to a Hub repo id, not the local folder {path}")
        file = path / DESCRIPTION_NAME
        if file.is_file():
            return DatasetDescription.from_json(file.read_text(encoding="utf-8"), where=str(file))
        if not (path / README_NAME).is_file():
            raise FileNotFoundError(f"{path} has neither {DESCRIPTION_NAME} nor {README_NAME}: it is not a dataset "
                                    "folder in the Hub layout")
        return _derive(path / README_NAME, lambda rel: path / rel, sorted(p.relative_to(path).as_posix()
                                                                          for p in path.rglob("*.parquet")))
    text = os.fspath(folder_or_repo_id)
    if not looks_like_repo_id(text):
        raise FileNotFoundError(f"{text!r} is neither an existing folder nor a Hub repo id of the form 'namespace/name'")
    return _read_hub(text, revision)


def _read_hub(repo_id: str, revision: str | None) -> DatasetDescription:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    where = f"dataset repo {repo_id}" + (f" at revision {revision}" if revision else "")

    def fetch(rel: str) -> Path:
        return Path(hf_hub_download(repo_id, rel, repo_type="dataset", revision=revision))

    try:
        file = fetch(DESCRIPTION_NAME)
    except LocalEntryNotFoundError as exc:  # the Hub could not be reached and nothing is cached: one clear line
        from huggingface_hub import constants

        raise ConnectionError(f"cannot reach the Hub at {constants.ENDPOINT} to read {DESCRIPTION_NAME} of {where} "
                              f"({' '.join(str(exc).split())[:200]})") from None
    except EntryNotFoundError:
        files = HfApi().list_repo_files(repo_id, repo_type="dataset", revision=revision)
        if README_NAME not in files:
            raise FileNotFoundError(f"{where} has neither {DESCRIPTION_NAME} nor {README_NAME}") from None
        return _derive(fetch(README_NAME), fetch, sorted(f for f in files if f.endswith(".parquet")), where=where)
    return DatasetDescription.from_json(file.read_text(encoding="utf-8"), where=f"{DESCRIPTION_NAME} of {where}")


def _front_matter(readme: Path) -> dict[str, Any]:
    from .card_yaml import load_yaml

    text = readme.read_text(encoding="utf-8")
    parts = text.split("---", 2) if text.startswith("---") else []
    if len(parts) < 3:
        raise ValueError(f"{readme} has no YAML front matter, so the dataset's configs are unknown")
    doc = load_yaml(parts[1]) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{readme}: the YAML front matter is not a mapping")
    return doc


def _derive(readme: Path, fetch: Callable[[str], Path], parquet_files: list[str], *, where: str | None = None
            ) -> DatasetDescription:
    """A description rebuilt from the card's YAML and the first row of each config (see the module docstring)."""
    import datasets
    import pyarrow.parquet as pq

    where = where or str(readme.parent)
    warnings.warn(f"{where} has no {DESCRIPTION_NAME} (written before imagenet-e recorded one): its description is "
                  "rebuilt from the card and the data; severities, edit specs and attribute claims are unknown",
                  DerivedDescriptionWarning, stacklevel=3)
    meta = _front_matter(readme)
    names = [c["config_name"] for c in meta.get("configs") or [] if isinstance(c, Mapping) and "config_name" in c]
    if not names:
        raise ValueError(f"{readme}: the front matter lists no configs")
    infos = meta.get("dataset_info") or []
    infos = [infos] if isinstance(infos, Mapping) else infos
    by_name = {i.get("config_name"): i for i in infos if isinstance(i, Mapping)}
    configs, attributes = [], {}
    space = None
    for k, name in enumerate(names):
        info = by_name.get(name) or {}
        if space is None and info.get("features"):
            space = LabelSpace.from_features(datasets.Features._from_yaml_list(info["features"]))
        shards = [f for f in parquet_files if f.startswith(f"{name}/")]
        if not shards:
            raise ValueError(f"{where}: config {name!r} has no parquet files")
        first = pq.ParquetFile(fetch(shards[0])).read_row_group(0, columns=["attribute", "level"]).slice(0, 1).to_pylist()
        if not first:
            raise ValueError(f"{where}: the first shard of config {name!r} ({shards[0]}) has no rows")
        attribute, level = first[0]["attribute"], first[0]["level"]
        rows = sum(int(s.get("num_examples", 0)) for s in info.get("splits") or [] if isinstance(s, Mapping))
        configs.append(ConfigDescription(name=name, attribute=attribute, level=level, spec={}, severity=None,
                                         severity_rank=k, num_examples=rows))
        attributes.setdefault(attribute, AttributeDescription(
            name=attribute, description="", order=len(attributes), edited=attribute != "original", colour=""))
    if space is None:
        raise ValueError(f"{readme}: dataset_info has no features, so the label space is unknown")
    return DatasetDescription(configs=tuple(configs), attributes=tuple(attributes.values()),
                              label_space=LabelSpaceDescription.of(space), origin="derived")


__all__ = ["DerivedDescriptionWarning", "read_description", "write_description"]
