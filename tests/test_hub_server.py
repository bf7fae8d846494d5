"""The local Hub-compatible server (tests/hub_server.py) driven by the real huggingface_hub client.

Every assertion is on what a user of huggingface_hub sees (exceptions, listings, downloaded bytes)
and on the server's stored state, so a server that answers "OK" without doing the work fails.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import pytest


@pytest.fixture()
def api(hub_server):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.url)


def _repo(prefix: str = "repo") -> str:
    return f"tests/{prefix}-{uuid.uuid4().hex[:8]}"


def _git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def test_create_repo_of_each_type_and_exist_ok(api, hub_server):
    from huggingface_hub.errors import HfHubHTTPError

    for repo_type, kwargs in (("model", {}), ("dataset", {}), ("space", {"space_sdk": "gradio"})):
        repo_id = _repo(repo_type)
        url = api.create_repo(repo_id, repo_type=repo_type, **kwargs)
        assert url.repo_id == repo_id and url.repo_type == repo_type
        assert api.create_repo(repo_id, repo_type=repo_type, exist_ok=True, **kwargs) == url
        with pytest.raises(HfHubHTTPError) as err:
            api.create_repo(repo_id, repo_type=repo_type, **kwargs)
        assert err.value.response.status_code == 409
        info = api.repo_info(repo_id, repo_type=repo_type)
        assert info.id == repo_id and info.private is False
        assert [s.rfilename for s in info.siblings] == [".gitattributes"]
        assert api.repo_exists(repo_id, repo_type=repo_type)
    # A namespace-less id goes to the token's user, as on the Hub.
    name = f"mine-{uuid.uuid4().hex[:6]}"
    assert api.create_repo(name).repo_id == f"{api.whoami()['name']}/{name}"
    assert not api.repo_exists("tests/never-created", repo_type="dataset")


def test_upload_overwrite_delete_and_history(api, hub_server):
    from huggingface_hub import hf_hub_download

    repo_id = _repo()
    api.create_repo(repo_id)
    first = api.upload_file(path_or_fileobj=b"version 1", path_in_repo="notes/a.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"\x00binary weights", path_in_repo="weights.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"version 2", path_in_repo="notes/a.txt", repo_id=repo_id)
    api.delete_file("weights.bin", repo_id=repo_id)

    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "notes/a.txt"]
    assert hub_server.repo_files("model", repo_id)["notes/a.txt"] == b"version 2"
    assert Path(hf_hub_download(repo_id, "notes/a.txt")).read_bytes() == b"version 2"
    # Older commits stay addressable by id, with their own tree.
    assert Path(hf_hub_download(repo_id, "notes/a.txt", revision=first.oid)).read_bytes() == b"version 1"
    assert "weights.bin" not in api.list_repo_files(repo_id)
    assert "weights.bin" in api.list_repo_files(repo_id, revision=api.list_repo_commits(repo_id)[1].commit_id)
    titles = [c.title for c in api.list_repo_commits(repo_id)]
    assert titles == [
        "Delete weights.bin with huggingface_hub",
        "Upload notes/a.txt with huggingface_hub",
        "Upload weights.bin with huggingface_hub",
        "Upload notes/a.txt with huggingface_hub",
        "initial commit",
    ]
    assert [c["id"] for c in hub_server.commits("model", repo_id)] == [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert api.model_info(repo_id).sha == api.list_repo_commits(repo_id)[0].commit_id


def test_tree_paths_info_lfs_and_metadata_headers(api, hub_server):
    from huggingface_hub import RepoFile, RepoFolder, get_hf_file_metadata, hf_hub_url

    repo_id = _repo("dataset")
    api.create_repo(repo_id, repo_type="dataset")
    parquet = b"PAR1" + bytes(range(256)) * 4 + b"PAR1"
    api.upload_file(path_or_fileobj=parquet, path_in_repo="cfg/test-00000-of-00001.parquet", repo_id=repo_id, repo_type="dataset")
    card = b"---\nlicense: mit\n---\n# card\n"
    api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo_id, repo_type="dataset")

    top = {e.path: e for e in api.list_repo_tree(repo_id, repo_type="dataset")}
    assert isinstance(top["cfg"], RepoFolder) and isinstance(top["README.md"], RepoFile)
    assert "cfg/test-00000-of-00001.parquet" not in top  # not recursive
    nested = {e.path: e for e in api.list_repo_tree(repo_id, "cfg", repo_type="dataset", expand=True)}
    shard = nested["cfg/test-00000-of-00001.parquet"]
    assert shard.lfs is not None and shard.lfs.sha256 == hashlib.sha256(parquet).hexdigest() and shard.size == len(parquet)
    assert shard.last_commit is not None and shard.last_commit.title.startswith("Upload cfg/")
    assert hub_server.lfs_paths("dataset", repo_id) == {"cfg/test-00000-of-00001.parquet"}

    infos = api.get_paths_info(repo_id, ["README.md", "cfg", "missing.txt"], repo_type="dataset")
    assert [(type(i).__name__, i.path) for i in infos] == [("RepoFile", "README.md"), ("RepoFolder", "cfg")]
    assert infos[0].blob_id == _git_blob_oid(card) and infos[0].lfs is None

    head = api.dataset_info(repo_id).sha
    meta = get_hf_file_metadata(hf_hub_url(repo_id, "cfg/test-00000-of-00001.parquet", repo_type="dataset"))
    assert (meta.commit_hash, meta.etag, meta.size) == (head, hashlib.sha256(parquet).hexdigest(), len(parquet))
    meta = get_hf_file_metadata(hf_hub_url(repo_id, "README.md", repo_type="dataset"))
    assert (meta.etag, meta.size) == (_git_blob_oid(card), len(card))
    assert api.dataset_info(repo_id).card_data.license == "mit"

    blobs = {s.rfilename: s for s in api.dataset_info(repo_id, files_metadata=True).siblings}
    assert blobs["cfg/test-00000-of-00001.parquet"].lfs.sha256 == hashlib.sha256(parquet).hexdigest()


def test_upload_folder_with_delete_patterns_and_noop(api, hub_server, tmp_path):
    repo_id = _repo("dataset")
    api.create_repo(repo_id, repo_type="dataset")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.parquet").write_bytes(b"one")
    (tmp_path / "a" / "2.parquet").write_bytes(b"two")
    api.upload_folder(folder_path=tmp_path, repo_id=repo_id, repo_type="dataset")
    (tmp_path / "a" / "2.parquet").unlink()
    (tmp_path / "a" / "3.parquet").write_bytes(b"three")
    api.upload_folder(folder_path=tmp_path, repo_id=repo_id, repo_type="dataset", delete_patterns="*.parquet")
    assert hub_server.repo_files("dataset", repo_id) == {
        ".gitattributes": hub_server.repo_files("dataset", repo_id)[".gitattributes"],
        "a/1.parquet": b"one",
        "a/3.parquet": b"three",
    }
    commits = len(api.list_repo_commits(repo_id, repo_type="dataset"))
    api.upload_folder(folder_path=tmp_path, repo_id=repo_id, repo_type="dataset", delete_patterns="*.parquet")
    assert len(api.list_repo_commits(repo_id, repo_type="dataset")) == commits


def test_branches_tags_and_revisions(api, hub_server):
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

    repo_id = _repo()
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"main", path_in_repo="f.txt", repo_id=repo_id)
    api.create_branch(repo_id, branch="dev")
    api.create_branch(repo_id, branch="dev", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as err:
        api.create_branch(repo_id, branch="dev")
    assert err.value.response.status_code == 409
    api.upload_file(path_or_fileobj=b"dev", path_in_repo="f.txt", repo_id=repo_id, revision="dev")
    api.upload_file(path_or_fileobj=b"extra", path_in_repo="only-dev.txt", repo_id=repo_id, revision="dev")
    api.create_tag(repo_id, tag="v1", revision="main")
    api.upload_file(path_or_fileobj=b"main 2", path_in_repo="f.txt", repo_id=repo_id)

    assert Path(hf_hub_download(repo_id, "f.txt")).read_bytes() == b"main 2"
    assert Path(hf_hub_download(repo_id, "f.txt", revision="dev")).read_bytes() == b"dev"
    assert Path(hf_hub_download(repo_id, "f.txt", revision="v1")).read_bytes() == b"main"
    snapshot = Path(snapshot_download(repo_id, revision="dev"))
    assert sorted(p.name for p in snapshot.iterdir()) == [".gitattributes", "f.txt", "only-dev.txt"]
    refs = api.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "dev"} and [t.name for t in refs.tags] == ["v1"]
    assert hub_server.refs("model", repo_id)["refs/heads/dev"] == api.model_info(repo_id, revision="dev").sha
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "f.txt", revision="no-such-branch")
    assert api.revision_exists(repo_id, "dev") and not api.revision_exists(repo_id, "nope")
    api.delete_branch(repo_id, branch="dev")
    assert not api.revision_exists(repo_id, "dev")


def test_pull_request_refs_and_merge(api, hub_server):
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, hf_hub_download

    repo_id = _repo()
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"base", path_in_repo="f.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"gone", path_in_repo="old.txt", repo_id=repo_id)
    main_before = api.model_info(repo_id).sha
    pr = api.create_commit(
        repo_id,
        operations=[CommitOperationAdd("f.txt", b"proposed"), CommitOperationDelete("old.txt")],
        commit_message="Propose",
        create_pr=True,
    )
    assert pr.pr_revision == "refs/pr/1" and pr.pr_num == 1
    assert api.model_info(repo_id).sha == main_before  # main untouched
    assert Path(hf_hub_download(repo_id, "f.txt", revision=pr.pr_revision)).read_bytes() == b"proposed"
    assert "old.txt" not in api.list_repo_files(repo_id, revision="refs/pr/1")
    refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", pr.oid)]
    # A second commit to the PR ref moves the PR only.
    api.upload_file(path_or_fileobj=b"more", path_in_repo="new.txt", repo_id=repo_id, revision="refs/pr/1")
    assert hub_server.repo_files("model", repo_id, "refs/pr/1")["new.txt"] == b"more"

    details = api.get_discussion_details(repo_id, 1)
    assert details.is_pull_request and details.status == "open" and details.target_branch == "refs/heads/main"
    assert [d.num for d in api.get_repo_discussions(repo_id)] == [1]
    api.merge_pull_request(repo_id, 1)
    files = hub_server.repo_files("model", repo_id)
    assert files["f.txt"] == b"proposed" and files["new.txt"] == b"more" and "old.txt" not in files
    assert api.get_discussion_details(repo_id, 1).status == "merged"


def test_error_codes_and_private_repos(api, hub_server):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("tests/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("tests/does-not-exist", "x.txt", repo_type="dataset")
    repo_id = _repo("private")
    api.create_repo(repo_id, repo_type="dataset", private=True)
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=repo_id, repo_type="dataset")
    assert api.dataset_info(repo_id).private is True and hub_server.is_private("dataset", repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(repo_id, token=False)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.txt", repo_type="dataset")
    assert not api.file_exists(repo_id, "missing.txt", repo_type="dataset")
    assert api.file_exists(repo_id, "s.txt", repo_type="dataset")
    api.update_repo_settings(repo_id, repo_type="dataset", private=False)
    assert api.dataset_info(repo_id, token=False).private is False


def test_stale_parent_commit_is_rejected(api):
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    repo_id = _repo()
    api.create_repo(repo_id)
    parent = api.model_info(repo_id).sha
    api.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=repo_id)
    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(repo_id, operations=[CommitOperationAdd("b.txt", b"b")], commit_message="late", parent_commit=parent)
    assert err.value.response.status_code == 412
    assert "b.txt" not in api.list_repo_files(repo_id)


def test_range_requests_and_hf_file_system(api, hub_server):
    from huggingface_hub import HfFileSystem, hf_hub_url

    repo_id = _repo("dataset")
    api.create_repo(repo_id, repo_type="dataset")
    payload = bytes(range(256)) * 40
    api.upload_file(path_or_fileobj=payload, path_in_repo="dir/blob.bin", repo_id=repo_id, repo_type="dataset")
    url = hf_hub_url(repo_id, "dir/blob.bin", repo_type="dataset")
    headers = {"authorization": "Bearer hf_local_test_token"}
    r = httpx.get(url, headers={**headers, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == payload[10:20] and r.headers["Content-Range"] == f"bytes 10-19/{len(payload)}"
    assert httpx.get(url, headers={**headers, "Range": "bytes=-5"}).content == payload[-5:]
    assert httpx.get(url, headers={**headers, "Range": f"bytes={len(payload)}-"}).status_code == 416
    assert httpx.head(url, headers=headers).headers["X-Linked-Size"] == str(len(payload))

    fs = HfFileSystem(endpoint=hub_server.url)
    root = f"datasets/{repo_id}"
    assert fs.ls(root, detail=False) == [f"{root}/.gitattributes", f"{root}/dir"]
    assert fs.glob(f"{root}/**/*.bin") == [f"{root}/dir/blob.bin"]
    with fs.open(f"{root}/dir/blob.bin", "rb", block_size=64) as handle:
        handle.seek(1000)
        assert handle.read(300) == payload[1000:1300]
    assert fs.info(f"{root}/dir/blob.bin")["size"] == len(payload)


def test_tree_listing_paginates(api, hub_server):
    repo_id = _repo()
    api.create_repo(repo_id)
    from huggingface_hub import CommitOperationAdd

    api.create_commit(repo_id, operations=[CommitOperationAdd(f"d/{i}.txt", str(i).encode()) for i in range(7)], commit_message="many")
    old = hub_server.page_size
    hub_server.page_size = 3
    try:
        listed = sorted(api.list_repo_files(repo_id))
    finally:
        hub_server.page_size = old
    assert listed == [".gitattributes"] + sorted(f"d/{i}.txt" for i in range(7))
    assert any(m == "GET" and "cursor=" in p for m, p, _ in hub_server.requests)


def test_state_survives_a_restart(api, hub_server):
    import socket

    from huggingface_hub import HfApi
    from hub_server import start_hub_server

    repo_id = _repo()
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"kept", path_in_repo="k.txt", repo_id=repo_id)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    second = start_hub_server(port=port, storage_dir=hub_server.store.root)
    try:
        other = HfApi(endpoint=second.url)
        assert other.model_info(repo_id).private is True
        assert second.repo_files("model", repo_id)["k.txt"] == b"kept"
        assert other.list_repo_commits(repo_id)[0].commit_id == api.list_repo_commits(repo_id)[0].commit_id
    finally:
        second.stop()


def test_eval_results_and_dataset_leaderboard(api, hub_server):
    import yaml
    from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml

    bench = _repo("bench")
    api.create_repo(bench, repo_type="dataset")
    spec = {"name": "bench", "tasks": [{"id": "original"}, {"id": "background_20"}]}
    api.upload_file(path_or_fileobj=yaml.safe_dump(spec).encode(), path_in_repo="eval.yaml", repo_id=bench, repo_type="dataset")
    scores = {"original": {"a": 0.7, "b": 0.9}, "background_20": {"a": 0.6, "b": 0.3}}
    models = {}
    for name in ("a", "b"):
        models[name] = _repo(f"model-{name}")
        api.create_repo(models[name])
        entries = [EvalResultEntry(dataset_id=bench, task_id=task, value=values[name]) for task, values in scores.items()]
        text = yaml.safe_dump(eval_result_entries_to_yaml(entries))
        api.upload_file(path_or_fileobj=text.encode(), path_in_repo=".eval_results/bench.yaml", repo_id=models[name])
    api.upload_file(path_or_fileobj=b"not: [a list", path_in_repo=".eval_results/broken.yaml", repo_id=models["a"])

    parsed = api.model_info(models["a"], expand=["evalResults"]).eval_results
    assert {(e.task_id, e.value) for e in parsed} == {("original", 0.7), ("background_20", 0.6)}
    board = api.get_dataset_leaderboard(bench)  # first eval.yaml task: original
    assert [(e.rank, e.model_id, e.value) for e in board] == [(1, models["b"], 0.9), (2, models["a"], 0.7)]
    assert board[0].filename == ".eval_results/bench.yaml"


def test_datasets_push_to_hub_and_load_dataset_round_trip(hub_server):
    import datasets

    repo_id = _repo("pushed")
    table = datasets.Dataset.from_dict({"x": list(range(6)), "name": [f"n{i}" for i in range(6)]})
    table.push_to_hub(repo_id, config_name="full", split="test")
    table.select(range(2)).push_to_hub(repo_id, config_name="head", split="test")
    table.select(range(3)).push_to_hub(repo_id, config_name="full", split="test", revision="small")
    assert datasets.load_dataset(repo_id, "full", split="test")["x"] == list(range(6))
    assert datasets.load_dataset(repo_id, "head", split="test")["name"] == ["n0", "n1"]
    assert datasets.load_dataset(repo_id, "full", split="test", revision="small")["x"] == [0, 1, 2]
    assert not hub_server.errors, hub_server.errors
