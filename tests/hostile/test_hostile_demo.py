"""``imagenet-e demo`` follows the output-folder rule (issue 14, item 1): it never deletes an existing
``DIR/dataset`` or any folder it did not write, with or without ``--overwrite``.

These runs stop at the rule, before any editing, so they are quick; the full demo runs in tests/test_demo.py.
"""

from __future__ import annotations

import pytest

from hostile_helpers import cli_error, tree
from imagenet_e_dataset.output_folder import OutputKind, write_marker

pytest.importorskip("skimage")


def _user_dataset(folder) -> None:
    (folder / "dataset").mkdir(parents=True)
    (folder / "dataset" / "my-annotations.csv").write_text("source,label\ncat,281\n")


def test_an_existing_folder_with_a_dataset_is_never_deleted(tmp_path, capsys):
    _user_dataset(tmp_path / "demo")
    before = tree(tmp_path)
    for extra in ((), ("--overwrite",)):
        error = cli_error(capsys, "demo", "--out", str(tmp_path / "demo"), "--no-progress", *extra)
        assert "not written by imagenet-e" in error
    assert tree(tmp_path) == before


def test_a_user_dataset_inside_an_earlier_demo_folder_is_not_replaced(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    write_marker(out, "demo", OutputKind.DEMO)  # an earlier demo's folder ...
    _user_dataset(out)  # ... where the user put their own dataset folder
    assert "--overwrite" in cli_error(capsys, "demo", "--out", str(out), "--no-progress")
    error = cli_error(capsys, "demo", "--out", str(out), "--overwrite", "--no-progress", "--iterations", "1")
    assert str(out / "dataset") in error and "not written by imagenet-e" in error
    assert (out / "dataset" / "my-annotations.csv").read_text() == "source,label\ncat,281\n"


def test_the_demo_never_writes_into_its_own_inputs(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"precious")
    (tmp_path / "masks").mkdir()
    before = tree(tmp_path)
    error = cli_error(capsys, "demo", "--out", str(photos), "--images", str(photos), "--masks", str(tmp_path / "masks"),
                      "--overwrite", "--no-progress")
    assert "is the input" in error
    assert tree(tmp_path) == before
