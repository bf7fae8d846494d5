"""Upload a dataset folder in the Hub layout (``<config>/test-*.parquet`` + ``README.md`` [+ ``eval.yaml``]).

The push is one commit, so the repo moves from the old dataset to the new one in a single step:

* the data shards' LFS objects are uploaded first (:meth:`HfApi.preupload_lfs_files`, in batches of
  bounded size); an upload is not a commit, so until the end the repo still serves its previous card
  and shards, and stays loadable whenever the push is killed;
* then one :meth:`HfApi.create_commit` holds every addition (shards, ``README.md``, ``eval.yaml``)
  and the deletion of stale shards: the card and the data switch together. It names the head it
  was computed from as ``parent_commit``, so a concurrent push makes it fail instead of mixing two
  builds.
* re-running is a resume: LFS objects the server already holds are not re-sent (the LFS batch
  answers without an upload action), files whose content is already on the revision are dropped
  from the commit by ``create_commit`` (remote oid == local oid), and a commit left with no change is
  skipped, so pushing an unchanged folder makes no commit at all.
* remote ``*.parquet`` files (and ``eval.yaml``) that the folder no longer has are deleted: a
  config's ``data_files`` glob (``background_20/test-*``) would otherwise pick up the shards of an
  earlier, differently sharded build. Other remote files (``.gitattributes``, files added by hand)
  are left alone.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .card_yaml import data_file_patterns, read_card_metadata
from .description import DESCRIPTION_NAME
from .layout_records import LICENSE_FILE

REPO_TYPE = "dataset"
DEFAULT_BRANCH = "main"
README_NAME = "README.md"
EVAL_YAML_NAME = "eval.yaml"
# The description and the licence file travel in the card's commit: the card is rendered from them.
CARD_FILES: tuple[str, ...] = (README_NAME, EVAL_YAML_NAME, DESCRIPTION_NAME, LICENSE_FILE)
DEFAULT_COMMIT_MESSAGE = "Upload ImageNet-E dataset"
# Bounds of one LFS upload batch: small enough that an interrupted push loses little progress.
MAX_FILES_PER_UPLOAD = 64
MAX_BYTES_PER_UPLOAD = 4 * 10**9
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class LocalFile:
    path_in_repo: str
    local_path: Path
    size: int


def _check_link(path: Path, base: Path) -> None:
    """Refuse a symbolic link that resolves outside the folder being pushed (naming the link).

    Uploading reads through links, so a link to ``~/.ssh/id_rsa`` or another dataset would publish
    that file under a name inside the dataset.
    """
    target = path.resolve()
    if target != base and base not in target.parents:
        raise ValueError(
            f"{path} is a symbolic link to {os.readlink(path)}, outside the folder being pushed ({base}); push never "
            "uploads files from outside it: replace the link by a copy of the file, or remove it"
        )


def _local_files(root: Path) -> list[LocalFile]:
    """Every non-hidden file under ``root`` (hidden files and folders are local scratch, never pushed)."""
    base = root.resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for dirname in dirnames:
            if (Path(dirpath) / dirname).is_symlink():
                _check_link(Path(dirpath) / dirname, base)  # os.walk does not descend into it either way
        for filename in sorted(filenames):
            if filename.startswith("."):
                continue
            path = Path(dirpath) / filename
            if path.is_symlink():
                _check_link(path, base)
            rel = path.relative_to(root).as_posix()
            found.append(LocalFile(rel, path, path.stat().st_size))
    return found


def check_token(token: str | bool | None = None) -> None:
    """Refuse early, with the way to log in, when no Hugging Face token is configured."""
    from huggingface_hub import get_token

    if token is False or (token is None and not get_token()):
        raise ValueError("no Hugging Face token found: log in with `hf auth login` (or set the HF_TOKEN environment "
                         "variable to a token with write access) and run the command again")


def _check_parquet(file: LocalFile) -> None:
    # A shard cut short by a crashed writer lacks the trailing magic; refuse it before it reaches the Hub.
    with open(file.local_path, "rb") as handle:
        head = handle.read(4)
        if file.size >= 8:
            handle.seek(-4, os.SEEK_END)
        tail = handle.read(4)
    if file.size < 8 or head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        raise ValueError(f"{file.local_path} is not a complete parquet file")


def validate_dataset_folder(folder: str | Path) -> list[LocalFile]:
    """Check that ``folder`` is a dataset in the Hub layout and return the files to push.

    Requires ``README.md`` whose front matter has a non-empty ``configs:`` list, every config's
    ``data_files`` matching at least one parquet shard in the folder, and intact parquet files.
    Raises ValueError naming the folder (or file) at fault.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist or is not a directory")
    readme = root / README_NAME
    if not readme.is_file():
        raise ValueError(f"dataset folder {root} has no {README_NAME} (the dataset card with the configs)")
    metadata = read_card_metadata(readme)
    configs = metadata.get("configs")
    if not isinstance(configs, list) or not configs:
        raise ValueError(f"{readme}: the front matter has no 'configs:' list, so the Hub would not see the subsets")
    files = _local_files(root)
    shards = [f for f in files if f.path_in_repo.endswith(".parquet")]
    if not shards:
        raise ValueError(f"dataset folder {root} holds no parquet shards (<config>/test-*.parquet)")
    for config in configs:
        if not isinstance(config, dict) or not isinstance(config.get("config_name"), str):
            raise ValueError(f"{readme}: every configs entry needs a config_name, got {config!r}")
        for pattern in data_file_patterns(config, readme):
            if not any(fnmatch.fnmatch(f.path_in_repo, pattern) for f in shards):
                raise ValueError(
                    f"{readme}: config {config['config_name']!r} points at {pattern!r}, which matches no parquet file in {root}"
                )
    for shard in shards:
        _check_parquet(shard)
    return files


def _batches(files: list[LocalFile]) -> list[list[LocalFile]]:
    batches: list[list[LocalFile]] = []
    current: list[LocalFile] = []
    current_bytes = 0
    for file in files:
        if current and (len(current) >= MAX_FILES_PER_UPLOAD or current_bytes + file.size > MAX_BYTES_PER_UPLOAD):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(file)
        current_bytes += file.size
    if current:
        batches.append(current)
    return batches


def _is_stale(path: str, local_paths: set[str]) -> bool:
    return path not in local_paths and (path.endswith(".parquet") or path in (EVAL_YAML_NAME, DESCRIPTION_NAME))


def _card_content(file: LocalFile, usage_ids: Any, endpoint: str) -> str | bytes:
    """The README with its usage block naming the ids it is published under; other files as they are."""
    if file.path_in_repo != README_NAME or usage_ids is None:
        return str(file.local_path)
    from imagenet_e_dataset.version import __version__
    from imagenet_e_dataset.hub_ids import USAGE_START, replace_usage_block, usage_markdown

    text = file.local_path.read_text(encoding="utf-8")
    if USAGE_START not in text:  # a card written before the block existed is pushed as it is
        return str(file.local_path)
    example = {}
    if (file.local_path.parent / DESCRIPTION_NAME).is_file():  # the loading example names one of its configs
        from .card import example_config
        from .description_io import read_description

        example = {"example_config": example_config(read_description(file.local_path.parent))}
    block = usage_markdown(usage_ids, endpoint=endpoint, version=__version__, **example)
    return replace_usage_block(text, block, where=str(file.local_path)).encode("utf-8")


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    usage_ids: Any = None,
) -> str:
    """Upload a dataset folder in the Hub layout to the dataset repo ``repo_id``; return the dataset URL.

    Creates the repo if needed (``private`` applies to a new repo; an existing public repo is made
    private when ``private=True``, never the reverse), creates branch ``revision`` from ``main`` if
    it does not exist, uploads the data's LFS objects (resumable), then commits data, card and the
    deletion of shards the folder no longer has in one commit. Pushing an unchanged folder again makes no commit.
    With ``usage_ids`` (an :class:`imagenet_e.publish.PublishedIds`, as ``imagenet-e push`` passes),
    the card's usage block is uploaded naming those ids; the local README is left as it is.
    Uses the endpoint and token huggingface_hub is configured with (``HF_ENDPOINT``, ``HF_TOKEN``).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.utils import tqdm

    files = validate_dataset_folder(folder)
    check_token()
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must look like NAMESPACE/NAME, got {repo_id!r}")
    branch = revision or DEFAULT_BRANCH
    if branch.startswith("refs/pr/"):
        raise ValueError(f"revision {branch!r} is a pull-request ref; push to a branch name instead")
    message = commit_message or DEFAULT_COMMIT_MESSAGE

    api = HfApi()
    repo_url = api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    if private and not api.dataset_info(repo_id).private:
        api.update_repo_settings(repo_id, repo_type=REPO_TYPE, private=True)
    if branch != DEFAULT_BRANCH:
        api.create_branch(repo_id, repo_type=REPO_TYPE, branch=branch, exist_ok=True)

    data = [f for f in files if f.path_in_repo not in CARD_FILES]
    card = [f for f in files if f.path_in_repo in CARD_FILES]
    head = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=branch).sha
    additions = [CommitOperationAdd(f.path_in_repo, str(f.local_path)) for f in data]
    by_path = {op.path_in_repo: op for op in additions}
    # Uploads first, nothing visible yet: a kill here leaves the previous dataset as it was.
    for batch in tqdm(_batches(data), desc=f"Uploading {repo_id}", unit="batch"):
        api.preupload_lfs_files(repo_id, [by_path[f.path_in_repo] for f in batch], repo_type=REPO_TYPE,
                                revision=branch)

    local_paths = {f.path_in_repo for f in files}
    remote_paths = api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head)
    stale = sorted(p for p in remote_paths if _is_stale(p, local_paths))
    operations: list[Any] = list(additions)
    operations += [CommitOperationAdd(f.path_in_repo, _card_content(f, usage_ids, api.endpoint)) for f in card]
    operations += [CommitOperationDelete(path) for path in stale]
    api.create_commit(
        repo_id,
        repo_type=REPO_TYPE,
        revision=branch,
        operations=operations,
        commit_message=message,
        commit_description=f"Removed {len(stale)} stale file(s): {', '.join(stale)}" if stale else None,
        parent_commit=head,
    )
    return str(repo_url)


__all__ = ["check_token", "push_folder", "validate_dataset_folder", "read_card_metadata"]
