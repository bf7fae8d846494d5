"""The results-file contract between the evaluation runner, ``imagenet-e submit`` and the leaderboard.

One results file = one (model, dataset revision) run. The JSON schema is built from the subset
registry so the set of valid subset names is never spelled out twice. :func:`validate_results`
is the gate every consumer uses: it applies the schema and the checks JSON Schema cannot express
(no NaN/inf; per-subset keys match ``dataset.configs``; ``mean_drop`` and ``attribute_drop`` are the
means of ``accuracy_drop`` as SPEC §4 defines them, so a hand-edited summary cannot move a model up
the leaderboard).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from imagenet_e_dataset.registry import ALL_SUBSETS, edited_attributes

SCHEMA_VERSION = 1
SUMMARY_TOLERANCE = 1e-6

_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
_DROP = {"type": "number", "minimum": -1, "maximum": 1}


def _per_subset(value_schema: dict, names: tuple[str, ...]) -> dict:
    return {
        "type": "object",
        "propertyNames": {"enum": list(names)},
        "additionalProperties": value_schema,
        "minProperties": 1,
    }


def results_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a results file."""
    attributes = [a.name for a in edited_attributes()]
    config_names = list(ALL_SUBSETS)
    edited_config_names = [s.name for s in ALL_SUBSETS.values() if s.is_edited]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ImageNet-E results file",
        "type": "object",
        "required": ["schema_version", "model", "dataset", "preprocessing", "metrics", "counts",
                     "environment", "created_at"],
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "model": {
                "type": "object",
                "required": ["id", "loader"],
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 200},
                    "revision": {"type": ["string", "null"], "maxLength": 100},
                    "loader": {"type": "string", "minLength": 1, "maxLength": 50},
                    "label_mapping": {"type": "string", "maxLength": 50},
                    "num_parameters": {"type": ["integer", "null"], "minimum": 0},
                    "link": {"type": ["string", "null"], "maxLength": 500},
                },
            },
            "dataset": {
                "type": "object",
                "required": ["id", "configs"],
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 500},
                    "revision": {"type": ["string", "null"], "maxLength": 100},
                    "protocol": {"type": ["string", "null"], "maxLength": 500},
                    "configs": {"type": "array", "items": {"enum": config_names}, "minItems": 2,
                                "uniqueItems": True},
                },
            },
            "preprocessing": {
                "type": "object",
                "required": ["description"],
                "properties": {"description": {"type": "string", "maxLength": 2000}},
            },
            "metrics": {
                "type": "object",
                "required": ["accuracy", "accuracy_drop", "attribute_drop", "mean_drop", "flip_rate", "ci95"],
                "properties": {
                    "accuracy": _per_subset(_FRACTION, config_names),
                    "accuracy_drop": _per_subset(_DROP, edited_config_names),
                    "attribute_drop": {
                        "type": "object",
                        "propertyNames": {"enum": attributes},
                        "additionalProperties": _DROP,
                        "minProperties": 1,
                    },
                    "mean_drop": _DROP,
                    "flip_rate": _per_subset(_FRACTION, edited_config_names),
                    "ci95": _per_subset(
                        {"type": "array", "items": _DROP, "minItems": 2, "maxItems": 2}, edited_config_names
                    ),
                    "top5_accuracy": _per_subset(_FRACTION, config_names),
                },
            },
            "counts": _per_subset({"type": "integer", "minimum": 0}, config_names),
            "environment": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
            "created_at": {"type": "string", "format": "date-time", "maxLength": 40},
        },
    }


def _walk_numbers(value: Any, path: str):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_numbers(item, f"{path}[{i}]")


def validate_results(doc: Any, *, source: str = "results") -> dict[str, Any]:
    """Check a parsed results document; raise ``ValueError`` naming ``source`` and the fault.

    Returns the document unchanged when it is valid.
    """
    import jsonschema

    if not isinstance(doc, dict):
        raise ValueError(f"{source}: a results file must be a JSON object, got {type(doc).__name__}")
    for path, number in _walk_numbers(doc, "$"):
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{source}: {path} is {number}, numbers must be finite")
    validator = jsonschema.Draft202012Validator(results_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise ValueError(f"{source}: {where}: {err.message}")
    metrics = doc["metrics"]
    configs = set(doc["dataset"]["configs"])
    if set(metrics["accuracy"]) != configs:
        raise ValueError(f"{source}: metrics.accuracy covers {sorted(metrics['accuracy'])} "
                         f"but dataset.configs is {sorted(configs)}")
    for low, high in metrics["ci95"].values():
        if low > high:
            raise ValueError(f"{source}: metrics.ci95 has an interval with low {low} > high {high}")
    if set(doc["counts"]) != configs:
        raise ValueError(f"{source}: counts covers {sorted(doc['counts'])} but dataset.configs is {sorted(configs)}")
    _check_summaries(metrics, configs, source)
    return doc


def _check_summaries(metrics: dict[str, Any], configs: set[str], source: str) -> None:
    drops = metrics["accuracy_drop"]
    edited = {name for name in configs if ALL_SUBSETS[name].is_edited}
    if set(drops) != edited:
        raise ValueError(f"{source}: metrics.accuracy_drop covers {sorted(drops)} but the edited configs are {sorted(edited)}")
    mean = sum(drops.values()) / len(drops)
    if abs(metrics["mean_drop"] - mean) > SUMMARY_TOLERANCE:
        raise ValueError(f"{source}: metrics.mean_drop is {metrics['mean_drop']} but the mean of metrics.accuracy_drop is {mean}")
    expected: dict[str, float] = {}
    for attribute in edited_attributes():
        mine = [value for name, value in drops.items() if ALL_SUBSETS[name].attribute is attribute]
        if mine:
            expected[attribute.value] = sum(mine) / len(mine)
    given = metrics["attribute_drop"]
    if set(given) != set(expected):
        raise ValueError(f"{source}: metrics.attribute_drop covers {sorted(given)} but the drops present are of "
                         f"{sorted(expected)}")
    for attribute, value in expected.items():
        if abs(given[attribute] - value) > SUMMARY_TOLERANCE:
            raise ValueError(f"{source}: metrics.attribute_drop.{attribute} is {given[attribute]} but the mean of its "
                             f"subsets' drops is {value}")


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file, naming the file in every error."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text("utf-8"), parse_constant=lambda c: float(c))
    except FileNotFoundError:
        raise FileNotFoundError(f"results file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return validate_results(doc, source=str(path))
