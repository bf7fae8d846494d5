"""Link a model's outputs to the classes of a dataset with its own label space.

An ImageNet-E dataset generated from a user's image folder or Hub dataset has its own classes
(its ``label`` ClassLabel names, :class:`imagenet_e_dataset.label_space.LabelSpace`), so its
predictions must be dataset class indices. Each dataset class is linked to exactly one model
output, by the first rule that links it:

1. the label map (``--label-map FILE.json`` entries ``{"<class name or id>": <model output>}``);
2. the model's own class names (``id2label``): an output whose name equals the class's name or id,
   exactly, then with case, ``_`` and repeated spaces ignored;
3. by way of ImageNet-1k, for a model whose outputs are ImageNet classes: when the class's name or
   id names exactly one ImageNet-1k class (a synset string, a unique class name, a WordNet id, a
   lemma: the tables of :mod:`.label_mapping`), the output mapped to that ImageNet class.

Outputs linked to no dataset class never win the argmax or enter the top-5: predictions live in
the dataset's space, so the argmax necessarily ranges over the dataset's classes (the results'
``model.label_mapping_notes`` say so). A class no rule links is an error naming it. An ImageNet-1k
dataset keeps the model's ImageNet mapping as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from imagenet_e_dataset.label_space import LabelSpace

from .label_mapping import LabelMapping, MappingMethod, _candidates, _exact, _normalise

NOTES_LISTED = 20
"""How many per-class links the notes spell out (all are counted)."""


def _class_of(key: str, space: LabelSpace) -> int:
    for values in (space.names, space.ids):
        if key in values:
            return values.index(key)
    shown = ", ".join(repr(n) for n in space.names[:8]) + (", ..." if space.num_classes > 8 else "")
    raise ValueError(f"the label map names {key!r}, which is no class of the dataset's label space "
                     f"{space.name!r} (classes: {shown})")


def _unique_imagenet(text: str) -> int | None:
    """The ImageNet-1k class ``text`` names, when it names exactly one."""
    hit = _candidates(text)
    return hit[0] if len(hit) == 1 else None


def link_to_dataset(mapping: LabelMapping, output_names: Sequence[str] | None, space: LabelSpace, *,
                    class_outputs: Mapping[str, int] | None = None, model_name: str = "model") -> LabelMapping:
    """The mapping from the model's outputs to ``space`` (see the module docstring).

    ``mapping``: the outputs' ImageNet-1k mapping as the loader made it (``not-imagenet`` when the
    outputs are no ImageNet classes); ``output_names``: the model's class name per output, if any;
    ``class_outputs``: the label map's ``{dataset class name or id: model output}`` entries.

    >>> from imagenet_e.eval.label_mapping import identity_mapping
    >>> space = LabelSpace.from_names(["fox squirrel", "espresso", "zebra"], name="cafe")
    >>> linked = link_to_dataset(identity_mapping(), None, space)
    >>> linked.num_classes, [j for j, c in enumerate(linked.indices) if c >= 0]
    (3, [335, 340, 967])
    >>> link_to_dataset(identity_mapping(), None, LabelSpace.from_names(["cat", "zebra"]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: model: cannot link 1 of the dataset's 2 classes to a model output: 'cat'; ...
    """
    class_outputs = dict(class_outputs or {})
    if space.is_imagenet:
        if mapping.method is MappingMethod.NOT_IMAGENET:
            raise ValueError(mapping.notes[0])
        if class_outputs:
            raise ValueError(f"the label map names dataset classes {sorted(class_outputs)[:5]}, but the dataset's "
                             "classes are ImageNet-1k's: place outputs with {\"<output>\": <ImageNet index>}")
        return mapping
    n = mapping.num_outputs
    names = list(output_names) if output_names is not None and len(output_names) == n else None
    target = [-1] * n
    linked: dict[int, tuple[int, str]] = {}  # dataset class -> (output, how)

    def link(c: int, j: int, how: str) -> None:
        if not 0 <= j < n:
            raise ValueError(f"the label map links {space.names[c]!r} to output {j}, but {model_name} has outputs "
                             f"0..{n - 1}")
        if target[j] >= 0 and target[j] != c:
            raise ValueError(f"{model_name}: output {j} would predict both dataset classes {space.names[target[j]]!r} "
                             f"and {space.names[c]!r}; give one of them its own output with --label-map")
        target[j] = c
        linked[c] = (j, how)

    for key, j in class_outputs.items():
        link(_class_of(key, space), int(j), "the label map")
    if names is not None:
        for rule, key_of in (("exact", _exact), ("case-insensitive", _normalise)):
            outputs_of: dict[str, list[int]] = {}
            for j, label in enumerate(names):
                outputs_of.setdefault(key_of(label), []).append(j)
            for c in range(space.num_classes):
                if c in linked:
                    continue
                hits = {j for text in (space.names[c], space.ids[c]) for j in outputs_of.get(key_of(text), [])}
                free = [j for j in sorted(hits) if target[j] < 0]
                if len(free) == 1:
                    link(c, free[0], f"the model's class name {names[free[0]]!r} ({rule})")
    if mapping.method is not MappingMethod.NOT_IMAGENET:
        output_of_imagenet = {int(i): j for j, i in enumerate(mapping.indices) if i >= 0}
        for c in range(space.num_classes):
            if c in linked:
                continue
            index = _unique_imagenet(space.names[c])
            if index is None and space.ids[c] != space.names[c]:
                index = _unique_imagenet(space.ids[c])
            j = output_of_imagenet.get(index) if index is not None else None
            if j is not None and target[j] < 0:
                link(c, j, f"way of ImageNet-1k class {index}")
    missing = [c for c in range(space.num_classes) if c not in linked]
    if missing:
        shown = ", ".join(repr(space.names[c]) for c in missing[:8]) + (", ..." if len(missing) > 8 else "")
        outputs = (", ".join(repr(x) for x in names[:5]) + (", ..." if n > 5 else "")) if names is not None \
            else "ImageNet-1k classes" if mapping.method is not MappingMethod.NOT_IMAGENET else "unnamed"
        raise ValueError(
            f"{model_name}: cannot link {len(missing)} of the dataset's {space.num_classes} classes to a model output: "
            f"{shown}; the model's {n} outputs are {outputs}. A class is linked when a model class name equals its "
            "name or id (case and '_' aside) or, for an ImageNet-1k classifier, when its name or id names exactly one "
            "ImageNet-1k class; place the others with --label-map FILE.json {\"<class>\": <model output>}")
    placed = sum(1 for c in target if c >= 0)
    notes = [f"predictions are classes of the dataset's own label space {space.name!r} ({space.num_classes} "
             f"classes): the argmax and top-5 range over the {placed} model outputs linked to them; "
             f"{n - placed} of the model's {n} outputs are linked to no dataset class and left out"]
    for c in range(min(space.num_classes, NOTES_LISTED)):
        j, how = linked[c]
        notes.append(f"dataset class {c} {space.names[c]!r} <- output {j} by {how}")
    if space.num_classes > NOTES_LISTED:
        notes.append(f"... and {space.num_classes - NOTES_LISTED} more classes linked")
    return LabelMapping(tuple(target), MappingMethod.DATASET_CLASSES, tuple(notes), num_classes=space.num_classes)


def dataset_space_of(spaces: Mapping[str, LabelSpace], *, source: str) -> LabelSpace:
    """The one label space of a dataset's configs; a clear error naming the configs when they differ."""
    distinct: dict[str, list[str]] = {}
    by_digest: dict[str, LabelSpace] = {}
    for config, space in spaces.items():
        distinct.setdefault(space.digest(), []).append(config)
        by_digest.setdefault(space.digest(), space)
    if not distinct:
        raise ValueError(f"{source}: no config to read a label space from")
    if len(distinct) > 1:
        parts = "; ".join(f"{', '.join(configs)}: {by_digest[d].num_classes} classes ({', '.join(by_digest[d].names[:3])}"
                          f"{', ...' if by_digest[d].num_classes > 3 else ''})" for d, configs in distinct.items())
        raise ValueError(f"the configs of {source} do not share one label space (their 'label' ClassLabel names "
                         f"differ): {parts}")
    return next(iter(by_digest.values()))


__all__ = ["dataset_space_of", "link_to_dataset"]
