"""``imagenet-e jobs evaluate``: many models scored on ImageNet-E as Hugging Face Jobs, one job per model.

Job ``i`` runs ``imagenet-e jobs evaluate-model --model M_i …`` (``--dry-run`` prints it): the
ordinary ``imagenet-e evaluate`` in the job, then its ``results.json`` and ``predictions.parquet``
committed to the staging dataset repo in ONE commit (``evaluate/<run key>/<model>/``); the results
file, which only arrives with its predictions, marks the model done. The launcher launches the models
whose results are missing, waits, relaunches failed ones (:func:`imagenet_e.hf_jobs.run_jobs`) and
downloads every model's pair into ``--out-dir/<model>/``, where ``imagenet-e score`` and the
leaderboard read them like a local run's. A rerun launches only the models still missing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from imagenet_e_dataset.jsonsafe import canonical_json

from .generate_jobs import DEFAULT_LAUNCHER

STAGING_ROOT = "evaluate"
RESULTS_NAME = "results.json"
PREDICTIONS_NAME = "predictions.parquet"
"""Names in the job, in the staging repo and in ``--out-dir/<model>/`` (the runner's defaults)."""
EVALUATE_LAUNCHER = (*DEFAULT_LAUNCHER[:3], "imagenet-e[eval]", *DEFAULT_LAUNCHER[4:])
LOCAL_ONLY_DESTS = frozenset({"model", "output", "predictions", "plot", "rank_timeout", "no_progress", "format"})
"""``evaluate`` flags about this machine's files or terminal, or set per job: never passed on as given."""
LOCAL_PATH_FLAGS = {"model": "--model", "dataset": "--dataset", "label_map": "--label-map"}


def model_folder(model: str) -> str:
    """A folder name for ``model`` (``org/name`` -> ``org--name-<hash>``): readable and collision-free."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", model.replace("/", "--")).strip("._") or "model"
    return f"{clean[:80]}-{hashlib.sha256(model.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class EvaluateJobsPlan:
    """The per-model jobs of one evaluation run and where their results go."""

    models: tuple[str, ...]
    evaluate_argv: tuple[str, ...]
    """The ``evaluate`` flags every job gets, as the user wrote them (per-model and local-only flags removed)."""
    staging_repo: str
    launcher: tuple[str, ...] = EVALUATE_LAUNCHER

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("give at least one --model")
        repeated = sorted({m for m in self.models if self.models.count(m) > 1})
        if repeated:
            raise ValueError(f"--model {repeated[0]} is given twice")

    @property
    def run_key(self) -> str:
        """The same evaluation flags give the same key: a rerun finds the models already done."""
        return hashlib.sha256(canonical_json(list(self.evaluate_argv)).encode()).hexdigest()[:16]

    def folder(self, index: int) -> str:
        return f"{STAGING_ROOT}/{self.run_key}/{model_folder(self.models[index])}"

    def command(self, index: int) -> tuple[str, ...]:
        return evaluate_model_command(self.launcher, staging_repo=self.staging_repo, staging_path=self.folder(index),
                                      model=self.models[index], evaluate_argv=self.evaluate_argv)


def evaluate_model_command(launcher: Sequence[str], *, staging_repo: str, staging_path: str, model: str,
                           evaluate_argv: Sequence[str]) -> tuple[str, ...]:
    """The command of a job that evaluates ``model``: ``imagenet-e jobs evaluate-model`` with ``evaluate``'s
    flags ``evaluate_argv``, committing ``results.json`` and ``predictions.parquet`` to ``staging_path``.

    The one in-job evaluation: ``jobs evaluate`` runs it per model, the board worker's Jobs mode per shard
    of configs (``--configs original,...``)."""
    return (*launcher, "jobs", "evaluate-model", "--staging-repo", staging_repo, "--staging-path", staging_path,
            "--model", model, *evaluate_argv, "--output", RESULTS_NAME, "--no-progress")


def job_specs(plan: EvaluateJobsPlan, *, flavor: str, image: str | None, timeout: str | int | None,
              secret: str | None) -> list[Any]:
    from imagenet_e.hf_jobs import DEFAULT_IMAGE, JobSpec

    return [JobSpec(command=plan.command(i), image=image or DEFAULT_IMAGE, flavor=flavor, timeout=timeout,
                    secrets={"HF_TOKEN": secret} if secret else {},
                    labels={"imagenet-e-evaluate": plan.run_key, "model": model_folder(model)})
            for i, model in enumerate(plan.models)]


def upload_results(output: Path, *, staging_repo: str, staging_path: str, token: str | bool | None = None) -> None:
    """Inside a job: the results file and its predictions, in one commit."""
    from imagenet_e.eval.predictions import predictions_path_for

    from .common import commit_files

    commit_files(staging_repo, {f"{staging_path}/{PREDICTIONS_NAME}": predictions_path_for(output),
                                f"{staging_path}/{RESULTS_NAME}": output},
                 f"imagenet-e evaluate: {staging_path}", token=token)


def run_evaluate_jobs(plan: EvaluateJobsPlan, out_dir: Path, *, flavor: str, image: str | None = None,
                      job_timeout: str | int | None = None, wait_timeout: float | None = None, attempts: int = 2,
                      poll_s: float = 10.0, token: str | bool | None = None,
                      log: Callable[[str], None] = print) -> list[Path]:
    """Launch the models whose results are not in the staging repo, wait, relaunch failed ones, download
    every model's results and predictions into ``out_dir/<model>/``; returns the results paths in order."""
    from huggingface_hub import HfApi, get_token, hf_hub_download

    from imagenet_e.hf_jobs import run_jobs
    from imagenet_e_dataset.atomic import atomic_write_bytes

    api = HfApi(token=token)
    api.create_repo(plan.staging_repo, repo_type="dataset", private=True, exist_ok=True)
    secret = token if isinstance(token, str) else get_token()

    def done(i: int) -> bool:
        return api.file_exists(plan.staging_repo, f"{plan.folder(i)}/{RESULTS_NAME}", repo_type="dataset")

    already = [plan.models[i] for i in range(len(plan.models)) if done(i)]
    if already:
        log(f"{len(already)} of {len(plan.models)} model(s) already in {plan.staging_repo}: {', '.join(already)}")
    run_jobs(job_specs(plan, flavor=flavor, image=image, timeout=job_timeout, secret=secret), done=done,
             attempts=attempts, timeout=wait_timeout, poll_s=poll_s, token=token, log=log)
    revision = api.dataset_info(plan.staging_repo).sha
    written = []
    for i in range(len(plan.models)):
        target = out_dir / model_folder(plan.models[i])
        target.mkdir(parents=True, exist_ok=True)
        for name in (PREDICTIONS_NAME, RESULTS_NAME):  # results last: a folder with results is complete
            path = hf_hub_download(plan.staging_repo, f"{plan.folder(i)}/{name}", repo_type="dataset",
                                   revision=revision, token=token)
            atomic_write_bytes(target / name, Path(path).read_bytes())
        written.append(target / RESULTS_NAME)
    return written
