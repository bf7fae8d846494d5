"""``imagenet-e edit``: the generation pipeline applied to one photo, and ``imagenet-e contact-sheet``.

    imagenet-e edit cat.jpg cat_mask.png --subsets size_0.1 --out cat_01.png
    imagenet-e edit cat.jpg --auto-mask u2netp --subsets all --random-background street.jpg \
        --random-background-mask street_mask.png --out edits/

``edit`` takes the editing flags of ``generate`` (one definition: :mod:`generation.edit_flags`) and runs
the same planning, requirements, device choice and classifier loading (:mod:`generation.edit_command`);
its pixels are the bytes ``generate`` writes for that photo. With several subsets ``--out`` is a folder
that receives one ``<subset>.png`` per subset, ``contact_sheet.png`` (the original and every edit,
labelled) and ``edits.json`` (the parameters drawn for each edit and the protocol with every setting).
"""

from __future__ import annotations

import argparse
from pathlib import Path

# add_plugin_argument and DEFAULT_AUTO_MASK are re-exported: evaluate, leaderboard and tests import them from here.
from .edit_flags import DEFAULT_AUTO_MASK, add_editing_arguments, add_plugin_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "edit",
        help="edit one photo into ImageNet-E subsets (background, size, position, direction)",
        description="Edit one photo into one or all ImageNet-E subsets on a CPU (or with the diffusion backend).",
    )
    p.add_argument("image", help="the photo (any format PIL reads)")
    p.add_argument("mask", nargs="?", help="binary object mask PNG (0/255) at the photo's resolution")
    p.add_argument("--out", required=True, help="output PNG (one subset) or folder (several / all)")
    p.add_argument("--mask-out", help="write the edited object mask(s) here (a PNG, or a folder for several subsets)")
    p.add_argument("--label", type=int, help="ImageNet-1k class index (the adversarial subset lowers its probability; "
                                             "default: the guiding classifier's prediction on the photo)")
    p.add_argument("--lambda", dest="lam", type=float, help="override λ of the background subsets")
    p.add_argument("--auto-mask", nargs="?", const=DEFAULT_AUTO_MASK, metavar="METHOD",
                   help=f"make the mask automatically when none is given: {DEFAULT_AUTO_MASK} (the default; best IoU on "
                        "the reference masks, benchmarks/bench_masks.py), grabcut, grabcut+u2netp, or "
                        "hf:<CLIPSeg Hub id or folder> prompted with --mask-prompt; cleaned as generate cleans it")
    p.add_argument("--mask-prompt", help="text prompt of an hf: auto-mask model (default: the --label's class name)")
    p.add_argument("--random-background", help="photo whose clean background background_random uses (the donor)")
    p.add_argument("--random-background-mask",
                   help="object mask of --random-background (its object is removed first; or --auto-mask makes it)")
    p.add_argument("--no-outline", action="store_true", help="contact sheet: show the photo without the mask's outline")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_editing_arguments(p.add_argument_group("editing (the same flags as `imagenet-e generate`)"), deprecated=True)
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
    from .edit_command import run_edit

    return run_edit(args)
