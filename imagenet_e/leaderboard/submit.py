"""``imagenet-e submit``: check a results file against its predictions and commit both to the
leaderboard's results repo.

Before anything is sent, the submission passes exactly the checks the board applies
(:func:`imagenet_e.leaderboard.verify.verify_submission`): the results file's schema (malformed
JSON, missing fields, NaN/inf, out-of-range numbers, unknown subsets, bad dates, control
characters in ids), the predictions file beside it with the sha256 the results record, every
(subset, source) of the dataset revision once with the dataset's labels, nothing skipped, no
``--limit``, and every number equal to the one recomputed from the predictions. Both files are
committed in one commit under a deterministic path, so re-submitting the same (model, dataset
revision) replaces the earlier files. Optionally the numbers go to the model repo as a Hub-native
``.eval_results/`` entry.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagenet_e.eval.predictions import PREDICTIONS_SUFFIX
from imagenet_e.eval.results_schema import load_results

RESULTS_FOLDER = "results"


def sanitise_path_component(value: str, *, max_length: int = 96) -> str:
    """A file-system- and URL-safe name for ``value``; ``/`` becomes ``--`` (the Hub's own convention).

    Anything else outside ``[A-Za-z0-9._-]`` becomes ``_`` and a short hash of the original is
    appended, so two different ids never collide after sanitising.

    >>> sanitise_path_component("google/vit-base-patch16-224")
    'google--vit-base-patch16-224'
    >>> sanitise_path_component("a b")
    'a_b-c8687a08'
    """
    joined = value.replace("/", "--")
    # ".." never survives, so no component can look like a parent-directory step.
    cleaned = re.sub(r"\.{2,}", "_", re.sub(r"[^A-Za-z0-9._-]", "_", joined)).lstrip(".") or "_"
    if cleaned != joined or len(cleaned) > max_length:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]
        cleaned = f"{cleaned[: max_length - 9]}-{digest}"
    return cleaned


def results_path_in_repo(results: dict[str, Any]) -> str:
    """``results/<sanitised model id>/<sanitised dataset revision>.json``."""
    model = sanitise_path_component(results["model"]["id"])
    revision = results["dataset"].get("revision") or "unversioned"
    return f"{RESULTS_FOLDER}/{model}/{sanitise_path_component(revision)}.json"


def predictions_path_in_repo(results_path: str) -> str:
    """``results/<model>/<rev>.json`` -> ``results/<model>/<rev>.predictions.parquet``."""
    return results_path[: -len(".json")] + PREDICTIONS_SUFFIX


def _one_line(text: str, limit: int = 120) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class SubmitResult:
    """Where a submission went."""

    path_in_repo: str
    url: str
    """Commit URL, or pull-request URL when ``create_pr``."""
    model_repo_url: str | None = None
    """Commit/PR URL of the ``.eval_results`` entry in the model repo, when one was written."""


class PartialSubmission(ValueError):
    """The results commit went in; the model repo's ``.eval_results`` commit after it failed."""

    def __init__(self, results_url: str, results_commit: str | None, model_repo: str, failure: str):
        self.results_url, self.results_commit, self.model_repo, self.failure = (
            results_url, results_commit, model_repo, failure)
        super().__init__(
            f"the results are in ({results_url}, commit {results_commit or 'unknown'}), but writing "
            f".eval_results/imagenet-e.yaml to the model repo {model_repo!r} failed: {failure}. The board needs "
            "nothing more; to add the model-repo entry, fix that and run the same command again")


def _commit_url(info) -> str:
    return info.pr_url if getattr(info, "pr_url", None) else info.commit_url


def submit_results(
    results_file: str | Path,
    repo_id: str,
    *,
    create_pr: bool = False,
    model_repo: str | None = None,
    dataset_id: str | None = None,
    dataset: str | None = None,
    token: str | bool | None = None,
) -> SubmitResult:
    """Check ``results_file`` and its predictions and commit both to the Hub dataset repo ``repo_id``.

    ``dataset``: where the benchmark dataset is, to check the predictions' labels against it
    (default: the dataset the results name, which must then be a Hub id; results name a local
    folder by its name only).

    With ``create_pr`` the file goes in as a pull request (for repos you cannot write to) and the
    repo must already exist; otherwise the repo is created when missing. With ``model_repo`` the
    per-subset accuracies are also written to ``<model_repo>/.eval_results/imagenet-e.yaml``
    (as a PR too when ``create_pr``) for the benchmark dataset ``dataset_id`` (see
    :func:`imagenet_e_dataset.eval_yaml.resolve_dataset_id`).
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    from imagenet_e_dataset.eval_yaml import EVAL_RESULTS_PATH, eval_results_yaml_text, resolve_dataset_id

    from imagenet_e.leaderboard.verify import DatasetResolver, predictions_for, verify_submission

    try:
        results = load_results(results_file)
    except RecursionError:
        # json and the schema walk recurse per nesting level: a hostile file ~1000 levels deep is refused, not a traceback.
        raise ValueError(f"{results_file}: nested too deeply to be a results file") from None
    except ValueError as exc:
        text = str(exc)  # the schema's message quotes the offending value, which can be megabytes long
        if len(text) <= 500:
            raise
        raise ValueError(text[:497] + "...") from None
    results_path = Path(results_file)
    predictions = predictions_for(results_path, results)
    if predictions is None:
        raise ValueError(f"{results_file}: no predictions file beside it ({results['predictions']['file']}); the "
                         "leaderboard recomputes every number from the per-image predictions")
    resolver = DatasetResolver({results["dataset"]["id"]: dataset} if dataset else {},
                               hint="pass --dataset PATH (the folder the results were computed on)")
    verify_submission(results, results_path, resolver, name=str(results_file))
    if model_repo is not None:
        resolve_dataset_id(results, dataset_id)  # refuse before committing anything
    api = HfApi(token=token)
    if model_repo is not None:
        # Check the model repo before the results commit: a missing one must not leave a half-done submission.
        try:
            api.repo_info(model_repo, repo_type="model")
        except RepositoryNotFoundError:
            raise ValueError(f"model repo {model_repo!r} does not exist (or your token cannot see it); nothing was "
                             "submitted: create it first, fix --model-repo, or leave --model-repo out") from None
    try:
        api.repo_info(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        if create_pr:
            raise ValueError(f"results repo {repo_id!r} does not exist; a pull request needs an existing repo") from None
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)

    path_in_repo = results_path_in_repo(results)
    payload = results_path.read_bytes()  # byte for byte what was checked
    model_id = _one_line(results["model"]["id"])
    info = api.create_commit(
        repo_id=repo_id,
        repo_type="dataset",
        operations=[CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=payload),
                    CommitOperationAdd(path_in_repo=predictions_path_in_repo(path_in_repo),
                                       path_or_fileobj=predictions.read_bytes())],
        commit_message=f"Add ImageNet-E results for {model_id}",
        commit_description=f"dataset {results['dataset']['id']} revision {results['dataset'].get('revision')}",
        create_pr=create_pr,
    )
    url = _commit_url(info)

    model_url = None
    if model_repo is not None:
        revision = info.oid or "main"
        source_url = f"{api.endpoint}/datasets/{repo_id}/blob/{revision}/{path_in_repo}"
        text = eval_results_yaml_text(results, dataset_id=dataset_id, source_url=source_url)
        try:
            model_info = api.create_commit(
                repo_id=model_repo,
                operations=[CommitOperationAdd(path_in_repo=EVAL_RESULTS_PATH, path_or_fileobj=text.encode("utf-8"))],
                commit_message=f"Add ImageNet-E evaluation results ({model_id})",
                create_pr=create_pr,
            )
        except Exception as exc:  # noqa: BLE001 - whatever failed, the user must learn the results are in
            raise PartialSubmission(url, info.oid, model_repo, f"{type(exc).__name__}: {_one_line(str(exc), 200)}") \
                from exc
        model_url = _commit_url(model_info)
    return SubmitResult(path_in_repo=path_in_repo, url=url, model_repo_url=model_url)
