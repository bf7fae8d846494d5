"""Photos of every PIL mode become correct 8-bit RGB, or are refused with a reason (issue 14, item 7).

``generation.image_io.decode_rgb`` is what ``edit`` and ``generate`` read photos with, and
``to_rgb8`` what ``evaluate`` converts dataset images with. 16-bit photos used to come out white
(PIL's own conversion clips every value above 255).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generation.image_io import decode_rgb, to_rgb8

RGB = np.array([[[200, 30, 40], [10, 200, 90]], [[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
GREY = np.array([[0, 1, 128], [200, 254, 255]], dtype=np.uint8)


def _rgb(img: Image.Image) -> np.ndarray:
    out = to_rgb8(img)
    assert out.mode == "RGB" and out.size == img.size
    return np.asarray(out)


def _grey_rgb(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=2)


def _encoded(img: Image.Image, fmt: str) -> bytes:
    sink = io.BytesIO()
    img.save(sink, format=fmt)
    return sink.getvalue()


def test_rgb_l_and_1_are_exact():
    assert np.array_equal(_rgb(Image.fromarray(RGB)), RGB)
    assert np.array_equal(_rgb(Image.fromarray(GREY)), _grey_rgb(GREY))
    bits = Image.fromarray(GREY > 127).convert("1")
    assert bits.mode == "1"
    assert np.array_equal(_rgb(bits), _grey_rgb(np.where(GREY > 127, 255, 0).astype(np.uint8)))


@pytest.mark.parametrize("mode", ["RGBA", "RGBa", "RGBX"])
def test_rgb_with_a_fourth_channel_keeps_the_colours(mode):
    rgba = np.concatenate([RGB, np.full(RGB.shape[:2] + (1,), 255, np.uint8)], axis=2)
    img = Image.fromarray(rgba, "RGBA").convert(mode)
    assert img.mode == mode
    assert np.array_equal(_rgb(img), RGB)


@pytest.mark.parametrize("mode", ["LA", "La"])
def test_grey_with_alpha_keeps_the_grey(mode):
    la = np.stack([GREY, np.full_like(GREY, 255)], axis=2)
    img = Image.fromarray(la, "LA").convert(mode) if mode != "LA" else Image.fromarray(la, "LA")
    assert img.mode == mode
    assert np.array_equal(_rgb(img), _grey_rgb(GREY))


@pytest.mark.parametrize("mode", ["P", "PA"])
def test_palette_images_give_their_palette_colours(mode):
    img = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    if mode == "PA":
        img = img.convert("PA")
    assert img.mode == mode
    assert np.array_equal(_rgb(img), RGB)


@pytest.mark.parametrize("mode, tolerance", [("CMYK", 0), ("YCbCr", 3)])
def test_other_colour_spaces_come_back_to_the_same_colours(mode, tolerance):
    img = Image.fromarray(RGB).convert(mode)
    assert img.mode == mode
    assert np.abs(_rgb(img).astype(int) - RGB.astype(int)).max() <= tolerance


def test_lab_is_converted_as_the_colour_management_library_does():
    from PIL import ImageCms

    srgb, lab_profile = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB")
    lab = ImageCms.applyTransform(Image.fromarray(RGB), ImageCms.buildTransformFromOpenProfiles(srgb, lab_profile, "RGB", "LAB"))
    assert lab.mode == "LAB"
    expected = ImageCms.applyTransform(lab, ImageCms.buildTransformFromOpenProfiles(lab_profile, srgb, "LAB", "RGB"))
    assert np.abs(_rgb(lab).astype(int) - np.asarray(expected).astype(int)).max() <= 1


def test_hsv_is_converted_by_the_hsv_formula():
    import colorsys

    hsv = Image.fromarray(RGB).convert("HSV")
    values = np.asarray(hsv).reshape(-1, 3) / 255.0
    expected = np.array([colorsys.hsv_to_rgb(*v) for v in values]).reshape(RGB.shape) * 255
    assert np.abs(_rgb(hsv).astype(float) - expected).max() <= 1.0


@pytest.mark.parametrize("mode", ["I;16", "I;16L", "I;16B"])
def test_16_bit_grey_is_scaled_not_clipped(mode):
    wide = GREY.astype(np.uint16) * 257  # the same picture at 16 bits: 255 -> 65535
    raw = wide.astype(">u2" if mode == "I;16B" else "<u2").tobytes()
    img = Image.frombytes(mode, (wide.shape[1], wide.shape[0]), raw)
    assert np.array_equal(_rgb(img), _grey_rgb(GREY))
    assert np.array_equal(_rgb(Image.frombytes(mode, (1, 1), np.array([32768], ">u2" if mode == "I;16B" else "<u2").tobytes())),
                          [[[128, 128, 128]]])


def test_16_bit_png_file_decodes_like_its_8_bit_twin():
    wide = GREY.astype(np.uint16) * 257
    data = _encoded(Image.fromarray(wide), "PNG")
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "I;16"
    assert np.array_equal(decode_rgb(data, "photo.png"), _grey_rgb(GREY))


def test_32_bit_integers_are_read_as_8_or_16_bit_or_refused():
    assert np.array_equal(_rgb(Image.fromarray(GREY.astype(np.int32), "I")), _grey_rgb(GREY))
    wide = (GREY.astype(np.int32) * 257)
    assert np.array_equal(_rgb(Image.fromarray(wide, "I")), _grey_rgb(GREY))
    tiff = _encoded(Image.fromarray(wide, "I"), "TIFF")
    assert np.array_equal(decode_rgb(tiff, "photo.tiff"), _grey_rgb(GREY))
    for bad in (np.array([[-5, 3]], np.int32), np.array([[0, 70000]], np.int32)):
        with pytest.raises(ValueError, match="no 8-bit meaning"):
            to_rgb8(Image.fromarray(bad, "I"))


def test_floats_in_0_1_or_0_255_are_scaled_and_others_refused():
    assert np.array_equal(_rgb(Image.fromarray(GREY.astype(np.float32) / 255, "F")), _grey_rgb(GREY))
    assert np.array_equal(_rgb(Image.fromarray(GREY.astype(np.float32), "F")), _grey_rgb(GREY))
    with pytest.raises(ValueError, match="neither in 0..1 nor in 0..255"):
        to_rgb8(Image.fromarray(np.array([[-1.0, 2.0]], np.float32), "F"))
    with pytest.raises(ValueError, match="NaN"):
        to_rgb8(Image.fromarray(np.array([[np.nan, 0.5]], np.float32), "F"))
    data = _encoded(Image.fromarray(np.array([[-1.0, 300.0]], np.float32), "F"), "TIFF")
    with pytest.raises(ValueError, match=r"^photo\.tiff: floating-point pixels"):
        decode_rgb(data, "photo.tiff")


def test_unreadable_bytes_name_the_file_not_a_memory_buffer():
    with pytest.raises(ValueError) as info:
        decode_rgb(b"\x89PNG\r\n\x1a\n not really", "cat.png")
    assert str(info.value).startswith("cat.png: not a readable image") and "BytesIO" not in str(info.value)
