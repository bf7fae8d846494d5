"""The wheel a leaderboard Space carries (issue 24, item 1): built by the standard backend from the
checkout's tracked files only. An untracked note in a package folder, an untracked link to a token
and a tracked link leading outside the checkout never reach it; the wheel holds exactly the
declared package files. Each test builds from a throwaway git clone of this checkout's sources."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from imagenet_e.publish.wheel import (build_wheel, check_wheel_files, declared_package_files, tracked_files,
                                      wheel_files)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("imagenet_e", "imagenet_e_dataset", "imagenet_e_metric", "generation")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A git repo holding this checkout's tracked build inputs (links kept as links), committed."""
    repo = tmp_path_factory.mktemp("checkout") / "imagenet-e"
    for name in tracked_files(ROOT):
        if name.split("/", 1)[0] in PACKAGES or "/" not in name:
            source, target = ROOT / name, repo / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(source.readlink())
            elif source.exists():
                shutil.copyfile(source, target)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "sources")
    return repo


def test_untracked_files_and_links_never_reach_the_wheel(checkout, tmp_path):
    token = tmp_path / "token"
    token.write_text("hf_SECRET_TOKEN")
    (checkout / "imagenet_e" / "leaked_notes.txt").write_text("unreleased results, do not share")
    (checkout / "generation" / "hf_token.txt").symlink_to(token)
    (checkout / "generation" / "scratch.py").write_text("PASSWORD = 'x'\n")  # untracked module
    try:
        wheel = build_wheel(tmp_path / "dist", root=checkout)
        with zipfile.ZipFile(wheel) as archive:
            blob = b"".join(archive.read(name) for name in archive.namelist())
    finally:
        for name in ("imagenet_e/leaked_notes.txt", "generation/hf_token.txt", "generation/scratch.py"):
            (checkout / name).unlink()
    names = wheel_files(wheel)
    assert not {"imagenet_e/leaked_notes.txt", "generation/hf_token.txt", "generation/scratch.py"} & names
    assert b"hf_SECRET_TOKEN" not in blob and b"unreleased results" not in blob
    assert names == declared_package_files(checkout)
    # The package data a user's install needs is there; the in-tree link to the card ships as its content.
    assert {"imagenet_e_dataset/data/imagenet1k_classes.json", "imagenet_e/demo/assets/chelsea_mask.png",
            "imagenet_e_dataset/dataset_card.md", "imagenet_e_metric/README.md"} <= names
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("imagenet_e_dataset/dataset_card.md") == (ROOT / "dataset_card.md").read_bytes()


def test_a_tracked_link_out_of_the_checkout_is_refused_naming_it(checkout, tmp_path):
    token = tmp_path / "token"
    token.write_text("hf_SECRET_TOKEN")
    link = checkout / "generation" / "hf_token.txt"
    link.symlink_to(token)
    _git(checkout, "add", "generation/hf_token.txt")
    try:
        with pytest.raises(ValueError, match="symbolic link") as info:
            build_wheel(tmp_path / "dist", root=checkout)
        assert str(link) in str(info.value)
        assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
    finally:
        _git(checkout, "rm", "-q", "--cached", "generation/hf_token.txt")
        link.unlink()


def test_a_stray_data_file_or_a_missing_declared_one_fails_the_check(checkout, tmp_path):
    wheel = build_wheel(tmp_path / "dist", root=checkout)
    declared = declared_package_files(checkout)
    check_wheel_files(wheel, declared)  # the exact match passes
    with pytest.raises(ValueError, match="missing .*imagenet_e/extra.md"):
        check_wheel_files(wheel, declared | {"imagenet_e/extra.md"})
    with pytest.raises(ValueError, match="undeclared .*imagenet_e_metric/README.md"):
        check_wheel_files(wheel, declared - {"imagenet_e_metric/README.md"})


def test_a_folder_that_is_not_a_git_checkout_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "imagenet-e"\n')
    with pytest.raises(ValueError, match="not a git checkout"):
        build_wheel(tmp_path / "dist", root=tmp_path)
