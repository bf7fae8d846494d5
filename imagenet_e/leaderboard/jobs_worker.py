"""The board worker's Jobs mode: one request evaluated as N Hugging Face Jobs, predictions merged.

Each shard job runs ``python -m imagenet_e.leaderboard.jobs_worker`` (below): the project's runner
on ``original`` plus its share of the edited configs (configs dealt round-robin), then uploads its
predictions to a staging folder of the requests repo (``staging/<request id>/shard-K-of-N``).
The worker waits for every shard (:func:`imagenet_e.hf_jobs.run_jobs` relaunches failed or missing
shards only), concatenates the shards' predictions (``original`` once), and computes the results
from the merged predictions exactly as ``imagenet-e score`` would; :mod:`.worker` then checks and
publishes them as for a local run, with the job ids in the verification record.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from imagenet_e.hf_jobs import DEFAULT_IMAGE, JobSpec, run_jobs

from .benchmark import BenchmarkPin
from .requests import EvalRequest
from .worker import Evaluation

STAGING_FOLDER = "staging"
DEFAULT_LAUNCHER = ("uv", "run", "--with", "imagenet-e[eval]", "python")
"""How a job starts Python with the project installed (the default image is uv's)."""


def shard_configs(configs: Sequence[str], shards: int) -> list[list[str]]:
    """Edited configs dealt round-robin over ``shards`` (each shard also scores ``original``)."""
    edited = [c for c in configs if c != "original"]
    if shards < 1:
        raise ValueError(f"--shards must be >= 1, got {shards}")
    if shards > max(1, len(edited)):
        raise ValueError(f"--shards {shards}: the benchmark has only {len(edited)} edited configs to split")
    return [edited[k::shards] for k in range(shards)]


def staging_path(request: EvalRequest, index: int, shards: int) -> str:
    return f"{STAGING_FOLDER}/{request.request_id}/shard-{index}-of-{shards}.predictions.parquet"


def _benchmark_configs(pin: BenchmarkPin) -> list[str]:
    from .verify import DatasetResolver

    if pin.configs:
        return list(pin.configs)
    found = DatasetResolver().config_names(pin.dataset_id, pin.revision)
    if not found:
        raise ValueError(f"cannot list the configs of {pin.dataset_id}@{pin.revision}")
    from imagenet_e_dataset.registry import ALL_SUBSETS

    return [c for c in ALL_SUBSETS if c in found] + sorted(c for c in found if c not in ALL_SUBSETS)


def evaluate_with_jobs(request: EvalRequest, pin: BenchmarkPin, work: Path, *, staging_repo: str,
                       flavor: str = "cpu-basic", shards: int = 1, image: str | None = None,
                       launcher: Sequence[str] = DEFAULT_LAUNCHER, timeout: float | None = 3600.0,
                       poll_s: float = 5.0, batch_size: int = 64, token: str | bool | None = None,
                       log=print) -> Evaluation:
    """Evaluate ``request`` as ``shards`` jobs on ``flavor``; the merged results file under ``work``."""
    from huggingface_hub import HfApi, get_token, hf_hub_download

    api = HfApi(token=token)
    parts = shard_configs(_benchmark_configs(pin), shards)
    secret = token if isinstance(token, str) else get_token()
    specs = []
    for k, configs in enumerate(parts):
        command = (*launcher, "-m", "imagenet_e.leaderboard.jobs_worker",
                   "--model", request.model, "--revision", request.revision, "--loader", request.loader,
                   "--dataset", pin.dataset_id, "--dataset-revision", pin.revision or "main",
                   "--configs", ",".join(["original", *configs]), "--batch-size", str(batch_size),
                   "--upload-repo", staging_repo, "--upload-path", staging_path(request, k, shards))
        if pin.protocol == "dataset-classes":
            command += ("--restrict-to-dataset-classes",)
        specs.append(JobSpec(command=command, image=image or DEFAULT_IMAGE, flavor=flavor,
                             secrets={"HF_TOKEN": secret} if secret else {},
                             labels={"imagenet-e-request": request.request_id, "shard": f"{k}-of-{shards}"}))

    def done(k: int) -> bool:
        return api.file_exists(staging_repo, staging_path(request, k, shards), repo_type="dataset")

    job_ids = run_jobs(specs, done=done, timeout=timeout, poll_s=poll_s, token=token, log=log)
    files = [Path(hf_hub_download(staging_repo, staging_path(request, k, shards), repo_type="dataset", token=token))
             for k in range(shards)]
    return Evaluation(merge_shards(files, work), tuple(job_ids))


def merge_shards(files: Sequence[Path], work: Path) -> Path:
    """Concatenate shard predictions (``original`` from the first shard only) and write the results
    computed from them beside the merged predictions; returns the results path."""
    import numpy as np

    from imagenet_e.eval.predictions import (
        PredictionTable, predictions_bytes, predictions_path_for, read_predictions, sha256_bytes,
    )
    from imagenet_e.eval.scoring import results_from_predictions, write_results

    tables = [read_predictions(f, name=f.name) for f in files]
    first = tables[0]

    def described(table, key: str):
        # Each shard's dataset.layout describes the configs that shard evaluated: compared apart, merged below.
        value = table.metadata.get(key)
        return {k: v for k, v in value.items() if k != "layout"} if key == "dataset" and isinstance(value, dict) else value

    for other, path in zip(tables[1:], files[1:]):
        for key in ("model", "dataset", "protocol"):
            if described(other, key) != described(first, key):
                raise ValueError(f"shard {path.name} has another {key} than the first shard: the shards did not "
                                 "evaluate the same thing")
    keep = [np.ones(len(first), dtype=bool)] + [t.subsets != "original" for t in tables[1:]]

    def joined(column: str):
        values = [getattr(t, column) for t in tables]
        if any(v is None for v in values):
            return None
        return np.concatenate([v[mask] for v, mask in zip(values, keep)])

    metadata = dict(first.metadata)
    layouts = [t.metadata.get("dataset", {}).get("layout") for t in tables]
    if isinstance(metadata.get("dataset"), dict) and all(isinstance(layout, list) for layout in layouts):
        entries = {entry.get("name"): entry for layout in layouts for entry in layout if isinstance(entry, dict)}
        metadata["dataset"] = {**metadata["dataset"], "layout": list(entries.values())}
    merged = PredictionTable(joined("subsets"), joined("source_ids"), joined("labels"), joined("top1"),
                             joined("top5"), joined("skipped"), metadata)
    data = predictions_bytes(merged)
    results = work / "results.json"
    predictions = predictions_path_for(results)
    predictions.write_bytes(data)
    doc = results_from_predictions(read_predictions(data, name=predictions.name), file_name=predictions.name,
                                   sha256=sha256_bytes(data))
    write_results(doc, results)
    return results


def _shard_main(argv: Sequence[str] | None = None) -> int:
    """Inside a job: evaluate one shard, upload its predictions to the staging path."""
    parser = argparse.ArgumentParser(prog="python -m imagenet_e.leaderboard.jobs_worker")
    for flag in ("--model", "--revision", "--loader", "--dataset", "--dataset-revision", "--configs",
                 "--upload-repo", "--upload-path"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--restrict-to-dataset-classes", action="store_true")
    args = parser.parse_args(argv)
    from huggingface_hub import HfApi

    from imagenet_e.eval.runner import evaluate_model

    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"imagenet-e-shard-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    output = work / "shard.json"
    evaluate_model(args.model, args.dataset, configs=args.configs, model_revision=args.revision,
                   dataset_revision=args.dataset_revision, loader=args.loader, output=output, n_bootstrap=1,
                   batch_size=args.batch_size, progress=False, num_workers=0,
                   restrict_to_dataset_classes=args.restrict_to_dataset_classes)
    from imagenet_e.eval.predictions import predictions_path_for

    HfApi().upload_file(path_or_fileobj=str(predictions_path_for(output)), path_in_repo=args.upload_path,
                        repo_id=args.upload_repo, repo_type="dataset",
                        commit_message=f"shard predictions {args.upload_path}")
    print(json.dumps({"uploaded": args.upload_path}))
    return 0


if __name__ == "__main__":
    sys.exit(_shard_main())
