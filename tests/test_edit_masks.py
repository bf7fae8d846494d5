"""Masks: reading, validation errors that name the file, ImageNet-S layout, automatic masks, inpainting."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers.scenes import chelsea, synthetic_scene
from generation.inpaint import available_inpainters, make_inpainter
from generation.masks import auto_mask, mask_path, read_mask, resize_mask


def _save(array: np.ndarray, path, mode: str | None = None):
    im = Image.fromarray(array)
    if mode:
        im = im.convert(mode)
    im.save(path)
    return path


@pytest.mark.parametrize("mode", ["L", "1", "RGB", "RGBA", "P"])
def test_read_mask_accepts_any_mode(tmp_path, mode):
    _, mask = synthetic_scene(40, 50)
    path = _save(mask.astype(np.uint8) * 255, tmp_path / f"m_{mode}.png", mode)
    got = read_mask(path, photo_size=(50, 40))
    assert got.dtype == bool and got.shape == (40, 50)
    assert np.array_equal(got, mask)


def test_imagenet_s_layout(tmp_path):
    _, mask = synthetic_scene(30, 30)
    path = mask_path(tmp_path, "n02123045", "ILSVRC2012_val_00000007.JPEG")
    assert path == tmp_path / "n02123045" / "ILSVRC2012_val_00000007.png"
    path.parent.mkdir()
    _save(mask.astype(np.uint8) * 255, path)
    assert read_mask(path, photo_size=(30, 30)).sum() == mask.sum()


@pytest.mark.parametrize(
    "content, size, message",
    [
        (np.zeros((20, 20), np.uint8), (20, 20), "empty"),
        (np.full((20, 20), 255, np.uint8), (20, 20), "whole image"),
        (np.pad(np.full((4, 4), 255, np.uint8), 8), (30, 20), "20x20 but the photo is 30x20"),
    ],
)
def test_bad_masks_name_the_file(tmp_path, content, size, message):
    path = _save(content, tmp_path / "bad_mask.png")
    with pytest.raises(ValueError, match=message) as err:
        read_mask(path, photo_size=size)
    assert "bad_mask.png" in str(err.value)


def test_unreadable_and_missing_masks(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="junk.png"):
        read_mask(junk)
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        read_mask(tmp_path / "nowhere.png")


def test_resize_mask_stays_binary():
    _, mask = synthetic_scene(64, 64)
    small = resize_mask(mask, (32, 16))
    assert small.shape == (16, 32) and small.dtype == bool
    assert abs(small.mean() - mask.mean()) < 0.03


def test_u2netp_finds_the_cat():
    photo, reference = chelsea()
    mask = auto_mask(photo, "u2netp")
    iou = (mask & reference).sum() / (mask | reference).sum()
    assert iou > 0.8, iou


def test_grabcut_from_rectangle_finds_a_centred_object():
    photo, mask = synthetic_scene(80, 80, rx=20, ry=24)
    got = auto_mask(photo, "grabcut")
    iou = (got & mask).sum() / (got | mask).sum()
    assert iou > 0.85, iou


def test_unknown_auto_mask_method():
    photo, _ = synthetic_scene(20, 20)
    with pytest.raises(ValueError, match="u2netp"):
        auto_mask(photo, "sam")


@pytest.mark.parametrize("name", ["patchmatch", "opencv"])
def test_inpainting_removes_the_object_and_changes_only_the_hole(name):
    assert set(available_inpainters()) >= {"patchmatch", "opencv"}
    photo, mask = synthetic_scene(64, 64, rx=12, ry=14)
    painter = make_inpainter(name, dilation=3)
    out = painter.inpaint(photo, mask)
    hole = painter.hole_for(photo, mask)
    assert hole.sum() > mask.sum()  # the halo margin is removed too
    assert np.array_equal(out[~hole], photo[~hole])
    # The object was red/yellow stripes; the fill must look like the (blue-green) surroundings.
    red_in_hole = (out[mask][:, 0] > 200).mean()
    assert red_in_hole < 0.05, red_in_hole
    assert np.abs(out[mask].mean(0) - photo[~hole].mean(0)).max() < 40
