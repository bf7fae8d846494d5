"""``imagenet-e generate``: ImageNet val photos + ImageNet-S masks (or an image folder, or a Hub
image-classification dataset, with mask files or automatic masks) in, an ImageNet-E dataset out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .edit_flags import add_editing_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate ImageNet-E from ImageNet val images and ImageNet-S masks, an image folder or a Hub dataset "
             "(resumable, shardable)",
        description=(
            "Run every selected ImageNet val image through every requested subset and write the dataset in the "
            "Hub layout (one config per subset) with manifest.jsonl and skipped.tsv. Work is committed in chunks to "
            "<out>.work: a killed run restarted with the same arguments resumes and gives the same bytes. Under "
            "torchrun / accelerate launch each process takes its share of chunks and rank 0 merges; for job arrays "
            "use --num-shards/--shard-index and then --merge. Besides the ImageNet val layout (--images), the photos "
            "can be an image folder (--image-folder) or a Hub image-classification dataset (--hf-dataset); masks "
            "come from --masks or --auto-mask (docs/any-dataset.md)."
        ),
    )
    io = p.add_argument_group("inputs and output")
    source = io.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path, help="ImageNet val images (flat or in wnid folders)")
    source.add_argument("--image-folder", type=Path, metavar="DIR",
                        help="your own photos as DIR/<class name>/<file>.jpg|jpeg|png: the classes are the sorted folder "
                             "names, a photo's source id is <class>-<file stem> (characters outside A-Za-z0-9_.- "
                             "become '_': 'tabby cat/001.jpg' -> tabby_cat-001)")
    source.add_argument("--hf-dataset", metavar="ID",
                        help="a Hub image-classification dataset (or a local dataset folder), streamed and staged in "
                             "<out>.work/hf-source; needs --split; source id <split>-<row index:06d>; the classes are "
                             "the label column's ClassLabel names (or 0..max for an integer column)")
    io.add_argument("--masks", type=Path,
                    help="mask folder: ImageNet-S <wnid>/<source_id>.png (or flat) for --images; for --image-folder and "
                         "--hf-dataset one 0/255 PNG named <source id>.png (e.g. tabby_cat-001.png, test-000004.png) "
                         "anywhere under it. Or use --auto-mask")
    io.add_argument("--auto-mask", metavar="METHOD",
                    help="make the masks from the photos instead of --masks: u2netp, grabcut, grabcut+u2netp, or "
                         "hf:<CLIPSeg Hub id or folder> (prompted with each image's class name); every mask is cleaned "
                         "(largest region, holes filled) and empty / full-frame / several-object masks are skipped "
                         "with the reason")
    io.add_argument("--mask-threshold", type=float, metavar="T",
                    help="threshold in (0, 1) on the masker's probability map (default 0.5 for u2netp, 0.4 for hf:)")
    io.add_argument("--labels", type=Path, help="labels file '<file name><TAB><index>' (default: wnid folders, else the official val labels)")
    hub = p.add_argument_group("Hub dataset source (--hf-dataset)")
    hub.add_argument("--config", dest="hf_config", metavar="C", help="the dataset's config (subset) name")
    hub.add_argument("--split", metavar="S", help="the split to take the photos from (required with --hf-dataset)")
    hub.add_argument("--hf-revision", metavar="REV", help="a branch, tag or commit of the dataset repo")
    hub.add_argument("--image-column", default="image", help="the Image column (default image)")
    hub.add_argument("--label-column", default="label", help="the ClassLabel or integer label column (default label)")
    io.add_argument("--out", required=True, type=Path, help="output dataset folder")
    io.add_argument("--repo-id", help="push the finished dataset to this Hub dataset repo (NS/NAME)")
    io.add_argument("--private", action="store_true", help="create the Hub repo private")
    io.add_argument("--max-shard-size", default="500MB", help="parquet shard size bound (default 500MB)")
    io.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    io.add_argument("--keep-work", action="store_true", help="keep <out>.work (the committed chunks) after the merge")

    sel = p.add_argument_group("source selection")
    sel.add_argument("--limit", type=int, help="use only the first N selected sources (by source id)")
    sel.add_argument("--min-area", type=float, default=0.0, help="minimum object share of the image (mask area)")
    sel.add_argument("--max-area", type=float, default=1.0, help="maximum object share of the image")
    sel.add_argument("--single-object", action="store_true", help="keep only masks with one connected object")

    add_editing_arguments(p.add_argument_group("editing (the same flags as `imagenet-e edit`)"))

    run = p.add_argument_group("work split")
    run.add_argument("--chunk-size", type=int, default=32, help="sources per committed chunk (default 32)")
    run.add_argument("--num-shards", type=int, help="number of shards of a job array (default: WORLD_SIZE or 1)")
    run.add_argument("--shard-index", type=int, help="this job's shard (default: RANK or 0)")
    run.add_argument("--merge", action="store_true", help="only assemble the dataset from the committed chunks")
    run.add_argument("--batch-size", type=int, default=8, help="sources planned and edited together (default 8)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--rank-timeout", type=float, default=None, metavar="SECONDS",
                     help="under torchrun / accelerate launch: how long rank 0 waits for a rank that shows no sign of "
                          "life before naming it and stopping (default 1800)")
    p.set_defaults(func=run_generate)


def settings_from_args(args: argparse.Namespace):
    """The run's :class:`~generation.pipeline.GenerateSettings`: the editing flags shared with ``edit``, and
    the selection and chunking only ``generate`` has."""
    from imagenet_e_dataset.hub_layout import parse_size

    from .edit_flags import settings_from_args as editing_settings
    from .sources import SelectionFilter

    return editing_settings(
        args,
        auto_mask=args.auto_mask,
        mask_threshold=args.mask_threshold,
        limit=args.limit,
        selection=SelectionFilter(min_area=args.min_area, max_area=args.max_area, single_object=args.single_object),
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        max_shard_bytes=parse_size(args.max_shard_size),
    )


def inputs_from_args(args: argparse.Namespace):
    """The run's :class:`~generation.pipeline.Inputs`; combinations that make no sense are refused here."""
    from .pipeline import Inputs

    hub = None
    if args.hf_dataset is not None:
        from .source_hub import HubRequest

        if not args.split:
            raise ValueError("--hf-dataset needs --split (e.g. --split test)")
        hub = HubRequest(args.hf_dataset, args.split, args.hf_config, args.hf_revision, args.image_column, args.label_column)
    else:
        given = [flag for flag, value in (("--split", args.split), ("--config", args.hf_config),
                                          ("--hf-revision", args.hf_revision)) if value is not None]
        if given or args.image_column != "image" or args.label_column != "label":
            raise ValueError(f"{', '.join(given) or '--image-column/--label-column'} only apply to --hf-dataset")
    if args.labels is not None and args.images is None:
        where = "the class folders" if args.image_folder is not None else "the dataset's label column"
        raise ValueError(f"--labels is only for --images: with {'--image-folder' if hub is None else '--hf-dataset'} "
                         f"the labels come from {where}")
    if args.masks is not None and args.auto_mask is not None:
        raise ValueError(f"give --masks or --auto-mask, not both (--masks {args.masks}, --auto-mask {args.auto_mask})")
    if args.masks is None and args.auto_mask is None:
        raise ValueError("give --masks DIR (one mask per photo) or --auto-mask METHOD (masks made from the photos)")
    return Inputs(args.images, args.masks, args.labels, image_folder=args.image_folder, hub=hub)


def run_generate(args: argparse.Namespace) -> int:
    """The `generate` command on parsed flags (also the merge step of `imagenet-e jobs generate`)."""
    from imagenet_e_dataset.registry import ORIGINAL_CONFIG

    from .pipeline import Placement, generate

    settings = settings_from_args(args)
    inputs = inputs_from_args(args)
    extra = {} if args.rank_timeout is None else {"rank_timeout_s": args.rank_timeout}
    placement = Placement.from_environment(
        args.num_shards, args.shard_index, device=args.device, progress=not args.no_progress, **extra
    )
    report = generate(
        inputs,
        settings,
        args.out,
        placement,
        merge_only=args.merge,
        keep_work=args.keep_work,
        overwrite=args.overwrite,
        repo_id=args.repo_id,
        private=args.private,
    )
    if report.out is not None:
        rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
        skipped = sum(report.skipped.values())
        kept = report.rows.get(ORIGINAL_CONFIG, 0)
        # Sources refused while editing (an automatic mask, an unreadable photo) are selected but not in the dataset.
        sources = f"{report.num_sources} sources" + (f" ({kept} in the dataset)" if kept != report.num_sources else "")
        from .masks import format_mask_warning

        for source_id, warnings in report.mask_warnings.items():
            for warning in warnings:
                print(format_mask_warning(warning, source_id), file=sys.stderr)
        flagged = len(report.mask_warnings)
        print(f"wrote {report.out}: {sources}; rows: {rows}; {skipped} skip(s) in skipped.tsv; "
              f"{flagged} flagged mask(s)" + (" (warnings above, `mask_warnings` in manifest.jsonl)" if flagged else ""))
        if report.url:
            print(f"pushed to {report.url}")
    else:
        if not placement.launcher:
            print(f"shard {placement.shard_index + 1}/{placement.num_shards} done; when every shard has finished, run "
                  f"the same command with --merge to assemble {Path(args.out).absolute()}", file=sys.stderr)
        print(f"committed {report.chunks_done_here} chunk(s) ({report.chunks_skipped_as_done} already done) "
              f"of {report.chunks_total}", file=sys.stderr)
    return 0
