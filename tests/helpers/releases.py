"""Fake ImageNet-E releases in the authors' on-disk layout, shared by the dataset tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from imagenet_e_dataset.registry import SUBSETS

SOURCE_IDS = ("ILSVRC2012_val_00000003", "ILSVRC2012_val_00000001", "ILSVRC2012_val_00000042")
LABELS = {"ILSVRC2012_val_00000001": 65, "ILSVRC2012_val_00000003": 230, "ILSVRC2012_val_00000042": 999}


def encode(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def image_bytes(seed: int, fmt: str, size: int = 24) -> bytes:
    rng = np.random.default_rng(seed)
    return encode(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8), fmt)


def make_release(root: Path, source_ids=SOURCE_IDS, labels=LABELS) -> dict[tuple[str, str], bytes]:
    """Write a release under ``root``; return {(config, source_id): file bytes}."""
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for k, subset in enumerate(SUBSETS.values()):
        folder = root / subset.alias
        folder.mkdir()
        fmt = "JPEG" if subset.file_extension == ".JPEG" else "PNG"
        for j, source_id in enumerate(source_ids):
            data = image_bytes(1000 * k + j, fmt)
            (folder / f"{source_id}{subset.file_extension}").write_bytes(data)
            written[(subset.name, source_id)] = data
    lines = [f"{sid}.JPEG\t{labels[sid]}" for sid in sorted(labels)]
    (root / "labels.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written
