"""A synthetic ImageNet val + ImageNet-S layout (photos, masks, official labels) for the generation tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from imagenet_e_dataset.labels import val_labels, wnids


def sid(n: int) -> str:
    return f"ILSVRC2012_val_{n:08d}"


def official_label(n: int) -> int:
    return val_labels()[f"{sid(n)}.JPEG"]


def shape_photo(n: int, size: tuple[int, int] = (96, 96)) -> tuple[np.ndarray, np.ndarray]:
    """A textured background with one coloured ellipse (the object), and the ellipse's mask."""
    h, w = size
    rng = np.random.default_rng(n)
    yy, xx = np.mgrid[:h, :w]
    base = rng.integers(40, 200, size=3)
    photo = (base + 30 * np.sin(xx[..., None] / (3 + n % 4)) + rng.normal(0, 8, (h, w, 3))).clip(0, 255).astype(np.uint8)
    cy, cx = h * (0.4 + 0.2 * rng.random()), w * (0.4 + 0.2 * rng.random())
    ry, rx = h * (0.18 + 0.1 * rng.random()), w * (0.16 + 0.1 * rng.random())
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    photo[mask] = rng.integers(0, 255, size=3)
    return photo, mask


def write_layout(root: Path, good: range = range(1, 11), *, bad: bool = True, wnid_folders: bool = False) -> dict:
    """ImageNet val photos (flat, or in wnid folders) and ImageNet-S masks ``<wnid>/<source_id>.png``.

    With ``bad``: 11 has no mask, 12 an empty mask, 13 a mask of the wrong size, 14 is not an
    image at all, 15 is a JPEG cut off after its header (only decoding finds it), 16 is two objects.
    """
    images, masks = root / "val", root / "ImageNet-S" / "validation-segmentation"
    info: dict = {"images": images, "masks": masks, "good": list(good)}

    def put(n: int, photo: np.ndarray | None, mask: np.ndarray | None, raw: bytes | None = None) -> None:
        wnid = wnids()[official_label(n)]
        folder = images / wnid if wnid_folders else images
        folder.mkdir(parents=True, exist_ok=True)
        if raw is not None:
            (folder / f"{sid(n)}.JPEG").write_bytes(raw)
        else:
            Image.fromarray(photo).save(folder / f"{sid(n)}.JPEG", quality=90)
        if mask is not None:
            (masks / wnid).mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(masks / wnid / f"{sid(n)}.png")

    for n in good:
        put(n, *shape_photo(n))
    if bad:
        photo, mask = shape_photo(11)
        put(11, photo, None)
        put(12, photo, np.zeros_like(mask))
        put(13, photo, np.pad(np.ones((20, 25), bool), 10))
        put(14, None, mask, raw=b"this is not a JPEG")
        sink = io.BytesIO()
        Image.fromarray(photo).save(sink, format="JPEG", quality=90)
        put(15, None, mask, raw=sink.getvalue()[: len(sink.getvalue()) // 2])
        two = np.zeros_like(mask)
        two[10:30, 10:30] = True
        two[60:85, 55:85] = True
        put(16, photo, two)
    return info


def write_label_space_dataset(folder: Path, rows: dict[str, list[dict]], label_space) -> Path:
    """A dataset folder in the Hub layout whose ``label`` ClassLabel is ``label_space``, written by the
    project's writer (as ``generate`` writes a dataset with its own classes).

    ``rows``: {config: [{"image": PNG/JPEG bytes, "label": class index, "source_id": id}, ...]}.
    """
    from imagenet_e_dataset.hub_layout import HubLayoutWriter

    with HubLayoutWriter(folder, label_space=label_space) as writer:
        for config, items in rows.items():
            for r in items:
                writer.add(config, {"image": r["image"], "label": r["label"], "source_id": r["source_id"], "seed": 0})
        writer.finalize()
    return folder
