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

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from imagenet_e_dataset.description import DatasetDescription
from imagenet_e.eval.dataset_labels import DatasetLabels, check_against_dataset, load_dataset_labels
from imagenet_e.eval.predictions import file_sha256, predictions_path_for, read_predictions
from imagenet_e.eval.scoring import check_results_match, results_from_predictions


@dataclass
class DatasetResolver:
    """Finds the labels of the dataset a results file names.

    ``sources`` maps a dataset id as results record it to where it is: results name a local
    folder by its name only (privacy), so the board must be told where that folder is. Hub ids
    resolve to the Hub; nothing else (a path a results file names is never opened). Labels are cached
    per (dataset, revision, config) by :func:`load_dataset_labels`; a failure is cached here per
    (dataset, revision), so fifty submissions against an unreachable dataset cost one attempt. Each
    dataset's description is read once per (dataset, revision) too (:meth:`description`).
    """

    sources: Mapping[str, str] = field(default_factory=dict)
    hint: str = "start the board with --dataset {name}=PATH"
    """What to tell the user when a local dataset is unknown (``{name}`` is its recorded name)."""
    _failures: dict[tuple[str, str | None], str] = field(default_factory=dict, repr=False)
    _configs: dict[tuple[str, str | None], set[str]] = field(default_factory=dict, repr=False)
    _descriptions: dict[tuple[str, str | None], DatasetDescription | str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def locate(self, dataset_id: str) -> str:
        """Where ``dataset_id`` is: a name (or recorded path) the board was given, else a Hub repo id.

        Never a path the submission names: a results file saying ``dataset.id = "/"`` or
        ``/some/folder/on/the/host`` would make the board read (and quote labels from) that folder.
        """
        if dataset_id in self.sources:
            return self.sources[dataset_id]
        # A pure pattern check: Path(dataset_id).exists() would already touch a path the file names.
        if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", dataset_id) and ".." not in dataset_id:
            return dataset_id
        raise ValueError(f"the dataset {dataset_id!r} is not one this board reads; "
                         + self.hint.format(name=dataset_id))

    def config_names(self, dataset_id: str, revision: str | None) -> set[str]:
        """The configs the dataset itself has (folders or Hub paths holding parquet), cached; empty
        when the dataset cannot be listed (its labels check then names the fault)."""
        key = (dataset_id, revision)
        with self._lock:
            if key in self._configs:
                return self._configs[key]
        try:
            where = self.locate(dataset_id)
            folder = Path(where).expanduser()
            if folder.is_dir():
                files = [p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")]
            else:
                from huggingface_hub import HfApi

                files = HfApi().list_repo_files(where, repo_type="dataset", revision=revision)
            found = {f.split("/", 1)[0] for f in files if f.endswith(".parquet") and "/" in f}
        except Exception:  # noqa: BLE001 - unreachable: no extra config is accepted
            found = set()
        with self._lock:
            self._configs[key] = found
        return found

    def description(self, dataset_id: str, revision: str | None) -> DatasetDescription:
        """The dataset's own description (``imagenet_e.json``, or the one rebuilt from an older dataset's
        card), read once per (dataset, revision); ValueError saying why when there is none to read (also
        remembered: the layout check of fifty files and the About tab cost one attempt)."""
        import warnings

        from imagenet_e_dataset.description_io import read_description

        key = (dataset_id, revision)
        with self._lock:
            found = self._descriptions.get(key)
        if found is None:
            try:
                where = self.locate(dataset_id)
                # A folder's revision is its content hash, checked with its labels: it is read as it is.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a rebuilt description says so in its origin
                    found = read_description(where, None if Path(where).expanduser().is_dir() else revision)
            except Exception as exc:  # noqa: BLE001 - the Hub unreachable, no card: the reason, never a crash
                found = f"cannot read the description of {dataset_id}@{revision}: {type(exc).__name__}: {exc}"
            with self._lock:
                self._descriptions[key] = found
        if isinstance(found, str):
            raise ValueError(found)
        return found

    def layout(self, dataset_id: str, revision: str | None, configs: list[str]) -> list[dict[str, Any]] | None:
        """``configs`` as the dataset's own description lays them out; None when the dataset has no
        description to read (the results' own layout is then what is shown)."""
        from imagenet_e.eval.config_layout import layout_of

        try:
            return layout_of(self.description(dataset_id, revision), configs)
        except (ValueError, KeyError):  # no (usable) description: nothing to compare the file's layout with
            return None

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


BOOTSTRAP_FIELDS = ("ci95", "control_ci95")
"""Metrics that depend on the bootstrap's resample count (the board recomputes them with its own)."""


def _with_board_bootstrap(table, n_bootstrap: int):
    """The table with run.n_bootstrap set to the board's, or None when the file already says that."""
    from dataclasses import replace

    run = table.metadata.get("run")
    if not isinstance(run, dict) or run.get("n_bootstrap") == n_bootstrap:
        return None
    return replace(table, metadata={**table.metadata, "run": {**run, "n_bootstrap": n_bootstrap}})


def _without_bootstrap(doc: dict[str, Any]) -> dict[str, Any]:
    metrics = {k: v for k, v in (doc.get("metrics") or {}).items() if k not in BOOTSTRAP_FIELDS}
    if isinstance(metrics.get("sweeps"), dict):  # each sweep level's interval is a bootstrap's too
        metrics["sweeps"] = {a: {k: v for k, v in sweep.items() if k not in BOOTSTRAP_FIELDS}
                             if isinstance(sweep, dict) else sweep for a, sweep in metrics["sweeps"].items()}
    run = {k: v for k, v in (doc.get("run") or {}).items() if k != "n_bootstrap"}
    return {**doc, "metrics": metrics, "run": run}


def verify_submission(results: dict[str, Any], results_path: Path, resolver: DatasetResolver, *,
                      name: str, n_bootstrap: int | None = None) -> dict[str, Any]:
    """The results document recomputed from the submission's predictions; ValueError (the reason
    the row is not ranked) when anything does not hold. ``results`` passed the schema already.

    ``n_bootstrap``: the board's own resample count for the intervals (a file asking for 40 M
    resamples costs what the board's setting costs); the file's intervals are then not compared,
    every other number is."""
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
    rebooted = _with_board_bootstrap(table, n_bootstrap) if n_bootstrap is not None else None
    own_bootstrap = rebooted is not None
    table = rebooted or table
    recomputed = results_from_predictions(table, file_name=results["predictions"]["file"], sha256=actual, source=name,
                                          validate=False)
    if own_bootstrap:
        check_results_match(_without_bootstrap(results), _without_bootstrap(recomputed), source=name)
    else:
        check_results_match(results, recomputed, source=name)
    return recomputed
