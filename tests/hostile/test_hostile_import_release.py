"""Hostile and careless inputs to ``imagenet-e import-release`` (issue 14, items 2, 4, 9, 10, 15, 16).

Each test does what a user would (the CLI, in this process unless the process boundary matters) and
checks the safe behaviour: nothing outside the output is ever deleted or read, bad entries are named
(or skipped and listed under --skip-bad), errors are one line, and a killed import leaves nothing the
next run does not clean up.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hostile_helpers import REPO, cli, cli_error, one_line_error, run_cli, tree
from imagenet_e_dataset.output_folder import MARKER_NAME, clean_stale_staging, make_staging
from helpers.releases import LABELS, SOURCE_IDS, make_release

SID = "ILSVRC2012_val_00000001"


@pytest.fixture
def release(tmp_path) -> Path:
    root = tmp_path / "release"
    make_release(root)
    return root


# -- item 2: --overwrite deletes only the tool's own outputs ------------------------------------------------


@pytest.mark.parametrize("target, message", [
    ("release", "is the input"),
    (".", "contains the input"),
    ("release/ori", "is inside the input"),
    ("notes.txt", "is an existing file"),
    ("photos", "not written by imagenet-e"),
    ("empty", "not written by imagenet-e"),
])
def test_overwrite_never_replaces_an_input_or_a_folder_the_tool_did_not_write(release, tmp_path, capsys, target, message):
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"precious")
    (tmp_path / "empty").mkdir()
    before = tree(tmp_path)
    error = cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / target), "--overwrite")
    assert message in error and str(tmp_path / target).rstrip("/.") in error
    assert tree(tmp_path) == before  # nothing deleted, nothing half-written left behind


def test_overwrite_replaces_an_earlier_import_atomically(release, tmp_path, capsys):
    out = tmp_path / "hub"
    assert cli(capsys, "import-release", str(release), "--out", str(out), "--subsets", "original")[0] == 0
    marker = json.loads((out / MARKER_NAME).read_text())
    assert marker["command"] == "import-release" and marker["kind"] == "dataset"
    assert "--overwrite" in cli_error(capsys, "import-release", str(release), "--out", str(out))
    assert cli(capsys, "import-release", str(release), "--out", str(out), "--overwrite")[0] == 0
    assert (out / "background_20").is_dir() and not list(tmp_path.glob(".hub.*"))


# -- item 4: links leaving the release are never followed -----------------------------------------------


def _secret(tmp_path: Path) -> bytes:
    """A real image outside the release (its bytes must never reach the output)."""
    sink = io.BytesIO()
    Image.fromarray(np.full((24, 24, 3), 7, np.uint8)).save(sink, format="JPEG")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "private.JPEG").write_bytes(sink.getvalue())
    return sink.getvalue()


def _parquet_bytes(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(out.rglob("*.parquet")))


def test_symlinked_image_outside_the_release_is_refused_or_skipped(release, tmp_path, capsys):
    secret = _secret(tmp_path)
    link = release / "ori" / f"{SID}.JPEG"
    link.unlink()
    link.symlink_to(tmp_path / "secret" / "private.JPEG")
    error = cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"))
    assert str(link) in error and "symbolic link" in error and "outside the release" in error
    assert not (tmp_path / "hub").exists()

    code, _, _ = cli(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"), "--skip-bad")
    assert code == 0
    assert secret not in _parquet_bytes(tmp_path / "hub")
    with open(tmp_path / "hub.skipped.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [(r["subset"], r["path"]) for r in rows] == [("original", str(link))]
    assert "symbolic link" in rows[0]["reason"]


def test_symlinked_subset_folder_or_labels_outside_is_refused_even_with_skip_bad(release, tmp_path, capsys):
    _secret(tmp_path)
    os.rename(release / "rec", tmp_path / "elsewhere")
    (release / "rec").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    error = cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"), "--skip-bad")
    assert str(release / "rec") in error and "symbolic link" in error
    (release / "rec").unlink()
    os.rename(tmp_path / "elsewhere", release / "rec")

    os.rename(release / "labels.txt", tmp_path / "labels.txt")
    (release / "labels.txt").symlink_to(tmp_path / "labels.txt")
    error = cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"), "--skip-bad")
    assert "labels.txt" in error and "symbolic link" in error
    assert not (tmp_path / "hub").exists()


def test_a_link_that_stays_inside_the_release_is_read(release, tmp_path, capsys):
    (release / "ori" / f"{SID}.JPEG").rename(release / "shared.JPEG")
    (release / "ori" / f"{SID}.JPEG").symlink_to(release / "shared.JPEG")
    assert cli(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"), "--subsets", "original")[0] == 0
    assert (release / "shared.JPEG").read_bytes() in _parquet_bytes(tmp_path / "hub")


# -- items 9, 10: ids and labels are ASCII, matched whole; every bad line or file is named or skipped ------------


BAD_LABEL_LINES = {
    "arabic-indic digit": ("ILSVRC2012_val_00000001.JPEG\t\u0665\n".encode(), "not an integer"),
    "underscores": (b"ILSVRC2012_val_00000001.JPEG\t2_8_1\n", "not an integer"),
    "5000 digits": (b"ILSVRC2012_val_00000001.JPEG\t" + b"9" * 5000 + b"\n", "outside 0..999"),
    "not UTF-8": (b"ILSVRC2012_val_00000001.JPEG\t\xff\xfe5\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_LABEL_LINES))
def test_odd_label_lines_are_named_or_skipped(release, tmp_path, capsys, case):
    line, reason = BAD_LABEL_LINES[case]
    others = [f"{sid}.JPEG\t{LABELS[sid]}\n".encode() for sid in sorted(LABELS) if sid != SID]
    (release / "labels.txt").write_bytes(b"".join(others) + line)
    error = cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"))
    assert f"labels.txt:3: " in error and reason in error and len(error) < 400
    assert not (tmp_path / "hub").exists()

    code, _, _ = cli(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"), "--skip-bad")
    assert code == 0
    text = (tmp_path / "hub.skipped.tsv").read_text(encoding="utf-8")
    assert "labels.txt:3" in text and reason in text
    import datasets

    ids = datasets.load_dataset(str(tmp_path / "hub"), "original", split="test")["source_id"]
    assert ids == sorted(s for s in SOURCE_IDS if s != SID)  # the image that lost its label is skipped, not guessed


@pytest.mark.parametrize("name", ["ILSVRC2012_val_0000000\u0665.png", "ILSVRC2012_val_00000005\n.png",
                                  "ILSVRC2012_val_00000001 .png"])
def test_file_names_that_are_not_ids_are_named_or_skipped(release, tmp_path, capsys, name):
    (release / "rec" / name).write_bytes((release / "rec" / f"{SID}.png").read_bytes())
    (release / "labels.txt").write_text((release / "labels.txt").read_text() + "ILSVRC2012_val_00000005.JPEG\t5\n")
    error = cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"))
    assert "file name is not ILSVRC2012_val_XXXXXXXX" in error
    assert cli(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"), "--skip-bad")[0] == 0
    with open(tmp_path / "hub.skipped.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [Path(r["path"]).name for r in rows] == [name.replace("\n", "\\n")]  # escaped: one line per entry
    import datasets

    ds = datasets.load_dataset(str(tmp_path / "hub"), "background_0", split="test")
    assert ds["source_id"] == sorted(SOURCE_IDS)


# -- item 15: one-line errors, found before the work ------------------------------------------------


def test_out_that_is_a_link_or_a_file_or_a_huge_shard_size_is_refused_at_once(release, tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert "symbolic link" in cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "link"))
    (tmp_path / "file").write_text("x")
    assert "is an existing file" in cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "file"),
                                              "--overwrite")
    assert "too large" in cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"),
                                    "--max-shard-size", "1e400")
    assert "cannot parse size" in cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"),
                                            "--max-shard-size", "nan")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "link", "real", "release"]


def test_disk_full_is_one_line_and_leaves_nothing(release, tmp_path, capsys, monkeypatch):
    from imagenet_e_dataset import hub_layout

    def full(table, path, features):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(hub_layout, "_write_parquet", full)
    error = cli_error(capsys, "import-release", str(release), "--out", str(tmp_path / "hub"))
    assert "No space left on device" in error and "free some space" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


def test_a_file_size_limit_of_the_real_file_system_is_one_line(release, tmp_path):
    """The kernel refuses the write (RLIMIT_FSIZE, as a full or quota-limited disk would): one line, no output."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "imagenet_e.cli", "import-release", str(release), "--out",
                           str(tmp_path / "hub")], env=env, cwd=tmp_path, capture_output=True, text=True,
                          preexec_fn=limit, timeout=300)
    assert proc.returncode == 1
    assert "File too large" in one_line_error(proc.stderr, "import-release")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


# -- item 16: a killed import's temporaries are removed by the next run ----------------------------------------


def test_killed_import_leaves_a_temporary_that_the_next_run_removes(tmp_path, capsys):
    ids = tuple(f"ILSVRC2012_val_{n:08d}" for n in range(1, 81))
    make_release(tmp_path / "release", ids, {s: n % 1000 for n, s in enumerate(ids)})
    out = tmp_path / "hub"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "imagenet_e.cli", "import-release", str(tmp_path / "release"),
                                "--out", str(out)], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not [p for p in tmp_path.glob(".hub.tmp-*") if p.is_dir() and any(p.iterdir())]:
            assert process.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert [p for p in tmp_path.glob(".hub.tmp-*") if p.is_dir()] and not out.exists()
    # An older version's leftover (no lock file) is stale too.
    (tmp_path / ".hub.tmp-legacy").mkdir()
    assert cli(capsys, "import-release", str(tmp_path / "release"), "--out", str(out), "--subsets", "original")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_live_writers_staging_folder_is_left_alone(tmp_path):
    dest = tmp_path / "out"
    live = make_staging(dest)
    assert clean_stale_staging(dest) == [] and live.is_dir()
    from imagenet_e_dataset.output_folder import release_staging

    release_staging(live)
    assert not list(tmp_path.iterdir())
