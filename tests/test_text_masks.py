"""Masks without ImageNet-S: a text-prompted CLIPSeg (tiny, built from a config) and mask cleaning."""

from __future__ import annotations

import numpy as np
import pytest

from generation.text_masks import MaskProblem, TextPromptMasker, clean_mask
from helpers.clipseg import tiny_clipseg


def test_clean_mask_keeps_one_object_fills_holes_and_names_problems():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    mask[15:18, 15:18] = False  # a hole
    mask[0:2, 38:40] = True  # a speck
    cleaned = clean_mask(mask)
    assert cleaned.problem is None and cleaned.mask.sum() == 400 and not cleaned.mask[0, 39]
    two = np.zeros((40, 40), bool)
    two[2:12, 2:12] = True
    two[25:35, 25:35] = True
    assert clean_mask(two).problem is MaskProblem.SEVERAL
    assert clean_mask(np.zeros((40, 40), bool)).problem is MaskProblem.EMPTY
    assert clean_mask(np.ones((40, 40), bool)).problem is MaskProblem.FULL


def test_tiny_clipseg_masks_a_photo_through_transformers(tmp_path):
    from skimage import data

    folder = tiny_clipseg(tmp_path / "clipseg")
    photo = data.chelsea()
    masker = TextPromptMasker(str(folder), threshold=0.5)
    prob = masker.probabilities(photo, "tabby cat")
    assert prob.shape == photo.shape[:2] and 0.0 <= prob.min() and prob.max() <= 1.0
    # The same prompt gives the same map; another prompt another one (the text reaches the decoder).
    assert np.array_equal(prob, masker.probabilities(photo, "tabby cat"))
    assert not np.allclose(prob, masker.probabilities(photo, "espresso"))
    cleaned = masker(photo, "tabby cat")
    assert (cleaned.mask is None) == (cleaned.problem is not None)
    assert masker.record() == {"mask_source": "text-prompted", "mask_model": str(folder), "mask_threshold": 0.5}
    with pytest.raises(ValueError, match="needs the image's class name"):
        masker.probabilities(photo, " ")
    with pytest.raises(ValueError, match="cannot load a CLIPSeg model"):
        TextPromptMasker(str(tmp_path / "missing")).probabilities(photo, "cat")


def test_real_u2netp_mask_of_the_cat_survives_cleaning():
    from skimage import data

    from generation.masks import u2netp_mask

    photo = data.chelsea()
    cleaned = clean_mask(u2netp_mask(photo))
    assert cleaned.problem is None
    share = cleaned.mask.mean()
    assert 0.3 < share < 0.9  # the cat fills most of this photo
