"""Severity sweeps: one config per level of an attribute (``--sweep size=0.02,0.05,0.1``).

A sweep names an attribute and its values, as a list (``0.02,0.05,0.1``) or as
``start:stop:count`` (``-40:40:9`` = nine evenly spaced values). Each value becomes the
attribute's spec for that level (:meth:`~imagenet_e_dataset.attributes.AttributePlugin.sweep_spec`), hence a
config name (``size_0.02``, ``background_-40``, ``direction_15``); a level that coincides with one
of the twelve ImageNet-E configs *is* that config. Sweep specs of the geometric attributes share
one seed key per image, so the rotation sense, the target place and the occluded side are the same
at every level and an image's edit grows monotonically with the severity.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from imagenet_e_dataset.registry import edited_attributes, get_attribute, register_subset

from .attributes import AttributePlugin, EditSpec

_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?"
MAX_LEVELS = 64


@dataclass(frozen=True)
class Sweep:
    """An attribute and the values of its levels (in the order given)."""

    attribute: str
    values: tuple[float, ...]

    def specs(self) -> tuple[EditSpec, ...]:
        plugin = get_attribute(self.attribute)
        return tuple(plugin.sweep_spec(v) for v in self.values)

    def config_names(self) -> tuple[str, ...]:
        return tuple(register_subset(spec).name for spec in self.specs())

    def describe(self) -> str:
        return ", ".join(_text(v) for v in self.values)


def _text(value: float) -> str:
    return f"{value:.10g}"


def _number(text: str, where: str) -> float:
    if not re.fullmatch(_NUMBER, text):
        raise ValueError(f"{where}: {text!r} is not a plain decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not finite")
    return value


def parse_sweep(text: str) -> Sweep:
    """``ATTRIBUTE=V1,V2,...`` or ``ATTRIBUTE=START:STOP:COUNT``, checked against the attribute's range.

    >>> parse_sweep("size=0.05,0.1").config_names()
    ('size_0.05', 'size_0.1')
    >>> parse_sweep("direction=0:90:4").values
    (0.0, 30.0, 60.0, 90.0)
    """
    where = f"--sweep {text}"
    name, sep, levels = text.partition("=")
    name, levels = name.strip(), levels.strip()
    if not sep or not name or not levels:
        raise ValueError(f"{where}: expected ATTRIBUTE=V1,V2,... or ATTRIBUTE=START:STOP:COUNT (e.g. size=0.02,0.05,0.1)")
    try:
        plugin = get_attribute(name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if type(plugin).sweep_spec is AttributePlugin.sweep_spec:
        sweepable = [a.name for a in edited_attributes() if type(a).sweep_spec is not AttributePlugin.sweep_spec]
        raise ValueError(f"{where}: attribute {plugin.name!r} has no severity scale; sweepable: {', '.join(sweepable)}")
    if ":" in levels:
        parts = levels.split(":")
        if len(parts) != 3 or not parts[2].strip().isascii() or not parts[2].strip().isdigit():
            raise ValueError(f"{where}: a range is START:STOP:COUNT with an integer COUNT >= 2 (e.g. -40:40:9)")
        start, stop, count = _number(parts[0].strip(), where), _number(parts[1].strip(), where), int(parts[2])
        if not 2 <= count <= MAX_LEVELS:
            raise ValueError(f"{where}: COUNT must be in 2..{MAX_LEVELS}, got {count}")
        # Rounded to 10 significant digits so 0:1:11 gives 0.1, not 0.1000000000000000055.
        values = tuple(float(_text(start + (stop - start) * k / (count - 1))) for k in range(count))
    else:
        values = tuple(_number(v.strip(), where) for v in levels.split(",") if v.strip())
    if not values or len(values) > MAX_LEVELS:
        raise ValueError(f"{where}: give 1..{MAX_LEVELS} values")
    if len(set(values)) != len(values):
        raise ValueError(f"{where}: a value is repeated")
    for value in values:
        try:
            plugin.sweep_spec(value)
        except ValueError as exc:
            unit = f" (valid: {plugin.sweep_unit})" if plugin.sweep_unit else ""
            raise ValueError(f"{where}: level {_text(value)} is out of range: {exc}{unit}") from None
    return Sweep(plugin.name, values)
