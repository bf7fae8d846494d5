"""The loading script for users pinned to ``datasets<4``, run the way such a user installs it.

A second, small virtual environment gets ``datasets==3.6.0`` and Pillow from the package index, then
this checkout with ``pip install --no-deps`` (a plain ``pip install`` would upgrade datasets to 4+,
which refuses loading scripts). ``load_dataset(<script>, <config or official folder name>,
data_dir=<release>, trust_remote_code=True)`` must then read a release folder byte for byte. The
environment is cached in the temp folder, keyed by the datasets and Python versions (and this
checkout's path), so only the
first run on a machine (e.g. CI's clean clone) pays for its creation (about half a minute).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers.releases import LABELS, make_release

REPO = Path(__file__).resolve().parent.parent
DATASETS_VERSION = "3.6.0"
SCRIPT = REPO / "imagenet_e_dataset" / "imagenet_e.py"


def _venv() -> Path:
    """A venv with datasets==DATASETS_VERSION (cached), holding this checkout installed --no-deps."""
    # Keyed by the checkout too: two clones testing at once must not re-point each other's editable install.
    checkout = hashlib.sha256(str(REPO).encode()).hexdigest()[:10]
    key = f"imagenet-e-venv-datasets-{DATASETS_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}-{checkout}"
    root = Path(tempfile.gettempdir()) / key
    python = root / "bin" / "python"
    if not (root / ".complete").is_file():
        building = root.with_name(f"{key}.building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
        _pip(building / "bin" / "python", "install", "-q", f"datasets=={DATASETS_VERSION}", "pillow")
        (building / ".complete").write_text("ok\n")
        shutil.rmtree(root, ignore_errors=True)
        building.rename(root)  # a venv's bin/python keeps working after a rename (only script shebangs move)
    # The checkout as a user installs it: without dependencies, so datasets stays below 4.
    _pip(python, "install", "-q", "--no-deps", "-e", str(REPO))
    return python


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"pip {' '.join(args)} failed in {python.parent.parent}:\n{done.stderr[-3000:]}")


LOAD = """
import json, sys
import datasets
assert datasets.__version__.startswith("3."), datasets.__version__
ds = datasets.load_dataset(sys.argv[1], sys.argv[2], data_dir=sys.argv[3], split="test", trust_remote_code=True,
                           cache_dir=sys.argv[4])
ds = ds.cast_column("image", datasets.Image(decode=False))
print(json.dumps({"version": datasets.__version__,
                  "rows": [{"source_id": r["source_id"], "label": r["label"], "attribute": r["attribute"],
                            "level": r["level"], "bytes": r["image"]["bytes"].hex()} for r in ds]}))
"""


@pytest.mark.slow
def test_loading_script_under_datasets_3(tmp_path):
    from imagenet_e_dataset.registry import resolve

    python = _venv()
    written = make_release(tmp_path / "release")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHONPATH"))}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    for name in ("20_hard", "size_0.05"):  # an official folder name and a config name
        subset = resolve(name)
        done = subprocess.run([str(python), "-c", LOAD, str(SCRIPT), name, str(tmp_path / "release"), str(tmp_path / "cache")],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        doc = json.loads(done.stdout.strip().splitlines()[-1])
        assert doc["version"] == DATASETS_VERSION
        rows = {r["source_id"]: r for r in doc["rows"]}
        assert set(rows) == set(LABELS)
        for source_id, row in rows.items():
            assert row["label"] == LABELS[source_id]
            assert (row["attribute"], row["level"]) == (subset.attribute.name, subset.level)
            assert bytes.fromhex(row["bytes"]) == written[(subset.name, source_id)]
