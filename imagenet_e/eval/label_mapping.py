"""Map a classifier's output classes to ImageNet-1k indices, explicitly (by ``id2label`` names or wnids).

A model's outputs are only comparable on ImageNet-E once every output is known to be one
ImageNet-1k class. :func:`map_labels` matches ``id2label`` names against the project's label
space (full synset strings, unique class names, WordNet ids, single lemmas) and refuses, with the
offending labels named, anything it cannot place. Models with fewer than 1000 classes are fine as
long as each class is an ImageNet class: their argmax simply ranges over the classes they have.

Duplicates: the full synset strings repeat ``"crane"`` (134 bird, 517 machine) and short-name
lists repeat ``"crane"``, ``"maillot"`` and ``"cardigan"``. A name cannot tell such classes apart,
only the order of the outputs can, so a duplicate is resolved only where that order is evidence:

1. the model is in ImageNet-1k's canonical order (possibly a subset of it): assigning the
   duplicates by occurrence makes every output's class strictly increasing; or
2. the outputs around one (up to three unambiguous neighbours each side, at least two in all)
   are increasing with exactly one of its candidate classes in between; or
3. every other output of that name is placed, and one candidate class is left (elimination).

Otherwise the mapping is refused, naming the labels and outputs, unless the user gives those
outputs' classes explicitly (``overrides``, ``--label-map FILE.json``). A permuted model whose
"crane" outputs sit among unrelated classes is therefore refused instead of being silently
swapped. No ImageNet class is ever given to two outputs.
"""

from __future__ import annotations

import enum
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from imagenet_e_dataset.labels import NUM_CLASSES, class_names, synonyms, wnids

_GENERIC_LABEL = re.compile(r"label_[0-9]+")  # ASCII digits, used with fullmatch


class MappingMethod(str, enum.Enum):
    """How a model's classes were placed in the dataset's label space (recorded in the results file)."""

    IDENTITY = "identity"
    """1000 outputs whose names are ImageNet-1k's, in ImageNet order."""
    BY_NAME = "id2label-names"
    """Outputs matched one by one through their ``id2label`` names / wnids."""
    DECLARED = "declared-indices"
    """The loader declared the ImageNet index of every output (``module:function`` models, timm)."""
    ASSUMED_IDENTITY = "identity-declared"
    """The user declared the 1000 outputs to be in ImageNet order (``--label-mapping identity``)."""
    NOT_IMAGENET = "not-imagenet"
    """The outputs could not be placed in ImageNet-1k (the reason is the first note); fine for a
    dataset with its own classes that the outputs' names match, an error on ImageNet-1k."""
    DATASET_CLASSES = "dataset-classes"
    """Outputs linked to a dataset's own classes (:mod:`.dataset_space`): by the model's class
    names, by way of ImageNet-1k, or by the label map; how each class was linked is in the notes."""


@dataclass(frozen=True)
class LabelMapping:
    """Model output ``j`` is class ``indices[j]`` of the target space (ImageNet-1k unless ``num_classes``
    says otherwise); ``-1``: the output is no class of that space and never predicted."""

    indices: tuple[int, ...]
    method: MappingMethod
    notes: tuple[str, ...] = ()
    """Human-readable remarks (duplicates resolved, …), recorded in the results file."""
    num_classes: int = NUM_CLASSES
    """Size of the target label space (1000: ImageNet-1k)."""

    def __post_init__(self) -> None:
        if not self.indices:
            raise ValueError("a label mapping needs at least one class")
        to_dataset = self.method is MappingMethod.DATASET_CLASSES
        space = f"the {self.num_classes} dataset classes" if to_dataset else "ImageNet-1k"
        if not to_dataset and self.num_classes != NUM_CLASSES:
            raise ValueError(f"a mapping to ImageNet-1k has {NUM_CLASSES} classes, not {self.num_classes}")
        # -1 (no class) only where outputs may legitimately fall outside the target space.
        low = -1 if to_dataset or self.method is MappingMethod.NOT_IMAGENET else 0
        bad = [i for i in self.indices if not low <= int(i) < self.num_classes]
        if bad:
            raise ValueError(f"label mapping has indices outside {low}..{self.num_classes - 1} ({space}): {bad[:5]}")
        placed = [i for i in self.indices if i >= 0]
        if len(set(placed)) != len(placed):
            seen: dict[int, int] = {}
            for j, i in enumerate(self.indices):
                if i in seen:
                    name = "" if to_dataset else f" ({class_names()[i]!r})"
                    what = "dataset class" if to_dataset else "ImageNet class"
                    raise ValueError(f"model outputs {seen[i]} and {j} both map to {what} {i}{name}; "
                                     "a class may appear only once")
                if i >= 0:
                    seen[i] = j

    @property
    def num_outputs(self) -> int:
        return len(self.indices)

    @property
    def num_placed(self) -> int:
        """Outputs that are a class of the target space (the others never win the argmax)."""
        return sum(1 for i in self.indices if i >= 0)

    @property
    def is_identity(self) -> bool:
        return self.method is not MappingMethod.DATASET_CLASSES and self.indices == tuple(range(NUM_CLASSES))

    def as_array(self) -> np.ndarray:
        return np.asarray(self.indices, dtype=np.int64)

    def output_mask(self, allowed_imagenet: Sequence[int] | np.ndarray | None) -> np.ndarray | None:
        """Boolean mask over model outputs that may win the argmax (None = all of them).

        ``allowed_imagenet``: the target classes allowed (None: every class); outputs placed in no
        class (``-1``) are always masked. Raises when nothing is left: every prediction would be undefined.
        """
        indices = self.as_array()
        if allowed_imagenet is None:
            if (indices >= 0).all():
                return None
            allowed = np.ones(self.num_classes, dtype=bool)
        else:
            allowed = np.zeros(self.num_classes, dtype=bool)
            allowed[np.asarray(list(allowed_imagenet), dtype=np.int64)] = True
        mask = (indices >= 0) & allowed[np.maximum(indices, 0)]
        if not mask.any():
            raise ValueError("restricting predictions to the dataset's classes leaves none of the model's classes")
        return mask


def not_imagenet(num_outputs: int, reason: str) -> LabelMapping:
    """A model whose outputs are no ImageNet-1k classes (``reason``: why); usable on a dataset with its own classes."""
    return LabelMapping((-1,) * num_outputs, MappingMethod.NOT_IMAGENET, (reason,))


def identity_mapping(method: MappingMethod = MappingMethod.IDENTITY) -> LabelMapping:
    return LabelMapping(tuple(range(NUM_CLASSES)), method)


def _exact(text: str) -> str:
    return " ".join(str(text).split())


def _normalise(text: str) -> str:
    return " ".join(str(text).replace("_", " ").lower().split())


@cache
def _lookup_tables() -> tuple[dict[str, tuple[int, ...]], ...]:
    """Name -> candidate ImageNet indices, one table per matching rule, in priority order.

    Exact spellings come first: the unique class names differ only by case in places
    ("Cardigan" the corgi, "cardigan" the sweater), so case-folding is only a fallback.
    """

    def table(pairs) -> dict[str, tuple[int, ...]]:
        out: dict[str, list[int]] = defaultdict(list)
        for index, key in pairs:
            if index not in out[key]:
                out[key].append(index)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def rules(key):
        return (
            table((i, key(s)) for i, s in enumerate(synonyms())),
            table((i, key(n)) for i, n in enumerate(class_names())),
            table((i, w.lower()) for i, w in enumerate(wnids())),
            table((i, key(s.split(",")[0])) for i, s in enumerate(synonyms())),
            table((i, key(lemma)) for i, s in enumerate(synonyms()) for lemma in s.split(",")),
        )

    return (*rules(_exact), *rules(_normalise))


def _candidates(label: str, needed: int = 1) -> tuple[int, ...]:
    """ImageNet indices ``label`` may denote: the first rule's hit with at least ``needed`` of them.

    ``needed`` is how often the model repeats the label: a short-name list says "maillot" twice,
    which the full synset strings match once (638) but first lemmas twice (638, 639).
    """
    tables = _lookup_tables()
    half = len(tables) // 2
    first: tuple[int, ...] = ()
    for k, table in enumerate(tables):
        key = (_exact if k < half else _normalise)(label)
        if k % half == 2:  # wnids
            key = key.lower()
        hit = table.get(key, ())
        if len(hit) >= needed:
            return hit
        first = first or hit
    return first


def _ordered_labels(id2label: Mapping[int, str] | Sequence[str]) -> list[str]:
    if isinstance(id2label, Mapping):
        try:
            keyed = {int(k): str(v) for k, v in id2label.items()}
        except (TypeError, ValueError):
            raise ValueError("id2label keys must be integers (model output positions)") from None
        if sorted(keyed) != list(range(len(keyed))):
            raise ValueError(f"id2label keys must be 0..{len(keyed) - 1} without gaps")
        return [keyed[i] for i in range(len(keyed))]
    return [str(v) for v in id2label]


_WINDOW = 3


def _increasing(values: list[int]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def _neighbours(j: int, fixed: dict[int, int], positions: list[int]) -> tuple[list[int], list[int]]:
    """Classes of up to ``_WINDOW`` fixed outputs before and after output ``j``, in output order."""
    import bisect

    at = bisect.bisect_left(positions, j)
    before = [fixed[p] for p in positions[max(0, at - _WINDOW):at]]
    after = [fixed[p] for p in positions[at:at + _WINDOW] if p != j]
    return before, after


def _resolve_duplicates(labels: list[str], candidates: list[tuple[int, ...]], fixed: dict[int, int],
                        model_name: str) -> dict[int, tuple[int, str]]:
    """Classes of the ambiguous outputs (see the module docstring's three rules), or ValueError."""
    ambiguous = [j for j in range(len(labels)) if j not in fixed]
    if not ambiguous:
        return {}
    taken = set(fixed.values())
    # Rule 1: canonical order. Occurrence k of a name takes its k-th free candidate.
    by_occurrence: dict[int, int] = {}
    next_free: dict[tuple[int, ...], list[int]] = {}
    for j in ambiguous:
        free = next_free.setdefault(candidates[j], [c for c in candidates[j] if c not in taken])
        if not free:
            raise ValueError(f"{model_name} names {labels[j]!r} more often than ImageNet-1k has free classes of that "
                             f"name ({list(candidates[j])})")
        by_occurrence[j] = free.pop(0)
    sequence = [fixed.get(j, by_occurrence.get(j)) for j in range(len(labels))]
    if _increasing(sequence):
        return {j: (c, "occurrence (the outputs follow ImageNet-1k's order)") for j, c in by_occurrence.items()}
    # Rule 2: local order around each ambiguous output.
    positions = sorted(fixed)
    chosen: dict[int, tuple[int, str]] = {}
    for j in ambiguous:
        before, after = _neighbours(j, fixed, positions)
        if len(before) + len(after) < 2:
            continue
        fits = [c for c in candidates[j] if c not in taken and _increasing(before + [c] + after)]
        if len(fits) == 1:
            chosen[j] = (fits[0], "the order of the outputs around it")
    claimed = [c for c, _ in chosen.values()]
    chosen = {j: v for j, v in chosen.items() if claimed.count(v[0]) == 1}
    # Rule 3: elimination within each name.
    for options in dict.fromkeys(candidates[j] for j in ambiguous):
        open_outputs = [j for j in ambiguous if candidates[j] == options and j not in chosen]
        left = [c for c in options if c not in taken and c not in {v[0] for v in chosen.values()}]
        if len(open_outputs) == 1 and len(left) == 1:
            chosen[open_outputs[0]] = (left[0], "elimination (the other outputs of that name are placed)")
    unresolved = [j for j in ambiguous if j not in chosen]
    if unresolved:
        shown = ", ".join(f"output {j} {labels[j]!r} (ImageNet {list(candidates[j])})" for j in unresolved[:6])
        raise ValueError(
            f"{model_name}: cannot tell apart classes that share a name: {shown}. Its outputs are not in "
            "ImageNet-1k's order around them, so assigning by occurrence could swap them; give their ImageNet "
            "indices explicitly (--label-map FILE.json with e.g. {\"%d\": %d}, or overrides= in Python)"
            % (unresolved[0], candidates[unresolved[0]][0]))
    return chosen


def load_label_map(path: str) -> dict[int | str, int]:
    """Read ``--label-map``: a JSON object or a list of N ImageNet-1k indices.

    Object keys that are numbers are model outputs, their values ImageNet-1k indices
    (``{"417": 517}``); any other key is a class name or id of a dataset with its own classes, its
    value the model output that predicts it (``{"fox squirrel": 3}``): see :mod:`.dataset_space`.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"label map not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    items = enumerate(data) if isinstance(data, list) else data.items() if isinstance(data, dict) else None
    if items is None:
        raise ValueError(f"{path}: a label map is a JSON object {{output: ImageNet index}} or a list of indices")
    out: dict[int | str, int] = {}
    for key, value in items:
        try:
            output = int(key)
        except (TypeError, ValueError):
            # A dataset class name or id: its value is the model output predicting it.
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"{path}: key {key!r} is neither a model output number nor a class name") from None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{path}: dataset class {key!r} maps to {value!r}, not a model output number") from None
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < NUM_CLASSES:
            raise ValueError(f"{path}: output {output} maps to {value!r}, not an ImageNet-1k index 0..{NUM_CLASSES - 1}")
        out[output] = value
    return out


def split_label_map(label_map: Mapping[int | str, int] | None) -> tuple[dict[int, int], dict[str, int]]:
    """(``{output: ImageNet index}``, ``{dataset class: output}``) from a label map's two kinds of entry."""
    imagenet = {k: v for k, v in (label_map or {}).items() if not isinstance(k, str)}
    classes = {k: v for k, v in (label_map or {}).items() if isinstance(k, str)}
    return imagenet, classes


def _checked_overrides(overrides: Mapping[int, int] | None, num_outputs: int, model_name: str) -> dict[int, int]:
    out = {int(k): int(v) for k, v in (overrides or {}).items()}
    bad = [k for k in out if not 0 <= k < num_outputs]
    if bad:
        raise ValueError(f"label map names output {bad[0]}, but {model_name} has outputs 0..{num_outputs - 1}")
    return out


def map_labels(id2label: Mapping[int, str] | Sequence[str], *, model_name: str = "model",
               overrides: Mapping[int, int] | None = None) -> LabelMapping:
    """Place each model output in ImageNet-1k by its name (or wnid); refuse what cannot be placed.

    ``overrides`` {output: ImageNet index} fixes outputs explicitly (names are then not consulted
    for them): the way to place duplicate names the output order cannot settle.

    >>> from imagenet_e_dataset.labels import synonyms
    >>> map_labels(dict(enumerate(synonyms()))).method.value
    'identity'
    >>> m = map_labels({0: "n01440764", 1: "crane", 2: "Egyptian cat", 3: "crane"})  # canonical order
    >>> m.indices, m.method.value
    ((0, 134, 285, 517), 'id2label-names')
    >>> map_labels({0: "Egyptian cat", 1: "crane", 2: "n01440764", 3: "crane"})  # permuted: refused
    Traceback (most recent call last):
    ...
    ValueError: model: cannot tell apart classes that share a name: output 1 'crane' (ImageNet [134, 517]), ...
    >>> map_labels({0: "Egyptian cat", 1: "crane", 2: "n01440764", 3: "crane"}, overrides={1: 517, 3: 134}).indices
    (285, 517, 0, 134)
    >>> map_labels({0: "tench", 1: "spaceship"})
    Traceback (most recent call last):
    ...
    ValueError: cannot map 1 of model's 2 classes to ImageNet-1k, e.g. output 1 'spaceship'; ...
    """
    labels = _ordered_labels(id2label)
    if not labels:
        raise ValueError(f"{model_name} declares no classes (empty id2label)")
    forced = _checked_overrides(overrides, len(labels), model_name)
    if len(labels) == NUM_CLASSES and not forced and all(
            _GENERIC_LABEL.fullmatch(_normalise(x).replace(" ", "_")) for x in labels):
        raise ValueError(
            f"{model_name} has 1000 unnamed classes (LABEL_0 … LABEL_999), so its label order cannot be "
            "checked; if its outputs are in ImageNet-1k order, say so with --label-mapping identity"
        )
    # Exact spellings count: "Cardigan" (the corgi) and "cardigan" (the sweater) are two names.
    repeats = Counter(_exact(label) for label in labels)
    candidates = [(forced[j],) if j in forced else _candidates(label, repeats[_exact(label)])
                  for j, label in enumerate(labels)]
    unmatched = [(j, label) for j, (label, c) in enumerate(zip(labels, candidates)) if not c]
    if unmatched:
        examples = ", ".join(f"output {j} {label!r}" for j, label in unmatched[:5])
        raise ValueError(
            f"cannot map {len(unmatched)} of {model_name}'s {len(labels)} classes to ImageNet-1k, e.g. {examples}; "
            "labels must be ImageNet-1k synset strings, class names or WordNet ids "
            "(see imagenet_e_dataset.labels), or placed with an explicit label map"
        )
    fixed = {j: options[0] for j, options in enumerate(candidates) if len(options) == 1}
    duplicates = _resolve_duplicates(labels, candidates, fixed, model_name)
    indices = [fixed[j] if j in fixed else duplicates[j][0] for j in range(len(labels))]
    notes = [f"ambiguous label {labels[j]!r} (output {j}) -> ImageNet class {c} by {how}"
             for j, (c, how) in sorted(duplicates.items())]
    notes += [f"output {j} ({labels[j]!r}) -> ImageNet class {c} by the explicit label map"
              for j, c in sorted(forced.items())]
    if indices == list(range(NUM_CLASSES)) and not forced:
        return identity_mapping()  # duplicate names in canonical order are then nothing to report
    return LabelMapping(tuple(indices), MappingMethod.BY_NAME, tuple(notes))


def apply_overrides(mapping: LabelMapping, overrides: Mapping[int, int] | None, *, model_name: str = "model") -> LabelMapping:
    """``mapping`` with the outputs named in ``overrides`` moved to the given ImageNet classes."""
    forced = _checked_overrides(overrides, mapping.num_outputs, model_name)
    if not forced:
        return mapping
    indices = list(mapping.indices)
    for j, c in forced.items():
        indices[j] = c
    notes = mapping.notes + tuple(f"output {j} -> ImageNet class {c} by the explicit label map" for j, c in sorted(forced.items()))
    return LabelMapping(tuple(indices), mapping.method, notes)


def declared_classes(declared: Any) -> Any:
    """A dataset-side :class:`~imagenet_e_dataset.label_space.LabelSpace` as a loader declaration:
    ``"imagenet"`` for the ImageNet-1k space, else its class names (in output order); anything else as it is."""
    from imagenet_e_dataset.label_space import LabelSpace

    if isinstance(declared, LabelSpace):
        return "imagenet" if declared.is_imagenet else declared.names
    return declared


def mapping_from_declaration(
    declared: LabelMapping | Sequence[int] | Sequence[str] | Mapping[int, str] | str | None,
    num_outputs: int,
    *,
    model_name: str = "model",
    overrides: Mapping[int, int] | None = None,
) -> LabelMapping:
    """Turn what a ``module:function`` loader returns as its label space into a :class:`LabelMapping`.

    Accepted: a :class:`LabelMapping`; ``None`` or ``"imagenet"`` (1000 outputs in ImageNet order);
    a sequence of ImageNet indices; a sequence of names / wnids or an ``id2label`` mapping; a
    :class:`~imagenet_e_dataset.label_space.LabelSpace` (:func:`declared_classes`).
    """
    declared = declared_classes(declared)
    if not isinstance(declared, (LabelMapping, str, Mapping, Sequence)) and declared is not None:
        raise ValueError(f"{model_name}: the label space it declares is a {type(declared).__name__}; give "
                         "'imagenet', a list of ImageNet indices, a list of class names or wnids, an id2label "
                         "mapping, a LabelMapping or a LabelSpace")
    if isinstance(declared, LabelMapping):
        mapping = declared
    elif declared is None or (isinstance(declared, str) and declared.lower() in {"imagenet", "imagenet-1k", "identity"}):
        mapping = identity_mapping(MappingMethod.DECLARED)
    elif isinstance(declared, str):
        raise ValueError(f"{model_name}: unknown label space {declared!r}; use 'imagenet', indices or names")
    elif isinstance(declared, Mapping) or all(isinstance(x, str) for x in declared):
        mapping = map_labels(declared, model_name=model_name, overrides=overrides)
        overrides = None
    else:
        try:
            indices = tuple(int(x) for x in declared)
        except (TypeError, ValueError):
            raise ValueError(f"{model_name}: label space must be ImageNet indices or names, got {declared!r:.80}") from None
        mapping = LabelMapping(indices, MappingMethod.DECLARED)
    if mapping.num_outputs != num_outputs:
        raise ValueError(
            f"{model_name} has {num_outputs} outputs but its label space names {mapping.num_outputs} classes"
        )
    return apply_overrides(mapping, overrides, model_name=model_name)
