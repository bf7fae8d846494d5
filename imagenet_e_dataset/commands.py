"""``imagenet-e import-release`` / ``push`` / ``subsets`` subcommands."""

from __future__ import annotations

import argparse


def _import_release(args: argparse.Namespace) -> int:
    from .hub_layout import parse_size
    from .importer import import_release

    report = import_release(
        args.src,
        args.out,
        skip_bad=args.skip_bad,
        max_shard_bytes=parse_size(args.max_shard_size),
        subsets=args.subsets,
        repo_id=args.repo_id,
        overwrite=args.overwrite,
    )
    for name, count in report.counts.items():
        print(f"{name:20s} {count:7d}")
    print(f"wrote {report.total} images in {len(report.counts)} configs to {report.out_dir}")
    if report.skipped_report is not None:
        print(f"skipped {len(report.skipped)} bad entries; listed in {report.skipped_report}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .hub_layout import README_NAME

    folder = Path(args.dir)
    if not (folder / README_NAME).is_file():
        raise FileNotFoundError(f"{folder} is not a dataset folder in the Hub layout (no {README_NAME})")
    from .push import push_folder  # helper H's module: the Hub upload itself
    from dataclasses import replace

    from imagenet_e_dataset.hub_ids import PublishedIds

    # The card's usage block names every published piece: the standard ids in this namespace unless given.
    ids = replace(PublishedIds.around(args.repo_id, metric=args.metric, results=args.results,
                                      leaderboard=args.leaderboard), dataset=args.repo_id)
    url = push_folder(folder, args.repo_id, private=args.private, revision=args.revision, commit_message=args.message,
                      usage_ids=ids)
    print(url)
    return 0


def registry_table(*, extras: bool = False) -> str:
    """Markdown table of the installed registry's subsets: what ``generate`` can make here (a written
    dataset's own configs are in its card, from its description). ``extras``: the extra and plug-in ones."""
    from .registry import ALL_SUBSETS

    rows = ["| config | official folder | attribute | level | what it is |", "|---|---|---|---|---|"]
    rows += [f"| `{s.name}` | {f'`{s.alias}`' if s.alias else '—'} | {s.attribute.name} | {s.level} | {s.description} |"
             for s in ALL_SUBSETS.values() if s.benchmark != extras]
    return "\n".join(rows)


def _subsets(args: argparse.Namespace) -> int:
    from .registry import edited_attributes

    print(registry_table())
    if args.extras:
        print("\nExtras and plug-in subsets (not in 'all'; pick them by name or with 'all+extras'):\n")
        print(registry_table(extras=True))
        print("\nAttributes:")
        for a in edited_attributes():
            print(f"  {a.name:12s} {a.description}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-release",
        help="convert the authors' release folder into the Hub dataset layout",
        description="Read SRC (labels.txt + one folder per subset) and write OUT: <config>/test-*.parquet + README.md.",
    )
    p.add_argument("src", help="release root holding labels.txt and the subset folders (ori, 20_hard, ...)")
    p.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--skip-bad", action="store_true", help="skip bad files and list them in OUT.skipped.tsv instead of stopping")
    p.add_argument("--max-shard-size", default="500MB", help="largest parquet shard, e.g. 500MB, 64MiB (default 500MB)")
    p.add_argument("--subsets", default="all", help="comma-separated config names or folder aliases (default: all)")
    p.add_argument("--repo-id", default="<org>/imagenet-e", help="repo id shown in the card's loading examples")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=_import_release)

    p = subparsers.add_parser("push", help="upload a dataset folder in the Hub layout to a Hub dataset repo")
    p.add_argument("dir", help="folder written by import-release or the generator")
    p.add_argument("--repo-id", required=True, help="NAMESPACE/NAME of the dataset repo")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--revision", default=None, help="branch to push to (default: main)")
    p.add_argument("--message", default=None, help="commit message")
    p.add_argument("--metric", metavar="NS/METRIC", default=None, help="metric Space named in the card (default: NS/imagenet_e)")
    p.add_argument("--results", metavar="NS/RESULTS", default=None,
                   help="results dataset named in the card (default: NS/imagenet-e-results)")
    p.add_argument("--leaderboard", metavar="NS/SPACE", default=None,
                   help="leaderboard Space named in the card (default: NS/imagenet-e-leaderboard)")
    p.set_defaults(func=_push)

    p = subparsers.add_parser("subsets", help="print the table of ImageNet-E subsets (config names, folders, attributes)")
    p.add_argument("--extras", action="store_true", help="also list the extra and plug-in subsets and every attribute")
    p.add_argument("--plugin", action="append", metavar="MODULE_OR_FILE", help="load an attribute plug-in first (repeatable)")
    p.set_defaults(func=_subsets)
