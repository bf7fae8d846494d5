"""A tiny randomly initialised CLIPSeg saved like a Hub model (no download), for text-prompted mask tests."""

from __future__ import annotations

import json
from pathlib import Path


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
