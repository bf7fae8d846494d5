"""``imagenet-e leaderboard`` (serve the board locally) and ``imagenet-e submit`` (send a results file).

Heavy imports (gradio, huggingface_hub) stay inside the handlers so ``imagenet-e --help`` is instant.
"""

from __future__ import annotations

import argparse

from generation.commands import add_plugin_argument


def _dataset_sources(values: list[str] | None) -> dict[str, str]:
    """``--dataset NAME=PATH`` (or a bare PATH, known by its folder name) -> {name: location}."""
    from pathlib import Path

    out: dict[str, str] = {}
    for value in values or []:
        name, sep, where = value.partition("=")
        if not sep:
            path = Path(value).expanduser()
            if not path.is_dir():
                raise ValueError(f"--dataset {value!r}: not a folder; give NAME=PATH or an existing dataset folder")
            name, where = path.resolve().name, str(path)
        if not name or not where:
            raise ValueError(f"--dataset {value!r}: expected NAME=PATH")
        out[name] = where
    return out


def _pin(args: argparse.Namespace):
    """The benchmark the owner pins: ``--board-config board.yaml`` or ``--benchmark DATASET[@REVISION]``
    (with ``--benchmark-protocol`` / ``--benchmark-configs`` / ``--other-benchmarks``); None: board.yaml
    in the results source, else the one ``--dataset``."""
    from imagenet_e.leaderboard.benchmark import pin_from_mapping, read_board_yaml

    if args.board_config and args.benchmark:
        raise ValueError("give --board-config or --benchmark, not both")
    if args.board_config:
        return read_board_yaml(args.board_config)
    if not args.benchmark:
        return None
    dataset, _, revision = args.benchmark.partition("@")
    configs = [c.strip() for c in args.benchmark_configs.split(",") if c.strip()] if args.benchmark_configs else None
    return pin_from_mapping({"dataset": dataset, "revision": revision or None, "protocol": args.benchmark_protocol,
                             "configs": configs, "list_other_benchmarks": args.other_benchmarks}, "--benchmark")


def _serve(args: argparse.Namespace) -> int:
    from imagenet_e.leaderboard.app import build_app, launch
    from imagenet_e.leaderboard.table import default_source

    source = args.results or default_source()
    demo = build_app(source, datasets=_dataset_sources(args.dataset), pin=_pin(args))
    print(f"Serving the ImageNet-E leaderboard for {source or '(no results source)'} on http://{args.host}:{args.port}")
    launch(demo, host=args.host, port=args.port, block=True)
    return 0


def _submit(args: argparse.Namespace) -> int:
    from imagenet_e.leaderboard.submit import submit_results

    result = submit_results(args.results_file, args.repo_id, create_pr=args.pr, model_repo=args.model_repo,
                            dataset_id=args.dataset_id, dataset=args.dataset)
    kind = "Pull request" if args.pr else "Commit"
    print(f"{kind} ({result.path_in_repo}): {result.url}")
    if result.model_repo_url:
        print(f"Model repo .eval_results entry: {result.model_repo_url}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "leaderboard", help="serve the leaderboard web app locally",
        description="Serve the ImageNet-E leaderboard (Gradio) from a results folder or Hub dataset repo.",
    )
    serve.add_argument("--results", metavar="DIR_OR_REPO", default=None,
                       help="folder of results JSON files or Hub dataset repo id (default: $RESULTS_DIR or $RESULTS_REPO)")
    serve.add_argument("--dataset", action="append", metavar="NAME=PATH",
                       help="where a local benchmark dataset named in results is (results name local folders by "
                            "name only); repeatable; a bare folder is known by its name. Hub datasets need nothing")
    serve.add_argument("--board-config", metavar="board.yaml", default=None,
                       help="the owner's board configuration (the pinned benchmark; see docs/leaderboard.md); "
                            "default: board.yaml at the root of the results source")
    serve.add_argument("--benchmark", metavar="DATASET[@REVISION]", default=None,
                       help="pin the benchmark ranked: a Hub dataset id or a --dataset name, at a revision "
                            "(default: its current one)")
    serve.add_argument("--benchmark-protocol", metavar="PROTOCOL", default=None,
                       help="with --benchmark: rank only this evaluation protocol (e.g. all-classes)")
    serve.add_argument("--benchmark-configs", metavar="A,B,...", default=None,
                       help="with --benchmark: rank only results on exactly these configs")
    serve.add_argument("--other-benchmarks", action="store_true",
                       help="with --benchmark: list results for other benchmarks, each in its own table")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--host", default="127.0.0.1")
    add_plugin_argument(serve)
    serve.set_defaults(func=_serve)

    submit = subparsers.add_parser(
        "submit", help="check a results file against its predictions and commit both to the results repo",
        description="Check a results file and the predictions.parquet beside it exactly as the leaderboard does "
                    "(recomputing every number against the dataset's labels) and commit both (or open a PR) "
                    "to a Hub dataset repo.",
    )
    submit.add_argument("results_file", metavar="results.json")
    submit.add_argument("--dataset", metavar="PATH_OR_ID", default=None,
                        help="the benchmark dataset to check labels against (default: the Hub id the results name)")
    submit.add_argument("--repo-id", required=True, metavar="NS/RESULTS", help="the results dataset repo")
    submit.add_argument("--pr", action="store_true", help="open a pull request instead of committing to main")
    submit.add_argument("--model-repo", metavar="NS/MODEL", default=None,
                        help="also write .eval_results/imagenet-e.yaml (Hub-native eval results) to this model repo")
    submit.add_argument("--dataset-id", metavar="NS/DATASET", default=None,
                        help="benchmark dataset id for the .eval_results entry "
                             "(default: $IMAGENET_E_DATASET_ID, else the results file's dataset.id)")
    add_plugin_argument(submit)
    submit.set_defaults(func=_submit)
