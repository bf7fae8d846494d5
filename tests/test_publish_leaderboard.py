"""`imagenet-e publish-leaderboard`: the Space is downloaded as the Hub would, its requirements are
installed into a fresh virtual environment that cannot import this project, `app.py` starts with
RESULTS_REPO from the Space variables and serves the ranked rows over HTTP; bad input fails first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from helpers.leaderboard import default_dataset, write_submission
from helpers.ports import free_port

import imagenet_e
from imagenet_e.publish.leaderboard_space import space_requirements

NS = "board-tests"


@pytest.fixture()
def hub(hub_server):
    from huggingface_hub import HfApi

    return HfApi()


def _fresh_venv(path: Path) -> Path:
    """A new virtual environment whose only other packages are this test run's dependencies.

    Installing gradio, datasets and the rest from the package index would take minutes and needs a
    network; a `.pth` line lends it the running environment's site-packages instead. A directory
    added by a `.pth` line has its own `.pth` files ignored, so the editable install's import hook
    (an `__editable__*.pth` there) is not run: the project is NOT importable in this venv, which the
    test checks, and can only come from the wheel the Space carries.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "lent_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _wait_for_config(url: str, process: subprocess.Popen, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app.py exited with {process.returncode}:\n{process.stdout.read()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/config", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"app.py did not serve {url}/config within {timeout:.0f} s")


def _table_rows(config: dict) -> tuple[list[str], list[list]]:
    for component in config["components"]:
        props = component.get("props", {})
        if props.get("elem_id") == "ie-table":
            value = props["value"]
            return value["headers"], value["data"]
    raise AssertionError("no ranking table in the served page")


@pytest.mark.slow
def test_published_space_starts_from_the_hub_alone(hub, hub_server, tmp_path, capsys):
    from huggingface_hub import snapshot_download

    from imagenet_e.cli import main

    results, space = f"{NS}/results", f"{NS}/leaderboard"
    # The board recomputes every number from the predictions against the labels of the dataset the
    # results name, fetched from the Hub: the dataset is on the (local) Hub too.
    hub.create_repo(f"{NS}/data", repo_type="dataset", exist_ok=True)
    hub.upload_folder(folder_path=str(default_dataset()), repo_id=f"{NS}/data", repo_type="dataset")
    hub_dataset = dict(dataset_id=f"{NS}/data", dataset_revision=hub.dataset_info(f"{NS}/data").sha)
    models = [("org/robust-net", 0.70, 0.05), ("org/accurate-net", 0.85, 0.15), ("other/middle-net", 0.80, 0.10)]
    for model, original, drop in models:
        path = write_submission(tmp_path, model.replace("/", "_"), default_dataset(), model, original=original,
                                mean_drop=drop, **hub_dataset)
        assert main(["submit", str(path), "--repo-id", results]) == 0
    capsys.readouterr()

    assert main(["publish-leaderboard", "--space-id", space, "--results", results, "--dataset", f"{NS}/data"]) == 0
    out = capsys.readouterr().out
    assert f"Leaderboard Space {space}: commit " in out and f"RESULTS_REPO={results}\n" in out
    assert out.strip().splitlines()[-1] == f"{hub_server.url}/spaces/{space}"
    assert hub_server.space_variables(space) == {"RESULTS_REPO": results}

    # The Space as the Hub's builder sees it.
    folder = Path(snapshot_download(space, repo_type="space", local_dir=tmp_path / "space"))
    wheels = list((folder / "wheels").glob("*.whl"))
    assert [w.name for w in wheels] == [f"imagenet_e-{imagenet_e.__version__}-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as archive:
        names = archive.namelist()
    assert "imagenet_e/leaderboard/app.py" in names and "imagenet_e_dataset/data/imagenet1k_classes.json" in names
    requirements = (folder / "requirements.txt").read_text()
    assert "imagenet-e" not in [line.split(">")[0] for line in requirements.splitlines()]
    assert "gradio>=6,<7" in requirements and "datasets>=4.0" in requirements
    card = (folder / "README.md").read_text()
    assert f"datasets:\n- {NS}/data" in card and f"submit results.json --repo-id {results}" in card

    venv_python = _fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RESULTS_DIR")}
    probe = subprocess.run([str(venv_python), "-c", "import imagenet_e"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'imagenet_e'" in probe.stderr
    install = subprocess.run([str(venv_python), "-m", "pip", "install", "--no-index", "-q", "-r", "requirements.txt"],
                             cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr

    port = free_port()
    env.update(hub_server.space_variables(space), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", HF_HOME=str(tmp_path / "space-hf-home"))
    process = subprocess.Popen([str(venv_python), "app.py"], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        config = _wait_for_config(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        process.wait(timeout=30)
    headers, rows = _table_rows(config)
    model_column = next(i for i, h in enumerate(headers) if "Model" in h)
    ranked = [str(row[model_column]) for row in rows]
    order = [m for m, _, _ in sorted(models, key=lambda m: m[2])]  # ranked by mean drop, lowest first
    assert [next(m for m in order if m in cell) for cell in ranked] == order

    # Re-publishing the same sources: the wheel is rebuilt byte for byte, so nothing is committed.
    commits = len(hub_server.commits("space", space))
    assert main(["publish-leaderboard", "--space-id", space, "--results", results, "--dataset", f"{NS}/data"]) == 0
    out = capsys.readouterr().out
    assert "no change" in out and "(unchanged)" in out
    assert len(hub_server.commits("space", space)) == commits


@pytest.mark.parametrize("space, results, message", [
    (f"{NS}/board-a", f"{NS}/missing", f"results repo {NS}/missing does not exist"),
    (f"{NS}/board-b", f"{NS}/a-model", f"results repo {NS}/a-model is a model repo, not a dataset"),
    (f"{NS}/static-space", f"{NS}/ok-results", f"leaderboard Space {NS}/static-space is a static Space"),
    (f"datasets/{NS}/board-c", f"{NS}/ok-results", "names a dataset repo; it must be a space repo"),
    (f"{NS}/board-d", f"spaces/{NS}/ok-results", "names a space repo; it must be a dataset repo"),
])
def test_bad_publish_leaderboard_input_is_one_error_before_any_upload(hub, hub_server, capsys, space, results,
                                                                     message):
    from imagenet_e.cli import main

    hub.create_repo(f"{NS}/a-model", exist_ok=True)
    hub.create_repo(f"{NS}/ok-results", repo_type="dataset", exist_ok=True)
    hub.create_repo(f"{NS}/static-space", repo_type="space", space_sdk="static", exist_ok=True)
    static_commits = len(hub_server.commits("space", f"{NS}/static-space"))
    assert main(["publish-leaderboard", "--space-id", space, "--results", results]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagenet-e publish-leaderboard: error: ") and message in err and "\n" not in err
    for name in ("board-a", "board-b", "board-c", "board-d"):
        assert not hub_server.has_repo("space", f"{NS}/{name}")
    assert len(hub_server.commits("space", f"{NS}/static-space")) == static_commits
    if "does not exist" in message:  # the fix is named
        assert f"imagenet-e submit results.json --repo-id {NS}/missing" in err


def test_publish_leaderboard_without_a_token_names_the_fix(hub_server, monkeypatch, capsys):
    from imagenet_e.cli import main

    monkeypatch.delenv("HF_TOKEN")
    assert main(["publish-leaderboard", "--space-id", f"{NS}/no-token", "--results", f"{NS}/results"]) == 1
    assert "hf auth login" in capsys.readouterr().err
    assert not hub_server.has_repo("space", f"{NS}/no-token")


def test_space_requirements_replace_the_package_line_by_its_dependencies(tmp_path):
    from imagenet_e.publish.wheel import build_wheel

    wheel = build_wheel(tmp_path)
    template = "# comment\nimagenet-e>=0.1\ngradio>=6,<7\nhuggingface_hub>=1.0\npandas>=2\n"
    lines = [line for line in space_requirements(template, wheel).splitlines() if not line.startswith("#")]
    assert lines[:3] == ["gradio>=6,<7", "huggingface_hub>=1.0", "pandas>=2"]  # the template's own, first
    names = [line.split(">")[0].split("<")[0].lower().replace("_", "-") for line in lines]
    assert "imagenet-e" not in names and len(names) == len(set(names))  # huggingface-hub not repeated
    assert {"numpy", "datasets", "pyarrow", "jsonschema", "pyyaml"} <= set(names)
    # The same sources build the same bytes (what makes a re-publish commit nothing).
    assert build_wheel(tmp_path / "again").read_bytes() == wheel.read_bytes()


def _usage_block(text: str) -> str:
    from imagenet_e_dataset.hub_ids import USAGE_END, USAGE_START

    return text[text.index(USAGE_START):text.index(USAGE_END)]


@pytest.mark.slow
def test_the_four_commands_of_the_publishing_guide(hub_server, tmp_path, monkeypatch, capsys):
    """docs/publishing.md's four lines, run as written (ORG = a namespace of the local Hub): the
    dataset, the metric Space and the leaderboard Space end up on the Hub, each card naming all four."""
    import shlex

    from test_hub_push import build_layout

    from imagenet_e.cli import main

    guide = (Path(__file__).resolve().parents[1] / "docs" / "publishing.md").read_text()
    commands = guide.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(commands) == 4 and all(line.startswith("imagenet-e ") for line in commands)
    monkeypatch.chdir(tmp_path)
    build_layout(tmp_path / "imagenet-e")
    # The results to submit name a dataset on the Hub whose labels the board checks them against.
    from huggingface_hub import HfApi

    hub = HfApi()
    hub.create_repo("guide-org/imagenet-e-labels", repo_type="dataset", exist_ok=True)
    hub.upload_folder(folder_path=str(default_dataset()), repo_id="guide-org/imagenet-e-labels", repo_type="dataset")
    write_submission(tmp_path, "results", default_dataset(), "org/robust-net", original=0.7, mean_drop=0.05,
                     dataset_id="guide-org/imagenet-e-labels",
                     dataset_revision=hub.dataset_info("guide-org/imagenet-e-labels").sha)
    for line in commands:
        assert main(shlex.split(line.replace("ORG", "guide-org"))[1:]) == 0, line
    capsys.readouterr()

    cards = {
        "dataset": hub_server.repo_files("dataset", "guide-org/imagenet-e")["README.md"].decode(),
        "metric": hub_server.repo_files("space", "guide-org/imagenet_e_metric")["README.md"].decode(),
        "leaderboard": hub_server.repo_files("space", "guide-org/imagenet-e-leaderboard")["README.md"].decode(),
    }
    blocks = {name: _usage_block(card) for name, card in cards.items()}
    assert blocks["dataset"] == blocks["metric"] == blocks["leaderboard"]
    for text in ('load_dataset("guide-org/imagenet-e", "background_20"', 'evaluate.load("guide-org/imagenet_e_metric")',
                 "imagenet-e evaluate --model microsoft/resnet-50 --dataset guide-org/imagenet-e",
                 "imagenet-e submit results.json --repo-id guide-org/imagenet-e-results",
                 f"{hub_server.url}/spaces/guide-org/imagenet-e-leaderboard"):
        assert text in blocks["dataset"], text
    assert hub_server.space_variables("guide-org/imagenet-e-leaderboard") == {
        "RESULTS_REPO": "guide-org/imagenet-e-results"}
    # The local dataset folder keeps its card; only the uploaded copy names the published ids.
    assert "guide-org" not in (tmp_path / "imagenet-e" / "README.md").read_text()
