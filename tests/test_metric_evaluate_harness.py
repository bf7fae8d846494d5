"""evaluate's own module checks (its test_metric_common doctest harness) pass on the generated metric
Space, in a fresh virtual environment holding only numpy, evaluate and datasets.

The environment is built with pip (no system site-packages, so nothing of this project or of the
shared environment is visible) at the versions this environment runs; building it takes about a
minute from pip's cache, hence ``slow`` (it still runs in CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from imagenet_e.publish.metric_space import METRIC_PACKAGE, build_metric_space

CHECKS = Path(__file__).resolve().parent / "helpers" / "evaluate_module_checks.py"
LIBRARIES = ("numpy", "evaluate", "datasets")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pins = [f"{name}=={metadata.version(name)}" for name in LIBRARIES]
    result = subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        pytest.fail(f"could not build the bare environment ({' '.join(pins)}): {result.stderr[-2000:]}")
    return python


@pytest.mark.slow
def test_evaluate_module_checks_pass_on_the_space_in_a_bare_environment(bare_python, tmp_path):
    root = tmp_path / "hosted"
    build_metric_space(root / "metrics" / METRIC_PACKAGE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    result = subprocess.run([str(bare_python), "-I", str(CHECKS), str(root), METRIC_PACKAGE], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["failed"] == 0 and found["attempted"] >= 10
    assert found["module_name"] == found["name"] == METRIC_PACKAGE  # Space, script and module_name agree
    assert found["project_modules"] == []
    # The bare environment really is bare: the project cannot be imported there.
    probe = subprocess.run([str(bare_python), "-I", "-c", "import imagenet_e_metric"], capture_output=True, env=env)
    assert probe.returncode != 0
