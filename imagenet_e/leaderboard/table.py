"""Results files -> a ranked leaderboard table.

Everything the board shows comes from results files that passed
:func:`imagenet_e.eval.results_schema.validate_results`; a file that fails is kept out of the table
and reported (name + reason) instead of taking the board down. Subset and attribute names come
from :mod:`imagenet_e_dataset.registry`. Text from submissions (model ids, links) is carried as
plain strings; the app is responsible for showing it as text.
"""

from __future__ import annotations

import enum
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from imagenet_e_dataset.registry import ALL_SUBSETS, EDITED_ATTRIBUTES, ORIGINAL_CONFIG, Attribute, edited_attributes, get_attribute
from imagenet_e.eval.results_schema import validate_results


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

    @property
    def original_accuracy(self) -> float | None:
        return self.accuracy.get(ORIGINAL_CONFIG)

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
            configs=tuple(name for name in ALL_SUBSETS if name in dataset["configs"]),
            accuracy=dict(metrics["accuracy"]),
            accuracy_drop=dict(metrics["accuracy_drop"]),
            flip_rate=dict(metrics["flip_rate"]),
            attribute_drop=dict(metrics["attribute_drop"]),
            mean_drop=float(metrics["mean_drop"]),
            label=model["id"],
        )


@dataclass(frozen=True)
class SkippedFile:
    """A results file that could not be shown, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Board:
    """All entries of one results source plus the files that were refused."""

    source: str
    entries: tuple[Entry, ...]
    skipped: tuple[SkippedFile, ...] = ()

    @property
    def loaders(self) -> list[str]:
        return sorted({e.loader for e in self.entries})

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
    return (e.model_id, e.model_revision, e.loader, e.dataset_id, e.dataset_revision)


def board_from_documents(docs: Iterable[tuple[str, Any]], *, source: str = "results") -> Board:
    """Validate ``(name, parsed JSON)`` pairs and build a board; refused documents go to ``skipped``.

    When two files describe the same run identity (model, revisions, loader, dataset) the newest
    ``created_at`` wins and the older file is reported as superseded, so re-submissions don't
    produce duplicate rows.
    """
    entries: dict[tuple, Entry] = {}
    skipped: list[SkippedFile] = []
    for name, doc in docs:
        try:
            validate_results(doc, source=name)
            entry = Entry.from_results(doc, name)
        except RecursionError:
            skipped.append(SkippedFile(name, "nested too deeply to be a results file"))
            continue
        except ValueError as exc:
            reason = str(exc)
            prefix = f"{name}: "
            reason = reason[len(prefix):] if reason.startswith(prefix) else reason
            # The schema's message quotes the offending value, which a hostile file makes megabytes long.
            skipped.append(SkippedFile(name, reason if len(reason) <= 300 else reason[:297] + "..."))
            continue
        key = _identity(entry)
        previous = entries.get(key)
        if previous is not None:
            older, newer = sorted((previous, entry), key=lambda e: (e.created_at, e.source))
            skipped.append(SkippedFile(older.source, f"superseded by the newer results file {newer.source}"))
            entry = newer
        entries[key] = entry
    return Board(source=source, entries=_with_unique_labels(list(entries.values())), skipped=tuple(skipped))


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


def load_board_dir(folder: str | Path, *, source: str | None = None) -> Board:
    """Read every ``*.json`` under ``folder`` (recursively, in path order) into a board."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder not found: {folder}")
    docs: list[tuple[str, Any]] = []
    unreadable: list[SkippedFile] = []
    for path in sorted(folder.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # .cache/ of hub downloads and other hidden files are not submissions
        name = path.relative_to(folder).as_posix()
        try:
            docs.append((name, _read_json(path)))
        except (ValueError, OSError) as exc:
            unreadable.append(SkippedFile(name, str(exc)))
    board = board_from_documents(docs, source=source or str(folder))
    return Board(board.source, board.entries, tuple(unreadable) + board.skipped)


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
                                  allow_patterns=["*.json"], token=token))


def load_board(source: str, *, revision: str | None = None, token: str | bool | None = None) -> Board:
    """Load a board from a results folder or a Hub dataset repo id."""
    return load_board_dir(fetch_results(source, revision=revision, token=token), source=source)


# ----------------------------------------------------------------------------------------------
# The table

RANK_COLUMN = "Rank"
MODEL_COLUMN = "Model"
MEAN_DROP_COLUMN = "Mean drop (pp)"
ORIGINAL_COLUMN = "Original acc. (%)"
TEXT_COLUMNS = (MODEL_COLUMN, "Revision", "Loader", "Dataset revision", "Link", "Results file")


def attribute_column(attribute: Attribute | str) -> str:
    return f"{get_attribute(attribute).name} drop (pp)"


def board_attributes(board: "Board") -> list[Attribute]:
    """The edited attributes that at least one entry on the board has a drop for, in registry order
    (those of the ImageNet-E configs while the board is empty)."""
    present = [a for a in edited_attributes() if any(a.name in e.attribute_drop for e in board.entries)]
    return present or list(EDITED_ATTRIBUTES)


def subset_column(name: str, metric: SubsetMetric) -> str:
    return f"{name} {metric.label} ({'%' if metric is not SubsetMetric.DROP else 'pp'})"


def _sort_value(e: Entry, key: SortKey) -> float:
    if key is SortKey.MEAN_DROP:
        return e.mean_drop
    acc = e.original_accuracy
    # Descending accuracy = ascending negative; a file without an original row ranks last.
    return -acc if acc is not None else math.inf


def rank_entries(entries: Sequence[Entry], key: SortKey | str) -> list[tuple[int, Entry]]:
    """Sort entries and number them with competition ranking (ties share a rank: 1, 1, 3).

    Ties on the ranking key are ordered by the other key, then by model label, so the order is
    deterministic.
    """
    key = parse_sort_key(key)
    other = SortKey.ORIGINAL_ACCURACY if key is SortKey.MEAN_DROP else SortKey.MEAN_DROP
    ordered = sorted(entries, key=lambda e: (_sort_value(e, key), _sort_value(e, other), e.label))
    ranked: list[tuple[int, Entry]] = []
    for position, e in enumerate(ordered, start=1):
        if ranked and _sort_value(ranked[-1][1], key) == _sort_value(e, key):
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
        # Text columns are "str" so the browser shows submitted text verbatim, never as markup.
        return ["str" if c in TEXT_COLUMNS else "number" for c in self.columns]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def build_table(
    board: Board,
    *,
    sort_by: SortKey | str = SortKey.MEAN_DROP,
    search: str = "",
    loaders: Sequence[str] | None = None,
    attributes: Sequence[Attribute | str] | None = None,
    subset_metric: SubsetMetric | str = SubsetMetric.ACCURACY,
    show_subsets: bool = True,
    show_details: bool = False,
) -> TableView:
    """The ranked table for ``board``.

    ``loaders`` keeps only those loader types (``None`` = all); ``attributes`` chooses which
    attribute drop columns (and, with ``show_subsets``, which subsets' columns) appear
    (``None`` = every attribute the board's entries have). Percentages are rounded to 2 decimals; drops are percentage points.
    Ranks are computed over the whole board before filtering, so a search doesn't renumber models.
    """
    metric = parse_subset_metric(subset_metric)
    chosen = [get_attribute(a) for a in (attributes if attributes is not None else board_attributes(board))]
    chosen = [a for a in edited_attributes() if a in chosen]
    # Only edited subsets get columns: the original's accuracy is its own column, and it has no
    # drop or flip rate.
    subset_names = [s.name for s in ALL_SUBSETS.values() if s.attribute in chosen and (s.benchmark or any(s.name in e.configs for e in board.entries))]

    columns = [RANK_COLUMN, MODEL_COLUMN, MEAN_DROP_COLUMN, ORIGINAL_COLUMN]
    columns += [attribute_column(a) for a in chosen]
    if show_subsets:
        columns += [subset_column(n, metric) for n in subset_names]
    columns += ["Loader", "Revision", "Link"]
    if show_details:
        columns += ["Dataset revision", "Results file"]

    loader_set = set(loaders) if loaders is not None else None
    rows: list[list[Any]] = []
    for rank, e in rank_entries(board.entries, sort_by):
        if loader_set is not None and e.loader not in loader_set:
            continue
        if search.strip() and not matches_search(e, search):
            continue
        per_subset = getattr(e, metric.value)
        row: list[Any] = [rank, e.label, _pct(e.mean_drop), _pct(e.original_accuracy)]
        row += [_pct(e.attribute_drop.get(a.value)) for a in chosen]
        if show_subsets:
            row += [_pct(per_subset.get(n)) for n in subset_names]
        row += [e.loader, e.model_revision or "", e.link or ""]
        if show_details:
            row += [e.dataset_revision or "", e.source]
        rows.append(row)
    return TableView(columns=columns, rows=rows)


def attribute_drops(board: Board, labels: Sequence[str]) -> list[tuple[str, dict[str, float | None]]]:
    """``[(label, {attribute: drop in pp or None})]`` for the chosen models, in the given order."""
    out = []
    for label in labels:
        e = board.entry(label)
        out.append((label, {a.name: _pct(e.attribute_drop.get(a.name)) for a in board_attributes(board)}))
    return out


def default_source() -> str | None:
    """The results source a Space or ``imagenet-e leaderboard`` uses when none is given."""
    return os.environ.get("RESULTS_DIR") or os.environ.get("RESULTS_REPO") or None
