"""A file that reached the results repo through a merged pull request is the PR author's, not the
owner's who merged it: otherwise every merged file has one submitter, and a forged PR merged after an
honest one supersedes it. When the Hub cannot tell who opened the PR, the row says "via PR" and never
supersedes another row."""

from __future__ import annotations

import json
import uuid

import pytest

from imagenet_e.leaderboard import identity
from imagenet_e.leaderboard.table import NOTES_COLUMN, build_table, load_board

from helpers.leaderboard import commit_submission, default_dataset, push_labels, write_submission


@pytest.fixture
def merged_board(hub_server, tmp_path):
    """owner's results repo pinned to owner's dataset; alice and mallory each submit the same model
    through a PR (mallory's later, every prediction wrong); the owner merges both."""
    from huggingface_hub import HfApi

    owner = HfApi(token="hf_user_owner")
    tag = uuid.uuid4().hex[:8]  # the local Hub lives for the whole session
    real = push_labels(owner, f"owner/pr-imagenet-e-{tag}", default_dataset())
    results = f"owner/pr-results-{tag}"
    owner.create_repo(results, repo_type="dataset")
    owner.upload_file(path_or_fileobj=f"dataset: owner/pr-imagenet-e-{tag}\nrevision: {real}\n".encode(),
                      path_in_repo="board.yaml", repo_id=results, repo_type="dataset")
    hub = dict(dataset_id=f"owner/pr-imagenet-e-{tag}", dataset_revision=real)
    honest = write_submission(tmp_path / "a", "honest", default_dataset(), "org/net", original=0.7, mean_drop=0.05,
                              **hub)
    forged = write_submission(tmp_path / "m", "forged", default_dataset(), "org/net", original=0.0, mean_drop=0.0,
                              created_at="2099-01-01T00:00:00Z", **hub)
    first = commit_submission(results, honest, "results/org--net/alice", "hf_user_alice", create_pr=True)
    second = commit_submission(results, forged, "results/org--net/mallory", "hf_user_mallory", create_pr=True)
    for number in (first, second):
        owner.merge_pull_request(results, number, repo_type="dataset")
    identity._MERGED.clear()
    yield results
    identity._MERGED.clear()


def test_a_merged_pr_is_attributed_to_its_author(merged_board):
    board = load_board(merged_board)
    by_submitter = {e.submitter: e for e in board.entries}
    assert set(by_submitter) == {"alice", "mallory"}  # not "owner" twice: nothing superseded
    assert by_submitter["alice"].original_accuracy == 0.7 and by_submitter["alice"].via_pr == 1
    assert by_submitter["mallory"].via_pr == 2 and not any("superseded" in s.reason for s in board.skipped)
    notes = build_table(board, show_details=True).column(NOTES_COLUMN)
    assert sorted(n.split(" · ")[-1] for n in notes) == ["via PR #1", "via PR #2"]


def test_when_the_hub_cannot_tell_the_row_says_via_pr_and_supersedes_nothing(merged_board, monkeypatch):
    from huggingface_hub import HfApi

    def unreadable(self, *args, **kwargs):
        raise RuntimeError("discussions are not readable")

    monkeypatch.setattr(HfApi, "get_discussion_details", unreadable)
    board = load_board(merged_board)
    assert [e.submitter for e in board.entries] == [None, None]  # never the owner who merged them
    assert sorted(e.via_pr for e in board.entries) == [1, 2]
    assert not any("superseded" in s.reason for s in board.skipped)
    view = build_table(board, show_details=True)
    assert sorted(view.column("Submitted by")) == ["via PR #1", "via PR #2"]
    assert all("(submitter unknown)" in n for n in view.column(NOTES_COLUMN))
    assert 0.7 in [e.original_accuracy for e in board.entries]  # the honest row is still shown


def test_a_verification_record_merged_through_a_pr_is_not_the_owners(merged_board, tmp_path):
    """Attack: mallory's PR carries a results file and a ``.verification.json`` naming its bytes; the
    owner merges it. The record's last commit is the owner's merge, but it came from mallory: the row
    stays self-reported."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from imagenet_e.eval.dataset_labels import file_digest
    from imagenet_e.leaderboard.loading import VERIFICATION_SUFFIX

    owner = HfApi(token="hf_user_owner")
    pin = owner.hf_hub_download(merged_board, "board.yaml", repo_type="dataset")
    dataset_id = open(pin).read().split()[1]
    claimed = write_submission(tmp_path / "v", "claimed", default_dataset(), "evil/verified-net", original=0.95,
                               mean_drop=0.0, dataset_id=dataset_id, dataset_revision=owner.dataset_info(dataset_id).sha)
    number = commit_submission(merged_board, claimed, "verified/evil", "hf_user_mallory", create_pr=True)
    record = {"results_sha256": file_digest(claimed), "worker": "owner", "requested_by": "mallory"}
    HfApi(token="hf_user_mallory").create_commit(
        merged_board, repo_type="dataset", revision=f"refs/pr/{number}", commit_message="record",
        operations=[CommitOperationAdd(f"verified/evil{VERIFICATION_SUFFIX}", json.dumps(record).encode())])
    owner.merge_pull_request(merged_board, number, repo_type="dataset")
    board = load_board(merged_board)
    claimed_row = next(e for e in board.entries if e.model_id == "evil/verified-net")
    assert not claimed_row.verified and claimed_row.submitter == "mallory"
