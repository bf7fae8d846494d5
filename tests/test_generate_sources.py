"""Source discovery and selection for batch generation, on a synthetic ImageNet val + ImageNet-S layout."""

from __future__ import annotations

import doctest

import pytest

from generation import sources
from generation.pipeline import work as pipeline_work
from generation.sources import SelectionFilter, SkipReason, discover_sources, read_labels_file, select_sources
from helpers.layouts import official_label, sid, write_layout
from imagenet_e_dataset.labels import wnids


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
