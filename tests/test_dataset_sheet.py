"""``imagenet-e contact-sheet``: a written dataset drawn back, sweeps in severity order, masks outlined."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from generation.contact_sheet import OUTLINE_COLOUR
from generation.contact_sheet import fit_label
from generation.dataset_sheet import dataset_configs, skip_reasons
from imagenet_e.cli import main
from imagenet_e_dataset.hub_layout import HubLayoutWriter
from imagenet_e_dataset.registry import recognise


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _dataset(folder, n_sources: int = 3):
    recognise(["size_0.02", "size_0.3"])
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    with HubLayoutWriter(folder, with_object_mask=True) as writer:
        for k in range(n_sources):
            photo = np.full((64, 64, 3), 40 * k, np.uint8)
            sid = f"photo_{k}"
            writer.add("original", {"source_id": sid, "label": 1, "image": _png(photo), "object_mask": _png(mask)})
            writer.add("size_0.3", {"source_id": sid, "label": 1, "image": _png(photo), "seed": k})
            if k != 1:  # photo_1's smallest size was out of reach: a grey tile, not a shifted row
                writer.add("size_0.02", {"source_id": sid, "label": 1, "image": _png(photo), "seed": k})
        writer.finalize()
    return folder


def test_sweep_levels_are_drawn_from_the_mildest(tmp_path):
    # The order is the dataset's own (its imagenet_e.json), whatever order the rows were written in.
    assert dataset_configs(_dataset(tmp_path / "ds")) == ["original", "size_0.3", "size_0.02"]


def test_long_labels_wrap_and_keep_their_end():
    from PIL import ImageFont

    font = ImageFont.load_default()
    lines = fit_label("a_plugin_attribute_with_a_very_long_name_and_more_words_0.125", font, 120)
    assert len(lines) == 2 and all(font.getlength(line) <= 120 for line in lines)
    assert lines[-1].endswith("0.125") and "…" in lines[-1]
    assert fit_label("size_0.3", font, 120) == ["size_0.3"]


def test_a_source_id_wider_than_its_tile_breaks_instead_of_running_into_the_next_label():
    from PIL import ImageFont

    font = ImageFont.load_default()
    lines = fit_label("fox_squirrel-opencv_squirrel + mask", font, 124)
    assert all(font.getlength(line) <= 124 for line in lines)
    assert "".join(lines) == "fox_squirrel-opencv_squirrel + mask"
    assert all(font.getlength(line) <= 60 for line in fit_label("one_unbreakablewordthatisfartoowide x", font, 60))


def test_a_skipped_tile_says_why_and_loading_prints_one_bar(tmp_path, capsys):
    dataset = _dataset(tmp_path / "ds")
    (dataset / "skipped.tsv").write_text("source_id\tsubset\treason\tdetail\nphoto_1\tsize_0.02\tunreachable\tx\n")
    assert skip_reasons(dataset) == {("photo_1", "size_0.02"): "unreachable"}
    assert main(["contact-sheet", str(dataset), "--out", str(tmp_path / "s.png"), "--tile", "96"]) == 0
    err = capsys.readouterr().err
    assert "Generating test split" not in err and err.count("loading configs") >= 1


def test_contact_sheet_of_a_written_dataset(tmp_path, capsys):
    dataset = _dataset(tmp_path / "ds")
    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", str(dataset), "--out", str(out), "--tile", "64", "--limit", "2"]) == 0
    assert "2 source image(s) x 3 configs" in capsys.readouterr().out
    with Image.open(out) as image:
        sheet = np.asarray(image.convert("RGB"))
    gap, label = 4, 30  # two label lines
    assert sheet.shape[:2] == (2 * (64 + label + gap) + gap, 3 * (64 + gap) + gap)
    # The first tile is the original with its mask outlined; the others are not outlined.
    first = sheet[gap + label:gap + label + 64, gap:gap + 64]
    assert (first == OUTLINE_COLOUR).all(axis=2).sum() > 50
    second = sheet[gap + label:gap + label + 64, gap + 68:gap + 68 + 64]
    assert not (second == OUTLINE_COLOUR).all(axis=2).any()
    # photo_1 has no size_0.02 row: its tile (row 2, column 3: the strongest level, last) is grey.
    top = 2 * gap + label + 64 + label
    missing = sheet[top:top + 64, gap + 2 * 68:gap + 2 * 68 + 64]
    assert (missing == 200).all(axis=2).mean() > 0.8


def test_contact_sheet_names_a_config_the_dataset_lacks(tmp_path, capsys):
    dataset = _dataset(tmp_path / "ds", n_sources=1)
    assert main(["contact-sheet", str(dataset), "--out", str(tmp_path / "s.png"), "--configs", "position_random"]) != 0
    err = capsys.readouterr().err
    assert "position_random" in err and not (tmp_path / "s.png").exists()


def test_an_unreachable_hub_is_one_clear_error_line(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_TOKEN": "x", "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "imagenet_e.cli", "contact-sheet", "someorg/some-ds", "--out",
                           str(tmp_path / "s.png")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the Hub" in lines[0] and "someorg/some-ds" in lines[0], done.stderr[-2000:]
