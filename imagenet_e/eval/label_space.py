"""Map a classifier's output classes to ImageNet-1k indices, explicitly (SPEC §5).

A model's outputs are only comparable on ImageNet-E once every output is known to be one
ImageNet-1k class. :func:`map_labels` matches ``id2label`` names against the project's label
space (full synset strings, unique class names, WordNet ids, single lemmas) and refuses, with the
offending labels named, anything it cannot place. Models with fewer than 1000 classes are fine as
long as each class is an ImageNet class: their argmax simply ranges over the classes they have.

Duplicates: the full synset strings repeat ``"crane"`` (134 bird, 517 machine) and short-name
lists repeat ``"crane"``, ``"maillot"`` and ``"cardigan"``. Such a name is resolved by position:
for a 1000-output model whose output ``j`` carries an ambiguous name, ``j`` itself is taken when it
is one of the candidates and no other output claims it (the model is in ImageNet order);
otherwise the occurrences of the name, in the model's label order, take the candidates not yet
claimed in ImageNet order, which is how every published ImageNet label list orders them. No
ImageNet class is ever given to two outputs.
"""

from __future__ import annotations

import enum
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from imagenet_e_dataset.labels import NUM_CLASSES, class_names, synonyms, wnids

_GENERIC_LABEL = re.compile(r"label_[0-9]+")  # ASCII digits, used with fullmatch


class MappingMethod(str, enum.Enum):
    """How a model's classes were placed in ImageNet-1k (recorded in the results file)."""

    IDENTITY = "identity"
    """1000 outputs whose names are ImageNet-1k's, in ImageNet order."""
    BY_NAME = "id2label-names"
    """Outputs matched one by one through their ``id2label`` names / wnids."""
    DECLARED = "declared-indices"
    """The loader declared the ImageNet index of every output (``module:function`` models, timm)."""
    ASSUMED_IDENTITY = "identity-declared"
    """The user declared the 1000 outputs to be in ImageNet order (``--label-mapping identity``)."""


@dataclass(frozen=True)
class LabelMapping:
    """Model output ``j`` is ImageNet-1k class ``indices[j]``."""

    indices: tuple[int, ...]
    method: MappingMethod
    notes: tuple[str, ...] = ()
    """Human-readable remarks (duplicates resolved, …), recorded in the results file."""

    def __post_init__(self) -> None:
        if not self.indices:
            raise ValueError("a label mapping needs at least one class")
        bad = [i for i in self.indices if not 0 <= int(i) < NUM_CLASSES]
        if bad:
            raise ValueError(f"label mapping has indices outside 0..{NUM_CLASSES - 1}: {bad[:5]}")
        if len(set(self.indices)) != len(self.indices):
            seen: dict[int, int] = {}
            for j, i in enumerate(self.indices):
                if i in seen:
                    raise ValueError(
                        f"model outputs {seen[i]} and {j} both map to ImageNet class {i} "
                        f"({class_names()[i]!r}); a class may appear only once"
                    )
                seen[i] = j

    @property
    def num_outputs(self) -> int:
        return len(self.indices)

    @property
    def is_identity(self) -> bool:
        return self.indices == tuple(range(NUM_CLASSES))

    def as_array(self) -> np.ndarray:
        return np.asarray(self.indices, dtype=np.int64)

    def output_mask(self, allowed_imagenet: Sequence[int] | np.ndarray | None) -> np.ndarray | None:
        """Boolean mask over model outputs that may win the argmax (None = all of them).

        Raises when the restriction leaves no output at all: every prediction would be undefined.
        """
        if allowed_imagenet is None:
            return None
        allowed = np.zeros(NUM_CLASSES, dtype=bool)
        allowed[np.asarray(list(allowed_imagenet), dtype=np.int64)] = True
        mask = allowed[self.as_array()]
        if not mask.any():
            raise ValueError("restricting predictions to the dataset's classes leaves none of the model's classes")
        return mask


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


def map_labels(id2label: Mapping[int, str] | Sequence[str], *, model_name: str = "model") -> LabelMapping:
    """Place each model output in ImageNet-1k by its name (or wnid); refuse what cannot be placed.

    >>> from imagenet_e_dataset.labels import synonyms
    >>> map_labels(dict(enumerate(synonyms()))).method.value
    'identity'
    >>> m = map_labels({0: "Egyptian cat", 1: "n01440764", 2: "crane", 3: "crane"})
    >>> m.indices, m.method.value
    ((285, 0, 134, 517), 'id2label-names')
    >>> map_labels({0: "tench", 1: "spaceship"})
    Traceback (most recent call last):
    ...
    ValueError: cannot map 1 of model's 2 classes to ImageNet-1k, e.g. output 1 'spaceship'; ...
    """
    labels = _ordered_labels(id2label)
    if not labels:
        raise ValueError(f"{model_name} declares no classes (empty id2label)")
    if len(labels) == NUM_CLASSES and all(_GENERIC_LABEL.fullmatch(_normalise(x).replace(" ", "_")) for x in labels):
        raise ValueError(
            f"{model_name} has 1000 unnamed classes (LABEL_0 … LABEL_999), so its label order cannot be "
            "checked; if its outputs are in ImageNet-1k order, say so with --label-mapping identity"
        )
    repeats = Counter(_normalise(label) for label in labels)
    candidates = [_candidates(label, repeats[_normalise(label)]) for label in labels]
    unmatched = [(j, label) for j, (label, c) in enumerate(zip(labels, candidates)) if not c]
    if unmatched:
        examples = ", ".join(f"output {j} {label!r}" for j, label in unmatched[:5])
        raise ValueError(
            f"cannot map {len(unmatched)} of {model_name}'s {len(labels)} classes to ImageNet-1k, e.g. {examples}; "
            "labels must be ImageNet-1k synset strings, class names or WordNet ids "
            "(see imagenet_e_dataset.labels)"
        )
    # Two passes, so no class is handed out twice: outputs with one candidate first, then a
    # 1000-output model's ambiguous outputs that sit on one of their candidates' positions, then
    # the remaining ambiguous outputs, each taking the lowest candidate still free. A shuffled
    # id2label can put "crane" on position 517 and again elsewhere; handing out candidates by
    # occurrence alone would then give 517 twice.
    chosen: dict[int, tuple[int, str]] = {}
    taken: set[int] = set()
    for j, options in enumerate(candidates):
        if len(options) == 1:
            chosen[j] = (options[0], "")
            taken.add(options[0])
    ambiguous = [j for j, options in enumerate(candidates) if len(options) > 1]
    if len(labels) == NUM_CLASSES:
        for j in ambiguous:
            if j in candidates[j] and j not in taken:
                chosen[j] = (j, "its output position")
                taken.add(j)
    occurrence: dict[tuple[int, ...], int] = defaultdict(int)
    for j in ambiguous:
        options = candidates[j]
        occurrence[options] += 1
        if j in chosen:
            continue
        free = [c for c in options if c not in taken]
        if not free:
            raise ValueError(
                f"{model_name} names {labels[j]!r} more often than ImageNet-1k has classes of that name ({list(options)})"
            )
        chosen[j] = (free[0], f"occurrence {occurrence[options]} of the name")
        taken.add(free[0])
    indices = [chosen[j][0] for j in range(len(labels))]
    notes = [f"ambiguous label {labels[j]!r} (output {j}) -> ImageNet class {chosen[j][0]} by {chosen[j][1]}"
             for j in ambiguous]
    if indices == list(range(NUM_CLASSES)):
        return identity_mapping()  # duplicate names resolved by position are then nothing to report
    return LabelMapping(tuple(indices), MappingMethod.BY_NAME, tuple(notes))


def mapping_from_declaration(
    declared: LabelMapping | Sequence[int] | Sequence[str] | Mapping[int, str] | str | None,
    num_outputs: int,
    *,
    model_name: str = "model",
) -> LabelMapping:
    """Turn what a ``module:function`` loader returns as its label space into a :class:`LabelMapping`.

    Accepted: a :class:`LabelMapping`; ``None`` or ``"imagenet"`` (1000 outputs in ImageNet order);
    a sequence of ImageNet indices; a sequence of names / wnids or an ``id2label`` mapping.
    """
    if isinstance(declared, LabelMapping):
        mapping = declared
    elif declared is None or (isinstance(declared, str) and declared.lower() in {"imagenet", "imagenet-1k", "identity"}):
        mapping = identity_mapping(MappingMethod.DECLARED)
    elif isinstance(declared, str):
        raise ValueError(f"{model_name}: unknown label space {declared!r}; use 'imagenet', indices or names")
    elif isinstance(declared, Mapping) or all(isinstance(x, str) for x in declared):
        mapping = map_labels(declared, model_name=model_name)
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
    return mapping
