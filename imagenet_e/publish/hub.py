"""Hub checks and the Space upload shared by ``publish-metric`` and ``publish-leaderboard``.

Every check runs before anything is uploaded: no token, a token the Hub rejects, an id that names
another kind of repo, a Space of another SDK, a results repo that does not exist. Each is one
ValueError naming the repo and the fix. An upload whose files equal the Space's makes no commit
(``create_commit`` drops files whose content the revision already has, and skips a commit left
empty), and :class:`SpaceUpload` says whether one was made.

A Space is never clobbered: every publish writes the marker file :data:`MARKER` naming the kind of
Space it made, and refuses an existing Space without that marker (the owner's own app, code and
card), or with another kind's, unless ``overwrite`` is given; the refusal lists what would change.
``dry_run`` computes the same list and touches nothing. Space variables are set before the files
are committed: a failure in between leaves a Space whose old files (or no files) run with the new
variable, never new files without their variable.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SpaceKind = Literal["metric", "leaderboard"]
MARKER = ".imagenet-e-space.json"
# Files a Space may hold before any publish without them being the owner's work.
_HUB_DEFAULTS = frozenset({".gitattributes"})

LOGIN_FIX = "run `hf auth login` (or set HF_TOKEN) with a write token"
SPACE_SDK = "gradio"


@dataclass(frozen=True)
class SpaceUpload:
    """What one publish did to a Space."""

    space_id: str
    url: str
    commit: str | None
    """The new commit id, or None when the Space already held these files (or ``dry_run``)."""
    head: str | None
    changes: tuple[str, ...] = field(default=())
    """What the publish changed (or, with ``dry_run``, would change): ``add X``, ``update X``,
    ``delete X``, ``set variable K=V``."""
    dry_run: bool = False


def hub_api() -> Any:
    from huggingface_hub import HfApi

    return HfApi()


def require_token(api: Any) -> str:
    """The user the configured token belongs to; ValueError with the fix when there is none or it is refused."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import HfHubHTTPError

    if not get_token():
        raise ValueError(f"no Hugging Face token is configured for {api.endpoint}: {LOGIN_FIX}, then publish again")
    try:
        who = api.whoami()
    except HfHubHTTPError as exc:
        raise ValueError(f"{api.endpoint} refused the Hugging Face token ({_status(exc)}): {LOGIN_FIX}") from None
    return str(who.get("name", ""))


def _status(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return f"HTTP {response.status_code}" if response is not None else type(exc).__name__


def _exists(api: Any, repo_id: str, repo_type: str) -> bool:
    return bool(api.repo_exists(repo_id, repo_type=repo_type))


def check_space(api: Any, space_id: str, *, what: str) -> bool:
    """Whether the Space exists; ValueError when it runs another SDK than gradio."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.space_info(space_id)
    except RepositoryNotFoundError:
        return False
    sdk = getattr(info, "sdk", None)
    if sdk is not None and sdk != SPACE_SDK:
        raise ValueError(f"{what} {space_id} is a {sdk} Space, not a {SPACE_SDK} one: give the id of a new Space, "
                         f"or delete {space_id} first")
    return True


def check_results_repo(api: Any, results_id: str) -> None:
    """The leaderboard reads results from a dataset repo: ValueError when ``results_id`` is not one."""
    if _exists(api, results_id, "dataset"):
        return
    for kind in ("model", "space"):
        if _exists(api, results_id, kind):
            raise ValueError(f"results repo {results_id} is a {kind} repo, not a dataset: the leaderboard reads "
                             f"results files from a dataset repo; give a dataset id")
    raise ValueError(
        f"results repo {results_id} does not exist on {api.endpoint} (or the token cannot see it): create it with "
        f"`imagenet-e submit results.json --repo-id {results_id}` or `hf repos create {results_id} --repo-type dataset`, "
        "then publish again")


def marker_text(kind: SpaceKind) -> str:
    """The marker file's content: stable, so an unchanged re-publish commits nothing."""
    return json.dumps({"created_by": "imagenet-e", "space": kind}, indent=2) + "\n"


def _git_oid(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _remote_files(api: Any, space_id: str) -> dict[str, Any]:
    return {entry.path: entry for entry in api.list_repo_tree(space_id, repo_type="space", recursive=True)
            if not hasattr(entry, "tree_id")}  # RepoFolder entries carry tree_id, files blob_id


def _unchanged(local: Path, remote: Any) -> bool:
    lfs = getattr(remote, "lfs", None)
    return _sha256(local) == lfs.sha256 if lfs else _git_oid(local) == remote.blob_id


def planned_changes(folder: Path, remote: dict[str, Any], delete_patterns: list[str]) -> list[str]:
    """``add``/``update``/``delete`` lines turning the ``remote`` files into ``folder``'s."""
    local = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    changes = [f"add {name}" for name in local if name not in remote]
    changes += [f"update {name}" for name, path in local.items() if name in remote and not _unchanged(path, remote[name])]
    changes += [f"delete {name}" for name in sorted(remote) if name not in local
                and any(fnmatch.fnmatch(name, pattern) for pattern in delete_patterns)]
    return changes


def _marker_kind(api: Any, space_id: str, remote: dict[str, Any]) -> str | None:
    """The kind the Space's marker names; None without a (readable) marker."""
    if MARKER not in remote:
        return None
    from huggingface_hub import hf_hub_download

    try:
        data = json.loads(Path(hf_hub_download(space_id, MARKER, repo_type="space")).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("space") if isinstance(data, dict) and data.get("created_by") == "imagenet-e" else None


def _untouched(api: Any, space_id: str, remote: dict[str, Any]) -> bool:
    """Whether the Space holds nothing of anyone's: no files but the Hub's own, or only its creation commit
    (the Hub may write a README.md when it creates a Space)."""
    return not set(remote) - _HUB_DEFAULTS or len(api.list_repo_commits(space_id, repo_type="space")) <= 1


def _check_ownership(api: Any, space_id: str, kind: SpaceKind, found: str | None, remote: dict[str, Any],
                     changes: list[str]) -> None:
    if found == kind or (found is None and _untouched(api, space_id, remote)):
        return
    held = f"the {found} Space of imagenet-e" if found else f"files imagenet-e did not write (no {MARKER})"
    touched = [c for c in changes if not c.startswith("add ")]
    raise ValueError(
        f"Space {space_id} already holds {held}; publishing the {kind} Space would "
        f"{'; '.join(touched) if touched else 'add its files beside them'}. Give a new Space id, or pass "
        "--overwrite to replace them (--dry-run lists every change first)")


def upload_space(api: Any, space_id: str, folder: Path, *, kind: SpaceKind, private: bool, message: str,
                 delete_patterns: list[str] | None = None, variables: dict[str, str] | None = None,
                 overwrite: bool = False, dry_run: bool = False) -> SpaceUpload:
    """Create the gradio Space if needed, set ``variables``, and make its files equal ``folder``'s.

    ``folder`` gets the marker file; no commit when the Space already holds these files. Refuses
    (ValueError listing the changes) a Space that holds files but no marker of ``kind``, unless
    ``overwrite``. With ``dry_run`` nothing is created, set or uploaded: the result lists the changes.
    """
    from huggingface_hub.errors import RepositoryNotFoundError

    (folder / MARKER).write_text(marker_text(kind), encoding="utf-8")
    patterns = list(delete_patterns or [])
    try:
        remote = _remote_files(api, space_id)
        current = {k: v.value for k, v in api.get_space_variables(space_id).items()}
    except RepositoryNotFoundError:
        remote, current = {}, {}
    changes = planned_changes(folder, remote, patterns)
    if not overwrite:
        _check_ownership(api, space_id, kind, _marker_kind(api, space_id, remote), remote, changes)
    new_variables = {k: v for k, v in (variables or {}).items() if current.get(k) != v}
    changes += [f"set variable {k}={v}" for k, v in new_variables.items()]
    if dry_run:
        head = api.space_info(space_id).sha if remote else None
        return SpaceUpload(space_id, f"{api.endpoint}/spaces/{space_id}", None, head, tuple(changes), True)

    url = str(api.create_repo(space_id, repo_type="space", space_sdk=SPACE_SDK, private=private, exist_ok=True))
    if private and not api.space_info(space_id).private:
        api.update_repo_settings(space_id, repo_type="space", private=True)
    for key, value in new_variables.items():  # before the files: new files never run without them
        api.add_space_variable(space_id, key, value)
    before = api.space_info(space_id).sha
    api.upload_folder(repo_id=space_id, repo_type="space", folder_path=str(folder), commit_message=message,
                      delete_patterns=patterns)
    after = api.space_info(space_id).sha
    return SpaceUpload(space_id, url, after if after != before else None, after, tuple(changes))


__all__ = ["MARKER", "SpaceKind", "SpaceUpload", "marker_text", "planned_changes", "upload_space", "check_results_repo", "check_space", "hub_api", "require_token"]
