"""One vocabulary for ``--device``, ``--dtype`` and resampling filters: the same words are accepted, and a
bad one is refused with the same message, by generation, evaluation and the runtime helpers."""

from __future__ import annotations

import numpy as np
import pytest

from imagenet_e.cli import build_parser
from imagenet_e_dataset.runtime import choose_device, choose_dtype, torch_dtype
from imagenet_e_dataset.vocab import DeviceChoice, DtypeChoice, Resample, parse_device, parse_dtype

DEVICE_MESSAGE = "unknown device {!r}; valid: auto, cpu, cuda, mps or cuda:N"


@pytest.mark.parametrize("text, name", [("auto", "auto"), ("cpu", "cpu"), ("cuda", "cuda"), ("mps", "mps"),
                                        ("cuda:0", "cuda:0"), ("cuda:12", "cuda:12"), ("cuda:01", "cuda:1"),
                                        (DeviceChoice.MPS, "mps")])
def test_parse_device_accepts_the_named_choices_and_a_cuda_index(text, name):
    assert parse_device(text) == name
    assert type(parse_device(text)) is str  # a plain name: f-strings and JSON records show the value


@pytest.mark.parametrize("text", ["gpu0", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", " cpu", "", "xpu", "mps:0"])
def test_parse_device_names_the_bad_value(text):
    with pytest.raises(ValueError) as info:
        parse_device(text)
    assert str(info.value) == DEVICE_MESSAGE.format(text)


def test_parse_dtype():
    assert [parse_dtype(t) for t in ("auto", "fp32", "bf16", "fp16")] == list(DtypeChoice)
    with pytest.raises(ValueError, match=r"^unknown dtype 'float16'; valid: auto, fp32, bf16, fp16$"):
        parse_dtype("float16")


def test_choose_device_refuses_a_device_torch_does_not_have(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device cuda:1 asked for, but torch sees no CUDA device"):
        choose_device("cuda:1")
    with pytest.raises(ValueError, match=r"unknown device 'xpu'"):
        choose_device("xpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device mps asked for, but torch sees no MPS device"):
        choose_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_device(DeviceChoice.MPS) == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert choose_device("cuda:1", local_rank=0) == "cuda:1"  # an explicit index is not moved to the rank's GPU
    with pytest.raises(ValueError, match=r"--device cuda:2 asked for, but torch sees 2 CUDA device\(s\)"):
        choose_device("cuda:2")


def test_choose_dtype_and_torch_dtype_speak_the_same_vocabulary():
    import torch

    assert choose_dtype(DtypeChoice.AUTO, "mps") is DtypeChoice.FP32
    assert choose_dtype("bf16", "cpu") is DtypeChoice.BF16
    assert [torch_dtype(d) for d in ("fp32", "bf16", "fp16")] == [torch.float32, torch.bfloat16, torch.float16]
    with pytest.raises(ValueError, match="'auto' has no torch dtype"):
        torch_dtype("auto")


def _cli_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


GENERATE = ["generate", "--images", "i", "--masks", "m", "--out", "o"]
EVALUATE = ["evaluate", "--model", "m", "--dataset", "d"]


def test_generate_and_evaluate_refuse_a_bad_device_with_the_same_message(capsys):
    generate = _cli_error([*GENERATE, "--device", "bogus"], capsys)
    evaluate = _cli_error([*EVALUATE, "--device", "bogus"], capsys)
    assert generate.endswith("error: argument --device: " + DEVICE_MESSAGE.format("bogus"))
    assert generate.split("error: ")[1] == evaluate.split("error: ")[1]


def test_evaluate_takes_every_device_form_and_dtype_generation_takes(capsys):
    for device in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert build_parser().parse_args([*EVALUATE, "--device", device]).device == device
        assert build_parser().parse_args([*GENERATE, "--device", device]).device == device
    args = build_parser().parse_args([*EVALUATE, "--dtype", "bf16"])
    assert args.dtype is DtypeChoice.BF16 and build_parser().parse_args(EVALUATE).dtype is DtypeChoice.AUTO
    assert _cli_error([*EVALUATE, "--dtype", "fp64"], capsys).endswith(
        "error: argument --dtype: unknown dtype 'fp64'; valid: auto, fp32, bf16, fp16")


def test_placement_checks_its_device_at_the_boundary():
    from generation.pipeline import Placement

    assert Placement(device="cuda:03").device == "cuda:3"
    with pytest.raises(ValueError, match=r"^unknown device 'gpu'"):
        Placement(device="gpu")


def test_one_resample_vocabulary_for_preprocessing_and_rotation():
    from PIL import Image

    from generation.edit_types import EditOptions
    from generation.transforms import rotate
    from imagenet_e.eval.preprocess import ResizeCropNormalize

    assert ResizeCropNormalize(resize=8, crop=4, resample="lanczos").resample is Resample.LANCZOS
    assert Resample.LANCZOS.pil is Image.Resampling.LANCZOS
    assert EditOptions(rotation_resample="bilinear").rotation_resample is Resample.BILINEAR
    # Rotation maps its filter onto both PIL's rotate and OpenCV's warp, so it takes only the two they share.
    with pytest.raises(ValueError, match=r"^EditOptions.rotation_resample='lanczos'; valid: nearest, bilinear$"):
        EditOptions(rotation_resample="lanczos")
    mask = np.zeros((8, 8), bool)
    mask[2:5, 2:5] = True
    with pytest.raises(ValueError, match=r"rotation resampling 'bicubic'; valid: nearest, bilinear"):
        rotate(np.zeros((8, 8, 3), np.uint8), mask, 10.0, resample="bicubic")


def test_a_backend_option_device_is_read_with_the_same_vocabulary():
    from generation.pipeline import GenerateSettings, Placement, build_editor

    settings = GenerateSettings(subsets=("background_random",), backend="cpu", backend_options=(("device", "gpu"),))
    with pytest.raises(ValueError, match=r"^unknown device 'gpu'; valid: auto, cpu, cuda, mps or cuda:N$"):
        build_editor(settings, Placement(progress=False))
    settings = GenerateSettings(subsets=("background_random",), backend="cpu", backend_options=(("device", "cpu"),))
    assert build_editor(settings, Placement(progress=False)).device == "cpu"


def test_an_explicit_gpu_under_a_launcher_is_refused_before_any_rank_starts(monkeypatch, tmp_path):
    from imagenet_e.eval.runner import evaluate_model

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    # Refused before the dataset or the model is looked at (neither exists here) and before any process group.
    with pytest.raises(ValueError, match=r"--device cuda:1 under a launcher \(WORLD_SIZE=2\) would put every rank "
                                         r"on that one GPU; use --device cuda"):
        evaluate_model("no-such-model", tmp_path / "no-such-dataset", device="cuda:1")
