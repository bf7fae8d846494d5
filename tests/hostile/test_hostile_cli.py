"""The CLI's last line of defence (issue 14, item 15): the user's environment failing (disk full, quota,
read-only file system, Ctrl-C) is one line ``imagenet-e <command>: error: ...`` saying what to do, and
nothing half-written is left behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from hostile_helpers import cli, cli_error
from imagenet_e.cli import describe_os_error
from helpers.layouts import write_layout


def _full_disk(monkeypatch) -> None:
    """Every ``Path.write_bytes`` (what the atomic writers use) fails as on a full disk."""

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", full)


def test_disk_full_during_generate_is_one_line_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    layout = write_layout(tmp_path / "in", range(1, 3), bad=False)
    _full_disk(monkeypatch)
    error = cli_error(capsys, "generate", "--images", str(layout["images"]), "--masks", str(layout["masks"]), "--out",
                      str(tmp_path / "out"), "--subsets", "size_full", "--edit-option", "resolution=64", "--no-progress")
    assert "No space left on device" in error and "free some space" in error
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name]


def test_disk_full_while_writing_results_is_one_line(tmp_path, capsys, monkeypatch):
    from test_hostile_evaluate import PROBE, write_dataset

    dataset = write_dataset(tmp_path / "dataset")
    (tmp_path / "probe_model.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PROBE_BUILT", str(tmp_path / "built.txt"))
    _full_disk(monkeypatch)
    error = cli_error(capsys, "evaluate", "--model", "probe_model:build", "--dataset", str(dataset), "--num-workers",
                      "0", "--n-bootstrap", "20", "--no-progress", "--output", str(tmp_path / "r.json"))
    assert "No space left on device" in error and str(tmp_path) in error
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.json")] and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("code, hint", [
    (errno.ENOSPC, "free some space"),
    (errno.EDQUOT, "quota"),
    (errno.EROFS, "read-only"),
    (errno.EACCES, "permissions"),
    (errno.EFBIG, "--max-shard-size"),
])
def test_os_errors_say_what_failed_where_and_what_to_do(code, hint):
    text = describe_os_error(OSError(code, os.strerror(code), "/data/out/shard.parquet"))
    assert os.strerror(code) in text and "/data/out/shard.parquet" in text and hint in text and "\n" not in text


def test_an_errno_only_in_the_message_is_recognised():
    # pyarrow raises OSError("... [Errno 28] No space left on device") with no errno attribute.
    text = describe_os_error(OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"))
    assert "free some space" in text


def test_ctrl_c_is_a_short_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    import imagenet_e_dataset.importer as importer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importer, "import_release", interrupted)
    code, _, err = cli(capsys, "import-release", str(tmp_path), "--out", str(tmp_path / "o"))
    assert code == 130 and err.strip() == "imagenet-e import-release: interrupted"
