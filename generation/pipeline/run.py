"""One invocation of ``imagenet-e generate``: this process's share of the chunks, then (when this process
merges) the wait for the other ranks, the merge and the optional push.

Shards are processes under ``torchrun``/``accelerate launch`` (``RANK``/``WORLD_SIZE``) or jobs of an
array (``--num-shards/--shard-index``); a restart with the same arguments skips committed chunks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from imagenet_e_dataset.jsonsafe import canonical_json, to_jsonable

from imagenet_e_dataset.output_folder import OutputKind, check_no_overlap, check_output_folder, read_marker

from imagenet_e_dataset.label_space import LabelSpace

from ..sources import Selection, discover_sources, select_sources
from .chunks import PROGRESS_BAR_FORMAT, ChunkGenerator
from .fingerprint import CACHE_NAME, HashCache, InputDigests, compute_digests
from .merge import merge_chunks
from .settings import GenerateSettings, Inputs, Placement
from .work import WorkFolder, chunk_ranges, sha256_hex, shard_chunks, work_dir_for

logger = logging.getLogger(__name__)
COMMAND = "generate"


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
    mask_warnings: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Source id -> the warnings its mask raised (:func:`generation.masks.mask_warnings`); also in the manifest."""


def prepare_selection(inputs: Inputs, settings: GenerateSettings, work: WorkFolder | None = None,
                      placement: Placement = Placement()) -> Selection:
    """The selected sources and the run's label space, from whichever source the inputs name.

    A Hub dataset is staged into ``work`` first (see :mod:`generation.source_hub`).
    """
    if inputs.masks is None and settings.auto_mask is None:
        raise ValueError("give --masks DIR (one mask per photo) or --auto-mask METHOD (masks made from the photos)")
    if inputs.masks is not None and settings.auto_mask is not None:
        raise ValueError(f"give --masks or --auto-mask, not both (--auto-mask {settings.auto_mask} with --masks {inputs.masks})")
    space: LabelSpace | None = None
    if inputs.image_folder is not None:
        from ..source_folder import discover_image_folder

        candidates, discovery_skips, space = discover_image_folder(inputs.image_folder, inputs.masks)
        where = str(inputs.image_folder)
    elif inputs.hub is not None:
        candidates, discovery_skips, space = _hub_sources(inputs, work, placement)
        where = inputs.hub.label_text()
    else:
        assert inputs.images is not None
        candidates, discovery_skips = discover_sources(inputs.images, inputs.masks, inputs.labels)
        where = str(inputs.images)
    selection = select_sources(candidates, settings.selection, limit=settings.limit, skips=discovery_skips, space=space)
    if not selection.sources:
        masks = f"masks {inputs.masks}" if inputs.masks is not None else f"--auto-mask {settings.auto_mask}"
        raise ValueError(
            f"no source passed selection under {where} with {masks} "
            f"({len(selection.skips)} skipped; first reasons: {[s.reason.value for s in selection.skips[:5]]})"
        )
    return selection


def _hub_sources(inputs: Inputs, work: WorkFolder | None, placement: Placement):
    from ..source_hub import STAGING_NAME, check_features, resolve_features, stage, staged_sources

    if work is None:
        raise ValueError("a --hf-dataset run needs its work folder (<out>.work) to stage the rows in")
    request = inputs.hub
    space = check_features(request, resolve_features(request))
    staging = work.root / STAGING_NAME
    waits = placement.launcher and placement.shard_index != 0
    doc = stage(request, staging, space, wait_only=waits, wait_s=placement.rank_timeout_s,
                claimed=work.run_file.is_file())
    return staged_sources(request, staging, doc, inputs.masks)


def check_sources_early(inputs: Inputs, settings: GenerateSettings):
    """What can be refused before any work: the Hub dataset's columns, the automatic masker's model."""
    masker = None
    if inputs.hub is not None:
        from ..source_hub import check_features, resolve_features

        check_features(inputs.hub, resolve_features(inputs.hub))
    if settings.auto_mask is not None:
        from ..masks import AutoMasker

        masker = AutoMasker(settings.auto_mask, settings.mask_threshold)
        masker.load()
    return masker


def run_document(settings: GenerateSettings, selection: Selection, digests: InputDigests | None = None) -> dict[str, Any]:
    listing = hashlib.sha256()
    for s in selection.sources:
        listing.update(f"{s.source_id}\t{s.label}\n".encode())
    settings_doc = settings.fingerprint_doc()
    if not selection.space.is_imagenet:
        # Another label space is another dataset (a resumed run whose classes changed is refused); an
        # ImageNet run's fingerprint stays what it always was.
        settings_doc["label_space"] = selection.space.describe()
    settings_doc["sources"] = f"{len(selection.sources)} selected, list sha256 {listing.hexdigest()[:16]}"
    if digests is not None:
        # The content of every photo, mask and the labels file: a file edited between two invocations of one
        # run (resume, another shard, --merge) changes the fingerprint and is refused, naming the file.
        settings_doc["inputs"] = digests.describe()
    return {
        "fingerprint": sha256_hex(canonical_json(settings_doc).encode()),
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
    merge_when_done: bool = True,
) -> GenerateReport:
    """Generate (this process's share of) the dataset, then merge and push when this process merges.

    From the claim of the work folder to the end, the process holds the work folder's lock for its
    shard (``--merge``: for the merge): an identical run started meanwhile is refused at once, naming
    the lock and the pid holding it. ``merge_when_done=False`` leaves the committed chunks in the work
    folder even where this process would merge (a one-shard Hugging Face Job: its launcher merges).
    """
    with ExitStack() as held:
        return _generate(inputs, settings, out, placement, held, merge_only=merge_only, keep_work=keep_work,
                         overwrite=overwrite, repo_id=repo_id, private=private, wait_poll_s=wait_poll_s,
                         merge_when_done=merge_when_done)


def _generate(inputs: Inputs, settings: GenerateSettings, out: str | os.PathLike, placement: Placement,
              held: ExitStack, *, merge_only: bool, keep_work: bool, overwrite: bool, repo_id: str | None,
              private: bool, wait_poll_s: float, merge_when_done: bool = True) -> GenerateReport:
    out = Path(out).absolute()
    inputs = inputs.absolute()
    work = WorkFolder(work_dir_for(out))
    replace_existing = _check_output(out, work, inputs, overwrite)
    if repo_id and placement.merges and merge_when_done:
        from imagenet_e_dataset.push import check_token

        check_token()  # a push that would fail for want of a login fails now, not after the whole run
    masker = check_sources_early(inputs, settings)
    with _Heartbeat(work, placement):
        if merge_only and not work.run_file.is_file():
            raise FileNotFoundError(f"nothing to merge: work folder {work.root} does not exist")
        selection = prepare_selection(inputs, settings, work, placement)
        if settings.auto_mask is not None and settings.auto_mask.startswith("hf:"):
            unnamed = [s.source_id for s in selection.sources if not (s.class_name or "").strip()]
            if unnamed:  # a text-prompted masker needs every image's class name as its prompt
                raise ValueError(f"--auto-mask {settings.auto_mask} prompts with each image's class name, but "
                                 f"{len(unnamed)} source(s) have none (e.g. {unnamed[0]})")
        cache = HashCache(work.root / CACHE_NAME if work.run_file.is_file() else None)
        digests = compute_digests(selection.sources, inputs.labels, cache, auto_mask=settings.auto_mask is not None)
        doc = run_document(settings, selection, digests)
        inputs_doc = digests.document()
        if not selection.space.is_imagenet:
            inputs_doc["label_space"] = selection.space.describe()
        work.claim(doc, inputs_doc)
        held.enter_context(work.run_lock("merge" if merge_only else f"shard-{placement.shard_index}"))
        cache.save(work.root / CACHE_NAME)
        ranges = chunk_ranges(len(selection.sources), settings.chunk_size)
        mine = shard_chunks(len(ranges), placement.num_shards, placement.shard_index)
        done_before = sum(work.is_done(k) for k in mine)
        done_here = 0
        if not merge_only:
            todo = [k for k in mine if not work.is_done(k)]
            work.clean_temporaries(todo)
            if todo:
                generator = ChunkGenerator(settings, selection.sources, placement, digests, masker=masker,
                                           record_mask_source=inputs.images is None)
                work.write_json("provenance.json", to_jsonable(generator.provenance()))
                _check_environment(work, placement, settings.backend)
                done_here = _run_chunks(work, generator, ranges, todo, placement)

    merging = merge_only or (placement.merges and merge_when_done)
    if not merging:
        return GenerateReport(None, len(selection.sources), len(ranges), done_here, done_before)

    missing = work.missing(len(ranges))
    if missing and placement.launcher and not merge_only:
        missing = _wait_for_chunks(work, len(ranges), wait_poll_s, placement)
    if missing:
        raise ValueError(
            f"cannot merge: {len(missing)} of {len(ranges)} chunks are not generated yet "
            f"(first missing: {work.chunk_path(missing[0]).name}); run the remaining shards first"
        )
    hide = {inputs.images: "<images>", inputs.image_folder: "<image-folder>", inputs.masks: "<masks>",
            work.root: "<work>"}
    rows, skipped, flagged = merge_chunks(work, settings, selection, out, len(ranges), repo_id=repo_id,
                                 hide_paths={k: v for k, v in hide.items() if k is not None},
                                 overwrite=replace_existing, inputs=_input_paths(inputs),
                                 masks_note=inputs.masks_note or (None if masker is None else masker.note()),
                                 photos_note=_photos_note(inputs))
    url = None
    if repo_id:
        from imagenet_e_dataset.push import push_folder

        url = push_folder(out, repo_id, private=private)
    if not keep_work:
        shutil.rmtree(work.root, ignore_errors=True)
    return GenerateReport(out, len(selection.sources), len(ranges), done_here, done_before, rows, skipped, url, flagged)


def _input_paths(inputs: Inputs) -> tuple[Path, ...]:
    # A Hub dataset's staging folder is the tool's own, inside the work folder: not an input here.
    return tuple(p for p in (inputs.images, inputs.image_folder, inputs.masks, inputs.labels) if p is not None)


def _photos_note(inputs: Inputs) -> str | None:
    if inputs.hub is not None:
        return f"photos of the Hub dataset `{inputs.hub.dataset}` ({inputs.hub.label_text()})"
    if inputs.image_folder is not None:
        return f"photos from the image folder `{inputs.image_folder.name}` (one sub-folder per class)"
    return None


def _check_output(out: Path, work: WorkFolder, inputs: Inputs, overwrite: bool) -> bool:
    """The output-folder rule for ``out`` and its work folder, before any work; True when ``out`` may be replaced.

    ``out`` must be new, or an earlier dataset of the tool's with ``--overwrite``. A dataset that exists
    beside a kept work folder of the same run (``--keep-work``) is re-merged without ``--overwrite``: the
    run's fingerprint, checked next, guarantees the same bytes.
    """
    paths = _input_paths(inputs)
    check_no_overlap(work.root, paths, flag="the work folder (--out + '.work')")
    work.check_is_ours()
    resuming = work.run_file.is_file() and read_marker(out) is not None
    check_output_folder(out, command=COMMAND, kind=OutputKind.DATASET, inputs=paths, overwrite=overwrite or resuming)
    return overwrite or resuming


class _Heartbeat:
    """Under a launcher, keep this rank's heartbeat file fresh while it works, so rank 0 can tell a slow
    rank from a dead one (a killed process stops updating it)."""

    def __init__(self, work: WorkFolder, placement: Placement, every_s: float = 5.0) -> None:
        self.work, self.placement, self.every_s = work, placement, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self, state: str) -> None:
        if self.work.run_file.is_file():  # only once the run's work folder exists
            try:
                self.work.heartbeat(self.placement.shard_index, state)
            except OSError:
                pass  # a missed beat only makes rank 0 wait less patiently

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._beat("working")

    def __enter__(self) -> "_Heartbeat":
        if self.placement.launcher:
            self._thread = threading.Thread(target=self._loop, name="imagenet-e-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._beat("failed" if exc[0] is not None else "done")


def numeric_environment(placement: Placement, backend: str = "diffusion") -> dict[str, Any]:
    """What besides the arguments can move a float result by one level: device, torch build, CPU threads.

    (Guided edits through a classifier's backward pass, e.g. ``background_20_adv``, differ in the last
    bit between CPU thread counts.) Not fingerprinted, since a resume on another machine is legitimate,
    but a change is reported.
    """
    import torch

    device = torch.device(placement.device_for(backend))
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
        logger.warning(
            "warning: this process's numeric environment %s differs from the one that started the run %s; chunks "
            "are still consistent per row, but float-sensitive edits may not match an uninterrupted run bit for bit",
            current, first,
        )


def _run_chunks(work: WorkFolder, generator: ChunkGenerator, ranges: list[range], todo: list[int], placement: Placement) -> int:
    from tqdm.auto import tqdm

    per_source = len(generator.settings.all_subsets)
    total = sum(len(ranges[k]) for k in todo) * per_source
    desc = "generate" if placement.num_shards == 1 else f"generate {placement.shard_index + 1}/{placement.num_shards}"
    # One tick per (image, subset): the bar moves as each photo's object is removed and its edits finish,
    # with tqdm's rate and ETA, instead of jumping once per batch.
    with tqdm(total=total, desc=desc, unit="edit", disable=not placement.progress, dynamic_ncols=True,
              file=sys.stderr, bar_format=PROGRESS_BAR_FORMAT) as bar:
        def progress(done: float, what: str) -> None:
            bar.set_postfix_str(what, refresh=False)
            bar.update(done)

        for k in todo:
            rows = generator.run(ranges[k], on_progress=progress)
            work.commit(k, rows)
    return len(todo)


def _wait_for_chunks(work: WorkFolder, num_chunks: int, poll_s: float, placement: Placement) -> list[int]:
    """Rank 0 of a launch: wait (file-system barrier) until every rank has committed its chunks.

    A rank that shows no sign of life (no heartbeat, no committed chunk) for ``placement.rank_timeout_s``
    seconds is reported by number instead of being waited for forever.
    """
    from tqdm.auto import tqdm

    missing = work.missing(num_chunks)
    started = time.time()
    owners = sorted({k % placement.num_shards for k in missing})
    print(f"rank {placement.shard_index}: waiting for rank(s) {', '.join(map(str, owners))} to commit "
          f"{len(missing)} chunk(s); giving up after {placement.rank_timeout_s:g} s without a sign of life "
          "(--rank-timeout)", file=sys.stderr, flush=True)
    last_progress = started
    with tqdm(total=num_chunks, initial=num_chunks - len(missing), desc="waiting for other ranks", unit="chunk",
              disable=not placement.progress) as bar:
        while missing:
            time.sleep(poll_s)
            now = [k for k in missing if not work.is_done(k)]
            if len(now) < len(missing):
                last_progress = time.time()
            bar.update(len(missing) - len(now))
            missing = now
            if missing:
                _check_ranks_alive(work, missing, placement, max(started, last_progress))
    return missing


def _check_ranks_alive(work: WorkFolder, missing: list[int], placement: Placement, since: float) -> None:
    now = time.time()
    for rank in sorted({k % placement.num_shards for k in missing}):
        sign = work.last_sign_of_life(rank)
        last = max(since, sign[0]) if sign is not None else since
        if now - last <= placement.rank_timeout_s:
            continue
        theirs = [work.chunk_path(k).name for k in missing if k % placement.num_shards == rank]
        if sign is None:
            state = "never started (no heartbeat in the work folder)"
        elif sign[1] in ("done", "failed"):
            state = f"{'finished' if sign[1] == 'done' else 'failed'} without committing them"
        else:
            state = f"stopped giving signs of life {now - sign[0]:.0f} s ago (killed?)"
        raise ValueError(
            f"rank {rank} of {placement.num_shards} {state}; its chunk(s) {', '.join(theirs[:3])}"
            f"{' …' if len(theirs) > 3 else ''} are missing after {placement.rank_timeout_s:g} s of waiting. Check that "
            f"every rank was launched (WORLD_SIZE={placement.num_shards}), then run the same command again: committed "
            "chunks are kept and only the missing ones are made"
        )
