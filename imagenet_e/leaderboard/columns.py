"""A benchmark's columns as its dataset describes them, never as the installed plug-ins would.

Every checked results file carries its dataset's ``dataset.layout`` (each config's attribute, level,
severity), compared with the dataset's own description (``imagenet_e.json``, read by
:meth:`~.verify.DatasetResolver.layout`) before it is ranked. The table's attribute groups, per-config
columns and sweep failure levels follow that layout: attribute order, then severity. So a board shows a
dataset made with a plug-in, or a sweep, on a machine without the plug-in. A file without a layout
(written before there was one) falls back to the registry for the configs it already knows; a name
the registry does not know is never resolved (that would register it), only shown under its own name.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from imagenet_e.eval.config_layout import FALLBACK_COLOUR, ConfigView, config_views
from imagenet_e_dataset.registry import ALL_SUBSETS

_TEXT_FIELDS = ("name", "attribute", "level", "colour")
_UNKNOWN_RANK = 1_000_000
"""Where configs no description places go: after every described attribute."""


def valid_layout(layout: Any, configs: Sequence[str]) -> bool:
    """Whether ``layout`` is a well-formed description of exactly ``configs`` (a hostile file's is not)."""
    if not isinstance(layout, list) or len(layout) != len(configs):
        return False
    for entry in layout:
        if not isinstance(entry, dict) or set(entry) != {*_TEXT_FIELDS, "severity", "attribute_rank"}:
            return False
        if not all(isinstance(entry[k], str) and len(entry[k]) <= 200 for k in _TEXT_FIELDS):
            return False
        severity, rank = entry["severity"], entry["attribute_rank"]
        if severity is not None and (isinstance(severity, bool) or not isinstance(severity, (int, float))):
            return False
        if isinstance(rank, bool) or not isinstance(rank, int):
            return False
    return {entry["name"] for entry in layout} == set(configs)


def same_layout(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]) -> bool:
    """The same configs described alike, whatever order they are listed in (merged shards list theirs)."""
    return {e["name"]: dict(e) for e in a} == {e["name"]: dict(e) for e in b}


def entry_views(dataset: Mapping[str, Any]) -> tuple[ConfigView, ...]:
    """The configs of one checked results document's ``dataset`` section, in the dataset's order."""
    configs = [str(c) for c in dataset["configs"]]
    layout = dataset.get("layout")
    if valid_layout(layout, configs):
        return tuple(config_views({"dataset": {"configs": configs, "layout": layout}}))
    if all(c in ALL_SUBSETS for c in configs):  # registered already: resolving them registers nothing
        return tuple(config_views({"dataset": {"configs": configs}}))
    return tuple(ConfigView(c, c, "", None, FALLBACK_COLOUR, _UNKNOWN_RANK) for c in configs)


def ordered_views(views_per_entry: Iterable[Sequence[ConfigView]]) -> list[ConfigView]:
    """Every config of a benchmark's entries once, in the first entry's (the dataset's) order."""
    seen: dict[str, ConfigView] = {}
    for views in views_per_entry:
        for view in views:
            seen.setdefault(view.name, view)
    return list(seen.values())


def attribute_order(views: Iterable[ConfigView]) -> list[str]:
    """The edited attributes of ``views`` in the dataset's attribute order (``original`` left out)."""
    ranks: dict[str, int] = {}
    for view in views:
        if not view.is_original:
            ranks.setdefault(view.attribute, view.attribute_rank)
    return sorted(ranks, key=lambda a: (ranks[a], a))
