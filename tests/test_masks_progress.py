"""Masks users can check (suspicious ones flagged, the outline drawn on the original, the default
auto-mask the best one on the reference masks) and progress that moves per image and subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.scenes import ellipse_mask, synthetic_scene
from generation.contact_sheet import OUTLINE_COLOUR, outline
from generation.masks import DEFAULT_AUTO_MASK, auto_mask, mask_warnings, touched_sides

REFERENCES = Path(__file__).parent / "data" / "masks"


def test_big_or_frame_filling_masks_are_flagged():
    assert mask_warnings(ellipse_mask(100, 100, 50, 50, 20, 25)) == []
    big = ellipse_mask(100, 100, 50, 50, 40, 45)  # 56 % of the frame
    assert any("56%" in w and "40%" in w for w in mask_warnings(big))
    wall = np.zeros((100, 100), bool)
    wall[:, :30] = True  # a strip down the left side: touches top, bottom and left
    assert touched_sides(wall) == ("top", "bottom", "left")
    assert any("touches 3 sides" in w for w in mask_warnings(wall))
    speck = np.zeros((100, 100), bool)
    speck[40:60, 40:60] = True
    speck[0, 50] = speck[99, 50] = speck[50, 0] = True  # single stray pixels do not count as touching
    assert mask_warnings(speck) == []


def test_outline_marks_the_mask_border_on_the_photo():
    from generation.hole import dilate

    photo, mask = synthetic_scene(64, 64)
    drawn = outline(photo, mask)
    changed = (drawn != photo).any(axis=-1)
    assert changed.any() and (drawn[changed] == OUTLINE_COLOUR).all()
    # only a thin band along the border moves; the object's inside and the far background do not
    band = dilate(mask, 3) & dilate(~mask, 3)
    assert not changed[~band].any()


def test_default_auto_mask_matches_the_reference_masks():
    """The default method (best mean IoU in benchmarks/bench_masks.py) on two committed references."""
    import skimage.data

    from generation.commands import DEFAULT_AUTO_MASK as cli_default

    assert cli_default == DEFAULT_AUTO_MASK == "u2netp"
    for name, photo in (("coffee", skimage.data.coffee()), ("rocket", skimage.data.rocket())):
        ref = np.asarray(Image.open(REFERENCES / f"{name}.png").convert("L")) > 127
        got = auto_mask(photo)
        assert (got & ref).sum() / (got | ref).sum() > 0.8, name


def test_edit_contact_sheet_shows_the_mask_and_warns(tmp_path, capsys):
    from imagenet_e.cli import main

    photo, _ = synthetic_scene(64, 64)
    big = ellipse_mask(64, 64, 32, 32, 28, 30)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(big.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    out = tmp_path / "edits"
    code = main(["edit", str(tmp_path / "photo.png"), str(tmp_path / "mask.png"), "--subsets", "size_full,position_random",
                 "--resolution", "64", "--inpainter", "opencv", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: the mask covers" in err
    sheet = np.asarray(Image.open(out / "contact_sheet.png").convert("RGB"))
    assert (sheet == OUTLINE_COLOUR).all(axis=-1).sum() > 50  # the outline is on the first tile


@pytest.fixture()
def small_run(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    lines = []
    for k in range(3):
        photo, mask = synthetic_scene(40, 40, seed=k)
        Image.fromarray(photo).save(images / f"photo_{k}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(masks / f"photo_{k}.png")
        lines.append(f"photo_{k}.png\t{k}")
    (tmp_path / "labels.txt").write_text("\n".join(lines) + "\n")
    return images, masks, tmp_path / "labels.txt"


def test_generate_progress_moves_per_image_and_subset(small_run):
    from generation.pipeline import ChunkGenerator, GenerateSettings, Placement, prepare_selection
    from generation.pipeline.settings import Inputs

    subsets = ("background_0", "background_20", "size_0.1", "position_random")
    settings = GenerateSettings(subsets=subsets, backend_options=(("iterations", 1),),
                                edit_options=(("inpainter", "opencv"), ("resolution", 32)), batch_size=3)
    selection = prepare_selection(Inputs(*small_run), settings)
    generator = ChunkGenerator(settings, selection.sources, Placement(progress=False))
    calls: list[tuple[int, str]] = []
    generator.run(range(3), on_progress=lambda n, what: calls.append((n, what)))
    # one batch of three photos: a tick per photo read and cleaned, then one per image of each subset (the
    # cpu editor is called per image, so a slow subset such as the adversarial one still moves the bar)
    assert sum(n for n, _ in calls) == 3 * (1 + len(subsets))
    assert [what for _, what in calls[:3]] == [f"photo_{k}: object removed" for k in range(3)]
    assert calls[3:] == [(1, f"{s}: edited") for s in settings.subsets for _ in range(3)]


def giraffe_and_zebra(with_zebra: bool = True) -> np.ndarray:
    """A tall animal on thin legs and, when asked, a second animal standing behind the legs: one connected
    region (the u2netp giraffe + zebra case), 200x300."""
    mask = ellipse_mask(200, 300, 90, 60, 55, 35)  # body
    for x in (55, 75, 105, 125):
        mask[80:195, x:x + 6] = True  # legs, 6 px wide
    mask[10:70, 130:140] = True  # neck
    if with_zebra:
        mask |= ellipse_mask(200, 300, 160, 150, 50, 28)  # across the legs, 40 % of the body
    return mask


def test_a_mask_of_two_touching_objects_is_flagged_and_refused_as_an_auto_mask():
    from generation.masks import separated_objects
    from generation.text_masks import MaskProblem, clean_mask

    merged, single = giraffe_and_zebra(), giraffe_and_zebra(with_zebra=False)
    import cv2

    assert cv2.connectedComponents(merged.astype(np.uint8))[0] == 2  # ONE region (plus the background)
    assert len(separated_objects(merged)) == 2
    assert any("2 separated objects" in w for w in mask_warnings(merged))
    assert separated_objects(single) == separated_objects(single)[:1] and mask_warnings(single) == []
    assert clean_mask(merged).problem is MaskProblem.SEVERAL
    assert clean_mask(single).problem is None
    # The single objects of the committed reference masks stay one object.
    for path in sorted(REFERENCES.glob("*.png")):
        ref = np.asarray(Image.open(path).convert("L")) > 127
        assert len(separated_objects(ref)) == 1, path.name


def test_generate_prints_every_mask_warning_and_counts_them(tmp_path, capsys):
    from imagenet_e.cli import main

    images, masks = tmp_path / "photos", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    labels = []
    for name, mask in (("savanna", giraffe_and_zebra()), ("meadow", giraffe_and_zebra(with_zebra=False))):
        labels.append(f"{name}.png\t340")  # zebra
        photo, _ = synthetic_scene(200, 300)
        photo[mask] = (180, 140, 60)
        Image.fromarray(photo).save(images / f"{name}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(masks / f"{name}.png")
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
    out = tmp_path / "out"
    code = main(["generate", "--images", str(images), "--masks", str(masks), "--labels", str(tmp_path / "labels.txt"),
                 "--out", str(out), "--subsets", "background_0", "--steps", "1", "--edit-option", "resolution=32",
                 "--inpainter", "opencv", "--no-progress"])
    assert code == 0
    captured = capsys.readouterr()
    warned = [line for line in captured.err.splitlines() if line.startswith("warning: the mask of")]
    # The same words as `imagenet-e edit` prints, naming the source.
    assert warned and all(line.startswith("warning: the mask of savanna ") for line in warned)
    assert any("2 separated objects" in line and line.endswith("(--mask-out, or the outline in the contact sheet)")
               for line in warned)
    summary = [line for line in captured.out.splitlines() if line.startswith("wrote ")]
    assert summary and "; 1 flagged mask(s)" in summary[0]
