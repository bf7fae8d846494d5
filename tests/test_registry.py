"""The subset registry, label space, results contract and CLI skeleton that everything else reads."""

from __future__ import annotations

import copy
import math

import pytest

from imagenet_e_dataset import labels
from imagenet_e_dataset.features import make_features
from imagenet_e_dataset.registry import (
    ALIASES,
    CONFIG_NAMES,
    EDITED_CONFIG_NAMES,
    SUBSETS,
    Attribute,
    resolve,
    resolve_many,
    subsets_of,
)
from imagenet_e.eval.results_schema import validate_results


def test_registry_has_the_twelve_subsets_of_the_paper():
    assert len(SUBSETS) == 12
    assert CONFIG_NAMES[0] == "original"
    assert set(ALIASES) == {"ori", "rec", "20_smooth", "20_hard", "20_adv", "random_bg", "full", "01", "008",
                            "005", "rp", "rd"}
    assert len(EDITED_CONFIG_NAMES) == 11
    assert [s.name for s in subsets_of("size")] == ["size_full", "size_0.1", "size_0.08", "size_0.05"]
    assert len(subsets_of("background")) == 5
    assert subsets_of(SUBSETS["size_full"].attribute)[0].name == "size_full"


@pytest.mark.parametrize("alias,name", [("20_hard", "background_20"), ("005", "size_0.05"), ("rd", "direction_random"),
                                        ("background_-20", "background_-20")])
def test_aliases_resolve_to_config_names(alias, name):
    assert resolve(alias).name == name


def test_unknown_subset_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown ImageNet-E subset 'background_x'.*background_20 \(alias 20_hard\)"):
        resolve("background_x")
    # A well-formed level that no module declares: recognised when reading data, refused when asked to generate.
    assert resolve("background_30").spec.lam == 30.0
    with pytest.raises(ValueError, match=r"'background_31' is not one of the declared subsets.*--sweep background=VALUES"):
        resolve("background_31", levels=False)
    with pytest.raises(ValueError, match="unknown attribute"):
        subsets_of("colour")


def test_resolve_many_keeps_table_order_and_accepts_all():
    assert [s.name for s in resolve_many("rd,ori, 01")] == ["original", "size_0.1", "direction_random"]
    assert len(resolve_many("all")) == 12
    with pytest.raises(ValueError):
        resolve_many("")


def test_label_space_is_the_standard_imagenet_order_with_unique_names():
    names, wnids = labels.class_names(), labels.wnids()
    assert len(names) == len(set(names)) == 1000
    assert list(wnids) == sorted(wnids)
    assert wnids[0] == "n01440764" and names[0] == "tench"
    assert labels.synonyms()[134].startswith("crane") and labels.synonyms()[517].startswith("crane")
    assert labels.wnid_to_index()["n02123045"] == 281  # tabby
    assert labels.val_labels()["ILSVRC2012_val_00000001.JPEG"] == 65
    assert make_features(True)["label"].int2str(281) == names[281]


@pytest.mark.parametrize("bad", [-1, 1000, 2.5, "x", None, True])
def test_check_label_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match="label"):
        labels.check_label(bad, where="labels.txt line 3")


def _valid_results() -> dict:
    return {
        "schema_version": 2,
        "model": {"id": "org/model", "revision": "abc", "loader": "transformers"},
        "dataset": {"id": "org/imagenet-e", "revision": "def", "configs": ["original", "background_20"]},
        "preprocessing": {"description": "Resize 256, CenterCrop 224"},
        "protocol": "all-classes",
        "predictions": {"file": "predictions.parquet", "sha256": "0" * 64, "rows": 20, "skipped": 0},
        "metrics": {
            "accuracy": {"original": 0.8, "background_20": 0.6},
            "accuracy_drop": {"background_20": 0.2},
            "attribute_drop": {"background": 0.2},
            "mean_drop": 0.2,
            "flip_rate": {"background_20": 0.3},
            "ci95": {"background_20": [0.1, 0.3]},
        },
        "counts": {"original": 10, "background_20": 10},
        "environment": {"python": "3.11"},
        "created_at": "2026-11-28T12:00:00Z",
    }


def test_results_contract_accepts_a_valid_file():
    assert validate_results(_valid_results())["model"]["id"] == "org/model"


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["metrics"]["accuracy"].update(original=math.nan), "finite"),
        (lambda d: d["metrics"]["accuracy"].update(original=1.5), "greater than the maximum"),
        (lambda d: d["metrics"]["accuracy"].update(background_30=0.5), "background_30"),
        (lambda d: d.pop("model"), "'model' is a required property"),
        (lambda d: d["metrics"]["ci95"].update(background_20=[0.3, 0.1]), "low 0.3 > high 0.1"),
        (lambda d: d["dataset"].update(configs=["original", "size_0.1"]), "dataset.configs"),
        (lambda d: d.update(schema_version=1), "carry no per-image predictions"),
        (lambda d: d["predictions"].update(file="../elsewhere.parquet"), "does not match"),
        (lambda d: d.update(protocol="top-3"), "'top-3' is not one of"),
    ],
)
def test_results_contract_refuses_bad_files(mutate, message):
    doc = copy.deepcopy(_valid_results())
    mutate(doc)
    with pytest.raises(ValueError, match=message):
        validate_results(doc, source="upload.json")


def test_cli_lists_subcommands_without_heavy_imports(capsys):
    import subprocess
    import sys

    from imagenet_e.cli import main

    assert main([]) == 2
    assert "imagenet-e" in capsys.readouterr().out
    # `imagenet-e --help` must stay instant: no subcommand may import torch, datasets or gradio to register.
    probe = ("import sys, imagenet_e.cli as c; p = c.build_parser(); "
             "print(sorted(m for m in ('torch', 'datasets', 'gradio', 'transformers', 'diffusers') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
    commands = subprocess.run([sys.executable, "-m", "imagenet_e.cli", "--help"], capture_output=True, text=True).stdout
    for name in ("import-release", "push", "subsets", "edit", "convert-adm", "generate", "evaluate", "leaderboard",
                 "submit", "demo"):
        assert name in commands


@pytest.mark.parametrize("module_name", ["imagenet_e_dataset.registry", "imagenet_e_dataset.named_registry",
                                         "imagenet_e_dataset.vocab", "generation.seeding"])
def test_foundation_doctests(module_name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["metrics"].update(mean_drop=0.05), "mean_drop is 0.05 but the mean"),
        (lambda d: d["metrics"]["attribute_drop"].update(background=0.0), "attribute_drop.background is 0.0"),
        (lambda d: d["metrics"]["attribute_drop"].update(size=0.2), "attribute_drop covers"),
        (lambda d: d["counts"].pop("background_20"), "counts covers"),
    ],
)
def test_results_contract_refuses_summaries_that_do_not_follow_from_the_drops(mutate, message):
    doc = copy.deepcopy(_valid_results())
    mutate(doc)
    with pytest.raises(ValueError, match=message):
        validate_results(doc, source="upload.json")
