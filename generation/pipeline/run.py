"""One invocation of ``imagenet-e generate``: this process's share of the chunks, then (when this process
merges) the wait for the other ranks, the merge and the optional push.

Shards are processes under ``torchrun``/``accelerate launch`` (``RANK``/``WORLD_SIZE``) or jobs of an
array (``--num-shards/--shard-index``); a restart with the same arguments skips committed chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from imagenet_e_dataset.jsonsafe import canonical_json, to_jsonable

from ..sources import Selection, discover_sources, select_sources
from .chunks import ChunkGenerator
from .merge import merge_chunks
from .settings import GenerateSettings, Inputs, Placement
from .work import WorkFolder, chunk_ranges, sha256_hex, shard_chunks, work_dir_for

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
) -> GenerateReport:
    """Generate (this process's share of) the dataset, then merge and push when this process merges."""
    out = Path(out).absolute()
    inputs = Inputs(Path(inputs.images).absolute(), Path(inputs.masks).absolute(),
                    None if inputs.labels is None else Path(inputs.labels).absolute(), inputs.masks_note)
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
            work.write_json("provenance.json", to_jsonable(generator.provenance()))
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
                                 hide_paths={inputs.images: "<images>", inputs.masks: "<masks>"},
                                 masks_note=inputs.masks_note)
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
        print(
            f"warning: this process's numeric environment {current} differs from the one that started the run "
            f"{first}; chunks are still consistent per row, but float-sensitive edits may not match an uninterrupted "
            "run bit for bit",
            file=sys.stderr,
        )


def _run_chunks(work: WorkFolder, generator: ChunkGenerator, ranges: list[range], todo: list[int], placement: Placement) -> int:
    from tqdm.auto import tqdm

    per_source = len(generator.settings.all_subsets)
    total = sum(len(ranges[k]) for k in todo) * per_source
    desc = "generate" if placement.num_shards == 1 else f"generate {placement.shard_index + 1}/{placement.num_shards}"
    # One tick per (image, subset): the bar moves as each photo's object is removed and its edits finish,
    # with tqdm's rate and ETA, instead of jumping once per batch.
    with tqdm(total=total, desc=desc, unit="edit", disable=not placement.progress, dynamic_ncols=True,
              file=sys.stderr) as bar:
        def progress(done: int, what: str) -> None:
            bar.set_postfix_str(what, refresh=False)
            bar.update(done)

        for k in todo:
            rows = generator.run(ranges[k], on_progress=progress)
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
