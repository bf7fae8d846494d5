"""Helpers generation and evaluation share: folder replacement, the launcher's environment, device and
dtype choice, JSON-safe records, image decode/encode."""

from __future__ import annotations

import doctest
import enum
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imagenet_e_dataset.atomic as atomic
import imagenet_e_dataset.jsonsafe as jsonsafe
from generation.image_io import decode_rgb, encode_png, read_rgb, write_png_atomic
from imagenet_e_dataset.atomic import recover_folder, replace_folder
from imagenet_e_dataset.jsonsafe import canonical_json, to_jsonable
from imagenet_e_dataset.runtime import choose_device, choose_dtype, launch_environment


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "data.txt").write_text(text)
    return path


def _listing(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


# -- replace_folder -----------------------------------------------------------------------------------


def test_replace_folder_swaps_in_the_new_folder_and_leaves_nothing_else(tmp_path):
    dest = _folder(tmp_path / "out", "old")
    replace_folder(_folder(tmp_path / "new", "new"), dest)
    assert (dest / "data.txt").read_text() == "new"
    assert _listing(tmp_path) == ["out"]
    replace_folder(_folder(tmp_path / "newer", "newer"), dest)  # and again over that one
    assert (dest / "data.txt").read_text() == "newer"
    assert _listing(tmp_path) == ["out"]


def test_replace_folder_never_leaves_neither_folder(tmp_path, monkeypatch):
    dest = _folder(tmp_path / "out", "old")
    new = _folder(tmp_path / "new", "new")
    real_replace = os.replace
    states: list[str] = []

    def watching_replace(src, dst):
        real_replace(src, dst)
        # After every rename, a whole copy of the data is at dest or where recover_folder looks.
        if dest.is_dir():
            states.append((dest / "data.txt").read_text())
        else:
            (parked,) = [p / "out" for p in tmp_path.glob(".out.old-*")]
            states.append("aside:" + (parked / "data.txt").read_text())

    monkeypatch.setattr(atomic.os, "replace", watching_replace)
    replace_folder(new, dest)
    assert states == ["aside:old", "new"]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    dest = _folder(tmp_path / "out", "old")
    new = _folder(tmp_path / "new", "new")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(src) == new:
            raise OSError("disk on fire")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        replace_folder(new, dest)
    assert (dest / "data.txt").read_text() == "old"
    assert _listing(tmp_path) == ["new", "out"]


def test_a_crash_between_the_renames_is_recovered(tmp_path):
    # What a process killed after moving the old folder aside leaves: no dest, the old one parked.
    parked = tmp_path / ".out.old-abc123"
    parked.mkdir()
    _folder(parked / "out", "old")
    assert recover_folder(tmp_path / "out") == tmp_path / "out"
    assert (tmp_path / "out" / "data.txt").read_text() == "old"
    assert _listing(tmp_path) == ["out"]

    # The next replace_folder recovers first, so it replaces the old folder (and leaves no parked copy).
    parked.mkdir()
    os.replace(tmp_path / "out", parked / "out")
    replace_folder(_folder(tmp_path / "new", "new"), tmp_path / "out")
    assert (tmp_path / "out" / "data.txt").read_text() == "new"
    assert _listing(tmp_path) == ["out"]


def test_a_parked_copy_left_after_the_swap_is_removed(tmp_path):
    dest = _folder(tmp_path / "out", "new")
    stale = tmp_path / ".out.old-xyz"
    stale.mkdir()
    _folder(stale / "out", "old")
    assert recover_folder(dest) is None
    assert (dest / "data.txt").read_text() == "new"
    assert _listing(tmp_path) == ["out"]


# -- launcher environment, device, dtype --------------------------------------------------------------


def test_launch_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launch_environment().world_size == 1 and not launch_environment().launched
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    env = launch_environment()
    assert (env.rank, env.world_size, env.local_rank, env.launched) == (3, 4, 3, True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launch_environment().local_rank == 1
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4 / WORLD_SIZE=4"):
        launch_environment()
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(ValueError, match="RANK='two' is not an integer"):
        launch_environment()


def test_choose_device(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("auto") == "cpu"
    assert choose_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        choose_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        choose_device("gpu0")
    # With GPUs, each launcher process takes its own: LOCAL_RANK modulo the GPU count.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert choose_device("auto") == "cuda:1"
    assert choose_device("cuda", local_rank=2) == "cuda:0"
    assert choose_device("cuda:1") == "cuda:1"


def test_choose_dtype(monkeypatch):
    import torch

    assert choose_dtype("auto", "cpu") == "fp32"
    assert choose_dtype("auto", torch.device("cpu")) == "fp32"
    assert choose_dtype("fp16", "cpu") == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert choose_dtype("auto", "cuda:0") == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert choose_dtype("auto", torch.device("cuda", 0)) == "bf16"
    with pytest.raises(ValueError, match="unknown dtype 'fp64'"):
        choose_dtype("fp64", "cpu")


# -- JSON-safe records ---------------------------------------------------------------------------------


class _Mode(str, enum.Enum):
    ASPECT = "aspect"


def test_to_jsonable_makes_records_plain_json():
    record = {"rate": np.float32(0.25), "xy": (np.int64(3), 4), "mode": _Mode.ASPECT, "path": Path("a/b"),
              7: [None, True], "thing": object}
    plain = to_jsonable(record)
    assert plain == {"rate": 0.25, "xy": [3, 4], "mode": "aspect", "path": "a/b", "7": [None, True],
                     "thing": repr(object)}
    assert json.loads(canonical_json(plain)) == plain
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"\\u00e9","b":1}'
    assert doctest.testmod(jsonsafe).attempted >= 1 and doctest.testmod(jsonsafe).failed == 0


# -- image decode / encode -----------------------------------------------------------------------------


def test_png_round_trip_is_deterministic(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    data = encode_png(rgb)
    assert data == encode_png(rgb) == encode_png(Image.fromarray(rgb))
    assert np.array_equal(decode_rgb(data, "x.png"), rgb)
    path = write_png_atomic(rgb, tmp_path / "sub" / "x.png")
    assert path.read_bytes() == data and np.array_equal(read_rgb(path), rgb)
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    with Image.open(io.BytesIO(encode_png(mask))) as im:
        assert im.mode == "L" and sorted(set(np.asarray(im).ravel())) == [0, 255]
    with pytest.raises(ValueError, match="uint8 or bool"):
        encode_png(rgb.astype(np.float32))
    with pytest.raises(ValueError, match="bad.png: not a readable image"):
        decode_rgb(b"not an image", "bad.png")
    with pytest.raises(FileNotFoundError, match="image not found"):
        read_rgb(tmp_path / "missing.png")
