"""The board worker's Jobs mode: one request evaluated as N Hugging Face Jobs, predictions merged.

Each shard job runs the same in-job verb as ``imagenet-e jobs evaluate``
(:func:`imagenet_e.jobs.evaluate_jobs.evaluate_model_command`): ``imagenet-e jobs evaluate-model``
with ``--configs original,...`` (``original`` plus the shard's share of the edited configs, dealt
round-robin) and the request's pins, which commits ``results.json`` and ``predictions.parquet`` to
a staging folder of the requests repo (``staging/<request id>/shard-K-of-N/``). The worker waits
for every shard (:func:`imagenet_e.hf_jobs.run_jobs` relaunches failed or missing shards only),
concatenates the shards' predictions (``original`` once), and computes the results from the merged
predictions exactly as ``imagenet-e score`` would; :mod:`.worker` then checks and publishes them as
for a local run, with the job ids in the verification record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from imagenet_e.hf_jobs import DEFAULT_IMAGE, JobSpec, run_jobs
from imagenet_e.jobs.evaluate_jobs import (
    EVALUATE_LAUNCHER, PREDICTIONS_NAME, RESULTS_NAME, evaluate_model_command,
)

from .benchmark import BenchmarkPin
from .requests import EvalRequest
from .worker import Evaluation

STAGING_FOLDER = "staging"


def shard_configs(configs: Sequence[str], shards: int) -> list[list[str]]:
    """Edited configs dealt round-robin over ``shards`` (each shard also scores ``original``)."""
    edited = [c for c in configs if c != "original"]
    if shards < 1:
        raise ValueError(f"--shards must be >= 1, got {shards}")
    if shards > max(1, len(edited)):
        raise ValueError(f"--shards {shards}: the benchmark has only {len(edited)} edited configs to split")
    return [edited[k::shards] for k in range(shards)]


def staging_path(request: EvalRequest, index: int, shards: int) -> str:
    """Shard ``index``'s folder in the requests repo (the job commits its results and predictions there)."""
    return f"{STAGING_FOLDER}/{request.request_id}/shard-{index}-of-{shards}"


def shard_evaluate_argv(request: EvalRequest, pin: BenchmarkPin, configs: Sequence[str], *,
                        batch_size: int) -> tuple[str, ...]:
    """``imagenet-e evaluate``'s flags for one shard: the request's model pins, the pinned benchmark, the
    shard's configs. One bootstrap draw: the board computes the results again from the merged predictions."""
    argv = ("--model-revision", request.revision, "--loader", request.loader, "--dataset", pin.dataset_id,
            "--dataset-revision", pin.revision or "main", "--configs", ",".join(["original", *configs]),
            "--batch-size", str(batch_size), "--num-workers", "0", "--n-bootstrap", "1")
    return argv + (("--restrict-to-dataset-classes",) if pin.protocol == "dataset-classes" else ())


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
                       launcher: Sequence[str] = EVALUATE_LAUNCHER, timeout: float | None = 3600.0,
                       poll_s: float = 5.0, batch_size: int = 64, token: str | bool | None = None,
                       log: Callable[[str], None] = print) -> Evaluation:
    """Evaluate ``request`` as ``shards`` jobs on ``flavor``; the merged results file under ``work``.

    ``launcher`` starts the imagenet-e CLI in the job, as ``imagenet-e jobs --job-launcher`` does."""
    from huggingface_hub import HfApi, get_token, hf_hub_download

    api = HfApi(token=token)
    parts = shard_configs(_benchmark_configs(pin), shards)
    secret = token if isinstance(token, str) else get_token()
    specs = [JobSpec(command=evaluate_model_command(launcher, staging_repo=staging_repo,
                                                    staging_path=staging_path(request, k, shards), model=request.model,
                                                    evaluate_argv=shard_evaluate_argv(request, pin, configs,
                                                                                      batch_size=batch_size)),
                     image=image or DEFAULT_IMAGE, flavor=flavor, secrets={"HF_TOKEN": secret} if secret else {},
                     labels={"imagenet-e-request": request.request_id, "shard": f"{k}-of-{shards}"})
             for k, configs in enumerate(parts)]

    def done(k: int) -> bool:
        # The verb commits the results with their predictions: results present, shard complete.
        return api.file_exists(staging_repo, f"{staging_path(request, k, shards)}/{RESULTS_NAME}", repo_type="dataset")

    job_ids = run_jobs(specs, done=done, timeout=timeout, poll_s=poll_s, token=token, log=log)
    files = [Path(hf_hub_download(staging_repo, f"{staging_path(request, k, shards)}/{PREDICTIONS_NAME}",
                                  repo_type="dataset", token=token))
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

    # Every shard's file is <shard folder>/predictions.parquet: named by its folder in messages.
    tables = [read_predictions(f, name=f"{f.parent.name}/{f.name}") for f in files]
    first = tables[0]

    def described(table, key: str):
        # Each shard's dataset.layout describes the configs that shard evaluated: compared apart, merged below.
        value = table.metadata.get(key)
        return {k: v for k, v in value.items() if k != "layout"} if key == "dataset" and isinstance(value, dict) else value

    for other, path in zip(tables[1:], files[1:]):
        for key in ("model", "dataset", "protocol"):
            if described(other, key) != described(first, key):
                raise ValueError(f"shard {path.parent.name} has another {key} than the first shard: the shards "
                                 "did not evaluate the same thing")
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
