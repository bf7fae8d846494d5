"""Run work as Hugging Face Jobs: launch N commands, wait, relaunch only the ones that failed.

Generic on purpose (the board worker uses it for sharded evaluations; ``generate --hf-jobs`` can
use it for shards of a generation run): a :class:`JobSpec` is a container image, a command, its
environment and secrets, a hardware flavor and labels; :func:`run_jobs` launches every spec not
already done, waits for all of them, and relaunches the failed or missing ones (``done(i)`` says
whether spec *i*'s output arrived) up to ``attempts`` times. Built on ``huggingface_hub.run_job``,
``inspect_job`` and ``fetch_job_logs``; nothing here knows what the commands do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

TERMINAL_STAGES = ("COMPLETED", "CANCELED", "ERROR", "DELETED")
DEFAULT_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"


@dataclass(frozen=True)
class JobSpec:
    """One job: ``command`` run in ``image`` on ``flavor`` hardware."""

    command: tuple[str, ...]
    image: str = DEFAULT_IMAGE
    flavor: str = "cpu-basic"
    env: dict[str, str] = field(default_factory=dict, hash=False)
    secrets: dict[str, str] = field(default_factory=dict, hash=False, repr=False)
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    timeout: str | int | None = None
    """Hub-side limit for the job (``"2h"``, seconds)."""

    def __post_init__(self) -> None:
        if not self.command or not all(isinstance(part, str) and part for part in self.command):
            raise ValueError(f"a job needs a command of non-empty strings, got {self.command!r}")


class JobsFailed(RuntimeError):
    """Some jobs did not complete after every attempt; ``failures`` holds (spec index, stage, log tail)."""

    def __init__(self, failures: list[tuple[int, str, str]]):
        self.failures = failures
        parts = [f"job {i}: {stage}{f' ({tail})' if tail else ''}" for i, stage, tail in failures]
        super().__init__(f"{len(failures)} job(s) failed: " + "; ".join(parts))


def launch(spec: JobSpec, *, token: str | bool | None = None, namespace: str | None = None):
    """Start one job; returns its ``JobInfo``."""
    from huggingface_hub import HfApi

    return HfApi(token=token).run_job(image=spec.image, command=list(spec.command), env=dict(spec.env),
                                      secrets=dict(spec.secrets) or None, flavor=spec.flavor,
                                      labels=dict(spec.labels) or None, timeout=spec.timeout, namespace=namespace)


def log_tail(job_id: str, *, lines: int = 3, token: str | bool | None = None, namespace: str | None = None) -> str:
    """The last ``lines`` log lines of a job, joined on one line (for a failure reason)."""
    from huggingface_hub import HfApi

    try:
        logs = list(HfApi(token=token).fetch_job_logs(job_id=job_id, namespace=namespace, follow=False))
    except Exception as exc:  # noqa: BLE001 - the reason is the stage; logs are a courtesy
        return f"logs unavailable: {type(exc).__name__}"
    return " | ".join(line.strip() for line in logs[-lines:] if line.strip())[:400]


def wait_all(job_ids: Sequence[str], *, timeout: float | None = None, poll_s: float = 5.0,
             token: str | bool | None = None, namespace: str | None = None,
             on_stage: Callable[[str, str], None] | None = None) -> list[Any]:
    """Wait until every job reaches a terminal stage; returns their final ``JobInfo`` in order.

    ``on_stage(job_id, stage)`` is called whenever a job is first seen in a stage (progress per job)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    deadline = None if timeout is None else time.monotonic() + timeout
    final: dict[str, Any] = {}
    seen: dict[str, str] = {}
    while True:
        for job_id in job_ids:
            if job_id not in final:
                info = api.inspect_job(job_id=job_id, namespace=namespace)
                if on_stage is not None and seen.get(job_id) != str(info.status.stage):
                    seen[job_id] = str(info.status.stage)
                    on_stage(job_id, seen[job_id])
                if str(info.status.stage) in TERMINAL_STAGES:
                    final[job_id] = info
        if len(final) == len(job_ids):
            return [final[j] for j in job_ids]
        if deadline is not None and time.monotonic() > deadline:
            for job_id in job_ids:
                if job_id not in final:
                    api.cancel_job(job_id=job_id, namespace=namespace)
            raise TimeoutError(f"{len(job_ids) - len(final)} job(s) still running after {timeout:.0f} s; canceled")
        time.sleep(poll_s)


def run_jobs(specs: Sequence[JobSpec], *, done: Callable[[int], bool] = lambda i: False, attempts: int = 2,
             timeout: float | None = None, poll_s: float = 5.0, token: str | bool | None = None,
             namespace: str | None = None, log: Callable[[str], None] = lambda message: None) -> list[str]:
    """Run every spec whose output is not ``done`` yet, relaunching failed or missing ones.

    Returns the ids of every job launched (in launch order). Raises :class:`JobsFailed` naming the
    specs still not done after ``attempts`` rounds, with each one's last stage and log tail."""
    launched: list[str] = []
    failures: list[tuple[int, str, str]] = []
    todo = [i for i in range(len(specs)) if not done(i)]
    for attempt in range(1, attempts + 1):
        if not todo:
            break
        jobs = {i: launch(specs[i], token=token, namespace=namespace) for i in todo}
        launched += [job.id for job in jobs.values()]
        log(f"attempt {attempt}: launched {len(jobs)} job(s) on {specs[todo[0]].flavor}: "
            + ", ".join(job.id for job in jobs.values()))
        index = {job.id: i for i, job in jobs.items()}
        infos = dict(zip(jobs, wait_all([j.id for j in jobs.values()], timeout=timeout, poll_s=poll_s, token=token,
                                        namespace=namespace,
                                        on_stage=lambda job_id, stage: log(f"job {index[job_id]} ({job_id}): {stage}"))))
        failures = []
        for i, info in infos.items():
            stage = str(info.status.stage)
            if stage != "COMPLETED" or not done(i):
                why = stage if stage != "COMPLETED" else "COMPLETED without its output"
                failures.append((i, why, log_tail(info.id, token=token, namespace=namespace)))
        todo = [i for i, _, _ in failures]
        if failures:
            log(f"attempt {attempt}: {len(failures)} job(s) to relaunch: " + ", ".join(str(i) for i in todo))
    if failures:
        raise JobsFailed(failures)
    return launched
