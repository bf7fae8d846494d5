"""``edit`` and ``generate`` take one definition of the editing flags: same names, types, choices, defaults
and checks, turned into the same settings; the old ``edit`` spellings are warned aliases."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from generation.edit_flags import settings_from_args
from imagenet_e.cli import build_parser, main

EDITING_FLAGS = ("--subsets", "--sweep", "--protocol", "--resolution", "--edit-option", "--fit", "--full-mode",
                 "--rotation-center", "--harmonize", "--backend", "--unet", "--steps", "--classifier", "--adv-scale",
                 "--inpainter", "--seed", "--backend-option", "--device", "--plugin")


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices[name]


@pytest.mark.parametrize("flag", EDITING_FLAGS)
def test_edit_and_generate_define_each_editing_flag_alike(flag):
    edit, generate = (_subparser(n)._option_string_actions[flag] for n in ("edit", "generate"))
    for field in ("dest", "type", "choices", "default", "nargs", "help"):
        assert getattr(edit, field) == getattr(generate, field), (flag, field)


@pytest.mark.parametrize("command", [["edit", "p.png", "m.png", "--out", "o.png"],
                                     ["generate", "--images", "i", "--masks", "m", "--out", "o"]])
def test_device_and_backend_are_checked_the_same_way(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--device", "gpu0"])
    assert "unknown device 'gpu0'; valid: auto, cpu, cuda, mps or cuda:N" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--backend", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err
    assert build_parser().parse_args([*command, "--device", "cuda:1"]).device == "cuda:1"


def test_edit_and_generate_flags_make_the_same_settings():
    shared = ["--subsets", "size_0.1,rp", "--steps", "4", "--protocol", "corrected", "--resolution", "64",
              "--full-mode", "aspect", "--seed", "7", "--inpainter", "opencv"]
    edit = build_parser().parse_args(["edit", "p.png", "m.png", "--out", "o", *shared])
    generate = build_parser().parse_args(["generate", "--images", "i", "--masks", "m", "--out", "o", *shared])
    assert settings_from_args(edit) == settings_from_args(generate)
    settings = settings_from_args(edit)
    assert settings.subsets == ("size_0.1", "position_random") and dict(settings.backend_options) == {"iterations": 4}
    assert dict(settings.edit_options) == {"resolution": 64, "full_mode": "aspect", "inpainter": "opencv"}


def test_old_edit_spellings_still_work_with_one_warning_each(tmp_path, capsys):
    args = build_parser().parse_args(["edit", "p.png", "--out", "o.png", "--subset", "size_0.1", "--iterations", "2"])
    assert args.subsets == "size_0.1" and args.steps == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: --subset is deprecated; use --subsets", "warning: --iterations is deprecated; use --steps"]

    rng = np.random.default_rng(0)
    photo = tmp_path / "p.png"
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(photo)
    mask = np.zeros((48, 48), np.uint8)
    mask[12:36, 14:34] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    old = ["edit", str(photo), str(tmp_path / "m.png"), "--resolution", "32", "--inpainter", "opencv"]
    assert main([*old, "--subset", "size_0.1", "--iterations", "2", "--out", str(tmp_path / "old.png")]) == 0
    assert main([*old, "--subsets", "size_0.1", "--steps", "2", "--out", str(tmp_path / "new.png")]) == 0
    assert (tmp_path / "old.png").read_bytes() == (tmp_path / "new.png").read_bytes()


@pytest.mark.parametrize("command", [["edit", "{photo}", "{photo}", "--out", "{out}.png"],
                                     ["generate", "--images", "{dir}", "--masks", "{dir}", "--out", "{out}"]])
def test_edit_refuses_what_generate_refuses(tmp_path, capsys, command):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    argv = [a.format(photo=photo, dir=tmp_path, out=tmp_path / "o") for a in command]
    assert main([*argv, "--subsets", "size_0.1", "--unet", str(tmp_path)]) == 1
    assert "--unet is only used by --backend diffusion" in capsys.readouterr().err
    assert main([*argv, "--subsets", "size_0.1", "--backend", "diffusion"]) == 1
    assert "--backend diffusion needs --unet" in capsys.readouterr().err
    assert main([*argv, "--subsets", "size_0.1", "--edit-option", "no_such_option=1"]) == 1
    assert "unknown edit option(s) no_such_option" in capsys.readouterr().err


def test_edit_without_subsets_makes_all_as_generate_does(tmp_path, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    assert main(["edit", str(photo), str(photo), "--out", str(tmp_path / "o.png"), "--steps", "2"]) == 1
    assert "several subsets need a folder" in capsys.readouterr().err
