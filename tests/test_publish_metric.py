"""`imagenet-e publish-metric`: the metric Space is generated from the package, loads with
evaluate/datasets/numpy alone (in a Python that cannot import this project), gives the package's
numbers, and publishes to a Hub Space that `evaluate.load("NS/NAME")` loads; bad input fails first."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from imagenet_e.publish.metric_space import build_metric_space, space_modules
from imagenet_e.publish.wheel import PROJECT_PACKAGES
from imagenet_e_dataset.hub_ids import USAGE_START, PublishedIds
from imagenet_e_dataset.registry import SUBSETS
from imagenet_e_metric import compute_imagenet_e

REPO = Path(__file__).resolve().parents[1]
SPACE_MODULES = {"imagenet_e_metric.py", "core.py", "subsets.py", "sweeps.py", "benchmark_subsets.py", "app.py"}

# Run with `python -I` (no PYTHONPATH, no cwd, no user site) and without the editable install's
# import hook: this interpreter sees evaluate, datasets and numpy, and not one module of the project.
ISOLATED_RUNNER = textwrap.dedent("""
    import importlib.util, json, sys, time
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.path[:] = [p for p in sys.path if "__editable__" not in p]
    sys.path_importer_cache.clear()
    visible = [n for n in %r if importlib.util.find_spec(n) is not None]
    if visible:
        sys.exit(f"isolation failed: {visible} importable")
    started = time.perf_counter()
    import evaluate
    imported = time.perf_counter()
    cases = json.load(open(sys.argv[1]))
    outputs, loaded = [], {}
    for case in cases:
        key = (case["path"], case["config"])
        if key not in loaded:
            loaded[key] = evaluate.load(case["path"], case["config"])
        outputs.append(loaded[key].compute(**case["inputs"], **case["kwargs"]))
    finished = time.perf_counter()
    json.dump({"outputs": outputs, "import_s": imported - started, "total_s": finished - started,
               "modules": sorted({m.split(".")[0] for m in sys.modules})}, open(sys.argv[2], "w"))
""") % (PROJECT_PACKAGES,)


def run_isolated(cases: list[dict], tmp_path: Path, *, modules_cache: Path | None = None) -> dict:
    inputs, outputs, script = tmp_path / "cases.json", tmp_path / "outputs.json", tmp_path / "runner.py"
    inputs.write_text(json.dumps(cases))
    script.write_text(ISOLATED_RUNNER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(modules_cache or tmp_path / "modules")
    result = subprocess.run([sys.executable, "-I", str(script), str(inputs), str(outputs)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(outputs.read_text())


def random_rows(seed: int, *, n: int = 80, scores: bool = False) -> dict:
    """Rows over every subset (names and aliases mixed), with some sources missing per subset."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 1000, n)
    preds, refs, subsets, ids = [], [], [], []
    for k, subset in enumerate(SUBSETS.values()):
        for i in np.flatnonzero(rng.random(n) < 0.85):
            right = rng.random() < 0.9 - 0.04 * k
            label = int(truth[i]) if right else int(rng.integers(0, 1000))
            if scores:
                row = rng.random(1000).round(3)
                row[label] = 2.0
                preds.append(row.tolist())
            else:
                preds.append(label)
            refs.append(int(truth[i]))
            subsets.append(subset.alias if i % 3 == 0 else subset.name)
            ids.append(f"ILSVRC2012_val_{i:08d}")
    return {"predictions": preds, "references": refs, "subsets": subsets, "source_ids": ids}


def cases_for(path: str) -> list[dict]:
    paired = random_rows(1)
    unpaired = {k: v for k, v in random_rows(2).items() if k != "source_ids"}
    scored = random_rows(3, n=30, scores=True)
    return [
        {"path": path, "config": None, "inputs": paired, "kwargs": {"n_bootstrap": 300, "seed": 7}},
        {"path": path, "config": "unpaired", "inputs": unpaired, "kwargs": {"n_bootstrap": 300, "seed": 5}},
        {"path": path, "config": None, "inputs": scored, "kwargs": {"n_bootstrap": 0}},
    ]


def expected(case: dict) -> dict:
    inputs = case["inputs"]
    got = compute_imagenet_e(inputs["predictions"], inputs["references"], inputs["subsets"],
                             inputs.get("source_ids"), **case["kwargs"])
    return json.loads(json.dumps(got))


def same(a: dict, b: dict) -> bool:
    # Whole output dicts compared as JSON text, so NaN equals NaN and no key can be skipped.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_built_space_loads_without_the_project_and_equals_the_core(tmp_path):
    ids = PublishedIds.for_namespace("acme")
    folder = build_metric_space(tmp_path / "space" / "imagenet_e_metric", ids=ids)
    files = sorted(p.name for p in folder.iterdir())
    assert set(files) == SPACE_MODULES | {"README.md", "requirements.txt"}
    for name in SPACE_MODULES:  # the package's own files, byte for byte: nothing is rewritten
        assert (folder / name).read_bytes() == (REPO / "imagenet_e_metric" / name).read_bytes(), name
    for name in files:
        if name.endswith(".py"):  # nothing in the Space imports the project by name
            imported = [n.module or "" for n in ast.walk(ast.parse((folder / name).read_text()))
                        if isinstance(n, ast.ImportFrom) and not n.level]
            imported += [a.name for n in ast.walk(ast.parse((folder / name).read_text()))
                         if isinstance(n, ast.Import) for a in n.names]
            assert not {m.split(".")[0] for m in imported} & set(PROJECT_PACKAGES), name
    requirements = [line for line in (folder / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert sorted(r.split(">")[0].split("<")[0] for r in requirements) == ["datasets", "evaluate", "gradio", "numpy"]

    cases = cases_for(str(folder))
    run = run_isolated(cases, tmp_path)
    assert not set(run["modules"]) & set(PROJECT_PACKAGES)
    assert "top5_accuracy" in run["outputs"][2] and run["outputs"][1]["flip_rate"] == {}
    for case, output in zip(cases, run["outputs"]):
        assert same(output, expected(case)), case["config"]


def test_card_is_generated_and_the_space_is_named_like_the_module(tmp_path):
    import yaml

    ids = PublishedIds(dataset="acme/ie", metric="acme/imagenet_e_metric", results="acme/ie-results",
                       leaderboard="acme/ie-board")
    folder = build_metric_space(tmp_path / "imagenet_e_metric", ids=ids, endpoint="https://hub.example")
    card = (folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and "evaluate" in meta["tags"]
    for text in ('load_dataset("acme/ie", "background_20"', 'evaluate.load("acme/imagenet_e_metric")',
                 "--dataset acme/ie", "submit results.json --repo-id acme/ie-results",
                 "https://hub.example/spaces/acme/ie-board"):
        assert text in card, text
    assert card.count(USAGE_START) == 1
    import imagenet_e
    assert f"version {imagenet_e.__version__}" in card
    # The widget scores through the Space's own script.
    assert '"imagenet_e_metric.py"' in (folder / "app.py").read_text()
    with pytest.raises(FileExistsError):
        build_metric_space(folder)
    with pytest.raises(ValueError, match="it must be 'imagenet_e_metric'"):
        build_metric_space(tmp_path / "ie_metric")
    assert not (tmp_path / "ie_metric").exists()


def test_space_modules_are_checked_not_rewritten(tmp_path, monkeypatch):
    """Every module is imported by the script itself (evaluate follows no import further) and imports
    only what the Space installs; a module breaking either rule is refused with its path."""
    import shutil

    assert set(space_modules()) == SPACE_MODULES
    package = tmp_path / "imagenet_e_metric"
    shutil.copytree(REPO / "imagenet_e_metric", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [n for n in sys.modules if n == "imagenet_e_metric" or n.startswith("imagenet_e_metric.")]:
        monkeypatch.delitem(sys.modules, name)
    (package / "extra.py").write_text("import numpy\n")
    with pytest.raises(ValueError, match=r"must import \.extra itself"):
        space_modules()
    (package / "extra.py").write_text("from imagenet_e_dataset.registry import SUBSETS\n")
    script = package / "imagenet_e_metric.py"
    script.write_text(script.read_text().replace("from .core import", "from .extra import SUBSETS\nfrom .core import", 1))
    with pytest.raises(ValueError, match=r"extra.py imports \['imagenet_e_dataset'\]"):
        space_modules()


def test_project_packages_match_the_wheel_includes():
    import re

    text = (REPO / "pyproject.toml").read_text()
    include = re.search(r"include = \[(.*?)\]", text)[1]
    assert sorted(p.strip(' "*') for p in include.split(",")) == sorted(PROJECT_PACKAGES)


@pytest.fixture()
def hub(hub_server):
    from huggingface_hub import HfApi

    return HfApi()


def test_publish_metric_to_the_hub_then_evaluate_load_by_id(hub, hub_server, tmp_path, capsys):
    from imagenet_e.cli import main

    space = "metric-tests/imagenet_e_metric"
    assert main(["publish-metric", "--repo-id", space, "--dataset", "metric-tests/ie-data"]) == 0
    out = capsys.readouterr().out
    assert f"Metric Space {space}: commit " in out and f"{hub_server.url}/spaces/{space}" in out
    files = hub_server.repo_files("space", space)
    assert set(files) >= SPACE_MODULES | {"README.md", "requirements.txt"}
    assert b'load_dataset("metric-tests/ie-data", "background_20"' in files["README.md"]
    assert hub.space_info(space).sdk == "gradio"

    # evaluate resolves "NS/NAME" as {HF_ENDPOINT}/spaces/NS/NAME/resolve/<rev>/NAME.py and the
    # relative imports beside it: the same route on this server as on the Hub.
    cases = cases_for(space)[:2]
    run = run_isolated(cases, tmp_path)
    for case, output in zip(cases, run["outputs"]):
        assert same(output, expected(case))

    commits = len(hub_server.commits("space", space))
    assert main(["publish-metric", "--repo-id", space, "--dataset", "metric-tests/ie-data"]) == 0
    assert "no change" in capsys.readouterr().out
    assert len(hub_server.commits("space", space)) == commits
    # Other ids change only the card: one new commit.
    assert main(["publish-metric", "--repo-id", space, "--private"]) == 0
    assert len(hub_server.commits("space", space)) == commits + 1 and hub_server.is_private("space", space)


@pytest.mark.parametrize("args, message", [
    (["--repo-id", "datasets/metric-tests/imagenet_e_metric"], "names a dataset repo; it must be a space repo"),
    (["--repo-id", "metric-tests/imagenet-e"], "it must be 'imagenet_e_metric'"),
    (["--repo-id", "not-an-id"], "must look like NAMESPACE/NAME"),
    (["--repo-id", "docker-tests/imagenet_e_metric"], "is a docker Space, not a gradio one"),
])
def test_bad_publish_metric_input_is_one_error_before_any_upload(hub, hub_server, capsys, args, message):
    from imagenet_e.cli import main

    hub.create_repo("docker-tests/imagenet_e_metric", repo_type="space", space_sdk="docker", exist_ok=True)
    before = len(hub_server.commits("space", "docker-tests/imagenet_e_metric"))
    assert main(["publish-metric", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagenet-e publish-metric: error: ") and message in err and "\n" not in err
    assert len(hub_server.commits("space", "docker-tests/imagenet_e_metric")) == before
    assert not hub_server.has_repo("space", "metric-tests/imagenet-e")


def test_publish_metric_without_a_token_names_the_fix(hub_server, monkeypatch, capsys):
    from imagenet_e.cli import main

    monkeypatch.delenv("HF_TOKEN")
    assert main(["publish-metric", "--repo-id", "token-tests/imagenet_e_metric"]) == 1
    err = capsys.readouterr().err
    assert "no Hugging Face token" in err and "hf auth login" in err
    assert not hub_server.has_repo("space", "token-tests/imagenet_e_metric")
