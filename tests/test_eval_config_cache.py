"""A config opened once per process is reopened when its files change, never served stale."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagenet_e.eval.data import load_configs
from imagenet_e_dataset.hub_layout import HubLayoutWriter
from imagenet_e_dataset.registry import ALL_SUBSETS


def _write(root: Path, labels: list[int]) -> Path:
    with HubLayoutWriter(root) as writer:
        for i, label in enumerate(labels):
            buf = io.BytesIO()
            Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(buf, format="PNG")
            for config in ("original", "background_20"):
                writer.add(config, {"image": {"bytes": buf.getvalue(), "path": None}, "label": label,
                                    "source_id": f"ILSVRC2012_val_{i + 1:08d}"})
        return writer.finalize()


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def test_reopened_after_the_files_change(tmp_path: Path) -> None:
    subsets = [ALL_SUBSETS["original"], ALL_SUBSETS["background_20"]]
    folder = _write(tmp_path / "ds", [1, 2, 3])
    first = load_configs(folder, subsets)
    again = load_configs(folder, subsets)
    assert [t.labels.tolist() for t in again] == [t.labels.tolist() for t in first] == [[1, 2, 3]] * 2
    assert again[0].images[0]["image"]["bytes"] == first[0].images[0]["image"]["bytes"]

    import shutil

    shutil.rmtree(folder)
    folder = _write(tmp_path / "ds", [7, 8, 9, 10])  # same path, new shards
    changed = load_configs(folder, subsets)
    assert [t.labels.tolist() for t in changed] == [[7, 8, 9, 10]] * 2
    assert [t.source_ids.tolist()[-1] for t in changed] == ["ILSVRC2012_val_00000004"] * 2
