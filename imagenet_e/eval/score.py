"""``imagenet-e score``: a results file from a predictions file and the dataset's labels, no model.

The same checks guard ``score``, ``submit`` and the leaderboard: the predictions must be readable,
without duplicate rows, cover every (subset, source) of the dataset revision they name (a
``--limit`` run excepted), and carry that dataset's labels; a results file must be the one its
predictions give, down to the sha256 of the predictions file. No torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .dataset_labels import DatasetLabels, check_against_dataset, load_dataset_labels, looks_like_repo_id
from .predictions import PredictionTable, file_sha256, read_predictions, results_path_for
from .results_schema import validate_results
from .scoring import check_results_match, results_from_predictions


def labels_for(table: PredictionTable, *, dataset: str | os.PathLike | None = None,
               revision: str | None = None, where: str) -> DatasetLabels:
    """The labels of the dataset revision the predictions name (or ``dataset`` / ``revision`` given)."""
    recorded = table.metadata.get("dataset") or {}
    source = os.fspath(dataset) if dataset is not None else recorded.get("id")
    wanted = revision if revision is not None else recorded.get("revision")
    if not source:
        raise ValueError(f"{where}: the predictions name no dataset; pass --dataset")
    path = Path(source).expanduser()
    if not path.is_dir() and not looks_like_repo_id(source):
        raise ValueError(f"{where}: the predictions were made on the local dataset {source!r}, which is not "
                         "here; pass --dataset PATH (the folder) to check them against its labels")
    return load_dataset_labels(source, table.configs, revision=wanted)


def is_partial(table: PredictionTable) -> bool:
    """A ``--limit`` run scores the first N source images only, on purpose."""
    return (table.metadata.get("run") or {}).get("limit") is not None


def checked_predictions(path: str | os.PathLike, *, dataset: str | os.PathLike | None = None,
                        revision: str | None = None) -> tuple[PredictionTable, str]:
    """Read ``path`` and check it against its dataset; returns the table and the file's sha256."""
    where = str(path)
    table = read_predictions(path)
    labels = labels_for(table, dataset=dataset, revision=revision, where=where)
    check_against_dataset(table, labels, where=where, allow_partial=is_partial(table))
    return table, file_sha256(path)


def score_predictions(path: str | os.PathLike, *, dataset: str | os.PathLike | None = None,
                      revision: str | None = None) -> dict[str, Any]:
    """The validated results document the predictions file at ``path`` gives."""
    table, sha = checked_predictions(path, dataset=dataset, revision=revision)
    return results_from_predictions(table, file_name=Path(path).name, sha256=sha, source=str(path))


def check_results_file(results_path: str | os.PathLike, predictions_path: str | os.PathLike, *,
                       dataset: str | os.PathLike | None = None, revision: str | None = None) -> dict[str, Any]:
    """The results document at ``results_path`` if its predictions give exactly it, else ValueError."""
    from .results_schema import load_results

    results = load_results(results_path)
    where = str(results_path)
    recorded = results["predictions"]
    actual = file_sha256(predictions_path)
    if actual != recorded["sha256"]:
        raise ValueError(f"{where}: predictions.sha256 is {recorded['sha256']} but {predictions_path} has sha256 "
                         f"{actual}: the predictions are not the ones these results were computed from")
    recomputed = score_predictions(predictions_path, dataset=dataset, revision=revision)
    check_results_match(results, recomputed, source=where)
    return results


def refuse_foreign_results(output: Path, sha256: str) -> None:
    """Do not overwrite a results file computed from other predictions (or that is no results file)."""
    if not output.exists():
        return
    try:
        existing = validate_results(json.loads(output.read_text("utf-8")), source=str(output))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{output} exists and is not a results file this version can read ({exc}); "
                         "pass --output to write elsewhere") from None
    if existing["predictions"]["sha256"] != sha256:
        raise ValueError(f"{output} was computed from predictions with sha256 {existing['predictions']['sha256']}, "
                         f"not this file's {sha256}; pass --output to write elsewhere")


def default_output(predictions_path: str | os.PathLike) -> Path:
    return results_path_for(predictions_path)
