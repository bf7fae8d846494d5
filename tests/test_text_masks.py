"""Masks without ImageNet-S: a text-prompted CLIPSeg (tiny, built from a config) and mask cleaning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from generation.text_masks import MaskProblem, TextPromptMasker, clean_mask


def tiny_clipseg(folder: Path) -> Path:
    """A randomly initialised CLIPSeg with a character-level CLIP tokenizer, saved like a Hub model."""
    import torch
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPTokenizer,
        ViTImageProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    chars = list("abcdefghijklmnopqrstuvwxyz")
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="<|endoftext|>")
    processor = CLIPSegProcessor(image_processor=ViTImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer)
    config = CLIPSegConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         vocab_size=len(vocab), max_position_embeddings=32,
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                         pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                           image_size=64, patch_size=16),
        projection_dim=8, reduce_dim=8, extract_layers=[0, 1])
    torch.manual_seed(0)
    CLIPSegForImageSegmentation(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


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
