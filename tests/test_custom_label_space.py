"""Datasets with their own classes: the metric, the runner, ``imagenet-e score`` and the leaderboard
in a label space other than ImageNet-1k (a tiny 3-class dataset in the Hub layout)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.layouts import write_label_space_dataset
from imagenet_e_dataset.label_space import LabelSpace
from imagenet_e_metric.core import compute_imagenet_e

CAFE = ("fox squirrel", "espresso", "zebra")  # each names exactly one ImageNet-1k class: 335, 967, 340
CONFIGS = ("original", "background_20")
N = 4


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((40, 32), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _rows(labels: list[int]) -> dict[str, list[dict]]:
    return {config: [{"image": _png(10 * k + i), "label": labels[i], "source_id": f"photo_{i}"} for i in range(N)]
            for k, config in enumerate(CONFIGS)}


@pytest.fixture(scope="module")
def cafe(tmp_path_factory):
    root = tmp_path_factory.mktemp("cafe")
    space = LabelSpace.from_names(CAFE, name="cafe")
    folder = write_label_space_dataset(root / "cafe", _rows([0, 1, 2, 1]), space)
    return {"root": root, "dataset": folder, "space": space}


@pytest.fixture(scope="module")
def lite_run(cafe):
    from imagenet_e.eval.runner import evaluate_model

    out = cafe["root"] / "lite" / "results.json"
    doc = evaluate_model("efficientnet-lite0", cafe["dataset"], num_workers=0, batch_size=4, output=out,
                         n_bootstrap=50, progress=False)
    return doc, out


# --- metric ------------------------------------------------------------------------------------


def test_metric_scores_a_three_class_space_and_names_it_when_refusing():
    result = compute_imagenet_e([0, 2, 1, 2, 0, 1], [0, 2, 1, 0, 2, 1], ["original"] * 3 + ["20_hard"] * 3,
                                ["a", "b", "c"] * 2, num_classes=3)
    assert result["accuracy"] == {"original": 1.0, "background_20": pytest.approx(1 / 3)}
    with pytest.raises(ValueError, match=r"references\[1\] = 3 is outside 0\.\.2 \(a label space of 3 classes\)"):
        compute_imagenet_e([0, 1], [0, 3], ["original", "rp"], num_classes=3)
    with pytest.raises(ValueError, match=r"top5 \(flattened\)\[4\] = 7 is outside 0\.\.5"):
        compute_imagenet_e([0, 1], [0, 1], ["original", "rp"], top5=[[0, 1, 2, 3, 7], [1, 0, 2, 3, 4]], num_classes=6)
    with pytest.raises(ValueError, match="must have 3 columns .* got shape \\(2, 4\\)"):
        compute_imagenet_e([[0.1, 0.2, 0.3, 0.4]] * 2, [0, 1], ["original", "rp"], num_classes=3)
    scores = [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]]
    assert compute_imagenet_e(scores, [0, 2], ["original", "rp"], num_classes=3)["top5_accuracy"] == {
        "original": 1.0, "position_random": 1.0}  # 3 classes: every class is in the top 5
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        compute_imagenet_e([0, 1], [0, 1], ["original", "rp"], num_classes=0)


def test_evaluate_module_takes_num_classes():
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(Path(__file__).resolve().parents[1] / "imagenet_e_metric"))
    metric.add_batch(predictions=[2, 1], references=[2, 1], subsets=["ori", "ori"], num_classes=3)
    metric.add_batch(predictions=[2, 0], references=[2, 1], subsets=["rd", "rd"], num_classes=3)
    assert metric.compute(num_classes=3)["accuracy_drop"] == {"direction_random": 0.5}
    with pytest.raises(ValueError, match=r"predictions\[0\] = 3 is outside 0\.\.2"):
        metric.add_batch(predictions=[3], references=[1], subsets=["ori"], num_classes=3)


# --- runner ------------------------------------------------------------------------------------


def test_imagenet_classifier_on_a_cafe_dataset_predicts_dataset_classes(cafe, lite_run):
    from imagenet_e.eval.formats import format_text
    from imagenet_e.eval.models import load_model
    from imagenet_e.eval.predictions import read_predictions

    doc, out = lite_run
    assert doc["dataset"]["label_space"] == cafe["space"].describe()
    assert doc["dataset"]["label_space"]["num_classes"] == 3
    assert doc["model"]["label_mapping"] == "dataset-classes"
    assert "(3 classes of its own)" in format_text(doc).splitlines()[0]
    notes = doc["model"]["label_mapping_notes"]
    assert "997 of the model's 1000 outputs are linked to no dataset class" in notes[0]
    assert any("'espresso' <- output 967 by way of ImageNet-1k" in n for n in notes)
    table = read_predictions(out.with_name("predictions.parquet"))
    assert table.label_space == cafe["space"] and table.top5 is None  # 3 classes: no top-5
    # By hand: the model's logits of the three linked ImageNet classes, argmax in dataset order.
    loaded = load_model("efficientnet-lite0")
    for k, config in enumerate(CONFIGS):
        rows = table.groups[config]
        pixels = torch.stack([loaded.preprocess(Image.open(io.BytesIO(_png(10 * k + i))).convert("RGB"))
                              for i in range(N)])
        with torch.inference_mode():
            expected = loaded.module(pixels)[:, [335, 967, 340]].argmax(1).tolist()
        got = dict(zip(table.source_ids[rows].tolist(), table.top1[rows].tolist()))
        assert [got[f"photo_{i}"] for i in range(N)] == expected
    accuracy = float(np.mean([e == lab for e, lab in zip(expected, [0, 1, 2, 1])]))
    assert doc["metrics"]["accuracy"]["background_20"] == pytest.approx(accuracy)


def test_model_with_the_dataset_own_names_maps_directly(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

    from imagenet_e.eval.predictions import read_predictions
    from imagenet_e.eval.runner import evaluate_model

    space = LabelSpace.from_names(["cat", "dog"], name="pets")
    dataset = write_label_space_dataset(tmp_path / "pets", {c: rows for c, rows in _rows([0, 1, 1, 0]).items()}, space)
    id2label = {0: "Dog", 1: "cat"}  # other order, other case: linked by name, not by position
    torch.manual_seed(0)
    model = ResNetForImageClassification(ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=2,
        id2label=id2label, label2id={v: k for k, v in id2label.items()})).eval()
    processor = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    out = tmp_path / "run" / "results.json"
    doc = evaluate_model(str(tmp_path / "model"), dataset, num_workers=0, output=out, n_bootstrap=20, progress=False)
    assert doc["dataset"]["label_space"] == space.describe()
    assert any("'cat' <- output 1 by the model's class name 'cat' (exact)" in n for n in doc["model"]["label_mapping_notes"])
    assert any("'dog' <- output 0 by the model's class name 'Dog' (case-insensitive)" in n
               for n in doc["model"]["label_mapping_notes"])
    table = read_predictions(out.with_name("predictions.parquet"))
    rows = table.groups["original"]
    images = [Image.open(io.BytesIO(_png(i))).convert("RGB") for i in range(N)]
    with torch.no_grad():
        outputs = model(**processor(images=images, return_tensors="pt")).logits.argmax(1).tolist()
    to_dataset = {0: 1, 1: 0}  # output 0 "Dog" is class 1, output 1 "cat" class 0
    got = dict(zip(table.source_ids[rows].tolist(), table.top1[rows].tolist()))
    assert [got[f"photo_{i}"] for i in range(N)] == [to_dataset[o] for o in outputs]


def test_unlinkable_class_is_named_and_a_label_map_places_it(tmp_path, capsys):
    from imagenet_e.cli import main as run_cli

    space = LabelSpace.from_names(["espresso", "teapot of mine"], name="kitchen")
    dataset = write_label_space_dataset(tmp_path / "kitchen", _rows([0, 1, 0, 1]), space)
    args = ["evaluate", "--model", "efficientnet-lite0", "--dataset", str(dataset), "--num-workers", "0",
            "--n-bootstrap", "20", "--no-progress"]
    code = run_cli([*args, "--output", str(tmp_path / "a" / "results.json")])
    err = capsys.readouterr().err
    assert code == 1 and "cannot link 1 of the dataset's 2 classes to a model output: 'teapot of mine'" in err
    assert "imagenet-e evaluate: error:" in err and "Traceback" not in err
    (tmp_path / "map.json").write_text(json.dumps({"teapot of mine": 849}))  # ImageNet 849 is "teapot"
    code = run_cli([*args, "--label-map", str(tmp_path / "map.json"), "--output", str(tmp_path / "b" / "results.json")])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    assert any("'teapot of mine' <- output 849 by the label map" in n for n in doc["model"]["label_mapping_notes"])


def test_mismatched_config_spaces_are_refused_naming_the_configs(tmp_path):
    from imagenet_e.eval.runner import evaluate_model

    rows = _rows([0, 1, 0, 1])
    # A hand-assembled folder: background_20's shard comes from a dataset with other classes.
    folder = write_label_space_dataset(tmp_path / "mixed", rows, LabelSpace.from_names(["cat", "dog"]))
    write_label_space_dataset(tmp_path / "other", {"original": rows["original"], "background_20": rows["background_20"]},
                              LabelSpace.from_names(["cat", "wolf"]))
    for shard in (folder / "background_20").glob("*.parquet"):
        shard.unlink()
    for shard in (tmp_path / "other" / "background_20").glob("*.parquet"):
        shard.rename(folder / "background_20" / shard.name)
    (folder / "README.md").write_text("---\nconfigs:\n" + "".join(
        f"- config_name: {c}\n  data_files:\n  - split: test\n    path: {c}/test-*.parquet\n" for c in rows) + "---\n")
    with pytest.raises(ValueError, match=r"do not share one label space.*original: 2 classes \(cat, dog\); "
                                         r"background_20: 2 classes \(cat, wolf\)"):
        evaluate_model("efficientnet-lite0", folder, num_workers=0, n_bootstrap=20, progress=False)


# --- score and leaderboard -----------------------------------------------------------------------


def test_score_and_leaderboard_accept_the_run_and_refuse_another_label_space(cafe, lite_run, tmp_path):
    from imagenet_e.eval.predictions import predictions_bytes, read_predictions, sha256_bytes
    from imagenet_e.eval.score import score_predictions
    from imagenet_e.eval.scoring import results_from_predictions
    from imagenet_e.leaderboard.verify import DatasetResolver, verify_submission

    doc, out = lite_run
    predictions = out.with_name("predictions.parquet")
    assert score_predictions(predictions, dataset=cafe["dataset"])["metrics"] == doc["metrics"]
    resolver = DatasetResolver(sources={"cafe": str(cafe["dataset"])})
    shown = verify_submission(doc, out, resolver, name="lite")
    assert shown["dataset"]["label_space"]["sha256"] == cafe["space"].digest()
    # On the board, the label space is part of the benchmark's name: never ranked with ImageNet-1k runs.
    from imagenet_e.leaderboard.table import load_board_dir

    board = load_board_dir(out.parent, datasets={"cafe": str(cafe["dataset"])})
    assert not board.skipped, board.skipped
    (key,) = board.keys()
    assert f"3 classes of cafe ({cafe['space'].digest()[:8]})" in board.key_label(key)

    # The same rows declared in another label space (same size, other names): refused with the reason.
    table = read_predictions(predictions)
    other = LabelSpace.from_names(["red squirrel", "latte", "zebra"], name="other-cafe")
    metadata = {**table.metadata, "label_space": {**other.describe(), "names": list(other.names)}}
    foreign = type(table)(table.subsets, table.source_ids, table.labels, table.top1, table.top5, table.skipped, metadata)
    data = predictions_bytes(foreign)
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "results.predictions.parquet").write_bytes(data)
    foreign_doc = results_from_predictions(read_predictions(data), file_name="results.predictions.parquet",
                                           sha256=sha256_bytes(data))
    (folder / "results.json").write_text(json.dumps(foreign_doc))
    with pytest.raises(ValueError, match=r"label space 'other-cafe' \(3 classes: 'red squirrel'.*but the dataset's "
                                         r"labels are in 'cafe'"):
        verify_submission(foreign_doc, folder / "results.json", resolver, name="foreign")
    with pytest.raises(ValueError, match="another label space"):
        score_predictions(folder / "results.predictions.parquet", dataset=cafe["dataset"])

    # A file without label-space metadata is read as ImageNet-1k (as written before label spaces).
    old = type(table)(table.subsets, table.source_ids, table.labels, table.top1, table.top5, table.skipped,
                      {k: v for k, v in table.metadata.items() if k != "label_space"})
    assert read_predictions(predictions_bytes(old)).label_space.is_imagenet
    (folder / "old.predictions.parquet").write_bytes(predictions_bytes(old))
    with pytest.raises(ValueError, match=r"in the label space 'imagenet-1k' \(1000 classes"):
        score_predictions(folder / "old.predictions.parquet", dataset=cafe["dataset"])


def test_dataset_space_doctests():
    import doctest

    import imagenet_e.eval.dataset_space as module

    result = doctest.testmod(module)
    assert result.attempted >= 4 and result.failed == 0


_MODEL_FILE = """
import numpy as np
import torch
from torch import nn
from imagenet_e_dataset.label_space import LabelSpace


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(x.mean(dim=(2, 3)))


def preprocess(image):
    return torch.from_numpy(np.asarray(image.convert("RGB").resize((8, 8)), dtype=np.float32).copy()).permute(2, 0, 1) / 255


def build():
    return Tiny().eval(), preprocess, LabelSpace.from_names(["dog", "cat"], name="pets-reversed")


def build_bad():
    return Tiny().eval(), preprocess, 42
"""


def test_a_file_model_declaring_a_label_space_is_mapped_by_its_names(tmp_path):
    """Issue 24, item 6: a `file.py:function` model returning a LabelSpace used to raise a raw TypeError."""
    from imagenet_e.eval.models import load_model
    from imagenet_e.eval.predictions import read_predictions
    from imagenet_e.eval.runner import evaluate_model

    space = LabelSpace.from_names(["cat", "dog"], name="pets")
    dataset = write_label_space_dataset(tmp_path / "pets", {c: rows for c, rows in _rows([0, 1, 1, 0]).items()}, space)
    (tmp_path / "pets_model.py").write_text(_MODEL_FILE)
    spec = f"{tmp_path / 'pets_model.py'}:build"
    out = tmp_path / "run" / "results.json"
    doc = evaluate_model(spec, dataset, num_workers=0, output=out, n_bootstrap=20, progress=False)
    notes = doc["model"]["label_mapping_notes"]
    assert any("'cat' <- output 1" in n for n in notes) and any("'dog' <- output 0" in n for n in notes)
    loaded = load_model(spec)
    table = read_predictions(out.with_name("predictions.parquet"))
    rows = table.groups["original"]
    with torch.no_grad():
        outputs = [int(loaded.module(loaded.preprocess(Image.open(io.BytesIO(_png(i))))[None]).argmax())
                   for i in range(N)]
    got = dict(zip(table.source_ids[rows].tolist(), table.top1[rows].tolist()))
    assert [got[f"photo_{i}"] for i in range(N)] == [{0: 1, 1: 0}[o] for o in outputs]

    with pytest.raises(ValueError, match="the label space it declares is a int"):
        load_model(f"{tmp_path / 'pets_model.py'}:build_bad")
