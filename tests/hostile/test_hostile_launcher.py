"""Faults under the real launcher (issue 14): ``torchrun --nproc_per_node 2`` on the CPU (gloo), one rank
killed with SIGKILL mid-run, the same command run again.

``generate`` must then give a dataset byte-identical to a single-process run; ``evaluate`` must give
the same results as a single-process run. Tiny inputs, 64 px: these are the slowest hostile tests
(several interpreter start-ups each), marked ``slow`` and still run in CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile_helpers import REPO, free_port, tree
from helpers.layouts import write_layout
from test_hostile_evaluate import write_dataset

pytestmark = pytest.mark.slow


def _env(*extra_paths: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([*map(str, extra_paths), str(REPO)]),
            **extra}


def _torchrun(*argv: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(free_port()), "--monitor_interval", "0.2", "-m", "imagenet_e.cli", *argv]


def _children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (the launcher's workers), from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


def _wait_for(condition, process: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the launch ended before {what}"
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.01)


def _digest(folder: Path) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in tree(folder).items()}


def test_generate_rank_killed_mid_run_then_rerun_is_byte_identical(tmp_path):
    layout = write_layout(tmp_path / "in", range(1, 5), bad=False)
    common = ["generate", "--images", str(layout["images"]), "--masks", str(layout["masks"]), "--subsets",
              "size_full,position_random,background_0", "--steps", "30", "--edit-option", "resolution=64",
              "--chunk-size", "1", "--batch-size", "1", "--no-progress", "--rank-timeout", "120"]
    single = tmp_path / "single"
    proc = subprocess.run([sys.executable, "-m", "imagenet_e.cli", *common, "--out", str(single)], env=_env(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    out = tmp_path / "launched"
    chunks = tmp_path / "launched.work" / "chunks"
    launch = subprocess.Popen(_torchrun(*common, "--out", str(out)), env=_env(), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Chunks 1 and 3 are rank 1's: kill it once its first chunk is committed, while it works on the second.
        _wait_for(lambda: (chunks / "chunk-000001.parquet").exists(), launch, 300, "rank 1 committed a chunk")
        (rank1,) = [pid for pid in _children(launch.pid) if _rank_of(pid) == 1]
        os.kill(rank1, signal.SIGKILL)
        log, _ = launch.communicate(timeout=120)
    finally:
        if launch.poll() is None:
            launch.kill()
    assert launch.returncode != 0, log[-3000:]
    assert not (chunks / "chunk-000003.parquet").exists() and not out.exists()  # killed mid-run, nothing published

    rerun = subprocess.run(_torchrun(*common, "--out", str(out)), env=_env(), cwd=tmp_path, capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert _digest(out) == _digest(single)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "launched", "single"]  # no work folder, no temporaries


SLOW_MODEL = '''
import os
import time
from pathlib import Path

import torch
from torch import nn
from imagenet_e.eval.preprocess import ResizeCropNormalize


class Slow(nn.Module):
    """A tiny classifier that takes its time, and tells the test which process rank 1 is once it scores."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(8, 1000))

    def forward(self, x):
        marker = os.environ.get("RANK1_MARKER")
        if marker and os.environ.get("RANK") == "1":
            Path(marker).write_text(str(os.getpid()))
            time.sleep(0.4)
        return self.net(x)


def build():
    return Slow(), ResizeCropNormalize(resize=36, crop=32), "imagenet"
'''


def test_evaluate_rank_killed_mid_run_then_rerun_gives_the_same_results(tmp_path, monkeypatch):
    from imagenet_e.eval.runner import evaluate_model

    (tmp_path / "slow_model.py").write_text(SLOW_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    dataset = write_dataset(tmp_path / "dataset")
    single = evaluate_model("slow_model:build", dataset, batch_size=1, num_workers=0, n_bootstrap=100, progress=False,
                            output=tmp_path / "single" / "results.json")

    out, marker = tmp_path / "results.json", tmp_path / "rank1.pid"
    common = ["evaluate", "--model", "slow_model:build", "--dataset", str(dataset), "--batch-size", "1",
              "--num-workers", "0", "--n-bootstrap", "100", "--output", str(out), "--no-progress", "--rank-timeout", "60"]
    launch = subprocess.Popen(_torchrun(*common), env=_env(tmp_path, RANK1_MARKER=str(marker)), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: marker.exists() and marker.read_text().strip(), launch, 300, "rank 1 started scoring")
        os.kill(int(marker.read_text()), signal.SIGKILL)
        log, _ = launch.communicate(timeout=120)
    finally:
        if launch.poll() is None:
            launch.kill()
    assert launch.returncode != 0, log[-3000:]
    assert not out.exists()  # nothing half-written

    rerun = subprocess.run(_torchrun(*common), env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["environment"]["world_size"] == "2"
    assert doc["metrics"] == single["metrics"] and doc["counts"] == single["counts"]
    assert doc["run"]["skipped"] == single["run"]["skipped"]
    # The per-image predictions are the same rows (the files differ only in the environment they record:
    # world size 2 against 1).
    from imagenet_e.eval.predictions import predictions_path_for, read_predictions

    rows = read_predictions(predictions_path_for(out))
    assert {k: v for k, v in doc["predictions"].items() if k != "sha256"} == {
        k: v for k, v in single["predictions"].items() if k != "sha256"}
    assert rows.configs and len(rows) == single["predictions"]["rows"]
    single_rows = read_predictions(predictions_path_for(tmp_path / "single" / "results.json"))
    for name in ("subsets", "source_ids", "labels", "top1"):
        assert list(getattr(rows, name)) == list(getattr(single_rows, name)), name
