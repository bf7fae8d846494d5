"""Submissions are models; the board evaluates them (issue 22 item 2), on the local Hub server.

``submit --model`` writes a pending request; ``board-worker --once`` evaluates the model at its
pinned commit on the benchmark that board.yaml pins (a tiny ResNet built from a config, a small
Hub-layout dataset), commits results + predictions + a verification record, and the board shows
the row as verified, apart from self-reported rows. A model the runner cannot map ends failed,
with its reason, and the worker goes on.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import pytest

from imagenet_e_dataset.labels import synonyms


@pytest.fixture(scope="module")
def worker_assets(tmp_path_factory):
    from test_eval_runner import CONFIGS, CORRUPT, N_SOURCES, _images, _save, _tiny_resnet, _write_dataset

    root = tmp_path_factory.mktemp("worker")
    images = _images()
    images[CORRUPT[0]][CORRUPT[1]] = images[CORRUPT[0]][0]  # every image readable: a ranked run scores all
    labels = [(7 * i) % 1000 for i in range(N_SOURCES)]
    _write_dataset(root / "dataset", images, labels)
    good = _save(_tiny_resnet(dict(enumerate(synonyms()))), root / "good")
    unmappable = _save(_tiny_resnet({0: "not-a-class", 1: "nor-this"}), root / "unmappable")
    return {"dataset": root / "dataset", "good": good, "unmappable": unmappable, "configs": CONFIGS}


def _hub_setup(worker_assets, tag: str) -> dict[str, str]:
    from huggingface_hub import HfApi

    owner = HfApi(token="hf_user_owner")
    names = {"dataset": f"owner/bench-{tag}", "results": f"owner/results-{tag}", "requests": f"owner/requests-{tag}",
             "good": f"org/tiny-{tag}", "unmappable": f"org/unmappable-{tag}"}
    owner.create_repo(names["dataset"], repo_type="dataset")
    owner.upload_folder(folder_path=str(worker_assets["dataset"]), repo_id=names["dataset"], repo_type="dataset")
    owner.create_repo(names["results"], repo_type="dataset")
    revision = owner.dataset_info(names["dataset"]).sha
    owner.upload_file(path_or_fileobj=f"dataset: {names['dataset']}\nrevision: {revision}\n".encode(),
                      path_in_repo="board.yaml", repo_id=names["results"], repo_type="dataset")
    author = HfApi(token="hf_user_author")
    for key in ("good", "unmappable"):
        author.create_repo(names[key])
        author.upload_folder(folder_path=str(worker_assets[key]), repo_id=names[key])
    names["revision"] = revision
    return names


def test_a_requested_model_is_evaluated_by_the_worker_and_shown_verified(hub_server, worker_assets, tmp_path,
                                                                         monkeypatch, capsys):
    from huggingface_hub import HfApi

    from imagenet_e.cli import main
    from imagenet_e.leaderboard.requests import RequestStatus, read_requests
    from imagenet_e.leaderboard.table import MODEL_COLUMN, NOTES_COLUMN, RowKind, build_table, load_board

    repos = _hub_setup(worker_assets, uuid.uuid4().hex[:8])
    monkeypatch.setenv("HF_TOKEN", "hf_user_author")
    for key in ("good", "unmappable"):
        assert main(["submit", "--model", repos[key], "--requests", repos["requests"]]) == 0
    assert "(pending)" in capsys.readouterr().out
    # One request per model and revision.
    assert main(["submit", "--model", repos["good"], "--requests", repos["requests"]]) == 1
    assert "already requested (pending)" in capsys.readouterr().err
    sha = HfApi().model_info(repos["good"]).sha
    assert {(r.model, r.revision, r.status) for r in read_requests(repos["requests"])} >= {
        (repos["good"], sha, RequestStatus.PENDING)}

    monkeypatch.setenv("HF_TOKEN", "hf_user_owner")  # the board's worker runs as the board's owner
    assert main(["board-worker", "--requests", repos["requests"], "--results", repos["results"], "--once",
                 "--batch-size", "4"]) == 0
    printed = capsys.readouterr().out
    assert "1 request(s) finished, 1 failed" in printed, [r.reason for r in read_requests(repos["requests"])]
    final = {r.model: r for r in read_requests(repos["requests"])}
    assert final[repos["good"]].status is RequestStatus.FINISHED and final[repos["good"]].results_path
    failed = final[repos["unmappable"]]
    assert failed.status is RequestStatus.FAILED and "not-a-class" in failed.reason and "\n" not in failed.reason

    files = HfApi().list_repo_files(repos["results"], repo_type="dataset")
    record_path = final[repos["good"]].results_path[: -len(".json")] + ".verification.json"
    assert record_path in files
    from huggingface_hub import hf_hub_download

    record = json.loads(open(hf_hub_download(repos["results"], record_path, repo_type="dataset")).read())
    assert record["worker"] == "owner" and record["model_commit"] == sha
    assert record["dataset_commit"] == repos["revision"] and record["request_id"] == final[repos["good"]].request_id
    assert "package_version" in record and record["job_ids"] == []
    assert record["requested_by"] == "author"  # the row's submitter is the request's, not the worker's

    # A self-reported file on the same benchmark: shown apart, with its badge.
    from imagenet_e.eval.runner import evaluate_model

    out = tmp_path / "self" / "results.json"
    evaluate_model(str(worker_assets["good"]), repos["dataset"], configs="all", output=out, n_bootstrap=20,
                   progress=False, num_workers=0, batch_size=4, model_name="org/self-reported")
    assert main(["submit", str(out), "--repo-id", repos["results"]]) == 0
    board = load_board(repos["results"])
    verified = build_table(board)
    assert verified.column(MODEL_COLUMN) == [repos["good"]]
    assert verified.column(NOTES_COLUMN) == ["✔ verified by owner"]
    assert [e.submitter for e in board.entries if e.verified] == ["author"]
    self_reported = build_table(board, rows=RowKind.SELF_REPORTED)
    assert len(self_reported.rows) == 1 and self_reported.column(NOTES_COLUMN) == ["self-reported"]


def test_a_verification_record_from_an_untrusted_account_does_not_make_a_row_verified(hub_server, worker_assets,
                                                                                      tmp_path, monkeypatch):
    from huggingface_hub import CommitOperationAdd, HfApi

    from imagenet_e.leaderboard.requests import EvalRequest
    from imagenet_e.leaderboard.table import RowKind, build_table, load_board
    from imagenet_e.leaderboard.worker import evaluate_locally, publish, verified_path, board_pin

    repos = _hub_setup(worker_assets, uuid.uuid4().hex[:8])
    sha = HfApi().model_info(repos["good"]).sha
    request = EvalRequest(model=repos["good"], revision=sha)
    pin = board_pin(repos["results"])
    evaluation = evaluate_locally(request, pin, tmp_path, n_bootstrap=20, batch_size=4)
    # Mallory pushes a real result with a forged record claiming to be the board's worker.
    publish(repos["results"], request, pin, evaluation, "owner", token="hf_user_mallory")
    board = load_board(repos["results"])
    assert build_table(board, rows=RowKind.VERIFIED).rows == []
    assert len(build_table(board).rows) == 1  # shown, as self-reported
    # The same files committed by the owner's account are verified.
    path = verified_path(request, pin)
    files = {p: HfApi().hf_hub_download(repos["results"], p, repo_type="dataset")
             for p in (path, path[:-5] + ".predictions.parquet", path[:-5] + ".verification.json")}
    HfApi(token="hf_user_owner").create_commit(repos["results"], repo_type="dataset", commit_message="re-sign",
                                               operations=[CommitOperationAdd(p, open(f, "rb").read() + (
                                                   b"\n" if p.endswith("verification.json") else b""))
                                                           for p, f in files.items()])
    board = load_board(repos["results"])
    assert len(build_table(board, rows=RowKind.VERIFIED).rows) == 1


def test_jobs_mode_two_shards_relaunches_only_the_failed_one(hub_server, worker_assets, monkeypatch):
    """``board-worker --jobs --shards 2`` on the local Hub's fake Jobs API (a job is a subprocess):
    shard 1's first job is preempted; only it is relaunched; the merged predictions give the same
    numbers as one local run, and the verification record lists every job."""
    from huggingface_hub import HfApi, hf_hub_download

    from imagenet_e.leaderboard.jobs_worker import evaluate_with_jobs
    from imagenet_e.leaderboard.requests import RequestStatus, read_requests, submit_model_request
    from imagenet_e.leaderboard.table import NOTES_COLUMN, build_table, load_board
    from imagenet_e.leaderboard.worker import evaluate_locally, run_worker
    from functools import partial

    repos = _hub_setup(worker_assets, uuid.uuid4().hex[:8])
    submit_model_request(repos["requests"], repos["good"], token="hf_user_author")
    (request,) = read_requests(repos["requests"])
    hub_server.__dict__.setdefault("jobs", __import__("helpers.fake_jobs", fromlist=["FakeJobs"]).FakeJobs())
    hub_server.jobs.fail_next("shard", "1-of-2")
    evaluate = partial(evaluate_with_jobs, staging_repo=repos["requests"], flavor="cpu-upgrade", shards=2,
                       launcher=("python", "-m", "imagenet_e.cli"), poll_s=0.2, timeout=300, batch_size=4, token="hf_user_owner", log=print)
    (final,) = run_worker(repos["requests"], repos["results"], evaluate=evaluate, once=True, token="hf_user_owner")
    assert final.status is RequestStatus.FINISHED, final.reason
    jobs = list(hub_server.jobs.jobs.values())
    assert sorted(j.spec["labels"]["shard"] for j in jobs) == ["0-of-2", "1-of-2", "1-of-2"]
    assert [j.stage for j in jobs].count("ERROR") == 1 and all(j.spec["flavor"] == "cpu-upgrade" for j in jobs)
    # Each shard is the one in-job evaluation verb of `imagenet-e jobs`, on original + its share of the configs.
    shard_configs = set()
    for job in jobs:
        command = job.spec["command"]
        assert command[command.index("jobs"):][:2] == ["jobs", "evaluate-model"], command
        configs = command[command.index("--configs") + 1].split(",")
        assert configs[0] == "original" and command[command.index("--model-revision") + 1] == request.revision
        shard_configs.update(configs)
    assert shard_configs == set(worker_assets["configs"])
    assert set(final.jobs) == {j.id for j in jobs}
    record_path = final.results_path[: -len(".json")] + ".verification.json"
    record = json.loads(open(hf_hub_download(repos["results"], record_path, repo_type="dataset")).read())
    assert sorted(record["job_ids"]) == sorted(j.id for j in jobs)

    board = load_board(repos["results"])
    (entry,) = board.entries
    assert build_table(board).column(NOTES_COLUMN) == ["✔ verified by owner"]
    local = evaluate_locally(request, board.pin, Path(tempfile.mkdtemp()), n_bootstrap=20, batch_size=4)
    local_doc = json.loads(local.results.read_text())
    assert entry.accuracy == local_doc["metrics"]["accuracy"] and entry.flip_rate == local_doc["metrics"]["flip_rate"]
    assert HfApi().file_exists(repos["requests"], f"staging/{request.request_id}/shard-1-of-2/predictions.parquet",
                               repo_type="dataset")


def test_self_reported_files_of_public_models_are_spot_checked(hub_server, worker_assets, tmp_path, monkeypatch,
                                                               capsys):
    """The worker re-runs a seeded sample of a self-reported file's (public) model: an honest file
    reads ``spot-checked k/k agree``; predictions copied from the labels under the same model read
    ``spot-check disagrees``."""
    import dataclasses

    import numpy as np

    from imagenet_e.cli import main
    from imagenet_e.eval.predictions import predictions_bytes, predictions_path_for, read_predictions, sha256_bytes
    from imagenet_e.eval.runner import evaluate_model
    from imagenet_e.eval.scoring import results_from_predictions
    from imagenet_e.leaderboard.spot_check import sample_sources
    from imagenet_e.leaderboard.table import NOTES_COLUMN, RowKind, build_table, load_board
    from test_leaderboard_attacks import _commit_submission

    repos = _hub_setup(worker_assets, uuid.uuid4().hex[:8])
    honest = tmp_path / "honest" / "results.json"
    evaluate_model(repos["good"], repos["dataset"], output=honest, n_bootstrap=20, progress=False, num_workers=0,
                   batch_size=4)
    table = read_predictions(predictions_path_for(honest))
    top5 = table.top5.copy()
    top5[:, 0] = table.labels
    copied = dataclasses.replace(table, subset_codes=None, top1=table.labels.copy(), top5=top5)
    data = predictions_bytes(copied)
    cheat = tmp_path / "cheat" / "copied.json"
    cheat.parent.mkdir()
    predictions_path_for(cheat).write_bytes(data)
    doc = results_from_predictions(read_predictions(data), file_name=predictions_path_for(cheat).name,
                                   sha256=sha256_bytes(data))
    cheat.write_text(json.dumps(doc))
    assert not np.array_equal(table.top1, table.labels)  # the copied file is really better than the model
    monkeypatch.setenv("HF_TOKEN", "hf_user_author")
    assert main(["submit", str(honest), "--repo-id", repos["results"]]) == 0
    _commit_submission(repos["results"], cheat, "results/cheat/copied", "hf_user_mallory")
    monkeypatch.setenv("HF_TOKEN", "hf_user_owner")
    assert main(["board-worker", "--requests", repos["requests"], "--results", repos["results"], "--once"]) == 1
    assert "the requests repo" in capsys.readouterr().err  # a missing requests repo: one clear line
    from huggingface_hub import HfApi

    HfApi().create_repo(repos["requests"], repo_type="dataset")
    assert main(["board-worker", "--requests", repos["requests"], "--results", repos["results"], "--once",
                 "--spot-check", "3", "--batch-size", "4"]) == 0
    assert "2 self-reported file(s) spot-checked" in capsys.readouterr().out
    board = load_board(repos["results"])
    view = build_table(board, rows=RowKind.SELF_REPORTED, show_details=True)
    notes = dict(zip(view.column("Results file"), view.column(NOTES_COLUMN)))
    assert notes["results/cheat/copied.json"].startswith("self-reported · spot-check disagrees (")
    honest_note = next(v for k, v in notes.items() if k != "results/cheat/copied.json")
    assert honest_note == "self-reported · spot-checked 12/12 agree"  # 3 sources x 4 configs
    # The sample is seeded by the commit that added the file: the same commit, the same sources.
    ids = [f"s{i}" for i in range(50)]
    assert sample_sources(ids, "ab" * 20, 5) == sample_sources(ids, "ab" * 20, 5) != sample_sources(ids, "cd" * 20, 5)
