"""Hostile inputs to ``imagenet-e submit`` and the leaderboard (issue 14, items 13 and 14), on the local Hub.

``submit --model-repo`` to a repo that does not exist is refused before anything is committed; a
results file nested ~1000 levels deep is one bad file on the board, listed with its reason, and a
one-line refusal from ``submit``.
"""

from __future__ import annotations

import json
import uuid

import pytest

from hostile_helpers import cli, cli_error
from imagenet_e.leaderboard.table import MODEL_COLUMN, build_table
from helpers.leaderboard import default_dataset, load, make_results, write_results, write_submission


def test_submit_to_a_missing_model_repo_commits_nothing(hub_server, tmp_path, capsys):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url)
    results_repo = f"hostile/results-{uuid.uuid4().hex[:8]}"
    api.create_repo(results_repo, repo_type="dataset")
    commits_before = len(api.list_repo_commits(results_repo, repo_type="dataset"))
    path = write_submission(tmp_path, "r", default_dataset(), "org/net", original=0.8, mean_drop=0.1)
    dataset = ["--dataset", str(default_dataset())]  # the local folder the results name (the board checks its labels)
    error = cli_error(capsys, "submit", str(path), "--repo-id", results_repo, "--model-repo", "org/no-such-model",
                      "--dataset-id", "imagenet-e/imagenet-e", *dataset)
    assert "org/no-such-model" in error and "does not exist" in error and "nothing was submitted" in error
    assert len(api.list_repo_commits(results_repo, repo_type="dataset")) == commits_before
    assert not [f for f in api.list_repo_files(results_repo, repo_type="dataset") if f.startswith("results/")]

    # The same submission without the wrong model repo goes through.
    assert cli(capsys, "submit", str(path), "--repo-id", results_repo, *dataset)[0] == 0


def _nested(depth: int) -> str:
    """A results file whose model link is a list nested ``depth`` levels deep (valid JSON, hostile shape)."""
    doc = make_results("org/deep", original=0.8, mean_drop=0.1)
    text = json.dumps(doc)
    return text.replace('"link": null', '"link": ' + "[" * depth + "]" * depth)


@pytest.mark.parametrize("depth", [990, 1000, 5000, 100_000])
def test_a_deeply_nested_results_file_is_one_bad_file_on_the_board(tmp_path, depth):
    write_submission(tmp_path, "results/good", default_dataset(), "org/good", original=0.8, mean_drop=0.1)
    write_results(tmp_path, "results/deep.json", _nested(depth))
    board = load(tmp_path)
    assert build_table(board).column(MODEL_COLUMN) == ["org/good"]
    (skipped,) = board.skipped
    assert skipped.source == "results/deep.json" and 0 < len(skipped.reason) <= 300  # listed, with a short reason


@pytest.mark.parametrize("depth", [990, 1000, 100_000])
def test_submit_refuses_a_deeply_nested_file_in_one_line(tmp_path, capsys, depth):
    path = write_results(tmp_path, "deep.json", _nested(depth))
    error = cli_error(capsys, "submit", str(path), "--repo-id", "ns/results")
    assert str(path) in error and len(error) < 500


def test_a_failed_model_repo_commit_after_the_results_says_the_results_are_in(hub_server, tmp_path, capsys,
                                                                              monkeypatch):
    """Issue 24 item 4: the results commit succeeds, the model repo's .eval_results commit fails (a
    permission error from the Hub): the error says the results are in, with their URL and commit,
    and what failed (not only "check the permissions")."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=hub_server.url)
    results_repo = f"hostile/results-{uuid.uuid4().hex[:8]}"
    model_repo = f"hostile/model-{uuid.uuid4().hex[:8]}"
    api.create_repo(results_repo, repo_type="dataset")
    api.create_repo(model_repo)
    real_commit = HfApi.create_commit

    def refuse_model_repo(self, repo_id, *args, **kwargs):
        if repo_id == model_repo:  # the Hub refusing the write, as it does for a repo the token cannot write
            import httpx

            response = httpx.Response(403, request=httpx.Request("POST", f"{hub_server.url}/api/models/{repo_id}/commit/main"))
            raise HfHubHTTPError("403 Forbidden: you do not have write access to this repo", response=response)
        return real_commit(self, repo_id, *args, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", refuse_model_repo)
    path = write_submission(tmp_path, "r", default_dataset(), "org/net", original=0.8, mean_drop=0.1)
    error = cli_error(capsys, "submit", str(path), "--repo-id", results_repo, "--model-repo", model_repo,
                      "--dataset-id", "imagenet-e/imagenet-e", "--dataset", str(default_dataset()))
    head = api.list_repo_commits(results_repo, repo_type="dataset")[0].commit_id
    assert "the results are in" in error and f"commit {head}" in error and results_repo in error
    assert model_repo in error and "403 Forbidden" in error
    assert any(f.endswith(".json") for f in api.list_repo_files(results_repo, repo_type="dataset"))
