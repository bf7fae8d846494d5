"""The leaderboard recomputes, never trusts: a submission is ranked only when its predictions give it.

A submission is a results file ``X.json`` and its predictions ``X.predictions.parquet`` (or the
file name the results record, beside it). :func:`verify_submission` checks, in order: the
predictions file exists and has the sha256 the results record; it reads cleanly (no duplicate
rows, classes in range); its rows are exactly the (subset, source) pairs of the dataset revision
the results name, with that dataset's labels, fetched from the dataset (never from the
submission) by a :class:`DatasetResolver` that caches them per revision; no image was skipped and
no ``--limit`` was used; and the results file's every number equals the one recomputed from the
predictions. The recomputed document is what the board shows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from imagenet_e.eval.dataset_labels import DatasetLabels, check_against_dataset, load_dataset_labels, looks_like_repo_id
from imagenet_e.eval.predictions import file_sha256, predictions_path_for, read_predictions
from imagenet_e.eval.scoring import check_results_match, results_from_predictions


@dataclass
class DatasetResolver:
    """Finds the labels of the dataset a results file names.

    ``sources`` maps a dataset id as results record it to where it is: results name a local
    folder by its name only (privacy), so the board must be told where that folder is. Hub ids
    resolve to the Hub, an absolute path (``--record-paths`` results) to itself. Labels are cached
    per (dataset, revision, config) by :func:`load_dataset_labels`; a failure is cached here per
    (dataset, revision), so fifty submissions against an unreachable dataset cost one attempt.
    """

    sources: Mapping[str, str] = field(default_factory=dict)
    hint: str = "start the board with --dataset {name}=PATH"
    """What to tell the user when a local dataset is unknown (``{name}`` is its recorded name)."""
    _failures: dict[tuple[str, str | None], str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def locate(self, dataset_id: str) -> str:
        if dataset_id in self.sources:
            return self.sources[dataset_id]
        path = Path(dataset_id)
        if path.is_absolute() and path.is_dir():
            return dataset_id
        if looks_like_repo_id(dataset_id):
            return dataset_id
        raise ValueError(f"the dataset {dataset_id!r} is a local folder this board does not know; "
                         + self.hint.format(name=dataset_id))

    def labels(self, dataset_id: str, revision: str | None, configs: list[str]) -> DatasetLabels:
        key = (dataset_id, revision)
        with self._lock:
            failed = self._failures.get(key)
        if failed:
            raise ValueError(failed)
        try:
            return load_dataset_labels(self.locate(dataset_id), configs, revision=revision)
        except (ValueError, FileNotFoundError) as exc:
            message = f"cannot read the labels of {dataset_id}@{revision}: {exc}"
        except Exception as exc:  # the Hub unreachable, a revision gone: the board stays up, the row unranked
            message = f"cannot read the labels of {dataset_id}@{revision}: {type(exc).__name__}: {exc}"
        with self._lock:
            self._failures[key] = message
        raise ValueError(message)


def predictions_for(results_path: Path, results: dict[str, Any]) -> Path | None:
    """The predictions of a results file: ``X.predictions.parquet`` beside ``X.json``, else the file
    name the results record, beside it (a bare name: the schema allows no path)."""
    candidates = [predictions_path_for(results_path)]
    recorded = (results.get("predictions") or {}).get("file")
    if isinstance(recorded, str) and "/" not in recorded and "\\" not in recorded:
        candidates.append(results_path.with_name(recorded))
    return next((c for c in candidates if c.is_file()), None)


def verify_submission(results: dict[str, Any], results_path: Path, resolver: DatasetResolver, *,
                      name: str) -> dict[str, Any]:
    """The results document recomputed from the submission's predictions; ValueError (the reason
    the row is not ranked) when anything does not hold. ``results`` passed the schema already."""
    predictions = predictions_for(results_path, results)
    if predictions is None:
        raise ValueError(f"no predictions file beside it (expected {predictions_path_for(results_path).name}); "
                         "every number on the board is recomputed from per-image predictions")
    recorded = results["predictions"]["sha256"]
    actual = file_sha256(predictions)
    if actual != recorded:
        raise ValueError(f"its predictions file {predictions.name} has sha256 {actual[:16]}…, the results record "
                         f"{recorded[:16]}…")
    table = read_predictions(predictions, name=predictions.name)
    dataset = results["dataset"]
    labels = resolver.labels(dataset["id"], dataset.get("revision"), table.configs)
    limit = (table.metadata.get("run") or {}).get("limit")
    if limit is not None:
        raise ValueError(f"a --limit {limit} run (the first {limit} source images only) is not ranked")
    check_against_dataset(table, labels, where=predictions.name)
    skipped = int((~table.scored).sum())
    if skipped:
        raise ValueError(f"{skipped} image(s) were skipped (unreadable or non-finite logits); ranked results "
                         "predict every image")
    # Not re-validated: it must equal, field by field, the results file that was.
    recomputed = results_from_predictions(table, file_name=results["predictions"]["file"], sha256=actual, source=name,
                                          validate=False)
    check_results_match(results, recomputed, source=name)
    return recomputed
