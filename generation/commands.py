"""``imagenet-e edit``: make ImageNet-E edits of one photo and look at them.

    imagenet-e edit cat.jpg cat_mask.png --subset size_0.1 --out cat_01.png
    imagenet-e edit cat.jpg --auto-mask u2netp --subset all --random-background street.jpg --out edits/

With ``--subset all`` (or several comma-separated names) ``--out`` is a folder that receives one
``<subset>.png`` per subset, ``contact_sheet.png`` (the original and every edit, labelled) and
``edits.json`` (the parameters drawn for each edit: seed, λ, scale, position, angle, ..., and the
protocol with every resolved setting).

``--protocol official`` (default) edits as the authors' pipeline does, ``--protocol corrected`` with the
fixes listed in ``docs/fidelity.md``; the flags below and ``--edit-option KEY=VALUE`` override single
settings (recorded as overrides).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from imagenet_e_dataset.atomic import atomic_write_text
from imagenet_e_dataset.jsonsafe import to_jsonable
from imagenet_e_dataset.runtime import choose_device

DEFAULT_GLOBAL_SEED = 404
logger = logging.getLogger(__name__)


def protocol_name(text: str) -> str:
    """argparse type of ``--protocol``: a known protocol name (the error lists the valid ones)."""
    from .protocol import parse_protocol_name

    try:
        return parse_protocol_name(text).value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (``iterations=5``, ``lr=0.05``), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def add_protocol_arguments(parser: argparse.ArgumentParser | Any, *, edit_option: bool = True) -> None:
    """``--protocol``, ``--resolution`` (and ``--edit-option``): shared by ``edit`` and ``generate``."""
    parser.add_argument("--protocol", type=protocol_name, default="official",
                        help="editing protocol: official (default, the authors' pipeline step by step) or corrected "
                             "(with the fixes listed in docs/fidelity.md); single settings can be overridden")
    parser.add_argument("--resolution", type=int,
                        help="working resolution (default: the diffusion UNet's sample_size, else 256)")
    if edit_option:
        parser.add_argument("--edit-option", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                            help="override one edit setting (an EditOptions field, repeatable), e.g. full_mode=aspect")


DEFAULT_AUTO_MASK = "u2netp"
"""``generation.masks.DEFAULT_AUTO_MASK``, spelled here so ``--help`` does not import PIL (a test checks they agree)."""


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    """``--plugin`` (repeatable): an attribute plug-in module or .py file to load first."""
    parser.add_argument("--plugin", action="append", metavar="MODULE_OR_FILE",
                        help="load an attribute plug-in (module name or .py file) first; repeatable (docs/plugins.md)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "edit",
        help="edit one photo into ImageNet-E subsets (background, size, position, direction)",
        description="Edit one photo into one or all ImageNet-E subsets on a CPU (or with the diffusion backend).",
    )
    p.add_argument("image", help="the photo (any format PIL reads)")
    p.add_argument("mask", nargs="?", help="binary object mask PNG (0/255) at the photo's resolution")
    p.add_argument("--subset", required=True,
                   help="config name or alias, comma-separated names, 'all' (the 12 ImageNet-E configs) or 'all+extras'")
    p.add_argument("--out", required=True, help="output PNG (one subset) or folder (several / all)")
    p.add_argument("--mask-out", help="write the edited object mask(s) here (a PNG, or a folder for several subsets)")
    p.add_argument("--label", type=int, help="ImageNet-1k class index (the adversarial subset lowers its probability; "
                                             "default: the guiding classifier's prediction on the photo)")
    p.add_argument("--seed", type=int, default=DEFAULT_GLOBAL_SEED, help="global seed (default 404, as the official code)")
    p.add_argument("--backend", default="cpu", help="background editor backend: cpu (default) or diffusion")
    p.add_argument("--unet", help="diffusion backend: UNet folder or Hub id (diffusers layout)")
    p.add_argument("--steps", type=int, help="diffusion backend: guided steps (SDEdit start)")
    p.add_argument("--iterations", type=int, help="cpu backend: optimisation iterations")
    p.add_argument("--lambda", dest="lam", type=float, help="override λ of the background subsets")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--classifier", default="efficientnet-lite0",
                   help="guiding classifier for background_20_adv: efficientnet-lite0, hf:<id or dir>, torchvision:<name>")
    p.add_argument("--auto-mask", nargs="?", const=DEFAULT_AUTO_MASK, metavar="METHOD",
                   help=f"make the mask automatically when none is given: {DEFAULT_AUTO_MASK} (the default; best IoU on "
                        "the reference masks, benchmarks/bench_masks.py), grabcut, grabcut+u2netp, or "
                        "hf:<CLIPSeg Hub id or folder> prompted with --mask-prompt")
    p.add_argument("--mask-prompt", help="text prompt of an hf: auto-mask model (default: the --label's class name)")
    p.add_argument("--no-outline", action="store_true", help="contact sheet: show the photo without the mask's outline")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--random-background", help="photo whose background background_random uses")
    p.add_argument("--random-background-mask", help="object mask of --random-background (its object is removed first)")
    p.add_argument("--inpainter", help="object removal: patchmatch (default), opencv, or diffusers:<hub id or folder> "
                                       "(a diffusers inpainting pipeline)")
    add_protocol_arguments(p)
    p.add_argument("--fit", help="photo to square: stretch (the protocols') or center_crop")
    p.add_argument("--full-mode", help="size_full: official (the authors' window), aspect (corrected) or stretch (tight box)")
    p.add_argument("--rotation-center", help="direction_random: image (official) or object (corrected)")
    p.add_argument("--harmonize", action=argparse.BooleanOptionalAction, default=None,
                   help="pass object-transform edits and background_random through the editor with λ=0 "
                        "(official: yes, corrected: no)")
    add_plugin_argument(p)
    p.set_defaults(func=_edit)
    register_contact_sheet(subparsers)


def register_contact_sheet(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "contact-sheet",
        help="draw a dataset as a contact sheet: each source image with its mask's outline, then every config",
        description="Read a dataset (a Hub-layout folder or a Hub repo id) and write one PNG: a row per source "
                    "image (by id), the original with the outline of its object mask, then each config.",
    )
    p.add_argument("dataset", help="dataset folder or Hub repo id")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--configs", help="comma-separated configs (default: every config the dataset holds)")
    p.add_argument("--limit", type=int, help="only the first N source images (by id)")
    p.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    p.add_argument("--tile", type=int, default=192, help="tile size in pixels (default 192)")
    add_plugin_argument(p)
    p.set_defaults(func=_contact_sheet)


def _contact_sheet(args: argparse.Namespace) -> int:
    from .dataset_sheet import dataset_contact_sheet, load_tables, skip_reasons

    configs = [c.strip() for c in args.configs.split(",") if c.strip()] if args.configs else None
    tables = load_tables(args.dataset, configs, revision=args.revision)
    path = dataset_contact_sheet(tables, args.out, limit=args.limit, tile=args.tile, reasons=skip_reasons(args.dataset))
    print(f"wrote {path}: {min(len(tables[next(iter(tables))]), args.limit or 10**9)} source image(s) x {len(tables)} configs")
    return 0


def _edit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imagenet_e_dataset.registry import ALL, ALL_WITH_EXTRAS, resolve_many

    from .attributes import Requirement
    from .contact_sheet import contact_sheet, outline
    from .edits import plan_edit, prepare_source, run_edits
    from .image_io import read_rgb, write_png_atomic
    from .masks import auto_mask, available_maskers, mask_warnings, read_mask
    from .protocol import Protocol
    from .seeding import seed_for

    photo = read_rgb(args.image)
    source_id = Path(args.image).stem
    h, w = photo.shape[:2]
    if args.mask:
        mask = read_mask(args.mask, photo_size=(w, h))
    elif args.auto_mask:
        prompt = args.mask_prompt
        if prompt is None and args.label is not None:
            from imagenet_e_dataset.labels import check_label, class_names

            prompt = class_names()[check_label(args.label, where="--label")]
        mask = auto_mask(photo, args.auto_mask, prompt=prompt)
    else:
        raise ValueError(f"no MASK given: pass a mask PNG after the image, or --auto-mask (default method "
                         f"{DEFAULT_AUTO_MASK}; also {', '.join(m for m in available_maskers() if m != DEFAULT_AUTO_MASK)})")
    for warning in mask_warnings(mask):
        print(f"warning: the mask {warning}; check it (--mask-out, or the outline in the contact sheet)", file=sys.stderr)
    subsets = resolve_many(args.subset, levels=False)
    many = args.subset.strip() in (ALL, ALL_WITH_EXTRAS) or len(subsets) > 1
    out = Path(args.out)
    if not many and out.suffix.lower() != ".png":
        raise ValueError(f"--out {out}: one subset is written as a .png file")
    if many and out.suffix:
        raise ValueError(f"--out {out}: several subsets need a folder, not a file name")
    overrides = edit_overrides(args)
    protocol = Protocol.resolve(args.protocol, overrides)
    options = protocol.options

    needs = {s.name: s.requirements(options) for s in subsets}
    adversarial = any(Requirement.CLASSIFIER in n for n in needs.values())
    needs_editor = any(Requirement.EDITOR in n for n in needs.values())
    needs_donor = [name for name, n in needs.items() if Requirement.OTHER_BACKGROUND in n]
    device = choose_device(args.device) if (needs_editor or adversarial) else "cpu"

    classifier = None
    label = args.label
    if adversarial:
        from .guidance_classifier import load_guidance_classifier

        classifier = load_guidance_classifier(args.classifier, device=device)
        if label is None:
            label = _predict(classifier, photo, device)
            logger.warning("--label not given: using %s's prediction on the photo, class %d", args.classifier, label)
    editor = _make_editor(args, classifier, device) if needs_editor else None
    model_resolution = getattr(editor, "sample_size", None)
    if model_resolution is not None:
        # With the diffusion backend the working resolution is the UNet's own (--resolution overrides it).
        protocol = Protocol.resolve(args.protocol, overrides, model_resolution=model_resolution)
        options = protocol.options

    skipped: dict[str, str] = {}
    other = None
    if needs_donor:
        if args.random_background:
            other_photo = read_rgb(args.random_background)
            if args.random_background_mask:
                oh, ow = other_photo.shape[:2]
                other_mask = read_mask(args.random_background_mask, photo_size=(ow, oh))
                other = prepare_source(other_photo, other_mask, options=protocol, source_id=Path(args.random_background).stem)
            else:
                other = other_photo
        elif many:
            for name in needs_donor:
                skipped[name] = "needs --random-background (a photo whose background is used)"
        else:
            raise ValueError(f"{needs_donor[0]} needs --random-background PHOTO (the background of another image)")

    print(f"{source_id}: removing the object ({options.inpainter}) at {options.resolution}x{options.resolution}",
          file=sys.stderr, flush=True)
    source = prepare_source(photo, mask, options=protocol, source_id=source_id)
    # One subset at a time, so progress (with an ETA) moves per subset; editors give the same bytes
    # for a request alone or in a batch.
    results = []
    todo = [sub for sub in subsets if sub.name not in skipped]
    with tqdm(todo, desc=f"{source_id}: editing", unit="subset", disable=len(todo) < 2 or args.no_progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for sub in bar:
            bar.set_postfix_str(sub.name, refresh=True)
            planned = plan_edit(source, None, sub, seed=seed_for(args.seed, source_id, sub),
                                other_background=other, label=label, options=protocol, lam=args.lam)
            results.extend(run_edits([planned], editor))

    by_name = {r.subset: r for r in results}
    failed = [r for r in results if not r.ok]
    for r in failed:
        logger.warning("%s: unreachable for this image (%s)", r.subset, r.params.get("reason", ""))
    for name, why in skipped.items():
        logger.warning("%s: skipped, %s", name, why)
    print(f"protocol: {protocol.label}", file=sys.stderr)

    if not many:
        result = results[0]
        if not result.ok:
            return 1
        write_png_atomic(result.image, out)
        if args.mask_out:
            write_png_atomic(result.object_mask, args.mask_out)
        print(f"{result.subset}: wrote {out} ({_summary(result.params)})")
        return 0

    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        if r.ok:
            write_png_atomic(r.image, out / f"{r.subset}.png")
            if args.mask_out:
                write_png_atomic(r.object_mask, Path(args.mask_out) / f"{r.subset}.png")
        print(f"{r.subset:18s} {r.status.value:12s} {_summary(r.params)}")
    # The original (or the input photo) shows the mask the edits used, as an outline, unless --no-outline.
    shown = photo if args.no_outline else outline(photo, mask)
    mask_note = "" if args.no_outline else " + mask"
    items: list[tuple[str, Any]] = [] if any(s.is_original for s in subsets) else [(f"photo (input){mask_note}", shown)]
    for s in subsets:
        result = by_name.get(s.name)
        image = None if result is None else shown if s.is_original else result.image
        if image is None and result is not None:  # the tile says why there is no image
            image = str(result.params.get("reason") or result.status.value)
        items.append((_panel_label(s.name, result) + (mask_note if s.is_original else ""), image))
    sheet = contact_sheet(items, out / "contact_sheet.png", columns=4)
    record = {
        "image": str(args.image), "source_id": source_id, "global_seed": args.seed, "label": label,
        "protocol": protocol.record(),
        "editor": editor.provenance() if editor is not None else None,
        "edits": {r.subset: {"status": r.status.value, **to_jsonable(r.params)} for r in results},
        "skipped": skipped,
    }
    _write_json_atomic(record, out / "edits.json")
    print(f"wrote {len([r for r in results if r.ok])} edits, {sheet} and {out / 'edits.json'}")
    return 0


def edit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The edit settings the command line sets explicitly (``--edit-option`` first, then the named flags)."""
    overrides: dict[str, Any] = dict(getattr(args, "edit_option", None) or [])
    for flag, field in (("resolution", "resolution"), ("fit", "fit"), ("full_mode", "full_mode"),
                        ("rotation_center", "rotation_center"), ("harmonize", "harmonize"), ("inpainter", "inpainter")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    return overrides


def _make_editor(args: argparse.Namespace, classifier, device: str):
    from .interfaces import make_background_editor

    if args.backend == "diffusion":
        if not args.unet:
            raise ValueError("--backend diffusion needs --unet DIR_OR_HUB_ID (a diffusers UNet2DModel)")
        kwargs = {"unet": args.unet, "device": device, "classifier": classifier}
        if args.steps is not None:
            kwargs["steps"] = args.steps
        return make_background_editor("diffusion", **kwargs)
    kwargs = {"classifier": classifier, "device": device}
    if args.iterations is not None:
        kwargs["iterations"] = args.iterations
    return make_background_editor(args.backend, **kwargs)


def _predict(classifier, photo, device: str) -> int:
    import torch

    x = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float().div(255).to(device)
    with torch.no_grad():
        return int(classifier(x).argmax(dim=-1)[0])


_SUMMARY_KEYS = ("lam", "adversarial", "rate", "scale", "x", "y", "angle", "inside_frame", "window", "reason")


def _summary(params: dict[str, Any]) -> str:
    parts = []
    for key in _SUMMARY_KEYS:
        if key in params:
            value = params[key]
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def _panel_label(name: str, result) -> str:
    if result is None:
        return f"{name} (skipped)"
    p = result.params
    if "angle" in p:
        return f"{name} ({p['angle']} deg)"
    if "rate" in p and "target_rate" in p:
        return f"{name} (rate {p['rate']:.3f})"
    if "lam" in p:
        return f"{name} (lambda {p['lam']:g})"
    return name


def _write_json_atomic(doc: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(doc, indent=2))
