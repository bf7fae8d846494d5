"""Source discovery and selection for batch generation, on a synthetic ImageNet val + ImageNet-S layout."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation import sources
from generation.pipeline import work as pipeline_work
from generation.sources import SelectionFilter, SkipReason, discover_sources, read_labels_file, select_sources
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
        import io

        sink = io.BytesIO()
        Image.fromarray(photo).save(sink, format="JPEG", quality=90)
        put(15, None, mask, raw=sink.getvalue()[: len(sink.getvalue()) // 2])
        two = np.zeros_like(mask)
        two[10:30, 10:30] = True
        two[60:85, 55:85] = True
        put(16, photo, two)
    return info


def test_discovery_pairs_photos_masks_and_official_labels(tmp_path):
    info = write_layout(tmp_path)
    found, skips = discover_sources(info["images"], info["masks"])
    assert [s.source_id for s in found] == sorted(s.source_id for s in found)
    assert {s.source_id for s in found} == {sid(n) for n in [*range(1, 11), 12, 13, 14, 15, 16]}
    for s in found:
        assert s.label == official_label(int(s.source_id[-8:]))
        assert s.mask_wnid == wnids()[s.label]
    assert [(s.source_id, s.reason) for s in skips] == [(sid(11), SkipReason.MISSING_MASK)]


def test_labels_from_wnid_folders_and_from_a_labels_file(tmp_path):
    info = write_layout(tmp_path, range(1, 4), bad=False, wnid_folders=True)
    found, _ = discover_sources(info["images"], info["masks"])
    assert [s.label for s in found] == [official_label(n) for n in range(1, 4)]

    labels = tmp_path / "labels.txt"
    labels.write_text(f"{sid(1)}.JPEG\t{official_label(1)}\n{sid(2)}.JPEG\t{official_label(2)}\n")
    found, skips = discover_sources(info["images"], info["masks"], labels)
    assert [s.source_id for s in found] == [sid(1), sid(2)]
    assert [(s.source_id, s.reason) for s in skips] == [(sid(3), SkipReason.UNKNOWN_LABEL)]

    # A label that contradicts the ImageNet-S class folder of the mask is reported, not trusted.
    labels.write_text(f"{sid(1)}.JPEG\t{(official_label(1) + 1) % 1000}\n")
    found, skips = discover_sources(info["images"], info["masks"], labels)
    assert not found and skips[0].reason is SkipReason.LABEL_MISMATCH


@pytest.mark.parametrize("line, message", [
    ("ILSVRC2012_val_00000001.JPEG\t1000", "outside 0..999"),
    ("ILSVRC2012_val_00000001.JPEG\tcat", "not an integer"),
    ("my photo!.jpg\t3", "not a usable image file name"),
    ("ILSVRC2012_val_00000001.JPEG", "expected"),
])
def test_bad_labels_file_is_refused_with_the_line(tmp_path, line, message):
    path = tmp_path / "labels.txt"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=message) as info:
        read_labels_file(path)
    assert "labels.txt:1" in str(info.value)


def test_selection_reports_bad_masks_and_applies_the_filter(tmp_path):
    info = write_layout(tmp_path)
    found, skips = discover_sources(info["images"], info["masks"])
    selection = select_sources(found, SelectionFilter(single_object=True), skips=skips)
    reasons = {s.source_id: s.reason for s in selection.skips}
    assert reasons == {
        sid(11): SkipReason.MISSING_MASK,
        sid(12): SkipReason.EMPTY_MASK,
        sid(13): SkipReason.MASK_SIZE_MISMATCH,
        sid(14): SkipReason.UNREADABLE_IMAGE,
        sid(16): SkipReason.MULTIPLE_OBJECTS,
    }
    # The truncated JPEG has a valid header: only decoding (during generation) can find it.
    assert [s.source_id for s in selection.sources] == [sid(n) for n in [*range(1, 11), 15]]

    areas = {s.source_id: float(sources_mask(s).mean()) for s in selection.sources}
    lo, hi = sorted(areas.values())[2], sorted(areas.values())[-3]
    bounded = select_sources(found, SelectionFilter(min_area=lo, max_area=hi), skips=skips)
    kept = {s.source_id for s in bounded.sources}
    assert {k for k, a in areas.items() if lo <= a <= hi and k != sid(15)} <= kept
    assert all(lo <= float(sources_mask(s).mean()) <= hi for s in bounded.sources)
    assert sum(s.reason is SkipReason.AREA_OUT_OF_RANGE for s in bounded.skips) >= 4


def sources_mask(source):
    from generation.masks import read_mask

    return read_mask(source.mask_path)


def test_limit_takes_the_first_selected_sources_and_reports_only_what_it_walked_past(tmp_path):
    info = write_layout(tmp_path, range(8, 11))  # 8, 9, 10 good; 11.. bad
    found, skips = discover_sources(info["images"], info["masks"])
    selection = select_sources(found, SelectionFilter(), limit=2, skips=skips)
    assert [s.source_id for s in selection.sources] == [sid(8), sid(9)]
    assert selection.skips == ()
    with pytest.raises(ValueError, match="--limit"):
        select_sources(found, SelectionFilter(), limit=0)


def test_filter_bounds_are_checked():
    with pytest.raises(ValueError, match="min-area"):
        SelectionFilter(min_area=0.5, max_area=0.2)


def test_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder"):
        discover_sources(tmp_path / "nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        discover_sources(tmp_path / "empty", tmp_path)


def test_doctests():
    for module in (sources, pipeline_work):
        result = doctest.testmod(module)
        assert result.failed == 0
    assert doctest.testmod(pipeline_work).attempted >= 2
