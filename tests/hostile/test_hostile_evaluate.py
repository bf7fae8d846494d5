"""Hostile and careless inputs to ``imagenet-e evaluate`` (issue 14, items 7, 11, 12, 15).

Everything that can be checked without the model is checked before the model is loaded (a probe
model records whether it was ever built); a missing launcher rank is named; a pickle weights file and
a mistyped local path are one-line errors at once; 16-bit images are scored like their 8-bit twins.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hostile_helpers import REPO, cli, cli_error, free_port, one_line_error, run_cli
from imagenet_e_dataset.hub_layout import HubLayoutWriter

PROBE = '''
import os
from pathlib import Path

import torch
from torch import nn
from imagenet_e.eval.preprocess import ResizeCropNormalize


def build():
    Path(os.environ["PROBE_BUILT"]).write_text("the model was loaded")
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 1000))
    return model, ResizeCropNormalize(resize=36, crop=32), "imagenet"
'''


def _png(array: np.ndarray) -> bytes:
    sink = io.BytesIO()
    Image.fromarray(array).save(sink, format="PNG")
    return sink.getvalue()


def write_dataset(folder: Path, sixteen_bit: bool = False) -> Path:
    """Six grey sources in ``original`` and ``background_20``; with ``sixteen_bit`` the same pictures as 16-bit PNGs."""
    rng = np.random.default_rng(5)
    with HubLayoutWriter(folder) as writer:
        for config in ("original", "background_20"):
            for i in range(6):
                grey = rng.integers(0, 256, (40, 48), dtype=np.uint8)
                array = grey.astype(np.uint16) * 257 if sixteen_bit else grey
                writer.add(config, {"image": _png(array), "label": (i * 7) % 1000,
                                    "source_id": f"ILSVRC2012_val_{i + 1:08d}"})
        writer.finalize()
    return folder


@pytest.fixture
def probe(tmp_path, monkeypatch) -> dict:
    (tmp_path / "probe_model.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    built = tmp_path / "built.txt"
    monkeypatch.setenv("PROBE_BUILT", str(built))
    dataset = write_dataset(tmp_path / "dataset")
    return {"spec": "probe_model:build", "built": built, "dataset": dataset, "root": tmp_path}


def base(probe: dict, *extra: str) -> list[str]:
    return ["evaluate", "--model", probe["spec"], "--dataset", str(probe["dataset"]), "--num-workers", "0",
            "--n-bootstrap", "50", "--no-progress", *extra]


def test_it_works_when_nothing_is_wrong(probe, capsys):
    out = probe["root"] / "results.json"
    code, _, err = cli(capsys, *base(probe, "--output", str(out)))
    assert code == 0, err
    assert out.is_file() and probe["built"].is_file()


@pytest.mark.parametrize("case", ["output is a folder", "huge n-bootstrap", "output inside the dataset",
                                  "plot is the output", "missing local dataset", "output under a file"])
def test_checks_that_need_no_model_run_before_it_is_loaded(probe, capsys, case):
    root = probe["root"]
    (root / "results").mkdir()
    (root / "afile").write_text("x")
    extra, message = {
        "output is a folder": (["--output", str(root / "results")], "is a folder"),
        "huge n-bootstrap": (["--n-bootstrap", "100000000000"], "above 1,000,000"),
        "output inside the dataset": (["--output", str(probe["dataset"] / "results.json")], "inside the dataset folder"),
        "plot is the output": (["--output", str(root / "r.json"), "--plot", str(root / "r.json")], "same file"),
        "missing local dataset": (["--dataset", "./no-such-dataset"], "does not exist"),
        "output under a file": (["--output", str(root / "afile" / "r.json")], "is a file"),
    }[case]
    assert message in cli_error(capsys, *base(probe, *extra))
    assert not probe["built"].exists()  # refused before the model was loaded


def test_a_model_id_too_long_for_a_results_file_is_refused_before_loading(probe, capsys):
    name = "probe_" + "x" * 200
    (probe["root"] / f"{name}.py").write_text(PROBE)
    error = cli_error(capsys, *base(probe, "--model", f"{name}:build"))
    assert "characters" in error and "allows 200" in error
    assert not probe["built"].exists()


@pytest.mark.parametrize("spec", ["./modles/tiny-resnet", "/no/such/model/folder", "~/no-such-model/", "a/b/c"])
def test_a_mistyped_local_model_path_is_a_local_error_at_once(probe, capsys, spec):
    error = cli_error(capsys, *base(probe, "--model", spec))
    assert "model folder not found" in error and "the Hub was not asked" in error


def test_a_pickle_weights_file_is_refused_in_one_line_and_never_runs(probe, capsys, monkeypatch):
    from transformers import ResNetConfig, ResNetForImageClassification

    from imagenet_e_dataset.labels import synonyms

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"echo pwned > {probe['root'] / 'pwned.txt'}",))

    folder = probe["root"] / "pickled-model"
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=1000,
                          id2label=dict(enumerate(synonyms())))
    ResNetForImageClassification(config).save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": RunsCode()}))
    error = cli_error(capsys, *base(probe, "--model", str(folder)))
    assert str(folder) in error and "pytorch_model.bin" in error and "safetensors" in error
    assert not (probe["root"] / "pwned.txt").exists()


def test_16_bit_images_are_scored_like_their_8_bit_twins(probe, capsys):
    import json

    twin = write_dataset(probe["root"] / "dataset16", sixteen_bit=True)
    results = {}
    for name, dataset in (("eight", probe["dataset"]), ("sixteen", twin)):
        out = probe["root"] / f"{name}.json"
        assert cli(capsys, *base(probe, "--dataset", str(dataset), "--output", str(out)))[0] == 0
        results[name] = json.loads(out.read_text())
    assert results["sixteen"]["run"]["skipped"] == []
    assert results["sixteen"]["metrics"] == results["eight"]["metrics"]


def test_rank_0_alone_names_the_missing_rank_before_loading_the_model(probe):
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "PROBE_BUILT": str(probe["built"]),
           "PYTHONPATH": os.pathsep.join([str(probe["root"]), str(REPO)])}
    proc = run_cli(*base(probe, "--rank-timeout", "3", "--output", str(probe["root"] / "r.json")), env=env,
                   cwd=probe["root"])
    assert proc.returncode == 1
    error = one_line_error(proc.stderr, "evaluate")
    assert "rank 0 of 2" in error and "(1) did not join within 3 s" in error
    assert not probe["built"].exists()
