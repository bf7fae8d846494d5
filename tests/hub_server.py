"""A local Hugging Face Hub-compatible HTTP server for the test suite (stdlib only, 127.0.0.1).

It answers the routes that the installed ``huggingface_hub`` (``HfApi``, ``hf_hub_download``,
``snapshot_download``, ``HfFileSystem``) and ``datasets`` (``load_dataset`` of a Hub repo,
``push_to_hub``) really call, for model, dataset and space repos:

* ``GET  /api/whoami-v2``; ``POST /api/repos/create``; ``DELETE /api/repos/delete``; ``POST /api/repos/move``;
  ``POST /api/validate-yaml``
* ``GET  /api/{type}s/{repo}[/revision/{rev}]`` (repo info, ``siblings``, ``cardData``, ``sha``)
* ``GET  /api/{type}s/{repo}/tree/{rev}[/{path}]`` (``recursive``, ``expand``, cursor pagination)
* ``POST /api/{type}s/{repo}/paths-info/{rev}``; ``GET .../commits/{rev}``; ``GET .../refs``
* ``POST /api/{type}s/{repo}/preupload/{rev}``; ``POST /{prefix}{repo}.git/info/lfs/objects/batch``;
  ``PUT /_lfs/{type}s/{repo}/{sha256}``; ``POST /api/{type}s/{repo}/commit/{rev}`` (ndjson, ``create_pr=1``)
* ``POST|DELETE .../branch/{name}``; ``POST .../tag/{rev}``, ``DELETE .../tag/{name}``; ``PUT .../settings``
* ``GET|POST|DELETE /api/spaces/{repo}/variables`` (Space variables; also ``variables`` at create time)
* ``GET .../discussions``, ``GET .../discussions/{n}``, ``POST .../discussions/{n}/{merge,status}``
* ``GET /api/datasets/{repo}/leaderboard`` and ``evalResults`` in model info, from the model repos'
  ``.eval_results/*.yaml`` (ranking rule of this server: best value per model on one task, the
  ``task_id`` parameter or the first task of the dataset's ``eval.yaml``)
* ``GET|HEAD /{prefix}{repo}/resolve/{rev}/{path}`` with ``Range``, ``ETag``, ``X-Repo-Commit``,
  ``X-Linked-Etag``, ``X-Linked-Size``

Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) so the
client raises the same exception types it raises against huggingface.co.

Storage mirrors git: every file content is stored once, content-addressed by sha256, under
``storage_dir/objects``; a commit is a full path→blob manifest with parents (sha1 commit ids); refs
(``refs/heads/*``, ``refs/tags/*``, ``refs/pr/*``) point at commits. Each repo's state is a JSON file
under ``storage_dir/repos`` rewritten atomically after every change, so a server restarted on the same
folder sees the same repos. Any bearer token is accepted as the single local user (``local-user``,
member of every namespace); private repos are invisible to requests without a token, like on the Hub.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

# The card's dataset_info lists 1000 class names: the pure-Python loader takes seconds on it.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RepoType = Literal["model", "dataset", "space", "kernel"]
REPO_TYPES: tuple[str, ...] = ("model", "dataset", "space", "kernel")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}
LOCAL_USER = "local-user"

# Files the Hub stores through LFS whatever their size: the default `.gitattributes` of a new repo.
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
        "*.lz4", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet",
        "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*",
        "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
        "*.mp3", "*.ogg", "*.wav", "*.jpg", "*.jpeg", "*.png", "*.webp", "*.gif",
    )
)
# Above this size the Hub refuses a regular git blob and asks for LFS.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
DEFAULT_PAGE_SIZE = 1000


def _now_iso() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def git_blob_oid(content: bytes) -> str:
    """The git object id of a regular file: sha1 over ``blob <size>\\0<content>``."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def parse_front_matter(text: str) -> dict[str, Any] | None:
    """The YAML block between the leading ``---`` lines of a README, or None when there is none.

    Raises ``yaml.YAMLError`` / ``ValueError`` when the block exists but is not a YAML mapping.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            data = yaml.load("\n".join(lines[1:end]), Loader=_YAML_LOADER)
            if data is None:
                return {}
            if not isinstance(data, dict):
                raise ValueError("README.md metadata must be a YAML mapping")
            return data
    raise ValueError("README.md metadata block is not closed by '---'")


@dataclass
class Entry:
    """One file of a commit's tree."""

    sha256: str
    size: int
    lfs: bool
    oid: str  # git oid: blob sha1 for regular files, sha1 of the pointer for LFS files

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "lfs": self.lfs, "oid": self.oid}


@dataclass
class Commit:
    id: str
    parents: list[str]
    tree: dict[str, Entry]
    title: str
    message: str
    date: str
    author: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parents": self.parents,
            "tree": {path: entry.to_json() for path, entry in self.tree.items()},
            "title": self.title,
            "message": self.message,
            "date": self.date,
            "author": self.author,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Commit":
        tree = {path: Entry(**entry) for path, entry in data["tree"].items()}
        return cls(data["id"], data["parents"], tree, data["title"], data["message"], data["date"], data["author"])


@dataclass
class Repo:
    type: str
    id: str
    private: bool
    created_at: str
    refs: dict[str, str] = field(default_factory=dict)  # full ref name -> commit id
    commits: dict[str, Commit] = field(default_factory=dict)
    discussions: list[dict[str, Any]] = field(default_factory=list)
    gated: bool | str = False
    sdk: str | None = None
    # LFS objects uploaded to this repo: the blob store is shared, but like on the Hub a repo may only
    # reference objects that were pushed to it (knowing a sha256 must not grant another repo's file).
    lfs_objects: set[str] = field(default_factory=set)
    # Space variables: key -> {"value", "description", "updatedAt"} (the Space's environment on the Hub).
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "private": self.private,
            "created_at": self.created_at,
            "refs": self.refs,
            "commits": [commit.to_json() for commit in self.commits.values()],
            "discussions": self.discussions,
            "gated": self.gated,
            "sdk": self.sdk,
            "lfs_objects": sorted(self.lfs_objects),
            "variables": self.variables,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Repo":
        commits = {c["id"]: Commit.from_json(c) for c in data["commits"]}
        return cls(data["type"], data["id"], data["private"], data["created_at"], data["refs"], commits,
                   data["discussions"], data.get("gated", False), data.get("sdk"), set(data.get("lfs_objects", [])),
                   data.get("variables", {}))


class HubError(Exception):
    """An HTTP error answer, with the Hub's error code header when it has one."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}


def _repo_not_found(repo_type: str, repo_id: str) -> HubError:
    return HubError(404, f"Repository Not Found: {repo_type} {repo_id}", "RepoNotFound")


class Store:
    """All repos and blobs. Handlers hold ``lock`` while they read or change repos; blobs are
    immutable and content-addressed, so writing them needs no lock."""

    def __init__(self, storage_dir: Path):
        self.root = Path(storage_dir)
        self.objects_dir = self.root / "objects"
        self.repos_dir = self.root / "repos"
        self.tmp_dir = self.root / "tmp"
        for folder in (self.objects_dir, self.repos_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self._commit_counter = 0
        for state_file in sorted(self.repos_dir.rglob("*.json")):
            repo = Repo.from_json(json.loads(state_file.read_text()))
            self.repos[(repo.type, repo.id)] = repo

    # ---- blobs -------------------------------------------------------------------------------
    def object_path(self, sha256: str) -> Path:
        return self.objects_dir / sha256[:2] / sha256

    def has_object(self, sha256: str) -> bool:
        return self.object_path(sha256).is_file()

    def put_bytes(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        if not self.has_object(sha):
            self._install(sha, lambda handle: handle.write(content))
        return sha

    def _install(self, sha256: str, write: Callable[[Any], Any]) -> None:
        target = self.object_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, target)

    def install_file(self, sha256: str, tmp_path: str) -> None:
        target = self.object_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, target)

    def read_object(self, sha256: str) -> bytes:
        return self.object_path(sha256).read_bytes()

    # ---- repos -------------------------------------------------------------------------------
    def save(self, repo: Repo) -> None:
        target = self.repos_dir / repo.type / f"{repo.id}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
        with os.fdopen(fd, "w") as handle:
            json.dump(repo.to_json(), handle)
        os.replace(tmp, target)

    def get_repo(self, repo_type: str, repo_id: str, *, authed: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authed):
            raise _repo_not_found(repo_type, repo_id)
        return repo

    def new_commit(self, repo: Repo, parents: list[str], tree: dict[str, Entry], title: str, message: str,
                   author: str = LOCAL_USER) -> Commit:
        self._commit_counter += 1
        manifest = json.dumps({p: e.oid for p, e in sorted(tree.items())}, sort_keys=True)
        seed = f"{repo.type}/{repo.id}\n{parents}\n{manifest}\n{title}\n{message}\n{time.time_ns()}\n{self._commit_counter}"
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), parents, tree, title, message, _now_iso(), author)
        repo.commits[commit.id] = commit
        return commit

    def create_repo(self, repo_type: str, repo_id: str, private: bool, sdk: str | None) -> Repo:
        repo = Repo(repo_type, repo_id, private, _now_iso(), sdk=sdk)
        content = DEFAULT_GITATTRIBUTES.encode()
        entry = Entry(self.put_bytes(content), len(content), False, git_blob_oid(content))
        initial = self.new_commit(repo, [], {".gitattributes": entry}, "initial commit", "")
        repo.refs["refs/heads/main"] = initial.id
        self.repos[(repo_type, repo_id)] = repo
        self.save(repo)
        return repo

    def delete_repo(self, repo: Repo) -> None:
        del self.repos[(repo.type, repo.id)]
        (self.repos_dir / repo.type / f"{repo.id}.json").unlink(missing_ok=True)

    @staticmethod
    def resolve(repo: Repo, revision: str) -> Commit:
        """Commit for a branch, tag, PR ref (short or full ``refs/...`` name) or (abbreviated) commit id."""
        for ref in (revision, f"refs/heads/{revision}", f"refs/tags/{revision}"):
            if ref.startswith("refs/") and ref in repo.refs:
                return repo.commits[repo.refs[ref]]
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            matches = [cid for cid in repo.commits if cid.startswith(revision)]
            if len(matches) == 1:
                return repo.commits[matches[0]]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    @staticmethod
    def branch_ref(repo: Repo, revision: str) -> str:
        """The full ref a commit to ``revision`` moves: a branch or a pull-request ref."""
        for ref in (revision, f"refs/heads/{revision}"):
            if ref in repo.refs and (ref.startswith("refs/heads/") or ref.startswith("refs/pr/")):
                return ref
        if revision.startswith("refs/tags/") or f"refs/tags/{revision}" in repo.refs:
            raise HubError(400, f"Cannot commit to tag {revision}: only branches and pull requests take commits")
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


# ---- tree helpers ----------------------------------------------------------------------------
def _folders(tree: dict[str, Entry]) -> set[str]:
    folders: set[str] = set()
    for path in tree:
        parent = PurePosixPath(path).parent
        while str(parent) != ".":
            folders.add(str(parent))
            parent = parent.parent
    return folders


def _folder_oid(tree: dict[str, Entry], folder: str) -> str:
    prefix = folder.rstrip("/") + "/"
    listing = "".join(f"{p}\0{e.oid}\n" for p, e in sorted(tree.items()) if p.startswith(prefix))
    return hashlib.sha1(listing.encode()).hexdigest()


def _oid_at(commit: Commit, path: str, is_folder: bool) -> str | None:
    if is_folder:
        return _folder_oid(commit.tree, path) if path in _folders(commit.tree) else None
    entry = commit.tree.get(path)
    return entry.oid if entry else None


def _last_commit(repo: Repo, head: Commit, path: str, is_folder: bool) -> Commit:
    """The oldest commit in the first-parent run ending at ``head`` where ``path`` kept its current oid."""
    current = head
    oid = _oid_at(head, path, is_folder)
    while current.parents:
        parent = repo.commits[current.parents[0]]
        if _oid_at(parent, path, is_folder) != oid:
            break
        current = parent
    return current


def _path_info(repo: Repo, commit: Commit, path: str, is_folder: bool, expand: bool) -> dict[str, Any]:
    if is_folder:
        info: dict[str, Any] = {"type": "directory", "oid": _folder_oid(commit.tree, path), "size": 0, "path": path}
    else:
        entry = commit.tree[path]
        info = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
        if entry.lfs:
            info["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": len(lfs_pointer(entry.sha256, entry.size))}
    if expand:
        last = _last_commit(repo, commit, path, is_folder)
        info["lastCommit"] = {"id": last.id, "title": last.title, "date": last.date}
    return info


def _gitattributes_lfs_patterns(tree: dict[str, Entry], store: Store) -> list[str]:
    entry = tree.get(".gitattributes")
    if entry is None:
        return []
    patterns = []
    for line in store.read_object(entry.sha256).decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def _matches(path: str, pattern: str) -> bool:
    pattern = pattern.lstrip("/")
    if "/" not in pattern.rstrip("/"):
        return fnmatch.fnmatch(PurePosixPath(path).name, pattern.rstrip("/")) or fnmatch.fnmatch(path, pattern)
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.replace("**/", ""))


def _gitignored(path: str, gitignore: str | None) -> bool:
    if not gitignore:
        return False
    ignored = False
    for raw in gitignore.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        hit = _matches(path, pattern) or any(
            _matches(str(parent), pattern.rstrip("/")) for parent in PurePosixPath(path).parents if str(parent) != "."
        )
        if hit:
            ignored = not negate
    return ignored


def _check_path(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or path.endswith("/"):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    parts = PurePosixPath(path).parts
    if any(part in ("", ".", "..", ".git") for part in parts):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


# ---- HTTP ------------------------------------------------------------------------------------
_TYPE = r"(?P<type>models|datasets|spaces|kernels)"
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
_REV = r"(?P<rev>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", r"/api/whoami-v2", "whoami"),
        ("GET", r"/api/agent-harnesses", "agent_harnesses"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("POST", r"/api/repos/move", "move_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", rf"/api/{_TYPE}/{_REPO}", "repo_info"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/revision/{_REV}", "repo_info"),
        ("GET", r"/api/datasets/(?P<ns>[^/]+)/(?P<name>[^/]+)/leaderboard", "leaderboard"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/tree/{_REV}(?:/(?P<path>.*))?", "tree"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/paths-info/{_REV}", "paths_info"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/commits/{_REV}", "list_commits"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/refs", "list_refs"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/preupload/{_REV}", "preupload"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/commit/{_REV}", "commit"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/branch/(?P<branch>[^/]+)", "create_branch"),
        ("DELETE", rf"/api/{_TYPE}/{_REPO}/branch/(?P<branch>[^/]+)", "delete_branch"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/tag/{_REV}", "create_tag"),
        ("DELETE", rf"/api/{_TYPE}/{_REPO}/tag/(?P<tag>[^/]+)", "delete_tag"),
        ("PUT", rf"/api/{_TYPE}/{_REPO}/settings", "settings"),
        ("GET", rf"/api/(?P<type>spaces)/{_REPO}/variables", "space_variables"),
        ("POST", rf"/api/(?P<type>spaces)/{_REPO}/variables", "add_space_variable"),
        ("DELETE", rf"/api/(?P<type>spaces)/{_REPO}/variables", "delete_space_variable"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/discussions", "list_discussions"),
        ("GET", rf"/api/{_TYPE}/{_REPO}/discussions/(?P<num>\d+)", "discussion"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/discussions/(?P<num>\d+)/merge", "merge_discussion"),
        ("POST", rf"/api/{_TYPE}/{_REPO}/discussions/(?P<num>\d+)/status", "discussion_status"),
        ("POST", r"/(?:(?P<prefix>datasets|spaces|kernels)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)\.git/info/lfs/objects/batch", "lfs_batch"),
        ("PUT", rf"/_lfs/{_TYPE}/{_REPO}/(?P<oid>[0-9a-f]{{64}})", "lfs_put"),
        ("GET", r"/(?:(?P<prefix>datasets|spaces|kernels)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("HEAD", r"/(?:(?P<prefix>datasets|spaces|kernels)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    )
]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    params: dict[str, str]
    headers: Any
    body: bytes
    token: str | None

    @property
    def authed(self) -> bool:
        return bool(self.token)

    @property
    def user(self) -> str:
        """The account a token stands for: ``hf_user_<name>`` is ``<name>`` (tests with several
        submitters), any other token the local user."""
        token = self.token or ""
        return token[len("hf_user_"):] if token.startswith("hf_user_") and len(token) > 8 else LOCAL_USER

    @property
    def repo_type(self) -> str:
        if "type" in self.params:
            return self.params["type"][:-1]
        prefix = self.params.get("prefix")
        return prefix[:-1] if prefix else "model"

    @property
    def repo_id(self) -> str:
        return f"{unquote(self.params['ns'])}/{unquote(self.params['name'])}"

    def flag(self, name: str) -> bool:
        value = self.query.get(name, [""])[-1].lower()
        return value in ("1", "true", "yes")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as exc:
            raise HubError(400, f"Invalid JSON body: {exc}") from exc


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: tuple[Path, int, int] | None = None  # (path, start, length) streamed instead of body

    @classmethod
    def of_json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


class HubServer:
    """Handle on a running local Hub: its ``url``, ``stop()`` and read-only views for assertions."""

    def __init__(self, httpd: ThreadingHTTPServer, thread: threading.Thread, store: Store):
        self._httpd = httpd
        self._thread = thread
        self.store = store
        host, port = httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.requests: list[tuple[str, str, int]] = []
        self.unhandled: list[str] = []  # requests no route matched: a client call this server lacks
        self.errors: list[str] = []  # tracebacks of requests that crashed a handler
        self.page_size = DEFAULT_PAGE_SIZE
        self._secret = os.urandom(16)

    def sign_upload(self, repo_type: RepoType, repo_id: str, oid: str, size: int) -> str:
        """Signature of an LFS upload URL: the PUT carries no token, like a presigned storage URL."""
        message = f"{repo_type}/{repo_id}/{oid}/{size}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def stop(self) -> None:
        if "jobs" in self.__dict__:  # the fake Jobs API's subprocesses (tests/helpers/fake_jobs.py)
            self.jobs.stop()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    # ---- views for tests -----------------------------------------------------------------------
    @staticmethod
    def _check_type(repo_type: str) -> None:
        if repo_type not in REPO_TYPES:
            raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")

    def _commit(self, repo_type: RepoType, repo_id: str, revision: str) -> tuple[Repo, Commit]:
        self._check_type(repo_type)
        with self.store.lock:
            repo = self.store.get_repo(repo_type, repo_id, authed=True)
            return repo, Store.resolve(repo, revision)

    def repo_files(self, repo_type: RepoType, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """Path → content of every file of ``repo_id`` at ``revision`` (branch, tag, PR ref or commit)."""
        _, commit = self._commit(repo_type, repo_id, revision)
        return {path: self.store.read_object(entry.sha256) for path, entry in sorted(commit.tree.items())}

    def lfs_paths(self, repo_type: RepoType, repo_id: str, revision: str = "main") -> set[str]:
        _, commit = self._commit(repo_type, repo_id, revision)
        return {path for path, entry in commit.tree.items() if entry.lfs}

    def refs(self, repo_type: RepoType, repo_id: str) -> dict[str, str]:
        """Full ref name (``refs/heads/main``, ``refs/pr/1``, ...) → commit id."""
        self._check_type(repo_type)
        with self.store.lock:
            return dict(self.store.get_repo(repo_type, repo_id, authed=True).refs)

    def commits(self, repo_type: RepoType, repo_id: str, revision: str = "main") -> list[dict[str, Any]]:
        """First-parent history of ``revision``, newest first: ``{"id", "title", "message", "parents"}``."""
        repo, commit = self._commit(repo_type, repo_id, revision)
        history = []
        while True:
            history.append({"id": commit.id, "title": commit.title, "message": commit.message, "parents": list(commit.parents)})
            if not commit.parents:
                return history
            commit = repo.commits[commit.parents[0]]

    def is_private(self, repo_type: RepoType, repo_id: str) -> bool:
        self._check_type(repo_type)
        with self.store.lock:
            return self.store.get_repo(repo_type, repo_id, authed=True).private

    def space_variables(self, space_id: str) -> dict[str, str]:
        """Key → value of a Space's variables."""
        with self.store.lock:
            repo = self.store.get_repo("space", space_id, authed=True)
            return {key: item["value"] for key, item in repo.variables.items()}

    def has_repo(self, repo_type: RepoType, repo_id: str) -> bool:
        self._check_type(repo_type)
        with self.store.lock:
            return (repo_type, repo_id) in self.store.repos


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1.0"
    hub: HubServer  # set on the subclass built by start_hub_server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACKs add ~40 ms
        # to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the request log lives in HubServer.requests

    # ---- plumbing --------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._iter_chunked())
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _iter_chunked(self) -> Iterator[bytes]:
        while True:
            size_line = self.rfile.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _iter_body(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from self._iter_chunked()
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if split.path.startswith("/api/jobs/"):  # the Jobs API lives in its own module
            from helpers.fake_jobs import jobs_response

            self._send(jobs_response(self.hub, self.command, split.path, self._read_body()))
            return
        for method, pattern, handler_name in _ROUTES:
            match = pattern.fullmatch(split.path)
            if match and method == self.command:
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                # LFS uploads are streamed to disk by their handler, everything else is small.
                body = b"" if handler_name == "lfs_put" else self._read_body()
                request = Request(self.command, split.path, query, params, self.headers, body, token)
                try:
                    response = getattr(self, f"h_{handler_name}")(request)
                except (BrokenPipeError, ConnectionResetError):
                    raise
                except HubError as err:
                    headers = {"X-Error-Message": err.message.splitlines()[0][:500]}
                    if err.code:
                        headers["X-Error-Code"] = err.code
                    headers.update(err.extra.pop("headers", {}))
                    response = Response.of_json({"error": err.message, **err.extra}, err.status, headers)
                except Exception as exc:  # a bug in this server: answer 500 and keep it for the test report
                    trace = traceback.format_exc()
                    self.hub.errors.append(f"{self.command} {self.path}\n{trace}")
                    sys.stderr.write(f"local hub server error on {self.command} {self.path}:\n{trace}")
                    response = Response.of_json({"error": f"local hub server bug: {exc!r}"}, 500)
                self._send(response)
                return
        self._read_body()
        self.hub.unhandled.append(f"{self.command} {self.path}")
        self._send(Response.of_json({"error": f"local hub server: no route for {self.command} {split.path}"}, 404))

    def _send(self, response: Response) -> None:
        self.hub.requests.append((self.command, self.path, response.status))
        self.send_response(response.status)
        length = response.file[2] if response.file else len(response.body)
        headers = {"Content-Length": str(length), **response.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.file:
            path, start, count = response.file
            with open(path, "rb") as handle:
                handle.seek(start)
                while count > 0:
                    chunk = handle.read(min(count, 1 << 20))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    count -= len(chunk)
        else:
            self.wfile.write(response.body)

    def _handle(self) -> None:
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    # ---- helpers ---------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.hub.store

    def _require_auth(self, request: Request) -> None:
        if not request.authed:
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, request: Request, *, write: bool = False) -> Repo:
        if write:
            self._require_auth(request)
        return self.store.get_repo(request.repo_type, request.repo_id, authed=request.authed)

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.hub.url}/{_URL_PREFIX[repo.type]}{repo.id}"

    def _card_data(self, commit: Commit) -> dict[str, Any] | None:
        entry = commit.tree.get("README.md")
        if entry is None:
            return None
        try:
            return parse_front_matter(self.store.read_object(entry.sha256).decode(errors="replace"))
        except (ValueError, yaml.YAMLError):
            return None

    # ---- account / repos -------------------------------------------------------------------
    def h_whoami(self, request: Request) -> Response:
        self._require_auth(request)
        return Response.of_json({
            "type": "user", "id": "0" * 24, "name": request.user, "fullname": "Local Test User",
            "email": None, "emailVerified": False, "isPro": False, "canPay": False, "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}},
        })

    def h_agent_harnesses(self, request: Request) -> Response:
        # huggingface_hub fetches this registry to tag its user-agent; an empty one disables detection.
        return Response.of_json({"standardEnvVars": [], "harnesses": {}})

    def h_create_repo(self, request: Request) -> Response:
        self._require_auth(request)
        payload = request.json()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type: {repo_type}")
        name = payload.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or "--" in name or ".." in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
        repo_id = f"{payload.get('organization') or LOCAL_USER}/{name}"
        if repo_type == "space" and not payload.get("sdk"):
            raise HubError(400, "A Space needs an sdk")
        private = payload.get("private")
        if "visibility" in payload:
            private = payload["visibility"] != "public"
        with self.store.lock:
            existing = self.store.repos.get((repo_type, repo_id))
            if existing is not None:
                raise HubError(409, f"You already created this {repo_type} repo",
                               extra={"url": self._repo_url(existing)})
            repo = self.store.create_repo(repo_type, repo_id, bool(private), payload.get("sdk"))
            if repo_type == "space" and payload.get("variables"):
                for variable in payload["variables"]:
                    self._set_variable(repo, variable)
                self.store.save(repo)
        return Response.of_json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    def _repo_from_payload(self, request: Request, payload: dict[str, Any]) -> Repo:
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or LOCAL_USER}/{payload.get('name')}"
        return self.store.get_repo(repo_type, repo_id, authed=request.authed)

    def h_delete_repo(self, request: Request) -> Response:
        self._require_auth(request)
        with self.store.lock:
            self.store.delete_repo(self._repo_from_payload(request, request.json()))
        return Response.of_json({})

    def h_move_repo(self, request: Request) -> Response:
        self._require_auth(request)
        payload = request.json()
        repo_type = payload.get("type") or "model"
        with self.store.lock:
            repo = self.store.get_repo(repo_type, payload["fromRepo"], authed=True)
            if (repo_type, payload["toRepo"]) in self.store.repos:
                raise HubError(409, f"Repository {payload['toRepo']} already exists")
            self.store.delete_repo(repo)
            repo.id = payload["toRepo"]
            self.store.repos[(repo_type, repo.id)] = repo
            self.store.save(repo)
        return Response.of_json({})

    def h_settings(self, request: Request) -> Response:
        payload = request.json()
        with self.store.lock:
            repo = self._repo(request, write=True)
            if "private" in payload:
                repo.private = bool(payload["private"])
            if "visibility" in payload:
                repo.private = payload["visibility"] != "public"
            if "gated" in payload:
                repo.gated = payload["gated"]
            self.store.save(repo)
        return Response.of_json({})

    # ---- Space variables ---------------------------------------------------------------------
    def _set_variable(self, repo: Repo, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("key"), str) or not payload["key"]:
            raise HubError(400, "a Space variable needs a non-empty string key")
        if not isinstance(payload.get("value"), str):
            raise HubError(400, f"Space variable {payload['key']!r} needs a string value")
        repo.variables[payload["key"]] = {"value": payload["value"], "description": payload.get("description"),
                                          "updatedAt": _now_iso()}

    def h_space_variables(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request, write=True)  # the Hub shows variables to the Space's owners only
            return Response.of_json(dict(repo.variables))

    def h_add_space_variable(self, request: Request) -> Response:
        payload = request.json()
        with self.store.lock:
            repo = self._repo(request, write=True)
            self._set_variable(repo, payload)
            self.store.save(repo)
            return Response.of_json(dict(repo.variables))

    def h_delete_space_variable(self, request: Request) -> Response:
        payload = request.json()
        with self.store.lock:
            repo = self._repo(request, write=True)
            if repo.variables.pop(str((payload or {}).get("key")), None) is None:
                raise HubError(404, f"Space variable {payload!r} not found")
            self.store.save(repo)
            return Response.of_json(dict(repo.variables))

    def h_validate_yaml(self, request: Request) -> Response:
        payload = request.json()
        try:
            metadata = parse_front_matter(payload.get("content") or "")
        except (ValueError, yaml.YAMLError) as exc:
            return Response.of_json({"errors": [{"message": f"Invalid YAML in README.md: {exc}"}]}, 400)
        errors = []
        configs = (metadata or {}).get("configs")
        if configs is not None:
            if not isinstance(configs, list):
                errors.append("configs must be a list")
            else:
                for config in configs:
                    if not isinstance(config, dict) or not isinstance(config.get("config_name"), str):
                        errors.append(f"each configs entry needs a string config_name, got {config!r}")
        if errors:
            return Response.of_json({"errors": [{"message": message} for message in errors]}, 400)
        warnings = [] if metadata else [{"message": "empty or missing yaml metadata in repo card"}]
        return Response.of_json({"warnings": warnings})

    def h_repo_info(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request)
            commit = Store.resolve(repo, unquote(request.params.get("rev", "main")))
            blobs = request.flag("blobs")
            siblings = []
            for path, entry in sorted(commit.tree.items()):
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sibling.update(size=entry.size, blobId=entry.oid)
                    if entry.lfs:
                        sibling["lfs"] = {"sha256": entry.sha256, "size": entry.size,
                                          "pointerSize": len(lfs_pointer(entry.sha256, entry.size))}
                siblings.append(sibling)
            info: dict[str, Any] = {
                "_id": hashlib.sha1(f"{repo.type}/{repo.id}".encode()).hexdigest()[:24],
                "id": repo.id, "author": repo.id.split("/")[0], "sha": commit.id,
                "lastModified": commit.date, "createdAt": repo.created_at, "private": repo.private,
                "gated": repo.gated, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                "cardData": self._card_data(commit), "siblings": siblings,
                "usedStorage": sum(entry.size for entry in commit.tree.values()),
            }
            if repo.type == "model":
                info["modelId"] = repo.id
                info["evalResults"] = self._eval_results(commit)
            if repo.type == "space":
                info["sdk"] = repo.sdk
            return Response.of_json(info)

    def _eval_results(self, commit: Commit) -> list[dict[str, Any]]:
        """A model's ``.eval_results/*.yaml`` entries, in the API's ``{"filename", "data"|"error"}`` form."""
        items: list[dict[str, Any]] = []
        for path, entry in sorted(commit.tree.items()):
            if not (path.startswith(".eval_results/") and path.endswith((".yaml", ".yml"))):
                continue
            try:
                entries = yaml.load(self.store.read_object(entry.sha256), Loader=_YAML_LOADER)
                if not isinstance(entries, list) or not all(
                    isinstance(e, dict) and isinstance(e.get("dataset"), dict) and "id" in e["dataset"]
                    and "task_id" in e["dataset"] and "value" in e for e in entries
                ):
                    raise ValueError("expected a list of entries with dataset.id, dataset.task_id and value")
            except (ValueError, yaml.YAMLError) as exc:
                items.append({"filename": path, "error": str(exc)})
                continue
            items.extend({"filename": path, "data": e} for e in entries)
        return items

    def h_leaderboard(self, request: Request) -> Response:
        """Models whose ``.eval_results`` score this dataset, best first, on one task.

        The task is the ``task_id`` query parameter, else the first task of the dataset's ``eval.yaml``.
        """
        with self.store.lock:
            dataset = self.store.get_repo("dataset", request.repo_id, authed=request.authed)
            head = Store.resolve(dataset, "main")
            task_id = request.query.get("task_id", [None])[-1]
            if task_id is None and "eval.yaml" in head.tree:
                spec = yaml.load(self.store.read_object(head.tree["eval.yaml"].sha256), Loader=_YAML_LOADER) or {}
                tasks = spec.get("tasks") or []
                task_id = tasks[0].get("id") if tasks and isinstance(tasks[0], dict) else None
            best: dict[str, dict[str, Any]] = {}
            for (repo_type, repo_id), repo in self.store.repos.items():
                if repo_type != "model" or (repo.private and not request.authed):
                    continue
                for item in self._eval_results(Store.resolve(repo, "main")):
                    data = item.get("data")
                    if not data or data["dataset"]["id"] != dataset.id or (task_id and data["dataset"]["task_id"] != task_id):
                        continue
                    if repo_id not in best or data["value"] > best[repo_id]["value"]:
                        source = data.get("source") or {}
                        best[repo_id] = {
                            "modelId": repo_id, "value": data["value"], "filename": item["filename"], "verified": False,
                            "source": {"url": source["url"], "name": source.get("name"), "isExternal": True} if source else None,
                            "author": {"type": "user", "name": repo_id.split("/")[0]}, "notes": data.get("notes"),
                        }
        ranked = sorted(best.values(), key=lambda e: -e["value"])
        return Response.of_json([{"rank": i + 1, **entry} for i, entry in enumerate(ranked)])

    # ---- reading trees ---------------------------------------------------------------------
    def h_tree(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request)
            commit = Store.resolve(repo, unquote(request.params["rev"]))
            base = unquote(request.params.get("path", "")).strip("/")
            folders = _folders(commit.tree)
            if base and base not in folders:
                raise HubError(404, f"Entry not found: {base}", "EntryNotFound", {"headers": {"X-Repo-Commit": commit.id}})
            recursive = request.flag("recursive")
            expand = request.flag("expand")
            prefix = f"{base}/" if base else ""

            def wanted(path: str) -> bool:
                if not path.startswith(prefix):
                    return False
                return recursive or "/" not in path[len(prefix):]

            paths = sorted([(p, True) for p in folders if wanted(p)] + [(p, False) for p in commit.tree if wanted(p)])
            start = int(request.query.get("cursor", ["0"])[-1] or 0)
            page = paths[start:start + self.hub.page_size]
            entries = [_path_info(repo, commit, p, is_folder, expand) for p, is_folder in page]
        headers = {}
        if start + self.hub.page_size < len(paths):
            query = {k: v[-1] for k, v in request.query.items() if k != "cursor"}
            query["cursor"] = str(start + self.hub.page_size)
            next_url = f"{self.hub.url}{request.path}?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())
            headers["Link"] = f'<{next_url}>; rel="next"'
        return Response.of_json(entries, headers=headers)

    def h_paths_info(self, request: Request) -> Response:
        content_type = request.headers.get("Content-Type", "")
        if "json" in content_type:
            payload = request.json()
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(request.body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")
        with self.store.lock:
            repo = self._repo(request)
            commit = Store.resolve(repo, unquote(request.params["rev"]))
            folders = _folders(commit.tree)
            infos = []
            for raw in paths:
                path = raw.strip("/")
                if path in commit.tree:
                    infos.append(_path_info(repo, commit, path, False, expand))
                elif path in folders:
                    infos.append(_path_info(repo, commit, path, True, expand))
        return Response.of_json(infos)

    def h_list_commits(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request)
            commit = Store.resolve(repo, unquote(request.params["rev"]))
            items = []
            while True:
                items.append({"id": commit.id, "title": commit.title, "message": commit.message, "date": commit.date,
                              "authors": [{"user": commit.author, "avatar": ""}]})
                if not commit.parents:
                    break
                commit = repo.commits[commit.parents[0]]
        return Response.of_json(items)

    def h_list_refs(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request)
            groups: dict[str, list[dict[str, str]]] = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
            kinds = {"refs/heads/": "branches", "refs/convert/": "converts", "refs/tags/": "tags", "refs/pr/": "pullRequests"}
            for ref, target in sorted(repo.refs.items()):
                for prefix, group in kinds.items():
                    if ref.startswith(prefix):
                        groups[group].append({"name": ref[len(prefix):], "ref": ref, "targetCommit": target})
        if not request.flag("include_prs"):
            del groups["pullRequests"]
        return Response.of_json(groups)

    def h_resolve(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request)
            commit = Store.resolve(repo, unquote(request.params["rev"]))
            path = unquote(request.params["path"])
            entry = commit.tree.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"headers": {"X-Repo-Commit": commit.id}})
        headers = {
            "X-Repo-Commit": commit.id,
            "ETag": f'"{entry.sha256 if entry.lfs else entry.oid}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'inline; filename="{PurePosixPath(path).name}"',
        }
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        start, length, status = 0, entry.size, 200
        range_header = request.headers.get("Range")
        if range_header:
            match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", range_header)
            if not match or (not match[1] and not match[2]):
                raise HubError(416, f"Unsupported range: {range_header}", extra={"headers": {"Content-Range": f"bytes */{entry.size}"}})
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), entry.size - 1) if match[2] else entry.size - 1
            else:
                start = max(entry.size - int(match[2]), 0)
                end = entry.size - 1
            if start >= entry.size or end < start:
                raise HubError(416, f"Range not satisfiable: {range_header}", extra={"headers": {"Content-Range": f"bytes */{entry.size}"}})
            length, status = end - start + 1, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        return Response(status, headers=headers, file=(self.store.object_path(entry.sha256), start, length))

    # ---- writing ---------------------------------------------------------------------------
    def h_preupload(self, request: Request) -> Response:
        payload = request.json()
        with self.store.lock:
            repo = self._repo(request, write=True)
            commit = Store.resolve(repo, unquote(request.params["rev"]))
            lfs_patterns = _gitattributes_lfs_patterns(commit.tree, self.store)
            gitignore = payload.get("gitIgnore")
            if gitignore is None and ".gitignore" in commit.tree:
                gitignore = self.store.read_object(commit.tree[".gitignore"].sha256).decode(errors="replace")
            files = []
            for item in payload.get("files", []):
                path = _check_path(item.get("path"))
                sample = base64.b64decode(item.get("sample") or "")
                size = int(item.get("size") or 0)
                is_lfs = size > 0 and (
                    size >= LFS_SIZE_THRESHOLD or b"\0" in sample or any(_matches(path, p) for p in lfs_patterns)
                )
                answer: dict[str, Any] = {"path": path, "uploadMode": "lfs" if is_lfs else "regular",
                                          "shouldIgnore": _gitignored(path, gitignore)}
                existing = commit.tree.get(path)
                if existing is not None:
                    answer["oid"] = existing.sha256 if existing.lfs else existing.oid
                files.append(answer)
        return Response.of_json({"files": files, "commitOid": commit.id})

    def h_lfs_batch(self, request: Request) -> Response:
        payload = request.json()
        with self.store.lock:
            repo = self._repo(request, write=payload.get("operation") == "upload")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj.get("oid"), obj.get("size")
            if not isinstance(oid, str) or not re.fullmatch(r"[0-9a-f]{64}", oid) or not isinstance(size, int):
                objects.append({"oid": str(oid), "size": int(size or 0), "error": {"code": 422, "message": "Invalid object"}})
                continue
            answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if payload.get("operation") != "upload":
                # huggingface_hub downloads through /resolve, never through git-lfs.
                answer["error"] = {"code": 422, "message": "this server only implements LFS uploads"}
            elif oid not in repo.lfs_objects:
                # No "actions" for an object this repo already holds: the client then skips the upload.
                signature = self.hub.sign_upload(repo.type, repo.id, oid, size)
                href = f"{self.hub.url}/_lfs/{repo.type}s/{repo.id}/{oid}?size={size}&sig={signature}"
                answer["actions"] = {"upload": {"href": href, "header": {}}}
            objects.append(answer)
        return Response(200, json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
                        {"Content-Type": "application/vnd.git-lfs+json"})

    def h_lfs_put(self, request: Request) -> Response:
        oid = request.params["oid"]
        expected_size = request.query.get("size", ["-1"])[-1]
        signature = request.query.get("sig", [""])[-1]
        expected = self.hub.sign_upload(request.repo_type, request.repo_id, oid, int(expected_size))
        if not hmac.compare_digest(signature, expected):
            for _ in self._iter_body():
                pass
            raise HubError(403, "Invalid or missing upload signature")
        with self.store.lock:
            repo = self.store.get_repo(request.repo_type, request.repo_id, authed=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.store.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in self._iter_body():
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
            if digest.hexdigest() != oid or int(expected_size) != size:
                raise HubError(400, f"Uploaded content does not match sha256 {oid} / size {expected_size} (got {size} bytes)")
            self.store.install_file(oid, tmp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        with self.store.lock:
            repo.lfs_objects.add(oid)
            self.store.save(repo)
        return Response(200, b"", {"ETag": f'"{oid}"'})

    def h_commit(self, request: Request) -> Response:
        lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of a commit must be its header")
        header = lines[0]["value"]
        title = str(header.get("summary") or "").strip()
        if not title:
            raise HubError(400, "Commit summary must not be empty")
        create_pr = request.flag("create_pr")
        with self.store.lock:
            repo = self._repo(request, write=True)
            revision = unquote(request.params["rev"])
            ref = Store.branch_ref(repo, revision)
            head = repo.commits[repo.refs[ref]]
            parent_commit = header.get("parentCommit")
            if parent_commit and not create_pr and not head.id.startswith(str(parent_commit)):
                raise HubError(412, f"A commit has happened since {parent_commit}: {ref} is at {head.id}")
            tree = dict(head.tree)
            for line in lines[1:]:
                self._apply(repo, tree, line.get("key"), line.get("value") or {})
            commit = self.store.new_commit(repo, [head.id], tree, title, str(header.get("description") or ""),
                                           request.user)
            pr_url = None
            if create_pr:
                num = len(repo.discussions) + 1
                ref = f"refs/pr/{num}"
                repo.discussions.append({
                    "num": num, "title": title, "status": "open", "isPullRequest": True, "createdAt": commit.date,
                    "author": request.user, "base": revision if revision.startswith("refs/") else f"refs/heads/{revision}",
                    "baseCommit": head.id, "mergeCommitId": None, "description": commit.message,
                })
                pr_url = f"{self._repo_url(repo)}/discussions/{num}"
            repo.refs[ref] = commit.id
            self.store.save(repo)
        return Response.of_json({"success": True, "commitOid": commit.id, "commitUrl": f"{self._repo_url(repo)}/commit/{commit.id}",
                                 "pullRequestUrl": pr_url})

    def _apply(self, repo: Repo, tree: dict[str, Entry], key: str | None, value: dict[str, Any]) -> None:
        if key == "file":
            path = _check_path(value.get("path"))
            if value.get("encoding", "base64") != "base64":
                content = str(value.get("content", "")).encode()
            else:
                content = base64.b64decode(value.get("content") or "")
            tree[path] = Entry(self.store.put_bytes(content), len(content), False, git_blob_oid(content))
        elif key == "lfsFile":
            path = _check_path(value.get("path"))
            oid = str(value.get("oid"))
            if oid not in repo.lfs_objects or not self.store.has_object(oid):
                raise HubError(400, f"LFS object {oid} for {path} was never uploaded to {repo.id}")
            size = self.store.object_path(oid).stat().st_size
            if value.get("size") is not None and int(value["size"]) != size:
                raise HubError(400, f"LFS object {oid} has size {size}, commit says {value['size']}")
            tree[path] = Entry(oid, size, True, git_blob_oid(lfs_pointer(oid, size)))
        elif key == "deletedFile":
            path = str(value.get("path", "")).strip("/")
            if tree.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        elif key == "deletedFolder":
            folder = str(value.get("path", "")).strip("/")
            doomed = [p for p in tree if p.startswith(f"{folder}/")]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {folder}", "EntryNotFound")
            for path in doomed:
                del tree[path]
        else:
            raise HubError(400, f"Unknown commit operation: {key!r}")

    def h_create_branch(self, request: Request) -> Response:
        branch = unquote(request.params["branch"])
        if branch.startswith("refs/") or not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or ".." in branch:
            raise HubError(400, f"Invalid branch name: {branch}")
        payload = request.json()
        with self.store.lock:
            repo = self._repo(request, write=True)
            if f"refs/heads/{branch}" in repo.refs:
                raise HubError(409, f"Branch {branch} already exists")
            start = Store.resolve(repo, payload.get("startingPoint") or "main")
            repo.refs[f"refs/heads/{branch}"] = start.id
            self.store.save(repo)
        return Response.of_json({})

    def h_delete_branch(self, request: Request) -> Response:
        branch = unquote(request.params["branch"])
        with self.store.lock:
            repo = self._repo(request, write=True)
            if branch == "main" or f"refs/heads/{branch}" not in repo.refs:
                raise HubError(404 if branch != "main" else 400, f"Cannot delete branch {branch}",
                               "RevisionNotFound" if branch != "main" else None)
            del repo.refs[f"refs/heads/{branch}"]
            self.store.save(repo)
        return Response.of_json({})

    def h_create_tag(self, request: Request) -> Response:
        payload = request.json()
        tag = str(payload.get("tag") or "")
        if not tag or tag.startswith("refs/"):
            raise HubError(400, f"Invalid tag name: {tag!r}")
        with self.store.lock:
            repo = self._repo(request, write=True)
            if f"refs/tags/{tag}" in repo.refs:
                raise HubError(409, f"Tag {tag} already exists")
            repo.refs[f"refs/tags/{tag}"] = Store.resolve(repo, unquote(request.params["rev"])).id
            self.store.save(repo)
        return Response.of_json({})

    def h_delete_tag(self, request: Request) -> Response:
        tag = unquote(request.params["tag"])
        with self.store.lock:
            repo = self._repo(request, write=True)
            if repo.refs.pop(f"refs/tags/{tag}", None) is None:
                raise HubError(404, f"Tag {tag} not found", "RevisionNotFound")
            self.store.save(repo)
        return Response.of_json({})

    # ---- discussions (pull requests opened by create_commit(create_pr=True)) ------------------
    def _discussion_json(self, repo: Repo, discussion: dict[str, Any], details: bool) -> dict[str, Any]:
        data = {
            "num": discussion["num"], "title": discussion["title"], "status": discussion["status"],
            "isPullRequest": discussion["isPullRequest"], "createdAt": discussion["createdAt"],
            "author": {"name": discussion["author"]}, "repo": {"name": repo.id, "type": repo.type},
        }
        if details:
            data.update(events=[], filesWithConflicts=[],
                        changes={"base": discussion["base"], "mergeCommitId": discussion["mergeCommitId"]})
        return data

    def _discussion(self, repo: Repo, num: str) -> dict[str, Any]:
        for discussion in repo.discussions:
            if discussion["num"] == int(num):
                return discussion
        raise HubError(404, f"Discussion {num} not found")

    def h_list_discussions(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request)
            wanted_status = request.query.get("status", ["all"])[-1]
            wanted_type = request.query.get("type", ["all"])[-1]
            found = [
                self._discussion_json(repo, d, False) for d in reversed(repo.discussions)
                if wanted_status in ("all", d["status"])
                and (wanted_type == "all" or (wanted_type == "pull_request") == d["isPullRequest"])
            ]
        return Response.of_json({"discussions": found, "count": len(found), "start": 0, "numClosedDiscussions": 0})

    def h_discussion(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request)
            return Response.of_json(self._discussion_json(repo, self._discussion(repo, request.params["num"]), True))

    def _status_event(self, status: str) -> dict[str, Any]:
        return {"id": hashlib.sha1(f"{status}{time.time_ns()}".encode()).hexdigest()[:24], "type": "status-change",
                "createdAt": _now_iso(), "author": {"name": LOCAL_USER}, "data": {"status": status}}

    def h_discussion_status(self, request: Request) -> Response:
        status = request.json().get("status")
        if status not in ("open", "closed"):
            raise HubError(400, f"Invalid status: {status!r}")
        with self.store.lock:
            repo = self._repo(request, write=True)
            discussion = self._discussion(repo, request.params["num"])
            discussion["status"] = status
            self.store.save(repo)
        return Response.of_json({"newStatus": self._status_event(status)})

    def h_merge_discussion(self, request: Request) -> Response:
        with self.store.lock:
            repo = self._repo(request, write=True)
            discussion = self._discussion(repo, request.params["num"])
            if not discussion["isPullRequest"] or discussion["status"] not in ("open", "draft"):
                raise HubError(400, f"Discussion {discussion['num']} is not an open pull request")
            pr_head = repo.commits[repo.refs[f"refs/pr/{discussion['num']}"]]
            pr_base = repo.commits[discussion["baseCommit"]]
            base_head = repo.commits[repo.refs[discussion["base"]]]
            # Replay the PR's changes (base commit → PR head) on top of wherever the base branch is now.
            tree = dict(base_head.tree)
            for path in set(pr_base.tree) | set(pr_head.tree):
                before, after = pr_base.tree.get(path), pr_head.tree.get(path)
                if before == after:
                    continue
                if after is None:
                    tree.pop(path, None)
                else:
                    tree[path] = after
            # As on the Hub: the PR's opener is the discussion's author, the merger the merge commit's.
            merge = self.store.new_commit(repo, [base_head.id, pr_head.id], tree,
                                          f"Merge pull request #{discussion['num']}", discussion["title"], request.user)
            repo.refs[discussion["base"]] = merge.id
            discussion.update(status="merged", mergeCommitId=merge.id)
            self.store.save(repo)
        return Response.of_json({"newStatus": self._status_event("merged")})


def start_hub_server(port: int, storage_dir: Path) -> HubServer:
    """Start the local Hub on ``127.0.0.1:port`` in a daemon thread, storing everything under ``storage_dir``."""
    store = Store(Path(storage_dir))
    handler = type("_BoundHandler", (_Handler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name=f"local-hub-{port}", daemon=True)
    server = HubServer(httpd, thread, store)
    handler.hub = server
    thread.start()
    return server
