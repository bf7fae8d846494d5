"""The results-file contract between the evaluation runner, ``imagenet-e submit`` and the leaderboard.

One results file = one (model, dataset revision) run, derived from the per-image predictions
file it names (``predictions``: file name, sha256, rows). The JSON schema is built from the subset
registry so the set of valid subset names is never spelled out twice. :func:`validate_results`
is the gate every consumer uses: it applies the schema and the checks JSON Schema cannot express
(no NaN/inf; no NUL, control or bidi-override characters in any text; ``created_at`` an RFC 3339
date-time; per-subset keys match ``dataset.configs``; counts add up to the predictions' rows;
``mean_drop`` and ``attribute_drop`` (and their control counterparts) are the means of the drops
as the metric defines them). Internal consistency is necessary, not sufficient: the leaderboard also
recomputes every number from the predictions (:mod:`imagenet_e.leaderboard.verify`).
"""

from __future__ import annotations

import datetime as _dt
import enum
import functools
import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from imagenet_e_dataset.registry import ALL_SUBSETS, edited_attributes

SCHEMA_VERSION = 2
SUMMARY_TOLERANCE = 1e-6


class Protocol(str, enum.Enum):
    """Over which classes the top-1 prediction is taken (results of different protocols are never ranked together)."""

    ALL_CLASSES = "all-classes"
    """Argmax over every class the model has (mapped to ImageNet-1k): the paper's protocol."""
    DATASET_CLASSES = "dataset-classes"
    """Argmax only over the classes that occur in the dataset's labels (``--restrict-to-dataset-classes``)."""


# RFC 3339 date-time (section 5.6): full date, "T" (or space, lower-case t), time, Z or offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# Bidirectional overrides / isolates / marks: text that displays differently from what it is.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
_DROP = {"type": "number", "minimum": -1, "maximum": 1}


def _per_subset(value_schema: dict, names: tuple[str, ...]) -> dict:
    return {
        "type": "object",
        "propertyNames": {"enum": list(names)},
        "additionalProperties": value_schema,
        "minProperties": 1,
    }


def results_schema(described: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a results file.

    ``described``: ``(config, attribute)`` pairs a file's ``dataset.layout`` adds to the registered ones
    (a plug-in's configs, read where the plug-in is not installed); they join this schema only."""
    attributes = [a.name for a in edited_attributes()]
    attributes += [a for a in dict.fromkeys(a for _, a in described) if a not in attributes and a != "original"]
    # Every registered config: the twelve, extras, plug-ins and sweep levels the process knows.
    CONFIG_NAMES = list(ALL_SUBSETS)
    EDITED_CONFIG_NAMES = [s.name for s in ALL_SUBSETS.values() if s.is_edited]
    added = [(c, a) for c, a in described if c not in ALL_SUBSETS]
    CONFIG_NAMES += [c for c, _ in added]
    EDITED_CONFIG_NAMES += [c for c, a in added if a != "original"]
    attribute_drops = {"type": "object", "propertyNames": {"enum": attributes}, "additionalProperties": _DROP}
    interval = {"type": "array", "items": _DROP, "minItems": 2, "maxItems": 2}
    p_value = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ImageNet-E results file",
        "type": "object",
        "required": ["schema_version", "model", "dataset", "preprocessing", "protocol", "metrics", "counts",
                     "environment", "created_at", "predictions"],
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
                    "configs": {"type": "array", "items": {"enum": list(CONFIG_NAMES)}, "minItems": 2,
                                "uniqueItems": True},
                    # The classes the labels and predictions are (LabelSpace.describe()); absent: ImageNet-1k.
                    "label_space": {
                        "type": "object",
                        "required": ["name", "num_classes", "sha256"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 500},
                            "num_classes": {"type": "integer", "minimum": 1},
                            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        },
                    },
                },
            },
            "preprocessing": {
                "type": "object",
                "required": ["description"],
                "properties": {"description": {"type": "string", "maxLength": 2000}},
            },
            "protocol": {"enum": [p.value for p in Protocol]},
            "predictions": {
                "type": "object",
                "required": ["file", "sha256", "rows", "skipped"],
                "additionalProperties": False,
                "properties": {
                    # a bare file name beside the results file: never a path that could point elsewhere
                    "file": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*\.parquet$", "maxLength": 200},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "rows": {"type": "integer", "minimum": 1},
                    "skipped": {"type": "integer", "minimum": 0},
                },
            },
            "metrics": {
                "type": "object",
                "required": ["accuracy", "accuracy_drop", "attribute_drop", "mean_drop", "flip_rate", "ci95"],
                "properties": {
                    "accuracy": _per_subset(_FRACTION, CONFIG_NAMES),
                    "accuracy_drop": _per_subset(_DROP, EDITED_CONFIG_NAMES),
                    "attribute_drop": {
                        "type": "object",
                        "propertyNames": {"enum": attributes},
                        "additionalProperties": _DROP,
                        "minProperties": 1,
                    },
                    "mean_drop": _DROP,
                    "flip_rate": _per_subset(_FRACTION, EDITED_CONFIG_NAMES),
                    "ci95": _per_subset(interval, EDITED_CONFIG_NAMES),
                    "mcnemar_p": {**_per_subset(p_value, EDITED_CONFIG_NAMES), "minProperties": 0},
                    "top5_accuracy": _per_subset(_FRACTION, CONFIG_NAMES),
                    "control_subset": {"enum": list(EDITED_CONFIG_NAMES)},
                    "control_drop": _per_subset(_DROP, EDITED_CONFIG_NAMES),
                    "control_attribute_drop": {**attribute_drops, "minProperties": 1},
                    "control_mean_drop": _DROP,
                    "control_ci95": {**_per_subset(interval, EDITED_CONFIG_NAMES), "minProperties": 0},
                    "control_mcnemar_p": {**_per_subset(p_value, EDITED_CONFIG_NAMES), "minProperties": 0},
                },
                "dependentRequired": {
                    "control_subset": ["control_drop", "control_attribute_drop", "control_mean_drop",
                                       "control_ci95", "control_mcnemar_p"],
                    "control_drop": ["control_subset"],
                },
            },
            "counts": _per_subset({"type": "integer", "minimum": 1}, CONFIG_NAMES),
            "environment": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
            "created_at": {"type": "string", "format": "date-time", "maxLength": 40},
        },
    }


def _recognise_levels(doc: dict[str, Any]) -> None:
    """Let the registry recognise sweep levels the file names (``size_0.02``), so the schema built
    from the registry accepts them; a name that is no attribute's level stays unknown (and is refused)."""
    from imagenet_e_dataset.registry import recognise

    dataset = doc.get("dataset")
    configs = dataset.get("configs") if isinstance(dataset, dict) else None
    recognise(name for name in (configs if isinstance(configs, list) else ()) if isinstance(name, str))


def _described(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``(config, attribute)`` of each of the file's configs its ``dataset.layout`` describes (the
    dataset's own description, copied by the runner): how a plug-in's config validates without it."""
    dataset = doc.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("layout"), list):
        return ()
    configs = dataset.get("configs") if isinstance(dataset.get("configs"), list) else []
    pairs = {(e["name"], e["attribute"]) for e in dataset["layout"] if isinstance(e, dict)
             and isinstance(e.get("name"), str) and isinstance(e.get("attribute"), str) and e["name"] in configs}
    return tuple(sorted(pairs))


def _validator(doc: dict[str, Any]):
    from imagenet_e_dataset.registry import ALL_SUBSETS

    # The schema lists the registered configs: rebuild it when a plug-in or sweep level joins.
    return _validator_for(tuple(ALL_SUBSETS), _described(doc))


@functools.lru_cache(maxsize=64)  # described configs come from files: bounded, never a growing registry
def _validator_for(config_names: tuple[str, ...], described: tuple[tuple[str, str], ...] = ()):
    import jsonschema

    return jsonschema.Draft202012Validator(results_schema(described))


def _walk_text(value: Any, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.<key>", str(key)
            yield from _walk_text(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_text(item, f"{path}[{i}]")


_ID_FIELDS = (("model", "id"), ("model", "revision"), ("model", "loader"), ("dataset", "id"), ("dataset", "revision"))


def check_text(value: str, where: str, *, identifier: bool = False) -> None:
    """Refuse NUL, other control characters and bidirectional controls: they hide or reorder what a
    reader of the leaderboard sees. Free text may hold tabs and newlines; an identifier
    (``identifier=True``) holds neither, nor any invisible format character."""
    for ch in value:
        category = unicodedata.category(ch)
        if ch in _BIDI or (category == "Cc" and (identifier or ch not in "\t\n")) or (identifier and category == "Cf"):
            raise ValueError(f"{where} contains the control character U+{ord(ch):04X}; ids and text must be plain")


def check_rfc3339(value: Any, where: str) -> _dt.datetime:
    """Parse an RFC 3339 date-time (``2026-11-28T12:00:00Z``) or raise naming ``where``."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(f"{where} is {value!r}, not an RFC 3339 date-time such as 2026-11-28T12:00:00Z")
    try:
        return _dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError:
        raise ValueError(f"{where} is {value!r}, not a valid date-time (month, day or hour out of range)") from None


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
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: a results file must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema_version") == 1:
        raise ValueError(f"{source}: schema version 1 results carry no per-image predictions; re-run "
                         "`imagenet-e evaluate` to get results.json with its predictions.parquet")
    for path, text in _walk_text(doc, "$"):
        check_text(text, f"{source}: {path}")
    for section, key in _ID_FIELDS:
        value = doc.get(section, {}).get(key) if isinstance(doc.get(section), dict) else None
        if isinstance(value, str):
            check_text(value, f"{source}: $.{section}.{key}", identifier=True)
    for path, number in _walk_numbers(doc, "$"):
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{source}: {path} is {number}, numbers must be finite")
    _recognise_levels(doc)
    errors = sorted(_validator(doc).iter_errors(doc), key=lambda e: list(e.absolute_path))
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
    predictions = doc["predictions"]
    scored = sum(doc["counts"].values())
    if scored + predictions["skipped"] != predictions["rows"]:
        raise ValueError(f"{source}: counts add up to {scored} scored rows and predictions.skipped is "
                         f"{predictions['skipped']}, but predictions.rows is {predictions['rows']}")
    check_rfc3339(doc["created_at"], f"{source}: $.created_at")
    _check_summaries(metrics, configs, source, dict(_described(doc)))
    return doc


def _check_means(metrics: dict[str, Any], prefix: str, edited: set[str], source: str,
                 attribute_of: dict[str, str]) -> None:
    drop_key = "control_drop" if prefix else "accuracy_drop"
    drops = metrics[drop_key]
    # Against the control, a subset sharing no source image with it is left out; never one that is not edited.
    if set(drops) != edited if not prefix else not set(drops) <= edited:
        raise ValueError(f"{source}: metrics.{drop_key} covers {sorted(drops)} but the edited configs are {sorted(edited)}")
    for key in (f"{prefix}ci95", f"{prefix}mcnemar_p", "flip_rate" if not prefix else None):
        if key and metrics.get(key) and set(metrics[key]) != set(drops):
            raise ValueError(f"{source}: metrics.{key} covers {sorted(metrics[key])} but metrics.{drop_key} covers "
                             f"{sorted(drops)}")
    mean = sum(drops.values()) / len(drops)
    if abs(metrics[f"{prefix}mean_drop"] - mean) > SUMMARY_TOLERANCE:
        raise ValueError(f"{source}: metrics.{prefix}mean_drop is {metrics[f'{prefix}mean_drop']} but the mean of "
                         f"metrics.{drop_key} is {mean}")
    grouped: dict[str, list[float]] = {}
    for name, value in drops.items():
        grouped.setdefault(attribute_of[name], []).append(value)
    expected = {attribute: sum(mine) / len(mine) for attribute, mine in grouped.items()}
    given = metrics[f"{prefix}attribute_drop"]
    if set(given) != set(expected):
        raise ValueError(f"{source}: metrics.{prefix}attribute_drop covers {sorted(given)} but the drops present are "
                         f"of {sorted(expected)}")
    for attribute, value in expected.items():
        if abs(given[attribute] - value) > SUMMARY_TOLERANCE:
            raise ValueError(f"{source}: metrics.{prefix}attribute_drop.{attribute} is {given[attribute]} but the mean "
                             f"of its subsets' drops is {value}")


def _check_summaries(metrics: dict[str, Any], configs: set[str], source: str, described: dict[str, str]) -> None:
    # A registered config's attribute is the registry's; one it lacks (a plug-in's), its layout's.
    attribute_of = {n: ALL_SUBSETS[n].attribute.name if n in ALL_SUBSETS else described[n] for n in configs}
    edited = {n for n in configs if (ALL_SUBSETS[n].is_edited if n in ALL_SUBSETS else attribute_of[n] != "original")}
    _check_means(metrics, "", edited, source, attribute_of)
    control = metrics.get("control_subset")
    if control is not None:
        if control not in configs:
            raise ValueError(f"{source}: metrics.control_subset {control!r} is not among dataset.configs")
        _check_means(metrics, "control_", edited - {control}, source, attribute_of)


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
