"""Hostile and careless inputs to ``imagenet-e generate`` (issue 14, items 2, 5-11, 15).

Tiny inputs (three synthetic ImageNet val photos with ImageNet-S style masks), cheap subsets, 64 px:
each test runs the real command and checks that nothing outside the output is lost, that inputs
changed or damaged between runs are refused by name, that every mode of photo is edited correctly,
and that every unusable file is reported.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hostile_helpers import cli, cli_error, one_line_error, run_cli, tree
from imagenet_e_dataset.features import is_source_id
from helpers.layouts import official_label, shape_photo, sid, write_layout

SUBSETS = "size_full,position_random,background_0"


@pytest.fixture
def layout(tmp_path) -> dict:
    return write_layout(tmp_path / "in", range(1, 4), bad=False)


def args(layout: dict, out: Path, *extra: str) -> list[str]:
    return ["generate", "--images", str(layout["images"]), "--masks", str(layout["masks"]), "--out", str(out),
            "--subsets", SUBSETS, "--steps", "2", "--edit-option", "resolution=64", "--chunk-size", "1",
            "--no-progress", *extra]


def digest(folder: Path) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in tree(folder).items()}


@pytest.fixture
def clean(layout, tmp_path, capsys) -> Path:
    out = tmp_path / "clean"
    code, _, err = cli(capsys, *args(layout, out))
    assert code == 0, err
    return out


# -- item 2: never delete an input or a folder the tool did not write ----------------------------------------


@pytest.mark.parametrize("target, message", [
    ("in/val", "is the input"),
    ("in", "contains the input"),
    ("in/val/out", "is inside the input"),
    ("in/ImageNet-S/validation-segmentation", "is the input"),
    ("notes.txt", "is an existing file"),
    ("photos", "not written by imagenet-e"),
    ("in/val.work-owner", "not written by imagenet-e"),
])
def test_overwrite_never_deletes_inputs_or_foreign_folders(layout, tmp_path, capsys, target, message):
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"precious")
    (tmp_path / "in" / "val.work-owner").mkdir()
    (tmp_path / "in" / "val.work-owner" / "x").write_text("mine")
    before = tree(tmp_path)
    error = cli_error(capsys, *args(layout, tmp_path / target, "--overwrite"))
    assert message in error
    assert tree(tmp_path) == before


def test_a_foreign_folder_where_the_work_folder_goes_is_never_used_or_deleted(layout, tmp_path, capsys):
    (tmp_path / "out.work").mkdir()
    (tmp_path / "out.work" / "thesis.tex").write_text("three years of work")
    error = cli_error(capsys, *args(layout, tmp_path / "out"))
    assert "out.work" in error and "not an imagenet-e work folder" in error
    assert (tmp_path / "out.work" / "thesis.tex").read_text() == "three years of work"
    assert not (tmp_path / "out").exists()


def test_overwrite_replaces_an_earlier_generate_output(layout, clean, capsys):
    marker = json.loads((clean / ".imagenet-e-output.json").read_text())
    assert marker == {"command": "generate", "kind": "dataset", "tool": "imagenet-e", "version": marker["version"]}
    assert "--overwrite" in cli_error(capsys, *args(layout, clean))
    before = digest(clean)
    assert cli(capsys, *args(layout, clean, "--overwrite"))[0] == 0
    assert digest(clean) == before


# -- item 5: inputs changed between the invocations of one run are refused by name -------------------------------


def _repaint(path: Path, value: int) -> None:
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB")).copy()
    pixels[:8, :8] = value
    Image.fromarray(pixels).save(path, quality=90)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later mtime, as any edit leaves


def test_a_photo_edited_between_shards_is_refused_on_the_next_shard_and_on_merge(layout, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(capsys, *args(layout, out, "--num-shards", "2", "--shard-index", "0"))[0] == 0
    photo = layout["images"] / f"{sid(2)}.JPEG"  # chunk 1 belongs to shard 1, not done yet
    _repaint(photo, 255)
    for extra in (("--num-shards", "2", "--shard-index", "1"), ("--merge",)):
        error = cli_error(capsys, *args(layout, out, *extra))
        assert str(photo) in error and "changed since the run started" in error and "different inputs" in error
    assert not out.exists()


def test_a_changed_mask_or_labels_file_is_named_too(layout, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{sid(n)}.JPEG\t{official_label(n)}\n" for n in range(1, 4)))
    out = tmp_path / "out"
    assert cli(capsys, *args(layout, out, "--labels", str(labels), "--num-shards", "2", "--shard-index", "0"))[0] == 0
    (mask,) = layout["masks"].rglob(f"{sid(3)}.png")
    original = mask.read_bytes()
    with Image.open(mask) as img:
        grown = np.asarray(img).copy()
    grown[:4, :4] = 255  # a speck of object in the corner
    Image.fromarray(grown).save(mask)
    error = cli_error(capsys, *args(layout, out, "--labels", str(labels), "--num-shards", "2", "--shard-index", "1"))
    assert f"mask {mask} changed" in error
    mask.write_bytes(original)
    labels.write_text(labels.read_text() + "# a comment changes nothing in the labels, but the file is not the same\n")
    error = cli_error(capsys, *args(layout, out, "--labels", str(labels), "--merge"))
    assert f"labels file {labels} changed" in error


def test_a_photo_edited_while_the_run_is_going_is_refused(layout, tmp_path, capsys, monkeypatch):
    from generation.pipeline import chunks

    photo = layout["images"] / f"{sid(3)}.JPEG"
    real_init = chunks.ChunkGenerator.__init__

    def init_then_edit(self, *a, **k):  # the user edits the photo after the run hashed it, before it is read
        real_init(self, *a, **k)
        _repaint(photo, 0)

    monkeypatch.setattr(chunks.ChunkGenerator, "__init__", init_then_edit)
    error = cli_error(capsys, *args(layout, tmp_path / "out"))
    assert str(photo) in error and "changed while the run was going" in error
    assert not (tmp_path / "out").exists()


def test_the_input_hashes_are_cached_in_the_work_folder(layout, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(capsys, *args(layout, out, "--num-shards", "2", "--shard-index", "0"))[0] == 0
    cache = json.loads((tmp_path / "out.work" / "input-hashes.json").read_text())
    photo = str(layout["images"] / f"{sid(1)}.JPEG")
    assert cache["files"][photo][2] == hashlib.sha256(Path(photo).read_bytes()).hexdigest()
    assert len(cache["files"]) == 6  # three photos, three masks


# -- item 6: a damaged chunk is never merged ------------------------------------------------------------------


def _chunk_and_image_offset(work: Path) -> tuple[Path, int]:
    import pyarrow.parquet as pq

    chunk = work / "chunks" / "chunk-000001.parquet"
    image = next(r["image"] for r in pq.read_table(chunk).to_pylist() if r["subset"] == "size_full")
    return chunk, chunk.read_bytes().index(image) + len(image) // 2


def _xor(path: Path, offset: int, length: int = 16) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + length, len(data))):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_a_damaged_chunk_is_refused_set_aside_and_regenerated(layout, clean, tmp_path, capsys):
    out = tmp_path / "out"
    for shard in ("0", "1"):
        assert cli(capsys, *args(layout, out, "--num-shards", "2", "--shard-index", shard))[0] == 0
    chunk, offset = _chunk_and_image_offset(tmp_path / "out.work")
    _xor(chunk, offset)
    error = cli_error(capsys, *args(layout, out, "--merge"))
    assert "chunk-000001.parquet" in error and "damaged" in error and "run the same command again" in error
    assert not out.exists() and not chunk.exists() and chunk.with_name(chunk.name + ".damaged").exists()
    assert "1 of 3 chunks are not generated" in cli_error(capsys, *args(layout, out, "--merge"))
    assert cli(capsys, *args(layout, out, "--num-shards", "2", "--shard-index", "1"))[0] == 0
    assert cli(capsys, *args(layout, out, "--merge"))[0] == 0
    assert digest(out) == digest(clean)


def test_damage_anywhere_in_a_chunk_never_reaches_the_dataset(layout, clean, tmp_path, capsys):
    out = tmp_path / "out"
    for shard in ("0", "1"):
        assert cli(capsys, *args(layout, out, "--num-shards", "2", "--shard-index", shard, "--keep-work"))[0] == 0
    chunk, _ = _chunk_and_image_offset(tmp_path / "out.work")
    pristine = chunk.read_bytes()
    reference = digest(clean)
    outcomes = []
    for offset in np.linspace(0, len(pristine) - 16, 9).astype(int):
        chunk.write_bytes(pristine)
        chunk.with_name(chunk.name + ".damaged").unlink(missing_ok=True)
        _xor(chunk, int(offset))
        code, _, err = cli(capsys, *args(layout, out, "--merge", "--keep-work", "--overwrite"))
        if code == 0:
            assert digest(out) == reference, offset  # harmless damage (e.g. in unused metadata) changes nothing
            outcomes.append("same")
        else:
            assert "damaged" in one_line_error(err, "generate"), offset
            outcomes.append("refused")
    assert outcomes.count("refused") >= 6, outcomes


# -- item 7: photos of every mode become correct 8-bit RGB --------------------------------------------------------


def test_a_16_bit_photo_is_edited_like_its_8_bit_twin_not_white(tmp_path, capsys):
    import datasets

    photo, mask = shape_photo(5)
    grey8 = np.asarray(Image.fromarray(photo).convert("L"))
    grey16 = grey8.astype(np.uint16) * 257  # the same picture at 16 bits
    runs = {}
    for name, array in (("eight", grey8), ("sixteen", grey16)):
        images, masks = tmp_path / name / "images", tmp_path / name / "masks"
        images.mkdir(parents=True)
        masks.mkdir()
        for n in (5, 6):
            Image.fromarray(array).save(images / f"{sid(n)}.png")
            Image.fromarray(mask.astype(np.uint8) * 255).save(masks / f"{sid(n)}.png")
        with Image.open(images / f"{sid(5)}.png") as img:
            assert img.mode == ("L" if name == "eight" else "I;16")
        out = tmp_path / name / "out"
        assert cli(capsys, "generate", "--images", str(images), "--masks", str(masks), "--out", str(out), "--subsets",
                   SUBSETS, "--steps", "2", "--edit-option", "resolution=64", "--no-progress")[0] == 0
        runs[name] = out
    for config in SUBSETS.split(","):
        eight = datasets.load_dataset(str(runs["eight"]), config, split="test")
        sixteen = datasets.load_dataset(str(runs["sixteen"]), config, split="test")
        for a, b in zip(eight["image"], sixteen["image"]):
            a, b = np.asarray(a), np.asarray(b)
            assert np.array_equal(a, b), config
            assert b.mean() < 200  # not the white picture a clipped conversion gives


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from generation.pipeline.work import WorkFolder
with WorkFolder(Path(sys.argv[1])).run_lock("shard-0"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_an_identical_run_started_meanwhile_names_the_lock_and_its_pid(layout, tmp_path, capsys):
    """Issue 24, item 7: the second of two identical runs used to fail on a missing provenance.json."""
    import subprocess
    import sys

    out = tmp_path / "out"
    assert cli(capsys, *args(layout, out, "--keep-work"))[0] == 0
    work = tmp_path / "out.work"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                         os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(work)], stdout=subprocess.PIPE, text=True,
                              env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        error = cli_error(capsys, *args(layout, out, "--keep-work"))
        lock = work / "locks" / "shard-0.lock"
        assert f"another run holds the lock {lock} (pid {holder.pid})" in error
        assert "provenance" not in error
    finally:
        holder.kill()
        holder.wait()
    # The holder's death released the lock (no stale lock file blocks anything): the run resumes.
    code, _, err = cli(capsys, *args(layout, out, "--keep-work"))
    assert code == 0, err


def test_a_work_folder_over_an_input_reads_as_english():
    from imagenet_e_dataset.output_folder import check_no_overlap

    with pytest.raises(ValueError) as info:
        check_no_overlap("/data/photos/x.work", ["/data/photos"], flag="the work folder (--out + '.work')")
    assert str(info.value).endswith("choose a location outside it for the work folder (--out + '.work')")


def test_a_16_bit_original_is_stored_as_8_bit_rgb_with_the_source_hash(tmp_path, capsys):
    """Issue 24, item 5: the `original` row of a 16-bit photo reads right the usual PIL way."""
    import datasets

    from generation.image_io import to_rgb8

    photo, mask = shape_photo(5)
    grey16 = np.asarray(Image.fromarray(photo).convert("L")).astype(np.uint16) * 257
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    Image.fromarray(grey16).save(images / f"{sid(5)}.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(masks / f"{sid(5)}.png")
    source = (images / f"{sid(5)}.png").read_bytes()
    out = tmp_path / "out"
    assert cli(capsys, "generate", "--images", str(images), "--masks", str(masks), "--out", str(out), "--subsets",
               "position_random", "--steps", "2", "--edit-option", "resolution=64", "--no-progress")[0] == 0
    row = datasets.load_dataset(str(out), "original", split="test")[0]
    stored = row["image"]
    assert stored.mode == "RGB"  # not I;16: contact-sheet and any convert("RGB") reader see the photo, not white
    expected = np.asarray(to_rgb8(Image.open(io.BytesIO(source))))
    assert np.array_equal(np.asarray(stored.convert("RGB")), expected) and expected.mean() < 200
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    original = next(r for r in manifest if r["subset"] == "original")
    params = original["params"]
    assert params["source_mode"] == "I;16" and params["source_sha256"] == hashlib.sha256(source).hexdigest()


# -- items 8, 9, 10: labels and file names ---------------------------------------------------------------------


def test_conflicting_duplicate_labels_are_refused_naming_both_lines(layout, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text(f"{sid(1)}.JPEG\t5\n{sid(2)}.JPEG\t6\n{sid(1)}.JPEG\t5\n{sid(1)}.JPEG\t7\n")
    error = cli_error(capsys, *args(layout, tmp_path / "out", "--labels", str(labels)))
    assert f"{labels}:4" in error and "line 1" in error and "label 7" in error and "label 5" in error


@pytest.mark.parametrize("value, message", [
    ("\u0665", "not an integer"), ("2_8_1", "not an integer"), ("9" * 5000, "outside 0..999"), (" {} ", None),
])
def test_labels_are_ascii_integers(layout, tmp_path, capsys, value, message):
    labels = tmp_path / "labels.txt"
    first = value.format(official_label(1))
    labels.write_text(f"{sid(1)}.JPEG\t{first}\n" + "".join(f"{sid(n)}.JPEG\t{official_label(n)}\n" for n in (2, 3)),
                      encoding="utf-8")
    if message is None:  # surrounding spaces are not part of the number, and are fine
        assert cli(capsys, *args(layout, tmp_path / "out", "--labels", str(labels)))[0] == 0
        return
    error = cli_error(capsys, *args(layout, tmp_path / "out", "--labels", str(labels)))
    assert f"{labels}:1" in error and message in error and len(error) < 400


def test_a_labels_file_that_is_not_utf8_is_named_with_its_line(layout, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_bytes(f"{sid(1)}.JPEG\t1\n".encode() + b"\xff\xfe\t2\n")
    error = cli_error(capsys, *args(layout, tmp_path / "out", "--labels", str(labels)))
    assert f"{labels}:2" in error and "not UTF-8" in error


def test_every_unusable_file_is_listed_in_skipped_tsv(tmp_path, capsys):
    import datasets

    layout = write_layout(tmp_path / "in", range(1, 4), bad=False, wnid_folders=True)
    images = layout["images"]
    wnid_folder = next(p for p in images.iterdir() if p.is_dir())
    photo = next(wnid_folder.iterdir())
    (wnid_folder / "my cat.png").write_bytes(photo.read_bytes())
    (images / f"{sid(7)}\n.JPEG").write_bytes(photo.read_bytes())  # an id with a trailing newline
    (images / f"ILSVRC2012_val_0000000\u0668.JPEG").write_bytes(photo.read_bytes())  # a non-ASCII digit
    (images / "notes.txt").write_text("shot on holiday")
    (images / ".DS_Store").write_bytes(b"\0")  # hidden files are not data
    out = tmp_path / "out"
    assert cli(capsys, *args(layout, out))[0] == 0

    lines = (out / "skipped.tsv").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and all(len(line.split("\t")) == 4 for line in lines[1:-1])  # one row per entry
    rows = {line.split("\t")[0]: line.split("\t")[2] for line in lines[1:-1]}
    assert rows == {
        f"{wnid_folder.name}/my cat.png": "bad_file_name",
        f"{sid(7)}\\n.JPEG": "bad_file_name",
        "ILSVRC2012_val_0000000\u0668.JPEG": "bad_file_name",
        "notes.txt": "unsupported_file",
    }
    card = (out / "README.md").read_text()
    assert "`bad_file_name`: 3" in card and "`unsupported_file`: 1" in card
    ids = datasets.load_dataset(str(out), "original", split="test")["source_id"]
    assert ids == [sid(n) for n in range(1, 4)] and all(re.fullmatch(r"[A-Za-z0-9_.-]+", s) for s in ids)
    assert not is_source_id(f"{sid(7)}\n") and not is_source_id("ILSVRC2012_val_0000000\u0668")
    assert not is_source_id(f"{sid(7)}\n", imagenet_only=True)


# -- items 11, 15: a missing launcher rank, a shard size from outer space -------------------------------------


def test_rank_0_alone_names_the_missing_rank_instead_of_waiting_forever(layout, tmp_path):
    proc = run_cli(*args(layout, tmp_path / "out", "--rank-timeout", "2"), env={"WORLD_SIZE": "2", "RANK": "0"})
    assert proc.returncode == 1
    error = one_line_error(proc.stderr, "generate")
    assert "rank 1 of 2 never started" in error and "chunk-000001.parquet" in error and "WORLD_SIZE=2" in error
    assert "waiting for rank(s) 1" in proc.stderr  # said up front, even with --no-progress
    assert (tmp_path / "out.work" / "chunks" / "chunk-000000.parquet").is_file()  # rank 0's work is kept


def test_a_shard_size_beyond_any_disk_is_one_line(layout, tmp_path, capsys):
    error = cli_error(capsys, *args(layout, tmp_path / "out", "--max-shard-size", "1e400"))
    assert "1e400" in error and "too large" in error
    assert not (tmp_path / "out.work").exists()


@pytest.mark.parametrize("option", [("--backend", "diffusion", "--unet", "./models/adm-typo"),
                                    ("--subsets", "background_20_adv", "--classifier", "hf:./models/resnet-typo")])
def test_a_mistyped_local_model_path_is_a_local_error_at_once(layout, tmp_path, capsys, option):
    argv = args(layout, tmp_path / "out")
    if option[0] == "--subsets":
        argv[argv.index("--subsets") + 1] = option[1]
        option = option[2:]
    error = cli_error(capsys, *argv, *option)
    assert "typo" in error and "the Hub was not asked" in error


def test_a_push_without_a_token_is_refused_before_the_run(layout, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "empty-hf-home" / "token"))
    error = cli_error(capsys, *args(layout, tmp_path / "out", "--repo-id", "me/imagenet-e"))
    assert "hf auth login" in error
    assert not (tmp_path / "out.work").exists()  # nothing was generated first
