"""Assembling the dataset from committed chunks: the Hub layout (rows sorted by ``source_id``), the
manifest of every row, the skip report and the dataset card's description of the run.

Every byte of every chunk is a pure function of (arguments, inputs), so the merged dataset is
byte-identical however the work was split, interrupted and resumed.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from imagenet_e_dataset.jsonsafe import canonical_json, to_jsonable
from imagenet_e_dataset.output_folder import OutputKind, read_marker, replace_output

from imagenet_e_dataset.protocol_file import write_protocol_file

from ..inpaint import describe_removal
from ..sources import Selection, Skip, SkipReason, iter_tsv
from .settings import ORIGINAL, GenerateSettings
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
    masks_note: str | None = None,
    photos_note: str | None = None,
) -> tuple[dict[str, int], dict[str, int], dict[str, list[str]]]:
    """Assemble the dataset folder (Hub layout + manifest + skip report) from committed chunks.

    Returns the rows per subset, the skips per reason and the mask warnings per source id.

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
                             command=COMMAND, label_space=selection.space)
    manifest: list[str] = []
    skips: list[Skip] = list(selection.skips)
    rows_per_subset: Counter[str] = Counter()
    flagged_masks: dict[str, list[str]] = {}
    written: set[str] = set()  # sources with an original row (an auto mask may refuse a selected source)
    with writer:
        for k in range(num_chunks):
            table = _verified_chunk(work, k)
            for row in table.to_pylist():
                if row["status"] == RowStatus.SKIPPED:
                    skips.append(Skip(row["source_id"], SkipReason(row["reason"]), row["detail"] or "", row["subset"] or ""))
                    continue
                params = json.loads(row["params"] or "{}")
                if params.get("mask_warnings"):
                    flagged_masks[row["source_id"]] = list(params["mask_warnings"])
                manifest.append(canonical_json({
                    "source_id": row["source_id"],
                    "subset": row["subset"],
                    "seed": row["seed"],
                    "status": row["status"],
                    "params": params,
                    "sha256": row["sha256"],
                }))
                if row["status"] == RowStatus.UNREACHABLE:
                    skips.append(Skip(row["source_id"], SkipReason(row["reason"] or "unreachable"), row["detail"] or "", row["subset"]))
                    continue
                rows_per_subset[row["subset"]] += 1
                if row["subset"] == ORIGINAL:
                    written.add(row["source_id"])
                writer.add(row["subset"], {
                    "image": {"bytes": row["image"], "path": row["image_name"]},
                    "label": row["label"],
                    "source_id": row["source_id"],
                    "seed": row["seed"],
                    "object_mask": None if row["object_mask"] is None else {"bytes": row["object_mask"], "path": f"{row['source_id']}_mask.png"},
                })
        skip_counts = _skip_counts(skips)
        if not rows_per_subset:
            raise ValueError(f"every selected source was skipped, so there is no dataset to write ({len(skips)} skip(s): "
                             f"{', '.join(f'{k} {v}' for k, v in skip_counts.items())}); see the reasons above or "
                             "loosen the selection (e.g. another --auto-mask method or --mask-threshold)")
        in_dataset = replace(selection, sources=tuple(s for s in selection.sources if s.source_id in written))
        context = card_context(settings, in_dataset, provenance, rows_per_subset, skip_counts, repo_id, masks_note,
                               len(flagged_masks), photos_note=photos_note)
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
    return dict(rows_per_subset), skip_counts, dict(sorted(flagged_masks.items()))


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


ILSVRC_ID = re.compile(r"^ILSVRC2012_val_\d{8}$")
CPU_NO_PRIOR = "no diffusion prior: an offline approximation"


def card_context(
    settings: GenerateSettings,
    selection: Selection,
    provenance: Mapping[str, Any],
    rows: Mapping[str, int],
    skips: Mapping[str, int],
    repo_id: str | None,
    masks_note: str | None = None,
    flagged_masks: int = 0,
    *,
    photos_note: str | None = None,
):
    """What the card says about this run: the backend, protocol, inpainter, sources, classes and ids it
    actually used (never the release's ImageNet/ADM description unless that is what happened)."""
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
    sources = selection.sources
    imagenet_ids = bool(sources) and all(ILSVRC_ID.match(s.source_id) for s in sources)
    imagenet_s = bool(sources) and all(s.mask_wnid is not None for s in sources)
    notes = (
        f"Editing protocol: **{protocol.label}**. {steps} The protocols and the reason for each difference are in "
        "`docs/fidelity.md` of the imagenet-e toolkit; `protocol.json` holds every resolved setting. Datasets made "
        "under different protocols are not comparable.",
        "Each row's `seed` is derive_seed(global seed, source_id, seed key), the seed key being the config name (one "
        "key for every level of a severity sweep); `original` rows are the untouched "
        "source files (seed empty). Edits that take another image's background use the clean background of "
        "another selected source drawn with the row's seed (the donor's id is in `manifest.jsonl`).",
        "Rows whose edit was unreachable (e.g. a size target the object cannot reach within ±0.015) are omitted "
        "from that subset and listed in `skipped.tsv`; paired metrics compare only the source images both subsets "
        "hold. `manifest.jsonl` lists every row with its seed, drawn parameters and the sha256 of its image bytes.",
    )
    if flagged_masks:
        notes += (f"{flagged_masks} of {len(selection.sources)} source masks were flagged (more than 40 % of the frame, "
                  "or touching three sides: possibly background taken for the object); their `original` rows in "
                  "`manifest.jsonl` say why (`mask_warnings`).",)
    photos = "ImageNet validation photos" if imagenet_ids else (photos_note or "photos from a folder")
    masks = masks_note or ("ImageNet-S object masks" if imagenet_s else "object masks from a folder (0/255 PNGs)")
    return CardContext(
        repo_id=repo_id or "<org>/imagenet-e",
        provenance=(
            f"Generated with the imagenet-e toolkit (`imagenet-e generate`, backend `{settings.backend}`"
            f", protocol `{protocol.label}`) from {photos} and {masks}: "
            f"{len(sources)} source images."
        ),
        generation_settings=generation,
        global_seed=settings.seed,
        skipped=dict(skips),
        notes=notes,
        title=None if imagenet_ids else f"ImageNet-E-style attribute edits of {len(sources)} photos",
        sources=_sources_text(sources, imagenet_ids, photos, masks, selection.space),
        method=_method_text(settings, provenance, protocol.label),
        limitations=_limitations(settings, sources),
        licence=None if imagenet_ids else (
            "The source photos come from the folder the run was given, not from ImageNet: **their own licences "
            "apply** (record them beside this dataset before sharing it). Edited images are derivatives of those "
            "photos. The code that made and packages them is Apache-2.0."),
        imagenet_terms=imagenet_ids,
        origin="generate",
        protocol=protocol.label,
        backend=settings.backend,
        model=None if settings.backend == "cpu" else str(provenance.get("unet") or provenance.get("model") or "") or None,
        mask_source=masks,
        label_space=None if selection.space.is_imagenet else {**selection.space.describe(),
                                                              "names": list(selection.space.names)},
    )


def _sources_text(sources: Sequence[Any], imagenet_ids: bool, photos: str, masks: str, space: Any) -> str:
    names = space.names
    labels = sorted({s.label for s in sources if s.label is not None})
    listed = ", ".join(f"{names[i]} ({i})" for i in labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
    if imagenet_ids:
        ids = "`source_id` = the ImageNet validation file name (`ILSVRC2012_val_XXXXXXXX`)"
    else:
        example = sources[0].source_id if sources else "photo"
        ids = f"`source_id` = the photo's file name without extension (e.g. `{example}`)"
        if not space.is_imagenet:
            ids = (f"`source_id` = `<class folder>-<file stem>` for an image folder, `<split>-<row index>` for a Hub "
                   f"dataset (e.g. `{example}`)")
    return (
        f"This copy holds {len(sources)} source images ({photos}, with {masks}); every subset holds the same "
        f"source images ({ids}), so each edited prediction can be paired with the prediction on the unedited "
        f"`original` image. Classes present ({len(labels)}): {listed}."
    )


def _method_text(settings: GenerateSettings, provenance: Mapping[str, Any], protocol: str | None) -> str:
    from imagenet_e_dataset.registry import resolve

    from ..attributes import Requirement, requirements

    options = settings.edit_options_object()
    lines = []
    if protocol:
        lines.append(f"- **protocol**: `{protocol}` (the settings table lists every option it set).")
    lines.append(f"- **object removal**: {describe_removal(options.inpainter)}.")
    if settings.backend == "cpu":
        backend = (
            f"the `cpu` backend: **{CPU_NO_PRIOR}** of the paper's blended-diffusion backgrounds. The background "
            "pixels are optimised directly against the paper's guidance objective (λ · mean|FFT2|, a range penalty, "
            "and for adversarial subsets the guiding classifier's log-probability) starting from the inpainted "
            "background: λ = 0 keeps it, λ < 0 flattens it, λ > 0 amplifies its texture towards noise, and the "
            "adversarial term adds a classifier-specific perturbation, not natural content")
    else:
        model = provenance.get("unet") or provenance.get("model") or "the given UNet"
        backend = (f"the `{settings.backend}` backend: blended diffusion with `{model}` "
                   f"({provenance.get('steps', '?')} guided steps), guided by λ · mean|FFT2(x̂₀)|")
    by_attribute: dict[str, list[Any]] = {}
    for name in settings.subsets:
        sub = resolve(name)
        by_attribute.setdefault(sub.attribute.name, []).append(sub)
    for name, subs in by_attribute.items():
        edited = [s for s in subs if Requirement.EDITOR in requirements(s, options)]
        others = [s for s in subs if s not in edited]
        parts = []
        if edited:
            # The claim about the object is the plug-in's (background: pixel-exact; size/direction resample it).
            kept = ("the object is kept pixel-exact" if subs[0].attribute.keeps_object_pixels
                    else "the edit moves or resamples the object (its pixels are not the photo's)")
            parts.append(f"{', '.join(f'`{s.name}`' for s in edited)}: {kept}; the background "
                         f"is made by {backend}.")
        if others and (edited or any(Requirement.EDITOR in requirements(s, options) for s in subs[0].attribute.subsets())):
            # An attribute the backend usually finishes: describe its other subsets one by one.
            parts += [f"`{s.name}`: {s.description}" for s in others]
        elif others:
            parts.append(subs[0].attribute.description)
        lines.append(f"- **{name}**: " + " ".join(parts))
    return "\n".join(lines)


def _limitations(settings: GenerateSettings, sources: Sequence[Any]) -> tuple[str, ...]:
    lines = []
    if settings.backend == "cpu":
        lines.append(f"The backgrounds have {CPU_NO_PRIOR}: use this copy to test a pipeline end to end, not to "
                     "report robustness numbers comparable with the paper's.")
    else:
        lines.append("Diffusion-edited backgrounds can carry generation artefacts; `background_0` (λ = 0) is the "
                     "control for them.")
    lines.append(f"{len(sources)} source images: accuracy and drops carry the sampling error of that many images "
                 "(see the metric's bootstrap intervals).")
    lines.append("Some source images cannot reach a size target (the object is too large or too small); such images "
                 "are missing from that subset, so compare subsets on the source images they share.")
    lines.append("The background-complexity measure is a global frequency statistic, not a perceptual one.")
    return tuple(lines)
