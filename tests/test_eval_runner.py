"""The evaluation runner end to end: tiny transformers classifiers saved to disk, a small ImageNet-E
folder in the Hub layout, and the runner's numbers checked against running the model by hand."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from helpers.ports import free_port
from imagenet_e_dataset.hub_layout import HubLayoutWriter
from imagenet_e_dataset.labels import class_names, synonyms, wnids
from imagenet_e.eval.results_schema import load_results

CONFIGS = ("original", "background_20", "size_0.05", "direction_random")
N_SOURCES = 8
CORRUPT = ("direction_random", 3)  # (config, source index) whose image bytes are garbage
ROOT = Path(__file__).resolve().parents[1]


def _source_id(i: int) -> str:
    return f"ILSVRC2012_val_{i + 1:08d}"


def _images() -> dict[str, list[bytes]]:
    """Random-texture images, distinct per config (JPEG for original, PNG for edits, like the release)."""
    rng = np.random.default_rng(7)
    out: dict[str, list[bytes]] = {}
    for config in CONFIGS:
        encoded = []
        for i in range(N_SOURCES):
            base = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
            image = Image.fromarray(base).resize((48, 40), Image.Resampling.BICUBIC)
            buf = io.BytesIO()
            image.save(buf, format="JPEG" if config == "original" else "PNG", quality=95)
            encoded.append(buf.getvalue())
        out[config] = encoded
    out[CORRUPT[0]][CORRUPT[1]] = b"\x89PNG\r\n\x1a\nnot really a png"
    return out


def _tiny_resnet(id2label: dict[int, str], seed: int = 0):
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(seed)
    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                          num_labels=len(id2label), id2label=id2label, label2id={v: k for k, v in id2label.items()})
    return ResNetForImageClassification(config).eval()


def _processor():
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def _save(model, folder: Path) -> Path:
    model.save_pretrained(folder)
    _processor().save_pretrained(folder)
    return folder


def _logits(model, encoded: list[bytes]) -> torch.Tensor:
    """The model run by hand, the way its model card says: its processor, then argmax of logits."""
    images = [Image.open(io.BytesIO(b)).convert("RGB") for b in encoded]
    with torch.no_grad():
        return model(**_processor()(images=images, return_tensors="pt")).logits


def _readable(config: str) -> list[int]:
    return [i for i in range(N_SOURCES) if (config, i) != CORRUPT]


def _write_dataset(folder: Path, images: dict[str, list[bytes]], labels: list[int]) -> Path:
    """The Hub-layout dataset of ``images`` (per config, per source) with one label per source."""
    with HubLayoutWriter(folder) as writer:
        for config in CONFIGS:
            for i in range(N_SOURCES):
                writer.add(config, {"image": {"bytes": images[config][i], "path": None}, "label": labels[i],
                                    "source_id": _source_id(i)})
        writer.finalize()
    return folder


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    images = _images()
    ordered = _tiny_resnet(dict(enumerate(synonyms())))
    ordered_dir = _save(ordered, root / "ordered")
    # Labels are chosen so accuracy is neither 0 nor 1: the model's own answer on the original
    # image for even sources, a wrong class for odd ones (the same label in every subset).
    original_pred = _logits(ordered, images["original"]).argmax(1).tolist()
    labels = [p if i % 2 == 0 else (p + 1) % 1000 for i, p in enumerate(original_pred)]
    _write_dataset(root / "dataset", images, labels)
    return {"root": root, "dataset": root / "dataset", "ordered": ordered, "ordered_dir": ordered_dir,
            "labels": labels, "images": images}


def _dataset_rows(dataset: Path, config: str) -> tuple[list[bytes], list[int], list[str]]:
    """Read a config's parquet directly (no datasets, no runner code)."""
    table = pq.read_table(sorted((dataset / config).glob("*.parquet")))
    return ([img["bytes"] for img in table.column("image").to_pylist()], table.column("label").to_pylist(),
            table.column("source_id").to_pylist())


def _independent(model, dataset: Path, to_imagenet=None, allowed=None) -> dict[str, dict]:
    """Per-config accuracy and flip rate computed without the runner or the metric module."""
    preds: dict[str, dict[str, int]] = {}
    accuracy: dict[str, float] = {}
    for config in CONFIGS:
        encoded, labels, ids = _dataset_rows(dataset, config)
        keep = [k for k, sid in enumerate(ids) if (config, int(sid[-8:]) - 1) != CORRUPT]
        logits = _logits(model, [encoded[k] for k in keep])
        if allowed is not None:
            blocked = torch.ones(logits.shape[1], dtype=torch.bool)
            blocked[list(allowed)] = False
            logits[:, blocked] = float("-inf")
        top1 = logits.argmax(1).tolist()
        if to_imagenet is not None:
            top1 = [to_imagenet[p] for p in top1]
        preds[config] = {ids[k]: p for k, p in zip(keep, top1)}
        accuracy[config] = float(np.mean([p == labels[k] for k, p in zip(keep, top1)]))
    flip = {}
    for config in CONFIGS[1:]:
        shared = [s for s in preds[config] if s in preds["original"]]
        flip[config] = float(np.mean([preds[config][s] != preds["original"][s] for s in shared]))
    return {"accuracy": accuracy, "flip_rate": flip}


@pytest.fixture(scope="module")
def ordered_result(assets):
    from imagenet_e.eval.runner import evaluate_model

    out = assets["root"] / "ordered.json"
    doc = evaluate_model(str(assets["ordered_dir"]), assets["dataset"], num_workers=2, batch_size=5,
                         output=out, n_bootstrap=200, progress=False)
    return doc, out


def test_accuracies_equal_running_the_model_by_hand(assets, ordered_result):
    doc, out = ordered_result
    expected = _independent(assets["ordered"], assets["dataset"])
    assert doc["metrics"]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
    assert doc["metrics"]["flip_rate"] == pytest.approx(expected["flip_rate"], abs=1e-12)
    assert 0 < doc["metrics"]["accuracy"]["original"] < 1
    # The corrupt image is skipped and reported, not fatal.
    assert doc["counts"] == {c: len(_readable(c)) for c in CONFIGS}
    assert [(s["config"], s["source_id"]) for s in doc["run"]["skipped"]] == [(CORRUPT[0], _source_id(CORRUPT[1]))]
    for config in CONFIGS:
        assert doc["metrics"]["top5_accuracy"][config] >= doc["metrics"]["accuracy"][config]
    # What is on disk is the validated document, with provenance a reader can compare on.
    assert load_results(out) == json.loads(json.dumps(doc))
    assert doc["model"]["loader"] == "transformers" and doc["model"]["label_mapping"] == "identity"
    assert doc["model"]["revision"].startswith("sha256:")
    # Privacy: local folders are recorded by name (their content hash is the revision), not by path.
    assert doc["model"]["id"] == "ordered" and doc["dataset"]["id"] == "dataset"
    assert str(assets["root"]) not in json.dumps(doc)
    assert doc["model"]["num_parameters"] == sum(p.numel() for p in assets["ordered"].parameters())
    assert doc["dataset"]["configs"] == list(CONFIGS)  # "all" = the configs the folder holds
    assert doc["dataset"]["revision"].startswith("sha256:")
    assert "ViTImageProcessor" in doc["preprocessing"]["description"]
    assert doc["preprocessing"]["size"] == {"height": 32, "width": 32}
    assert all(isinstance(v, str) for v in doc["environment"].values())
    assert doc["environment"]["torch"] == torch.__version__
    assert not list(out.parent.glob(".ordered.json.*"))  # no temp file left behind
    from imagenet_e.leaderboard.table import board_from_documents

    board = board_from_documents([("ordered.json", doc)])  # the leaderboard accepts what the runner writes
    assert not board.skipped and len(board.entries) == 1


def test_shuffled_id2label_is_mapped_back_to_imagenet_order(assets, ordered_result, tmp_path):
    from imagenet_e.eval.runner import evaluate_model

    perm = np.random.default_rng(3).permutation(1000)
    names = class_names()
    # Output j of the shuffled model *is* ImageNet class perm[j]: rows of the head permuted, and
    # its id2label says so (mixing unique names and WordNet ids, as real label files do).
    shuffled = _tiny_resnet({j: (names[perm[j]] if j % 2 else wnids()[perm[j]]) for j in range(1000)})
    shuffled.load_state_dict(assets["ordered"].state_dict())
    head = shuffled.classifier[1]
    with torch.no_grad():
        head.weight.copy_(assets["ordered"].classifier[1].weight[perm])
        head.bias.copy_(assets["ordered"].classifier[1].bias[perm])
    folder = _save(shuffled, tmp_path / "shuffled")

    doc = evaluate_model(str(folder), assets["dataset"], num_workers=0, n_bootstrap=200, progress=False)
    ordered_doc, _ = ordered_result
    assert doc["model"]["label_mapping"] == "id2label-names"
    assert doc["metrics"]["accuracy"] == ordered_doc["metrics"]["accuracy"]
    assert doc["metrics"]["top5_accuracy"] == ordered_doc["metrics"]["top5_accuracy"]
    assert doc["metrics"]["flip_rate"] == ordered_doc["metrics"]["flip_rate"]
    assert doc["metrics"]["ci95"] == ordered_doc["metrics"]["ci95"]
    # Sanity of the test itself: unmapped, the shuffled model's raw argmax would score differently.
    raw = _independent(shuffled, assets["dataset"])
    mapped = _independent(shuffled, assets["dataset"], to_imagenet=perm.tolist())
    assert mapped["accuracy"] == ordered_doc["metrics"]["accuracy"]
    assert raw["accuracy"] != mapped["accuracy"]


def test_unmappable_model_is_refused_with_its_labels_named(assets, tmp_path, capsys):
    from imagenet_e.cli import main

    folder = _save(_tiny_resnet({j: f"galaxy type {j}" for j in range(12)}), tmp_path / "alien")
    out = tmp_path / "alien.json"
    code = main(["evaluate", "--model", str(folder), "--dataset", str(assets["dataset"]), "--output", str(out),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot map 12 of" in err and "'galaxy type 0'" in err
    assert not out.exists()


def test_subset_model_and_restriction_to_dataset_classes(assets, tmp_path):
    """A 20-class ImageNet-subset model predicts only its classes; --restrict narrows the argmax further."""
    from imagenet_e.eval.runner import evaluate_model

    present = sorted(set(assets["labels"]))
    classes = sorted(set(present) | {0, 1, 2, 134, 517, 999} | set(range(300, 314)))[:20]
    classes = sorted(set(classes) | set(present))
    model = _tiny_resnet({j: synonyms()[c] for j, c in enumerate(classes)}, seed=5)
    folder = _save(model, tmp_path / "subset")
    doc = evaluate_model(str(folder), assets["dataset"], configs="original,20_hard", num_workers=0, n_bootstrap=50,
                         restrict_to_dataset_classes=True, progress=False)
    allowed = [j for j, c in enumerate(classes) if c in present]
    expected = _independent(model, assets["dataset"], to_imagenet=classes, allowed=allowed)
    assert doc["dataset"]["configs"] == ["original", "background_20"]
    assert doc["metrics"]["accuracy"] == pytest.approx({c: expected["accuracy"][c] for c in doc["dataset"]["configs"]})
    assert doc["model"]["num_classes"] == len(classes)
    assert doc["preprocessing"]["restrict_to_dataset_classes"] is True
    # crane (134, 517) appears twice in the full synset strings: resolved by order, recorded.
    assert any("crane" in note for note in doc["model"]["label_mapping_notes"])


TINY_CALLABLE = '''
import torch
from torch import nn
from imagenet_e.eval.preprocess import ResizeCropNormalize


def build():
    torch.manual_seed(11)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 1000))
    return model, ResizeCropNormalize(resize=36, crop=32), "imagenet"
'''


def test_module_function_model_through_the_cli_with_plot(assets, tmp_path, monkeypatch, capsys):
    from imagenet_e.cli import main
    from imagenet_e.eval.preprocess import ResizeCropNormalize

    (tmp_path / "tiny_callable_model.py").write_text(TINY_CALLABLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    out, png = tmp_path / "res" / "callable.json", tmp_path / "res" / "drops.png"
    code = main(["evaluate", "--model", "tiny_callable_model:build", "--dataset", str(assets["dataset"]),
                 "--configs", "20_hard,size_0.05", "--limit", "5", "--batch-size", "4", "--num-workers", "0",
                 "--n-bootstrap", "100", "--output", str(out), "--plot", str(png), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    doc = load_results(out)
    assert doc["model"]["loader"] == "callable" and doc["model"]["label_mapping"] == "declared-indices"
    assert doc["dataset"]["configs"] == ["original", "background_20", "size_0.05"]  # original added
    assert doc["counts"] == {"original": 5, "background_20": 5, "size_0.05": 5}  # first 5 sources, paired
    assert "Resize shorter side to 36" in doc["preprocessing"]["description"]

    import tiny_callable_model

    model, _, _ = tiny_callable_model.build()
    transform = ResizeCropNormalize(resize=36, crop=32)
    for config in doc["dataset"]["configs"]:
        encoded, labels, _ = _dataset_rows(assets["dataset"], config)
        batch = torch.stack([transform(Image.open(io.BytesIO(b)).convert("RGB")) for b in encoded[:5]])
        with torch.no_grad():
            top1 = model(batch).argmax(1).numpy()
        assert doc["metrics"]["accuracy"][config] == pytest.approx(float(np.mean(top1 == np.array(labels[:5]))))
    assert "background_20" in printed and "mean drop" in printed
    with Image.open(png) as figure:
        assert figure.size[0] > 1000 and figure.size[1] > 500


def test_builtin_efficientnet_lite0_sees_a_cat():
    import skimage.data

    from imagenet_e.eval.models import load_model

    loaded = load_model("efficientnet-lite0")
    assert loaded.loader == "builtin" and loaded.label_mapping.is_identity
    assert "CenterCrop 224" in loaded.preprocessing["description"]
    assert 4_000_000 < loaded.num_parameters < 5_500_000
    pixels = loaded.preprocess(Image.fromarray(skimage.data.chelsea()))
    assert tuple(pixels.shape) == (3, 224, 224)
    with torch.inference_mode():
        top1 = int(loaded.module(pixels[None]).argmax(1))
    assert 281 <= top1 <= 285, class_names()[top1]


def test_timm_absence_is_a_clear_error():
    from imagenet_e.eval.models import load_model

    try:
        import timm  # noqa: F401
    except Exception:
        with pytest.raises(ValueError, match="needs timm"):
            load_model("timm/resnet18")
    else:  # pragma: no cover - timm is not importable in this project's environment
        pytest.skip("timm is importable here")


def test_torchrun_two_processes_equal_one(assets, tmp_path, monkeypatch):
    """Two CPU ranks (gloo) each score half the images; rank 0's file equals a one-process run.

    The torch-only module:function model keeps the two processes' start-up light.
    """
    from imagenet_e.eval.runner import evaluate_model

    (tmp_path / "tiny_callable_model.py").write_text(TINY_CALLABLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = dict(batch_size=3, num_workers=0, n_bootstrap=200)
    single = evaluate_model("tiny_callable_model:build", assets["dataset"], progress=False, **args)

    out = tmp_path / "dist.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "imagenet_e.cli", "evaluate",
           "--model", "tiny_callable_model:build", "--dataset", str(assets["dataset"]),
           "--batch-size", "3", "--num-workers", "0", "--n-bootstrap", "200", "--output", str(out), "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = load_results(out)
    assert doc["environment"]["world_size"] == "2"
    assert doc["metrics"] == single["metrics"]
    assert doc["counts"] == single["counts"] == {c: len(_readable(c)) for c in CONFIGS}
    assert doc["run"]["skipped"] == single["run"]["skipped"]
    assert proc.stdout.count("mean drop") == 1  # only rank 0 prints the table


def test_model_and_dataset_from_the_hub_record_commit_shas(assets, hub_server):
    """Hub ids (served by the local Hub on 127.0.0.1): both revisions are the repos' commit shas."""
    import uuid

    from huggingface_hub import HfApi

    from imagenet_e.eval.runner import evaluate_model

    api = HfApi(endpoint=hub_server.url)
    tag = uuid.uuid4().hex[:8]
    dataset_repo, model_repo = f"tests/imagenet-e-{tag}", f"tests/tiny-resnet-{tag}"
    api.create_repo(dataset_repo, repo_type="dataset")
    api.upload_folder(folder_path=str(assets["dataset"]), repo_id=dataset_repo, repo_type="dataset")
    api.create_repo(model_repo)
    api.upload_folder(folder_path=str(assets["ordered_dir"]), repo_id=model_repo)

    doc = evaluate_model(model_repo, dataset_repo, configs="background_20", num_workers=0, n_bootstrap=50,
                         progress=False)
    assert doc["dataset"]["configs"] == ["original", "background_20"]
    assert doc["dataset"]["id"] == dataset_repo
    assert doc["dataset"]["revision"] == api.dataset_info(dataset_repo).sha
    assert doc["model"]["revision"] == api.model_info(model_repo).sha
    assert doc["model"]["link"].endswith(model_repo)
    local = _independent(assets["ordered"], assets["dataset"])["accuracy"]
    assert doc["metrics"]["accuracy"] == pytest.approx({c: local[c] for c in ("original", "background_20")})


def test_permuted_lemma_labels_are_refused_until_an_explicit_label_map_places_the_duplicates(assets, tmp_path, capsys):
    """The issue's case: first-lemma id2label ("crane" twice, "maillot" twice), outputs permuted.
    Assigning by occurrence would give the machine crane's output the bird's class; the runner
    refuses naming the outputs, and --label-map places them."""
    from imagenet_e.cli import main

    perm = np.random.default_rng(8).permutation(1000)
    lemmas = {j: synonyms()[perm[j]].split(",")[0] for j in range(1000)}
    folder = _save(_tiny_resnet(lemmas), tmp_path / "lemmas")
    out = tmp_path / "lemmas.json"
    args = ["evaluate", "--model", str(folder), "--dataset", str(assets["dataset"]), "--configs", "20_hard",
            "--limit", "2", "--num-workers", "0", "--n-bootstrap", "20", "--output", str(out), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err
    ambiguous = {j: int(perm[j]) for j in range(1000) if perm[j] in (134, 517, 638, 639)}
    assert "cannot tell apart" in err and all(f"output {j} " in err for j in ambiguous) and "--label-map" in err
    assert not out.exists()
    label_map = tmp_path / "map.json"
    label_map.write_text(json.dumps({str(j): c for j, c in ambiguous.items()}))
    assert main(args + ["--label-map", str(label_map)]) == 0
    doc = load_results(out)
    assert doc["model"]["label_mapping"] == "id2label-names"
    assert sum("explicit label map" in note for note in doc["model"]["label_mapping_notes"]) == len(ambiguous)
