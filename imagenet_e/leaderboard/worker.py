"""``imagenet-e board-worker``: evaluate requested models on the pinned benchmark and publish the
results marked verified.

The worker reads the board's ``board.yaml`` from the results repo (the pinned dataset and
revision), takes pending requests from the requests repo, marks each running, evaluates the
model at the commit the request pinned with the project's own runner, checks the result exactly
as the board will, and commits results + predictions + a ``.verification.json`` sidecar (worker
identity, request id, model commit, dataset commit, package version, job id) in one commit; then
marks the request finished, or failed with a one-line reason. A failure of one request never stops
the others. :func:`evaluate_locally` runs the model in this process; :mod:`imagenet_e.hf_jobs` runs
it as Hugging Face Jobs (``--jobs``).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from imagenet_e.eval.predictions import PREDICTIONS_SUFFIX

from .benchmark import BOARD_FILE, BenchmarkPin, read_board_yaml
from .loading import VERIFICATION_SUFFIX
from .requests import EvalRequest, RequestStatus, read_requests, write_request
from .submit import sanitise_path_component

VERIFIED_FOLDER = "verified"


@dataclass(frozen=True)
class Evaluation:
    """What evaluating one request produced: a results file with its predictions beside it."""

    results: Path
    job_ids: tuple[str, ...] = ()


Evaluator = Callable[[EvalRequest, BenchmarkPin, Path], Evaluation]
"""(request, pinned benchmark, work folder) -> the results file written there."""


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imagenet-e")
    except PackageNotFoundError:
        return "unknown"


def evaluate_locally(request: EvalRequest, pin: BenchmarkPin, work: Path, *, n_bootstrap: int = 1000,
                     batch_size: int = 64, num_shards: int | None = None, shard_index: int | None = None) -> Evaluation:
    """Run the evaluation runner on this machine (the model at its pinned commit, the pinned dataset)."""
    from imagenet_e.eval.runner import evaluate_model

    output = work / "results.json"
    kwargs = dict(configs=list(pin.configs) if pin.configs else "all", model_revision=request.revision,
                  dataset_revision=pin.revision, loader=request.loader, output=output, n_bootstrap=n_bootstrap,
                  batch_size=batch_size, progress=False, num_workers=0)
    if pin.protocol == "dataset-classes":
        kwargs["restrict_to_dataset_classes"] = True
    evaluate_model(request.model, pin.dataset_id, **kwargs)
    return Evaluation(output)


def board_pin(results_repo: str, *, token: str | bool | None = None) -> BenchmarkPin:
    """The benchmark of the board: ``board.yaml`` in the results repo, pinned to a commit."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    try:
        pin = read_board_yaml(hf_hub_download(results_repo, BOARD_FILE, repo_type="dataset", token=token))
    except (EntryNotFoundError, RepositoryNotFoundError):
        raise ValueError(f"the results repo {results_repo!r} has no {BOARD_FILE}: the board's owner must pin the "
                         "benchmark (dataset and revision) before the worker can evaluate anything") from None
    if pin.revision is None:
        pin = pin.with_revision(HfApi(token=token).dataset_info(pin.dataset_id).sha)
    return pin


def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def verified_path(request: EvalRequest, pin: BenchmarkPin) -> str:
    return (f"{VERIFIED_FOLDER}/{sanitise_path_component(request.model)}/"
            f"{sanitise_path_component(request.revision)}--{sanitise_path_component(pin.revision or 'current')}.json")


def publish(results_repo: str, request: EvalRequest, pin: BenchmarkPin, evaluation: Evaluation, worker: str, *,
            token: str | bool | None = None) -> str:
    """Check the result as the board will, then commit results, predictions and the verification record."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from .loading import check_submission
    from .verify import DatasetResolver, predictions_for

    doc = json.loads(evaluation.results.read_text("utf-8"))
    if doc["model"].get("revision") != request.revision:
        raise ValueError(f"the evaluation ran on model revision {doc['model'].get('revision')}, the request pinned "
                         f"{request.revision}")
    check_submission(evaluation.results, evaluation.results.name, DatasetResolver(), pin=pin)
    path = verified_path(request, pin)
    predictions = predictions_for(evaluation.results, doc)
    if predictions is None:
        raise ValueError(f"the evaluation wrote no predictions beside {evaluation.results.name}")
    payload = evaluation.results.read_bytes()
    record = {
        "worker": worker, "request_id": request.request_id, "model_id": request.model,
        "model_commit": request.revision, "dataset_id": pin.dataset_id, "dataset_commit": doc["dataset"]["revision"],
        "package_version": package_version(), "job_ids": list(evaluation.job_ids),
        "results_sha256": hashlib.sha256(payload).hexdigest(),
    }
    info = HfApi(token=token).create_commit(
        results_repo, repo_type="dataset", commit_message=f"Verified ImageNet-E results for {request.model}",
        operations=[CommitOperationAdd(path, payload),
                    CommitOperationAdd(path[: -len(".json")] + PREDICTIONS_SUFFIX, predictions.read_bytes()),
                    CommitOperationAdd(path[: -len(".json")] + VERIFICATION_SUFFIX,
                                       (json.dumps(record, indent=2) + "\n").encode("utf-8"))])
    return info.commit_url


def process_request(request: EvalRequest, *, requests_repo: str, results_repo: str, pin: BenchmarkPin,
                    evaluate: Evaluator, worker: str, token: str | bool | None = None) -> EvalRequest:
    """One request through running -> finished | failed; returns its final state (never raises for the model's faults)."""
    running = request.moved(RequestStatus.RUNNING, reason="")
    write_request(requests_repo, running, token=token, message=f"Evaluating {request.model}@{request.revision[:12]}")
    try:
        with tempfile.TemporaryDirectory(prefix="imagenet-e-worker-") as work:
            evaluation = evaluate(running, pin, Path(work))
            publish(results_repo, running, pin, evaluation, worker, token=token)
        final = running.moved(RequestStatus.FINISHED, results_path=verified_path(running, pin),
                              jobs=evaluation.job_ids)
    except Exception as exc:  # noqa: BLE001 - any failure is this request's reason, the worker goes on
        final = running.moved(RequestStatus.FAILED, reason=_one_line(f"{type(exc).__name__}: {exc}"))
    write_request(requests_repo, final, token=token,
                  message=f"{final.status.value}: {request.model}@{request.revision[:12]}")
    return final


def run_worker(requests_repo: str, results_repo: str, *, evaluate: Evaluator = evaluate_locally, once: bool = False,
               poll_s: float = 60.0, token: str | bool | None = None,
               log: Callable[[str], None] = print) -> list[EvalRequest]:
    """Evaluate pending requests until none is left (``once``) or forever, polling every ``poll_s``."""
    from huggingface_hub import HfApi

    worker = HfApi(token=token).whoami().get("name") or "unknown"
    pin = board_pin(results_repo, token=token)
    done: list[EvalRequest] = []
    while True:
        pending = [r for r in read_requests(requests_repo, token=token) if r.status is RequestStatus.PENDING]
        for request in sorted(pending, key=lambda r: r.submitted_at):
            log(f"evaluating {request.model}@{request.revision[:12]} on {pin.describe()}")
            final = process_request(request, requests_repo=requests_repo, results_repo=results_repo, pin=pin,
                                    evaluate=evaluate, worker=worker, token=token)
            log(f"  {final.status.value}{': ' + final.reason if final.reason else ''}")
            done.append(final)
        if once:
            return done
        time.sleep(poll_s)
