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

from imagenet_e.publish.carry import PROJECT_PACKAGES, carry_modules
from imagenet_e_dataset.hub_ids import USAGE_START, PublishedIds
from imagenet_e.publish.metric_space import build_metric_space
from imagenet_e_dataset.registry import SUBSETS
from imagenet_e_metric import compute_imagenet_e

REPO = Path(__file__).resolve().parents[1]

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
    folder = build_metric_space(tmp_path / "space" / "imagenet_e", ids=ids)
    files = sorted(p.name for p in folder.iterdir())
    assert {"imagenet_e.py", "core.py", "app.py", "README.md", "requirements.txt"} <= set(files)
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


def test_card_app_and_script_are_generated_from_the_package(tmp_path):
    import yaml

    ids = PublishedIds(dataset="acme/ie", metric="acme/ie_metric", results="acme/ie-results", leaderboard="acme/ie-board")
    folder = build_metric_space(tmp_path / "ie_metric", ids=ids, endpoint="https://hub.example")
    card = (folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and "evaluate" in meta["tags"]
    for text in ('load_dataset("acme/ie", "background_20"', 'evaluate.load("acme/ie_metric")',
                 "--dataset acme/ie", "submit results.json --repo-id acme/ie-results",
                 "https://hub.example/spaces/acme/ie-board"):
        assert text in card, text
    assert card.count(USAGE_START) == 1
    import imagenet_e
    assert f"imagenet-e {imagenet_e.__version__}" in (folder / "ie_metric.py").read_text()
    assert f"version {imagenet_e.__version__}" in card
    # The widget scores through the Space's own script.
    assert '"ie_metric.py"' in (folder / "app.py").read_text()
    # Every carried module is imported by the script itself (evaluate does not follow imports further).
    script = (folder / "ie_metric.py").read_text()
    for module in folder.glob("*.py"):
        if module.stem not in ("ie_metric", "app"):
            assert f"from .{module.stem} import " in script, module.name
    with pytest.raises(FileExistsError):
        build_metric_space(folder)
    with pytest.raises(ValueError, match="Python identifier"):
        build_metric_space(tmp_path / "imagenet-e")
    assert not (tmp_path / "imagenet-e").exists()


def test_carrying_rewrites_project_imports_and_refuses_other_libraries(tmp_path, monkeypatch):
    package = tmp_path / "fakeproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "facts.py").write_text("import json\nN = 3\n")
    (package / "core.py").write_text(textwrap.dedent("""
        from __future__ import annotations
        import numpy as np
        from fakeproj.facts import N  # From: somewhere
        from . import facts as f
        from .facts import (
            N as M,
        )
        def twice():
            from fakeproj.facts import N
            return 2 * N + M + f.N
    """))
    (package / "heavy.py").write_text("from fakeproj.facts import N\nimport PIL.Image\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("imagenet_e.publish.carry.PROJECT_PACKAGES", ("fakeproj",))
    carried = {m.flat_name: m.source for m in carry_modules(["fakeproj.core"], allowed_libraries=frozenset({"numpy"}))}
    assert set(carried) == {"core", "facts"}
    core = carried["core"]
    assert "from .facts import N\n" in core and "from . import facts as f\n" in core
    assert "from .facts import N as M\n" in core and "    from .facts import N\n" in core
    assert "fakeproj" not in core and "From:" not in core
    namespace: dict = {}
    (tmp_path / "flat").mkdir()
    for stem, source in carried.items():
        (tmp_path / "flat" / f"{stem}.py").write_text(source)
    (tmp_path / "flat" / "__init__.py").write_text("")
    exec("from flat.core import twice; result = twice()", namespace)
    assert namespace["result"] == 12
    with pytest.raises(ValueError, match=r"heavy\.py:2 imports 'PIL\.Image'"):
        carry_modules(["fakeproj.heavy"], allowed_libraries=frozenset({"numpy"}))
    with pytest.raises(ValueError, match="would both be core.py"):
        carry_modules(["fakeproj.core"], allowed_libraries=frozenset({"numpy"}), reserved=frozenset({"core"}))


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

    space = "metric-tests/imagenet_e"
    assert main(["publish-metric", "--repo-id", space, "--dataset", "metric-tests/ie-data"]) == 0
    out = capsys.readouterr().out
    assert f"Metric Space {space}: commit " in out and f"{hub_server.url}/spaces/{space}" in out
    files = hub_server.repo_files("space", space)
    assert {"imagenet_e.py", "core.py", "app.py", "README.md", "requirements.txt"} <= set(files)
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
    (["--repo-id", "datasets/metric-tests/x_metric"], "names a dataset repo; it must be a space repo"),
    (["--repo-id", "metric-tests/imagenet-e"], "must be a Python identifier"),
    (["--repo-id", "not-an-id"], "must look like NAMESPACE/NAME"),
    (["--repo-id", "metric-tests/docker_space"], "is a docker Space, not a gradio one"),
])
def test_bad_publish_metric_input_is_one_error_before_any_upload(hub, hub_server, capsys, args, message):
    from imagenet_e.cli import main

    hub.create_repo("metric-tests/docker_space", repo_type="space", space_sdk="docker", exist_ok=True)
    before = len(hub_server.commits("space", "metric-tests/docker_space"))
    assert main(["publish-metric", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagenet-e publish-metric: error: ") and message in err and "\n" not in err
    assert len(hub_server.commits("space", "metric-tests/docker_space")) == before
    assert not hub_server.has_repo("space", "metric-tests/imagenet-e")


def test_publish_metric_without_a_token_names_the_fix(hub_server, monkeypatch, capsys):
    from imagenet_e.cli import main

    monkeypatch.delenv("HF_TOKEN")
    assert main(["publish-metric", "--repo-id", "metric-tests/no_token"]) == 1
    err = capsys.readouterr().err
    assert "no Hugging Face token" in err and "hf auth login" in err
    assert not hub_server.has_repo("space", "metric-tests/no_token")
