"""A Hub dataset staged under a launcher: two real ``imagenet-e generate --hf-dataset`` processes.

Under torchrun / accelerate launch (``WORLD_SIZE``/``RANK`` in the environment, as the launcher
exports them; generate needs no process group) rank 0 streams the split into
``<out>.work/hf-source/`` and the other ranks wait for its ``complete.json``. The dataset the two
ranks make must equal a single-process run's, the split must be streamed once, and a rank whose
rank 0 never stages must give up after ``--rank-timeout``, naming rank 0 and the marker it waited for.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from imagenet_e.cli import main
from test_any_dataset import FAST, hub_dataset, manifest

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO = "ns/tiny-fish-launched"


def _args(out: Path, *extra: str) -> list[str]:
    return ["generate", "--hf-dataset", REPO, "--split", "test", "--image-column", "img", "--auto-mask", "grabcut",
            "--out", str(out), *FAST, *extra]


def _rank(rank: int, argv: list[str]) -> subprocess.Popen:
    """One launcher process: the variables torchrun exports, this checkout first on the path."""
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": "2",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "imagenet_e.cli", *argv], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _data_reads(server, since: int) -> list[tuple[str, str, int]]:
    """GETs of the Hub dataset's parquet file (what streaming the split reads) since request ``since``."""
    return [r for r in server.requests[since:] if r[0] == "GET" and f"/{REPO}/" in r[1] and r[1].endswith(".parquet")]


def _parquet(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def test_two_ranks_stage_the_hub_dataset_once_and_match_a_single_run(hub_server, tmp_path):
    hub_dataset(REPO)
    single = tmp_path / "single"
    before = len(hub_server.requests)
    assert main(_args(single)) == 0
    streamed_once = _data_reads(hub_server, before)
    assert streamed_once  # the baseline: what one staging reads

    out = tmp_path / "launched"
    before = len(hub_server.requests)
    ranks = [_rank(1, _args(out, "--rank-timeout", "120")), _rank(0, _args(out, "--rank-timeout", "120"))]
    logs = [p.communicate(timeout=300) for p in ranks]
    for process, (stdout, stderr) in zip(ranks, logs):
        assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
    # Two processes, one staging: the split's data were read exactly as often as by one process.
    assert len(_data_reads(hub_server, before)) == len(streamed_once)
    assert not hub_server.errors

    # Rank 0 wrote the dataset, equal to the single-process run's; rank 1 only generated its chunk.
    assert _parquet(out) == _parquet(single) and _parquet(out)
    assert [m["sha256"] for m in manifest(out)] == [m["sha256"] for m in manifest(single)]
    assert sorted(m["source_id"] for m in manifest(out) if m["subset"] == "original") == [
        f"test-{n:06d}" for n in range(4)]
    (rank1_out, rank1_err), (rank0_out, _) = logs
    assert rank0_out.startswith(f"wrote {out}: 4 sources") and "wrote" not in rank1_out + rank1_err
    assert "committed 1 chunk(s) (0 already done) of 2" in rank1_err  # rank 1 did its share, nothing more
    assert sorted(p.name for p in tmp_path.iterdir()) == ["launched", "single"]  # work folders removed


def test_a_rank_whose_rank_0_never_stages_gives_up_naming_rank_0_and_the_marker(hub_server, tmp_path):
    hub_dataset(REPO)
    out = tmp_path / "out"
    before = len(hub_server.requests)
    rank1 = _rank(1, _args(out, "--rank-timeout", "1.5"))
    stdout, stderr = rank1.communicate(timeout=120)
    assert rank1.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("imagenet-e generate: error: ")]
    assert len(lines) == 1, stderr[-3000:]
    error = lines[0]
    marker = tmp_path / "out.work" / "hf-source" / "complete.json"
    assert "rank 0" in error and str(marker) in error and "1.5 s" in error and "--rank-timeout" in error
    assert not _data_reads(hub_server, before)  # the waiting rank never streamed the split itself
    assert not marker.exists() and not out.exists()


def test_a_grabcut_mask_does_not_depend_on_the_masks_made_before_it():
    """Why the launched run above can equal the single one: rank 1 makes row 2's mask first, the single
    process third (GrabCut's k-means draws from OpenCV's global RNG)."""
    import io

    import numpy as np
    from PIL import Image

    from generation.masks import grabcut_mask
    from helpers.layouts import shape_photo

    photos = []
    for n in range(1, 4):
        sink = io.BytesIO()
        Image.fromarray(shape_photo(n)[0]).save(sink, format="JPEG")
        photos.append(np.asarray(Image.open(sink).convert("RGB")))
    first = grabcut_mask(photos[2])
    for photo in photos:
        grabcut_mask(photo)
    assert np.array_equal(grabcut_mask(photos[2]), first) and 0 < first.mean() < 1
