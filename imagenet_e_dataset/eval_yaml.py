"""The Hub-native evaluation-results route: ``eval.yaml`` for the benchmark dataset and
``.eval_results/`` entries for model repos.

Formats (Hub docs "Evaluation Results", https://huggingface.co/docs/hub/eval-results):

* ``eval.yaml`` at the benchmark dataset's root: ``name``, ``description``,
  ``evaluation_framework`` and ``tasks`` (each ``id``, optional ``config`` and ``split``). Each
  task is one Hub leaderboard. ImageNet-E defines one task per subset config, scored by top-1
  accuracy on that config's ``test`` split, so the Hub's higher-is-better ranking is right for
  every task. (The robustness summary "mean drop" is lower-is-better and lives on the Space
  leaderboard, which reads the full results files.)
* model repos: ``.eval_results/<name>.yaml`` holding a list of entries, built here with the
  installed ``huggingface_hub``'s own :class:`~huggingface_hub.EvalResultEntry` and
  :func:`~huggingface_hub.eval_result_entries_to_yaml`, so the keys are exactly what
  ``HfApi.model_info(expand=["evalResults"])`` parses back.

``huggingface_hub`` has no writer for ``eval.yaml`` itself; :func:`eval_yaml_text` produces the
documented format.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .description import DatasetDescription
from .registry import SUBSETS

EVALUATION_FRAMEWORK = "imagenet-e"
"""Framework identifier written to ``eval.yaml``. The Hub keeps an allow-list of framework ids
(huggingface.js ``packages/tasks/src/eval.ts``); until ``imagenet-e`` is registered there the Hub
shows the file but does not list the benchmark as verified."""

SPLIT = "test"
EVAL_RESULTS_PATH = ".eval_results/imagenet-e.yaml"
DATASET_ID_ENV = "IMAGENET_E_DATASET_ID"

_SUMMARY = (
    "ImageNet-E (Li et al., CVPR 2023) measures how image classifiers react when one object "
    "attribute of an ImageNet validation image is edited while the rest stays in distribution: "
    "background complexity, object size, object position and object direction. Every subset holds "
    "the same source images, so each edited prediction pairs with the original one. Each task "
    "is one subset; the score is top-1 accuracy (fraction in [0, 1]) on its test split."
)


def _summary(description: DatasetDescription) -> str:
    """The ``eval.yaml`` description of one written dataset, from its own description: what it edits,
    how many classes, how many tasks."""
    edited = [a.name for a in description.edited_attributes]
    space = description.label_space
    classes = "ImageNet-1k classes" if space.is_imagenet_1k else f"its own {space.num_classes} classes ({space.name})"
    return (
        f"An ImageNet-E-style attribute-editing benchmark (Li et al., CVPR 2023) with {classes}: each source image "
        f"is edited in one attribute at a time ({', '.join(edited) or 'none'}), and every subset holds the same "
        "source images, so each edited prediction pairs with the original one. Each of the "
        f"{len(description.configs)} tasks is one config; the score is top-1 accuracy (fraction in [0, 1]) on its "
        f"{SPLIT} split."
    )


def eval_tasks(description: DatasetDescription | None = None) -> list[dict[str, str]]:
    """One ``eval.yaml`` task per config: exactly the configs ``description`` holds, in its order; without
    one, the twelve ImageNet-E configs."""
    names = description.config_names if description is not None else tuple(SUBSETS)
    return [{"id": name, "config": name, "split": SPLIT} for name in names]


def eval_yaml_document(description: DatasetDescription | None = None, *, name: str = "ImageNet-E",
                       summary: str | None = None) -> dict[str, Any]:
    if summary is None:
        summary = _SUMMARY if description is None else _summary(description)
    return {
        "name": name,
        "description": summary,
        "evaluation_framework": EVALUATION_FRAMEWORK,
        "tasks": eval_tasks(description),
    }


def eval_yaml_text(description: DatasetDescription | None = None, *, name: str = "ImageNet-E",
                   summary: str | None = None) -> str:
    """The dataset's ``eval.yaml`` (the dataset writer puts it at the dataset root)."""
    import yaml

    return yaml.safe_dump(eval_yaml_document(description, name=name, summary=summary),
                          sort_keys=False, allow_unicode=True, width=100)


def is_hub_repo_id(value: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*", value or "") is not None


def resolve_dataset_id(results: dict[str, Any], dataset_id: str | None = None) -> str:
    """The benchmark dataset id to attach results to: explicit, else ``$IMAGENET_E_DATASET_ID``,
    else the results file's ``dataset.id``; it must be a Hub repo id (``ns/name``)."""
    chosen = dataset_id or os.environ.get(DATASET_ID_ENV) or results["dataset"]["id"]
    if not is_hub_repo_id(chosen):
        raise ValueError(
            f"dataset id {chosen!r} is not a Hub dataset repo id (ns/name); the results were probably "
            f"computed on a local folder: pass --dataset-id NS/NAME (or set {DATASET_ID_ENV})"
        )
    return chosen


def _git_sha(value: str | None) -> str | None:
    # The entry's revision is documented as the dataset's git SHA; a branch name would mislead.
    return value if value and re.fullmatch(r"[0-9a-f]{40}", value) else None


def eval_result_entries(
    results: dict[str, Any],
    *,
    dataset_id: str | None = None,
    source_url: str | None = None,
    source_name: str | None = None,
) -> list:
    """``EvalResultEntry`` objects (one per subset in the results file) for a validated results doc."""
    from huggingface_hub import EvalResultEntry

    ds = resolve_dataset_id(results, dataset_id)
    preprocessing = results["preprocessing"]["description"]
    notes = f"top-1 accuracy; loader {results['model']['loader']}; preprocessing: {preprocessing}"
    if len(notes) > 300:
        notes = notes[:297] + "..."
    entries = []
    # Every config the results cover (a sweep level, a plug-in's config), as the eval.yaml tasks name them.
    for name in results["dataset"]["configs"]:
        if name not in results["metrics"]["accuracy"]:
            continue
        entries.append(EvalResultEntry(
            dataset_id=ds,
            task_id=name,
            value=float(results["metrics"]["accuracy"][name]),
            dataset_revision=_git_sha(results["dataset"].get("revision")),
            date=results["created_at"],
            source_url=source_url,
            source_name=(source_name or "ImageNet-E results file") if source_url else None,
            notes=notes,
        ))
    return entries


def eval_results_yaml_text(
    results: dict[str, Any],
    *,
    dataset_id: str | None = None,
    source_url: str | None = None,
) -> str:
    """The ``.eval_results/imagenet-e.yaml`` file for a model repo, via huggingface_hub's serialiser."""
    import yaml
    from huggingface_hub import eval_result_entries_to_yaml

    entries = eval_result_entries(results, dataset_id=dataset_id, source_url=source_url)
    return yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False, allow_unicode=True, width=100)
