"""Any dataset in: an image folder, a Hub image-classification dataset, automatic masks.

Each test runs the real `imagenet-e generate` (cpu backend, 64 px working resolution, two cheap
subsets) and loads the result with ``datasets``: the label space of the source reaches the
``label`` ClassLabel, the ``wnid`` column and the card; automatic masks are cleaned and recorded.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.clipseg import tiny_clipseg
from helpers.layouts import shape_photo
from imagenet_e.cli import main

CLASSES = ("dog", "tabby cat", "teapot")
FAST = ("--subsets", "size_0.05,position_random", "--steps", "2", "--edit-option", "resolution=64", "--no-progress",
        "--chunk-size", "2", "--batch-size", "2")


def make_folder(root: Path, classes=CLASSES, per_class: int = 2, *, masks: bool = True) -> tuple[Path, Path]:
    """``root/photos/<class>/<nnn>.jpg`` (96 px ellipses) and flat masks ``root/masks/<source id>.png``."""
    photos, mask_dir = root / "photos", root / "masks"
    mask_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for name in classes:
        (photos / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            n += 1
            photo, mask = shape_photo(n)
            Image.fromarray(photo).save(photos / name / f"{k:03d}.jpg", quality=92)
            if masks:
                sid = f"{name.replace(' ', '_')}-{k:03d}"
                Image.fromarray(mask.astype(np.uint8) * 255).save(mask_dir / f"{sid}.png")
    return photos, mask_dir


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line]


def skipped(out: Path) -> list[list[str]]:
    return [line.split("\t") for line in (out / "skipped.tsv").read_text().splitlines()[1:]]


def test_an_image_folder_becomes_a_dataset_with_its_own_label_space(tmp_path, capsys):
    import datasets

    photos, masks = make_folder(tmp_path)
    (photos / "stray.jpg").write_bytes((photos / "dog" / "000.jpg").read_bytes())  # not in a class folder
    (photos / "dog" / "notes.txt").write_text("not a photo")
    (photos / "dog" / ".DS_Store").write_bytes(b"hidden")
    out = tmp_path / "out"
    assert main(["generate", "--image-folder", str(photos), "--masks", str(masks), "--out", str(out), *FAST]) == 0
    for config in ("original", "position_random"):
        ds = datasets.load_dataset(str(out), config, split="test")
        assert ds.features["label"].names == list(CLASSES)
        assert sorted(ds["source_id"]) == sorted(f"{c.replace(' ', '_')}-{k:03d}" for c in CLASSES for k in range(2))
        for row in ds.select_columns(["source_id", "label", "wnid"]):
            name = CLASSES[row["label"]]
            assert row["wnid"] == name and row["source_id"].startswith(name.replace(" ", "_") + "-")
    card = (out / "README.md").read_text()
    assert "### Label space" in card and "3 classes of **image folder photos**" in card and "`tabby cat`" in card
    rows = {tuple(r[:3]) for r in skipped(out)}
    assert ("stray.jpg", "*", "unsupported_file") in rows and ("dog/notes.txt", "*", "unsupported_file") in rows
    assert not any(".DS_Store" in r[0] for r in rows)
    originals = [m for m in manifest(out) if m["subset"] == "original"]
    assert {m["params"]["mask_source"] for m in originals} == {"file"}


def test_text_prompted_auto_masks_are_cleaned_recorded_or_skipped_with_a_reason(tmp_path, capsys):
    import datasets

    photos, _ = make_folder(tmp_path, per_class=3, masks=False)
    model = tiny_clipseg(tmp_path / "clipseg")
    out = tmp_path / "out"
    # The random tiny model's maps give some one-object masks and some that clean_mask refuses
    # (full frame, several regions) or the selection filter (--max-area) leaves out, each with its reason.
    code = main(["generate", "--image-folder", str(photos), "--auto-mask", f"hf:{model}", "--mask-threshold", "0.6",
                 "--max-area", "0.5", "--out", str(out), *FAST])
    originals = {m["source_id"]: m for m in manifest(out) if m["subset"] == "original"} if code == 0 else {}
    skips = {r[0]: r for r in skipped(out)} if code == 0 else {}
    assert code == 0
    whole = [r for r in skips.values() if r[1] == "*"]
    assert len(originals) + len(whole) == 9 and originals and whole
    for sid, row in skips.items():
        if row[1] == "*":
            assert row[2] in ("empty_mask", "full_frame_mask", "several_regions_mask", "area_out_of_range") and row[3]
    for m in (m for m in manifest(out) if m["subset"] == "original"):
        assert m["params"]["mask_source"] == "auto" and m["params"]["mask_method"] == "hf"
        assert m["params"]["mask_model"] == str(model) and m["params"]["mask_threshold"] == 0.6
    ds = datasets.load_dataset(str(out), "original", split="test")
    assert ds.features["label"].names == list(CLASSES)
    card = (out / "README.md").read_text()
    assert "text-prompted model" in card
    # Refused sources are neither counted as in the dataset by the summary line nor by the card.
    assert f"9 sources ({len(originals)} in the dataset)" in capsys.readouterr().out
    assert f"This copy holds {len(originals)} source images" in card


def test_u2netp_masks_real_photos(tmp_path):
    """The offline u2netp on the demo's real photos: a plausible object share, and an edited dataset."""
    import datasets

    assets = sorted((Path(__file__).resolve().parent.parent / "imagenet_e" / "demo" / "assets").glob("*.jpg"))
    assert assets, "the demo's embedded photos are missing"
    photos = tmp_path / "photos"
    for path in assets[:2]:
        (photos / path.stem).mkdir(parents=True)
        with Image.open(path) as im:
            im.convert("RGB").resize((96, 96)).save(photos / path.stem / "photo.jpg", quality=92)
    out = tmp_path / "out"
    assert main(["generate", "--image-folder", str(photos), "--auto-mask", "u2netp", "--out", str(out), *FAST]) == 0
    ds = datasets.load_dataset(str(out), "original", split="test")
    assert ds.num_rows >= 1, skipped(out)
    for row in ds:
        share = float((np.asarray(row["object_mask"].convert("L")) > 127).mean())
        assert 0.02 < share < 0.8, (row["source_id"], share)
    edited = datasets.load_dataset(str(out), "position_random", split="test")
    assert edited.num_rows >= 1
    params = [m["params"] for m in manifest(out) if m["subset"] == "original"]
    assert all(p["mask_method"] == "u2netp" and p["mask_threshold"] == 0.5 for p in params)


def test_a_resumed_image_folder_run_with_another_class_is_refused(tmp_path, capsys):
    photos, masks = make_folder(tmp_path, classes=("dog", "teapot"), per_class=1)
    out = tmp_path / "out"
    args = ["generate", "--image-folder", str(photos), "--masks", str(masks), "--out", str(out), "--keep-work", *FAST]
    assert main(args) == 0
    make_folder(tmp_path, classes=("cat",), per_class=1)  # a class folder added (its mask too)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "label space changed" in err and "2 classes" in err and "3 classes" in err


def hub_dataset(repo_id: str, *, label_feature=None, rows: int = 4) -> None:
    """A tiny image-classification dataset (ClassLabel + Image) pushed to the local Hub server."""
    import datasets

    images, labels = [], []
    for n in range(rows):
        photo, _ = shape_photo(n + 1)
        sink = io.BytesIO()
        Image.fromarray(photo).save(sink, format="PNG" if n % 2 else "JPEG")
        images.append({"bytes": sink.getvalue(), "path": None})
        labels.append(n % 2)
    label_feature = label_feature or datasets.ClassLabel(names=["goldfish", "sea slug"])
    if isinstance(label_feature, datasets.Value) and label_feature.dtype == "string":
        labels = [str(v) for v in labels]
    features = datasets.Features({"img": datasets.Image(), "label": label_feature})
    datasets.Dataset.from_dict({"img": images, "label": labels}, features=features).push_to_hub(repo_id, split="test")


def test_a_hub_dataset_is_streamed_staged_once_and_resumed(hub_server, tmp_path, monkeypatch):
    import datasets

    hub_dataset("ns/tiny-fish")
    out = tmp_path / "out"
    args = ["generate", "--hf-dataset", "ns/tiny-fish", "--split", "test", "--image-column", "img",
            "--auto-mask", "grabcut", "--out", str(out), "--keep-work", *FAST]
    assert main(args) == 0
    ds = datasets.load_dataset(str(out), "original", split="test")
    assert ds.features["label"].names == ["goldfish", "sea slug"]
    for row in ds.select_columns(["source_id", "label", "wnid"]):
        n = int(row["source_id"].split("-")[1])
        assert row["source_id"] == f"test-{n:06d}" and row["label"] == n % 2
        assert row["wnid"] == ["goldfish", "sea slug"][n % 2]
    marker = json.loads((tmp_path / "out.work" / "hf-source" / "complete.json").read_text())
    assert marker["rows"] == 4 and marker["request"]["image_column"] == "img"
    first = {p.name: p.read_bytes() for p in out.rglob("*.parquet")}

    # A rerun (e.g. after a kill) reuses the staged rows: the split is not streamed again.
    streamed = []
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: streamed.append(a) or real(*a, **k))
    assert main([*args, "--overwrite"]) == 0
    assert streamed == [] and {p.name: p.read_bytes() for p in out.rglob("*.parquet")} == first
    assert "Label space" in (out / "README.md").read_text()


def test_an_integer_label_column_gives_classes_0_to_max(hub_server, tmp_path):
    import datasets

    hub_dataset("ns/int-labels", label_feature=datasets.Value("int64"))
    out = tmp_path / "out"
    assert main(["generate", "--hf-dataset", "ns/int-labels", "--split", "test", "--image-column", "img",
                 "--auto-mask", "grabcut", "--out", str(out), *FAST]) == 0
    ds = datasets.load_dataset(str(out), "original", split="test")
    assert ds.features["label"].names == ["0", "1"] and set(ds["wnid"]) <= {"0", "1"}


@pytest.mark.parametrize("problem, extra, message", [
    ("no-image", ["--image-column", "photo"], "no image column 'photo'"),
    ("no-label", ["--label-column", "class"], "no label column 'class'"),
    ("string-label", [], "label column 'label' is Value(string)"),
    ("not-image", ["--image-column", "label"], "column 'label' is ClassLabel"),
])
def test_bad_hub_columns_fail_before_any_work(hub_server, tmp_path, capsys, problem, extra, message):
    import datasets

    repo = f"ns/bad-{problem}"
    hub_dataset(repo, label_feature=datasets.Value("string") if problem == "string-label" else None)
    out = tmp_path / "out"
    args = ["generate", "--hf-dataset", repo, "--split", "test", "--image-column", "img", *extra,
            "--auto-mask", "u2netp", "--out", str(out), *FAST]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and "columns are: img, label" in err
    assert not out.exists() and not (tmp_path / "out.work").exists()
