"""What one request costs the board: ``submit --model`` -> ``board-worker --once`` -> verified row.

On the local Hub-compatible server (tests/hub_server.py, 127.0.0.1, with its fake Jobs API: a job is
a subprocess on this machine), against the demo's dataset (``imagenet-e demo --out DIR`` writes
``DIR/dataset``: 3 photos x 12 subsets) or, without ``--dataset``, a random 8-source dataset. The
model is a tiny ResNet built from a config (no weights can be downloaded here), so the figures are
the board's own cost per model (Hub round trips, checks, merge) plus a negligible forward pass;
a real model adds its evaluation time on the chosen hardware. Prints wall seconds for:

(a) local worker: request -> evaluation in-process -> checked -> verified commit -> request finished;
(b) Jobs mode, --shards 2: two jobs (subprocesses) -> shard predictions staged -> merged -> verified.

    imagenet-e demo --out /tmp/demo && python benchmarks/bench_board_worker.py --dataset /tmp/demo/dataset
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from helpers.ports import free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=None, help="a Hub-layout dataset folder (default: a random one)")
    args = parser.parse_args()
    port, tmp = free_port(), Path(tempfile.mkdtemp(prefix="bench-board-worker-"))
    os.environ.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp / "hf"), HF_HUB_DISABLE_XET="1",
                      HF_UPDATE_DOWNLOAD_COUNTS="0", HF_TOKEN="hf_user_owner", HF_HUB_DISABLE_PROGRESS_BARS="1",
                      PYTHONPATH=os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    import datasets.config
    from huggingface_hub import HfApi
    from hub_server import start_hub_server

    from imagenet_e.leaderboard.jobs_worker import evaluate_with_jobs
    from imagenet_e.leaderboard.requests import RequestStatus, submit_model_request
    from imagenet_e.leaderboard.worker import evaluate_locally, run_worker
    from imagenet_e_dataset.labels import synonyms
    from test_eval_runner import N_SOURCES, _images, _save, _tiny_resnet, _write_dataset

    datasets.config.USE_PARQUET_EXPORT = False
    server = start_hub_server(port, tmp / "hub")
    try:
        dataset = Path(args.dataset) if args.dataset else _write_dataset(
            tmp / "dataset", {c: v[:2] * (N_SOURCES // 2) for c, v in _images().items()}, list(range(N_SOURCES)))
        api = HfApi()
        api.create_repo("owner/bench", repo_type="dataset")
        api.upload_folder(folder_path=str(dataset), repo_id="owner/bench", repo_type="dataset")
        api.create_repo("owner/results", repo_type="dataset")
        api.upload_file(path_or_fileobj=b"dataset: owner/bench\n", path_in_repo="board.yaml", repo_id="owner/results",
                        repo_type="dataset")
        api.create_repo("owner/requests", repo_type="dataset")
        model = _save(_tiny_resnet(dict(enumerate(synonyms()))), tmp / "model")
        timings = {}
        for mode, evaluate in (("(a) local worker", partial(evaluate_locally, batch_size=16)),
                               ("(b) Jobs, --shards 2", partial(evaluate_with_jobs, staging_repo="owner/requests",
                                                                shards=2, launcher=("python", "-m", "imagenet_e.cli"),
                                                                poll_s=0.2, batch_size=16, log=lambda m: None))):
            repo = f"org/tiny-{len(timings)}"
            api.create_repo(repo)
            api.upload_folder(folder_path=str(model), repo_id=repo)
            start = time.perf_counter()
            submit_model_request("owner/requests", repo)
            (final,) = run_worker("owner/requests", "owner/results", evaluate=evaluate, once=True, log=lambda m: None)
            timings[mode] = time.perf_counter() - start
            assert final.status is RequestStatus.FINISHED, final.reason
    finally:
        server.stop()
    load = os.getloadavg()[0]
    print(f"dataset {dataset} ({sum(1 for _ in dataset.rglob('*.parquet'))} parquet files); load average "
          f"{load:.1f}, {os.cpu_count()} CPUs")
    for mode, seconds in timings.items():
        print(f"{mode:22s}: {seconds:6.1f} s per request (submit -> verified row)")


if __name__ == "__main__":
    main()
