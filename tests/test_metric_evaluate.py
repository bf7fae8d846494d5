"""The `evaluate` face of the ImageNet-E metric: evaluate.load from the folder, add_batch, configs,
doctests, metric card and Space app."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from imagenet_e_dataset.registry import SUBSETS
from imagenet_e_metric import compute_imagenet_e

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "imagenet_e_metric"

evaluate = pytest.importorskip("evaluate")


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 1000, n)
    preds, refs, subsets, ids = [], [], [], []
    for k, subset in enumerate(SUBSETS.values()):
        keep = np.flatnonzero(rng.random(n) < 0.8)
        for i in keep:
            preds.append(int(truth[i]) if rng.random() < 0.9 - 0.05 * k else int(rng.integers(0, 1000)))
            refs.append(int(truth[i]))
            subsets.append(subset.alias if i % 2 else subset.name)
            ids.append(f"ILSVRC2012_val_{i:08d}")
    return preds, refs, subsets, ids


@pytest.fixture(scope="module")
def paired_metric():
    return evaluate.load(str(FOLDER))


def test_load_from_folder_and_compute_equals_core(paired_metric):
    preds, refs, subsets, ids = _data()
    assert paired_metric.name == "imagenet_e_metric"
    got = paired_metric.compute(predictions=preds, references=refs, subsets=subsets, source_ids=ids, seed=2)
    assert got == compute_imagenet_e(preds, refs, subsets, ids, seed=2)
    assert set(got["flip_rate"]) == set(got["accuracy_drop"]) and len(got["accuracy_drop"]) == 11


def test_add_batch_across_many_batches_equals_single_compute(paired_metric):
    preds, refs, subsets, ids = _data(seed=1)
    order = np.random.default_rng(3).permutation(len(preds))  # batches mix subsets, like a real loop
    for start in range(0, len(order), 37):
        part = order[start:start + 37]
        paired_metric.add_batch(predictions=[preds[i] for i in part], references=[refs[i] for i in part],
                                subsets=[subsets[i] for i in part], source_ids=[ids[i] for i in part])
    batched = paired_metric.compute(n_bootstrap=500, seed=9)
    single = paired_metric.compute(predictions=preds, references=refs, subsets=subsets, source_ids=ids,
                                   n_bootstrap=500, seed=9)
    assert batched == single  # pairing is by source id, so row order does not matter


def test_unpaired_configuration():
    preds, refs, subsets, _ = _data(seed=4)
    metric = evaluate.load(str(FOLDER), "unpaired")
    got = metric.compute(predictions=preds, references=refs, subsets=subsets)
    assert got == compute_imagenet_e(preds, refs, subsets)
    assert got["flip_rate"] == {}
    with pytest.raises(ValueError, match="'unpaired' configuration takes no source_ids"):
        metric.compute(predictions=preds, references=refs, subsets=subsets, source_ids=["x"] * len(preds))


def test_default_configuration_without_source_ids_pairs_rows_by_position(paired_metric):
    preds, refs, subsets, _ = _data(seed=5)
    n = 40  # every subset holds the same 40 sources, listed in the same order
    by_position = {"predictions": [], "references": [], "subsets": [], "ids": []}
    for k, subset in enumerate(SUBSETS):
        rng = np.random.default_rng(k)
        truth = np.random.default_rng(99).integers(0, 1000, n)
        by_position["predictions"] += np.where(rng.random(n) < 0.7, truth, 0).tolist()
        by_position["references"] += truth.tolist()
        by_position["subsets"] += [subset] * n
        by_position["ids"] += [f"s{i}" for i in range(n)]
    got = paired_metric.compute(predictions=by_position["predictions"], references=by_position["references"],
                                subsets=by_position["subsets"], seed=4)
    assert got == compute_imagenet_e(by_position["predictions"], by_position["references"], by_position["subsets"],
                                     by_position["ids"], seed=4)
    assert got["flip_rate"] and got["control_drop"]
    with pytest.raises(ValueError, match="same number of rows in every subset"):
        paired_metric.compute(predictions=[1, 2, 3], references=[1, 2, 3], subsets=["ori", "rp", "rp"])


@pytest.mark.parametrize(("bad", "message"), [
    ([1.7, 2], r"predictions\[0\] = 1.7 is not an integer class index"),
    (["3", 2], r"predictions\[0\] = '3' is not an integer class index"),
    ([1, None], r"predictions\[1\] = None is not an integer class index"),
])
def test_non_integer_predictions_are_refused_exactly_as_the_core_refuses_them(paired_metric, bad, message):
    args = dict(references=[1, 2], subsets=["ori", "rp"], source_ids=["a", "a"])
    with pytest.raises(ValueError, match=message):
        compute_imagenet_e(bad, **args)
    with pytest.raises(ValueError, match=message):
        paired_metric.compute(predictions=bad, **args)
    with pytest.raises(ValueError, match=message.replace("predictions", "references")):
        paired_metric.compute(predictions=[1, 2], references=bad, subsets=["ori", "rp"], source_ids=["a", "a"])
    with pytest.raises(ValueError, match=r"predictions\[0\] = 1.5"):
        paired_metric.add(prediction=1.5, reference=1, subsets="ori", source_ids="a")
    # Whole floats are class indices in both paths.
    assert paired_metric.compute(predictions=[1.0, 2.0], **args) == compute_imagenet_e([1.0, 2.0], **args)


def test_score_rows_keep_float64_through_evaluate(paired_metric):
    rows = np.zeros((2, 1000))
    rows[:, 5], rows[:, 6] = 1.0, 1.0 + 1e-12  # equal in float32, 6 wins in float64
    args = dict(references=[6, 5], subsets=["ori", "rp"], source_ids=["a", "a"], n_bootstrap=10)
    assert paired_metric.compute(predictions=rows.tolist(), **args) == compute_imagenet_e(rows, **args)
    assert compute_imagenet_e(rows, **args)["accuracy"] == {"original": 1.0, "position_random": 0.0}


def test_unknown_configuration_is_refused():
    with pytest.raises(ValueError, match=r"unknown imagenet_e_metric configuration 'bogus'.*'unpaired'"):
        evaluate.load(str(FOLDER), "bogus")


def test_score_rows_through_evaluate(paired_metric):
    rng = np.random.default_rng(0)
    scores = rng.random((6, 1000)).astype(np.float32)
    refs = [int(np.argsort(-row)[k]) for row, k in zip(scores, [0, 3, 9, 0, 0, 7])]
    subsets = ["ori"] * 3 + ["005"] * 3
    ids = ["a", "b", "c"] * 2
    got = paired_metric.compute(predictions=scores.tolist(), references=refs, subsets=subsets, source_ids=ids)
    assert got["accuracy"] == pytest.approx({"original": 1 / 3, "size_0.05": 2 / 3})
    assert got["top5_accuracy"] == pytest.approx({"original": 2 / 3, "size_0.05": 2 / 3})
    assert got == compute_imagenet_e(scores, refs, subsets, ids)


def test_bad_input_surfaces_as_value_error(paired_metric):
    with pytest.raises(ValueError, match=r"no 'original' rows"):
        paired_metric.compute(predictions=[1, 2], references=[1, 2], subsets=["rd", "rp"], source_ids=["a", "a"])
    with pytest.raises(ValueError, match=r"references\[1\] = 1000 is outside"):
        paired_metric.compute(predictions=[1, 2], references=[1, 1000], subsets=["ori", "rp"],
                              source_ids=["a", "a"])


def test_the_folder_loads_from_anywhere_without_the_package(monkeypatch, tmp_path):
    import imagenet_e_metric

    monkeypatch.chdir(tmp_path)  # not the repository: the documented path works from any folder
    path = imagenet_e_metric.path()
    # A None entry makes `import imagenet_e_metric` fail: the folder must not need the package.
    monkeypatch.setitem(sys.modules, "imagenet_e_metric", None)
    metric = evaluate.load(path)
    assert metric.name == "imagenet_e_metric" == metric.info.module_name
    preds, refs, subsets, ids = _data(seed=9)
    got = metric.compute(predictions=preds, references=refs, subsets=subsets, source_ids=ids, n_bootstrap=50)
    monkeypatch.delitem(sys.modules, "imagenet_e_metric")
    assert got == compute_imagenet_e(preds, refs, subsets, ids, n_bootstrap=50)


@pytest.mark.parametrize("route", ["compute", "add_batch"])
def test_num_classes_reaches_every_route_for_score_rows_of_any_width(route):
    # Score rows 7 wide: evaluate's base compute calls add_batch itself, so num_classes must reach it.
    rng = np.random.default_rng(3)
    scores = rng.random((8, 7))
    refs = scores.argmax(axis=1).tolist()
    refs[-1] = (refs[-1] + 1) % 7
    subsets, ids = ["original"] * 4 + ["rd"] * 4, list("abcd") * 2
    metric = evaluate.load(str(FOLDER))
    if route == "compute":
        got = metric.compute(predictions=scores.tolist(), references=refs, subsets=subsets, source_ids=ids,
                             num_classes=7, n_bootstrap=0)
    else:
        metric.add_batch(predictions=scores.tolist(), references=refs, subsets=subsets, source_ids=ids, num_classes=7)
        got = metric.compute(num_classes=7, n_bootstrap=0)
    assert got["accuracy"] == {"original": 1.0, "direction_random": 0.75}
    assert got == compute_imagenet_e(scores, refs, subsets, ids, num_classes=7, n_bootstrap=0)
    with pytest.raises(ValueError, match="must have 7 columns"):
        evaluate.load(str(FOLDER)).compute(predictions=scores[:, :6].tolist(), references=refs, subsets=subsets,
                                           source_ids=ids, num_classes=7)


def test_module_doctests_run(monkeypatch):
    import imagenet_e_metric.imagenet_e_metric as module

    monkeypatch.chdir(REPO)  # the examples load the metric by its folder name
    result = doctest.testmod(module)
    assert result.attempted >= 8 and result.failed == 0


def test_metric_card_front_matter_and_examples(monkeypatch):
    text = (FOLDER / "README.md").read_text("utf-8")
    _, front, body = text.split("---", 2)
    meta = yaml.safe_load(front)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["pinned"] is False
    assert {"evaluate", "metric"} <= set(meta["tags"])
    assert meta["title"] and meta["emoji"] and meta["colorFrom"] and meta["colorTo"]
    assert (FOLDER / meta["app_file"]).is_file()
    for subset in SUBSETS.values():  # the card's subset list must not drift from the registry
        assert f"`{subset.name}`" in body and f"`{subset.alias}`" in body
    assert "2303.17096" in body and "CVPR" in body
    monkeypatch.chdir(REPO)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(body, {}, "README.md", str(FOLDER / "README.md"), 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert test.examples and runner.failures == 0


def test_space_app_scores_table_rows():
    import importlib.util

    spec = importlib.util.spec_from_file_location("imagenet_e_metric_app", FOLDER / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)  # import-safe: loads and launches nothing
    paired = app.score_rows([[3, 3, "original", "a"], [2, 3, "20_hard", "a"],
                             [7, 7, "ori", "b"], [7, 7, "background_20", "b"], ["", "", "", ""]],
                            n_bootstrap=50)
    assert paired["accuracy_drop"] == {"background_20": 0.5} and paired["flip_rate"] == {"background_20": 0.5}
    unpaired = app.score_rows([[3, 3, "ori", ""], [2, 3, "rd", ""]], n_bootstrap=50)
    assert unpaired["accuracy_drop"] == {"direction_random": 1.0} and unpaired["flip_rate"] == {}
    with pytest.raises(ValueError, match="table is empty"):
        app.score_rows([["", "", "", ""]])
    with pytest.raises(ValueError, match=r"row 2: prediction None is not a class index"):
        app.score_rows([[3, 3, "ori", "a"], [None, 3, "rd", "a"]])
    with pytest.raises(ValueError, match=r"row 1: reference 2\.7 is not a class index"):
        app.score_rows([[3, 2.7, "ori", "a"], [3, 3, "rd", "a"]])
    assert app.score_rows([["3", 3.0, "ori", ""], [" 2 ", "3", "rd", ""]], n_bootstrap=10)["counts"] == {
        "original": 1, "direction_random": 1}
    demo = app.build_demo()
    assert demo is not None
