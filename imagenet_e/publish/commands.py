"""``imagenet-e publish-metric`` and ``imagenet-e publish-leaderboard``.

Heavy imports (huggingface_hub, yaml) stay inside the handlers so ``imagenet-e --help`` is instant.
"""

from __future__ import annotations

import argparse


def _publish_metric(args: argparse.Namespace) -> int:
    from .metric_space import publish_metric

    upload = publish_metric(args.repo_id, private=args.private, dataset=args.dataset, results=args.results,
                            leaderboard=args.leaderboard)
    change = f"commit {upload.commit}" if upload.commit else f"no change (the Space already holds these files at {upload.head})"
    print(f"Metric Space {upload.space_id}: {change}")
    print(f"evaluate.load({upload.space_id!r}) loads it; Space: {upload.url}")
    return 0


def _publish_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard_space import RESULTS_VARIABLE, publish_leaderboard

    done = publish_leaderboard(args.space_id, args.results, private=args.private, dataset=args.dataset,
                               metric=args.metric)
    upload = done.upload
    change = f"commit {upload.commit}" if upload.commit else f"no change (the Space already holds these files at {upload.head})"
    print(f"Leaderboard Space {upload.space_id}: {change}")
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


def register(subparsers: argparse._SubParsersAction) -> None:
    metric = subparsers.add_parser(
        "publish-metric", help="publish the metric as a Hub Space that evaluate.load loads",
        description="Build the metric Space from the installed package (the package's module files unchanged, "
                    "card, gradio widget) and upload it; evaluate.load('NS/imagenet_e_metric') then needs only evaluate, "
                    "datasets and numpy. Unchanged files make no commit.",
    )
    metric.add_argument("--repo-id", required=True, metavar="NS/imagenet_e_metric",
                        help="the Space; its name is imagenet_e_metric (evaluate imports NAME.py, the package's script)")
    metric.add_argument("--private", action="store_true", help="make the Space private")
    _ids_options(metric, skip=("metric",))
    metric.set_defaults(func=_publish_metric)

    board = subparsers.add_parser(
        "publish-leaderboard", help="publish the leaderboard as a Hub Space",
        description="Create or update the leaderboard Space: app, card, requirements and a wheel of this project "
                    "built now, so it starts without imagenet-e on PyPI; sets the Space variable RESULTS_REPO.",
    )
    board.add_argument("--space-id", required=True, metavar="NS/NAME", help="the Space")
    board.add_argument("--results", required=True, metavar="NS/RESULTS",
                       help="existing Hub dataset repo of results files (imagenet-e submit creates it)")
    board.add_argument("--private", action="store_true", help="make the Space private")
    _ids_options(board, skip=("results", "leaderboard"))
    board.set_defaults(func=_publish_leaderboard)
