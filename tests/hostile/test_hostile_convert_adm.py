"""Hostile and careless inputs to ``imagenet-e convert-adm`` (issue 14, items 2, 15, 16, 17).

The checkpoint being converted is never deleted by ``--overwrite``; a malicious pickle or a
checkpoint with an integer tensor is a one-line error naming the file; the converted folder has the
same permissions as every other output; a killed conversion's temporary is removed by the next run.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("guided_diffusion.unet")

from hostile_helpers import cli, cli_error, tree  # noqa: E402
from test_convert_adm import SMALL, SMALL_CLI, original_unet  # noqa: E402


@pytest.fixture(scope="module")
def state_dict() -> dict:
    return original_unet(SMALL).state_dict()


@pytest.fixture
def checkpoint(tmp_path, state_dict) -> Path:
    (tmp_path / "ckpts").mkdir()
    path = tmp_path / "ckpts" / "adm.pt"
    torch.save(state_dict, path)
    return path


@pytest.mark.parametrize("target, message", [
    ("ckpts/adm.pt", "is the input"),
    ("ckpts", "contains the input"),
    (".", "contains the input"),
    ("notes", "not written by imagenet-e"),
])
def test_overwrite_never_deletes_the_checkpoint_or_a_foreign_folder(checkpoint, tmp_path, capsys, target, message):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("convert the 512 model too")
    before = tree(tmp_path)
    error = cli_error(capsys, "convert-adm", str(checkpoint), "--out", str(tmp_path / target), "--overwrite", *SMALL_CLI)
    assert message in error
    assert tree(tmp_path) == before


def test_converted_folder_is_shared_like_every_output_and_replaced_only_with_overwrite(checkpoint, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "unet"
        assert cli(capsys, "convert-adm", str(checkpoint), "--out", str(out), *SMALL_CLI)[0] == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o755
        for path in out.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
        assert "--overwrite" in cli_error(capsys, "convert-adm", str(checkpoint), "--out", str(out), *SMALL_CLI)
        assert cli(capsys, "convert-adm", str(checkpoint), "--out", str(out), "--overwrite", *SMALL_CLI)[0] == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpts", "unet"]
    finally:
        os.umask(old)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_malicious_pickle_is_a_one_line_error_and_never_runs(tmp_path, capsys, monkeypatch):
    import pickle

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"time_embed.0.weight": _RunsCode()}))
    error = cli_error(capsys, "convert-adm", str(path), "--out", str(tmp_path / "unet"), *SMALL_CLI)
    assert str(path) in error and "never unpickled" in error
    assert not (tmp_path / "pwned.txt").exists() and not (tmp_path / "unet").exists()


def test_an_integer_tensor_is_named(tmp_path, capsys, state_dict):
    broken = dict(state_dict)
    key = next(iter(broken))
    broken[key] = broken[key].to(torch.int64)
    path = tmp_path / "int64.pt"
    torch.save(broken, path)
    error = cli_error(capsys, "convert-adm", str(path), "--out", str(tmp_path / "unet"), *SMALL_CLI)
    assert str(path) in error and repr(key) in error and "int64" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int64.pt"]


def test_a_killed_conversions_temporary_is_removed_by_the_next_run(checkpoint, tmp_path, capsys):
    # What a conversion killed mid-write leaves: its staging folder, its lock file no longer held by anyone.
    stale = tmp_path / ".unet.converting-k1ll3d"
    stale.mkdir()
    (stale / "diffusion_pytorch_model.safetensors").write_bytes(b"half")
    (tmp_path / ".unet.converting-k1ll3d.lock").write_bytes(b"")
    assert cli(capsys, "convert-adm", str(checkpoint), "--out", str(tmp_path / "unet"), *SMALL_CLI)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpts", "unet"]
