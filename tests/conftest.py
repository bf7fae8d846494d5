"""Test-session setup shared by every test module.

huggingface_hub reads HF_ENDPOINT when it is first imported, so the local Hub-compatible server's
address is fixed here, before any test imports it: every Hub call the suite makes goes to
127.0.0.1 (nothing may leave loopback), and the caches live in a throw-away folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from helpers.ports import free_port

_HUB_PORT = free_port()
_HF_HOME = tempfile.mkdtemp(prefix="imagenet-e-tests-hf-")
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{_HUB_PORT}",
    HF_HOME=_HF_HOME,
    HF_HUB_DISABLE_XET="1",
    HF_UPDATE_DOWNLOAD_COUNTS="0",
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_TOKEN="hf_local_test_token",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
    TOKENIZERS_PARALLELISM="false",
    MPLBACKEND="Agg",
)
assert "huggingface_hub" not in sys.modules, "huggingface_hub was imported before tests/conftest.py set HF_ENDPOINT"

TESTS_DIR = Path(__file__).parent


@pytest.fixture(scope="session")
def hub_server():
    """A Hub-compatible HTTP server on 127.0.0.1 (see tests/hub_server.py), shared by the session.

    Yields the server object; ``hub_server.url`` equals ``HF_ENDPOINT``.
    """
    import datasets.config

    from hub_server import start_hub_server

    datasets.config.USE_PARQUET_EXPORT = False
    storage = Path(tempfile.mkdtemp(prefix="imagenet-e-hub-"))
    server = start_hub_server(port=_HUB_PORT, storage_dir=storage)
    try:
        yield server
    finally:
        server.stop()
