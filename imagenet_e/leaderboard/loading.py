"""Loading a board: results files -> checked, recomputed documents -> :class:`~.board.Board`.

Each submission is checked alone (:func:`check_submission`) and any exception it raises makes it one
line in the "not ranked" list. Bounds (:mod:`.bounds`) run before any real work; submissions for a
benchmark other than the pinned one are never opened unless the owner lists other benchmarks.
Recomputation is cached by content (results bytes, predictions bytes, the board's settings and the
current revision of every dataset it reads), so a Refresh recomputes only new or changed files.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from imagenet_e.eval.dataset_labels import file_digest, folder_revision
from imagenet_e.eval.results_schema import validate_results

from .benchmark import BOARD_FILE, BenchmarkPin, find_board_yaml, own_benchmark_id
from .board import Board, SkippedFile, _reason, board_from_documents
from .bounds import DEFAULT_LIMITS, Limits, check_config_names, check_predictions_file, check_size, results_configs
from .columns import same_layout, valid_layout
from .identity import Provenance, hub_provenance
from .verify import DatasetResolver, predictions_for, verify_submission

VERIFICATION_SUFFIX = ".verification.json"
"""The board worker's record beside a results file it produced (see :mod:`.worker`)."""
SPOT_CHECK_SUFFIX = ".spotcheck.json"
"""The board worker's spot-check record beside a self-reported file (see :mod:`.spot_check`)."""

_CACHE_SIZE = 20_000
_CACHE: "OrderedDict[tuple, tuple[str, Any]]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_TRANSIENT = "cannot read the labels of"
"""The resolver's reason when a dataset could not be read: not cached, a later Refresh retries."""


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


def _as_resolver(datasets: DatasetResolver | Mapping[str, str] | None) -> DatasetResolver:
    if isinstance(datasets, DatasetResolver):
        return datasets
    return DatasetResolver(dict(datasets or {}))


def _other_benchmark(doc: Any, pin: BenchmarkPin | None) -> str | None:
    """The reason a file is for another benchmark than the pinned one (read from its text only)."""
    if pin is None:
        return None
    dataset = doc.get("dataset") if isinstance(doc, dict) else None
    if not isinstance(dataset, dict):
        return None  # the schema names the fault
    dataset_id, revision = dataset.get("id"), dataset.get("revision")
    if dataset_id != pin.dataset_id or (pin.revision is not None and revision != pin.revision):
        shown = f"{str(dataset_id)[:80]}@{str(revision)[:19]}"
        return f"results for another benchmark ({shown}); this board ranks {pin.describe()}"
    return None


def check_submission(path: Path, name: str, resolver: DatasetResolver, *, limits: Limits = DEFAULT_LIMITS,
                     pin: BenchmarkPin | None = None) -> dict[str, Any]:
    """The recomputed results document of one submission, or ``ValueError`` with the reason it is not
    ranked. Cheap checks first: sizes, the benchmark, configs, the predictions' footer."""
    check_size(path, limits.max_results_bytes, "the results file")
    doc = _read_json(path)
    other = _other_benchmark(doc, pin)
    if other and not (pin and pin.list_other_benchmarks):
        raise ValueError(other)
    dataset = doc.get("dataset") if isinstance(doc, dict) else None
    dataset_id = dataset.get("id") if isinstance(dataset, dict) else None
    revision = dataset.get("revision") if isinstance(dataset, dict) else None

    def dataset_configs() -> set[str]:
        return resolver.config_names(dataset_id, revision) if isinstance(dataset_id, str) else set()

    check_config_names(results_configs(doc), limits, dataset_configs, "the results file")
    if isinstance(dataset_id, str):
        resolver.locate(dataset_id)  # a dataset this board does not read: refused before the predictions
    predictions = predictions_for(path, doc if isinstance(doc, dict) else {})
    if predictions is not None:
        check_predictions_file(predictions, limits, dataset_configs)
    doc = validate_results(doc, source=name)
    n_bootstrap = pin.n_bootstrap if pin is not None and pin.n_bootstrap is not None else limits.n_bootstrap
    recomputed = verify_submission(doc, path, resolver, name=name, n_bootstrap=n_bootstrap)
    return _with_dataset_layout(recomputed, resolver)


def _with_dataset_layout(doc: dict[str, Any], resolver: DatasetResolver) -> dict[str, Any]:
    """``doc`` with the layout its dataset describes; ValueError when the file describes its configs
    otherwise (its columns, groups and sweeps would be the submitter's, not the dataset's)."""
    dataset = doc["dataset"]
    described = resolver.layout(dataset["id"], dataset.get("revision"), list(dataset["configs"]))
    if described is None:
        return doc
    given = dataset.get("layout")
    if given is not None and not (valid_layout(given, dataset["configs"]) and same_layout(given, described)):
        raise ValueError("its dataset.layout (each config's attribute, level, severity) differs from the "
                         "dataset's own description (imagenet_e.json)")
    return {**doc, "dataset": {**dataset, "layout": described}}


def _cache_key(path: Path, name: str, resolver_state: tuple, limits: Limits, pin: BenchmarkPin | None) -> tuple:
    predictions = sorted(path.parent.glob(path.name[: -len(".json")] + "*.parquet"))
    return (name, file_digest(path), tuple((p.name, file_digest(p)) for p in predictions), resolver_state, limits,
            pin)


def _resolver_state(resolver: DatasetResolver) -> tuple:
    """What the resolver reads, with each local folder's current content revision."""
    state = []
    for name, where in sorted(resolver.sources.items()):
        folder = Path(where).expanduser()
        state.append((name, where, folder_revision(folder) if folder.is_dir() else None))
    return tuple(state)


def _checked(path: Path, name: str, resolver: DatasetResolver, state: tuple, limits: Limits,
             pin: BenchmarkPin | None) -> tuple[str, Any]:
    """("ok", document) or ("refused", reason), from the cache when the same bytes were checked."""
    try:
        key = _cache_key(path, name, state, limits, pin)
    except OSError as exc:
        return "refused", _reason(exc, name)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    try:
        outcome: tuple[str, Any] = ("ok", check_submission(path, name, resolver, limits=limits, pin=pin))
    except RecursionError:
        outcome = ("refused", "nested too deeply to be a results file")
    except Exception as exc:  # noqa: BLE001 - any failure of one file is that file's reason, never the board's
        reason = _reason(exc, name)
        outcome = ("refused", reason if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {reason}")
    if outcome[0] == "refused" and _TRANSIENT in outcome[1]:
        return outcome  # the dataset could not be read (the Hub down?): try again on the next Refresh
    with _CACHE_LOCK:
        _CACHE[key] = outcome
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return outcome


def default_pin(resolver: DatasetResolver) -> BenchmarkPin | None:
    """A local board given exactly one ``--dataset`` ranks that dataset; otherwise nothing is pinned."""
    if len(resolver.sources) == 1:
        return BenchmarkPin(next(iter(resolver.sources)))
    return None


def load_board_dir(folder: str | Path, *, source: str | None = None,
                   datasets: DatasetResolver | Mapping[str, str] | None = None,
                   pin: BenchmarkPin | None = None, limits: Limits = DEFAULT_LIMITS,
                   provenance: Mapping[str, Provenance] | None = None, rank_unpinned: bool = True) -> Board:
    """Read every ``*.json`` under ``folder`` (recursively, in path order), check and recompute each
    from its predictions against its dataset's labels (``datasets`` maps local dataset names to
    folders: the only folders the board reads), and build the board; submissions that fail are
    listed with the reason. ``pin``: the benchmark ranked (default: ``board.yaml`` in ``folder``,
    else the one ``--dataset`` when exactly one is given). ``rank_unpinned=False``: with no pin, nothing
    is ranked and each benchmark found is listed as unpinned (:meth:`Board.unpinned_keys`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder not found: {folder}")
    resolver = _as_resolver(datasets)
    pin = pin or find_board_yaml(folder) or default_pin(resolver)
    state = _resolver_state(resolver)
    docs: list[tuple[str, Any]] = []
    refused: list[SkippedFile] = []
    verifications: dict[str, dict[str, Any]] = {}
    spot_checks: dict[str, dict[str, Any]] = {}
    for path in _submission_files(folder, resolver):
        name = path.relative_to(folder).as_posix()
        status, value = _checked(path, name, resolver, state, limits, pin)
        if status == "ok":
            docs.append((name, value))
            trusted = trusted_workers(pin, source)
            for suffix, found in ((VERIFICATION_SUFFIX, verifications), (SPOT_CHECK_SUFFIX, spot_checks)):
                record = _worker_record(path, name, suffix, provenance, trusted)
                if record is not None:
                    found[name] = record
        else:
            refused.append(SkippedFile(name, value))
    board = board_from_documents(docs, source=source or str(folder), skipped=refused, validated=True,
                                 provenance=provenance, pin=pin, verifications=verifications,
                                 spot_checks=spot_checks, rank_unpinned=rank_unpinned)
    return _with_pinned_description(board, resolver)


def _with_pinned_description(board: Board, resolver: DatasetResolver) -> Board:
    """The board with its pinned dataset's description (read through the resolver that checked the rows,
    so the layout checks and the About tab share one read), or the reason it could not be read."""
    if board.pin is None:
        return board
    try:
        return replace(board, pinned_description=resolver.description(board.pin.dataset_id, board.pin.revision))
    except ValueError as exc:  # e.g. a dataset the board was not given: the board stays up, the About says so
        return replace(board, pinned_description_error=str(exc))


def _submission_files(folder: Path, datasets: DatasetResolver) -> list[Path]:
    # A --dataset folder inside the results folder holds the dataset's own JSON (its description,
    # protocol.json), not submissions: the demo writes its results beside its dataset/, and the README
    # serves that folder. Only folders the owner named count, never one a submission could plant.
    given = [Path(source).expanduser().resolve() for source in datasets.sources.values()]
    inside = [d for d in given if d.is_dir()]
    return [p for p in sorted(folder.rglob("*.json"))
            # .cache/ of hub downloads and other hidden files, and the worker's records, are not submissions
            if not any(part.startswith(".") for part in p.relative_to(folder).parts)
            and not p.name.endswith((VERIFICATION_SUFFIX, SPOT_CHECK_SUFFIX))
            and not (inside and any(d in p.resolve().parents for d in inside))]


def trusted_workers(pin: BenchmarkPin | None, source: str | None) -> set[str] | None:
    """Accounts whose verification records count: board.yaml's ``workers``, else the results repo's
    namespace (its owner); None for a local folder (the owner's own disk)."""
    if pin is not None and pin.workers is not None:
        return set(pin.workers)
    if source and looks_like_repo_id(source) and not Path(source).expanduser().exists():
        return {source.split("/", 1)[0]}
    return None


def _worker_record(path: Path, name: str, suffix: str, provenance: Mapping[str, Provenance] | None,
                   trusted: set[str] | None) -> dict[str, Any] | None:
    """The worker's record (``suffix``) of ``path`` when it is there, names these exact bytes, and (on
    the Hub) was committed by a trusted worker account; else None."""
    sidecar = path.with_name(path.name[: -len(".json")] + suffix)
    if not sidecar.is_file() or sidecar.stat().st_size > 100_000:
        return None
    try:
        record = json.loads(sidecar.read_text("utf-8"))
    except (ValueError, OSError):
        return None
    if not isinstance(record, dict) or record.get("results_sha256") != file_digest(path):
        return None
    if provenance is not None:
        sidecar_name = name[: -len(".json")] + suffix
        author = getattr(provenance.get(sidecar_name), "submitter", None)
        if trusted is None or author not in trusted:
            return None
    return record


def looks_like_repo_id(value: str) -> bool:
    """``namespace/name`` as the Hub spells repo ids."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*", value) is not None


def fetch_results(source: str, *, revision: str | None = None, token: str | bool | None = None) -> Path:
    """Return a local folder of results files: ``source`` itself if it is a folder, else a
    snapshot of the Hub dataset repo ``source`` (results, predictions and ``board.yaml`` only)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if not looks_like_repo_id(source):
        raise FileNotFoundError(f"results source {source!r} is neither a folder nor a Hub dataset repo id (ns/name)")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=source, repo_type="dataset", revision=revision,
                                  allow_patterns=["*.json", "*.parquet", BOARD_FILE], token=token))


def _pin_at_current_revision(pin: BenchmarkPin | None, resolver: DatasetResolver,
                             token: str | bool | None) -> BenchmarkPin | None:
    """A Hub dataset pinned without a revision is pinned to its commit now (never a moving branch)."""
    if pin is None or pin.revision is not None or pin.dataset_id in resolver.sources \
            or not looks_like_repo_id(pin.dataset_id):
        return pin
    from huggingface_hub import HfApi

    return replace(pin, revision=HfApi(token=token).dataset_info(pin.dataset_id).sha)


def load_board(source: str, *, revision: str | None = None, token: str | bool | None = None,
               datasets: DatasetResolver | Mapping[str, str] | None = None, pin: BenchmarkPin | None = None,
               limits: Limits = DEFAULT_LIMITS, own_dataset: str | None = None) -> Board:
    """Load a board from a results folder or a Hub dataset repo id (results with their predictions).

    From the Hub, each row's submitter and date are those of the commit that wrote its file, and the
    benchmark ranked is ``pin``, else the repo's ``board.yaml``, else the project's own benchmark
    (``own_dataset``, default :func:`~.benchmark.own_benchmark_id`); with none of them nothing is
    ranked: a copy of the dataset with more forged entries than the real one must not become the board."""
    folder = fetch_results(source, revision=revision, token=token)
    resolver = _as_resolver(datasets)
    provenance = None
    from_hub = not Path(source).expanduser().is_dir()
    if from_hub:
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.json")
                       if not any(part.startswith(".") for part in p.relative_to(folder).parts))  # sidecars too
        provenance = hub_provenance(source, names, revision=revision, token=token) if names else {}
    pin = pin or find_board_yaml(folder)
    if pin is None and from_hub:
        own = own_dataset or own_benchmark_id()
        pin = BenchmarkPin(own) if own else None
    pin = _pin_at_current_revision(pin, resolver, token)
    return load_board_dir(folder, source=source, datasets=resolver, pin=pin, limits=limits, provenance=provenance,
                          rank_unpinned=not from_hub)
