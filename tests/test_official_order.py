"""The ``official`` protocol's order of operations against a hand-written reimplementation of the authors'
lines (SPEC §2: ``image_editor.py`` 187-250), pixel-exact, on a NON-SQUARE full-size photo (chelsea, 300x451):

- the photo is resized to 256x256 with LANCZOS, the mask with NEAREST (only when not 256x256 already) and
  binarised at ``> 0.5`` (222-228);
- ``position`` runs after that resize: the largest contour's box on the resized mask, a corner in
  ``[0, W - w] x [0, H - h]``, those 256x256 pixels moved (``find_bbox`` / ``change_place``, 224-242);
- ``direction`` rotates the full-size photo and mask (``PIL.Image.rotate``) before the resize;
- ``size`` rescales at full size (``rescale``), its grey mask then goes through the same NEAREST / > 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from generation.edits import plan_edit, prepare_source
from generation.protocol import Protocol
from generation.transforms_official import official_rescale
from test_official_protocol import demo_photo

SIDE = 256
OFFICIAL = Protocol.resolve("official", {"inpainter": "opencv"})


# --- the authors' lines, written out with their cv2 / PIL calls ---------------------------------------------

def authors_resize(photo: np.ndarray, mask_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """image_editor.py 222-228: LANCZOS photo; NEAREST mask only when it is not 256x256; then > 0.5."""
    image = np.array(Image.fromarray(photo).resize((SIDE, SIDE), Image.LANCZOS))
    mask = Image.fromarray(mask_u8)
    if mask.size != (SIDE, SIDE):
        mask = mask.resize((SIDE, SIDE), Image.NEAREST)
    return image, np.array(mask) > 0.5


def authors_find_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """find_bbox / get_bbox_and_rate: the bounding rect of the contour whose rect is largest."""
    contours, _ = cv2.findContours(mask.astype(np.uint8) * 255, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    rects = [cv2.boundingRect(c) for c in contours]
    return max(rects, key=lambda r: r[2] * r[3])


def authors_change_place(image, mask, box, nx, ny):
    """change_place: the box's pixels and mask copied to the new corner; the old place is left to the removal."""
    x, y, w, h = box
    out, out_mask = image.copy(), np.zeros_like(mask)
    out[ny:ny + h, nx:nx + w] = image[y:y + h, x:x + w]
    out_mask[ny:ny + h, nx:nx + w] = mask[y:y + h, x:x + w]
    return out, out_mask


@pytest.fixture(scope="module")
def chelsea():
    photo, mask = demo_photo("chelsea")
    assert photo.shape[:2] == (300, 451)  # non-square, larger than the working square
    return photo, mask


@pytest.fixture(scope="module")
def source(chelsea):
    photo, mask = chelsea
    return prepare_source(photo, mask, options=OFFICIAL, source_id="chelsea")


def test_working_resize_is_lanczos_photo_and_nearest_mask_above_half(chelsea, source):
    photo, mask = chelsea
    image, work_mask = authors_resize(photo, mask.astype(np.uint8) * 255)
    assert np.array_equal(source.image, image)
    assert np.array_equal(source.object_mask, work_mask)
    # No rim from a bilinear resize: the same pixel count as the nearest-neighbour mask.
    rim = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((SIDE, SIDE), Image.BILINEAR)) > 0.5
    assert rim.sum() > work_mask.sum()


@pytest.mark.parametrize("seed", [0, 7, 21])
def test_position_moves_the_resized_pixels_of_the_largest_contours_box(source, seed):
    planned = plan_edit(source, None, "position_random", seed=seed, options=OFFICIAL)
    req = planned.request
    x, y, w, h = authors_find_bbox(source.object_mask)  # on the RESIZED mask
    nx, ny = planned.params["x"], planned.params["y"]
    assert 0 <= nx <= SIDE - w and 0 <= ny <= SIDE - h  # randint(0, W - w), randint(0, H - h)
    assert planned.params["dx"] == nx - x and planned.params["dy"] == ny - y
    moved, moved_mask = authors_change_place(source.image, source.object_mask, (x, y, w, h), nx, ny)
    assert np.array_equal(req.object_mask, moved_mask)
    assert np.array_equal(req.image[moved_mask], moved[moved_mask])  # copied exactly, no second resampling
    assert np.array_equal(req.image[~moved_mask], source.background[~moved_mask])


def test_direction_rotates_the_full_size_photo_before_the_resize(chelsea, source):
    photo, mask = chelsea
    options = Protocol.resolve("official", {"inpainter": "opencv", "angle_range": (-17, -17)})
    planned = plan_edit(source, None, "direction_random", seed=0, options=options)
    rotated = np.array(Image.fromarray(photo).rotate(-17))  # PIL default: NEAREST, no expand, black fill
    rotated_mask = np.array(Image.fromarray(mask.astype(np.uint8) * 255).rotate(-17))
    image, work_mask = authors_resize(rotated, rotated_mask)
    assert np.array_equal(planned.request.object_mask, work_mask)
    assert np.array_equal(planned.request.image[work_mask], image[work_mask])


@pytest.mark.parametrize("subset, target", [("size_0.1", 0.1), ("size_0.05", 0.05)])
def test_size_rescales_at_full_size_then_resizes_its_grey_mask_nearest(chelsea, source, subset, target):
    photo, mask = chelsea
    planned = plan_edit(source, None, subset, seed=0, options=OFFICIAL)
    t = official_rescale(photo, mask, target)  # its steps are pinned against SPEC in test_official_protocol.py
    assert t.mask_u8 is not None and ((t.mask_u8 > 0) & (t.mask_u8 < 255)).any()  # grey after bilinear steps
    image, work_mask = authors_resize(t.object_image, t.mask_u8)
    assert np.array_equal(planned.request.object_mask, work_mask)
    assert np.array_equal(planned.request.image[work_mask], image[work_mask])


def test_full_stays_at_photo_size(chelsea, source):
    photo, _ = chelsea
    result = plan_edit(source, None, "size_full", seed=0, options=OFFICIAL).result
    assert result.image.shape == photo.shape  # saved full-size, as the release's full/ JPEGs
