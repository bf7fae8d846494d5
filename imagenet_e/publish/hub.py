"""Hub checks and the Space upload shared by ``publish-metric`` and ``publish-leaderboard``.

Every check runs before anything is uploaded: no token, a token the Hub rejects, an id that names
another kind of repo, a Space of another SDK, a results repo that does not exist. Each is one
ValueError naming the repo and the fix. An upload whose files equal the Space's makes no commit
(``create_commit`` drops files whose content the revision already has, and skips a commit left
empty), and :class:`SpaceUpload` says whether one was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOGIN_FIX = "run `hf auth login` (or set HF_TOKEN) with a write token"
SPACE_SDK = "gradio"


@dataclass(frozen=True)
class SpaceUpload:
    """What one publish did to a Space."""

    space_id: str
    url: str
    commit: str | None
    """The new commit id, or None when the Space already held these files."""
    head: str


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


def upload_space(api: Any, space_id: str, folder: Path, *, private: bool, message: str,
                 delete_patterns: list[str] | None = None) -> SpaceUpload:
    """Create the gradio Space if needed and make its files equal ``folder``'s (no commit when they do)."""
    url = str(api.create_repo(space_id, repo_type="space", space_sdk=SPACE_SDK, private=private, exist_ok=True))
    if private and not api.space_info(space_id).private:
        api.update_repo_settings(space_id, repo_type="space", private=True)
    before = api.space_info(space_id).sha
    api.upload_folder(repo_id=space_id, repo_type="space", folder_path=str(folder), commit_message=message,
                      delete_patterns=delete_patterns)
    after = api.space_info(space_id).sha
    return SpaceUpload(space_id, url, after if after != before else None, after)


__all__ = ["SpaceUpload", "check_results_repo", "check_space", "hub_api", "require_token", "upload_space"]
