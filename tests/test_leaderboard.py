"""The leaderboard: results files -> ranked table, submission validation, submitting through a
Hub-compatible server (commit, PR, model-repo .eval_results), and the Hub-native eval.yaml."""

from __future__ import annotations

import copy
import doctest
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from imagenet_e_dataset.registry import EDITED_ATTRIBUTES, EDITED_CONFIG_NAMES, SUBSETS, subsets_of
from imagenet_e.leaderboard.table import (  # noqa: E402
    MEAN_DROP_COLUMN,
    MODEL_COLUMN,
    ORIGINAL_COLUMN,
    RANK_COLUMN,
    SortKey,
    SubsetMetric,
    attribute_column,
    board_from_documents,
    build_table,
    load_board,
    load_board_dir,
    mean_drop_column,
    safe_link,
    subset_column,
)

from imagenet_e.leaderboard.identity import Provenance  # noqa: E402
from helpers.leaderboard import (  # noqa: E402  (tests/ is on sys.path under pytest)
    BOARD_MODELS,
    XSS_NAME,
    load,
    populate_board,
    write_results,
    DATASET_NAME,
    OFFSETS as _OFFSETS,
    default_dataset,
    make_results,
    make_submission,
    write_labels_dataset,
    write_submission,
)

# ------------------------------------------------------------------------------------------------
# results -> table


def test_ranking_by_mean_drop_and_by_original_accuracy(tmp_path):
    populate_board(tmp_path)
    board = load(tmp_path)
    assert board.skipped == ()

    by_drop = build_table(board, sort_by=SortKey.MEAN_DROP)
    assert by_drop.column(MODEL_COLUMN) == ["org/robust-net", "other/middle-net", "org/accurate-net", XSS_NAME]
    assert by_drop.column(RANK_COLUMN) == [1, 2, 3, 4]
    assert by_drop.column(MEAN_DROP_COLUMN) == [5.0, 10.0, 15.0, 20.0]

    by_acc = build_table(board, sort_by="original_accuracy")
    assert by_acc.column(MODEL_COLUMN) == ["org/accurate-net", "other/middle-net", "org/robust-net", XSS_NAME]
    assert by_acc.column(ORIGINAL_COLUMN) == [85.0, 80.0, 70.0, 60.0]
    # The UI passes the radio's label; it must select the same key.
    assert build_table(board, sort_by=SortKey.ORIGINAL_ACCURACY.label).rows == by_acc.rows


def test_attribute_and_subset_columns_follow_the_datasets_order(tmp_path):
    from imagenet_e.eval.config_layout import config_views

    populate_board(tmp_path)
    board = load(tmp_path)
    view = build_table(board)
    for attribute in EDITED_ATTRIBUTES:
        assert attribute_column(attribute) in view.columns
    subset_cols = [c for c in view.columns if c.endswith("accuracy (%)")]
    # Attribute order, then severity: the order `evaluate`'s table, drops.png and `score` show.
    severity_order = [v.name for v in config_views({"dataset": {"configs": list(EDITED_CONFIG_NAMES)}})]
    assert severity_order != list(EDITED_CONFIG_NAMES)  # registration order is not what is shown
    assert subset_cols == [subset_column(n, SubsetMetric.ACCURACY) for n in severity_order]
    # Numbers are the results file's, as percentages.
    robust = view.rows[0]
    assert robust[view.columns.index(subset_column("background_20", SubsetMetric.ACCURACY))] == pytest.approx(
        100 * (0.70 - (0.05 + _OFFSETS["background_20"])))
    expected_bg = sum(0.05 + _OFFSETS[s.name] for s in subsets_of("background")) / 5
    assert robust[view.columns.index(attribute_column("background"))] == pytest.approx(100 * expected_bg, abs=0.01)

    only_size = build_table(board, attributes=["size"], subset_metric=SubsetMetric.DROP)
    assert [c for c in only_size.columns if "drop (pp)" in c and c != MEAN_DROP_COLUMN] == (
        [attribute_column("size")] + [subset_column(n, SubsetMetric.DROP) for n in severity_order if n.startswith("size")])
    flips = build_table(board, attributes=["direction"], subset_metric="flip_rate", show_subsets=True)
    assert subset_column("direction_random", SubsetMetric.FLIP_RATE) in flips.columns
    assert "str" == flips.datatypes[flips.columns.index(MODEL_COLUMN)]
    assert "number" == flips.datatypes[flips.columns.index(MEAN_DROP_COLUMN)]


def test_a_dataset_folder_given_with_dataset_inside_the_results_folder_is_not_read_as_submissions(tmp_path):
    """The README's demo board: `imagenet-e leaderboard --results demo_out --dataset dataset=demo_out/dataset`,
    whose dataset/ holds the dataset's own JSON (imagenet_e.json, protocol.json) beside the results."""
    import shutil

    dataset = tmp_path / "dataset"
    shutil.copytree(default_dataset(), dataset)
    for name in ("imagenet_e.json", "protocol.json"):
        (dataset / name).write_text('{"schema_version": 1}')
    populate_board(tmp_path, dataset=dataset)
    board = load_board_dir(tmp_path, datasets={DATASET_NAME: str(dataset)})
    assert [s.source for s in board.skipped] == [] and len(board.entries) == len(BOARD_MODELS)
    # The same JSON outside any folder the owner named is read (and refused) like any other file.
    write_results(tmp_path, "planted/protocol.json", '{"schema_version": 1}')
    board = load_board_dir(tmp_path, datasets={DATASET_NAME: str(dataset)})
    assert [s.source for s in board.skipped] == ["planted/protocol.json"]


def test_ties_share_a_rank_and_break_on_the_other_key(tmp_path):
    docs = [
        ("a.json", make_results("org/a", original=0.70, mean_drop=0.10)),
        ("b.json", make_results("org/b", original=0.80, mean_drop=0.10)),
        ("c.json", make_results("org/c", original=0.75, mean_drop=0.12)),
        ("d.json", make_results("org/d", original=0.80, mean_drop=0.02)),
    ]
    board = board_from_documents(docs)
    view = build_table(board, sort_by="mean_drop")
    assert view.column(MODEL_COLUMN) == ["org/d", "org/b", "org/a", "org/c"]
    assert view.column(RANK_COLUMN) == [1, 2, 2, 4]
    by_acc = build_table(board, sort_by="original_accuracy")
    # d and b tie at 80 %; d has the smaller drop.
    assert by_acc.column(MODEL_COLUMN) == ["org/d", "org/b", "org/c", "org/a"]
    assert by_acc.column(RANK_COLUMN) == [1, 1, 3, 4]


def test_search_and_loader_filters_keep_global_ranks(tmp_path):
    populate_board(tmp_path)
    board = load(tmp_path)
    hits = build_table(board, search="ACCURATE")
    assert hits.column(MODEL_COLUMN) == ["org/accurate-net"] and hits.column(RANK_COLUMN) == [3]
    assert build_table(board, search="org net").column(MODEL_COLUMN) == ["org/robust-net", "org/accurate-net"]
    assert build_table(board, search="no-such-model").rows == []
    torch_only = build_table(board, loaders=["torch"])
    assert torch_only.column(MODEL_COLUMN) == ["other/middle-net"] and torch_only.column(RANK_COLUMN) == [2]
    assert board.loaders == ["torch", "transformers"]


def test_bad_files_are_skipped_with_reasons_and_links_must_be_http(tmp_path):
    populate_board(tmp_path)
    write_results(tmp_path, "bad/broken.json", "{not json")
    nan_doc = make_results("org/nan", original=0.7, mean_drop=0.1)
    write_results(tmp_path, "bad/nan.json", json.dumps({**nan_doc, "metrics": {**nan_doc["metrics"],
                                                                                "mean_drop": math.nan}}))
    write_results(tmp_path, "bad/missing.json", {k: v for k, v in nan_doc.items() if k != "metrics"})
    board = load(tmp_path)
    reasons = {s.source: s.reason for s in board.skipped}
    assert set(reasons) == {"bad/broken.json", "bad/nan.json", "bad/missing.json"}
    assert "not valid JSON" in reasons["bad/broken.json"]
    assert "finite" in reasons["bad/nan.json"]
    assert "'metrics' is a required property" in reasons["bad/missing.json"]
    assert len(board.entries) == len(BOARD_MODELS)

    view = build_table(board)
    links = dict(zip(view.column(MODEL_COLUMN), view.column("Link")))
    assert links["org/robust-net"] == "https://huggingface.co/org/robust-net"
    assert links[XSS_NAME] == ""  # javascript: URL dropped
    assert safe_link("http://x.org/a b") is None and safe_link("ftp://x.org") is None


def test_resubmission_supersedes_and_duplicate_models_get_unique_labels(tmp_path):
    old = make_results("org/a", original=0.70, mean_drop=0.10, created_at="2026-01-01T00:00:00Z")
    new = make_results("org/a", original=0.71, mean_drop=0.09, created_at="2026-02-01T00:00:00Z")
    other_rev = make_results("org/a", original=0.72, mean_drop=0.08, dataset_revision="1" * 40)
    # Who added each file and when comes from the results repo's commits, not from the files.
    provenance = {"new.json": Provenance("alice", "2026-02-01T00:00:00+00:00"),
                  "old.json": Provenance("alice", "2026-01-01T00:00:00+00:00"),
                  "rev.json": Provenance("alice", "2026-01-15T00:00:00+00:00")}
    board = board_from_documents([("new.json", new), ("old.json", old), ("rev.json", other_rev)],
                                 provenance=provenance)
    assert [s.source for s in board.skipped] == ["old.json"] and "new.json" in board.skipped[0].reason
    labels = sorted(e.label for e in board.entries)
    assert len(set(labels)) == 2 and all(label.startswith("org/a (") for label in labels)
    assert sorted(e.original_accuracy for e in board.entries) == [0.71, 0.72]
    assert {e.submitter for e in board.entries} == {"alice"}
    # Without a known common submitter nothing supersedes anything: both rows are listed, told apart.
    board = board_from_documents([("new.json", new), ("old.json", old)])
    assert board.skipped == () and len({e.label for e in board.entries}) == 2


def test_missing_folder_and_non_repo_source_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="results folder not found"):
        load_board_dir(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="neither a folder nor a Hub dataset repo id"):
        load_board(str(tmp_path / "nope" / "deeper"))


def test_compare_figure_uses_file_numbers_and_notices_are_escaped(tmp_path):
    from imagenet_e.leaderboard.app import drops_figure, notice_html

    populate_board(tmp_path)
    board = load(tmp_path)
    fig = drops_figure(board, ["org/robust-net", "org/accurate-net"])
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    expected = sorted(round(100 * v, 6) for e in board.entries if e.label in ("org/robust-net", "org/accurate-net")
                      for v in e.attribute_drop.values())
    assert heights == pytest.approx(expected)
    write_results(tmp_path, f"x/{XSS_NAME}.json", "{")
    notice = notice_html(load(tmp_path))
    assert "<img" not in notice and "&lt;img src=x onerror=alert(1)&gt;" in notice


def test_leaderboard_doctests():
    import imagenet_e_dataset.eval_yaml
    import imagenet_e.leaderboard.submit
    import imagenet_e.leaderboard.table

    for module in (imagenet_e.leaderboard.table, imagenet_e.leaderboard.submit, imagenet_e_dataset.eval_yaml):
        result = doctest.testmod(module)
        assert result.failed == 0
    assert doctest.testmod(imagenet_e.leaderboard.submit).attempted > 0


# ------------------------------------------------------------------------------------------------
# submissions


def _valid_file(tmp_path: Path, **kw) -> Path:
    return write_submission(tmp_path, "results", default_dataset(), "org/model", original=0.8, mean_drop=0.1, **kw)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda text: text[:-5], "not valid JSON"),
        (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "created_at"}),
         "'created_at' is a required property"),
        (lambda text: re.sub(r'"mean_drop": [0-9.e-]+', '"mean_drop": NaN', text), "must be finite"),
        (lambda text: text.replace('"original": 0.8', '"original": 1.8'), "greater than the maximum"),
        (lambda text: text.replace('"size_0.05"', '"size_0.02"'), "size_0.02"),
        (lambda text: text.replace('"2026-11-28T12:00:00Z"', '"9999-99-99 definitely not a date"'),
         "not an RFC 3339 date-time"),
        (lambda text: text.replace('"2026-11-28T12:00:00Z"', '"2026-13-45T12:00:00Z"'), "not a valid date-time"),
        (lambda text: text.replace('"org/model"', '"org/mo\\u0000del"'), "control character U+0000"),
        (lambda text: text.replace('"org/model"', '"org/\\u202egnp.model"'), "control character U+202E"),
        (lambda text: text.replace('"original": 100,', '"original": 0,', 1), "less than the minimum of 1"),
        (lambda text: text.replace('"background_20": 100', '"background_20": 99'), "counts add up to"),
    ],
    ids=["malformed-json", "missing-field", "nan", "out-of-range", "unknown-subset", "not-a-date", "bad-date",
         "nul-in-id", "bidi-in-id", "zero-count", "counts-vs-rows"],
)
def test_submit_refuses_invalid_files_before_touching_the_hub(tmp_path, mutate, message, capsys):
    from imagenet_e.cli import main

    path = _valid_file(tmp_path)
    path.write_text(mutate(path.read_text("utf-8")), "utf-8")
    # No Hub server is needed: the refusal comes from validation, before any request is made.
    assert main(["submit", str(path), "--repo-id", "ns/results", "--dataset", str(default_dataset())]) == 1
    err = capsys.readouterr().err
    assert "imagenet-e submit: error:" in err and message in err and str(path) in err


def test_results_path_is_deterministic_and_safe():
    from imagenet_e.leaderboard.submit import results_path_in_repo

    doc = make_results("google/vit-base-patch16-224", original=0.8, mean_drop=0.1, dataset_revision="a" * 40)
    assert results_path_in_repo(doc) == f"results/google--vit-base-patch16-224/{'a' * 40}.json"
    evil = make_results("../../etc/passwd" + XSS_NAME, original=0.8, mean_drop=0.1)
    path = results_path_in_repo(evil)
    assert path == results_path_in_repo(copy.deepcopy(evil))
    assert path.startswith("results/") and ".." not in path.split("/")[1] and "<" not in path and path.count("/") == 2


def test_eval_yaml_lists_one_task_per_subset():
    from imagenet_e_dataset.eval_yaml import eval_yaml_text

    doc = yaml.safe_load(eval_yaml_text())
    assert doc["name"] == "ImageNet-E" and doc["evaluation_framework"] and doc["description"]
    assert [t["id"] for t in doc["tasks"]] == list(SUBSETS)
    assert all(t["config"] == t["id"] and t["split"] == "test" for t in doc["tasks"])


def test_eval_results_entries_round_trip_through_huggingface_hub(tmp_path, monkeypatch):
    from huggingface_hub import parse_eval_result_entries

    from imagenet_e_dataset.eval_yaml import eval_results_yaml_text

    doc = make_results("org/model", original=0.8, mean_drop=0.1, dataset_revision="b" * 40,
                       dataset_id="imagenet-e/imagenet-e")
    monkeypatch.delenv("IMAGENET_E_DATASET_ID", raising=False)
    text = eval_results_yaml_text(doc, source_url="http://127.0.0.1/x.json")
    entries = parse_eval_result_entries(yaml.safe_load(text))
    assert [e.task_id for e in entries] == list(SUBSETS)
    assert {e.dataset_id for e in entries} == {"imagenet-e/imagenet-e"}
    assert {e.dataset_revision for e in entries} == {"b" * 40}
    assert entries[0].value == 0.8 and entries[1].value == doc["metrics"]["accuracy"][entries[1].task_id]
    monkeypatch.setenv("IMAGENET_E_DATASET_ID", "env/bench")
    assert parse_eval_result_entries(yaml.safe_load(eval_results_yaml_text(doc)))[0].dataset_id == "env/bench"
    local = copy.deepcopy(doc)
    local["dataset"]["id"] = "/data/imagenet-e"
    monkeypatch.delenv("IMAGENET_E_DATASET_ID")
    with pytest.raises(ValueError, match="not a Hub dataset repo id"):
        eval_results_yaml_text(local)


@pytest.fixture()
def hub(hub_server):
    from huggingface_hub import HfApi

    return HfApi()


def test_submit_commits_opens_prs_writes_model_eval_results_and_feeds_the_board(hub, tmp_path, capsys):
    """Results and predictions go to the Hub together; the board fetches the labels of the Hub
    dataset revision the results name (range reads of two columns) and recomputes every number."""
    from huggingface_hub import hf_hub_download, parse_eval_result_entries
    from huggingface_hub.errors import HfHubHTTPError

    from imagenet_e.cli import main

    labels_repo = "leaderboard-tests/imagenet-e-labels"
    hub.create_repo(labels_repo, repo_type="dataset", exist_ok=True)
    hub.upload_folder(folder_path=str(default_dataset()), repo_id=labels_repo, repo_type="dataset")
    revision = hub.dataset_info(labels_repo).sha
    hub_dataset = dict(dataset_id=labels_repo, dataset_revision=revision)

    repo = "leaderboard-tests/results"
    first = write_submission(tmp_path, "a", default_dataset(), "org/robust-net", original=0.70, mean_drop=0.05,
                             **hub_dataset)
    assert main(["submit", str(first), "--repo-id", repo]) == 0
    out = capsys.readouterr().out
    assert f"Commit (results/org--robust-net/{revision}.json)" in out and "http" in out
    files = hub.list_repo_files(repo, repo_type="dataset")
    assert {f"results/org--robust-net/{revision}.json", f"results/org--robust-net/{revision}.predictions.parquet"} <= set(files)

    # A second model as a pull request, plus its Hub-native eval results in the model repo (also a PR).
    hub.create_repo("org/accurate-net", exist_ok=True)
    second = write_submission(tmp_path, "b", default_dataset(), "org/accurate-net", original=0.85, mean_drop=0.15,
                              **hub_dataset)
    assert main(["submit", str(second), "--repo-id", repo, "--pr", "--model-repo", "org/accurate-net",
                 "--dataset-id", labels_repo]) == 0
    out = capsys.readouterr().out
    assert "Pull request" in out and "/discussions/" in out and ".eval_results entry" in out
    assert f"results/org--accurate-net/{revision}.json" not in hub.list_repo_files(repo, repo_type="dataset")
    pr_refs = [ref.ref for ref in hub.list_repo_refs(repo, repo_type="dataset", include_pull_requests=True).pull_requests]
    assert pr_refs, "the --pr submission must be a pull request ref"
    pr_files = hub.list_repo_files(repo, repo_type="dataset", revision=pr_refs[-1])
    assert f"results/org--accurate-net/{revision}.predictions.parquet" in pr_files

    model_prs = hub.list_repo_refs("org/accurate-net", include_pull_requests=True).pull_requests
    entry_file = hf_hub_download("org/accurate-net", ".eval_results/imagenet-e.yaml", revision=model_prs[-1].ref)
    entries = parse_eval_result_entries(yaml.safe_load(Path(entry_file).read_text("utf-8")))
    assert {e.task_id: e.value for e in entries}["original"] == 0.85
    assert entries[0].source_url.startswith(hub.endpoint) and repo in entries[0].source_url

    # --pr against a repo that does not exist is refused with a reason.
    assert main(["submit", str(second), "--repo-id", "leaderboard-tests/missing", "--pr"]) == 1
    assert "does not exist" in capsys.readouterr().err

    # The board, loaded from the Hub repo via snapshot_download, shows the committed file only.
    hub.upload_file(path_or_fileobj=f"dataset: {labels_repo}\n".encode(), path_in_repo="board.yaml", repo_id=repo,
                    repo_type="dataset")  # the owner pins the benchmark: an unpinned Hub board ranks nothing
    board = load_board(repo)
    view = build_table(board)
    assert view.column(MODEL_COLUMN) == ["org/robust-net"] and board.skipped == ()
    assert board.key_label(board.keys()[0]).startswith(f"{labels_repo} @ {revision[:19]}")
    # Once the maintainer merges the pull request, the second model is on the board too.
    hub.merge_pull_request(repo, int(pr_refs[-1].rsplit("/", 1)[-1]), repo_type="dataset")
    assert build_table(load_board(repo), sort_by="original_accuracy").column(MODEL_COLUMN) == [
        "org/accurate-net", "org/robust-net"]
    with pytest.raises(HfHubHTTPError):
        hub.repo_info("leaderboard-tests/missing", repo_type="dataset")
    assert not math.isnan(board.entries[0].mean_drop)


def test_different_benchmarks_are_never_ranked_in_one_table(tmp_path):
    """Same model on another dataset revision, another protocol or another subset set: separate
    boards, each with its own n; the selector lists them all."""
    from imagenet_e.leaderboard.app import _table_update

    dataset = default_dataset()
    other = write_labels_dataset(tmp_path / "v2" / DATASET_NAME, n_sources=60, seed=1)  # another revision
    write_submission(tmp_path / "r", "a/full", dataset, "org/full", original=0.8, mean_drop=0.1)
    write_submission(tmp_path / "r", "a/partial", dataset, "org/partial", original=0.9, mean_drop=0.03,
                     configs=("original", "background_20", "size_0.1"))
    write_submission(tmp_path / "r", "a/restricted", dataset, "org/full", original=0.9, mean_drop=0.1,
                     protocol="dataset-classes")
    write_submission(tmp_path / "r", "b/v2", other, "org/full", original=0.5, mean_drop=0.2)
    board = load_board_dir(tmp_path / "r", datasets={DATASET_NAME: str(dataset)})
    # the v2 revision is not the folder the board knows under that name: refused, with the reason
    reasons = {s.source: s.reason for s in board.skipped}
    assert "changed since the predictions were made" in reasons["b/v2.json"]
    board = board_from_documents([(name, make_submission(ds, m, **kw)[0]) for name, ds, m, kw in [
        ("full.json", dataset, "org/full", dict(original=0.8, mean_drop=0.1)),
        ("partial.json", dataset, "org/partial", dict(original=0.9, mean_drop=0.03,
                                                       configs=("original", "background_20", "size_0.1"))),
        ("restricted.json", dataset, "org/full", dict(original=0.9, mean_drop=0.1, protocol="dataset-classes")),
        ("v2.json", other, "org/full", dict(original=0.5, mean_drop=0.2)),
    ]])
    keys = board.keys()
    assert len(keys) == 4 and all(len(board.entries_for(k)) == 1 for k in keys)
    labels = [board.key_label(k) for k in keys]
    assert sum("n = 100 images/subset" in label for label in labels) == 3 and any("n = 60" in x for x in labels)
    assert any("dataset-classes" in label for label in labels) and any("3 subsets" in label for label in labels)
    partial_key = next(k for k in keys if len(k.configs) == 3)
    view = build_table(board, key=partial_key)
    assert view.column(MODEL_COLUMN) == ["org/partial"] and view.column(RANK_COLUMN) == [1]
    # Its columns are its own configs' (no empty direction column for a benchmark without one).
    assert attribute_column("direction") not in view.columns
    assert [c for c in view.columns if c.endswith("accuracy (%)") and c != ORIGINAL_COLUMN] == [
        subset_column("background_20", SubsetMetric.ACCURACY), subset_column("size_0.1", SubsetMetric.ACCURACY)]
    # The app renders any benchmark's table (an attribute it lacks is no column) without failing.
    update = _table_update(board, SortKey.MEAN_DROP.label, "", board.loaders, ["direction", "size"], "drop", True,
                           board.key_label(partial_key), "original (paper)")
    assert update is not None


def test_drops_against_the_control_are_a_toggle(tmp_path):
    from imagenet_e_metric import CONTROL_SUBSET

    populate_board(tmp_path)
    board = load(tmp_path)
    paper = build_table(board)
    control = build_table(board, reference="control")
    assert mean_drop_column("control") == f"Mean drop vs {CONTROL_SUBSET.name} (pp)" in control.columns
    entry = board.entry("org/robust-net")
    row = control.rows[control.column(MODEL_COLUMN).index("org/robust-net")]
    assert row[control.columns.index(mean_drop_column("control"))] == pytest.approx(100 * entry.control_mean_drop,
                                                                                       abs=0.01)
    # vs the control: acc(control) - acc(subset); the control itself has no column there
    drops = build_table(board, reference="control", subset_metric="drop")
    assert subset_column(CONTROL_SUBSET.name, SubsetMetric.DROP, "control") not in drops.columns
    expected = entry.accuracy[CONTROL_SUBSET.name] - entry.accuracy["background_20"]
    got = drops.rows[drops.column(MODEL_COLUMN).index("org/robust-net")][
        drops.columns.index(subset_column("background_20", SubsetMetric.DROP, "control"))]
    assert got == pytest.approx(100 * expected, abs=0.01)
    assert paper.columns[2] == MEAN_DROP_COLUMN


def test_space_files_declare_a_gradio_6_space(tmp_path, monkeypatch):
    import importlib.util

    import gradio as gr
    from huggingface_hub import SpaceCard

    folder = Path(__file__).resolve().parents[1] / "leaderboard_space"
    card = SpaceCard.load(folder / "README.md")
    assert card.data.sdk == "gradio" and (folder / card.data.app_file).is_file()
    assert card.data.sdk_version.split(".")[0] == gr.__version__.split(".")[0] == "6"
    assert card.data.license and card.data.title
    requirements = (folder / "requirements.txt").read_text("utf-8")
    assert "gradio>=6,<7" in requirements and "huggingface_hub" in requirements

    # A Space runs app.py as a top-level module and reads its `demo` (built from RESULTS_DIR).
    populate_board(tmp_path)
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("RESULTS_REPO", raising=False)
    spec = importlib.util.spec_from_file_location("space_app", folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.demo, gr.Blocks) and module.demo is module.demo


def test_compare_figure_draws_model_ids_with_dollar_signs_as_text():
    import io

    from imagenet_e.leaderboard.app import drops_figure

    names = ["org/a$\\frac{$b", "x$^_$y"]
    board = board_from_documents([(f"{k}.json", make_results(n, original=0.7, mean_drop=0.1 + k / 100))
                                  for k, n in enumerate(names)])
    fig = drops_figure(board, names)
    fig.savefig(io.BytesIO(), format="png")  # mathtext would raise here on the first name
    shown = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [s.replace("\\$", "$") for s in shown] == names


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m.update(mean_drop=0.0), "metrics.mean_drop is 0.0 but the mean of metrics.accuracy_drop is 0.1"),
        (lambda m: m["attribute_drop"].update(size=-0.5), "metrics.attribute_drop.size is -0.5"),
        (lambda m: m["attribute_drop"].pop("direction"), "metrics.attribute_drop covers"),
        (lambda m: m["accuracy_drop"].pop("size_0.05"), "metrics.accuracy_drop covers"),
    ],
)
def test_files_whose_summaries_do_not_follow_from_their_drops_are_refused(mutate, reason):
    honest = make_results("org/honest", original=0.8, mean_drop=0.1)
    forged = make_results("org/forged", original=0.8, mean_drop=0.1)
    mutate(forged["metrics"])
    board = board_from_documents([("honest.json", honest), ("forged.json", forged)])
    assert [e.model_id for e in board.entries] == ["org/honest"]
    assert [s.source for s in board.skipped] == ["forged.json"] and reason in board.skipped[0].reason


def test_partial_results_with_consistent_summaries_are_shown():
    partial = make_results("org/partial", original=0.9, mean_drop=0.03, configs=("original", "position_random", "size_0.1"))
    board = board_from_documents([("p.json", partial)])
    assert board.skipped == () and board.entries[0].mean_drop == pytest.approx(0.03)
    assert set(board.entries[0].attribute_drop) == {"position", "size"}


# ------------------------------------------------------------------------------------------------
# The board recomputes, never trusts


def _resubmit(folder: Path, stem: str, edit) -> Path:
    """A submission whose predictions were edited and whose results were then recomputed from them,
    so the two agree with each other: only the dataset can tell what is wrong."""
    import dataclasses

    from imagenet_e.eval.predictions import PREDICTIONS_SUFFIX, predictions_bytes, read_predictions, sha256_bytes
    from imagenet_e.eval.scoring import results_from_predictions

    path = write_submission(folder, stem, default_dataset(), f"org/{stem}", original=0.8, mean_drop=0.1)
    predictions = path.with_name(f"{stem}{PREDICTIONS_SUFFIX}")
    table = read_predictions(predictions)
    table = dataclasses.replace(table, subset_codes=None, **edit(table))
    data = predictions_bytes(table)
    doc = results_from_predictions(read_predictions(data), file_name=predictions.name, sha256=sha256_bytes(data))
    predictions.write_bytes(data)
    path.write_text(json.dumps(doc))
    return path


def _fabricated(folder: Path) -> None:
    """The issue's cheater: aggregates invented, kept internally consistent, honest predictions beside."""
    path = write_submission(folder, "fabricated", default_dataset(), "org/fabricated", original=0.5, mean_drop=0.2)
    doc = json.loads(path.read_text())
    m = doc["metrics"]
    m["accuracy"] = {k: (0.9 if k == "original" else 0.1) for k in m["accuracy"]}
    for key in ("accuracy_drop", "control_drop"):
        m[key] = {k: -1.0 for k in m[key]}
    for key in ("attribute_drop", "control_attribute_drop"):
        m[key] = {k: -1.0 for k in m[key]}
    m["mean_drop"] = m["control_mean_drop"] = -1.0
    m["flip_rate"] = {k: 0.0 for k in m["flip_rate"]}
    path.write_text(json.dumps(doc))


def _drop_rows(table, keep):
    return {f: getattr(table, f)[keep] for f in ("subsets", "source_ids", "labels", "top1", "top5", "skipped")}


TAMPERING = {
    "fabricated aggregates": (_fabricated, "$.metrics.accuracy.original is 0.9, the predictions give 0.5"),
    "no predictions": (lambda f: write_submission(f, "lonely", default_dataset(), "org/lonely", original=0.8,
                                                  mean_drop=0.1).with_name("lonely.predictions.parquet").unlink(),
                       "no predictions file beside it"),
    "other model's predictions": (
        lambda f: write_submission(f, "swap", default_dataset(), "org/swap", original=0.8, mean_drop=0.1)
        .with_name("swap.predictions.parquet").write_bytes(
            make_submission(default_dataset(), "org/other", original=0.9, mean_drop=0.0)[1]),
        "has sha256"),
    "labels not the dataset's": (
        lambda f: _resubmit(f, "relabelled", lambda t: {"labels": t.top1.copy()}),  # every prediction "right"
        "row 80 (original, ILSVRC2012_val_00000081) has label"),
    "images left out": (
        lambda f: _resubmit(f, "cherry", lambda t: _drop_rows(t, np.arange(len(t)) % 100 < 90)),
        "10 of the dataset's 100 images of 'original' have no row, first (original, ILSVRC2012_val_00000091)"),
    "skipped images": (
        lambda f: _resubmit(f, "skipper", lambda t: {"top1": np.where(np.arange(len(t)) == 7, -1, t.top1),
                                                     "skipped": np.where(np.arange(len(t)) == 7,
                                                                         "non-finite logits", None)}),
        "1 image(s) were skipped"),
    "a --limit run": (lambda f: write_submission(f, "quick", default_dataset(), "org/quick", original=0.8,
                                                 mean_drop=0.1, limit=10), "a --limit 10 run"),
    "unknown local dataset": (lambda f: write_submission(f, "elsewhere", default_dataset(), "org/elsewhere",
                                                         original=0.8, mean_drop=0.1, dataset_id="my-private-copy"),
                              "results for another benchmark (my-private-copy@"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_the_board_ranks_only_what_the_predictions_and_the_dataset_give(tmp_path, case):
    make, reason = TAMPERING[case]
    write_submission(tmp_path, "honest", default_dataset(), "org/honest", original=0.7, mean_drop=0.05)
    make(tmp_path)
    board = load(tmp_path)
    assert [e.model_id for e in board.entries] == ["org/honest"]
    assert len(board.skipped) == 1 and reason in board.skipped[0].reason, board.skipped


def test_submit_refuses_what_the_board_would_not_rank(tmp_path, capsys):
    from imagenet_e.cli import main

    _fabricated(tmp_path)
    assert main(["submit", str(tmp_path / "fabricated.json"), "--repo-id", "ns/results",
                 "--dataset", str(default_dataset())]) == 1
    assert "the predictions give 0.5" in capsys.readouterr().err
    relabelled = _resubmit(tmp_path, "relabelled", lambda t: {"labels": t.top1.copy()})
    assert main(["submit", str(relabelled), "--repo-id", "ns/results", "--dataset", str(default_dataset())]) == 1
    assert "but the dataset's label is" in capsys.readouterr().err
    honest = write_submission(tmp_path, "honest", default_dataset(), "org/honest", original=0.7, mean_drop=0.05)
    assert main(["submit", str(honest), "--repo-id", "ns/results"]) == 1  # a local dataset, not given
    assert "is not one this board reads; pass --dataset PATH" in capsys.readouterr().err


def test_a_results_file_from_before_a_metric_gained_numbers_still_matches(tmp_path):
    """Fields a newer metric adds are no disagreement; the board shows the recomputed ones."""
    path = write_submission(tmp_path, "older", default_dataset(), "org/older", original=0.8, mean_drop=0.1)
    doc = json.loads(path.read_text())
    for key in ("mcnemar_p", "top5_accuracy"):
        doc["metrics"].pop(key)
    path.write_text(json.dumps(doc))
    board = load(tmp_path)
    assert board.skipped == () and board.entries[0].model_id == "org/older"
    doc["metrics"]["flip_rate"]["background_20"] = 0.5  # but what it does say must be right
    path.write_text(json.dumps(doc))
    assert "$.metrics.flip_rate.background_20 is 0.5" in load(tmp_path).skipped[0].reason
