"""Which configs a results document covers, in what order, under which headings: read from the dataset.

The runner copies each evaluated config's attribute, level, severity and plot colour from the
dataset's description (``imagenet_e.json``) into the results file (``dataset.layout``), so tables,
``drops.png`` and ``score`` show a dataset made with a plug-in, or a sweep, without the plug-in and in
severity order. A results file written before that falls back to the installed registry.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagenet_e_dataset.description import DatasetDescription

FALLBACK_COLOUR = "#7f7f7f"


@dataclass(frozen=True)
class ConfigView:
    """One config as the result views show it."""

    name: str
    attribute: str
    level: str
    severity: float | None
    colour: str
    attribute_rank: int

    @property
    def is_original(self) -> bool:
        return self.attribute == "original"


def layout_record(source: str | os.PathLike, revision: str | None, configs: Sequence[str]) -> list[dict[str, Any]] | None:
    """``dataset.layout`` for the results file: the evaluated configs as the dataset describes them, in its
    order (None where the dataset has no Hub layout to describe, e.g. the authors' release folder)."""
    from imagenet_e_dataset.description_io import read_description

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an older dataset's description is rebuilt; said at load time
            description = read_description(source, revision)
    except (FileNotFoundError, ValueError, OSError):
        return None
    return layout_of(description, configs)


def layout_of(description: DatasetDescription, configs: Sequence[str]) -> list[dict[str, Any]]:
    """``dataset.layout`` of ``configs`` (those the description holds) as ``description`` lays them out."""
    colours = {a.name: a.colour for a in description.attributes}
    ranks = {a.name: k for k, a in enumerate(description.attributes)}
    wanted = set(configs)
    return [{"name": c.name, "attribute": c.attribute, "level": c.level, "severity": c.severity,
             "colour": colours.get(c.attribute) or FALLBACK_COLOUR, "attribute_rank": ranks[c.attribute]}
            for c in description.configs if c.name in wanted]


def config_views(doc: Mapping[str, Any]) -> list[ConfigView]:
    """The configs of a results document, in the dataset's order (attribute order, then severity)."""
    configs = list(doc["dataset"]["configs"])
    layout = doc["dataset"].get("layout")
    if isinstance(layout, list) and {entry.get("name") for entry in layout} == set(configs):
        views = [ConfigView(**entry) for entry in layout]
        return sorted(views, key=_order_key([v.name for v in views]))
    return _from_registry(configs)


def views_of(docs: Sequence[Mapping[str, Any]]) -> list[ConfigView]:
    """Every config any of ``docs`` covers, once, in canonical order."""
    seen: dict[str, ConfigView] = {}
    for doc in docs:
        for view in config_views(doc):
            seen.setdefault(view.name, view)
    return sorted(seen.values(), key=_order_key(list(seen)))


def _order_key(given: Sequence[str]):
    index = {name: k for k, name in enumerate(given)}
    return lambda v: (v.attribute_rank, v.severity is None, v.severity or 0.0, index[v.name])


def _from_registry(configs: Sequence[str]) -> list[ConfigView]:
    from imagenet_e_dataset.registry import attributes, resolve

    ranks = {a.name: k for k, a in enumerate(attributes())}
    views = []
    for name in configs:
        s = resolve(name)
        severity = s.attribute.severity(s.spec)
        views.append(ConfigView(s.name, s.attribute.name, s.level, None if severity is None else float(severity),
                                s.attribute.plot_colour, ranks.get(s.attribute.name, len(ranks))))
    return sorted(views, key=_order_key([v.name for v in views]))


def column_headers(views: Sequence[ConfigView]) -> dict[str, str]:
    """Config name -> a heading no other column shares: the attribute with its level (``Size 0.05``,
    ``Direction 30``; the level is kept even for an attribute's only column, so a table never hides which
    edit it shows); ``Ori`` for the original."""
    headers = {}
    for v in views:
        title = v.attribute.replace("_", " ").capitalize()
        headers[v.name] = "Ori" if v.is_original else f"{title} {v.level}"
    if len(set(headers.values())) < len(headers):  # two levels that print alike: the config names are distinct
        headers = {v.name: v.name for v in views}
    return headers


__all__ = ["ConfigView", "column_headers", "config_views", "layout_of", "layout_record", "views_of"]
