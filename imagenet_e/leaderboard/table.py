"""Submissions -> ranked leaderboard tables, one per benchmark.

Everything the board shows is recomputed from each submission's per-image predictions against
the labels of the dataset revision it names (:mod:`.verify`); a submission that fails any check
is not ranked and is reported (name + reason) instead of taking the board down. Results are
ranked only against results of the same benchmark: one :class:`BoardKey` = dataset id + revision
+ protocol + config set, each its own table. Drops are shown against ``original`` (the paper's)
or against the control subset (:class:`DropReference`). Subset and attribute names come from
:mod:`imagenet_e_dataset.registry`. Text from submissions (model ids, links) is carried as plain
strings; the app is responsible for showing it as text.
"""

from __future__ import annotations

import enum
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from imagenet_e_dataset.label_space import own_classes_note
from imagenet_e_dataset.registry import (
    ALL_SUBSETS, EDITED_ATTRIBUTES, ORIGINAL_CONFIG, Attribute, edited_attributes, get_attribute, resolve,
)
from imagenet_e.eval.results_schema import validate_results
from imagenet_e_metric.core import CONTROL_SUBSET

from .verify import DatasetResolver, verify_submission


class SortKey(str, enum.Enum):
    """What the board ranks by."""

    MEAN_DROP = "mean_drop"
    """Mean accuracy drop over the edited subsets, ascending: the most robust model first."""
    ORIGINAL_ACCURACY = "original_accuracy"
    """Top-1 accuracy on the unedited images, descending."""

    @property
    def label(self) -> str:
        return _SORT_LABELS[self]


_SORT_LABELS = {
    SortKey.MEAN_DROP: "Mean drop (most robust first)",
    SortKey.ORIGINAL_ACCURACY: "Original accuracy (highest first)",
}


class SubsetMetric(str, enum.Enum):
    """Which per-subset number the subset columns show."""

    ACCURACY = "accuracy"
    DROP = "accuracy_drop"
    FLIP_RATE = "flip_rate"

    @property
    def label(self) -> str:
        return {"accuracy": "accuracy", "accuracy_drop": "drop", "flip_rate": "flip rate"}[self.value]


class DropReference(str, enum.Enum):
    """What the drop columns are measured against."""

    ORIGINAL = "original"
    """accuracy(original) - accuracy(subset): the paper's drop (the edit plus the generation pipeline)."""
    CONTROL = "control"
    """accuracy(control) - accuracy(subset): the edit alone (the control shares the pipeline)."""

    @property
    def label(self) -> str:
        control = CONTROL_SUBSET.name if CONTROL_SUBSET else "control"
        return "original (paper)" if self is DropReference.ORIGINAL else f"{control} (control)"


def parse_reference(value: str | DropReference) -> DropReference:
    for ref in DropReference:
        if value in (ref, ref.value, ref.label):
            return ref
    raise ValueError(f"unknown drop reference {value!r}; valid: {', '.join(r.value for r in DropReference)}")


@dataclass(frozen=True)
class BoardKey:
    """One benchmark: results are ranked only against results with the same key."""

    dataset_id: str
    dataset_revision: str | None
    protocol: str
    configs: tuple[str, ...]

    def label(self, n_images: int | None = None, n_models: int | None = None) -> str:
        revision = (self.dataset_revision or "unversioned")[:19]
        parts = [f"{self.dataset_id} @ {revision}", self.protocol, f"{len(self.configs)} subsets"]
        if n_images is not None:
            parts.append(f"n = {n_images} images/subset")
        if n_models is not None:
            parts.append(f"{n_models} model(s)")
        return " · ".join(parts)


def parse_sort_key(value: str | SortKey) -> SortKey:
    """Accept a :class:`SortKey`, its value or its display label; anything else is a ``ValueError``."""
    for key in SortKey:
        if value in (key, key.value, key.label):
            return key
    raise ValueError(f"unknown sort key {value!r}; valid: {', '.join(k.value for k in SortKey)}")


def parse_subset_metric(value: str | SubsetMetric) -> SubsetMetric:
    for metric in SubsetMetric:
        if value in (metric, metric.value, metric.label):
            return metric
    raise ValueError(f"unknown subset metric {value!r}; valid: {', '.join(m.value for m in SubsetMetric)}")


def safe_link(value: Any) -> str | None:
    """Return ``value`` if it is an absolute http(s) URL without whitespace, else ``None``.

    >>> safe_link("https://huggingface.co/org/model")
    'https://huggingface.co/org/model'
    >>> safe_link("javascript:alert(1)") is None
    True
    """
    if not isinstance(value, str) or not value or re.search(r"\s", value):
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


@dataclass(frozen=True)
class Entry:
    """One validated results file, reduced to what the board shows."""

    source: str
    model_id: str
    model_revision: str | None
    loader: str
    link: str | None
    dataset_id: str
    dataset_revision: str | None
    created_at: str
    configs: tuple[str, ...]
    accuracy: dict[str, float] = field(hash=False)
    accuracy_drop: dict[str, float] = field(hash=False)
    flip_rate: dict[str, float] = field(hash=False)
    attribute_drop: dict[str, float] = field(hash=False)
    mean_drop: float = 0.0
    label: str = ""
    """Unique display name on this board (the model id, disambiguated when one model appears twice)."""
    protocol: str = ""
    n_images: int = 0
    """Images of ``original`` the model was scored on."""
    control_drop: dict[str, float] = field(default_factory=dict, hash=False)
    control_attribute_drop: dict[str, float] = field(default_factory=dict, hash=False)
    control_mean_drop: float | None = None
    failure_point: dict[str, str | None] = field(default_factory=dict, hash=False)
    """{swept attribute: median failure level (None: most images never flip)} when the dataset has sweeps."""

    @property
    def original_accuracy(self) -> float | None:
        return self.accuracy.get(ORIGINAL_CONFIG)

    @property
    def key(self) -> BoardKey:
        return BoardKey(self.dataset_id, self.dataset_revision, self.protocol, self.configs)

    def drops(self, reference: DropReference) -> tuple[dict[str, float], dict[str, float], float | None]:
        """(per subset, per attribute, mean) drops against ``reference``."""
        if reference is DropReference.CONTROL:
            return self.control_drop, self.control_attribute_drop, self.control_mean_drop
        return self.accuracy_drop, self.attribute_drop, self.mean_drop

    @classmethod
    def from_results(cls, doc: dict[str, Any], source: str) -> "Entry":
        metrics = doc["metrics"]
        model = doc["model"]
        dataset = doc["dataset"]
        return cls(
            source=source,
            model_id=model["id"],
            model_revision=model.get("revision"),
            loader=model["loader"],
            link=safe_link(model.get("link")),
            dataset_id=dataset["id"],
            dataset_revision=dataset.get("revision"),
            created_at=doc["created_at"],
            configs=tuple(name for name in ALL_SUBSETS if name in {resolve(c).name for c in dataset["configs"]}),
            accuracy=dict(metrics["accuracy"]),
            accuracy_drop=dict(metrics["accuracy_drop"]),
            flip_rate=dict(metrics["flip_rate"]),
            attribute_drop=dict(metrics["attribute_drop"]),
            mean_drop=float(metrics["mean_drop"]),
            label=model["id"],
            # The dataset's editing protocol, the evaluation protocol and a label space of its own: never mixed.
            protocol=" / ".join(str(p) for p in (dataset.get("protocol"), doc.get("protocol"),
                                                 own_classes_note(dataset.get("label_space"))) if p),
            n_images=int(doc["counts"].get(ORIGINAL_CONFIG, 0)),
            control_drop=dict(metrics.get("control_drop", {})),
            control_attribute_drop=dict(metrics.get("control_attribute_drop", {})),
            control_mean_drop=metrics.get("control_mean_drop"),
            failure_point={a: sweep["failure"]["median_level"] for a, sweep in (metrics.get("sweeps") or {}).items()},
        )


@dataclass(frozen=True)
class SkippedFile:
    """A results file that could not be shown, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Board:
    """All ranked entries of one results source (every benchmark) plus the submissions not ranked."""

    source: str
    entries: tuple[Entry, ...]
    skipped: tuple[SkippedFile, ...] = ()

    @property
    def loaders(self) -> list[str]:
        return sorted({e.loader for e in self.entries})

    def keys(self) -> list[BoardKey]:
        """The benchmarks present, the one with most entries first."""
        counts: dict[BoardKey, int] = {}
        for e in self.entries:
            counts[e.key] = counts.get(e.key, 0) + 1
        return sorted(counts, key=lambda k: (-counts[k], k.label()))

    def entries_for(self, key: BoardKey | None) -> tuple[Entry, ...]:
        if key is None:
            keys = self.keys()
            if not keys:
                return ()
            key = keys[0]
        return tuple(e for e in self.entries if e.key == key)

    def key_label(self, key: BoardKey) -> str:
        entries = self.entries_for(key)
        sizes = sorted({e.n_images for e in entries})
        return key.label(sizes[0] if len(sizes) == 1 else None, len(entries))

    def key_by_label(self, label: str | None) -> BoardKey | None:
        for key in self.keys():
            if label in (self.key_label(key), key.label()):
                return key
        return self.keys()[0] if self.keys() else None

    def entry(self, label: str) -> Entry:
        for e in self.entries:
            if e.label == label:
                return e
        raise ValueError(f"no model {label!r} on this board")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        # NaN/Infinity parse to floats so validate_results can name them instead of a JSON error.
        return json.loads(text, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    except RecursionError:  # ~1000 nested levels: one bad file, not a board taken down
        raise ValueError("nested too deeply to be a results file") from None


def _identity(e: Entry) -> tuple:
    return (e.model_id, e.model_revision, e.loader, e.dataset_id, e.dataset_revision, e.protocol, e.configs)


def _reason(exc: Exception, name: str) -> str:
    reason = str(exc)
    prefix = f"{name}: "
    reason = reason[len(prefix):] if reason.startswith(prefix) else reason
    # The schema's message quotes the offending value, which a hostile file makes megabytes long.
    return reason if len(reason) <= 300 else reason[:297] + "..."


def board_from_documents(docs: Iterable[tuple[str, Any]], *, source: str = "results",
                         skipped: Iterable[SkippedFile] = (), validated: bool = False) -> Board:
    """A board from ``(name, results document)`` pairs that were recomputed from their predictions
    (:func:`load_board_dir` does that); documents failing the schema go to ``skipped``.

    When two files describe the same run identity (model, revisions, loader, benchmark) the newest
    ``created_at`` wins and the older file is reported as superseded, so re-submissions don't
    produce duplicate rows.
    """
    from imagenet_e.eval.results_schema import check_rfc3339

    entries: dict[tuple, Entry] = {}
    refused: list[SkippedFile] = list(skipped)
    for name, doc in docs:
        try:
            if not validated:
                validate_results(doc, source=name)
            entry = Entry.from_results(doc, name)
        except RecursionError:
            skipped.append(SkippedFile(name, "nested too deeply to be a results file"))
            continue
        except ValueError as exc:
            refused.append(SkippedFile(name, _reason(exc, name)))
            continue
        key = _identity(entry)
        previous = entries.get(key)
        if previous is not None:
            older, newer = sorted((previous, entry), key=lambda e: (check_rfc3339(e.created_at, e.source), e.source))
            refused.append(SkippedFile(older.source, f"superseded by the newer results file {newer.source}"))
            entry = newer
        entries[key] = entry
    return Board(source=source, entries=_with_unique_labels(list(entries.values())), skipped=tuple(refused))


def _with_unique_labels(entries: list[Entry]) -> tuple[Entry, ...]:
    from dataclasses import replace

    counts: dict[str, int] = {}
    for e in entries:
        counts[e.model_id] = counts.get(e.model_id, 0) + 1
    out: list[Entry] = []
    seen: dict[str, int] = {}
    for e in sorted(entries, key=lambda e: (e.model_id, e.model_revision or "", e.dataset_revision or "", e.source)):
        label = e.model_id
        if counts[e.model_id] > 1:
            details = [f"rev {e.model_revision[:12]}" if e.model_revision else None,
                       f"data {e.dataset_revision[:12]}" if e.dataset_revision else None,
                       e.loader]
            label = f"{e.model_id} ({', '.join(d for d in details if d)})"
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        out.append(replace(e, label=label))
    return tuple(out)


def _as_resolver(datasets: DatasetResolver | Mapping[str, str] | None) -> DatasetResolver:
    if isinstance(datasets, DatasetResolver):
        return datasets
    return DatasetResolver(dict(datasets or {}))


def load_board_dir(folder: str | Path, *, source: str | None = None,
                   datasets: DatasetResolver | Mapping[str, str] | None = None) -> Board:
    """Read every ``*.json`` under ``folder`` (recursively, in path order), recompute each from its
    predictions against its dataset's labels (``datasets`` maps local dataset names to folders),
    and build the board; submissions that fail are listed with the reason."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder not found: {folder}")
    resolver = _as_resolver(datasets)
    docs: list[tuple[str, Any]] = []
    refused: list[SkippedFile] = []
    for path in sorted(folder.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # .cache/ of hub downloads and other hidden files are not submissions
        name = path.relative_to(folder).as_posix()
        try:
            doc = validate_results(_read_json(path), source=name)
            docs.append((name, verify_submission(doc, path, resolver, name=name)))
        except (ValueError, OSError) as exc:
            refused.append(SkippedFile(name, _reason(exc, name)))
    return board_from_documents(docs, source=source or str(folder), skipped=refused, validated=True)


def looks_like_repo_id(value: str) -> bool:
    """``namespace/name`` as the Hub spells repo ids."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*", value) is not None


def fetch_results(source: str, *, revision: str | None = None, token: str | bool | None = None) -> Path:
    """Return a local folder of results files: ``source`` itself if it is a folder, else a
    snapshot of the Hub dataset repo ``source`` (JSON files only)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if not looks_like_repo_id(source):
        raise FileNotFoundError(f"results source {source!r} is neither a folder nor a Hub dataset repo id (ns/name)")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=source, repo_type="dataset", revision=revision,
                                  allow_patterns=["*.json", "*.parquet"], token=token))


def load_board(source: str, *, revision: str | None = None, token: str | bool | None = None,
               datasets: DatasetResolver | Mapping[str, str] | None = None) -> Board:
    """Load a board from a results folder or a Hub dataset repo id (results with their predictions)."""
    return load_board_dir(fetch_results(source, revision=revision, token=token), source=source, datasets=datasets)


# ----------------------------------------------------------------------------------------------
# The table

RANK_COLUMN = "Rank"
MODEL_COLUMN = "Model"
MEAN_DROP_COLUMN = "Mean drop (pp)"
ORIGINAL_COLUMN = "Original acc. (%)"
TEXT_COLUMNS = (MODEL_COLUMN, "Revision", "Loader", "Dataset revision", "Link", "Results file")


def _versus(reference: DropReference) -> str:
    return "" if reference is DropReference.ORIGINAL else f" vs {CONTROL_SUBSET.name if CONTROL_SUBSET else 'control'}"


def mean_drop_column(reference: DropReference | str = DropReference.ORIGINAL) -> str:
    reference = parse_reference(reference)
    return MEAN_DROP_COLUMN if reference is DropReference.ORIGINAL else f"Mean drop{_versus(reference)} (pp)"


def attribute_column(attribute: Attribute | str, reference: DropReference | str = DropReference.ORIGINAL) -> str:
    return f"{get_attribute(attribute).name} drop{_versus(parse_reference(reference))} (pp)"


FAILURE_SUFFIX = " median failure level"


def failure_column(attribute: Attribute | str) -> str:
    return f"{get_attribute(attribute).name}{FAILURE_SUFFIX}"


def _failure_cell(e: "Entry", attribute: str) -> str:
    if attribute not in e.failure_point:
        return ""
    level = e.failure_point[attribute]
    return "never" if level is None else level


def board_attributes(board: "Board") -> list[Attribute]:
    """The edited attributes that at least one entry on the board has a drop for, in registry order
    (those of the ImageNet-E configs while the board is empty)."""
    present = [a for a in edited_attributes() if any(a.name in e.attribute_drop for e in board.entries)]
    return present or list(EDITED_ATTRIBUTES)


def subset_column(name: str, metric: SubsetMetric, reference: DropReference | str = DropReference.ORIGINAL) -> str:
    versus = _versus(parse_reference(reference)) if metric is SubsetMetric.DROP else ""
    return f"{name} {metric.label}{versus} ({'%' if metric is not SubsetMetric.DROP else 'pp'})"


def _sort_value(e: Entry, key: SortKey, reference: DropReference = DropReference.ORIGINAL) -> float:
    if key is SortKey.MEAN_DROP:
        mean = e.drops(reference)[2]
        return mean if mean is not None else math.inf  # no control in the file: ranks last on that view
    acc = e.original_accuracy
    # Descending accuracy = ascending negative; a file without an original row ranks last.
    return -acc if acc is not None else math.inf


def rank_entries(entries: Sequence[Entry], key: SortKey | str,
                 reference: DropReference | str = DropReference.ORIGINAL) -> list[tuple[int, Entry]]:
    """Sort entries and number them with competition ranking (ties share a rank: 1, 1, 3).

    Ties on the ranking key are ordered by the other key, then by model label, so the order is
    deterministic. ``reference`` chooses which mean drop ranks (against original or the control).
    """
    key = parse_sort_key(key)
    reference = parse_reference(reference)
    other = SortKey.ORIGINAL_ACCURACY if key is SortKey.MEAN_DROP else SortKey.MEAN_DROP
    ordered = sorted(entries, key=lambda e: (_sort_value(e, key, reference), _sort_value(e, other, reference), e.label))
    ranked: list[tuple[int, Entry]] = []
    for position, e in enumerate(ordered, start=1):
        if ranked and _sort_value(ranked[-1][1], key, reference) == _sort_value(e, key, reference):
            ranked.append((ranked[-1][0], e))
        else:
            ranked.append((position, e))
    return ranked


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)


def matches_search(e: Entry, query: str) -> bool:
    """Case-insensitive match of every whitespace-separated term against model id, label and loader."""
    haystack = f"{e.label} {e.model_id} {e.loader}".lower()
    return all(term in haystack for term in query.lower().split())


@dataclass(frozen=True)
class TableView:
    """The filtered, ranked table: column names, rows, and which columns hold text."""

    columns: list[str]
    rows: list[list[Any]]

    @property
    def datatypes(self) -> list[str]:
        # Text columns are "str" so the browser shows submitted text verbatim, never as markup. A failure
        # level is a level's text ("0.05", "never"), not a number: a float formatter must not get it.
        return ["str" if c in TEXT_COLUMNS or c.endswith(FAILURE_SUFFIX) else "number" for c in self.columns]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def build_table(
    board: Board,
    *,
    key: BoardKey | None = None,
    reference: DropReference | str = DropReference.ORIGINAL,
    sort_by: SortKey | str = SortKey.MEAN_DROP,
    search: str = "",
    loaders: Sequence[str] | None = None,
    attributes: Sequence[Attribute | str] | None = None,
    subset_metric: SubsetMetric | str = SubsetMetric.ACCURACY,
    show_subsets: bool = True,
    show_details: bool = False,
) -> TableView:
    """The ranked table of one benchmark of ``board`` (``key``; default: the one with most entries).

    ``reference``: drops against ``original`` (the paper's) or the control subset. ``loaders``
    keeps only those loader types (``None`` = all); ``attributes`` chooses which attribute drop
    columns (and, with ``show_subsets``, which subsets' columns) appear (``None`` = all four).
    Percentages are rounded to 2 decimals; drops are percentage points. Ranks are computed over
    the whole benchmark before filtering, so a search doesn't renumber models.
    """
    metric = parse_subset_metric(subset_metric)
    reference = parse_reference(reference)
    entries = board.entries_for(key)
    chosen = [get_attribute(a) for a in (attributes if attributes is not None else board_attributes(board))]
    chosen = [a for a in edited_attributes() if a in chosen]
    # Only edited subsets get columns: the original's accuracy is its own column, and it has no
    # drop or flip rate.
    subset_names = [s.name for s in ALL_SUBSETS.values()
                    if s.attribute in chosen and (s.benchmark or any(s.name in e.configs for e in board.entries))]

    if reference is DropReference.CONTROL:
        subset_names = [n for n in subset_names if CONTROL_SUBSET is None or n != CONTROL_SUBSET.name]
    columns = [RANK_COLUMN, MODEL_COLUMN, mean_drop_column(reference), ORIGINAL_COLUMN]
    columns += [attribute_column(a, reference) for a in chosen]
    swept = [a for a in chosen if any(a.name in e.failure_point for e in entries)]
    columns += [failure_column(a) for a in swept]
    if show_subsets:
        columns += [subset_column(n, metric, reference) for n in subset_names]
    columns += ["Loader", "Revision", "Link"]
    if show_details:
        columns += ["Dataset revision", "Results file"]

    loader_set = set(loaders) if loaders is not None else None
    rows: list[list[Any]] = []
    for rank, e in rank_entries(entries, sort_by, reference):
        if loader_set is not None and e.loader not in loader_set:
            continue
        if search.strip() and not matches_search(e, search):
            continue
        subset_drops, attribute_drops_, mean = e.drops(reference)
        per_subset = subset_drops if metric is SubsetMetric.DROP else getattr(e, metric.value)
        row: list[Any] = [rank, e.label, _pct(mean), _pct(e.original_accuracy)]
        row += [_pct(attribute_drops_.get(a.name)) for a in chosen]
        row += [_failure_cell(e, a.name) for a in swept]
        if show_subsets:
            row += [_pct(per_subset.get(n)) for n in subset_names]
        row += [e.loader, e.model_revision or "", e.link or ""]
        if show_details:
            row += [e.dataset_revision or "", e.source]
        rows.append(row)
    return TableView(columns=columns, rows=rows)


def attribute_drops(board: Board, labels: Sequence[str],
                    reference: DropReference | str = DropReference.ORIGINAL) -> list[tuple[str, dict[str, float | None]]]:
    """``[(label, {attribute: drop in pp or None})]`` for the chosen models, in the given order."""
    reference = parse_reference(reference)
    out = []
    for label in labels:
        per_attribute = board.entry(label).drops(reference)[1]
        out.append((label, {a.name: _pct(per_attribute.get(a.name)) for a in board_attributes(board)}))
    return out


def default_source() -> str | None:
    """The results source a Space or ``imagenet-e leaderboard`` uses when none is given."""
    return os.environ.get("RESULTS_DIR") or os.environ.get("RESULTS_REPO") or None


def default_datasets() -> dict[str, str]:
    """``RESULTS_DATASETS="name=path;name2=path2"``: where local datasets named in results are
    (a Space reading Hub datasets needs none)."""
    out: dict[str, str] = {}
    for item in os.environ.get("RESULTS_DATASETS", "").split(";"):
        name, sep, where = item.strip().partition("=")
        if sep and name and where:
            out[name] = where
    return out
