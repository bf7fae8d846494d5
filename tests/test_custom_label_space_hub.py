"""A dataset with its own classes read from the Hub (the local Hub-compatible server).

The local-folder versions of these checks are in ``test_custom_label_space.py``; here the same
3-class dataset (written by ``HubLayoutWriter(label_space=...)``) is pushed to the Hub, and
``imagenet-e evaluate`` reads it from there, and ``imagenet-e score`` / the leaderboard's
verification read its labels and its label space from the parquet files' ``huggingface`` schema
metadata over Hub range reads (:func:`imagenet_e.eval.dataset_labels.load_dataset_labels`).
"""

from __future__ import annotations

import json

import pytest

from helpers.layouts import write_label_space_dataset
from imagenet_e.cli import main
from imagenet_e_dataset.label_space import LabelSpace
from test_custom_label_space import CAFE, _rows

REPO = "ns/cafe-hub"


@pytest.fixture(scope="module")
def hub_cafe(hub_server, tmp_path_factory):
    from huggingface_hub import HfApi

    root = tmp_path_factory.mktemp("cafe-hub")
    space = LabelSpace.from_names(CAFE, name="cafe")
    folder = write_label_space_dataset(root / "cafe", _rows([0, 1, 2, 1]), space)
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset", exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=REPO, repo_type="dataset")
    return {"root": root, "folder": folder, "space": space, "sha": commit.oid, "server": hub_server}


@pytest.fixture(scope="module")
def hub_run(hub_cafe):
    out = hub_cafe["root"] / "lite" / "results.json"
    code = main(["evaluate", "--model", "efficientnet-lite0", "--dataset", REPO, "--num-workers", "0", "--batch-size",
                 "4", "--n-bootstrap", "50", "--no-progress", "--output", str(out)])
    assert code == 0
    return json.loads(out.read_text()), out


def test_labels_and_space_come_from_the_hub_parquet_metadata_by_range_reads(hub_cafe):
    from imagenet_e.eval.dataset_labels import _CACHE, load_dataset_labels

    server = hub_cafe["server"]
    _CACHE.clear()
    before = len(server.requests)
    labels = load_dataset_labels(REPO, ["original", "background_20"])
    assert labels.revision == hub_cafe["sha"]  # resolved to the commit, not "main"
    assert labels.label_space == LabelSpace.from_names(CAFE, name=REPO)
    assert labels.label_space.digest() == hub_cafe["space"].digest()
    for config in ("original", "background_20"):
        assert labels.configs[config].labels.tolist() == [0, 1, 2, 1]
        assert labels.configs[config].source_ids.tolist() == [f"photo_{i}" for i in range(4)]
    parquet = [r for r in server.requests[before:] if r[0] == "GET" and ".parquet" in r[1]]
    # One ranged read per shard, at the commit the revision resolved to (the image column never travels whole).
    assert sorted(path.rsplit("/", 2)[-2] for _, path, _ in parquet) == ["background_20", "original"]
    assert all(status == 206 and f"/resolve/{labels.revision}/" in path for _, path, status in parquet)
    # Cached per (repo, commit, config): asking again reads nothing more from the Hub's files.
    again = len(server.requests)
    assert load_dataset_labels(REPO, ["original"], revision=hub_cafe["sha"]).configs["original"] is \
        labels.configs["original"]
    assert not [r for r in server.requests[again:] if ".parquet" in r[1]]


def test_evaluate_a_hub_dataset_predicts_in_its_own_space(hub_cafe, hub_run):
    from imagenet_e.eval.predictions import read_predictions

    doc, out = hub_run
    assert doc["dataset"]["id"] == REPO and doc["dataset"]["revision"] == hub_cafe["sha"]
    assert doc["dataset"]["label_space"]["num_classes"] == 3
    assert doc["dataset"]["label_space"]["sha256"] == hub_cafe["space"].digest()
    assert doc["model"]["label_mapping"] == "dataset-classes"
    assert any("'espresso' <- output 967 by way of ImageNet-1k" in n for n in doc["model"]["label_mapping_notes"])
    table = read_predictions(out.with_name("predictions.parquet"))
    assert list(table.label_space.names) == list(CAFE)
    assert set(table.top1.tolist()) <= {0, 1, 2} and sorted(table.configs) == ["background_20", "original"]
    assert len(table) == 8


def test_score_and_leaderboard_read_the_hub_dataset(hub_cafe, hub_run, tmp_path, capsys):
    from imagenet_e.eval.predictions import predictions_bytes, read_predictions, sha256_bytes
    from imagenet_e.eval.score import score_predictions
    from imagenet_e.eval.scoring import results_from_predictions
    from imagenet_e.leaderboard.verify import DatasetResolver, verify_submission

    doc, out = hub_run
    predictions = out.with_name("predictions.parquet")
    # The predictions name the Hub dataset and its commit: score reads the labels from there, unasked.
    assert score_predictions(predictions)["metrics"] == doc["metrics"]
    rescored = tmp_path / "rescored.json"
    assert main(["score", str(predictions), "--output", str(rescored)]) == 0, capsys.readouterr().err
    assert json.loads(rescored.read_text())["metrics"] == doc["metrics"]
    resolver = DatasetResolver()  # no local sources: a Hub id resolves to the Hub
    shown = verify_submission(doc, out, resolver, name="lite")
    assert shown["dataset"]["label_space"]["sha256"] == hub_cafe["space"].digest()

    # The same rows declared in another 3-class space: refused, both spaces named.
    table = read_predictions(predictions)
    other = LabelSpace.from_names(["red squirrel", "latte", "zebra"], name="other-cafe")
    metadata = {**table.metadata, "label_space": {**other.describe(), "names": list(other.names)}}
    foreign = type(table)(table.subsets, table.source_ids, table.labels, table.top1, table.top5, table.skipped, metadata)
    data = predictions_bytes(foreign)
    (tmp_path / "results.predictions.parquet").write_bytes(data)
    foreign_doc = results_from_predictions(read_predictions(data), file_name="results.predictions.parquet",
                                           sha256=sha256_bytes(data))
    (tmp_path / "results.json").write_text(json.dumps(foreign_doc))
    both = (r"label space 'other-cafe' \(3 classes: 'red squirrel', 'latte', 'zebra'.*but the dataset's labels are "
            rf"in '{REPO}' \(3 classes: 'fox squirrel', 'espresso', 'zebra'")
    with pytest.raises(ValueError, match=both):
        verify_submission(foreign_doc, tmp_path / "results.json", resolver, name="foreign")
    with pytest.raises(ValueError, match=both):
        score_predictions(tmp_path / "results.predictions.parquet")
    capsys.readouterr()
    assert main(["score", str(tmp_path / "results.predictions.parquet"), "--output", str(tmp_path / "x.json")]) == 1
    err = capsys.readouterr().err
    assert "imagenet-e score: error:" in err and "'other-cafe'" in err and f"'{REPO}'" in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()

    # An ImageNet-1k predictions file (no label-space metadata) against the Hub dataset: refused too.
    old = type(table)(table.subsets, table.source_ids, table.labels, table.top1, table.top5, table.skipped,
                      {k: v for k, v in table.metadata.items() if k != "label_space"})
    (tmp_path / "old.predictions.parquet").write_bytes(predictions_bytes(old))
    with pytest.raises(ValueError, match=r"in the label space 'imagenet-1k' \(1000 classes.*'fox squirrel'"):
        score_predictions(tmp_path / "old.predictions.parquet")
