"""The Hugging Face Jobs API on the local Hub server: a job is a subprocess running its command.

Serves exactly what ``huggingface_hub``'s ``run_job`` / ``inspect_job`` / ``wait_for_job`` /
``fetch_job_logs`` / ``cancel_job`` call: ``POST /api/jobs/{ns}`` (create), ``GET
/api/jobs/{ns}/{id}`` (info; stage RUNNING, then COMPLETED or ERROR from the exit code, CANCELED
after a cancel), ``GET /api/jobs/{ns}/{id}/logs`` (server-sent events, one per output line) and
``POST /api/jobs/{ns}/{id}/cancel``. The command runs with this machine's environment (the local
Hub endpoint, offline settings) plus the job's env and secrets; ``python`` means this interpreter.
``fail_next(label, value)`` makes the next job carrying that label end in ERROR without running
(a preempted machine), for tests of relaunching.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class FakeJob:
    id: str
    namespace: str
    spec: dict[str, Any]
    log: Path
    created: str = field(default_factory=_now)
    process: subprocess.Popen | None = None
    stage: str = "RUNNING"
    message: str | None = None

    def refresh(self) -> None:
        if self.stage != "RUNNING" or self.process is None:
            return
        code = self.process.poll()
        if code is not None:
            self.stage, self.message = ("COMPLETED", None) if code == 0 else ("ERROR", f"exit code {code}")

    def to_json(self) -> dict[str, Any]:
        self.refresh()
        return {"id": self.id, "createdAt": self.created, "dockerImage": self.spec.get("dockerImage"),
                "command": self.spec.get("command"), "arguments": self.spec.get("arguments", []),
                "environment": self.spec.get("environment", {}), "secrets": sorted(self.spec.get("secrets") or {}),
                "flavor": self.spec.get("flavor"), "labels": self.spec.get("labels"),
                "status": {"stage": self.stage, "message": self.message},
                "owner": {"id": "0" * 24, "name": self.namespace, "type": "user"}}


class FakeJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.lock = threading.Lock()
        self.folder = Path(tempfile.mkdtemp(prefix="imagenet-e-fake-jobs-"))
        self._fail: list[tuple[str, str]] = []

    def fail_next(self, label: str, value: str) -> None:
        with self.lock:
            self._fail.append((label, value))

    def create(self, namespace: str, spec: dict[str, Any]) -> FakeJob:
        job = FakeJob(uuid.uuid4().hex[:24], namespace, spec, self.folder / f"{uuid.uuid4().hex}.log")
        labels = spec.get("labels") or {}
        with self.lock:
            hit = next((f for f in self._fail if labels.get(f[0]) == f[1]), None)
            if hit:
                self._fail.remove(hit)
            self.jobs[job.id] = job
        if hit:
            job.log.write_text("===== Job started =====\nthe machine was preempted\n")
            job.stage, job.message = "ERROR", "preempted"
            return job
        command = list(spec["command"])
        if command and command[0] == "python":
            command[0] = sys.executable
        env = {**os.environ, **(spec.get("environment") or {}), **(spec.get("secrets") or {})}
        with open(job.log, "wb") as out:
            out.write(b"===== Job started =====\n")
            out.flush()
            job.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                           cwd=tempfile.mkdtemp(prefix="job-", dir=self.folder))
        return job

    def cancel(self, job: FakeJob) -> None:
        if job.process is not None and job.process.poll() is None:
            job.process.kill()
            job.process.wait()
        job.stage, job.message = "CANCELED", None

    def stop(self) -> None:
        for job in list(self.jobs.values()):
            if job.stage == "RUNNING":
                self.cancel(job)


_JOB = re.compile(r"/api/jobs/(?P<ns>[^/]+)(?:/(?P<id>[^/]+)(?:/(?P<action>logs|cancel))?)?")


def jobs_response(hub: Any, method: str, path: str, body: bytes):
    """The response to a Jobs API call on the local Hub server (``hub.jobs`` holds the jobs)."""
    from hub_server import Response

    jobs: FakeJobs = hub.__dict__.setdefault("jobs", FakeJobs())
    match = _JOB.fullmatch(path)
    if not match:
        return Response.of_json({"error": f"no Jobs route for {method} {path}"}, 404)
    namespace, job_id, action = match["ns"], match["id"], match["action"]
    if job_id is None and method == "POST":
        return Response.of_json(jobs.create(namespace, json.loads(body or b"{}")).to_json())
    job = jobs.jobs.get(job_id or "")
    if job is None or job.namespace != namespace:
        return Response.of_json({"error": f"Job {job_id} not found"}, 404)
    if action is None and method == "GET":
        return Response.of_json(job.to_json())
    if action == "cancel" and method == "POST":
        jobs.cancel(job)
        return Response.of_json({})
    if action == "logs" and method == "GET":
        job.refresh()
        lines = job.log.read_text("utf-8", errors="replace").splitlines() if job.log.exists() else []
        events = "".join(f"data: {json.dumps({'timestamp': job.created, 'data': line})}\n\n" for line in lines)
        return Response(200, events.encode(), {"Content-Type": "text/event-stream"})
    return Response.of_json({"error": f"no Jobs route for {method} {path}"}, 405)
