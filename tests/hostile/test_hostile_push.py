"""Hostile and careless inputs to ``imagenet-e push`` (issue 14, items 3 and 15), against the local Hub on 127.0.0.1.

A link inside the dataset folder that leads outside it would publish that file (a key, another
dataset) under a dataset name: push refuses it, naming the link, before anything is sent. Without a
token, push says how to log in instead of printing a 401 traceback.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from hostile_helpers import cli, cli_error, one_line_error, run_cli
from test_hub_push import build_layout


@pytest.fixture
def dataset(tmp_path) -> Path:
    return build_layout(tmp_path / "imagenet-e", rows=2)


def _repo() -> str:
    return f"hostile/push-{uuid.uuid4().hex[:8]}"


def _exists(hub_server, repo_id: str) -> bool:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.url).repo_exists(repo_id, repo_type="dataset")


@pytest.mark.parametrize("where", ["notes.txt", "background_20/extra.parquet", "original/test-00000-of-00001.parquet"])
def test_a_link_to_a_file_outside_the_folder_is_refused_naming_it(hub_server, dataset, tmp_path, capsys, where):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY----- not for the Hub")
    link = dataset / where
    if link.exists():
        shutil.copyfile(link, tmp_path / "shard.parquet")  # a real parquet outside: the link would be uploaded
        link.unlink()
        secret = tmp_path / "shard.parquet"
    link.symlink_to(secret)
    repo_id = _repo()
    error = cli_error(capsys, "push", str(dataset), "--repo-id", repo_id)
    assert str(link) in error and "symbolic link" in error and "outside the folder" in error
    assert not _exists(hub_server, repo_id)  # refused before anything was sent


def test_a_linked_folder_outside_is_refused_and_a_link_inside_is_fine(hub_server, dataset, tmp_path, capsys):
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "passwords.txt").write_text("hunter2")
    (dataset / "extras").symlink_to(tmp_path / "private", target_is_directory=True)
    repo_id = _repo()
    assert "extras" in cli_error(capsys, "push", str(dataset), "--repo-id", repo_id)
    assert not _exists(hub_server, repo_id)

    (dataset / "extras").unlink()
    (dataset / "LICENSE.txt").write_text("ImageNet terms apply")
    (dataset / "COPYING.txt").symlink_to(dataset / "LICENSE.txt")  # stays inside the folder
    code, out, err = cli(capsys, "push", str(dataset), "--repo-id", repo_id)
    assert code == 0, err
    files = hub_server.repo_files("dataset", repo_id)
    assert files["COPYING.txt"] == b"ImageNet terms apply"
    assert not any(name.startswith(".") and name != ".gitattributes" for name in files)  # the output marker stays local


def test_push_without_a_token_says_how_to_log_in(hub_server, dataset, tmp_path):
    repo_id = _repo()
    proc = run_cli("push", str(dataset), "--repo-id", repo_id, drop_env=("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
                   env={"HF_HOME": str(tmp_path / "empty-hf-home")})
    assert proc.returncode == 1
    assert "hf auth login" in one_line_error(proc.stderr, "push")
    assert not _exists(hub_server, repo_id)


def test_a_401_from_the_hub_becomes_one_line_with_the_way_to_log_in(hub_server):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from imagenet_e.cli import describe_os_error

    with pytest.raises(HfHubHTTPError) as info:
        HfApi(endpoint=hub_server.url, token=False).create_repo(_repo(), repo_type="dataset")
    text = describe_os_error(info.value)
    assert "401" in text and "hf auth login" in text and "\n" not in text
