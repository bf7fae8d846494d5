"""Plain-JSON copies of parameter records (edit parameters, settings, preprocessing details).

Records the project writes (``edits.json``, a generation run's fingerprint and manifest, an
evaluation's results file) hold numpy scalars, enums, paths and tuples; one conversion keeps them
alike everywhere, and deterministic, since the generation fingerprint and manifest are hashed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, enums as their values, paths as strings,
    tuples as lists and mapping keys as strings; anything else JSON cannot hold becomes its ``repr``.

    >>> to_jsonable({"rate": np.float32(0.5), 1: (np.int64(3), None)})
    {'rate': 0.5, '1': [3, None]}
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return repr(value)


def canonical_json(doc: Any) -> str:
    """Compact JSON with sorted keys and ASCII only: the same bytes for the same document, for hashing."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


__all__ = ["canonical_json", "to_jsonable"]
