"""``imagenet-e edit``: the generation pipeline applied to one photo.

The photo (and, for ``background_random``, the donor photo given with ``--random-background``) is the
selection of a :class:`~generation.pipeline.chunks.ChunkGenerator` built from the same
:class:`~generation.pipeline.GenerateSettings`, editor and device as ``generate`` builds them: the
same mask reading or automatic masking, object removal, planning, requirements, seeds and background
editing. So an edit's PNG is byte for byte the image ``generate`` writes for that photo and subset.
Only the layout differs: one PNG, or a folder with one PNG per subset, a contact sheet and ``edits.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_e_dataset.atomic import atomic_write_bytes, atomic_write_text
from imagenet_e_dataset.jsonsafe import to_jsonable

from .edit_flags import DEFAULT_AUTO_MASK
from .masks import format_mask_warning

logger = logging.getLogger(__name__)

_SUMMARY_KEYS = ("lam", "adversarial", "rate", "scale", "x", "y", "angle", "inside_frame", "window", "reason")


class _PromptedMasker:
    """The pipeline's automatic masker with ``--mask-prompt`` in place of the class name, when given."""

    def __init__(self, masker: Any, prompt: str | None) -> None:
        self.masker, self.prompt, self.method = masker, prompt, masker.method

    def __call__(self, photo: np.ndarray, class_name: str | None) -> Any:
        return self.masker(photo, self.prompt or class_name)

    def record(self) -> dict[str, object]:
        return self.masker.record()


def run_edit(args: argparse.Namespace) -> int:
    from imagenet_e_dataset.label_space import LabelSpace
    from imagenet_e_dataset.labels import check_label
    from imagenet_e_dataset.registry import ALL, ALL_WITH_EXTRAS, ORIGINAL_CONFIG, resolve, resolve_many

    from .attributes import Requirement, requirements
    from .edit_flags import settings_from_args
    from .masks import AutoMasker, available_maskers
    from .pipeline import Placement
    from .pipeline.chunks import ChunkGenerator, build_editor
    from .sources import Source

    photo_path = Path(args.image)
    if not photo_path.is_file():
        raise FileNotFoundError(f"photo {photo_path} does not exist")
    if args.mask and args.auto_mask:
        raise ValueError(f"give a MASK or --auto-mask, not both (mask {args.mask}, --auto-mask {args.auto_mask})")
    if not args.mask and not args.auto_mask:
        raise ValueError(f"no MASK given: pass a mask PNG after the image, or --auto-mask (default method "
                         f"{DEFAULT_AUTO_MASK}; also {', '.join(m for m in available_maskers() if m != DEFAULT_AUTO_MASK)})")
    label = None if args.label is None else check_label(args.label, where="--label")
    # As in generate, no --subsets and no --sweep means 'all'.
    chosen = args.subsets if args.subsets is not None else (None if args.sweep else ALL)
    requested = [s.name for s in resolve_many(chosen, levels=False)] if chosen else []
    settings = settings_from_args(args, auto_mask=args.auto_mask or None, batch_size=1)
    many = (chosen or "").strip() in (ALL, ALL_WITH_EXTRAS) or len(requested) > 1 or bool(args.sweep)
    out = Path(args.out)
    if not many and out.suffix.lower() != ".png":
        raise ValueError(f"--out {out}: one subset is written as a .png file")
    if many and out.suffix:
        raise ValueError(f"--out {out}: several subsets need a folder, not a file name")

    options = settings.edit_options_object()
    needs = {name: requirements(resolve(name), options) for name in settings.subsets}
    sources = [Source(photo_path.stem, photo_path, Path(args.mask) if args.mask else None, label, space=LabelSpace.imagenet())]
    skipped: dict[str, str] = {}
    needs_donor = [name for name, n in needs.items() if Requirement.OTHER_BACKGROUND in n]
    if needs_donor:
        if args.random_background:
            if not args.random_background_mask and not args.auto_mask:
                raise ValueError("--random-background needs --random-background-mask (its object is removed, as "
                                 "generate removes every donor's) or --auto-mask")
            donor = Path(args.random_background)
            donor_id = donor.stem if donor.stem != photo_path.stem else f"{donor.stem}-background"
            mask = Path(args.random_background_mask) if args.random_background_mask else None
            sources.append(Source(donor_id, donor, mask, None, space=LabelSpace.imagenet()))
        elif many:
            skipped = {name: "needs --random-background (a photo whose background is used)" for name in needs_donor}
            settings = dataclasses.replace(settings, subsets=tuple(s for s in settings.subsets if s not in skipped))
        else:
            raise ValueError(f"{needs_donor[0]} needs --random-background PHOTO (the background of another image)")

    placement = Placement(device=args.device, progress=False)
    editor = build_editor(settings, placement)
    if label is None and any(Requirement.CLASSIFIER in needs[s] for s in settings.subsets):
        from .image_io import read_rgb

        label = _predict(editor.classifier, read_rgb(photo_path), editor.device)
        logger.warning("--label not given: using the guiding classifier's prediction on the photo, class %d", label)
        sources[0] = dataclasses.replace(sources[0], label=label)
    masker = None
    if args.auto_mask:
        masker = _PromptedMasker(AutoMasker(args.auto_mask, settings.mask_threshold), args.mask_prompt)
    generator = ChunkGenerator(settings, sources, placement, masker=masker, editor=editor, lam=args.lam)
    protocol = generator.protocol
    print(f"{photo_path.stem}: removing the object ({protocol.options.inpainter}) at "
          f"{protocol.options.resolution}x{protocol.options.resolution}", file=sys.stderr, flush=True)
    rows = _run_one(generator, len(settings.subsets), args.no_progress)
    first = rows[0]
    if first["subset"] != ORIGINAL_CONFIG:  # the photo itself was refused (its mask, its pixels)
        raise ValueError(f"{photo_path}: {first['detail']}")
    by_name = {row["subset"]: row for row in rows}
    for warning in _params(first).get("mask_warnings", []):
        print(format_mask_warning(warning), file=sys.stderr)
    for row in rows[1:]:
        if row["status"] != "ok":
            logger.warning("%s: %s for this image (%s)", row["subset"], row["status"], row["detail"])
    for name, why in skipped.items():
        logger.warning("%s: skipped, %s", name, why)
    print(f"protocol: {protocol.label}", file=sys.stderr)
    if not many:
        return _write_one(by_name[requested[0]] if requested else rows[-1], out, args.mask_out)
    shown = [ORIGINAL_CONFIG, *settings.subsets, *skipped] if ORIGINAL_CONFIG in requested else [*settings.subsets, *skipped]
    _write_folder(args, out, by_name, resolve_many(shown), label, protocol, generator, skipped)
    return 0


def _run_one(generator: Any, n_subsets: int, no_progress: bool) -> list[dict[str, Any]]:
    from tqdm import tqdm

    from .pipeline.chunks import PROGRESS_BAR_FORMAT

    with tqdm(total=1 + n_subsets, desc=f"{generator.sources[0].source_id}: editing", unit="edit",
              disable=n_subsets < 2 or no_progress, file=sys.stderr, dynamic_ncols=True,
              bar_format=PROGRESS_BAR_FORMAT) as bar:
        def progress(done: float, what: str) -> None:
            bar.set_postfix_str(what, refresh=False)
            bar.update(done)

        return generator.run(range(0, 1), progress)


def _image_of(row: dict[str, Any]) -> np.ndarray | None:
    from .image_io import decode_rgb

    return None if row.get("image") is None else decode_rgb(row["image"], row["image_name"] or row["subset"])


def _png_bytes(row: dict[str, Any]) -> bytes:
    """The row's image as PNG: edits are PNG already (the dataset's bytes); the original may be a JPEG."""
    from .image_io import encode_png

    image = row["image"]
    return image if image.startswith(b"\x89PNG") else encode_png(_image_of(row))


def _mask_of(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("L")) > 127


def _params(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["params"]) if row.get("params") else {}


def _write_one(row: dict[str, Any], out: Path, mask_out: str | None) -> int:
    if row["status"] != "ok":
        return 1
    atomic_write_bytes(out, _png_bytes(row))
    if mask_out and row.get("object_mask") is not None:
        atomic_write_bytes(mask_out, row["object_mask"])
    print(f"{row['subset']}: wrote {out} ({_summary(_params(row))})")
    return 0


def _write_folder(args: argparse.Namespace, out: Path, by_name: dict[str, dict[str, Any]], shown: list[Any],
                  label: int | None, protocol: Any, generator: Any, skipped: dict[str, str]) -> None:
    from .contact_sheet import contact_sheet, outline
    from .image_io import decode_rgb

    out.mkdir(parents=True, exist_ok=True)
    mask_dir = Path(args.mask_out) if args.mask_out else None
    if mask_dir is not None:
        mask_dir.mkdir(parents=True, exist_ok=True)
    original = by_name[shown[0].name] if shown and shown[0].is_original else None
    for sub in shown:
        row = by_name.get(sub.name)
        if row is None:
            continue
        if row["status"] == "ok":
            atomic_write_bytes(out / f"{sub.name}.png", _png_bytes(row))
            if mask_dir is not None and row.get("object_mask") is not None:
                atomic_write_bytes(mask_dir / f"{sub.name}.png", row["object_mask"])
        print(f"{sub.name:18s} {row['status']:12s} {_summary(_params(row))}")
    # The original (or the input photo) shows the mask the edits used, as an outline, unless --no-outline.
    first = next(iter(by_name.values()))
    photo = decode_rgb(first["image"], first["image_name"])
    shown_photo = photo if args.no_outline else outline(photo, _mask_of(first["object_mask"]))
    mask_note = "" if args.no_outline else " + mask"
    items: list[tuple[str, Any]] = [] if original is not None else [(f"photo (input){mask_note}", shown_photo)]
    for sub in shown:
        row = by_name.get(sub.name)
        ok = row is not None and row["status"] == "ok"
        image = shown_photo if sub.is_original else _image_of(row) if ok else None
        items.append((_panel_label(sub.name, row) + (mask_note if sub.is_original else ""), image))
    sheet = contact_sheet(items, out / "contact_sheet.png", columns=4)
    record = {
        "image": str(args.image), "source_id": first["source_id"], "global_seed": args.seed, "label": label,
        "protocol": protocol.record(),
        "editor": generator.provenance(),
        "edits": {sub.name: {"status": by_name[sub.name]["status"], **to_jsonable(_params(by_name[sub.name]))}
                  for sub in shown if sub.name in by_name},
        "skipped": skipped,
    }
    atomic_write_text(out / "edits.json", json.dumps(record, indent=2))
    print(f"wrote {sum(1 for s in shown if s.name in by_name and by_name[s.name]['status'] == 'ok')} edits, {sheet} "
          f"and {out / 'edits.json'}")


def _predict(classifier: Any, photo: np.ndarray, device: str) -> int:
    import torch

    x = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float().div(255).to(device)
    with torch.no_grad():
        return int(classifier(x).argmax(dim=-1)[0])


def _summary(params: dict[str, Any]) -> str:
    parts = []
    for key in _SUMMARY_KEYS:
        if key in params:
            value = params[key]
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def _panel_label(name: str, row: dict[str, Any] | None) -> str:
    if row is None:
        return f"{name} (skipped)"
    if row["status"] != "ok":
        return f"{name} ({row['status']})"
    p = _params(row)
    if "angle" in p:
        return f"{name} ({p['angle']} deg)"
    if "rate" in p and "target_rate" in p:
        return f"{name} (rate {p['rate']:.3f})"
    if "lam" in p:
        return f"{name} (lambda {p['lam']:g})"
    return name
