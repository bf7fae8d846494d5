"""Shared pieces of the hostile-input tests (issue 14): running the CLI as a user does, and checking its errors.

(Not a test module: it defines no tests.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from imagenet_e.cli import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300,
            drop_env: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``imagenet-e ARGV`` in a fresh process (this checkout first on the path); stdout/stderr captured as text."""
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1", **(env or {})}
    for name in drop_env:
        full.pop(name, None)
    return subprocess.run([sys.executable, "-m", "imagenet_e.cli", *argv], env=full, cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(stderr: str, command: str) -> str:
    """The single ``imagenet-e COMMAND: error: ...`` line of ``stderr`` (no traceback), without its prefix."""
    assert "Traceback" not in stderr, stderr[-3000:]
    prefix = f"imagenet-e {command}: error: "
    lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stderr[-3000:]
    assert "<_io.BytesIO" not in lines[0]
    return lines[0][len(prefix):]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``imagenet-e ARGV`` in this process (same parser and error handling); returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli_error(capsys, command: str, *argv: str) -> str:
    """Run ``imagenet-e COMMAND ARGV`` in this process, expect exit code 1 and return its one error line."""
    code, out, err = cli(capsys, command, *argv)
    assert code == 1, (out, err)
    return one_line_error(err, command)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
