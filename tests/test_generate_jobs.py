"""``imagenet-e jobs generate`` on the local Hub server's fake Jobs API (a job is a subprocess).

Two shards of a tiny Hub dataset (4 photos, 2 chunks, GrabCut masks, cpu backend): the first launch
loses shard 1 (its machine is "preempted"), shard 0 is committed to the staging repo; the rerun
launches shard 1 alone, merges, pushes, and the dataset equals a single-process ``generate`` file for file.
"""

from __future__ import annotations

import hashlib
import shlex
import uuid
from pathlib import Path

import pytest

from imagenet_e.cli import main
from test_any_dataset import FAST, hub_dataset

REPO = "ns/tiny-fish-jobs"
SOURCE = ("--hf-dataset", REPO, "--split", "test", "--image-column", "img", "--auto-mask", "grabcut")


def _jobs_args(out: Path, staging: str, *extra: str) -> list[str]:
    return ["jobs", "generate", *SOURCE, "--out", str(out), *FAST, "--hf-jobs", "2", "--flavor", "cpu-upgrade",
            "--staging-repo", staging, "--job-launcher", "python -m imagenet_e.cli", "--poll", "0.2",
            "--wait-timeout", "300", *extra]


def _digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture
def fake_jobs(hub_server):
    """A fresh fake Jobs API for this test (others count the jobs they see), its subprocesses stopped after."""
    from helpers.fake_jobs import FakeJobs

    previous = hub_server.__dict__.pop("jobs", None)
    hub_server.jobs = jobs = FakeJobs()
    try:
        yield jobs
    finally:
        jobs.stop()
        del hub_server.jobs
        if previous is not None:
            hub_server.jobs = previous


def test_two_jobs_equal_a_single_run_and_a_rerun_relaunches_only_the_failed_shard(hub_server, fake_jobs, tmp_path,
                                                                                    capsys):
    from huggingface_hub import HfApi

    hub_dataset(REPO)
    single = tmp_path / "single" / "out"
    pushed = f"ns/imagenet-e-{uuid.uuid4().hex[:8]}"  # the card names the repo: both runs push to it
    assert main(["generate", *SOURCE, "--out", str(single), *FAST, "--repo-id", pushed]) == 0
    staging = f"ns/staging-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "jobs" / "out"
    before = set(fake_jobs.jobs)

    fake_jobs.fail_next("shard", "1-of-2")
    assert main(_jobs_args(out, staging, "--attempts", "1")) == 1
    err = capsys.readouterr().err
    assert "1 job(s) failed: job 1: ERROR" in err and "run the same command again" in err, err[-3000:]
    first = [fake_jobs.jobs[j] for j in fake_jobs.jobs if j not in before]
    assert sorted(j.spec["labels"]["shard"] for j in first) == ["0-of-2", "1-of-2"]
    assert all(j.spec["flavor"] == "cpu-upgrade" for j in first)
    staged = [f for f in HfApi().list_repo_files(staging, repo_type="dataset") if f.endswith("shard.json")]
    assert len(staged) == 1 and "/shard-0-of-2/" in staged[0]  # shard 0 committed, shard 1 absent
    assert not out.exists()

    seen = set(fake_jobs.jobs)
    assert main(_jobs_args(out, staging, "--repo-id", pushed)) == 0  # same run: --repo-id is the launcher's
    captured = capsys.readouterr()
    rerun = [fake_jobs.jobs[j] for j in fake_jobs.jobs if j not in seen]
    assert [j.spec["labels"]["shard"] for j in rerun] == ["1-of-2"]  # the completed shard is never redone
    assert rerun[0].stage == "COMPLETED"
    assert "1 of 2 shard(s) already in" in captured.err and f"job 1 ({rerun[0].id}): COMPLETED" in captured.err
    assert captured.out.startswith(f"wrote {out}: 4 sources")

    # Every file of the merged dataset (parquet, README, manifest, json) equals the single-process run's.
    files = _digests(out)
    assert files == _digests(single)
    assert {"README.md", "manifest.jsonl"} <= set(files) and sum(name.endswith(".parquet") for name in files) >= 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # work and download folders removed
    from huggingface_hub import hf_hub_download

    assert "pushed to" in captured.out
    remote = set(HfApi().list_repo_files(pushed, repo_type="dataset"))
    assert {name for name in files if name.endswith(".parquet") or name == "README.md"} <= remote
    readme = hf_hub_download(pushed, "README.md", repo_type="dataset")
    assert hashlib.sha256(Path(readme).read_bytes()).hexdigest() == files["README.md"]


def test_dry_run_prints_commands_a_user_can_run_by_hand(hub_server, fake_jobs, tmp_path, capsys, monkeypatch):
    """The printed job command, run here by hand, commits that shard to the staging repo."""
    from huggingface_hub import HfApi

    hub_dataset(REPO)
    staging = f"ns/staging-{uuid.uuid4().hex[:8]}"
    before = len(fake_jobs.jobs)
    assert main(_jobs_args(tmp_path / "out", staging, "--dry-run")) == 0
    lines = capsys.readouterr().out.splitlines()
    commands = [shlex.split(line) for line in lines if not line.startswith("#")]
    assert len(commands) == 2 and len(fake_jobs.jobs) == before  # nothing launched
    assert commands[0][:5] == ["python", "-m", "imagenet_e.cli", "jobs", "generate-shard"]
    assert commands[1][-7:] == ["--num-shards", "2", "--shard-index", "1", "--out", "imagenet-e-shard", "--no-progress"]
    assert str(tmp_path) not in " ".join(commands[0])  # nothing of this machine's disk reaches a job
    assert "--hf-jobs" not in commands[0] and "--flavor" not in commands[0]

    monkeypatch.chdir(tmp_path)
    assert main(commands[0][3:]) == 0
    assert "shard 1/2: committed 1 chunk(s)" in capsys.readouterr().out
    files = HfApi().list_repo_files(staging, repo_type="dataset")
    folder = next(f for f in files if f.endswith("shard-0-of-2/shard.json")).rsplit("/", 1)[0]
    assert sorted(f[len(folder) + 1:] for f in files if f.startswith(folder)) == [
        "chunks/chunk-000000.parquet", "inputs.json", "provenance.json", "run.json", "shard.json"]


@pytest.mark.parametrize("extra, message", [
    (("--image-folder", "{tmp}"), "--image-folder: Hugging Face Jobs cannot read this machine's disk"),
    (("--hf-dataset", "{tmp}", "--split", "test"), "is a folder on this machine"),
    (("--hf-dataset", REPO, "--split", "test", "--inpainter", "diffusers:{tmp}"), "--inpainter diffusers:"),
    (("--hf-dataset", REPO, "--split", "test", "--image-col", "img"), "--image-col: spell the flag out in full"),
])
def test_inputs_a_job_cannot_read_are_refused_naming_the_flag(tmp_path, capsys, extra, message):
    argv = ["jobs", "generate", *(a.format(tmp=tmp_path) for a in extra), "--auto-mask", "grabcut",
            "--out", str(tmp_path / "out"), "--hf-jobs", "2", "--staging-repo", "ns/x", "--dry-run"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("imagenet-e jobs: error: ") and message in err, err



def test_a_one_shard_job_commits_its_chunks_and_leaves_the_merge_to_the_launcher(hub_server, tmp_path, capsys):
    from huggingface_hub import HfApi

    hub_dataset(REPO)
    staging, out = f"ns/staging-{uuid.uuid4().hex[:8]}", tmp_path / "shard-out"
    assert main(["jobs", "generate-shard", "--staging-repo", staging, "--staging-path", "generate/by-hand", *SOURCE,
                 *FAST, "--num-shards", "1", "--shard-index", "0", "--out", str(out)]) == 0
    assert "shard 1/1: committed 2 chunk(s)" in capsys.readouterr().out
    assert not out.exists() and not (tmp_path / "shard-out.work").exists()  # not merged here; work removed
    files = HfApi().list_repo_files(staging, repo_type="dataset")
    assert sorted(f for f in files if "/chunks/" in f) == [
        f"generate/by-hand/shard-0-of-1/chunks/chunk-00000{k}.parquet" for k in (0, 1)]


def test_a_staged_chunk_that_changed_is_named_and_nothing_is_merged(hub_server, fake_jobs, tmp_path, capsys,
                                                                     monkeypatch):
    """The shard, run by hand from the printed command, is in the staging repo: the launcher launches no
    job for it; a chunk altered there after its marker was written is refused by name."""
    from huggingface_hub import HfApi

    hub_dataset(REPO)
    staging, out = f"ns/staging-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    args = _jobs_args(out, staging)
    args[args.index("--hf-jobs") + 1] = "1"
    assert main([*args, "--dry-run"]) == 0
    (command,) = [shlex.split(line) for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    monkeypatch.chdir(tmp_path)
    assert main(command[3:]) == 0
    folder = command[command.index("--staging-path") + 1] + "/shard-0-of-1"
    HfApi().upload_file(path_or_fileobj=b"not the chunk", path_in_repo=f"{folder}/chunks/chunk-000001.parquet",
                        repo_id=staging, repo_type="dataset")
    before = len(fake_jobs.jobs)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert len(fake_jobs.jobs) == before and "1 of 1 shard(s) already in" in err  # the shard is never redone
    assert f"{folder}/chunks/chunk-000001.parquet is missing or does not match its sha256" in err, err[-2000:]
    assert not out.exists() and not (tmp_path / "out.work").exists()
