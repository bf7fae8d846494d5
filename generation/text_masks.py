"""Object masks for photos without ImageNet-S: a text-prompted segmentation model, then cleaning.

``--auto-mask hf:CIDAS/clipseg-rd64-refined`` loads a CLIPSeg model (a Hub id or a local folder)
through ``transformers`` and prompts it with the image's class name ("tabby cat", "espresso").
Its probability map is thresholded and cleaned by :func:`clean_mask`: the largest connected
component is kept and its holes are filled. A mask that cannot stand for one object is refused
with a reason the batch pipeline writes to ``skipped.tsv``: empty, covering almost the whole frame,
or several large regions, disconnected or joined only by a thin bridge (the prompt matched more than
one thing, or a salient-object mask merged two touching objects).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np


class MaskProblem(str, enum.Enum):
    EMPTY = "empty_mask"
    FULL = "full_frame_mask"
    SEVERAL = "several_regions_mask"


@dataclass(frozen=True)
class CleanedMask:
    mask: np.ndarray | None
    problem: MaskProblem | None
    detail: str


def clean_mask(
    raw: np.ndarray,
    *,
    min_share: float = 0.005,
    max_share: float = 0.9,
    second_region: float = 0.25,
) -> CleanedMask:
    """Keep the largest component of a bool mask and fill its holes; refuse masks that are not one object.

    ``min_share`` / ``max_share`` bound the kept object's share of the frame; a second component
    at least ``second_region`` times the largest one's area means several objects.

    >>> m = np.zeros((10, 10), bool); m[2:8, 2:8] = True; m[4, 4] = False; m[0, 9] = True
    >>> c = clean_mask(m); int(c.mask.sum()), c.problem
    (36, None)
    """
    import cv2

    raw = np.asarray(raw, dtype=bool)
    total = raw.size
    count, labels, stats, _ = cv2.connectedComponentsWithStats(raw.astype(np.uint8), connectivity=8)
    if count <= 1:
        return CleanedMask(None, MaskProblem.EMPTY, "the mask is empty")
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1]
    largest = int(order[0]) + 1
    if len(order) > 1 and areas[order[1]] >= second_region * areas[order[0]]:
        return CleanedMask(None, MaskProblem.SEVERAL,
                           f"{int(np.sum(areas >= second_region * areas[order[0]]))} disconnected regions of "
                           f"similar size ({', '.join(str(int(a)) for a in areas[order[:3]])} px)")
    mask = labels == largest
    from .mask_objects import separated_objects

    objects = separated_objects(mask)
    if len(objects) >= 2:
        # One connected region that a small opening splits into objects of similar size: two touching
        # objects merged (the giraffe and the zebra), not one object to edit.
        return CleanedMask(None, MaskProblem.SEVERAL,
                           f"one region holding {len(objects)} separated objects of similar size "
                           f"({', '.join(map(str, objects[:3]))} px after a small opening)")
    # Holes: background components of the inverted mask that do not touch the border.
    inverse = (~mask).astype(np.uint8)
    n_bg, bg_labels, _, _ = cv2.connectedComponentsWithStats(inverse, connectivity=4)
    border = set(np.unique(np.concatenate([bg_labels[0], bg_labels[-1], bg_labels[:, 0], bg_labels[:, -1]])).tolist())
    holes = ~np.isin(bg_labels, list(border)) & (bg_labels > 0)
    mask = mask | holes
    share = float(mask.sum()) / total
    if share < min_share:
        return CleanedMask(None, MaskProblem.EMPTY, f"the object covers {share:.2%} of the frame (< {min_share:.1%})")
    if share > max_share:
        return CleanedMask(None, MaskProblem.FULL, f"the object covers {share:.1%} of the frame (> {max_share:.0%})")
    return CleanedMask(mask, None, "")


@functools.lru_cache(maxsize=2)
def _load(model_id: str, device: str) -> tuple[Any, Any]:
    from transformers import AutoProcessor, CLIPSegForImageSegmentation

    try:
        processor = AutoProcessor.from_pretrained(model_id)
        model = CLIPSegForImageSegmentation.from_pretrained(model_id)
    except OSError as exc:
        raise ValueError(f"--auto-mask hf:{model_id}: cannot load a CLIPSeg model and processor from {model_id!r} "
                         f"(a Hub id or a folder saved with save_pretrained): {exc}") from None
    return processor, model.to(device).eval()


@dataclass(frozen=True)
class TextPromptMasker:
    """A CLIPSeg-style model prompted with a class name; ``__call__(photo, prompt) -> CleanedMask``."""

    model_id: str
    threshold: float = 0.4
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"text-mask threshold must be in (0, 1), got {self.threshold}")

    def probabilities(self, photo: np.ndarray, prompt: str) -> np.ndarray:
        """Per-pixel probability of ``prompt`` at the photo's resolution."""
        import torch
        from PIL import Image

        if not prompt or not prompt.strip():
            raise ValueError(f"--auto-mask hf:{self.model_id} needs the image's class name as its prompt")
        processor, model = _load(self.model_id, self.device)
        inputs = processor(text=[prompt], images=[Image.fromarray(photo)], return_tensors="pt", padding=True)
        with torch.no_grad():
            logits = model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
        prob = torch.sigmoid(logits.reshape(1, 1, *logits.shape[-2:]).float())
        prob = torch.nn.functional.interpolate(prob, size=photo.shape[:2], mode="bilinear", align_corners=False)
        return prob[0, 0].cpu().numpy()

    def __call__(self, photo: np.ndarray, prompt: str) -> CleanedMask:
        return clean_mask(self.probabilities(photo, prompt) >= self.threshold)

    def record(self) -> dict[str, Any]:
        return {"mask_source": "text-prompted", "mask_model": self.model_id, "mask_threshold": self.threshold}
