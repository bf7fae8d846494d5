"""``imagenet-e publish-metric`` and ``imagenet-e publish-leaderboard``.

Heavy imports (huggingface_hub, yaml) stay inside the handlers so ``imagenet-e --help`` is instant.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import SpaceUpload


def _print_changes(what: str, upload: SpaceUpload) -> bool:
    """Print what the publish did or would do; True for a dry run (nothing more to say)."""
    if upload.dry_run:
        print(f"{what} Space {upload.space_id}: dry run, nothing changed; publishing would:")
        for change in upload.changes or ("change nothing",):
            print(f"  {change}")
        return True
    change = f"commit {upload.commit}" if upload.commit else f"no change (the Space already holds these files at {upload.head})"
    print(f"{what} Space {upload.space_id}: {change}")
    return False


def _publish_metric(args: argparse.Namespace) -> int:
    from .metric_space import publish_metric

    upload = publish_metric(args.repo_id, private=args.private, dataset=args.dataset, results=args.results,
                            leaderboard=args.leaderboard, overwrite=args.overwrite, dry_run=args.dry_run)
    if _print_changes("Metric", upload):
        return 0
    print(f"evaluate.load({upload.space_id!r}) loads it; Space: {upload.url}")
    return 0


def _publish_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard_space import RESULTS_VARIABLE, publish_leaderboard

    done = publish_leaderboard(args.space_id, args.results, private=args.private, dataset=args.dataset,
                               metric=args.metric, overwrite=args.overwrite, dry_run=args.dry_run)
    upload = done.upload
    if _print_changes("Leaderboard", upload):
        return 0
    print(f"Space variable {RESULTS_VARIABLE}={done.results}" + ("" if done.variable_changed else " (unchanged)"))
    if done.results_private:
        print(f"{done.results} is private: add a token that can read it as the Space secret HF_TOKEN")
    print(upload.url)
    return 0


def _ids_options(parser: argparse.ArgumentParser, skip: tuple[str, ...]) -> None:
    # The card's usage block names every published piece; each defaults to the standard name in
    # the namespace being published to.
    options = {
        "dataset": ("NS/DATASET", "the benchmark dataset repo (default: NS/imagenet-e)"),
        "metric": ("NS/METRIC", "the metric Space (default: NS/imagenet_e_metric)"),
        "results": ("NS/RESULTS", "the results dataset repo (default: NS/imagenet-e-results)"),
        "leaderboard": ("NS/SPACE", "the leaderboard Space (default: NS/imagenet-e-leaderboard)"),
    }
    for name, (metavar, text) in options.items():
        if name not in skip:
            parser.add_argument(f"--{name}", metavar=metavar, default=None, help=f"named in the card: {text}")


def _space_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--private", action="store_true", help="make the Space private")
    parser.add_argument("--overwrite", action="store_true",
                        help="publish onto an existing Space that imagenet-e did not make (its files are replaced)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the files and variables that would change, and change nothing")


def register(subparsers: argparse._SubParsersAction) -> None:
    metric = subparsers.add_parser(
        "publish-metric", help="publish the metric as a Hub Space that evaluate.load loads",
        description="Build the metric Space from the installed package (the package's module files unchanged, "
                    "card, gradio widget) and upload it; evaluate.load('NS/imagenet_e_metric') then needs only evaluate, "
                    "datasets and numpy. Unchanged files make no commit; a Space imagenet-e did not make is refused "
                    "unless --overwrite.",
    )
    metric.add_argument("--repo-id", required=True, metavar="NS/imagenet_e_metric",
                        help="the Space; its name is imagenet_e_metric (evaluate imports NAME.py, the package's script)")
    _space_options(metric)
    _ids_options(metric, skip=("metric",))
    metric.set_defaults(func=_publish_metric)

    board = subparsers.add_parser(
        "publish-leaderboard", help="publish the leaderboard as a Hub Space",
        description="Create or update the leaderboard Space: app, card, requirements and a wheel of this project "
                    "built now, so it starts without imagenet-e on PyPI; sets the Space variable RESULTS_REPO first. "
                    "A Space imagenet-e did not make is refused unless --overwrite.",
    )
    board.add_argument("--space-id", required=True, metavar="NS/NAME", help="the Space")
    board.add_argument("--results", required=True, metavar="NS/RESULTS",
                       help="existing Hub dataset repo of results files (imagenet-e submit creates it)")
    _space_options(board)
    _ids_options(board, skip=("results", "leaderboard"))
    board.set_defaults(func=_publish_leaderboard)
