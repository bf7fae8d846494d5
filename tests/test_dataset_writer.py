"""The streaming Hub-layout writer: validation, sharding, atomicity, Hub-form metadata."""

from __future__ import annotations

import doctest
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

import imagenet_e_dataset.card
import imagenet_e_dataset.hub_layout
from imagenet_e_dataset.hub_layout import HubLayoutWriter, parse_size
from imagenet_e_dataset.labels import wnids
from helpers.releases import image_bytes


def _row(i: int, *, label: int = 7, seed: int | None = 123, **extra) -> dict:
    return {
        "image": {"bytes": image_bytes(i, "PNG", size=16), "path": f"/somewhere/else/ILSVRC2012_val_{i:08d}.png"},
        "label": label,
        "source_id": f"ILSVRC2012_val_{i:08d}",
        "seed": seed,
        **extra,
    }


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _front_matter(root: Path) -> dict:
    return yaml.safe_load((root / "README.md").read_text(encoding="utf-8").split("---\n", 2)[1])


def test_doctests_of_the_dataset_modules():
    import imagenet_e_dataset.label_space

    for module in (imagenet_e_dataset.hub_layout, imagenet_e_dataset.card, imagenet_e_dataset.label_space):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_rows_are_sorted_filled_and_keep_bytes(tmp_path):
    writer = HubLayoutWriter(tmp_path / "out")
    rows = [_row(i, label=i) for i in (5, 2, 9)]
    for row in rows:
        writer.add("20_hard", row)  # alias accepted
    writer.add("size_0.05", _row(3, seed=None))
    out = writer.finalize({"repo_id": "acme/x", "global_seed": 404, "generation_settings": {"steps": 10}})
    ds = datasets.load_dataset(str(out), "background_20", split="test").cast_column("image", datasets.Image(decode=False))
    assert ds["source_id"] == ["ILSVRC2012_val_00000002", "ILSVRC2012_val_00000005", "ILSVRC2012_val_00000009"]
    assert ds["label"] == [2, 5, 9] and ds["wnid"] == [wnids()[i] for i in (2, 5, 9)]
    assert ds["attribute"] == ["background"] * 3 and ds["level"] == ["20"] * 3 and ds["seed"] == [123] * 3
    assert ds[0]["image"] == {"bytes": rows[1]["image"]["bytes"], "path": "ILSVRC2012_val_00000002.png"}
    small = datasets.load_dataset(str(out), "size_0.05", split="test")
    assert small["seed"] == [None] and small["level"] == ["0.05"]
    body = (out / "README.md").read_text(encoding="utf-8")
    assert "| global seed | `404` |" in body and "| steps | `10` |" in body
    assert not list(tmp_path.glob(".out.tmp-*"))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row(1, source_id="../escape"), "source_id must be an ImageNet id"),
        (_row(1, label=1000), "label 1000 in config 'original'"),
        (_row(1, attribute="size"), "attribute 'size' disagrees with the expected 'original'"),
        (_row(1, wnid="n00000000"), "wnid 'n00000000' disagrees"),
        (_row(1, colour="red"), r"unknown columns \['colour'\]"),
        (_row(1, object_mask={"bytes": b"x", "path": None}), "with_object_mask=False"),
        (_row(1, image={"path": "a.png"}), "image must be a dict with encoded 'bytes'"),
        (_row(1, seed="7"), "seed must be an int64"),
    ],
)
def test_bad_rows_are_refused_naming_config_and_source(tmp_path, row, message):
    with HubLayoutWriter(tmp_path / "out") as writer:
        with pytest.raises(ValueError, match=message):
            writer.add("original", row)


def test_unknown_config_is_refused(tmp_path):
    with HubLayoutWriter(tmp_path / "out") as writer:
        with pytest.raises(ValueError, match="unknown ImageNet-E subset 'background_thirty'"):
            writer.add("background_thirty", _row(1))


def test_duplicate_source_id_fails_and_leaves_nothing(tmp_path):
    writer = HubLayoutWriter(tmp_path / "out")
    writer.add("original", _row(1))
    writer.add("ori", _row(1))
    with pytest.raises(ValueError, match="config 'original': source_id 'ILSVRC2012_val_00000001' was added more than once"):
        writer.finalize()
    assert list(tmp_path.iterdir()) == []


def test_exception_inside_with_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with HubLayoutWriter(tmp_path / "out") as writer:
            writer.add("original", _row(1))
            raise RuntimeError("generator crashed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no rows were added"):
        HubLayoutWriter(tmp_path / "empty").finalize()
    assert list(tmp_path.iterdir()) == []


def test_shards_are_bounded_by_size(tmp_path):
    rows = [_row(i) for i in range(1, 8)]
    size = max(len(r["image"]["bytes"]) for r in rows) + 128
    writer = HubLayoutWriter(tmp_path / "out", max_shard_bytes=2 * size + 10)
    for row in rows:
        writer.add("rd", row)
    out = writer.finalize()
    shards = sorted((out / "direction_random").glob("*.parquet"))
    assert [p.name for p in shards] == [f"test-{k:05d}-of-00004.parquet" for k in range(4)]
    assert [pq.read_metadata(p).num_rows for p in shards] == [2, 2, 2, 1]
    ds = datasets.load_dataset(str(out), "direction_random", split="test")
    assert ds["source_id"] == [r["source_id"] for r in rows]
    info = _front_matter(out)["dataset_info"]
    assert info["download_size"] == sum(p.stat().st_size for p in shards)


def test_object_mask_column(tmp_path):
    writer = HubLayoutWriter(tmp_path / "out", with_object_mask=True)
    mask = image_bytes(99, "PNG", size=16)
    writer.add("size_0.1", _row(1, object_mask={"bytes": mask, "path": "m.png"}))
    writer.add("size_0.1", _row(2))  # mask may be absent for a row
    out = writer.finalize()
    ds = datasets.load_dataset(str(out), "size_0.1", split="test")
    assert isinstance(ds.features["object_mask"], datasets.Image)
    raw = ds.cast_column("object_mask", datasets.Image(decode=False))
    assert raw[0]["object_mask"]["bytes"] == mask and raw[1]["object_mask"] is None


def test_metadata_matches_what_push_to_hub_writes(tmp_path):
    """Our README YAML for a config equals the one datasets' own push_to_hub code would write."""
    from datasets.arrow_dataset import _get_updated_dataset_card
    from datasets.splits import SplitInfo
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    writer = HubLayoutWriter(tmp_path / "out", max_shard_bytes=3000)
    for i in range(1, 6):
        writer.add("size_0.05", _row(i))
    out = writer.finalize()
    ds = datasets.load_dataset(str(out), "size_0.05", split="test")
    files = list((out / "size_0.05").glob("*.parquet"))
    empty = tmp_path / "empty"
    empty.mkdir()
    card, _ = _get_updated_dataset_card(
        fs=DirFileSystem(str(empty), LocalFileSystem()),
        config_name="size_0.05",
        splits_info=[SplitInfo(name="test", num_bytes=ds._estimate_nbytes(), num_examples=len(ds))],
        features=ds.features,
        data_dir="size_0.05",
        set_default=False,
        uploaded_sizes=[sum(p.stat().st_size for p in files)],
        deleted_sizes=[0],
        remove_other_splits=False,
    )
    theirs = card.data.to_dict()
    ours = _front_matter(out)
    # num_bytes is datasets' estimate of the in-memory Arrow size: equal up to validity-bitmap bytes
    ours_info, theirs_info = dict(ours["dataset_info"]), dict(theirs["dataset_info"])
    assert ours_info.pop("dataset_size") == pytest.approx(theirs_info.pop("dataset_size"), rel=0.01)
    ours_split, theirs_split = ours_info.pop("splits")[0], theirs_info.pop("splits")[0]
    assert ours_split.pop("num_bytes") == pytest.approx(theirs_split.pop("num_bytes"), rel=0.01)
    assert ours_split == theirs_split
    assert ours_info == theirs_info
    assert ours["configs"] == theirs["configs"]


def test_parse_size_rejects_nonsense():
    assert parse_size("64MiB") == 64 * 2**20 and parse_size(" 1.5 gb ") == 1_500_000_000
    for bad in ("lots", "-5MB", 0):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_existing_output_folder_is_refused_up_front(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        HubLayoutWriter(tmp_path / "out")
