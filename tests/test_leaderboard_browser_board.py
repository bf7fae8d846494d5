"""The board in a real headless browser (issue 22): a verified row, a self-reported row with its
badge, and a failed evaluation request with its reason, as a visitor sees them."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from helpers.leaderboard import DATASET_NAME, default_dataset, write_submission
from helpers.ports import free_port
from test_leaderboard_browser import CHROMIUM, _chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (Debian: apt-get install chromium)"),
]


def test_browser_shows_verified_self_reported_and_failed_requests(hub_server, tmp_path):
    from imagenet_e.leaderboard.app import build_app, launch
    from imagenet_e.leaderboard.loading import VERIFICATION_SUFFIX
    from imagenet_e.leaderboard.requests import EvalRequest, RequestStatus, write_request

    results = tmp_path / "results"
    verified = write_submission(results, "verified/org--checked/main", default_dataset(), "org/checked-net",
                                original=0.8, mean_drop=0.05)
    record = {"worker": "board-bot", "request_id": "r1", "model_commit": "a" * 40,
              "results_sha256": hashlib.sha256(verified.read_bytes()).hexdigest()}
    verified.with_name("main" + VERIFICATION_SUFFIX).write_text(json.dumps(record))
    write_submission(results, "results/org--uploaded/main", default_dataset(), "org/uploaded-net", original=0.9,
                     mean_drop=0.01)
    requests_repo = f"owner/requests-{uuid.uuid4().hex[:8]}"
    from huggingface_hub import HfApi

    HfApi().create_repo(requests_repo, repo_type="dataset")
    failed = EvalRequest(model="org/broken-net", revision="b" * 40, status=RequestStatus.FAILED,
                         reason="ValueError: the model's labels cannot be mapped to ImageNet-1k")
    write_request(requests_repo, failed, message="failed")

    demo = build_app(str(results), datasets={DATASET_NAME: str(default_dataset())}, requests_repo=requests_repo)
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, block=False, quiet=True)
    try:
        run = _chromium(tmp_path, f"http://127.0.0.1:{port}/", "--dump-dom")
    finally:
        demo.close()
    dom = run.stdout
    assert 'id="ie-table"' in dom, f"the app did not render (chromium rc {run.returncode}): {run.stderr[-2000:]}"
    table = dom[dom.index('id="ie-table"'):dom.index('id="ie-other-rows"')]
    assert "org/checked-net" in table and "✔ verified by board-bot" in table  # the verified row, ranked
    assert "org/uploaded-net" not in table  # self-reported rows are never interleaved with verified ones
    others = dom[dom.index('id="ie-other-rows"'):]
    assert "org/uploaded-net" in others and "self-reported</span>" in others  # named, with its badge
    queue = dom[dom.index('id="ie-queue"'):]
    assert "org/broken-net" in queue and "failed" in queue and "cannot be mapped to ImageNet-1k" in queue
