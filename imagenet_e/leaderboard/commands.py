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
    if args.model:
        return _submit_model(args)
    if not args.results_file or not args.repo_id:
        raise ValueError("give a results file and --repo-id NS/RESULTS, or --model NS/MODEL --requests NS/REQUESTS "
                         "to have the board evaluate the model itself")
    return _submit_results(args)


def _submit_model(args: argparse.Namespace) -> int:
    from imagenet_e.leaderboard.requests import submit_model_request

    if args.results_file:
        raise ValueError("--model queues a model for the board to evaluate; do not also give a results file")
    if not args.requests:
        raise ValueError("--model needs --requests NS/REQUESTS (the board's requests dataset repo)")
    request, url = submit_model_request(args.requests, args.model, revision=args.revision, loader=args.loader)
    print(f"Requested: {request.model}@{request.revision} ({request.status.value}): {url}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from functools import partial

    from imagenet_e.leaderboard.worker import evaluate_locally, run_worker

    if args.jobs:
        from imagenet_e.leaderboard.jobs_worker import evaluate_with_jobs

        import shlex

        evaluate = partial(evaluate_with_jobs, staging_repo=args.requests, flavor=args.flavor, shards=args.shards,
                           image=args.image, timeout=args.job_timeout, batch_size=args.batch_size,
                           **({"launcher": tuple(shlex.split(args.job_launcher))} if args.job_launcher else {}))
    else:
        if args.shards != 1:
            raise ValueError("--shards splits a model over several Hugging Face Jobs: it needs --jobs")
        evaluate = partial(evaluate_locally, batch_size=args.batch_size)
    done = run_worker(args.requests, args.results, evaluate=evaluate, once=args.once, poll_s=args.poll)
    failed = [r for r in done if r.status.value == "failed"]
    print(f"{len(done) - len(failed)} request(s) finished, {len(failed)} failed")
    if args.spot_check:
        from huggingface_hub import HfApi

        from imagenet_e.leaderboard.spot_check import spot_check_repo
        from imagenet_e.leaderboard.worker import board_pin

        records = spot_check_repo(args.results, board_pin(args.results), HfApi().whoami().get("name") or "unknown",
                                  sample=args.spot_check, batch_size=args.batch_size)
        print(f"{len(records)} self-reported file(s) spot-checked")
    return 0


def _submit_results(args: argparse.Namespace) -> int:
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
    submit.add_argument("results_file", metavar="results.json", nargs="?", default=None,
                        help="a results file to submit as self-reported (or use --model)")
    submit.add_argument("--model", metavar="NS/MODEL", default=None,
                        help="queue a Hub model for the board to evaluate itself (verified results); "
                             "needs --requests")
    submit.add_argument("--revision", metavar="REV", default=None,
                        help="with --model: the model revision (pinned to its commit now; default: main)")
    submit.add_argument("--loader", default="auto", help="with --model: how the worker loads it (default: auto)")
    submit.add_argument("--requests", metavar="NS/REQUESTS", default=None,
                        help="with --model: the board's requests dataset repo")
    submit.add_argument("--dataset", metavar="PATH_OR_ID", default=None,
                        help="the benchmark dataset to check labels against (default: the Hub id the results name)")
    submit.add_argument("--repo-id", metavar="NS/RESULTS", default=None,
                        help="the results dataset repo (with a results file)")
    submit.add_argument("--pr", action="store_true", help="open a pull request instead of committing to main")
    submit.add_argument("--model-repo", metavar="NS/MODEL", default=None,
                        help="also write .eval_results/imagenet-e.yaml (Hub-native eval results) to this model repo")
    submit.add_argument("--dataset-id", metavar="NS/DATASET", default=None,
                        help="benchmark dataset id for the .eval_results entry "
                             "(default: $IMAGENET_E_DATASET_ID, else the results file's dataset.id)")
    add_plugin_argument(submit)
    submit.set_defaults(func=_submit)

    worker = subparsers.add_parser(
        "board-worker", help="evaluate requested models on the board's pinned benchmark (verified results)",
        description="Take pending requests from the requests repo, evaluate each model at its pinned commit on the "
                    "benchmark pinned by the results repo's board.yaml, and commit results + predictions + a "
                    "verification record to the results repo; requests end finished or failed with a reason.",
    )
    worker.add_argument("--requests", required=True, metavar="NS/REQUESTS")
    worker.add_argument("--results", required=True, metavar="NS/RESULTS")
    worker.add_argument("--once", action="store_true", help="process the pending requests, then exit (cron)")
    worker.add_argument("--poll", type=float, default=60.0, metavar="SECONDS", help="wait between polls (default 60)")
    worker.add_argument("--batch-size", type=int, default=64)
    worker.add_argument("--spot-check", type=int, default=0, metavar="N",
                        help="after the requests (with --once), re-run N seeded source images of each self-reported "
                             "file whose model is public and record whether its predictions agree")
    worker.add_argument("--jobs", action="store_true", help="run each evaluation as Hugging Face Jobs")
    worker.add_argument("--flavor", default="cpu-basic", help="with --jobs: the Jobs hardware flavor (e.g. t4-small)")
    worker.add_argument("--shards", type=int, default=1, help="with --jobs: split one model over N jobs")
    worker.add_argument("--image", default=None, help="with --jobs: the container image (default: a uv image)")
    worker.add_argument("--job-launcher", default=None, metavar="COMMAND",
                        help="with --jobs: how a job starts the imagenet-e CLI, as for `imagenet-e jobs` "
                             "(default: 'uv run --with imagenet-e[eval] imagenet-e', for the default uv image)")
    worker.add_argument("--job-timeout", type=float, default=3600.0, metavar="SECONDS",
                        help="with --jobs: give up on a job after this long")
    worker.set_defaults(func=_worker)
