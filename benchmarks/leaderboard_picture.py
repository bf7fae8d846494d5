"""The README's picture of the leaderboard: the demo's results served exactly as the README says, in headless chromium.

Runs ``imagenet-e demo --out DIR`` (or takes an existing ``--demo-out``), then the README's
``imagenet-e leaderboard --results DIR --dataset dataset=DIR/dataset`` on a free port of 127.0.0.1,
waits until it answers, and has Debian's ``chromium`` screenshot the page. Writes
``docs/assets/leaderboard_demo.png``.

    python benchmarks/leaderboard_picture.py [--demo-out DIR] [--out PNG]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the local-server helpers the tests and benchmarks share

from helpers.ports import free_port  # noqa: E402

WINDOW = (1400, 1000)


def _wait_until_served(url: str, board: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if board.poll() is not None:
            raise SystemExit(f"`imagenet-e leaderboard` exited with {board.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"nothing served at {url} after {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-out", type=Path, help="an existing `imagenet-e demo --out` folder (default: run the demo)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "assets" / "leaderboard_demo.png")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    imagenet_e = shutil.which("imagenet-e")
    if chromium is None or imagenet_e is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium) and the installed imagenet-e command")
    with tempfile.TemporaryDirectory(prefix="leaderboard-picture-") as tmp:
        demo_out = args.demo_out or Path(tmp) / "demo_out"
        if args.demo_out is None:
            subprocess.run([imagenet_e, "demo", "--out", str(demo_out)], check=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        board = subprocess.Popen([imagenet_e, "leaderboard", "--results", str(demo_out),
                                  "--dataset", f"dataset={demo_out / 'dataset'}", "--host", "127.0.0.1",
                                  "--port", str(port)])
        try:
            _wait_until_served(url, board)
            shot = Path(tmp) / "leaderboard.png"
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--disable-dev-shm-usage", f"--user-data-dir={Path(tmp) / 'profile'}",
                            "--virtual-time-budget=15000", "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                            f"--screenshot={shot}", url], check=True, capture_output=True, timeout=180)
        finally:
            board.terminate()
            board.wait(timeout=30)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.out.with_name(args.out.name + ".tmp")
        shutil.copyfile(shot, tmp_out)
        tmp_out.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
