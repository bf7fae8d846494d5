"""``imagenet-e jobs``: run work on Hugging Face Jobs.

``jobs generate`` takes every flag of ``imagenet-e generate`` (the same parser) plus the Jobs flags;
``jobs generate-shard`` is what each job runs (one shard, committed to the staging repo) and can be
run by hand. See docs/scaling.md.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from functools import partial
from pathlib import Path

JOBS_DESTS = frozenset({"hf_jobs", "flavor", "staging_repo", "job_image", "job_launcher", "job_timeout",
                        "wait_timeout", "attempts", "poll", "dry_run", "out_dir"})
"""The launcher's own flags (never passed on to a job)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _add_jobs_flags(parser: argparse.ArgumentParser, launcher: tuple[str, ...], what: str) -> argparse._ArgumentGroup:
    """The Jobs flags every launching verb has (their dests are :data:`JOBS_DESTS`)."""
    jobs = parser.add_argument_group("Hugging Face Jobs")
    jobs.add_argument("--flavor", default="cpu-basic",
                      help="hardware of each job (`hf jobs hardware` lists them: cpu-basic, cpu-upgrade, t4-small, "
                           "l4x1, a10g-small, a100-large, h100, ...; default cpu-basic)")
    jobs.add_argument("--job-image", metavar="IMAGE", help="container image of the jobs (default: uv's Python image)")
    jobs.add_argument("--job-launcher", default=shlex.join(launcher), metavar="CMD",
                      help=f"how a job starts the imagenet-e CLI (default: {shlex.join(launcher)!r})")
    jobs.add_argument("--job-timeout", metavar="T", help="Hub-side time limit of each job, e.g. 2h (default: the Hub's)")
    jobs.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                      help="stop waiting (and cancel the jobs still running) after this long (default: wait)")
    jobs.add_argument("--attempts", type=_positive_int, default=2, help=f"launches per {what} before giving up (default 2)")
    jobs.add_argument("--poll", type=float, default=10.0, metavar="SECONDS", help="status poll interval (default 10)")
    jobs.add_argument("--dry-run", action="store_true", help="print each job's command and the plan; launch nothing")
    return jobs


def _add_staging_flags(parser: argparse.ArgumentParser) -> None:
    staging = parser.add_argument_group("staging")
    staging.add_argument("--staging-repo", required=True, metavar="NS/NAME", help="the staging dataset repo")
    staging.add_argument("--staging-path", required=True, metavar="FOLDER", help="this job's folder in it")


def register(subparsers: argparse._SubParsersAction) -> None:
    from generation import generate_command
    from imagenet_e.eval import commands as eval_commands

    from .common import command_parser
    from .evaluate_jobs import EVALUATE_LAUNCHER
    from .generate_jobs import DEFAULT_LAUNCHER

    p = subparsers.add_parser(
        "jobs", help="run generation and evaluation beyond one machine as Hugging Face Jobs (docs/scaling.md)",
        description="Run work as Hugging Face Jobs: `jobs generate` is `generate` split into N jobs and merged "
                    "here; `jobs evaluate` is `evaluate` for many models, one job each.")
    verbs = p.add_subparsers(dest="jobs_command", metavar="VERB")

    base = command_parser(generate_command, "generate")
    gen = verbs.add_parser(
        "generate", parents=[base], add_help=False,
        help="`imagenet-e generate` as N Hugging Face Jobs: shards staged on the Hub, merged and pushed from here",
        description=(
            "Every flag of `imagenet-e generate`, plus --hf-jobs N: job i runs `imagenet-e jobs generate-shard ... "
            "--num-shards N --shard-index i` (print the exact commands with --dry-run) and commits its shard's chunks "
            "to the staging dataset repo in one commit; this command waits, downloads them into <out>.work, runs the "
            "merge of `generate --merge` and pushes to --repo-id if given. Rerun the same command after a failure: "
            "shards already in the staging repo are not redone. Jobs cannot read this machine's disk: the photos "
            "must be a Hub dataset (--hf-dataset) and the masks made in the jobs (--auto-mask)."))
    jobs = _add_jobs_flags(gen, DEFAULT_LAUNCHER, "shard")
    jobs.add_argument("--hf-jobs", type=_positive_int, required=True, metavar="N", help="number of jobs (shards)")
    jobs.add_argument("--staging-repo", metavar="NS/NAME",
                      help="dataset repo the jobs commit their shards to (created private; default: <--repo-id>-staging)")
    gen.set_defaults(func=partial(_launch, gen))
    shard = verbs.add_parser(
        "generate-shard", parents=[base], add_help=False,
        help="what each job of `jobs generate` runs: one shard, committed to the staging repo",
        description=("`imagenet-e generate --num-shards N --shard-index I` in a scratch --out, then the shard's chunks, "
                     "the run's fingerprint and a shard.json marker in ONE commit to "
                     "<--staging-repo>/<--staging-path>/shard-I-of-N/."))
    _add_staging_flags(shard)
    shard.set_defaults(func=_shard)

    # Two copies: the "resolve" below edits the parent's own --model action, which parents share.
    scorer = command_parser(eval_commands, "evaluate")
    evaluate = verbs.add_parser(
        "evaluate", parents=[command_parser(eval_commands, "evaluate")], add_help=False, conflict_handler="resolve",
        help="`imagenet-e evaluate` for many models as Hugging Face Jobs, one job per model",
        description=(
            "Every flag of `imagenet-e evaluate`, with --model repeatable: job i runs `imagenet-e jobs evaluate-model "
            "--model M_i ...` (print the exact commands with --dry-run) and commits results.json and "
            "predictions.parquet to the staging repo in one commit; this command waits and downloads them into "
            "--out-dir/<model>/. Rerun the same command after a failure: models already done are not redone. "
            "Models and the dataset must be on the Hub."))
    evaluate.add_argument("--model", action="append", required=True, metavar="ID",
                          help="a Hub model id (repeatable: one job per model)")
    evaluate.add_argument("--out-dir", type=Path, default=Path("evaluations"),
                          help="where each model's results.json and predictions.parquet land (default evaluations)")
    _add_jobs_flags(evaluate, EVALUATE_LAUNCHER, "model").add_argument(
        "--staging-repo", required=True, metavar="NS/NAME", help="dataset repo the jobs commit their results to")
    evaluate.set_defaults(func=partial(_launch_evaluate, evaluate))
    one = verbs.add_parser(
        "evaluate-model", parents=[scorer], add_help=False,
        help="what each job of `jobs evaluate` runs: `imagenet-e evaluate`, then results and predictions committed",
        description="`imagenet-e evaluate` with the same flags, then --output and its predictions committed to "
                    "<--staging-repo>/<--staging-path>/ in ONE commit.")
    _add_staging_flags(one)
    one.set_defaults(func=partial(_evaluate_one, scorer.get_default("func")))
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _print_plan(specs, then: str) -> None:
    for i, spec in enumerate(specs):
        print(f"# job {i + 1}/{len(specs)} on {spec.flavor}, image {spec.image}, secret HF_TOKEN")
        print(shlex.join(spec.command))
    print(f"# then here: {then}")


def _run_or_explain(run, staging: str, what: str):
    from imagenet_e.hf_jobs import JobsFailed

    try:
        return run(log=lambda message: print(message, file=sys.stderr, flush=True))
    except JobsFailed as exc:
        raise ValueError(f"{exc}; run the same command again: the {what} already in {staging} are kept and only the "
                         "others are launched") from None


def _launch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from generation.generate_command import inputs_from_args, run_generate, settings_from_args

    from .generate_jobs import (
        LOCAL_ONLY_DESTS, GenerateJobsPlan, collect_shards, job_specs, refuse_local_inputs, run_generate_jobs,
        run_key,
    )
    from .common import job_argv, verb_tokens

    if args.merge or args.num_shards is not None or args.shard_index is not None:
        raise ValueError("--merge/--num-shards/--shard-index: `jobs generate` splits the run into --hf-jobs shards "
                         "and merges by itself")
    settings, inputs = settings_from_args(args), inputs_from_args(args)
    refuse_local_inputs(args)
    staging = args.staging_repo or (f"{args.repo_id}-staging" if args.repo_id else None)
    if staging is None:
        raise ValueError("give --staging-repo NS/NAME: the dataset repo the jobs commit their shards to")
    kept = job_argv(parser, verb_tokens(args.cli_argv, "generate"), LOCAL_ONLY_DESTS | JOBS_DESTS)
    plan = GenerateJobsPlan(kept, args.hf_jobs, staging, run_key(settings, inputs, args.hf_jobs),
                            tuple(shlex.split(args.job_launcher)))
    out = Path(args.out).absolute()
    if args.dry_run:
        _print_plan(job_specs(plan, flavor=args.flavor, image=args.job_image, timeout=args.job_timeout, secret=None),
                    f"download {staging}/{plan.staging_path}/shard-*-of-{plan.num_shards} into {out}.work and merge "
                    f"into {out}" + (f", push to {args.repo_id}" if args.repo_id else ""))
        return 0
    _check_before_launch(args, inputs, settings, out)
    _run_or_explain(partial(run_generate_jobs, plan, flavor=args.flavor, image=args.job_image,
                            job_timeout=args.job_timeout, wait_timeout=args.wait_timeout, attempts=args.attempts,
                            poll_s=args.poll), staging, "shards")
    from generation.pipeline import work_dir_for

    chunks = collect_shards(plan, work_dir_for(out))
    print(f"downloaded {chunks} chunk(s) of {plan.num_shards} shard(s) from {staging}/{plan.staging_path}",
          file=sys.stderr)
    return run_generate(argparse.Namespace(**{**vars(args), "merge": True}))


def _check_before_launch(args: argparse.Namespace, inputs, settings, out: Path) -> None:
    """What would fail after the jobs fails now: the output folder, the push token, the source's columns."""
    from generation.pipeline import work_dir_for
    from generation.pipeline.run import check_sources_early
    from imagenet_e_dataset.output_folder import OutputKind, check_output_folder

    resuming = (work_dir_for(out) / "run.json").is_file()
    check_output_folder(out, command="generate", kind=OutputKind.DATASET, overwrite=args.overwrite or resuming)
    if args.repo_id:
        from imagenet_e_dataset.push import check_token

        check_token()
    check_sources_early(inputs, settings)


def _shard(args: argparse.Namespace) -> int:
    from generation.generate_command import inputs_from_args, settings_from_args
    from generation.pipeline import Placement, generate, work_dir_for

    from .generate_jobs import upload_shard

    if args.num_shards is None or args.shard_index is None:
        raise ValueError("generate-shard needs --num-shards N and --shard-index I")
    if args.merge or args.repo_id:
        raise ValueError("--merge/--repo-id: a shard job only commits its chunks; `jobs generate` merges and pushes")
    placement = Placement(num_shards=args.num_shards, shard_index=args.shard_index, device=args.device,
                          progress=not args.no_progress)
    report = generate(inputs_from_args(args), settings_from_args(args), args.out, placement, keep_work=True,
                      overwrite=args.overwrite, merge_when_done=False)
    work = work_dir_for(Path(args.out))
    folder = upload_shard(work, args.num_shards, args.shard_index, report.chunks_total,
                          staging_repo=args.staging_repo, staging_path=args.staging_path)
    print(f"shard {args.shard_index + 1}/{args.num_shards}: committed {report.chunks_done_here + report.chunks_skipped_as_done} "
          f"chunk(s) to {args.staging_repo}/{folder}")
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _launch_evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import json

    from imagenet_e.eval.formats import format_results

    from .common import job_argv, refuse_local_paths, verb_tokens
    from .evaluate_jobs import LOCAL_ONLY_DESTS, LOCAL_PATH_FLAGS, EvaluateJobsPlan, job_specs, run_evaluate_jobs

    refuse_local_paths(args, LOCAL_PATH_FLAGS)
    kept = job_argv(parser, verb_tokens(args.cli_argv, "evaluate"), LOCAL_ONLY_DESTS | JOBS_DESTS)
    plan = EvaluateJobsPlan(tuple(args.model), kept, args.staging_repo, tuple(shlex.split(args.job_launcher)))
    if args.dry_run:
        _print_plan(job_specs(plan, flavor=args.flavor, image=args.job_image, timeout=args.job_timeout, secret=None),
                    f"download each model's results.json and predictions.parquet into {args.out_dir}/<model>/")
        return 0
    written = _run_or_explain(partial(run_evaluate_jobs, plan, args.out_dir, flavor=args.flavor, image=args.job_image,
                                      job_timeout=args.job_timeout, wait_timeout=args.wait_timeout,
                                      attempts=args.attempts, poll_s=args.poll), args.staging_repo, "models")
    print(format_results([json.loads(path.read_text(encoding="utf-8")) for path in written], args.format))
    print("results: " + "  ".join(str(path) for path in written), file=sys.stderr)
    return 0


def _evaluate_one(evaluate, args: argparse.Namespace) -> int:
    """``imagenet-e evaluate`` as the user would run it, then its results and predictions committed."""
    from .evaluate_jobs import upload_results

    if args.predictions is not None:
        raise ValueError("--predictions: a job writes its predictions beside --output (the staged pair)")
    code = evaluate(args)
    if code:
        return code
    upload_results(Path(args.output), staging_repo=args.staging_repo, staging_path=args.staging_path)
    print(f"committed {args.output} and its predictions to {args.staging_repo}/{args.staging_path}")
    return 0
