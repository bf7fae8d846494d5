"""Which subsets the metric knows: the benchmark's twelve from a shipped table, others from the input.

The metric groups rows by attribute, orders subsets, finds the control and the severity sweeps.
None of that is computed here from the attribute plug-ins (the metric imports only numpy and the
standard library, so the Hub Space ships this package's own files): the twelve ImageNet-E configs
come from ``benchmark_subsets.py`` beside this module (a Python literal, so ``evaluate`` copies it
with the module script), which ``python -m
imagenet_e_dataset.metric_table`` writes from the subset registry (a test regenerates it and
compares, so the registry stays the one source), and a dataset's own configs (sweep levels,
plug-ins, extras) come from a ``description`` mapping given to ``compute``::

    {"size_0.2": {"attribute": "size", "severity": 0.8, "order": 7, "level": "0.2"}, ...}

A dataset's whole description may be passed too: its ``configs`` entry (a mapping like the one
above, or a list of such records carrying their ``name``) is used. ``attribute`` is required; ``severity`` (a number that grows with the edit's strength, None when
the config is not on a scale), ``order`` (sort key of the config in every table; ties broken by
name), ``level`` (the level as text) and ``alias`` are optional. Extra keys are ignored, so a
dataset's full description record can be passed as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping

from .benchmark_subsets import TABLE

__all__ = ["SubsetInfo", "SubsetTable", "benchmark_table"]

ORIGINAL_ATTRIBUTE = "original"


@dataclass(frozen=True)
class SubsetInfo:
    """What the metric needs to know of one config."""

    name: str
    attribute: str
    order: float
    """Sort key in every output table (the registry's canonical position for the standard table)."""
    severity: float | None = None
    level: str = ""
    alias: str | None = None
    benchmark: bool = False
    """One of the twelve ImageNet-E configs (their fixed levels are not reported as a sweep)."""

    @property
    def is_original(self) -> bool:
        return self.attribute == ORIGINAL_ATTRIBUTE

    @property
    def is_edited(self) -> bool:
        return not self.is_original


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValueError(f"{what} must be a finite number or null, got {value!r}")
    return float(value)


def _record(name: str, entry: Any, *, default_order: float, benchmark: bool, source: str) -> SubsetInfo:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{source}: config {name!r} must map to a record with at least 'attribute', "
                         f"got {type(entry).__name__}")
    attribute = entry.get("attribute")
    if not isinstance(attribute, str) or not attribute:
        raise ValueError(f"{source}: config {name!r} has no 'attribute' (a non-empty string), got {attribute!r}")
    order = _number(entry.get("order"), f"{source}: config {name!r} 'order'")
    level = entry.get("level")
    if level is None:
        prefix = f"{attribute}_"
        level = name[len(prefix):] if name.startswith(prefix) else name
    alias = entry.get("alias")
    return SubsetInfo(name=name, attribute=attribute, order=default_order if order is None else order,
                      severity=_number(entry.get("severity"), f"{source}: config {name!r} 'severity'"),
                      level=str(level), alias=alias if isinstance(alias, str) and alias else None,
                      benchmark=benchmark)


def _config_records(description: Any) -> Any:
    """The ``{config: record}`` inside a dataset's whole description (its ``configs`` entry, as a mapping
    or as a list of records naming themselves with ``name``), or ``description`` itself."""
    if isinstance(description, Mapping) and "configs" in description and "attribute" not in description:
        configs = description["configs"]
        if isinstance(configs, Mapping) and all(isinstance(v, Mapping) for v in configs.values()):
            return configs
        if isinstance(configs, list) and all(isinstance(v, Mapping) and isinstance(v.get("name"), str)
                                             for v in configs):
            return {v["name"]: v for v in configs}
    return description


class SubsetTable:
    """Config name or alias -> :class:`SubsetInfo`, for the benchmark plus an optional description."""

    def __init__(self, subsets: Iterable[SubsetInfo], *, original: str, control: str | None,
                 num_classes: int) -> None:
        self.subsets: dict[str, SubsetInfo] = {s.name: s for s in subsets}
        self.aliases: dict[str, str] = {s.alias: s.name for s in self.subsets.values() if s.alias}
        if original not in self.subsets or not self.subsets[original].is_original:
            raise ValueError(f"the subset table's original config {original!r} is not an "
                             f"{ORIGINAL_ATTRIBUTE!r} subset of the table")
        self.original, self.control, self.num_classes = original, control, num_classes

    def with_description(self, description: Mapping[str, Any] | None) -> "SubsetTable":
        """This table with the configs of ``description`` added (or replacing same-named ones)."""
        if description is None:
            return self
        description = _config_records(description)
        if not isinstance(description, Mapping):
            raise ValueError(f"description must map config name -> {{'attribute': ..., 'severity': ..., "
                             f"'order': ...}}, got {type(description).__name__}")
        merged = dict(self.subsets)
        end = max((s.order for s in merged.values()), default=0.0) + 1.0
        for k, (name, entry) in enumerate(description.items()):
            if not isinstance(name, str) or not name:
                raise ValueError(f"description: config names must be non-empty strings, got {name!r}")
            known = self.subsets.get(name)
            merged[name] = _record(name, entry, default_order=known.order if known else end + k,
                                   benchmark=bool(known and known.benchmark), source="description")
        originals = [s.name for s in merged.values() if s.is_original]
        original = self.original if self.original in originals else (originals[0] if originals else self.original)
        return SubsetTable(merged.values(), original=original, control=self.control, num_classes=self.num_classes)

    def resolve(self, name: Any) -> SubsetInfo:
        if not isinstance(name, str):
            raise ValueError(f"subset name must be a string, got {type(name).__name__}: {name!r}")
        found = self.subsets.get(name) or self.subsets.get(self.aliases.get(name, ""))
        if found is not None:
            return found
        valid = ", ".join(f"{s.name} (alias {s.alias})" if s.alias else s.name for s in self.ordered())
        raise ValueError(f"unknown ImageNet-E subset {name!r}; valid names and aliases: {valid}. A dataset with "
                         f"configs of its own passes description={{config: {{'attribute': ..., 'severity': ..., "
                         f"'order': ...}}}}")

    def ordered(self) -> list[SubsetInfo]:
        """Original first, then by (order, name)."""
        return sorted(self.subsets.values(), key=lambda s: (not s.is_original, s.order, s.name))

    @property
    def control_subset(self) -> SubsetInfo | None:
        return self.subsets.get(self.control) if self.control else None


def _load_table(doc: Mapping[str, Any]) -> SubsetTable:
    where = "imagenet_e_metric/benchmark_subsets.py"
    try:
        subsets = [_record(name, entry, default_order=float(k), benchmark=True, source=where)
                   for k, (name, entry) in enumerate(doc["configs"].items())]
        return SubsetTable(subsets, original=doc["original"], control=doc.get("control"),
                           num_classes=int(doc["num_classes"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: the metric's benchmark subset table is malformed ({exc}); regenerate it "
                         f"with `python -m imagenet_e_dataset.metric_table`") from None


@lru_cache(maxsize=1)
def benchmark_table() -> SubsetTable:
    """The twelve ImageNet-E configs of ``benchmark_subsets.py``."""
    return _load_table(TABLE)
