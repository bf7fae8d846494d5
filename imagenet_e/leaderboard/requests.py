"""Evaluation requests: a submission is a model, and the board evaluates it.

``imagenet-e submit --model ns/model`` writes one JSON file per (model, pinned revision) to a
requests dataset repo (the Open LLM Leaderboard's requests repo is the model). A request moves
pending -> running -> finished | failed (with a one-line reason); the board worker
(:mod:`.worker`) is the only writer after submission. The Space reads the same files to show the
queue.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .submit import sanitise_path_component

REQUESTS_FOLDER = "requests"


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class EvalRequest:
    """One model at one commit, to be evaluated on the board's pinned benchmark."""

    model: str
    revision: str
    """The model repo's commit sha, pinned at submission (a branch could move under the board)."""
    loader: str = "auto"
    status: RequestStatus = RequestStatus.PENDING
    reason: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    submitted_by: str | None = None
    submitted_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    results_path: str | None = None
    jobs: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return request_path(self.model, self.revision)

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        data["jobs"] = list(self.jobs)
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> "EvalRequest":
        try:
            data = json.loads(text)
            return cls(**{**data, "status": RequestStatus(data["status"]), "jobs": tuple(data.get("jobs") or ())})
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{where}: not a request file ({exc})") from None

    def moved(self, status: RequestStatus, **changes: Any) -> "EvalRequest":
        return replace(self, status=status, updated_at=_now(), **changes)


def request_path(model: str, revision: str) -> str:
    return f"{REQUESTS_FOLDER}/{sanitise_path_component(model)}/{sanitise_path_component(revision)}.json"


def read_requests(repo_id: str, *, token: str | bool | None = None) -> list[EvalRequest]:
    """Every request in the requests repo (unreadable files are skipped: one bad file is one bad file)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id=repo_id, repo_type="dataset",
                                        allow_patterns=[f"{REQUESTS_FOLDER}/**"], token=token))
    except RepositoryNotFoundError:
        raise ValueError(f"the requests repo {repo_id!r} does not exist (or this token cannot see it); create it "
                         "as a dataset repo") from None
    out = []
    for path in sorted((folder / REQUESTS_FOLDER).rglob("*.json")):
        try:
            out.append(EvalRequest.from_json(path.read_text("utf-8"), path.name))
        except (ValueError, OSError):
            continue
    return out


def write_request(repo_id: str, request: EvalRequest, *, token: str | bool | None = None, message: str) -> str:
    """Commit ``request`` at its path; returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    info = HfApi(token=token).create_commit(
        repo_id, repo_type="dataset", commit_message=message[:200],
        operations=[CommitOperationAdd(request.path, request.to_json().encode("utf-8"))])
    return info.commit_url


def submit_model_request(repo_id: str, model: str, *, revision: str | None = None, loader: str = "auto",
                         token: str | bool | None = None) -> tuple[EvalRequest, str]:
    """Queue ``model`` (at ``revision``, pinned to its commit sha now) for evaluation by the board.

    One request per model + commit: a pending, running or finished one is refused (its status is
    named); a failed one is queued again."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi(token=token)
    try:
        sha = api.model_info(model, revision=revision).sha
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise ValueError(f"model {model!r}{f' at {revision!r}' if revision else ''} not found on the Hub (or your "
                         "token cannot see it); the board evaluates models it can download") from None
    if not sha:
        raise ValueError(f"the Hub gave no commit for {model!r}; cannot pin the revision to evaluate")
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    existing = {r.path: r for r in read_requests(repo_id, token=token)}
    path = request_path(model, sha)
    if path in existing and existing[path].status is not RequestStatus.FAILED:
        raise ValueError(f"{model}@{sha[:12]} was already requested ({existing[path].status.value}); one request per "
                         "model and revision")
    try:
        who = api.whoami().get("name")
    except Exception:  # noqa: BLE001 - the commit's author is the record; this is a convenience
        who = None
    request = EvalRequest(model=model, revision=sha, loader=loader, submitted_by=who)
    url = write_request(repo_id, request, token=token, message=f"Request ImageNet-E evaluation of {model}@{sha[:12]}")
    return request, url
