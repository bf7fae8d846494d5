"""Bad input to `generate` from an image folder / with automatic masks: one clear line before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagenet_e.cli import main

FAST = ("--subsets", "size_0.05", "--steps", "2", "--edit-option", "resolution=64", "--no-progress")


def photo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(path)


def run(tmp_path: Path, capsys, *args: str) -> str:
    out = tmp_path / "out"
    code = main(["generate", *args, "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert code != 0, err
    assert not out.exists() and not (tmp_path / "out.work").exists(), "work was started"
    lines = [line for line in err.splitlines() if line.startswith("imagenet-e generate: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_an_image_folder_without_class_folders_or_photos_is_refused(tmp_path, capsys):
    folder = tmp_path / "photos"
    photo(folder / "loose.jpg")
    assert "has no class folders" in run(tmp_path, capsys, "--image-folder", str(folder), "--auto-mask", "grabcut")
    (folder / "cat").mkdir()
    (folder / "cat" / "readme.txt").write_text("no photos here")
    message = run(tmp_path, capsys, "--image-folder", str(folder), "--auto-mask", "grabcut")
    assert "has no photos" in message and "(cat)" in message


def test_two_photos_with_one_source_id_are_named(tmp_path, capsys):
    folder = tmp_path / "photos"
    photo(folder / "tabby cat" / "001.jpg")
    photo(folder / "tabby_cat" / "001.png")
    message = run(tmp_path, capsys, "--image-folder", str(folder), "--auto-mask", "grabcut")
    assert "tabby cat/001.jpg" in message and "tabby_cat/001.png" in message and "'tabby_cat-001'" in message


@pytest.mark.parametrize("args, expected", [
    (["--auto-mask", "magic"], "--auto-mask 'magic' is not a method; choose one of grabcut, grabcut+u2netp, u2netp, hf:"),
    (["--auto-mask", "hf:"], "is not a method"),
    (["--auto-mask", "u2netp", "--mask-threshold", "1.5"], "--mask-threshold must be a number in (0, 1), got 1.5"),
    (["--auto-mask", "u2netp", "--mask-threshold", "0"], "--mask-threshold must be a number in (0, 1), got 0.0"),
    (["--auto-mask", "grabcut", "--mask-threshold", "0.5"], "no meaning for --auto-mask grabcut"),
    (["--auto-mask", "grabcut", "--labels", "labels.txt"], "--labels is only for --images"),
    (["--auto-mask", "grabcut", "--masks", "masks"], "give --masks or --auto-mask, not both"),
    ([], "give --masks DIR (one mask per photo) or --auto-mask METHOD"),
    (["--auto-mask", "grabcut", "--split", "test"], "--split only apply to --hf-dataset"),
])
def test_bad_mask_and_label_options_are_one_line(tmp_path, capsys, args, expected):
    folder = tmp_path / "photos"
    photo(folder / "cat" / "001.jpg")
    (tmp_path / "masks").mkdir()
    args = [str(tmp_path / a) if a in ("labels.txt", "masks") else a for a in args]
    assert expected in run(tmp_path, capsys, "--image-folder", str(folder), *args)


def test_a_hf_dataset_needs_a_split(tmp_path, capsys):
    assert "--hf-dataset needs --split" in run(tmp_path, capsys, "--hf-dataset", "ns/x", "--auto-mask", "grabcut")


def test_a_text_mask_model_that_cannot_be_loaded_fails_before_any_work(tmp_path, capsys):
    folder = tmp_path / "photos"
    photo(folder / "cat" / "001.jpg")
    message = run(tmp_path, capsys, "--image-folder", str(folder), "--auto-mask", f"hf:{tmp_path / 'no-model'}")
    assert "cannot load a CLIPSeg model" in message and "no-model" in message


NFC, NFD = "caf\u00e9", "cafe\u0301"


def test_class_folders_differing_only_in_unicode_form_are_refused_naming_both(tmp_path, capsys):
    folder = tmp_path / "photos"
    photo(folder / NFC / "001.jpg")
    photo(folder / NFD / "002.jpg")
    message = run(tmp_path, capsys, "--image-folder", str(folder), "--auto-mask", "grabcut")
    assert repr(NFC) in message and repr(NFD) in message and "NFC and NFD" in message


def test_an_nfd_folder_is_the_nfc_class_and_a_folder_named_like_a_photo_is_listed(tmp_path, capsys):
    """Issue 24, item 7: `café` typed on macOS is the class `café`; `cat/dir.jpg/` gets a skipped.tsv line."""
    import datasets

    folder, masks = tmp_path / "photos", tmp_path / "masks"
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    masks.mkdir()
    for cls, stem in ((NFD, "001"), ("cat", "002")):
        photo(folder / cls / f"{stem}.jpg")
        sid = f"{'caf_' if cls == NFD else cls}-{stem}"
        Image.fromarray(mask).save(masks / f"{sid}.png")
    (folder / "cat" / "dir.jpg").mkdir()
    out = tmp_path / "out"
    code = main(["generate", "--image-folder", str(folder), "--masks", str(masks), "--out", str(out), *FAST])
    assert code == 0, capsys.readouterr().err
    names = datasets.load_dataset(str(out), "original", split="test").features["label"].names
    assert names == ["caf\u00e9", "cat"]  # NFC, whatever the disk holds
    rows = [line.split("\t") for line in (out / "skipped.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert [(r[0], r[2]) for r in rows] == [("cat/dir.jpg/", "unsupported_file")]
