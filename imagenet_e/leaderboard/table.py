"""Submissions -> ranked leaderboard tables, one per benchmark.

Everything the board shows is recomputed from each submission's per-image predictions against
the labels of the dataset revision it names (:mod:`.verify`, via :mod:`.loading`); a submission
that fails any check is not ranked and is reported (name + reason) instead of taking the board
down. Results are ranked only against results of the same benchmark: one :class:`BoardKey` =
dataset id + revision + protocol + config set, each its own table, the owner's pinned one first
(:mod:`.benchmark`). Drops are shown against ``original`` (the paper's) or against the control
subset (:class:`DropReference`). Subset columns, attribute groups and sweep failure levels come
from the dataset's own description (:mod:`.columns`), so a plug-in's configs show without the
plug-in. Text from submissions (model ids, links) is carried as plain
strings; the app is responsible for showing it as text.
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

from imagenet_e_dataset.registry import EDITED_ATTRIBUTES, Attribute
from imagenet_e_metric.core import CONTROL_SUBSET

from .board import (  # noqa: F401 - the board's data types are part of this module's public API
    Board, BoardKey, DropReference, Entry, SkippedFile, board_from_documents, parse_reference, safe_link,
)
from .columns import attribute_order, ordered_views
from .spot_check import describe as describe_spot_check
from .loading import fetch_results, load_board, load_board_dir, looks_like_repo_id  # noqa: F401

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


class RowKind(str, enum.Enum):
    """Which rows a table shows: never both interleaved."""

    VERIFIED = "verified"
    """Models the board evaluated itself (its worker's record beside the results)."""
    SELF_REPORTED = "self-reported"
    """Prediction files uploaded by their authors (checked against the dataset, but the predictions are theirs)."""


def parse_row_kind(value: str | RowKind) -> RowKind:
    for kind in RowKind:
        if value in (kind, kind.value):
            return kind
    raise ValueError(f"unknown row kind {value!r}; valid: {', '.join(k.value for k in RowKind)}")


def default_row_kind(entries: Sequence[Entry]) -> RowKind:
    """Verified rows when there are any, else the self-reported ones."""
    return RowKind.VERIFIED if any(e.verified for e in entries) else RowKind.SELF_REPORTED


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


# ----------------------------------------------------------------------------------------------
# The table

RANK_COLUMN = "Rank"
MODEL_COLUMN = "Model"
MEAN_DROP_COLUMN = "Mean drop (pp)"
ORIGINAL_COLUMN = "Original acc. (%)"
NOTES_COLUMN = "Notes"
TEXT_COLUMNS = (MODEL_COLUMN, "Revision", "Loader", "Dataset revision", "Link", "Results file", NOTES_COLUMN,
                "Submitted by", "Added")


def _versus(reference: DropReference) -> str:
    return "" if reference is DropReference.ORIGINAL else f" vs {CONTROL_SUBSET.name if CONTROL_SUBSET else 'control'}"


def mean_drop_column(reference: DropReference | str = DropReference.ORIGINAL) -> str:
    reference = parse_reference(reference)
    return MEAN_DROP_COLUMN if reference is DropReference.ORIGINAL else f"Mean drop{_versus(reference)} (pp)"


def _attribute_name(attribute: Attribute | str) -> str:
    # Attribute names come from the dataset's description: a plug-in's need not be registered here.
    return attribute.name if isinstance(attribute, Attribute) else str(attribute)


def attribute_column(attribute: Attribute | str, reference: DropReference | str = DropReference.ORIGINAL) -> str:
    return f"{_attribute_name(attribute)} drop{_versus(parse_reference(reference))} (pp)"


FAILURE_SUFFIX = " median failure level"


def failure_column(attribute: Attribute | str) -> str:
    return f"{_attribute_name(attribute)}{FAILURE_SUFFIX}"


def _failure_cell(e: "Entry", attribute: str) -> str:
    if attribute not in e.failure_point:
        return ""
    level = e.failure_point[attribute]
    return "never" if level is None else level


def board_attributes(board: "Board", entries: Sequence[Entry] | None = None) -> list[str]:
    """The edited attributes that at least one of ``entries`` (default: the board's) has a drop for, in
    the datasets' attribute order (those of the ImageNet-E configs while there is no entry)."""
    entries = board.entries if entries is None else entries
    if not entries:
        return [a.name for a in EDITED_ATTRIBUTES]
    return [a for a in attribute_order(v for e in entries for v in e.views)
            if any(a in e.attribute_drop for e in entries)]


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


def entry_notes(e: Entry) -> str:
    """What a reader should know about a row beyond its numbers: who produced it, a confusable name."""
    if e.verification is not None:
        notes = [f"✔ verified by {e.verification.get('worker', 'the board')}"]
    else:
        notes = ["self-reported"]
        if e.spot_check is not None:
            notes.append(describe_spot_check(e.spot_check))
    if e.via_pr is not None:
        notes.append(f"via PR #{e.via_pr}" + ("" if e.submitter else " (submitter unknown)"))
    if e.flag:
        notes.append(f"⚠ name {e.flag}")
    return " · ".join(notes)


def submitted_by(e: Entry) -> str:
    """Who added the row, as the Hub tells it; "via PR #n" when it came through a PR whose author is unknown."""
    if e.submitter:
        return e.submitter
    return f"via PR #{e.via_pr}" if e.via_pr is not None else ""


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
    rows: RowKind | str | None = None,
) -> TableView:
    """The ranked table of one benchmark of ``board`` (``key``; default: the one with most entries).

    ``reference``: drops against ``original`` (the paper's) or the control subset. ``loaders``
    keeps only those loader types (``None`` = all); ``attributes`` chooses which attribute drop
    columns (and, with ``show_subsets``, which subsets' columns) appear (``None`` = all four).
    Percentages are rounded to 2 decimals; drops are percentage points. Ranks are computed over
    the whole benchmark before filtering, so a search doesn't renumber models. ``rows``: verified
    or self-reported rows, never both (default: verified when the benchmark has any).
    """
    metric = parse_subset_metric(subset_metric)
    reference = parse_reference(reference)
    benchmark = board.entries_for(key)
    kind = parse_row_kind(rows) if rows is not None else default_row_kind(benchmark)
    entries = tuple(e for e in benchmark if e.verified == (kind is RowKind.VERIFIED))
    wanted = None if attributes is None else {_attribute_name(a) for a in attributes}
    chosen = [a for a in board_attributes(board, benchmark) if wanted is None or a in wanted]
    # Only edited configs get columns, in the dataset's order (attribute, then severity): the
    # original's accuracy is its own column, and it has no drop or flip rate.
    subset_names = [v.name for v in ordered_views(e.views for e in benchmark)
                    if not v.is_original and v.attribute in chosen]

    if reference is DropReference.CONTROL:
        subset_names = [n for n in subset_names if CONTROL_SUBSET is None or n != CONTROL_SUBSET.name]
    columns = [RANK_COLUMN, MODEL_COLUMN, mean_drop_column(reference), ORIGINAL_COLUMN]
    columns += [attribute_column(a, reference) for a in chosen]
    swept = [a for a in chosen if any(a in e.failure_point for e in benchmark)]
    columns += [failure_column(a) for a in swept]  # "never" included: a level's text, not a number
    if show_subsets:
        columns += [subset_column(n, metric, reference) for n in subset_names]
    columns += ["Loader", "Revision", "Link", NOTES_COLUMN]
    if show_details:
        columns += ["Dataset revision", "Results file", "Submitted by", "Added"]

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
        row += [_pct(attribute_drops_.get(a)) for a in chosen]
        row += [_failure_cell(e, a) for a in swept]
        if show_subsets:
            row += [_pct(per_subset.get(n)) for n in subset_names]
        row += [e.loader, e.model_revision or "", e.link or "", entry_notes(e)]
        if show_details:
            row += [e.dataset_revision or "", e.source, submitted_by(e), e.added_at or ""]
        rows.append(row)
    return TableView(columns=columns, rows=rows)


def attribute_drops(board: Board, labels: Sequence[str],
                    reference: DropReference | str = DropReference.ORIGINAL) -> list[tuple[str, dict[str, float | None]]]:
    """``[(label, {attribute: drop in pp or None})]`` for the chosen models, in the given order."""
    reference = parse_reference(reference)
    out = []
    for label in labels:
        per_attribute = board.entry(label).drops(reference)[1]
        out.append((label, {a: _pct(per_attribute.get(a)) for a in board_attributes(board)}))
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
