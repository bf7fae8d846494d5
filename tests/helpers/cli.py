"""Running the ``imagenet-e`` command line as a user would: a subprocess with this Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m imagenet_e ARGS`` in ``cwd``; fails the test with the command's stderr if it fails."""
    proc = subprocess.run([sys.executable, "-m", "imagenet_e", *args], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
