"""``push_folder`` / ``imagenet-e push``: a Hub-layout dataset folder uploaded to the local Hub and
loaded back with ``datasets.load_dataset("NS/NAME", config)``."""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path

import pytest
from PIL import Image

CONFIGS = ("original", "background_20", "background_-20")
ROWS = 4


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 37 % 256, seed * 11 % 256, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def _label(i: int) -> int:
    return (i * 97) % 1000


def build_layout(out_dir: Path, *, rows: int = ROWS, max_shard_bytes: int = 500 * 2**20) -> Path:
    from imagenet_e_dataset.hub_layout import HubLayoutWriter

    writer = HubLayoutWriter(out_dir, max_shard_bytes=max_shard_bytes)
    with writer:
        for config_index, config in enumerate(CONFIGS):
            for i in range(rows):
                writer.add(config, {
                    "source_id": f"ILSVRC2012_val_{i + 1:08d}",
                    "label": _label(i),
                    "image": _png(config_index * 100 + i),
                    "seed": None if config == "original" else 1000 + i,
                })
        return writer.finalize({"repo_id": "tests/imagenet-e"})


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return build_layout(tmp_path_factory.mktemp("layout") / "imagenet-e")


def _repo() -> str:
    return f"tests/imagenet-e-{uuid.uuid4().hex[:8]}"


def _api(hub_server):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.url)


def test_push_then_load_every_config(hub_server, layout):
    import datasets

    from imagenet_e_dataset.labels import class_names
    from imagenet_e_dataset.push import push_folder

    unhandled_before = len(hub_server.unhandled)
    repo_id = _repo()
    url = push_folder(layout, repo_id)
    assert url == f"{hub_server.url}/datasets/{repo_id}"
    remote = hub_server.repo_files("dataset", repo_id)
    # Hidden files (the tool's output marker) are local bookkeeping and are never pushed.
    local = {p.relative_to(layout).as_posix(): p.read_bytes() for p in layout.rglob("*")
             if p.is_file() and not p.name.startswith(".")}
    assert {k: v for k, v in remote.items() if k != ".gitattributes"} == local
    assert hub_server.lfs_paths("dataset", repo_id) == {p for p in local if p.endswith(".parquet")}

    for config in ("background_20", "background_-20"):
        ds = datasets.load_dataset(repo_id, config, split="test")
        assert ds.num_rows == ROWS
        assert ds["source_id"] == [f"ILSVRC2012_val_{i + 1:08d}" for i in range(ROWS)]
        assert ds["label"] == [_label(i) for i in range(ROWS)]
        assert set(ds["level"]) == {config.split("_", 1)[1]} and set(ds["attribute"]) == {"background"}
        assert ds.features["label"].names == list(class_names())
        assert ds[0]["image"].size == (8, 8)
    default = datasets.load_dataset(repo_id, split="test")  # the card marks `original` as the default config
    assert set(default["attribute"]) == {"original"} and default["seed"] == [None] * ROWS
    assert datasets.load_dataset(repo_id, "original", split="test")["source_id"] == default["source_id"]
    assert hub_server.unhandled[unhandled_before:] == []


def _puts(hub_server) -> int:
    return sum(1 for m, _, _ in hub_server.requests if m == "PUT")


def test_a_failed_commit_leaves_the_old_dataset_and_the_retry_resends_nothing(hub_server, layout, monkeypatch):
    from huggingface_hub import HfApi

    from imagenet_e_dataset import push
    from imagenet_e_dataset.push import push_folder

    repo_id = _repo()
    monkeypatch.setattr(push, "MAX_FILES_PER_UPLOAD", 1)  # one upload batch per shard
    real_create_commit = HfApi.create_commit

    def failing_create_commit(self, *args, **kwargs):
        raise ConnectionError("network dropped")

    monkeypatch.setattr(HfApi, "create_commit", failing_create_commit)
    puts_before = _puts(hub_server)
    with pytest.raises(ConnectionError):
        push_folder(layout, repo_id)
    assert _puts(hub_server) - puts_before == len(CONFIGS)  # every shard's bytes went up...
    assert list(hub_server.repo_files("dataset", repo_id)) == [".gitattributes"]  # ...none is visible
    monkeypatch.setattr(HfApi, "create_commit", real_create_commit)

    puts_before = _puts(hub_server)
    push_folder(layout, repo_id)
    assert _puts(hub_server) == puts_before  # the retry only commits what the server already holds
    titles = [c["title"] for c in hub_server.commits("dataset", repo_id)]
    assert titles == ["Upload ImageNet-E dataset", "initial commit"]  # data and card in one commit

    push_folder(layout, repo_id)
    assert [c["title"] for c in hub_server.commits("dataset", repo_id)] == titles  # no new commit
    assert _puts(hub_server) == puts_before  # nothing re-sent


_KILLED_PUSH = """
import os, signal, sys
from huggingface_hub import HfApi
from imagenet_e_dataset.push import push_folder

when = sys.argv[3]
real_create_commit = HfApi.create_commit

def create_commit(self, *args, **kwargs):
    if when == "before-commit":
        os.kill(os.getpid(), signal.SIGKILL)
    result = real_create_commit(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return result

HfApi.create_commit = create_commit
push_folder(sys.argv[1], sys.argv[2])
"""


def _killed_push(folder: Path, repo_id: str, when: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _KILLED_PUSH, str(folder), repo_id, when], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


def _rows(repo_id: str) -> dict[str, int]:
    import datasets

    return {config: datasets.load_dataset(repo_id, config, split="test", download_mode="force_redownload").num_rows
            for config in CONFIGS}


def test_a_push_killed_at_any_moment_leaves_a_loadable_dataset(hub_server, tmp_path):
    """A push killed between its uploads and its commit leaves the old dataset (its card and shards);
    one killed just after the commit leaves the new one; never a mix (issue 24, item 3)."""
    from imagenet_e_dataset.push import push_folder

    repo_id = _repo()
    old = build_layout(tmp_path / "old", rows=6, max_shard_bytes=400)  # several shards per config
    new = build_layout(tmp_path / "new", rows=5)  # one shard per config: the old ones must all go
    assert len(list(old.rglob("*.parquet"))) > len(CONFIGS)
    push_folder(old, repo_id)
    assert _rows(repo_id) == dict.fromkeys(CONFIGS, 6)
    old_card = hub_server.repo_files("dataset", repo_id)["README.md"]

    puts_before = _puts(hub_server)
    _killed_push(new, repo_id, "before-commit")
    assert _puts(hub_server) > puts_before  # the new shards were uploaded, yet:
    assert hub_server.repo_files("dataset", repo_id)["README.md"] == old_card
    assert _rows(repo_id) == dict.fromkeys(CONFIGS, 6)

    _killed_push(new, repo_id, "after-commit")
    assert _rows(repo_id) == dict.fromkeys(CONFIGS, 5)
    remote = sorted(p for p in hub_server.repo_files("dataset", repo_id) if p.endswith(".parquet"))
    assert remote == sorted(p.relative_to(new).as_posix() for p in new.rglob("*.parquet"))


def test_stale_shards_are_deleted(hub_server, tmp_path):
    import datasets

    from imagenet_e_dataset.push import push_folder

    repo_id = _repo()
    many = build_layout(tmp_path / "many", rows=6, max_shard_bytes=400)  # several shards per config
    many_shards = sorted(p.relative_to(many).as_posix() for p in many.rglob("*.parquet"))
    assert len(many_shards) > len(CONFIGS)
    push_folder(many, repo_id)
    assert datasets.load_dataset(repo_id, "background_20", split="test").num_rows == 6

    one = build_layout(tmp_path / "one", rows=5)
    push_folder(one, repo_id, commit_message="Rebuild")
    remote = sorted(p for p in hub_server.repo_files("dataset", repo_id) if p.endswith(".parquet"))
    assert remote == sorted(p.relative_to(one).as_posix() for p in one.rglob("*.parquet"))
    assert hub_server.commits("dataset", repo_id)[0]["title"] == "Rebuild"
    assert "Removed" in hub_server.commits("dataset", repo_id)[0]["message"]
    # The old shards no longer match the config's glob, so no stale rows come back.
    assert datasets.load_dataset(repo_id, "background_20", split="test").num_rows == 5

    # A config dropped from the folder disappears from the repo too.
    shutil.rmtree(one / "background_-20")
    _drop_config(one / "README.md", "background_-20")
    push_folder(one, repo_id)
    assert not any(p.startswith("background_-20/") for p in hub_server.repo_files("dataset", repo_id))


def _drop_config(readme: Path, name: str) -> None:
    import yaml

    text = readme.read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    meta["configs"] = [c for c in meta["configs"] if c["config_name"] != name]
    readme.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body)


def test_push_to_a_revision_branch(hub_server, layout):
    import datasets

    from imagenet_e_dataset.push import push_folder

    repo_id = _repo()
    push_folder(layout, repo_id, revision="v2-candidate")
    assert list(hub_server.repo_files("dataset", repo_id, "main")) == [".gitattributes"]
    assert "README.md" in hub_server.repo_files("dataset", repo_id, "v2-candidate")
    assert "refs/heads/v2-candidate" in hub_server.refs("dataset", repo_id)
    ds = datasets.load_dataset(repo_id, "background_20", split="test", revision="v2-candidate")
    assert ds.num_rows == ROWS
    with pytest.raises(ValueError, match="pull-request"):
        push_folder(layout, repo_id, revision="refs/pr/1")


def test_private_flag_is_recorded(hub_server, layout):
    from huggingface_hub.errors import RepositoryNotFoundError

    from imagenet_e_dataset.push import push_folder

    private_repo, public_repo = _repo(), _repo()
    push_folder(layout, private_repo, private=True)
    push_folder(layout, public_repo)
    assert hub_server.is_private("dataset", private_repo) and not hub_server.is_private("dataset", public_repo)
    with pytest.raises(RepositoryNotFoundError):
        _api(hub_server).dataset_info(private_repo, token=False)
    # Re-pushing without the flag never makes a private repo public; asking for private does hide a public one.
    push_folder(layout, private_repo)
    assert hub_server.is_private("dataset", private_repo)
    push_folder(layout, public_repo, private=True)
    assert hub_server.is_private("dataset", public_repo)


def _break(kind: str, folder: Path) -> None:
    if kind == "missing-folder":
        shutil.rmtree(folder)
    elif kind == "no-readme":
        (folder / "README.md").unlink()
    elif kind == "no-front-matter":
        (folder / "README.md").write_text("# ImageNet-E\n")
    elif kind == "no-configs":
        (folder / "README.md").write_text("---\nlicense: other\n---\n# ImageNet-E\n")
    elif kind == "no-shards":
        for shard in folder.rglob("*.parquet"):
            shard.unlink()
    elif kind == "config-without-files":
        for shard in (folder / "background_20").glob("*.parquet"):
            shard.unlink()
    elif kind == "truncated-shard":
        shard = next((folder / "original").glob("*.parquet"))
        shard.write_bytes(shard.read_bytes()[:-10])


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing-folder", "does not exist"),
        ("no-readme", "no README.md"),
        ("no-front-matter", "no YAML front matter"),
        ("no-configs", "configs"),
        ("no-shards", "no parquet shards"),
        ("config-without-files", "background_20"),
        ("truncated-shard", "not a complete parquet file"),
    ],
)
def test_bad_folders_are_refused_before_any_upload(hub_server, layout, tmp_path, kind, message):
    from imagenet_e_dataset.push import push_folder

    folder = tmp_path / "broken"
    shutil.copytree(layout, folder)
    _break(kind, folder)
    repo_id = _repo()
    with pytest.raises(ValueError, match=message) as err:
        push_folder(folder, repo_id)
    assert str(folder) in str(err.value)
    assert not hub_server.has_repo("dataset", repo_id)


def test_bad_repo_id(layout):
    from imagenet_e_dataset.push import push_folder

    with pytest.raises(ValueError, match="NAMESPACE/NAME"):
        push_folder(layout, "no-namespace")


def test_cli_push(hub_server, layout, tmp_path, capsys):
    from imagenet_e.cli import main

    repo_id = _repo()
    assert main(["push", str(layout), "--repo-id", repo_id, "--revision", "dev", "--message", "From the CLI"]) == 0
    assert capsys.readouterr().out.strip() == f"{hub_server.url}/datasets/{repo_id}"
    assert hub_server.commits("dataset", repo_id, "dev")[0]["title"] == "From the CLI"
    assert main(["push", str(tmp_path / "nowhere"), "--repo-id", repo_id]) == 1
    assert "nowhere" in capsys.readouterr().err
