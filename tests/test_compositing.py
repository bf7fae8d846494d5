"""Compositing modes: the authors' hard paste, the corrected soft (guided-filter, linear-light) edge, and Poisson."""

from __future__ import annotations

import numpy as np
import pytest

from generation.composite import Compositing, composite, soft_alpha
from generation.edits import plan_edit, prepare_source
from generation.protocol import Protocol
from helpers.scenes import synthetic_scene


def _scene():
    photo, mask = synthetic_scene(96, 128, rx=30, ry=22)
    background = np.full_like(photo, 0)
    background[..., 1] = 200  # a green wall: fringes and dark seams would show on it
    return photo, mask, background


def test_hard_is_the_binary_paste():
    photo, mask, background = _scene()
    out = composite(background, photo, mask, "hard")
    assert np.array_equal(out, np.where(mask[..., None], photo, background))


def test_soft_feathers_only_the_inner_rim_in_linear_light():
    photo, mask, background = _scene()
    out = composite(background, photo, mask, Compositing.SOFT)
    alpha = soft_alpha(photo, mask)
    assert not alpha[~mask].any() and np.array_equal(out[~mask], background[~mask])  # outside: the background
    assert (alpha[mask] == 1).mean() > 0.8 and np.array_equal(out[alpha == 1], photo[alpha == 1])  # interior: exact
    rim = mask & (alpha < 1)
    assert rim.any() and not np.array_equal(out[rim], photo[rim])  # the staircase edge is blended
    # Linear light: white over black at alpha a is sRGB(a), brighter than the 255·a of mixing 8-bit values.
    black = np.zeros((16, 16, 3), np.uint8)
    guide = np.zeros((16, 16, 3), np.uint8)
    guide[:, :9] = 255
    half = np.zeros((16, 16), bool)
    half[:, :8] = True
    a_rim = soft_alpha(guide, half)
    mixed = composite(black, guide, half, "soft").astype(int)
    soft = (a_rim > 0) & (a_rim < 1)
    assert soft.any()
    want = np.where(a_rim <= 0.0031308, a_rim * 12.92, 1.055 * a_rim ** (1 / 2.4) - 0.055) * 255
    assert np.abs(mixed[..., 0][soft] - np.rint(want[soft])).max() <= 1
    assert (mixed[..., 0][soft] > 255 * a_rim[soft] + 5).all()


def test_poisson_blends_the_object_into_the_background_and_leaves_the_rest():
    photo, mask, background = _scene()
    out = composite(background, photo, mask, "poisson")
    assert np.array_equal(out[~mask], background[~mask])
    # The object's gradients are kept, its colour moves towards the green surroundings.
    hard = composite(background, photo, mask, "hard")
    assert out[mask][:, 1].astype(float).mean() > hard[mask][:, 1].astype(float).mean()


@pytest.mark.parametrize("subset", ["position_random", "direction_random", "size_0.1"])
def test_corrected_transforms_are_soft_and_official_ones_hard(subset):
    photo, mask = synthetic_scene(90, 120, rx=24, ry=18)
    for name, mode in (("corrected", Compositing.SOFT), ("official", Compositing.HARD)):
        protocol = Protocol.resolve(name, {"resolution": 64, "inpainter": "opencv", "harmonize": False})
        source = prepare_source(photo, mask, options=protocol)
        result = plan_edit(source, None, subset, seed=1, options=protocol).result
        assert result.ok and result.params["compositing"] == mode.value
        assert np.array_equal(result.image[~result.object_mask], source.background[~result.object_mask])
