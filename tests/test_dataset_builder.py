"""The release builder (``imagenet_e_dataset/imagenet_e.py``) used directly, and as the reader's fallback."""

from __future__ import annotations

import importlib.util
import inspect
import sys

import datasets
import pytest

import imagenet_e_dataset.imagenet_e as builder_module
from imagenet_e_dataset import load
from imagenet_e_dataset.imagenet_e import ImagenetE, iter_release_examples, read_release_labels
from imagenet_e_dataset.labels import class_names
from imagenet_e_dataset.registry import SUBSETS
from helpers.releases import LABELS, SOURCE_IDS, make_release


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    return root, make_release(root)


def test_builder_prepares_a_subset_with_original_bytes(release, tmp_path):
    root, written = release
    builder = ImagenetE(config_name="background_20", data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    ds = builder.as_dataset("test")
    assert sorted(ds["source_id"]) == sorted(SOURCE_IDS)
    assert ds.features["label"].names == list(class_names())
    raw = ds.cast_column("image", datasets.Image(decode=False))
    for row in raw:
        assert row["image"]["bytes"] == written[("background_20", row["source_id"])]
        assert row["label"] == LABELS[row["source_id"]] and row["attribute"] == "background" and row["level"] == "20"
        assert row["seed"] is None


def test_builder_has_one_config_per_subset_and_takes_aliases(release, tmp_path):
    root, written = release
    assert [c.name for c in ImagenetE.BUILDER_CONFIGS] == list(SUBSETS)
    assert all(c.subset is SUBSETS[c.name] for c in ImagenetE.BUILDER_CONFIGS)
    builder = ImagenetE(config_name="full", data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    assert builder.config.name == "size_full"
    builder.download_and_prepare()
    raw = builder.as_dataset("test").cast_column("image", datasets.Image(decode=False))
    assert {r["image"]["path"] for r in raw} == {f"{sid}.JPEG" for sid in SOURCE_IDS}


def test_builder_needs_data_dir_and_existing_folder(release, tmp_path):
    root, _ = release
    with pytest.raises(ValueError, match="pass data_dir="):
        ImagenetE(config_name="original", cache_dir=str(tmp_path / "c1")).download_and_prepare()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="20_adv for subset 'background_20_adv' is missing"):
        ImagenetE(config_name="20_adv", data_dir=str(empty), cache_dir=str(tmp_path / "c2")).download_and_prepare()


def test_builder_refuses_a_bad_image_naming_it(tmp_path):
    root = tmp_path / "release"
    make_release(root)
    bad = root / "rec" / f"{SOURCE_IDS[2]}.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(Exception) as info:  # datasets wraps generator errors in DatasetGenerationError
        ImagenetE(config_name="background_0", data_dir=str(root), cache_dir=str(tmp_path / "c")).download_and_prepare()
    chain = []
    exc = info.value
    while exc is not None:
        chain.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    assert any(str(bad) in text and "unreadable image" in text for text in chain)


def test_generator_yields_rows_matching_the_importer_contract(release):
    root, written = release
    labels = read_release_labels(root)
    assert labels == LABELS
    rows = dict(iter_release_examples(root, "005", labels))
    assert sorted(rows) == sorted(SOURCE_IDS)
    sid = SOURCE_IDS[0]
    assert rows[sid]["image"] == {"bytes": written[("size_0.05", sid)], "path": f"{sid}.png"}


def test_reader_falls_back_to_the_builder_for_a_release_folder(release, monkeypatch, tmp_path):
    root, written = release
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    ds = load("rd", root)
    assert sorted(ds["source_id"]) == sorted(SOURCE_IDS) and set(ds["attribute"]) == {"direction"}


def test_file_works_as_a_standalone_loading_script_module():
    # datasets<4 copies the script into a modules cache and imports it alone, then takes the
    # builder class it defines: the file must import on its own and define exactly one builder.
    spec = importlib.util.spec_from_file_location("imagenet_e_script", builder_module.__file__)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as importlib.import_module (what datasets<4 uses) does
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    builders = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, datasets.DatasetBuilder) and obj.__module__ == module.__name__
    ]
    assert [b.__name__ for b in builders] == ["ImagenetE"]
