"""`imagenet-e demo` end to end on the embedded photos (reduced editor iterations): everything it writes
loads and agrees with everything else it reports."""

from __future__ import annotations

import json

import datasets
import pytest
from PIL import Image

from imagenet_e.cli import main
from imagenet_e_dataset.registry import CONFIG_NAMES
from imagenet_e.eval.results_schema import load_results


@pytest.mark.slow
def test_demo_end_to_end_outputs_agree(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--iterations", "2", "--n-bootstrap", "50",
                 "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out

    doc = load_results(out / "results.json")  # validates against the results schema
    assert doc["model"]["id"] == "efficientnet-lite0"
    assert set(doc["dataset"]["configs"]) == set(CONFIG_NAMES)

    # every subset was written in the Hub layout and loads back, paired on the same source image
    for config in CONFIG_NAMES:
        ds = datasets.load_dataset(str(out / "dataset"), config, split="test")
        assert ds["source_id"] == ["darknet_zebra", "opencv_squirrel", "skimage_coffee"], config
        assert [ds.features["label"].int2str(i) for i in ds["label"]] == ["zebra", "fox squirrel", "espresso"]
        assert doc["counts"][config] == 3

    # the printed table is the results file: every subset's accuracy and the mean drop as printed
    for config in CONFIG_NAMES:
        row = next(line for line in printed.splitlines() if line.split() and line.split()[0] == config)
        assert f"{100 * doc['metrics']['accuracy'][config]:.1f}" == row.split()[2]
    mean_line = next(line for line in printed.splitlines() if line.startswith("mean drop"))
    assert f"{100 * doc['metrics']['mean_drop']:+.1f}" == mean_line.split()[2]
    assert f"{100 * doc['metrics']['control_mean_drop']:+.1f}" == mean_line.split()[3]  # vs the control

    # the results are the predictions': `imagenet-e score` recomputes the same file
    import shutil

    copy = tmp_path / "rescored" / "predictions.parquet"
    copy.parent.mkdir()
    shutil.copyfile(out / "predictions.parquet", copy)
    assert main(["score", str(copy), "--dataset", str(out / "dataset")]) == 0
    assert (copy.parent / "results.json").read_bytes() == (out / "results.json").read_bytes()

    # the pictures exist and are real images: one row of 12 tiles per photo
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > sheet.height * 1.5
    assert Image.open(out / "drops.png").size[0] > 300
    manifest = [json.loads(line) for line in (out / "dataset" / "manifest.jsonl").read_text().splitlines()]
    assert {m["subset"] for m in manifest} >= set(CONFIG_NAMES) - {"original"}


def test_export_photos_writes_an_image_folder_of_the_embedded_photos(tmp_path, capsys):
    from imagenet_e.demo.run import EMBEDDED_PHOTOS
    from imagenet_e_dataset.labels import class_names

    out = tmp_path / "photos"
    assert main(["demo", "--export-photos", str(out)]) == 0
    listed = capsys.readouterr().out.split("\n")
    folders = sorted(p.name for p in out.iterdir())
    assert folders == sorted(class_names()[p.label] for p in EMBEDDED_PHOTOS)
    for photo in EMBEDDED_PHOTOS:
        path = out / class_names()[photo.label] / f"{photo.source_id}.jpg"
        assert str(path) in listed
        with Image.open(path) as image:
            assert image.format == "JPEG" and min(image.size) >= 200
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    # An existing folder is never written into.
    assert main(["demo", "--export-photos", str(out)]) != 0
    assert "folder exists" in capsys.readouterr().err


def test_export_photos_by_wnid_is_the_imagenet_layout(tmp_path):
    from generation.sources import discover_sources
    from imagenet_e.demo.run import EMBEDDED_PHOTOS, export_photos
    from imagenet_e_dataset.labels import wnids

    export_photos(tmp_path / "photos", by_wnid=True)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == sorted(wnids()[p.label] for p in EMBEDDED_PHOTOS)
    # generate --images reads the wnid folders as ImageNet-1k labels (masks come from --auto-mask).
    (tmp_path / "masks").mkdir()
    for photo in EMBEDDED_PHOTOS:
        (tmp_path / "masks" / f"{photo.source_id}.png").write_bytes(b"")
    sources, _ = discover_sources(tmp_path / "photos", tmp_path / "masks")
    assert {s.source_id: s.label for s in sources} == {p.source_id: p.label for p in EMBEDDED_PHOTOS}
    assert main(["demo", "--by-wnid"]) != 0  # only with --export-photos
