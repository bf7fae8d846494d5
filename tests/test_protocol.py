"""Named protocols: presets, overrides and labels, the CLI's ``--protocol``, and the protocol reaching results."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.scenes import synthetic_scene
from generation.edits import EditOptions
from generation.protocol import DEVIATIONS, Protocol, ProtocolName, parse_protocol_name, preset
from imagenet_e.cli import build_parser, main
from imagenet_e_dataset.protocol_file import PROTOCOL_FILE, read_protocol, write_protocol_file


def test_presets_differ_exactly_by_the_listed_deviations():
    official, corrected = preset("official"), preset("corrected")
    assert official == EditOptions()
    listed = {field for d in DEVIATIONS for field, _, _ in d.settings}
    differing = {f for f in official.record() if official.record()[f] != corrected.record()[f]}
    assert differing == listed
    for d in DEVIATIONS:
        assert d.reason and d.step
        for field, off, cor in d.settings:
            assert getattr(official, field) == off and getattr(corrected, field) == cor
    assert Protocol.resolve("official").deviations() == ()
    assert Protocol.resolve("corrected").deviations() == DEVIATIONS


def test_overrides_are_recorded_and_labelled():
    p = Protocol.resolve("official", {"full_mode": "aspect", "harmonize": "false", "resolution": 256})
    # resolution=256 is the preset's: not an override.
    assert p.overrides == (("full_mode", "aspect"), ("harmonize", False))
    assert p.label == "official protocol with overrides: full_mode=aspect, harmonize=false"
    record = p.record()
    assert record["name"] == "official" and record["overrides"] == {"full_mode": "aspect", "harmonize": False}
    assert record["settings"]["full_mode"] == "aspect" and record["settings"]["rotation_center"] == "image"
    assert json.loads(json.dumps(record)) == record
    assert [d.step for d in p.deviations()] == [DEVIATIONS[0].step, DEVIATIONS[3].step]
    # A preset reached by overrides is named for what it is when inferred from plain options.
    assert Protocol.of(preset("corrected")).name is ProtocolName.CORRECTED
    assert Protocol.of(EditOptions(full_mode="aspect")).label == "official protocol with overrides: full_mode=aspect"


def test_resolution_follows_the_model_unless_overridden():
    p = Protocol.resolve("official", model_resolution=64)
    assert p.options.resolution == 64 and p.label == "official" and p.resolution_from == "model"
    same = Protocol.resolve("official", {"resolution": 64}, model_resolution=64)
    assert same.label == "official"
    other = Protocol.resolve("corrected", {"resolution": 128}, model_resolution=64)
    assert other.resolution_from == "override" and other.label == "corrected protocol with overrides: resolution=128"


def test_unknown_names_and_fields_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown protocol 'paper'; valid: official, corrected"):
        parse_protocol_name("paper")
    with pytest.raises(ValueError, match="unknown edit option.*colour; valid: resolution, fit"):
        Protocol.resolve("official", {"colour": "red"})
    with pytest.raises(ValueError, match="size_loop='fast'; valid: official, centred"):
        Protocol.resolve("corrected", {"size_loop": "fast"})


def test_cli_rejects_an_unknown_protocol(tmp_path, capsys):
    photo, mask = synthetic_scene(40, 40)
    img, m = tmp_path / "p.png", tmp_path / "m.png"
    Image.fromarray(photo).save(img)
    Image.fromarray(mask.astype(np.uint8) * 255).save(m)
    with pytest.raises(SystemExit):
        main(["edit", str(img), str(m), "--subsets", "size_full", "--out", str(tmp_path / "o.png"), "--protocol", "paper"])
    assert "unknown protocol 'paper'; valid: official, corrected" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--images", str(tmp_path), "--masks", str(tmp_path), "--out", str(tmp_path / "d"),
              "--protocol", "v2"])
    assert "valid: official, corrected" in capsys.readouterr().err


def test_cli_edit_records_the_protocol_and_its_overrides(tmp_path, capsys):
    photo, mask = synthetic_scene(60, 80)
    img, m = tmp_path / "p.png", tmp_path / "m.png"
    Image.fromarray(photo).save(img)
    Image.fromarray(mask.astype(np.uint8) * 255).save(m)
    out = tmp_path / "edits"
    assert main(["edit", str(img), str(m), "--subsets", "size_full,position_random", "--out", str(out),
                 "--protocol", "corrected", "--resolution", "64", "--inpainter", "opencv", "--harmonize",
                 "--edit-option", "object_box=largest_contour"]) == 0
    record = json.loads((out / "edits.json").read_text())
    label = "corrected protocol with overrides: resolution=64, object_box=largest_contour, harmonize=true, inpainter=opencv"
    assert record["protocol"]["label"] == label and f"protocol: {label}" in capsys.readouterr().err
    assert record["edits"]["position_random"]["protocol"] == label
    assert record["edits"]["position_random"]["backend"] == "cpu"  # harmonised on request
    assert record["edits"]["size_full"]["full_mode"] == "aspect"


def test_generate_settings_carry_the_protocol(tmp_path):
    from generation.generate_command import settings_from_args

    args = build_parser().parse_args(["generate", "--images", str(tmp_path), "--masks", str(tmp_path), "--out",
                                      str(tmp_path / "d"), "--protocol", "corrected", "--edit-option", "full_mode=official"])
    settings = settings_from_args(args)
    assert settings.protocol == "corrected" and settings.edit_options_object().full_mode.value == "official"
    assert settings.protocol_object().label == "corrected protocol with overrides: full_mode=official"
    assert settings.fingerprint_doc()["protocol"] == "corrected"
    default = settings_from_args(build_parser().parse_args(["generate", "--images", str(tmp_path), "--masks",
                                                            str(tmp_path), "--out", str(tmp_path / "d")]))
    assert default.protocol_object().label == "official"


def test_protocol_file_round_trip_and_bad_files(tmp_path):
    assert read_protocol(tmp_path) is None
    write_protocol_file(tmp_path, Protocol.resolve("corrected").record())
    assert read_protocol(tmp_path) == "corrected"
    (tmp_path / PROTOCOL_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="protocol.json is not valid JSON"):
        read_protocol(tmp_path)
    with pytest.raises(ValueError, match="label"):
        write_protocol_file(tmp_path, {"name": "official"})


def test_evaluation_results_carry_the_datasets_protocol(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

    from imagenet_e.eval.runner import evaluate_model
    from imagenet_e_dataset.hub_layout import HubLayoutWriter
    from imagenet_e_dataset.labels import synonyms

    rng = np.random.default_rng(0)
    with HubLayoutWriter(tmp_path / "dataset") as writer:
        for config in ("original", "size_0.05"):
            for i in range(2):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(buf, format="PNG")
                writer.add(config, {"image": {"bytes": buf.getvalue(), "path": None}, "label": i,
                                    "source_id": f"ILSVRC2012_val_{i + 1:08d}"})
        writer.finalize()
    write_protocol_file(tmp_path / "dataset", Protocol.resolve("official", {"full_mode": "aspect"}).record())
    torch.manual_seed(0)
    names = dict(enumerate(synonyms()))
    model = ResNetForImageClassification(ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8], depths=[1], layer_type="basic", num_labels=1000,
        id2label=names, label2id={v: k for k, v in names.items()})).eval()
    model.save_pretrained(tmp_path / "model")
    ViTImageProcessor(size={"height": 24, "width": 24}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(
        tmp_path / "model")
    doc = evaluate_model(str(tmp_path / "model"), tmp_path / "dataset", num_workers=0, batch_size=4,
                         output=tmp_path / "r.json", n_bootstrap=10, progress=False)
    assert doc["dataset"]["protocol"] == "official protocol with overrides: full_mode=aspect"
    assert json.loads((tmp_path / "r.json").read_text())["dataset"]["protocol"] == doc["dataset"]["protocol"]
    (tmp_path / "dataset" / PROTOCOL_FILE).unlink()
    unknown = evaluate_model(str(tmp_path / "model"), tmp_path / "dataset", num_workers=0, batch_size=4,
                             n_bootstrap=10, progress=False)
    assert unknown["dataset"]["protocol"] is None


def test_cli_edit_takes_the_working_resolution_from_the_unet(tmp_path):
    pytest.importorskip("diffusers")
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    UNet2DModel(  # ADM-shaped, tiny, learned sigma; its sample_size is the working resolution
        sample_size=32, in_channels=3, out_channels=6, block_out_channels=(32, 32), layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "ResnetUpsampleBlock2D"),
        attention_head_dim=16, resnet_time_scale_shift="scale_shift", attn_norm_num_groups=32,
        downsample_type="resnet", upsample_type="resnet",
    ).save_pretrained(tmp_path / "unet")
    photo, mask = synthetic_scene(60, 80)
    img, m = tmp_path / "p.png", tmp_path / "m.png"
    Image.fromarray(photo).save(img)
    Image.fromarray(mask.astype(np.uint8) * 255).save(m)
    base = ["edit", str(img), str(m), "--subsets", "background_0,position_random", "--backend", "diffusion",
            "--unet", str(tmp_path / "unet"), "--steps", "2", "--inpainter", "opencv"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    record = json.loads((tmp_path / "a" / "edits.json").read_text())
    assert record["protocol"]["resolution_from"] == "model" and record["protocol"]["settings"]["resolution"] == 32
    assert record["protocol"]["label"] == "official protocol with overrides: inpainter=opencv"
    with Image.open(tmp_path / "a" / "position_random.png") as im:
        assert im.size == (32, 32)
    assert record["edits"]["position_random"]["backend"] == "diffusion"  # harmonised with λ = 0
    assert main([*base, "--out", str(tmp_path / "b"), "--resolution", "64"]) == 0
    record = json.loads((tmp_path / "b" / "edits.json").read_text())
    assert record["protocol"]["label"] == "official protocol with overrides: resolution=64, inpainter=opencv"
    with Image.open(tmp_path / "b" / "background_0.png") as im:
        assert im.size == (64, 64)
