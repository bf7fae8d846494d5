"""``imagenet-e jobs generate``: one generation run as N Hugging Face Jobs, merged on this machine.

The shards are the existing ``--num-shards N --shard-index i`` split of ``imagenet-e generate``
(chunk ``k`` belongs to shard ``k % N``). Job ``i`` runs ``imagenet-e jobs generate-shard`` (a
command a user can run by hand: ``--dry-run`` prints it), which generates shard ``i`` in the job's
own disk and commits the shard's chunks, the run's fingerprint and a ``shard.json`` marker to the
staging dataset repo in ONE commit (``generate/<run key>/shard-i-of-N/``): a shard is in the staging
repo completely or not at all. The launcher (:func:`run_generate_jobs`) launches the shards whose
marker is missing, waits (each job's stage is printed as it changes), relaunches failed ones
(:func:`imagenet_e.hf_jobs.run_jobs`), downloads the staged chunks into ``<out>.work`` and runs the
existing merge, which re-checks the run's fingerprint against its own view of the inputs. A rerun
finds the completed shards' markers and launches only the rest.

Jobs cannot read this machine's disk, so the photos come from a Hub dataset (``--hf-dataset ID``)
and the masks are made in the job (``--auto-mask``); local paths are refused, naming the flag.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from imagenet_e_dataset.atomic import atomic_write_bytes
from imagenet_e_dataset.jsonsafe import canonical_json, to_jsonable

from .common import commit_files, refuse_local_paths, sha256_file

STAGING_ROOT = "generate"
"""Top folder of generation runs in the staging repo (``generate/<run key>/shard-i-of-N/``)."""
SHARD_MARKER = "shard.json"
JOB_OUT = "imagenet-e-shard"
"""``--out`` inside a job (its own disk; only the committed chunks leave it)."""
DEFAULT_LAUNCHER = ("uv", "run", "--with", "imagenet-e[generation]", "imagenet-e")
"""How a job runs the CLI in the default image (uv's): the project installed from PyPI."""
RUN_FILES = ("run.json", "inputs.json", "provenance.json")
"""Work-folder files a shard ships beside its chunks (the merge reads them)."""

LOCAL_ONLY_DESTS = frozenset({"out", "repo_id", "private", "overwrite", "keep_work", "num_shards", "shard_index",
                              "merge", "rank_timeout", "no_progress"})
"""``generate`` flags about this machine's output or the split itself: never passed on to a job."""
LOCAL_SOURCES = {"images": "--images", "image_folder": "--image-folder", "masks": "--masks", "labels": "--labels"}
"""Inputs that are folders or files on this machine, which a job cannot read."""
MODEL_FLAGS = {"unet": "--unet", "classifier": "--classifier", "inpainter": "--inpainter", "auto_mask": "--auto-mask",
               "plugin": "--plugin"}
"""Flags that take a Hub id or a local folder/file (``hf:X``, ``diffusers:X``): only the Hub form reaches a job."""


def shard_folder(staging_path: str, index: int, num_shards: int) -> str:
    """Shard ``index``'s folder in the staging repo."""
    return f"{staging_path}/shard-{index}-of-{num_shards}"


@dataclass(frozen=True)
class GenerateJobsPlan:
    """What the N jobs of one run execute and where they put their shards."""

    generate_argv: tuple[str, ...]
    """The ``generate`` flags every shard gets, as the user wrote them (local-only flags removed)."""
    num_shards: int
    staging_repo: str
    run_key: str
    launcher: tuple[str, ...] = DEFAULT_LAUNCHER

    def __post_init__(self) -> None:
        if self.num_shards < 1:
            raise ValueError(f"--hf-jobs must be >= 1, got {self.num_shards}")

    @property
    def staging_path(self) -> str:
        return f"{STAGING_ROOT}/{self.run_key}"

    def shard_folder(self, index: int) -> str:
        return shard_folder(self.staging_path, index, self.num_shards)

    def shard_command(self, index: int) -> tuple[str, ...]:
        return (*self.launcher, "jobs", "generate-shard", "--staging-repo", self.staging_repo,
                "--staging-path", self.staging_path, *self.generate_argv, "--num-shards", str(self.num_shards),
                "--shard-index", str(index), "--out", JOB_OUT, "--no-progress")


def refuse_local_inputs(args: argparse.Namespace) -> None:
    """Jobs run on other machines: every input must be on the Hub (or made in the job)."""
    given = [flag for dest, flag in LOCAL_SOURCES.items() if getattr(args, dest, None) is not None]
    if given:
        raise ValueError(
            f"{', '.join(given)}: Hugging Face Jobs cannot read this machine's disk. Push the photos as a Hub "
            "image-classification dataset and pass --hf-dataset ID --split S, and make the masks in the jobs with "
            "--auto-mask METHOD (docs/scaling.md); or run the shards yourself with --num-shards/--shard-index")
    if args.hf_dataset is not None and Path(args.hf_dataset).exists():
        raise ValueError(f"--hf-dataset {args.hf_dataset} is a folder on this machine, which Jobs cannot read: "
                         "push it to the Hub (datasets' push_to_hub) and pass its repo id")
    refuse_local_paths(args, MODEL_FLAGS)


def run_key(settings: Any, inputs: Any, num_shards: int) -> str:
    """Names a run's folder in the staging repo: the same settings, source and split give the same key, so a
    rerun finds its completed shards, and a run with other settings never mixes with them."""
    doc = {"settings": settings.fingerprint_doc(), "source": inputs.hub.describe(), "num_shards": num_shards}
    return hashlib.sha256(canonical_json(to_jsonable(doc)).encode()).hexdigest()[:16]


# -- inside a job ----------------------------------------------------------------------------------

def upload_shard(work_root: Path, num_shards: int, shard_index: int, chunks_total: int, *, staging_repo: str,
                 staging_path: str, token: str | bool | None = None) -> str:
    """Commit shard ``shard_index``'s chunks, the run files and the ``shard.json`` marker in one commit."""
    from generation.pipeline import WorkFolder, shard_chunks

    work = WorkFolder(work_root)
    mine = shard_chunks(chunks_total, num_shards, shard_index)
    missing = [work.chunk_path(k).name for k in mine if not work.is_done(k)]
    if missing:
        raise ValueError(f"shard {shard_index} of {num_shards} is not complete ({len(missing)} chunk(s) missing, "
                         f"first {missing[0]}); nothing was uploaded")
    folder = shard_folder(staging_path, shard_index, num_shards)
    files: dict[str, Path | bytes] = {f"{folder}/chunks/{work.chunk_path(k).name}": work.chunk_path(k) for k in mine}
    chunks = {work.chunk_path(k).name: sha256_file(work.chunk_path(k)) for k in mine}
    for name in RUN_FILES:
        if (work.root / name).is_file():  # provenance.json only exists where a chunk was made
            files[f"{folder}/{name}"] = work.root / name
    fingerprint = json.loads(work.run_file.read_text(encoding="utf-8"))["fingerprint"]
    marker = {"shard_index": shard_index, "num_shards": num_shards, "chunks_total": chunks_total,
              "fingerprint": fingerprint, "chunks": chunks}
    files[f"{folder}/{SHARD_MARKER}"] = json.dumps(marker, sort_keys=True, indent=1).encode()
    commit_files(staging_repo, files, f"imagenet-e generate: shard {shard_index + 1}/{num_shards} ({len(mine)} "
                 "chunks)", token=token)
    return folder


# -- on the launching machine ---------------------------------------------------------------------

def collect_shards(plan: GenerateJobsPlan, work_root: Path, *, token: str | bool | None = None) -> int:
    """Download every shard of ``plan`` from the staging repo into the work folder ``work_root``.

    Checks that the shards belong to one run (one fingerprint, one chunk count) and that every chunk
    arrived intact; a work folder left by an earlier launcher is completed, not replaced. Returns the
    number of chunks."""
    from huggingface_hub import HfApi, snapshot_download

    from generation.pipeline import WorkFolder

    revision = HfApi(token=token).dataset_info(plan.staging_repo).sha  # one snapshot for every shard
    download = work_root.parent / f".{work_root.name}.jobs-download"
    snapshot_download(plan.staging_repo, repo_type="dataset", revision=revision, token=token, local_dir=download,
                      allow_patterns=[f"{plan.shard_folder(i)}/*" for i in range(plan.num_shards)])
    markers = []
    for i in range(plan.num_shards):
        marker = download / plan.shard_folder(i) / SHARD_MARKER
        if not marker.is_file():
            raise ValueError(f"shard {i} of {plan.num_shards} is not in {plan.staging_repo} "
                             f"({plan.shard_folder(i)}/{SHARD_MARKER} missing); run the command again")
        markers.append(json.loads(marker.read_text(encoding="utf-8")))
    for key in ("fingerprint", "chunks_total"):
        values = {m[key] for m in markers}
        if len(values) != 1:
            raise ValueError(f"the shards in {plan.staging_repo}/{plan.staging_path} disagree on the run's {key} "
                             f"({sorted(map(str, values))}): the input dataset changed between jobs; pin it with "
                             "--hf-revision and delete that staging folder to start over")
    work = WorkFolder(work_root)
    work.check_is_ours()
    if work.run_file.is_file():
        if json.loads(work.run_file.read_text(encoding="utf-8")).get("fingerprint") != markers[0]["fingerprint"]:
            raise ValueError(f"work folder {work_root} belongs to another run than the jobs' shards; delete it "
                             "or choose another --out")
        target = work_root
    else:
        if work_root.exists():
            work_root.rmdir()  # check_is_ours let it through: empty (anything else is refused above)
        target = work_root.parent / f".{work_root.name}.jobs-assembling"
        shutil.rmtree(target, ignore_errors=True)
        (target / "chunks").mkdir(parents=True)
    for i, marker in enumerate(markers):
        shard = download / plan.shard_folder(i)
        for name, sha in marker["chunks"].items():
            if (target / "chunks" / name).is_file():
                continue
            source = shard / "chunks" / name
            if not source.is_file() or sha256_file(source) != sha:
                raise ValueError(f"{plan.shard_folder(i)}/chunks/{name} is missing or does not match its sha256 in "
                                 f"{SHARD_MARKER}; delete that shard's folder in {plan.staging_repo} to redo it")
            os.replace(source, target / "chunks" / name)  # same file system: a rename, whole or not at all
    if target != work_root:
        for name in reversed(RUN_FILES):  # run.json last: it is what makes the folder a work folder
            source = next((download / plan.shard_folder(i) / name for i in range(plan.num_shards)
                           if (download / plan.shard_folder(i) / name).is_file()), None)
            if source is not None:
                atomic_write_bytes(target / name, source.read_bytes())
        os.rename(target, work_root)
    shutil.rmtree(download, ignore_errors=True)
    return markers[0]["chunks_total"]


def job_specs(plan: GenerateJobsPlan, *, flavor: str, image: str | None, timeout: str | int | None,
              secret: str | None) -> list[Any]:
    from imagenet_e.hf_jobs import DEFAULT_IMAGE, JobSpec

    return [JobSpec(command=plan.shard_command(i), image=image or DEFAULT_IMAGE, flavor=flavor, timeout=timeout,
                    secrets={"HF_TOKEN": secret} if secret else {},
                    labels={"imagenet-e-run": plan.run_key, "shard": f"{i}-of-{plan.num_shards}"})
            for i in range(plan.num_shards)]


def run_generate_jobs(plan: GenerateJobsPlan, *, flavor: str, image: str | None = None,
                      job_timeout: str | int | None = None, wait_timeout: float | None = None, attempts: int = 2,
                      poll_s: float = 10.0, token: str | bool | None = None,
                      log: Callable[[str], None] = print) -> list[str]:
    """Launch the shards not yet in the staging repo, wait, relaunch failed ones; returns the job ids.

    Raises :class:`imagenet_e.hf_jobs.JobsFailed` naming each shard still missing after ``attempts``."""
    from huggingface_hub import HfApi, get_token

    from imagenet_e.hf_jobs import run_jobs

    api = HfApi(token=token)
    api.create_repo(plan.staging_repo, repo_type="dataset", private=True, exist_ok=True)
    secret = token if isinstance(token, str) else get_token()

    def done(i: int) -> bool:
        return api.file_exists(plan.staging_repo, f"{plan.shard_folder(i)}/{SHARD_MARKER}", repo_type="dataset")

    already = [i for i in range(plan.num_shards) if done(i)]
    if already:
        log(f"{len(already)} of {plan.num_shards} shard(s) already in {plan.staging_repo}/{plan.staging_path}: "
            + ", ".join(map(str, already)))
    return run_jobs(job_specs(plan, flavor=flavor, image=image, timeout=job_timeout, secret=secret), done=done,
                    attempts=attempts, timeout=wait_timeout, poll_s=poll_s, token=token, log=log)
