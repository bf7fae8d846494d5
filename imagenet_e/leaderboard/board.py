"""The board's data: one :class:`Entry` per ranked results file, grouped by :class:`BoardKey`.

One bad file is one bad file: :func:`board_from_documents` turns any exception while reading one
submission into a :class:`SkippedFile` with a one-line reason, and the other rows stay. Which
benchmark is shown is the owner's choice (:class:`~.benchmark.BenchmarkPin`), never a count of
files; who added a file and when comes from the Hub (:mod:`.identity`), not from the file.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from imagenet_e_dataset.description import DatasetDescription
from imagenet_e_dataset.label_space import own_classes_note
from imagenet_e_dataset.registry import ALL_SUBSETS, ORIGINAL_CONFIG
from imagenet_e.eval.results_schema import validate_results
from imagenet_e_metric.core import CONTROL_SUBSET

from imagenet_e.eval.config_layout import ConfigView

from .benchmark import BenchmarkPin
from .columns import entry_views
from .identity import Provenance, confusable_flags, display_name


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
    submitter: str | None = None
    """Who put the file on the board: the author of the commit that added it (None: not known)."""
    added_at: str | None = None
    """When the file was added (that commit's date); the file's own ``created_at`` is not trusted."""
    via_pr: int | None = None
    """The pull request the file was merged through; with ``submitter`` None the Hub could not tell
    who opened it, and the row never supersedes (nor is superseded by) another."""
    flag: str = ""
    """Why a reader should look twice (a name confusable with another row's, mixed scripts)."""
    verification: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    """The board worker's record when the board evaluated the model itself; None: self-reported."""

    views: tuple[ConfigView, ...] = field(default=(), hash=False, compare=False)
    """Its configs as the dataset describes them (attribute, level, severity), in the dataset's order."""

    spot_check: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    """The worker's re-run of a seeded sample of a self-reported file's model, when there is one."""

    @property
    def verified(self) -> bool:
        return self.verification is not None

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
            configs=_ordered_configs(dataset["configs"]),
            accuracy=dict(metrics["accuracy"]),
            accuracy_drop=dict(metrics["accuracy_drop"]),
            flip_rate=dict(metrics["flip_rate"]),
            attribute_drop=dict(metrics["attribute_drop"]),
            mean_drop=float(metrics["mean_drop"]),
            label=display_name(model["id"]),
            # The dataset's editing protocol, the evaluation protocol and a label space of its own: never mixed.
            protocol=" / ".join(str(p) for p in (dataset.get("protocol"), doc.get("protocol"),
                                                 own_classes_note(dataset.get("label_space"))) if p),
            n_images=int(doc["counts"].get(ORIGINAL_CONFIG, 0)),
            control_drop=dict(metrics.get("control_drop", {})),
            control_attribute_drop=dict(metrics.get("control_attribute_drop", {})),
            control_mean_drop=metrics.get("control_mean_drop"),
            failure_point={a: sweep["failure"]["median_level"] for a, sweep in (metrics.get("sweeps") or {}).items()},
            views=entry_views(dataset),
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
    pin: BenchmarkPin | None = None
    """The benchmark the owner pinned (``board.yaml`` / ``--benchmark``); None: not pinned."""
    rank_unpinned: bool = True
    """With no pin, whether the benchmarks found are ranked (a local folder: the owner's own files) or
    only listed as unpinned (a Hub board: anyone can push a dataset copy and forged files)."""
    pinned_description: DatasetDescription | None = None
    """The pinned dataset's own description (its configs, attributes, label space): what the About tab
    shows. None when nothing is pinned or it could not be read (``pinned_description_error`` says why)."""
    pinned_description_error: str | None = None

    @property
    def loaders(self) -> list[str]:
        return sorted({e.loader for e in self.entries})

    def keys(self) -> list[BoardKey]:
        """The benchmarks shown: the pinned one(s) first; others only when the owner lists them (or
        nothing is pinned). Never ordered by how many files a benchmark has: that is a vote anyone
        with two forged files can win."""
        present = {e.key for e in self.entries}
        if self.pin is None:
            return sorted(present, key=_key_order) if self.rank_unpinned else []
        pinned = sorted((k for k in present if self.is_pinned(k)), key=_key_order)
        others = sorted((k for k in present if not self.is_pinned(k)), key=_key_order)
        return pinned + (others if self.pin.list_other_benchmarks else [])

    def unpinned_keys(self) -> list[BoardKey]:
        """The benchmarks found that nothing pinned and that are therefore not ranked (a Hub board with
        no ``board.yaml`` and no own benchmark configured): each is listed for its owner to pin."""
        if self.pin is not None or self.rank_unpinned:
            return []
        return sorted({e.key for e in self.entries}, key=_key_order)

    def is_pinned(self, key: BoardKey) -> bool:
        return self.pin is not None and self.pin.matches(key.dataset_id, key.dataset_revision, key.protocol,
                                                         key.configs)

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


def _identity(e: Entry) -> tuple:
    return (e.model_id, e.model_revision, e.loader, e.dataset_id, e.dataset_revision, e.protocol, e.configs,
            e.verified)


def _reason(exc: Exception, name: str) -> str:
    reason = str(exc)
    prefix = f"{name}: "
    reason = reason[len(prefix):] if reason.startswith(prefix) else reason
    # The schema's message quotes the offending value, which a hostile file makes megabytes long.
    return reason if len(reason) <= 300 else reason[:297] + "..."


def _supersedes(newer: Entry, older: Entry) -> bool:
    """A re-submission replaces an earlier file only when the Hub says both came from the same
    submitter; the order is the Hub's (commit dates), never the files' own ``created_at``."""
    return (newer.submitter is not None and newer.submitter == older.submitter
            and (newer.added_at or "", newer.source) > (older.added_at or "", older.source))


def board_from_documents(docs: Iterable[tuple[str, Any]], *, source: str = "results",
                         skipped: Iterable[SkippedFile] = (), validated: bool = False,
                         provenance: Mapping[str, Provenance] | None = None,
                         pin: BenchmarkPin | None = None,
                         verifications: Mapping[str, dict[str, Any]] | None = None,
                         spot_checks: Mapping[str, dict[str, Any]] | None = None,
                         rank_unpinned: bool = True) -> Board:
    """A board from ``(name, results document)`` pairs that were recomputed from their predictions
    (:func:`imagenet_e.leaderboard.loading.load_board_dir` does that); documents failing the schema
    go to ``skipped``.

    ``provenance`` ({name: who added it, when}, from the results repo's commits) sets each row's
    submitter and date. When two files describe the same run identity (model, revisions, loader,
    benchmark) and the same submitter, the one added later wins and the other is reported as
    superseded; from different (or unknown) submitters both are listed.
    """
    provenance = provenance or {}
    entries: list[Entry] = []
    refused: list[SkippedFile] = list(skipped)
    for name, doc in docs:
        try:
            if not validated:
                validate_results(doc, source=name)
            entry = Entry.from_results(doc, name)
        except RecursionError:
            refused.append(SkippedFile(name, "nested too deeply to be a results file"))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file is one bad file, whatever it raises
            refused.append(SkippedFile(name, _reason(exc, name)))
            continue
        known = provenance.get(name)
        if known is not None:
            entry = replace(entry, submitter=known.submitter, added_at=known.date, via_pr=known.via_pr)
        if verifications and name in verifications:
            record = verifications[name]
            # A verified row's submitter and date are the request's (the commit is the worker's).
            entry = replace(entry, verification=record, submitter=record.get("requested_by") or entry.submitter,
                            added_at=record.get("requested_at") or entry.added_at)
        elif spot_checks and name in spot_checks:
            entry = replace(entry, spot_check=spot_checks[name])
        same = [e for e in entries if _identity(e) == _identity(entry) and e.submitter == entry.submitter
                and entry.submitter is not None]
        if same:
            previous = same[0]
            newer, older = (entry, previous) if _supersedes(entry, previous) else (previous, entry)
            refused.append(SkippedFile(older.source, f"superseded by the newer results file {newer.source} "
                                                     f"(same submitter {newer.submitter})"))
            entries = [e for e in entries if e is not previous] + [newer]
            continue
        entries.append(entry)
    return Board(source=source, entries=_with_unique_labels(entries), skipped=tuple(refused), pin=pin,
                 rank_unpinned=rank_unpinned)


def _with_unique_labels(entries: list[Entry]) -> tuple[Entry, ...]:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.label] = counts.get(e.label, 0) + 1
    flags = confusable_flags(e.label for e in entries)
    out: list[Entry] = []
    seen: dict[str, int] = {}
    for e in sorted(entries, key=lambda e: (e.label, e.model_revision or "", e.dataset_revision or "", e.source)):
        label = e.label
        if counts[e.label] > 1:
            details = [f"rev {e.model_revision[:12]}" if e.model_revision else None,
                       f"data {e.dataset_revision[:12]}" if e.dataset_revision else None,
                       e.loader, f"by {e.submitter}" if e.submitter else
                       f"via PR #{e.via_pr}" if e.via_pr is not None else None]
            label = f"{e.label} ({', '.join(d for d in details if d)})"
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        flag = flags.get(e.label, "")
        if flag:
            label = f"{label} ⚠"  # a look-alike never shows as a plain second row of the same visible name
        out.append(replace(e, label=label, flag=flag))
    return tuple(out)


def _key_order(key: BoardKey) -> tuple:
    # The fullest config set first, then by name: deterministic, and no submission can move it.
    return (-len(key.configs), key.label())


def _ordered_configs(names: Iterable[str]) -> tuple[str, ...]:
    """Config names in registry order, aliases spelled as config names, without registering anything."""
    aliases = {s.alias: s.name for s in ALL_SUBSETS.values() if s.alias}
    wanted = {aliases.get(n, n) for n in names}
    known = [n for n in ALL_SUBSETS if n in wanted]
    return tuple(known + sorted(wanted - set(known)))
