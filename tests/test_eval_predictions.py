"""Per-image predictions as the result: evaluate writes predictions.parquet beside results.json,
`imagenet-e score` recomputes the results from it alone, and bad predictions are refused naming
the first offending row. Model objects (nn.Module, plain callables) go through the same runner."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torch import nn

from imagenet_e.eval.predictions import read_predictions
from imagenet_e.eval.preprocess import ResizeCropNormalize
from imagenet_e_dataset.hub_layout import HubLayoutWriter
from imagenet_e_metric import CONTROL_SUBSET

CONFIGS = ("original", CONTROL_SUBSET.name, "background_20", "size_0.05")
N = 6
TRANSFORM = ResizeCropNormalize(resize=20, crop=16)


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pred") / "tiny-imagenet-e"
    labels = [3, 7, 3, 9, 1, 7]
    with HubLayoutWriter(folder) as writer:
        for k, config in enumerate(CONFIGS):
            for i in range(N):
                writer.add(config, {"image": {"bytes": _png(100 * k + i), "path": None}, "label": labels[i],
                                    "source_id": f"ILSVRC2012_val_{i + 1:08d}"})
        writer.finalize()
    return folder


class TinyNet(nn.Module):
    """A 1000-class model whose answer depends on the image and often is one of the dataset's labels."""

    def __init__(self, seed: int = 0, nan_at: float | None = None) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 1000)
        self.nan_at = nan_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv(x).mean(dim=(2, 3))
        logits = self.head(features)
        logits[:, [1, 3, 7, 9]] += 10 * features  # the dataset's classes win, which one depends on the image
        if self.nan_at is not None:  # NaN for images whose top-left value is above a threshold
            bad = x[:, 0, 0, 0] > self.nan_at
            logits = torch.where(bad[:, None], torch.full_like(logits, float("nan")), logits)
        return logits


def _evaluate(model, dataset, out: Path, **kw):
    from imagenet_e import evaluate_model

    return evaluate_model(model, dataset, preprocess=TRANSFORM, output=out / "results.json", num_workers=0,
                          batch_size=4, n_bootstrap=100, progress=False, **kw)


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    doc = _evaluate(TinyNet(), dataset, out, model_name="tiny-net")
    return doc, out


def test_evaluate_writes_predictions_and_results_derived_from_them(run, dataset):
    doc, out = run
    predictions = out / "predictions.parquet"
    table = read_predictions(predictions)
    assert len(table) == N * len(CONFIGS) and table.top5 is not None and table.scored.all()
    assert doc["predictions"]["file"] == "predictions.parquet" and doc["predictions"]["rows"] == len(table)
    import hashlib

    assert doc["predictions"]["sha256"] == hashlib.sha256(predictions.read_bytes()).hexdigest()
    # The numbers are the top-1 column against the label column, by hand.
    for config in CONFIGS:
        rows = table.subsets == config
        assert doc["metrics"]["accuracy"][config] == pytest.approx(float(np.mean(table.top1[rows] == table.labels[rows])))
    # Both drops, McNemar p-values, the model's top-1 is the first of its top-5.
    assert set(doc["metrics"]["control_drop"]) == set(CONFIGS) - {"original", CONTROL_SUBSET.name}
    assert set(doc["metrics"]["mcnemar_p"]) == set(CONFIGS) - {"original"}
    assert (table.top5[:, 0] == table.top1).all()
    # Privacy: the dataset by name + content hash, the model object by its given name.
    assert doc["dataset"]["id"] == "tiny-imagenet-e" and doc["dataset"]["revision"].startswith("sha256:")
    assert str(dataset.parent) not in json.dumps(doc)
    assert doc["model"]["id"] == "tiny-net" and doc["model"]["loader"] == "object"
    assert doc["model"]["revision"].startswith("params-sha256:") and doc["protocol"] == "all-classes"


def test_score_recomputes_the_results_file_byte_for_byte(run, dataset, tmp_path, capsys):
    from imagenet_e.cli import main

    doc, out = run
    copy = tmp_path / "predictions.parquet"
    shutil.copyfile(out / "predictions.parquet", copy)
    assert main(["score", str(copy), "--dataset", str(dataset)]) == 0
    assert (tmp_path / "results.json").read_bytes() == (out / "results.json").read_bytes()
    assert "background_20" in capsys.readouterr().out
    # A results file computed from other predictions is not overwritten.
    other = json.loads((out / "results.json").read_text())
    other["predictions"]["sha256"] = "0" * 64
    (tmp_path / "results.json").write_text(json.dumps(other))
    assert main(["score", str(copy), "--dataset", str(dataset)]) == 1
    assert "computed from predictions with sha256 000" in capsys.readouterr().err


def test_score_needs_the_local_dataset_it_was_made_on(run, dataset, tmp_path, capsys):
    from imagenet_e.cli import main

    _, out = run
    assert main(["score", str(out / "predictions.parquet"), "--no-write"]) == 1
    assert "local dataset 'tiny-imagenet-e', which is not here; pass --dataset" in capsys.readouterr().err
    changed = tmp_path / "changed"
    shutil.copytree(dataset, changed)
    (changed / "README.md").write_text((changed / "README.md").read_text() + "\n")
    assert main(["score", str(out / "predictions.parquet"), "--dataset", str(changed), "--no-write"]) == 1
    assert "changed since the predictions were made" in capsys.readouterr().err


def _tampered(source: Path, target: Path, edit) -> Path:
    table = pq.read_table(source)
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    edit(columns)
    types = {name: table.schema.field(name).type for name in table.column_names}
    new = pa.table({k: pa.array(v, types[k]) for k, v in columns.items()}).replace_schema_metadata(
        table.schema.metadata)
    pq.write_table(new, target)
    return target


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: [v.pop(5) for v in c.values()], r"1 of the dataset's 6 images of 'original' have no row, first \(original, ILSVRC2012_val_00000006\)"),
    (lambda c: [v.append(v[2]) for v in c.values()], r"duplicate rows 2 and 24 for \(original, ILSVRC2012_val_00000003\)"),
    (lambda c: c["label"].__setitem__(8, 500), r"row 8 \(background_0, ILSVRC2012_val_00000003\) has label 500 but the dataset's label is 3"),
    (lambda c: c["source_id"].__setitem__(1, "ILSVRC2012_val_99999999"), r"row 1 \(original, ILSVRC2012_val_99999999\) is not an image"),
    (lambda c: c["top1"].__setitem__(4, 1000), r"row 4 \(original, ILSVRC2012_val_00000005\): top1 1000 is outside"),
])
def test_score_refuses_bad_predictions_naming_the_first_offending_row(run, dataset, tmp_path, capsys, edit, message):
    from imagenet_e.cli import main

    _, out = run
    bad = _tampered(out / "predictions.parquet", tmp_path / "predictions.parquet", edit)
    assert main(["score", str(bad), "--dataset", str(dataset), "--no-write"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("imagenet-e score: error:") and str(bad) in err
    import re

    assert re.search(message, err), err


def test_non_finite_logits_are_refused_naming_config_and_images_or_skipped_and_counted(dataset, tmp_path):
    model = TinyNet(nan_at=0.0)  # about half the images
    with pytest.raises(ValueError) as info:
        _evaluate(model, dataset, tmp_path, model_name="nan-net")
    message = str(info.value)
    assert "nan-net produced non-finite logits" in message and "original/ILSVRC2012_val_" in message
    assert "--skip-non-finite" in message and not (tmp_path / "results.json").exists()
    doc = _evaluate(model, dataset, tmp_path, model_name="nan-net", skip_non_finite=True)
    table = read_predictions(tmp_path / "predictions.parquet")
    skipped = int((~table.scored).sum())
    assert 0 < skipped < len(table) and doc["predictions"]["skipped"] == skipped
    assert doc["run"]["skipped_count"] == skipped and doc["run"]["non_finite"] == "skip"
    assert {row["error"] for row in doc["run"]["skipped"]} == {"non-finite logits (NaN or infinity)"}
    assert sum(doc["counts"].values()) == len(table) - skipped
    all_nan = TinyNet(nan_at=-10.0)
    with pytest.raises(ValueError, match=f"for {N * len(CONFIGS)} of {N * len(CONFIGS)} images"):
        _evaluate(all_nan, dataset, tmp_path / "all", model_name="all-nan")


def test_a_plain_callable_with_a_declared_label_space(dataset, tmp_path):
    """Any callable returning logits: here a 3-class "model" whose outputs are ImageNet 3, 7, 9."""
    def three_classes(batch: torch.Tensor) -> torch.Tensor:
        brightness = batch.mean(dim=(1, 2, 3))
        return torch.stack([brightness, -brightness, brightness * 0.1], dim=1)

    doc = _evaluate(three_classes, dataset, tmp_path, label_space=[3, 7, 9])
    table = read_predictions(tmp_path / "predictions.parquet")
    assert set(table.top1.tolist()) <= {3, 7, 9} and table.top5 is None  # fewer than 5 classes: no top-5
    assert "top5_accuracy" not in doc["metrics"]
    assert doc["model"]["id"].endswith("three_classes") and doc["model"]["num_classes"] == 3
    with pytest.raises(ValueError, match="needs preprocess="):
        from imagenet_e import evaluate_model

        evaluate_model(three_classes, dataset, label_space=[3, 7, 9])


def test_record_paths_keeps_the_absolute_dataset_path(dataset, tmp_path):
    doc = _evaluate(TinyNet(), dataset, tmp_path, record_paths=True, configs="original,size_0.05")
    assert doc["dataset"]["id"] == str(dataset.resolve())


def test_table_formats_follow_the_papers_column_order(run):
    from imagenet_e.eval.formats import format_results

    doc, _ = run
    csv_text = format_results(doc, "csv")
    header = csv_text.splitlines()[0].split(",")
    assert header == ["Model", "Ori", "Background 0", "Background 20", "Size 0.05", "Avg drop",
                      f"Avg drop vs {CONTROL_SUBSET.name}"]
    row = csv_text.splitlines()[1].split(",")
    assert row[1] == f"{100 * doc['metrics']['accuracy']['original']:.2f}"
    assert row[-2] == f"{100 * doc['metrics']['mean_drop']:.2f}"
    latex = format_results([doc, doc], "latex")
    assert r"\multicolumn{2}{c}{Background}" in latex and r"\multirow{2}{*}{Ori}" in latex
    assert latex.count("tiny-net &") == 2 and r"\bottomrule" in latex
    markdown = format_results(doc, "markdown")
    assert markdown.startswith("| Model | Ori | Background 0 |")
    text = format_results(doc, "text")
    assert f"vs {CONTROL_SUBSET.name} pp" in text and "McNemar" in text


def test_import_imagenet_e_stays_light_and_evaluate_model_is_lazy():
    import subprocess
    import sys

    probe = ("import sys, imagenet_e; light = 'torch' not in sys.modules; "
             "from imagenet_e import evaluate_model; print(light, evaluate_model.__module__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["True", "imagenet_e.eval.runner", "True"]
