"""What a written dataset holds, said once: the machine-readable description beside its card.

Every writer of the Hub layout (``generate``, ``import-release``, ``push``) stores one
:class:`DatasetDescription` as ``imagenet_e.json`` at the dataset root. It is built from the attribute
plug-ins *at writing time* (each config's attribute, typed spec record, level, severity, and what the
attribute claims about the object), so every surface that shows the dataset later (card, ``eval.yaml``,
evaluation tables and plots, leaderboard, contact sheets, the metric's grouping) reads it instead of
the installed registry, and a dataset made with a plug-in renders where the plug-in is not installed.

The file is versioned (:data:`SCHEMA_VERSION`); readers refuse a newer schema by name rather than
misread it. Reading it (from a folder or a Hub repo) is :mod:`imagenet_e_dataset.description_io`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .jsonsafe import to_jsonable
from .label_space import LabelSpace
from .version import __version__

SCHEMA_VERSION = 1
DESCRIPTION_NAME = "imagenet_e.json"
"""The description's file name at the dataset root (also uploaded by ``push``)."""

Origin = Literal["generate", "import-release", "writer", "derived"]
"""Who wrote the description: a toolkit run, the release importer, another user of the writer, or
:func:`~imagenet_e_dataset.description_io.read_description` reconstructing it for an older dataset."""


@dataclass(frozen=True)
class AttributeDescription:
    """One attribute present in the dataset, as its plug-in described itself when the data was written."""

    name: str
    description: str
    order: int
    edited: bool
    colour: str
    sweep_unit: str = ""
    keeps_object_pixels: bool = False
    """The plug-in's claim that the object's pixels are the source photo's, unmoved and unresampled (true
    for background edits; false for size/direction/position, which resample or move the object)."""


@dataclass(frozen=True)
class ConfigDescription:
    """One config (subset) of the dataset."""

    name: str
    attribute: str
    level: str
    spec: Mapping[str, Any]
    """The typed edit spec as recorded by ``EditSpec.record()`` (``{"type": "SizeSpec", "rate": 0.05, ...}``)."""
    severity: float | None
    """A number growing with the strength of the edit (None: not on a severity scale)."""
    severity_rank: int
    """Position of the config in the dataset's canonical order (attribute order, then severity)."""
    num_examples: int
    description: str = ""
    alias: str | None = None
    benchmark: bool = False

    @property
    def is_original(self) -> bool:
        return self.attribute == "original"


@dataclass(frozen=True)
class LabelSpaceDescription:
    """The ``label`` column's classes."""

    name: str
    names: tuple[str, ...]
    ids: tuple[str, ...]
    is_imagenet_1k: bool
    sha256: str

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @classmethod
    def of(cls, space: LabelSpace) -> LabelSpaceDescription:
        return cls(space.name, tuple(space.names), tuple(space.ids), space.is_imagenet, space.describe()["sha256"])


@dataclass(frozen=True)
class DatasetDescription:
    """The whole description (see the module docstring). Configs are in canonical order."""

    configs: tuple[ConfigDescription, ...]
    attributes: tuple[AttributeDescription, ...]
    label_space: LabelSpaceDescription
    origin: Origin = "writer"
    protocol: str | None = None
    backend: str | None = None
    model: str | None = None
    mask_source: str | None = None
    sweeps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Attribute name -> the config names of its severity sweep, mildest first."""
    package_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    # -- lookups -----------------------------------------------------------------------------------
    @property
    def config_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.configs)

    def config(self, name: str) -> ConfigDescription:
        """The config called ``name`` (or its release alias); ValueError listing the ones present."""
        for c in self.configs:
            if name in (c.name, c.alias):
                return c
        raise ValueError(f"config {name!r} is not in this dataset; it holds {', '.join(self.config_names)}")

    def attribute(self, name: str) -> AttributeDescription:
        for a in self.attributes:
            if a.name == name:
                return a
        raise ValueError(f"attribute {name!r} is not in this dataset; it holds {', '.join(a.name for a in self.attributes)}")

    def configs_of(self, attribute: str) -> tuple[ConfigDescription, ...]:
        return tuple(c for c in self.configs if c.attribute == attribute)

    @property
    def edited_attributes(self) -> tuple[AttributeDescription, ...]:
        return tuple(a for a in self.attributes if a.edited)

    def attribute_of(self) -> dict[str, str]:
        """Config name -> attribute name: what the metric groups ``attribute_drop`` by."""
        return {c.name: c.attribute for c in self.configs}

    # -- JSON ----------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(to_jsonable(asdict(self)), indent=2, ensure_ascii=False, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str, *, where: str) -> DatasetDescription:
        """Parse a description; a ValueError names ``where`` and what is wrong with it."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{where} must hold a JSON object, not {type(doc).__name__}")
        version = doc.get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"{where}: schema_version must be a positive integer, got {version!r}")
        if version > SCHEMA_VERSION:
            raise ValueError(f"{where} has schema version {version}; this imagenet-e ({__version__}) reads up to "
                             f"{SCHEMA_VERSION}: upgrade imagenet-e to read it")
        try:
            return cls(
                configs=tuple(ConfigDescription(**c) for c in doc["configs"]),
                attributes=tuple(AttributeDescription(**a) for a in doc["attributes"]),
                label_space=LabelSpaceDescription(**{**doc["label_space"],
                                                     "names": tuple(doc["label_space"]["names"]),
                                                     "ids": tuple(doc["label_space"]["ids"])}),
                sweeps={k: tuple(v) for k, v in (doc.get("sweeps") or {}).items()},
                **{k: doc[k] for k in ("origin", "protocol", "backend", "model", "mask_source", "package_version",
                                       "schema_version") if k in doc},
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{where} is not an imagenet-e dataset description: {exc}") from None


def _attribute_record(plugin: Any) -> AttributeDescription:
    return AttributeDescription(
        name=plugin.name, description=plugin.description, order=plugin.order, edited=plugin.edited,
        colour=plugin.plot_colour, sweep_unit=plugin.sweep_unit,
        keeps_object_pixels=bool(getattr(plugin, "keeps_object_pixels", False)),
    )


def canonical_order(configs: Iterable[ConfigDescription], attributes: Sequence[AttributeDescription]
                    ) -> list[ConfigDescription]:
    """Attribute order; within one, the configs on its severity scale mildest first (so a sweep that mixes
    declared and swept levels reads monotonically), then those off the scale in their given order."""
    rank = {a.name: i for i, a in enumerate(sorted(attributes, key=lambda a: (a.order, a.name)))}
    indexed = list(enumerate(configs))
    indexed.sort(key=lambda kc: (rank.get(kc[1].attribute, len(rank)), kc[1].severity is None,
                                 kc[1].severity or 0.0, kc[0]))
    return [c for _, c in indexed]


def describe_configs(
    counts: Mapping[str, int],
    label_space: LabelSpace,
    *,
    origin: Origin = "writer",
    protocol: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    mask_source: str | None = None,
) -> DatasetDescription:
    """The description of a dataset holding ``counts`` (config name -> rows), built from the registered
    attribute plug-ins now, while the data is written."""
    from .registry import ALL_SUBSETS, resolve

    subsets = [resolve(name) for name in counts]
    position = {name: k for k, name in enumerate(ALL_SUBSETS)}
    subsets.sort(key=lambda s: position.get(s.name, len(position)))
    plugins = {s.attribute.name: s.attribute for s in subsets}
    attributes = tuple(_attribute_record(p) for p in sorted(plugins.values(), key=lambda p: (p.order, p.name)))
    declared = {s.name for p in plugins.values() for s in p.subsets()}
    configs = [
        ConfigDescription(
            name=s.name, attribute=s.attribute.name, level=s.level, spec=to_jsonable(s.spec.record()),
            severity=_severity(s), severity_rank=0, num_examples=int(counts[s.name]), description=s.description,
            alias=s.alias, benchmark=s.benchmark)
        for s in subsets
    ]
    ordered = [ConfigDescription(**{**asdict(c), "severity_rank": k})
               for k, c in enumerate(canonical_order(configs, attributes))]
    sweeps: dict[str, tuple[str, ...]] = {}
    for a in attributes:
        swept = [c.name for c in ordered if c.attribute == a.name and c.name not in declared]
        if swept:  # a sweep's levels: every config of the attribute on its severity scale
            sweeps[a.name] = tuple(c.name for c in ordered if c.attribute == a.name and c.severity is not None)
    return DatasetDescription(
        configs=tuple(ordered), attributes=attributes, label_space=LabelSpaceDescription.of(label_space),
        origin=origin, protocol=protocol, backend=backend, model=model, mask_source=mask_source, sweeps=sweeps)


def _severity(subset: Any) -> float | None:
    value = subset.attribute.severity(subset.spec)
    return None if value is None else float(value)


__all__ = [
    "DESCRIPTION_NAME", "SCHEMA_VERSION", "AttributeDescription", "ConfigDescription", "DatasetDescription",
    "LabelSpaceDescription", "Origin", "canonical_order", "describe_configs",
]
