"""Shared builders for the editing-toolkit tests (tests/test_edit*.py): synthetic scenes and the real cat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

DATA = Path(__file__).parents[1] / "data"
CHELSEA_MASK = DATA / "edit_chelsea_mask.png"
"""Object mask of ``skimage.data.chelsea()`` made with the grabcut+u2netp auto-masker, checked by eye."""


def textured_background(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with mild noise: a background with some, but not much, texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([80 + 100 * xx / w, 90 + 60 * yy / h, 140 - 60 * xx / w], axis=-1)
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def ellipse_mask(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def synthetic_scene(h: int = 96, w: int = 96, *, cx=None, cy=None, rx=None, ry=None, seed: int = 0):
    """A striped red/yellow ellipse (the object) over a textured background; returns ``(photo, mask)``."""
    cx = w / 2 if cx is None else cx
    cy = h / 2 if cy is None else cy
    rx = w / 5 if rx is None else rx
    ry = h / 4 if ry is None else ry
    photo = textured_background(h, w, seed)
    mask = ellipse_mask(h, w, cx, cy, rx, ry)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx + yy) // 4) % 2 == 0
    obj = np.where(stripes[..., None], np.array([220, 30, 30]), np.array([240, 220, 40])).astype(np.uint8)
    photo[mask] = obj[mask]
    return photo, mask


def chelsea() -> tuple[np.ndarray, np.ndarray]:
    """The scikit-image cat photo (CC0) and its committed mask."""
    import skimage.data

    photo = skimage.data.chelsea()
    mask = np.asarray(Image.open(CHELSEA_MASK)) > 127
    return photo, mask


class TinyClassifier(torch.nn.Module):
    """A small random CNN with ImageNet-sized logits: enough to test guidance end to end."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng():  # fixed weights without disturbing the caller's global RNG
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 16, 5, stride=2)
            self.fc = torch.nn.Linear(16, 1000)
        self.requires_grad_(False)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))) * 40
