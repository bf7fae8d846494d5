"""The dataset card describes the run that made it: a cpu-backend run on a folder of non-ImageNet photos
says so, and none of the sentences that describe the authors' release (ImageNet val photos, ImageNet-S
masks, blended diffusion with ADM, animal classes, ILSVRC ids, ImageNet terms) appear."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.scenes import synthetic_scene
from imagenet_e.cli import main
from imagenet_e_dataset.card import RELEASE_LIMITATIONS, RELEASE_METHOD, RELEASE_SOURCES

# Sentences (or their telling fragments) that are true of the authors' release only.
RELEASE_ONLY = (
    "blended diffusion", "ADM", "DDPM", "ImageNet-S", "animal", "ILSVRC2012_val", "ImageNet validation",
    "ImageNet terms of access apply", "image-net.org", "imagenet-terms-of-access",
)


def _photos(root: Path) -> tuple[Path, Path, Path]:
    images, masks = root / "photos", root / "masks"
    images.mkdir()
    masks.mkdir()
    labels = []
    for k, (name, label) in enumerate((("garden_bench", 703), ("kitchen_coffeepot", 505), ("desk_lamp", 846))):
        photo, mask = synthetic_scene(48, 64, seed=k, **({"rx": 28, "ry": 20} if name == "desk_lamp" else {}))
        Image.fromarray(photo).save(images / f"{name}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(masks / f"{name}.png")
        labels.append(f"{name}.png\t{label}")
    (root / "labels.txt").write_text("\n".join(labels) + "\n")
    return images, masks, root / "labels.txt"


def test_cpu_run_on_own_photos_gets_a_card_that_says_what_happened(tmp_path):
    images, masks, labels = _photos(tmp_path)
    out = tmp_path / "out"
    code = main(["generate", "--images", str(images), "--masks", str(masks), "--labels", str(labels), "--out", str(out),
                 "--subsets", "background_0,background_20,background_random,size_0.1,position_random",
                 "--steps", "2", "--edit-option", "resolution=48", "--inpainter", "opencv", "--no-progress"])
    assert code == 0
    text = (out / "README.md").read_text(encoding="utf-8")
    _, yaml_block, card = text.split("---\n", 2)  # the YAML lists the 1000 class names (e.g. "admiral")
    assert "imagenet-terms-of-access" not in yaml_block and "license_name: source-photos-licences" in yaml_block
    for fragment in RELEASE_ONLY:
        assert fragment.lower() not in card.lower(), fragment
    # the backend actually used, in the words the project promises
    assert "no diffusion prior: an offline approximation" in card
    assert "backend `cpu`" in card
    # the photos, ids and classes actually present
    assert "photos from a folder" in card and "object masks from a folder" in card
    assert "`source_id` = the photo's file name without extension (e.g. `desk_lamp`)" in card
    assert "Classes present (3): coffeepot (505), park bench (703), table lamp (846)." in card
    assert "their own licences apply" in card
    # "pixel-exact" is claimed for the background edits only: size and position move or resample the object
    for line in card.splitlines():
        if "pixel-exact" in line:
            assert "size_" not in line and "position_" not in line, line
    assert any("pixel-exact" in line and "background_20" in line for line in card.splitlines())
    # the lamp's mask covers more than 40 % of the frame: flagged in the card and the manifest
    assert "1 of 3 source masks were flagged" in card
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    flagged = {m["source_id"] for m in manifest if m["params"].get("mask_warnings")}
    assert flagged == {"desk_lamp"}
    # the release's text is still what an import of the authors' release gets
    assert "OpenAI ADM" in RELEASE_METHOD["background"] and "ILSVRC2012_val" in RELEASE_SOURCES
    assert any("animal" in line for line in RELEASE_LIMITATIONS)
