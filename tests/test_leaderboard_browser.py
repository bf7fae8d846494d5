"""The leaderboard app served in-process on 127.0.0.1 and loaded in a real headless browser.

Checks what a visitor sees: ranked rows in order, submitted text shown as text (a model named
like an HTML tag must not create an element), refused files listed; and the app's own event
endpoints (ranking, refresh) over HTTP.

Set IMAGENET_E_UPDATE_SCREENSHOTS=1 to also copy the screenshot to docs/assets/leaderboard.png.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.leaderboard import DATASET_NAME, default_dataset, write_submission
from helpers.ports import free_port
from helpers.leaderboard import BOARD_MODELS, XSS_NAME, populate_board, write_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (Debian: apt-get install chromium)"),
]
DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "assets" / "leaderboard.png"


def _chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=15000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def served_board(tmp_path_factory):
    from imagenet_e.leaderboard.app import build_app, launch

    results = tmp_path_factory.mktemp("results")
    populate_board(results)
    write_results(results, "bad/broken.json", "{not json")
    demo = build_app(str(results), datasets={DATASET_NAME: str(default_dataset())})
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, block=False, quiet=True)
    try:
        yield demo, f"http://127.0.0.1:{port}/", results
    finally:
        demo.close()


def _table_texts(dom: str) -> list[str]:
    """Text of the visible table's cells, in document order (after the #ie-table element)."""
    table = dom[dom.index('id="ie-table"'):]
    return [html.unescape(t) for t in re.findall(r'<span[^>]*class="[^"]*\btext\b[^"]*"[^>]*>([^<]*)<', table)]


def test_browser_shows_ranked_rows_and_escapes_submitted_text(served_board, tmp_path):
    _, url, _ = served_board
    run = _chromium(tmp_path, url, "--dump-dom")
    dom = run.stdout
    assert 'id="ie-table"' in dom, f"the app did not render (chromium rc {run.returncode}): {run.stderr[-2000:]}"

    names = {model_id for model_id, *_ in BOARD_MODELS}
    shown = [t for t in _table_texts(dom) if t in names]
    first_seen = list(dict.fromkeys(shown))
    assert first_seen == ["org/robust-net", "other/middle-net", "org/accurate-net", XSS_NAME]

    # The hostile model name is text in a cell, and no element was created from it.
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert not re.search(r"<img[^>]*onerror", dom, flags=re.I)
    assert 'src="x"' not in dom
    # The refused file is listed with its reason; the benchmark selector shows n.
    assert "bad/broken.json" in dom and "not valid JSON" in dom
    assert "n = 100 images/subset" in dom


def test_screenshot_of_the_board(served_board, tmp_path):
    from PIL import Image

    _, url, _ = served_board
    shot = tmp_path / "leaderboard.png"
    run = _chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1400,1000", "--hide-scrollbars")
    assert shot.exists(), run.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1400, 1000)
        # A rendered page, not a blank one: many distinct colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50
    if os.environ.get("IMAGENET_E_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_app_endpoints_filter_and_refresh(served_board):
    from gradio_client import Client

    _, url, results = served_board
    client = Client(url, verbose=False)
    table = client.predict("Original accuracy (highest first)", "net", ["torch", "transformers"], ["size"], "drop",
                           False, None, "original (paper)", "self-reported", api_name="/ranking")["value"]
    models = [row[table["headers"].index("Model")] for row in table["data"]]
    assert models == ["org/accurate-net", "other/middle-net", "org/robust-net"]
    assert "size drop (pp)" in table["headers"] and "background drop (pp)" not in table["headers"]
    # The toggle: the same table with drops against the control subset.
    control = client.predict("Mean drop (most robust first)", "", ["torch", "transformers"], ["size"], "drop",
                             False, None, "background_0 (control)", "self-reported", api_name="/ranking")["value"]
    assert "Mean drop vs background_0 (pp)" in control["headers"] and "size drop vs background_0 (pp)" in control["headers"]

    # A new submission appears after Refresh, ranked first by mean drop.
    new = write_submission(results, "results/new/main", default_dataset(), "org/new-net", original=0.9,
                           mean_drop=0.01, loader="onnx")
    try:
        header, notice, loaders, _benchmark, refreshed, _models, _plot, _queue, about = client.predict(
            "Mean drop (most robust first)", "", ["torch", "transformers"], ["background"], "accuracy", False,
            None, "original (paper)", "self-reported", api_name="/refresh")
        assert "5 model(s)" in header and "broken.json" in notice["value"] and notice["visible"]
        assert refreshed["value"]["data"][0][1] == "org/new-net"
        assert "onnx" in loaders["value"]
        assert "Pinned by the board's owner" in about  # the About tab is re-read with the board
    finally:
        new.unlink()
        new.with_name("main.predictions.parquet").unlink()
