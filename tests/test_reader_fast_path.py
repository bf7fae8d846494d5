"""The reader's local route (card read once, parquet builder) and its pyarrow fast path give what
``load_dataset(folder, config)`` gives: same features, same rows, same pixels."""

from __future__ import annotations

import io
import os

import datasets
import numpy as np
import pytest
from PIL import Image

from imagenet_e_dataset.card_yaml import cached_card_metadata
from imagenet_e_dataset.hub_layout import HubLayoutWriter
from imagenet_e_dataset.reader import iter_rows, load


def _png(rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    os.environ.setdefault("HF_DATASETS_CACHE", str(root / "cache"))
    rng = np.random.default_rng(3)
    writer = HubLayoutWriter(root / "hub")
    for i in range(1, 6):
        for config in ("original", "background_20"):
            writer.add(config, {"image": {"bytes": _png(rng), "path": None}, "label": (7 * i) % 1000,
                                "source_id": f"ILSVRC2012_val_{i:08d}", "seed": i})
    return writer.finalize({"repo_id": "test/imagenet-e"})


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("config", ["background_20", "20_hard"])
def test_reader_matches_load_dataset(folder, config):
    expected = datasets.load_dataset(str(folder), "background_20", split="test")
    got = load(config, folder)
    assert got.features == expected.features
    assert got.features["label"].names[7] == expected.features["label"].names[7]
    assert got.num_rows == expected.num_rows == 5
    for mine, theirs in zip(got, expected):
        assert {k: v for k, v in mine.items() if k != "image"} == {k: v for k, v in theirs.items() if k != "image"}
        assert np.array_equal(_pixels(mine["image"]), _pixels(theirs["image"]))


def test_streaming_and_fast_path_give_the_same_rows(folder):
    expected = list(datasets.load_dataset(str(folder), "original", split="test"))
    streamed = list(load("original", folder, streaming=True))
    fast = list(iter_rows("ori", folder, batch_rows=2))  # several batches per shard
    assert len(expected) == len(streamed) == len(fast) == 5
    for a, b, c in zip(expected, streamed, fast):
        assert a["source_id"] == b["source_id"] == c["source_id"]
        assert a["label"] == b["label"] == c["label"]
        assert np.array_equal(_pixels(a["image"]), _pixels(b["image"]))
        assert np.array_equal(_pixels(a["image"]), _pixels(c["image"]))


def test_the_card_is_read_again_when_it_changes(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("---\nconfigs:\n- config_name: a\n---\nbody\n", encoding="utf-8")
    first = cached_card_metadata(readme)
    assert cached_card_metadata(readme) is first  # one parse per file version
    readme.write_text("---\nconfigs:\n- config_name: bb\n---\nbody\n", encoding="utf-8")
    assert cached_card_metadata(readme)["configs"][0]["config_name"] == "bb"


def test_fast_path_refuses_a_folder_without_card(tmp_path):
    with pytest.raises(FileNotFoundError, match="no README.md"):
        next(iter_rows("original", tmp_path))
