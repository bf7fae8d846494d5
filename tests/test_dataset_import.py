"""Importing the authors' release into the Hub layout, and loading every config back."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml
from PIL import Image

from imagenet_e_dataset import load
from imagenet_e_dataset.importer import import_release, skipped_report_path
from imagenet_e_dataset.labels import class_names, wnids
from imagenet_e_dataset.registry import DEFAULT_CONFIG, SUBSETS
from helpers.releases import LABELS, SOURCE_IDS, image_bytes, make_release


def _front_matter(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("import")
    written = make_release(tmp / "release")
    report = import_release(tmp / "release", tmp / "hub", repo_id="acme/imagenet-e")
    return tmp, written, report


def test_every_config_loads_with_rows_labels_and_original_bytes(imported):
    tmp, written, report = imported
    assert report.counts == {name: len(SOURCE_IDS) for name in SUBSETS}
    assert report.skipped == () and report.skipped_report is None
    per_config_ids = {}
    for name, subset in SUBSETS.items():
        ds = datasets.load_dataset(str(tmp / "hub"), name, split="test")
        assert ds.num_rows == len(SOURCE_IDS)
        label_feature = ds.features["label"]
        assert isinstance(label_feature, datasets.ClassLabel) and label_feature.names == list(class_names())
        raw = ds.cast_column("image", datasets.Image(decode=False))
        ids = raw["source_id"]
        assert ids == sorted(SOURCE_IDS), "rows are sorted by source_id"
        per_config_ids[name] = ids
        for row in raw:
            sid = row["source_id"]
            assert row["label"] == LABELS[sid]
            assert row["wnid"] == wnids()[LABELS[sid]]
            assert row["attribute"] == subset.attribute.name and row["level"] == subset.level
            assert row["seed"] is None
            assert row["image"]["bytes"] == written[(name, sid)], f"{name}/{sid} bytes were re-encoded"
            assert row["image"]["path"] == sid + subset.file_extension
        decoded = ds[0]["image"]
        assert isinstance(decoded, Image.Image) and decoded.size == (24, 24)
    # paired design: every config holds the same source images
    assert len({tuple(v) for v in per_config_ids.values()}) == 1


def test_card_front_matter_is_the_hub_form(imported):
    tmp, _, _ = imported
    meta = _front_matter(tmp / "hub" / "README.md")
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == set(SUBSETS)
    for name, config in configs.items():
        assert config["data_files"] == [{"split": "test", "path": f"{name}/test-*"}]
        assert config.get("default", False) is (name == DEFAULT_CONFIG)
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    assert set(infos) == set(SUBSETS)
    for name, info in infos.items():
        files = list((tmp / "hub" / name).glob("*.parquet"))
        assert info["splits"] == [{"name": "test", "num_bytes": info["dataset_size"], "num_examples": len(SOURCE_IDS)}]
        assert info["download_size"] == sum(f.stat().st_size for f in files)
        names = info["features"][1]["dtype"]["class_label"]["names"]
        assert len(names) == 1000 and names["999"] == class_names()[999]
    assert meta["task_categories"] == ["image-classification"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["license"] == "other" and "image-net.org" in meta["license_link"]
    assert meta["pretty_name"] == "ImageNet-E"


def test_card_body_lists_checksums_counts_and_citation(imported):
    tmp, _, _ = imported
    body = (tmp / "hub" / "README.md").read_text(encoding="utf-8").split("---\n", 2)[2]
    for path in sorted((tmp / "hub").glob("*/*.parquet")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rel = path.relative_to(tmp / "hub").as_posix()
        assert f"| `{rel}` | {len(SOURCE_IDS)} | {path.stat().st_size} | `{digest}` |" in body
    for subset in SUBSETS.values():
        assert f"| `{subset.name}` | `{subset.alias}` |" in body
    assert 'load_dataset("acme/imagenet-e", "background_20"' in body
    assert "2303.17096" in body and "ImageNet terms of" in body
    assert "${" not in body


def test_eval_yaml_written_at_the_root(imported):
    tmp, _, _ = imported
    doc = yaml.safe_load((tmp / "hub" / "eval.yaml").read_text(encoding="utf-8"))
    assert {t["config"] for t in doc["tasks"]} == set(SUBSETS)


def test_import_is_byte_deterministic(imported, tmp_path):
    tmp, _, _ = imported
    again = import_release(tmp / "release", tmp_path / "hub2", repo_id="acme/imagenet-e").out_dir
    first = sorted(p.relative_to(tmp / "hub") for p in (tmp / "hub").rglob("*") if p.is_file())
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (tmp / "hub" / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_load_accepts_aliases_for_folder(imported):
    tmp, written, _ = imported
    by_alias = load("20_smooth", str(tmp / "hub"))
    assert by_alias["source_id"] == sorted(SOURCE_IDS) and set(by_alias["level"]) == {"-20"}
    raw = by_alias.cast_column("image", datasets.Image(decode=False))
    assert raw[0]["image"]["bytes"] == written[("background_-20", raw[0]["source_id"])]
    streamed = next(iter(load("rp", tmp / "hub", streaming=True)))
    assert streamed["attribute"] == "position"


def test_load_rejects_unknown_names_and_sources(imported, tmp_path):
    tmp, _, _ = imported
    with pytest.raises(ValueError, match="unknown ImageNet-E subset 'background_huge'"):
        load("background_huge", tmp / "hub")
    # A well-formed level the folder does not hold (a sweep level) names the folder instead.
    with pytest.raises(ValueError, match="config 'background_99' is not in the dataset folder"):
        load("background_99", tmp / "hub")
    with pytest.raises(FileNotFoundError, match="neither a dataset folder"):
        load("original", tmp_path)
    with pytest.raises(FileNotFoundError, match="not an existing folder nor a Hub repo id"):
        load("original", tmp_path / "missing")
    with pytest.raises(ValueError, match="revision"):
        load("original", tmp / "hub", revision="main")


def test_tiny_shard_size_splits_configs(tmp_path):
    make_release(tmp_path / "release")
    out = import_release(tmp_path / "release", tmp_path / "hub", max_shard_bytes=1, subsets="20_hard,original").out_dir
    for name in ("background_20", "original"):
        files = sorted(p.name for p in (out / name).glob("*.parquet"))
        assert files == [f"test-{k:05d}-of-00003.parquet" for k in range(3)]
        assert datasets.load_dataset(str(out), name, split="test")["source_id"] == sorted(SOURCE_IDS)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["background_20", "original"]
    meta = _front_matter(out / "README.md")
    assert [c["config_name"] for c in meta["configs"]] == ["original", "background_20"]  # the dataset's order


# ---- bad input ------------------------------------------------------------------------------------

def _corrupt_png(root: Path) -> tuple[str, str]:
    path = root / "20_hard" / f"{SOURCE_IDS[0]}.png"
    path.write_bytes(path.read_bytes()[:60])  # truncated: header survives, pixels do not
    return "background_20", str(path)


def _garbage_jpeg(root: Path) -> tuple[str, str]:
    path = root / "ori" / f"{SOURCE_IDS[1]}.JPEG"
    path.write_bytes(b"this is not a jpeg at all" * 10)
    return "original", str(path)


def _unlabelled_image(root: Path) -> tuple[str, str]:
    path = root / "rp" / "ILSVRC2012_val_00000777.png"
    path.write_bytes(image_bytes(7, "PNG"))
    return "position_random", str(path)


def _bad_file_name(root: Path) -> tuple[str, str]:
    path = root / "rd" / "holiday.png"
    path.write_bytes(image_bytes(8, "PNG"))
    return "direction_random", str(path)


def _malformed_label_line(root: Path) -> tuple[str, str]:
    with open(root / "labels.txt", "a", encoding="utf-8") as fh:
        fh.write("ILSVRC2012_val_00000900.JPEG 12\n")  # space, not a tab
    return "", f"{root / 'labels.txt'}:4"


def _label_out_of_range(root: Path) -> tuple[str, str]:
    with open(root / "labels.txt", "a", encoding="utf-8") as fh:
        fh.write("ILSVRC2012_val_00000901.JPEG\t1000\n")
    return "", f"{root / 'labels.txt'}:4"


def _second_file_of_one_source(root: Path) -> tuple[str, str]:
    path = root / "ori" / f"{SOURCE_IDS[1]}.png"  # beside ori/<id>.JPEG, and sorted after it
    path.write_bytes(image_bytes(9, "PNG"))
    return "original", str(path)


BAD_CASES = {
    "corrupt png": (_corrupt_png, "unreadable image"),
    "not an image": (_garbage_jpeg, "unreadable image"),
    "no label line": (_unlabelled_image, "no label line for ILSVRC2012_val_00000777"),
    "bad file name": (_bad_file_name, "file name is not ILSVRC2012_val_XXXXXXXX"),
    "malformed label line": (_malformed_label_line, "malformed label line"),
    "label out of range": (_label_out_of_range, "label 1000 is outside 0..999"),
    "two files of one source": (_second_file_of_one_source, f"{SOURCE_IDS[1]}.JPEG already holds source image"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_stops_import_and_leaves_no_output(tmp_path, case):
    make_release(tmp_path / "release")
    breaker, reason = BAD_CASES[case]
    _, where = breaker(tmp_path / "release")
    with pytest.raises(ValueError) as info:
        import_release(tmp_path / "release", tmp_path / "hub")
    assert where in str(info.value) and reason in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"], "no output or temp folder may be left"


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_skip_bad_skips_reports_and_counts(tmp_path, case):
    make_release(tmp_path / "release")
    breaker, reason = BAD_CASES[case]
    subset, where = breaker(tmp_path / "release")
    report = import_release(tmp_path / "release", tmp_path / "hub", skip_bad=True)
    assert [(b.subset, b.path) for b in report.skipped] == [(subset, where)]
    assert reason in report.skipped[0].reason
    assert report.skipped_report == skipped_report_path(tmp_path / "hub") == tmp_path / "hub.skipped.tsv"
    with open(report.skipped_report, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["subset", "path", "reason"] and rows[1][:2] == [subset, where] and len(rows) == 2
    expected = {name: len(SOURCE_IDS) for name in SUBSETS}
    if case in {"corrupt png", "not an image"}:
        expected[subset] -= 1
    assert report.counts == expected
    if subset:
        ids = datasets.load_dataset(str(tmp_path / "hub"), subset, split="test")["source_id"]
        assert len(ids) == expected[subset] and "ILSVRC2012_val_00000777" not in ids
    body = (tmp_path / "hub" / "README.md").read_text(encoding="utf-8")
    assert "1 source file(s) were skipped" in body and f"- `{subset or 'labels.txt'}`: 1" in body


def test_a_clean_reimport_removes_the_earlier_skip_report(tmp_path):
    make_release(tmp_path / "release")
    _, where = BAD_CASES["label out of range"][0](tmp_path / "release")
    report = import_release(tmp_path / "release", tmp_path / "hub", skip_bad=True)
    assert report.skipped_report.is_file()
    make_release(tmp_path / "release2")
    again = import_release(tmp_path / "release2", tmp_path / "hub", overwrite=True)
    assert again.skipped == () and again.skipped_report is None
    assert not skipped_report_path(tmp_path / "hub").exists(), "a stale report would describe files not in this output"


def test_missing_folder_is_an_error_naming_it(tmp_path):
    make_release(tmp_path / "release")
    for path in (tmp_path / "release" / "008").iterdir():
        path.unlink()
    (tmp_path / "release" / "008").rmdir()
    for skip_bad in (False, True):
        with pytest.raises(FileNotFoundError, match=r"release folder .*008 for subset 'size_0.08' is missing"):
            import_release(tmp_path / "release", tmp_path / "hub", skip_bad=skip_bad)
        assert not (tmp_path / "hub").exists()
    # importing only the present subsets still works
    report = import_release(tmp_path / "release", tmp_path / "hub", subsets=["ori", "size_0.1"])
    assert report.counts == {"original": 3, "size_0.1": 3}


def test_missing_labels_file_is_an_error_naming_it(tmp_path):
    make_release(tmp_path / "release")
    (tmp_path / "release" / "labels.txt").unlink()
    for skip_bad in (False, True):
        with pytest.raises(FileNotFoundError, match=r"labels\.txt is missing"):
            import_release(tmp_path / "release", tmp_path / "hub", skip_bad=skip_bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


def test_existing_output_is_not_overwritten_by_default(tmp_path):
    make_release(tmp_path / "release")
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        import_release(tmp_path / "release", tmp_path / "hub", subsets="original")
    assert (tmp_path / "hub" / "keep.txt").read_text() == "mine"
    # --overwrite replaces only the tool's own outputs (issue 14): a user's folder is never deleted.
    with pytest.raises(FileExistsError, match="not written by imagenet-e"):
        import_release(tmp_path / "release", tmp_path / "hub", subsets="original", overwrite=True)
    assert (tmp_path / "hub" / "keep.txt").read_text() == "mine"
    import_release(tmp_path / "release", tmp_path / "hub2", subsets="original")
    (tmp_path / "hub2" / "keep.txt").write_text("stale")
    report = import_release(tmp_path / "release", tmp_path / "hub2", subsets="original", overwrite=True)
    assert not (report.out_dir / "keep.txt").exists() and report.counts == {"original": 3}


def test_decoded_pixels_match_the_files(imported):
    tmp, written, _ = imported
    ds = load("full", tmp / "hub")
    for row in ds:
        expected = Image.open(io.BytesIO(written[("size_full", row["source_id"])])).convert("RGB")
        assert np.array_equal(np.asarray(row["image"].convert("RGB")), np.asarray(expected))
