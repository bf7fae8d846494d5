"""The attribute and subset registry: every attribute and every dataset config, in one module.

Each attribute (:mod:`imagenet_e_dataset.attributes`, or a plug-in) declares its subsets with a typed
edit spec and registers here with :func:`register_attribute`; this module keeps the one table of
subsets the importer, writer, metric, runner, card, leaderboard, CLI and the editing toolkit read
(the toolkit's planners are registered apart, by attribute name, in :mod:`generation.attributes`).
Nothing else spells a subset name out. The twelve ImageNet-E configs are the subsets with ``benchmark=True`` (what ``"all"`` means); extras such as ``occlusion_0.5`` and the
subsets of user plug-ins resolve by name and join ``"all+extras"``.

Two families of views. :data:`SUBSETS`, :data:`CONFIG_NAMES`, :data:`EDITED_CONFIG_NAMES` and
:data:`EDITED_ATTRIBUTES` are the ImageNet-E benchmark (its twelve configs and four attributes), as
they always were. :data:`ALL_SUBSETS`, :func:`attributes` and :func:`edited_attributes` hold every
registered subset and attribute; whatever must work for extras and plug-ins (metric, runner,
reports, card, leaderboard, Hub layout) reads those. All views are live: a plug-in registered later
(``--plugin``, an entry point) appears in them at once.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from .attributes import BUILTIN_ATTRIBUTES, AttributePlugin, EditSpec, Subset, check_attribute_class
from .attributes.background import BackgroundSpec
from .attributes.original import OriginalSpec
from .named_registry import NamedRegistry
from .plugin_loading import load_entry_points

__all__ = [
    "ALIASES", "ALL", "ALL_SUBSETS", "ALL_WITH_EXTRAS", "Attribute", "AttributePlugin", "BENCHMARK_CONFIG_NAMES", "CONFIG_NAMES",
    "CONTROL_CONFIG", "DEFAULT_CONFIG", "ORIGINAL_CONFIG", "EDITED_ATTRIBUTES", "EDITED_CONFIG_NAMES", "SUBSETS", "Subset", "attributes", "get_attribute",
    "edited_attributes", "recognise", "register_attribute", "register_subset", "registered_attributes", "resolve", "resolve_many", "subset_for_spec", "subsets_of",
]

Attribute = AttributePlugin
"""An attribute is its plug-in object (``subset.attribute.name`` is ``"size"``)."""

ALL = "all"
ALL_WITH_EXTRAS = "all+extras"
ORIGINAL_CONFIG = OriginalSpec().config_name()
"""The unedited control every drop is measured against."""
CONTROL_CONFIG = BackgroundSpec(0.0).config_name()
"""The regeneration control (λ = 0): shares every edited subset's resizing and re-synthesis."""
DEFAULT_CONFIG = ORIGINAL_CONFIG


def _same_class(existing: AttributePlugin, new: AttributePlugin) -> bool:
    # The same plug-in module imported twice (e.g. a plug-in file loaded again) is not a clash.
    return (type(existing).__qualname__, type(existing).__module__) == (type(new).__qualname__, type(new).__module__)


_ATTRIBUTES: NamedRegistry[AttributePlugin] = NamedRegistry("attribute", same=_same_class)
_SUBSETS: dict[str, Subset] = {}
_BENCHMARK: dict[str, Subset] = {}
_ALIASES: dict[str, str] = {}


def register_attribute(cls: type[AttributePlugin]) -> type[AttributePlugin]:
    """Class decorator: register an attribute (one instance per class) and the subsets it declares."""
    name = check_attribute_class(cls)
    plugin = cls()
    if name in _ATTRIBUTES:
        _ATTRIBUTES.add(name, plugin)  # the same module imported again is kept; another class is refused
        return cls
    declared = plugin.subsets()
    for sub in declared:
        for key in (sub.name, sub.alias):
            if key is not None and (key in _SUBSETS or key in _ALIASES):
                raise ValueError(f"attribute {plugin.name!r}: subset name or alias {key!r} is already taken")
    _ATTRIBUTES.add(name, plugin)
    for sub in declared:
        _SUBSETS[sub.name] = sub
        if sub.alias:
            _ALIASES[sub.alias] = sub.name
    _reorder()
    return cls


def registered_attributes() -> Iterator[AttributePlugin]:
    """Registered attributes, by ``order`` then name."""
    return iter(sorted(_ATTRIBUTES.values(), key=lambda a: (a.order, a.name)))


def _reorder() -> None:
    # Canonical order: attribute order; within one, its declared subsets as declared, then the
    # levels it gained from sweeps by severity (so curves and tables read left to right).
    rank = {a.name: i for i, a in enumerate(registered_attributes())}
    declared = {s.name: k for a in _ATTRIBUTES.values() for k, s in enumerate(a.subsets())}

    def key(s: Subset) -> tuple:
        if s.name in declared:
            return (rank[s.attribute.name], 0, declared[s.name], 0.0, s.name)
        severity = s.attribute.severity(s.spec)
        return (rank[s.attribute.name], 1, 0, severity if severity is not None else 0.0, s.name)

    ordered = sorted(_SUBSETS.values(), key=key)
    _SUBSETS.clear()
    _SUBSETS.update((s.name, s) for s in ordered)
    _BENCHMARK.clear()
    _BENCHMARK.update((s.name, s) for s in ordered if s.benchmark)


T = TypeVar("T")


class _LiveView(Sequence[T]):
    """A read-only sequence recomputed on every use (so plug-ins registered later are included)."""

    def __init__(self, compute: Callable[[], tuple[T, ...]], doc: str) -> None:
        self._compute = compute
        self.__doc__ = doc

    def __getitem__(self, index: Any) -> Any:
        return self._compute()[index]

    def __len__(self) -> int:
        return len(self._compute())

    def __iter__(self) -> Iterator[T]:
        return iter(self._compute())

    def __contains__(self, item: object) -> bool:
        return item in self._compute()

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, (list, tuple, _LiveView)) else other)

    def __repr__(self) -> str:
        return repr(self._compute())


SUBSETS: Mapping[str, Subset] = MappingProxyType(_BENCHMARK)
"""The twelve ImageNet-E configs: config name -> subset, in the paper's order."""

ALL_SUBSETS: Mapping[str, Subset] = MappingProxyType(_SUBSETS)
"""Every registered config (ImageNet-E, extras, plug-ins), in canonical order (attribute order, then
declaration order)."""

ALIASES: Mapping[str, str] = MappingProxyType(_ALIASES)
"""Official release folder name -> config name."""

CONFIG_NAMES: Sequence[str] = _LiveView(lambda: tuple(_BENCHMARK), "The twelve ImageNet-E config names.")
BENCHMARK_CONFIG_NAMES = CONFIG_NAMES
EDITED_CONFIG_NAMES: Sequence[str] = _LiveView(
    lambda: tuple(s.name for s in _BENCHMARK.values() if s.is_edited), "The eleven edited ImageNet-E config names.")
EDITED_ATTRIBUTES: Sequence[AttributePlugin] = _LiveView(
    lambda: tuple(a for a in registered_attributes() if a.edited and any(s.attribute is a for s in _BENCHMARK.values())),
    "The four attributes ImageNet-E edits (background, size, position, direction).")


def attributes() -> tuple[AttributePlugin, ...]:
    """Every registered attribute (``original`` first), in order."""
    return tuple(registered_attributes())


def edited_attributes() -> tuple[AttributePlugin, ...]:
    """Every registered edited attribute (ImageNet-E's four, extras, plug-ins), in order."""
    return tuple(a for a in registered_attributes() if a.edited)


def get_attribute(name: str | AttributePlugin) -> AttributePlugin:
    """The attribute plug-in of a name, with an error listing the registered ones."""
    if isinstance(name, AttributePlugin):
        return name
    found = _ATTRIBUTES.find(name) if isinstance(name, str) else None
    if found is None:
        valid = ", ".join(_ATTRIBUTES.names())
        raise ValueError(f"unknown attribute {name!r}; valid: {valid} (plug-ins add more: --plugin)")
    return found


def resolve(name: str | Subset, *, levels: bool = True) -> Subset:
    """Return the subset for a config name or an official folder alias.

    With ``levels`` (the default, for reading datasets and results) a name that is an attribute's
    ``<name>_<level>`` is recognised too (``size_0.02`` from a sweep) and joins the registry; the
    generation commands pass ``levels=False`` so a mistyped level is an error, not a new edit.

    >>> resolve("20_hard").name
    'background_20'
    >>> resolve("size_0.05").attribute.name
    'size'
    """
    if isinstance(name, Subset):
        return name
    if not isinstance(name, str):
        raise ValueError(f"subset name must be a string, got {type(name).__name__}: {name!r}")
    if name in _SUBSETS and (levels or _is_declared(_SUBSETS[name])):
        return _SUBSETS[name]
    if name in _ALIASES:
        return _SUBSETS[_ALIASES[name]]
    derived = _from_config_name(name, register=levels)
    if derived is not None:
        if levels:
            return derived
        raise ValueError(f"{name!r} is not one of the declared subsets; to generate other levels of "
                         f"{derived.attribute.name} use --sweep {derived.attribute.name}=VALUES (e.g. the level "
                         f"{derived.level!r}), or pick a declared subset: {', '.join(s.name for s in derived.attribute.subsets())}")
    valid = ", ".join(f"{s.name} (alias {s.alias})" if s.alias else s.name for s in _SUBSETS.values())
    raise ValueError(f"unknown ImageNet-E subset {name!r}; valid names and aliases: {valid}")


def resolve_many(names: str | Sequence[str | Subset], *, levels: bool = True) -> list[Subset]:
    """Resolve ``"all"`` (the twelve ImageNet-E configs), ``"all+extras"`` (every registered subset), a
    comma-separated string or a list of names/aliases (which may include ``all``), keeping the canonical order.

    >>> [s.name for s in resolve_many("all,occlusion_0.5")][-2:]
    ['direction_random', 'occlusion_0.5']
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    wanted: set[str] = set()
    for name in names:
        if name == ALL:
            wanted.update(s.name for s in _SUBSETS.values() if s.benchmark)
        elif name == ALL_WITH_EXTRAS:
            wanted.update(_SUBSETS)
        else:
            wanted.add(resolve(name, levels=levels).name)
    if not wanted:
        raise ValueError(f"no subset named; give '{ALL}', '{ALL_WITH_EXTRAS}' or config names such as 'background_20'")
    return [s for s in _SUBSETS.values() if s.name in wanted]


def subsets_of(attribute: AttributePlugin | str) -> list[Subset]:
    """The subsets an attribute declares (not the sweep levels it gained), in canonical order."""
    attr = get_attribute(attribute)
    declared = {s.name for s in attr.subsets()}
    return [s for s in _SUBSETS.values() if s.name in declared]


def recognise(names: Iterable[object]) -> list[str]:
    """Let the registry know every config in ``names`` (a sweep level joins as an extra, so views such
    as :data:`ALL_SUBSETS` and the results schema include it); return the names no attribute knows."""
    unknown = []
    for name in names:
        try:
            resolve(name)  # type: ignore[arg-type]
        except ValueError:
            unknown.append(str(name))
    return unknown


def _is_declared(sub: Subset) -> bool:
    return any(s.name == sub.name for s in sub.attribute.subsets())


def _from_config_name(name: str, *, register: bool = True) -> Subset | None:
    """A config no module declares but whose name is an attribute's ``<name>_<level>`` (a sweep level):
    the attribute parses the level, the subset joins the registry as an extra."""
    for plugin in sorted(_ATTRIBUTES.values(), key=lambda a: -len(a.name)):
        prefix = f"{plugin.name}_"
        if not name.startswith(prefix):
            continue
        try:
            spec = plugin.spec_from_level(name[len(prefix):])
        except ValueError:
            spec = None
        if spec is not None and spec.config_name() == name:
            return register_subset(spec) if register else plugin.subset(spec, "")
    return None


def register_subset(spec: EditSpec) -> Subset:
    """The subset of ``spec``, added to the registry as an extra if no attribute declares it."""
    name = spec.config_name()
    if name in _SUBSETS:
        return _SUBSETS[name]
    plugin = get_attribute(spec.attribute)
    sub = plugin.subset(spec, f"{plugin.name} at level {spec.level()} (severity sweep).")
    _SUBSETS[name] = sub
    _reorder()
    return sub


def subset_for_spec(spec: EditSpec) -> Subset:
    """The subset of a spec: the declared one, or a new extra named by the spec (sweep levels)."""
    return register_subset(spec)


for _builtin in BUILTIN_ATTRIBUTES:
    register_attribute(_builtin)
# Last: an entry-point plug-in imports this module's names while it registers.
load_entry_points()
