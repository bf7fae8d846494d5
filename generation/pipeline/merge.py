"""Assembling the dataset from committed chunks: the Hub layout (rows sorted by ``source_id``), the
manifest of every row, the skip report and the dataset card's description of the run.

Every byte of every chunk is a pure function of (arguments, inputs), so the merged dataset is
byte-identical however the work was split, interrupted and resumed.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from imagenet_e_dataset.jsonsafe import canonical_json, to_jsonable
from imagenet_e_dataset.output_folder import OutputKind, read_marker, replace_output

from imagenet_e_dataset.protocol_file import write_protocol_file

from ..sources import Selection, Skip, SkipReason, iter_tsv
from .settings import GenerateSettings
from .work import RowStatus, WorkFolder, _atomic_write_bytes, sha256_hex

COMMAND = "generate"

MANIFEST_NAME = "manifest.jsonl"
SKIPPED_NAME = "skipped.tsv"


def merge_chunks(
    work: WorkFolder,
    settings: GenerateSettings,
    selection: Selection,
    out: Path,
    num_chunks: int,
    *,
    repo_id: str | None = None,
    hide_paths: Mapping[Path, str] | None = None,
    overwrite: bool = False,
    inputs: Sequence[Path] = (),
) -> tuple[dict[str, int], dict[str, int]]:
    """Assemble the dataset folder (Hub layout + manifest + skip report) from committed chunks.

    ``hide_paths`` maps input folders to placeholders in the skip report, so a published dataset
    does not carry the generating machine's paths. Every chunk is verified first (page checksums and
    each row's sha256); a damaged one is set aside and refused, naming it, so the next run
    regenerates it. ``out`` is replaced only under the output-folder rule (``overwrite``, ``inputs``).
    """
    from imagenet_e_dataset.hub_layout import HubLayoutWriter

    staged = work.root / "merged"
    if staged.exists() and read_marker(staged) is None:
        shutil.rmtree(staged)  # inside our own work folder: a staging copy from a merge killed mid-way
    provenance = work.read_json("provenance.json")
    writer = HubLayoutWriter(staged, max_shard_bytes=settings.max_shard_bytes, with_object_mask=True, overwrite=True,
                             command=COMMAND)
    manifest: list[str] = []
    skips: list[Skip] = list(selection.skips)
    rows_per_subset: Counter[str] = Counter()
    with writer:
        for k in range(num_chunks):
            table = _verified_chunk(work, k)
            for row in table.to_pylist():
                if row["status"] == RowStatus.SKIPPED:
                    skips.append(Skip(row["source_id"], SkipReason(row["reason"]), row["detail"] or "", row["subset"] or ""))
                    continue
                manifest.append(canonical_json({
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
    write_protocol_file(staged, settings.protocol_object().record())
    _atomic_write_bytes(staged / SKIPPED_NAME, "".join(iter_tsv(skips)).encode())
    # The finished folder appears in one rename; an older copy is only removed once the new one is in place,
    # and only if it is one of the tool's datasets (checked again here, right before the swap).
    replace_output(staged, out, command=COMMAND, kind=OutputKind.DATASET, inputs=inputs, overwrite=overwrite)
    return dict(rows_per_subset), skip_counts


def _verified_chunk(work: WorkFolder, index: int):
    """Chunk ``index``, read with its page checksums verified and every row's image checked against its sha256."""
    path = work.chunk_path(index)
    problem = None
    table = None
    try:
        table = work.read(index)
    except (OSError, ValueError) as exc:  # pyarrow: checksum mismatch (OSError), broken footer (ArrowInvalid)
        problem = f"it cannot be read ({' '.join(str(exc).split())[:200]})"
    if table is not None:
        images, hashes = table.column("image").to_pylist(), table.column("sha256").to_pylist()
        sids, subsets = table.column("source_id").to_pylist(), table.column("subset").to_pylist()
        for image, expected, sid, subset in zip(images, hashes, sids, subsets):
            if image is not None and sha256_hex(image) != expected:
                problem = (f"the image of {sid} / {subset} does not match the sha256 recorded when it was made "
                           f"({str(expected)[:12]}…)")
                break
    if problem is None:
        return table
    aside = work.set_aside(index)
    raise ValueError(
        f"chunk {path.name} in {work.root} is damaged: {problem}. It was moved to {aside.name} and nothing was "
        "published; run the same command again to regenerate that chunk."
    )


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

    protocol = settings.protocol_object()
    generation: dict[str, Any] = {
        "generator": "imagenet-e generate",
        "protocol": protocol.label,
        "subsets": ", ".join(settings.all_subsets),
        "backend": settings.backend,
    }
    for key, value in provenance.items():
        if key != "backend":
            generation[f"editor {key}"] = value
    # Every resolved edit setting (the protocol's preset with its overrides), not only the overrides.
    for key, value in protocol.options.record().items():
        generation[f"edit {key}"] = to_jsonable(value)
    generation["edit resolution from"] = protocol.resolution_from
    for key, value in settings.selection.describe().items():
        generation[f"selection {key}"] = value
    for attribute, values in settings.sweeps:
        generation[f"sweep {attribute}"] = ", ".join(f"{v:.10g}" for v in values)
    generation["selection limit"] = settings.limit
    generation["source images"] = len(selection.sources)
    generation["chunk size"] = settings.chunk_size
    deviations = "; ".join(d.step for d in protocol.deviations())
    if deviations:
        steps = f"Steps that differ from the authors' ImageNet-Editing code: {deviations}."
    else:
        but = " but the overridden settings." if protocol.overrides else "."
        steps = "Every step is the authors' ImageNet-Editing code's" + but
    notes = (
        f"Editing protocol: **{protocol.label}**. {steps} The protocols and the reason for each difference are in "
        "`docs/fidelity.md` of the imagenet-e toolkit; `protocol.json` holds every resolved setting. Datasets made "
        "under different protocols are not comparable.",
        "Each row's `seed` is derive_seed(global seed, source_id, seed key), the seed key being the config name (one key for every level of a severity sweep); `original` rows are the untouched "
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
