"""Issue 22's attacks on the board, each reproduced with its outcome named: the honest row stays
shown, unchanged and ranked; the hostile file is one line in the "not ranked" list; the board
reads nothing outside ``--dataset``; the owner's pinned benchmark is the one shown."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imagenet_e.eval.dataset_labels import folder_revision
from imagenet_e.eval.predictions import PREDICTIONS_SUFFIX, read_predictions
from imagenet_e.eval.scoring import results_from_predictions
from imagenet_e.leaderboard import loading
from imagenet_e.leaderboard.benchmark import BenchmarkPin, pin_from_mapping
from imagenet_e.leaderboard.bounds import Limits
from imagenet_e.leaderboard.table import MODEL_COLUMN, build_table, load_board, load_board_dir
from imagenet_e_dataset.registry import ALL_SUBSETS

from helpers.leaderboard import (
    DATASET_NAME, commit_submission as _commit_submission, default_dataset, make_results, push_labels as _push_labels,
    rewrite_metadata as _rewrite_metadata, write_labels_dataset, write_submission,
)


def _honest(folder: Path) -> Path:
    return write_submission(folder, "results/honest", default_dataset(), "org/honest", original=0.7, mean_drop=0.05)


def _datasets() -> dict[str, str]:
    return {DATASET_NAME: str(default_dataset())}


def _honest_row(board) -> list:
    view = build_table(board)
    row = view.rows[view.column(MODEL_COLUMN).index("org/honest")]
    return row


def test_a_list_where_the_dataset_description_belongs_is_one_bad_file(tmp_path, capsys):
    """Attack: predictions metadata ``"dataset": ["x"]`` emptied the board (TypeError, 0 rows)."""
    _honest(tmp_path)
    honest_before = _honest_row(load_board_dir(tmp_path, datasets=_datasets()))
    bad = write_submission(tmp_path, "results/list", default_dataset(), "org/list", original=0.9, mean_drop=0.0)
    _rewrite_metadata(bad, lambda meta, doc: meta.update(dataset=["x"]))
    board = load_board_dir(tmp_path, datasets=_datasets())
    assert _honest_row(board) == honest_before  # outcome: honest row shown, unchanged, ranked
    (skipped,) = board.skipped
    assert skipped.source == "results/list.json" and "metadata's 'dataset' is a list, not an object" in skipped.reason

    from imagenet_e.cli import main  # `imagenet-e score` on it: one line, no traceback

    assert main(["score", str(bad.with_name("list" + PREDICTIONS_SUFFIX)), "--dataset", str(default_dataset())]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "is a list, not an object" in err


def test_any_exception_while_checking_one_file_is_that_files_reason(tmp_path, monkeypatch):
    """Whatever one submission raises (not only ValueError), the others are ranked."""
    _honest(tmp_path)
    write_submission(tmp_path, "results/crash", default_dataset(), "org/crash", original=0.9, mean_drop=0.0)
    real = loading.verify_submission

    def flaky(doc, path, resolver, *, name, n_bootstrap=None):
        if "crash" in name:
            raise KeyError("boom")
        return real(doc, path, resolver, name=name, n_bootstrap=n_bootstrap)

    monkeypatch.setattr(loading, "verify_submission", flaky)
    board = load_board_dir(tmp_path, datasets=_datasets(), limits=Limits(n_bootstrap=7))
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
    assert [(s.source, s.reason) for s in board.skipped] == [("results/crash.json", "KeyError: 'boom'")]


def test_the_board_bootstraps_with_its_own_resample_count(tmp_path):
    """Attack: ``run.n_bootstrap = 40,000,000`` in an 11 KB file cost 72 s and 2 GB on every load.
    Outcome: the file is checked on every number but its intervals, which the board recomputes
    with its own count (0 here: no intervals at all, so the file's 40 M is provably unused)."""
    path = _honest(tmp_path)

    def forty_million(meta, doc):
        meta["run"]["n_bootstrap"] = doc["run"]["n_bootstrap"] = 40_000_000

    _rewrite_metadata(path, forty_million)
    board = load_board_dir(tmp_path, datasets=_datasets(), limits=Limits(n_bootstrap=0))
    (entry,) = board.entries
    assert board.skipped == () and entry.model_id == "org/honest"
    doc = loading.check_submission(path, "honest", loading._as_resolver(_datasets()), limits=Limits(n_bootstrap=0))
    assert doc["run"]["n_bootstrap"] == 0 and doc["metrics"]["ci95"] == {}
    # The owner's board.yaml sets the count for the whole board.
    pinned = BenchmarkPin(DATASET_NAME, n_bootstrap=50)
    doc = loading.check_submission(path, "honest", loading._as_resolver(_datasets()), pin=pinned)
    assert doc["run"]["n_bootstrap"] == 50 and doc["metrics"]["ci95"]


def test_a_tiny_file_with_too_many_rows_is_refused_from_its_footer(tmp_path, monkeypatch):
    """Attack: a 142 KB zstd parquet of 10 M rows cost 22 s and 2 GB before it was refused.
    Outcome: refused from the parquet footer's row count, before any row is read."""
    _honest(tmp_path)
    bad = write_submission(tmp_path, "results/rows", default_dataset(), "org/rows", original=0.9, mean_drop=0.0)
    predictions = bad.with_name("rows" + PREDICTIONS_SUFFIX)
    table = pq.read_table(predictions)
    big = pa.concat_tables([table] * 5)  # 6,000 rows, compressed to a few KB
    pq.write_table(big, predictions, compression="zstd")
    reads: list[str] = []
    real_read = loading.verify_submission.__globals__["read_predictions"]
    monkeypatch.setitem(loading.verify_submission.__globals__, "read_predictions",
                        lambda p, **kw: reads.append(str(p)) or real_read(p, **kw))
    board = load_board_dir(tmp_path, datasets=_datasets(), limits=Limits(max_rows=5_000))
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
    (skipped,) = board.skipped
    assert "has 6,000 rows, over the board's limit of 5,000" in skipped.reason
    assert not any("rows" + PREDICTIONS_SUFFIX in r for r in reads)  # its rows were never read
    assert Limits().max_rows >= 12 * 50_000  # the default fits the full benchmark


def test_oversized_files_are_refused_by_size(tmp_path):
    _honest(tmp_path)
    bad = write_submission(tmp_path, "results/fat", default_dataset(), "org/fat", original=0.9, mean_drop=0.0)
    doc = json.loads(bad.read_text())
    doc["preprocessing"]["description"] = "x" * 3_000_000
    bad.write_text(json.dumps(doc))
    board = load_board_dir(tmp_path, datasets=_datasets())
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
    assert "over the board's limit of 2.0 MB" in board.skipped[0].reason


@pytest.mark.parametrize("n_levels", [10, 4_000])
def test_made_up_levels_never_enter_the_registry(tmp_path, n_levels):
    """Attack: 4,000 made-up ``size_0.…`` levels in a results file joined the process-wide subset
    registry (20,000 did not finish in 300 s). Outcome: refused by count or because the benchmark
    dataset has no such config; the registry is unchanged."""
    _honest(tmp_path)
    before = list(ALL_SUBSETS)
    doc = make_results("org/levels", original=0.8, mean_drop=0.1)
    doc["dataset"]["configs"] += [f"size_0.{7000 + i:05d}" for i in range(n_levels)]
    (tmp_path / "results" / "levels.json").write_text(json.dumps(doc))
    board = load_board_dir(tmp_path, datasets=_datasets())
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
    (skipped,) = board.skipped
    expected = "over the board's limit of 64" if n_levels > 64 else "config(s) the benchmark dataset does not have"
    assert expected in skipped.reason
    assert list(ALL_SUBSETS) == before


def _record_opens(under: Path) -> list[str]:
    opened: list[str] = []
    prefix = str(under)

    def hook(event, args):
        if event in ("open", "os.listdir", "os.scandir") and args and str(args[0]).startswith(prefix):
            opened.append(str(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed; this one only records paths under `under`
    return opened


@pytest.mark.parametrize("named", ["host", "root"])
def test_a_path_a_submission_names_is_never_opened(tmp_path, named):
    """Attacks: ``dataset.id = "/"`` walked the host's file system; ``dataset.id = /some/folder``
    with no ``--dataset`` mapping made the board read that folder and quote one of its labels.
    Outcome: refused as another benchmark / a dataset the board does not read; nothing under the
    named folder is opened; no label of it is published."""
    board_dir = tmp_path / "board"
    _honest(board_dir)
    host = write_labels_dataset(tmp_path / "host" / "secret-data", n_sources=100, seed=3)
    opened = _record_opens(tmp_path / "host")
    dataset_id = str(host) if named == "host" else "/"
    write_submission(board_dir, "results/path", host, "org/path", original=0.9, mean_drop=0.0, dataset_id=dataset_id)
    opened.clear()
    for pin in (None, BenchmarkPin(DATASET_NAME, list_other_benchmarks=True)):
        board = load_board_dir(board_dir, datasets=_datasets(), pin=pin)
        assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
        (skipped,) = board.skipped
        assert "label" not in skipped.reason and "ILSVRC" not in skipped.reason
    assert opened == []


def test_local_boards_read_only_the_dataset_folders_they_were_given(tmp_path):
    _honest(tmp_path / "b")
    board = load_board_dir(tmp_path / "b", datasets={})  # no --dataset: the local dataset is unknown
    assert board.entries == () and "not one this board reads" in board.skipped[0].reason


def test_confusable_and_mixed_script_names_are_flagged(tmp_path):
    """Attack: predictions copied from the public labels under a Cyrillic look-alike of a real model
    name ranked #1 next to the real model. Outcome: the look-alike is flagged (a visible mark and
    a reason) and never shown as a plain second row of the same visible name."""
    _honest(tmp_path)
    write_submission(tmp_path, "results/fake", default_dataset(), "оrg/honest", original=1.0, mean_drop=0.0)
    write_submission(tmp_path, "results/wide", default_dataset(), "ｏｒｇ/wide", original=0.6, mean_drop=0.1)
    board = load_board_dir(tmp_path, datasets=_datasets())
    by_id = {e.model_id: e for e in board.entries}
    fake = by_id["оrg/honest"]
    assert "looks like 'org/honest'" in fake.flag and "CYRILLIC" in fake.flag and fake.label.endswith("⚠")
    assert by_id["org/honest"].flag.startswith("looks like") and by_id["org/honest"].label.endswith("⚠")
    assert by_id["ｏｒｇ/wide"].label == "org/wide" and by_id["ｏｒｇ/wide"].flag == ""  # NFKC display, no flag
    labels = build_table(board).column(MODEL_COLUMN)
    assert "org/honest" not in labels and len(set(labels)) == 3


def test_the_board_is_pinned_by_its_owner_not_by_counts(tmp_path):
    """Without a pin the default view was the benchmark with most files. Outcome: with
    ``board.yaml`` only the pinned benchmark is ranked; other benchmarks are listed apart only
    when the owner allows it, and never become the default."""
    other = write_labels_dataset(tmp_path / "copies" / "evil-copy", n_sources=100, seed=0)
    board_dir = tmp_path / "board"
    _honest(board_dir)
    for i in range(3):
        write_submission(board_dir, f"results/forged{i}", other, f"evil/forged{i}", original=0.99, mean_drop=0.0,
                         dataset_id="evil-copy")
    datasets = {**_datasets(), "evil-copy": str(other)}
    (board_dir / "board.yaml").write_text(f"dataset: {DATASET_NAME}\n")
    board = load_board_dir(board_dir, datasets=datasets)
    assert [board.key_label(k).split(" @ ")[0] for k in board.keys()] == [DATASET_NAME]
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
    assert all("another benchmark (evil-copy@" in s.reason for s in board.skipped) and len(board.skipped) == 3
    (board_dir / "board.yaml").write_text(f"dataset: {DATASET_NAME}\nlist_other_benchmarks: true\n")
    board = load_board_dir(board_dir, datasets=datasets)
    keys = board.keys()
    assert len(keys) == 2 and keys[0].dataset_id == DATASET_NAME and len(board.entries_for(keys[1])) == 3
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
    with pytest.raises(ValueError, match="unknown key"):
        pin_from_mapping({"dataset": "x", "datset": "y"}, "board.yaml")
    with pytest.raises(ValueError, match="'dataset' is required"):
        pin_from_mapping({"revision": "abc"}, "board.yaml")


def test_the_dataset_revision_follows_the_parquet_bytes(tmp_path):
    """A shard rewritten with the same size and mtime is a new revision, so a long-running board
    never serves stale labels after Refresh."""
    dataset = write_labels_dataset(tmp_path / "ds" / DATASET_NAME, n_sources=50, seed=0)
    shard = dataset / "original" / "test-00000-of-00001.parquet"
    before = folder_revision(dataset)
    stat = shard.stat()
    table = pq.read_table(shard)
    labels = table.column("label").to_numpy().copy()
    labels[0] = (labels[0] + 1) % 1000
    pq.write_table(table.set_column(1, "label", pa.array(labels, pa.int64())), shard)
    assert shard.stat().st_size == stat.st_size
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert folder_revision(dataset) != before

    board_dir = tmp_path / "board"
    write_submission(board_dir, "results/honest", dataset, "org/honest", original=0.7, mean_drop=0.05)
    assert len(load_board_dir(board_dir, datasets={DATASET_NAME: str(dataset)}).entries) == 1
    labels[1] = (labels[1] + 1) % 1000
    pq.write_table(table.set_column(1, "label", pa.array(labels, pa.int64())), shard)
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    board = load_board_dir(board_dir, datasets={DATASET_NAME: str(dataset)})  # Refresh
    assert board.entries == () and "changed since the predictions were made" in board.skipped[0].reason


def test_refresh_recomputes_only_new_or_changed_files(tmp_path, monkeypatch):
    _honest(tmp_path)
    write_submission(tmp_path, "results/second", default_dataset(), "org/second", original=0.8, mean_drop=0.1)
    load_board_dir(tmp_path, datasets=_datasets())
    checked: list[str] = []
    real = loading.check_submission
    monkeypatch.setattr(loading, "check_submission", lambda path, name, *a, **kw: checked.append(name) or
                        real(path, name, *a, **kw))
    assert len(load_board_dir(tmp_path, datasets=_datasets()).entries) == 2 and checked == []
    write_submission(tmp_path, "results/third", default_dataset(), "org/third", original=0.6, mean_drop=0.1)
    path = tmp_path / "results" / "second.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(doc, indent=1))  # same document, other bytes: checked again
    board = load_board_dir(tmp_path, datasets=_datasets())
    assert sorted(checked) == ["results/second.json", "results/third.json"] and len(board.entries) == 3


# --- on the local Hub server: identity from commits, and the hijack through a copied dataset ---------------

def _commit_forged_copies(results: str, tmp_path: Path, dataset_id: str, revision: str) -> None:
    """mallory's two forged entries (0.99 accuracy, no drop) on her copy of the dataset."""
    for i in range(2):
        copy = write_submission(tmp_path / "m", f"copy{i}", default_dataset(), f"evil/net{i}", original=0.99,
                                mean_drop=0.0, dataset_id=dataset_id, dataset_revision=revision)
        _commit_submission(results, copy, f"results/evil{i}/main", "hf_user_mallory")


def test_on_the_hub_a_forged_newer_file_and_a_copied_dataset_change_nothing(hub_server, tmp_path):
    """Attacks: (a) a file with the honest file's model, dataset and revision, every prediction
    wrong and ``created_at: 2099-01-01`` superseded the honest row; (b) a copy of the dataset at
    ``evil/imagenet-e`` plus two forged entries became the default board (the one with most
    entries). Outcomes: (a) both rows listed, told apart by submitter, the honest row unchanged and
    its date the commit's; (b) the owner's board.yaml pins the benchmark: the copy is never ranked."""
    from huggingface_hub import HfApi

    api = HfApi(token="hf_user_owner")
    real = _push_labels(api, "owner/imagenet-e", default_dataset())
    _push_labels(HfApi(token="hf_user_mallory"), "evil/imagenet-e", default_dataset())
    evil = HfApi().dataset_info("evil/imagenet-e").sha
    results = "owner/board-results"
    api.create_repo(results, repo_type="dataset")
    api.upload_file(path_or_fileobj=f"dataset: owner/imagenet-e\nrevision: {real}\n".encode(),
                    path_in_repo="board.yaml", repo_id=results, repo_type="dataset")
    hub = dict(dataset_id="owner/imagenet-e", dataset_revision=real)
    honest = write_submission(tmp_path / "a", "honest", default_dataset(), "org/honest", original=0.7, mean_drop=0.05,
                              **hub)
    _commit_submission(results, honest, "results/org--honest/main", "hf_user_alice")
    forged = write_submission(tmp_path / "m", "forged", default_dataset(), "org/honest", original=0.0, mean_drop=0.0,
                              created_at="2099-01-01T00:00:00Z", **hub)
    _commit_submission(results, forged, "results/forged/main", "hf_user_mallory")
    _commit_forged_copies(results, tmp_path, "evil/imagenet-e", evil)

    board = load_board(results)
    assert [k.dataset_id for k in board.keys()] == ["owner/imagenet-e"]
    by_submitter = {e.submitter: e for e in board.entries}
    assert set(by_submitter) == {"alice", "mallory"}  # (a) both listed, nothing superseded
    assert by_submitter["alice"].original_accuracy == 0.7 and by_submitter["alice"].added_at.startswith("20")
    assert not by_submitter["alice"].added_at.startswith("2099")  # the commit's date, not the file's
    view = build_table(board)
    models = view.column(MODEL_COLUMN)
    assert sorted(models) == ["org/honest (rev main, data " + real[:12] + ", transformers, by alice)",
                              "org/honest (rev main, data " + real[:12] + ", transformers, by mallory)"]
    reasons = [s.reason for s in board.skipped]
    assert len(reasons) == 2 and all("another benchmark (evil/imagenet-e@" in r for r in reasons)  # (b)
    # The same submitter re-submitting does supersede: the later commit wins, whatever created_at says.
    again = write_submission(tmp_path / "a2", "honest", default_dataset(), "org/honest", original=0.72,
                             mean_drop=0.05, created_at="2001-01-01T00:00:00Z", **hub)
    _commit_submission(results, again, "results/org--honest/v2", "hf_user_alice")
    board = load_board(results)
    alice = [e for e in board.entries if e.submitter == "alice"]
    assert [e.original_accuracy for e in alice] == [0.72]
    assert any(s.source == "results/org--honest/main.json" and "superseded" in s.reason for s in board.skipped)


def test_with_no_pin_a_copied_dataset_never_becomes_the_default_view(hub_server, tmp_path, monkeypatch):
    """Attack: no board.yaml; a copy of the dataset at ``aaa/imagenet-e`` (alphabetically first) with
    two forged entries, the same configs as the real one. Outcome: nothing is ranked by default, each
    benchmark is listed as unpinned with the board.yaml that would pin it; with the project's own
    benchmark configured, only that one is ranked and the forged rows never show."""
    pytest.importorskip("gradio")
    from huggingface_hub import HfApi

    from imagenet_e.leaderboard.app import header_html

    monkeypatch.delenv("IMAGENET_E_DATASET_ID", raising=False)
    real = _push_labels(HfApi(token="hf_user_owner"), "owner/imagenet-e", default_dataset())
    copy = _push_labels(HfApi(token="hf_user_mallory"), "aaa/imagenet-e", default_dataset())
    results = "owner/unpinned-results"
    HfApi(token="hf_user_owner").create_repo(results, repo_type="dataset")
    honest = write_submission(tmp_path / "a", "honest", default_dataset(), "org/honest", original=0.7,
                              mean_drop=0.05, dataset_id="owner/imagenet-e", dataset_revision=real)
    _commit_submission(results, honest, "results/honest/main", "hf_user_alice")
    _commit_forged_copies(results, tmp_path, "aaa/imagenet-e", copy)

    board = load_board(results)
    assert board.pin is None and board.keys() == [] and build_table(board).rows == []
    assert [k.dataset_id for k in board.unpinned_keys()] == ["aaa/imagenet-e", "owner/imagenet-e"]
    header = header_html(board)
    assert header.count("Unpinned benchmark (not ranked)") == 2 and "No benchmark pinned" in header
    assert f"dataset: owner/imagenet-e\nrevision: {real}" in header  # the board.yaml the owner copies

    # The project's own benchmark configured ($IMAGENET_E_DATASET_ID, or the Space card's dataset id).
    monkeypatch.setenv("IMAGENET_E_DATASET_ID", "owner/imagenet-e")
    board = load_board(results)
    assert [k.dataset_id for k in board.keys()] == ["owner/imagenet-e"] and board.unpinned_keys() == []
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]
    assert sum("another benchmark (aaa/imagenet-e@" in s.reason for s in board.skipped) == 2
    monkeypatch.delenv("IMAGENET_E_DATASET_ID")
    card = tmp_path / "README.md"
    card.write_text("---\ntitle: board\ndatasets:\n  - owner/imagenet-e\n---\n# board\n")
    from imagenet_e.leaderboard.benchmark import own_benchmark_id

    assert own_benchmark_id(card) == "owner/imagenet-e"
    card.write_text("---\ndatasets:\n  - <org>/imagenet-e\n---\n")
    assert own_benchmark_id(card) is None  # a placeholder configures nothing
    board = load_board(results, own_dataset=own_benchmark_id(tmp_path / "README.md"))
    assert board.keys() == []


def test_a_local_board_with_one_dataset_pins_it(tmp_path):
    board_dir = tmp_path / "board"
    _honest(board_dir)
    board = load_board_dir(board_dir, datasets=_datasets())
    assert board.pin == BenchmarkPin(DATASET_NAME) and board.unpinned_keys() == []
    assert build_table(board).column(MODEL_COLUMN) == ["org/honest"]


def test_the_owner_pins_the_benchmark_from_the_command_line(tmp_path):
    """``imagenet-e leaderboard --benchmark DATASET[@REVISION] ...`` or ``--board-config board.yaml``."""
    from imagenet_e.cli import build_parser
    from imagenet_e.leaderboard.commands import _pin

    parser = build_parser()
    args = parser.parse_args(["leaderboard", "--benchmark", "ns/imagenet-e@abc123", "--benchmark-protocol",
                              "all-classes", "--benchmark-configs", "original,background_20", "--other-benchmarks"])
    assert _pin(args) == BenchmarkPin("ns/imagenet-e", "abc123", "all-classes", ("original", "background_20"), True)
    (tmp_path / "board.yaml").write_text("dataset: ns/imagenet-e\nn_bootstrap: 200\nworkers: [bot]\n")
    args = parser.parse_args(["leaderboard", "--board-config", str(tmp_path / "board.yaml")])
    assert _pin(args) == BenchmarkPin("ns/imagenet-e", n_bootstrap=200, workers=("bot",))
    args = parser.parse_args(["leaderboard", "--board-config", str(tmp_path / "board.yaml"), "--benchmark", "x/y"])
    with pytest.raises(ValueError, match="not both"):
        _pin(args)
    (tmp_path / "bad.yaml").write_text("dataset: ns/imagenet-e\nn_bootstrap: 40000000\n")
    with pytest.raises(ValueError, match="bad.yaml: 'n_bootstrap' must be an integer in 0..100000"):
        _pin(parser.parse_args(["leaderboard", "--board-config", str(tmp_path / "bad.yaml")]))
