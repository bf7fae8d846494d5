"""Batch generation end to end: a synthetic ImageNet val + ImageNet-S layout in, ImageNet-E out.

Runs the real pipeline (PatchMatch removal, the CPU background editor at a few iterations, a tiny
random ImageNet-1k classifier for the adversarial subset, 64x64 working resolution) and checks
what users rely on: every subset loads, bad sources are reported and the rest is complete, a run
killed with SIGKILL and restarted gives the same bytes, sharded work merges to the same bytes,
and the dataset pushes to (and loads back from) a Hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.seeding import derive_seed
from imagenet_e.cli import build_parser, main
from imagenet_e_dataset.registry import SUBSETS
from helpers.layouts import official_label, sid, write_layout

REPO = Path(__file__).resolve().parent.parent
GOOD = range(1, 7)
SELECTED = [sid(n) for n in GOOD]
CHUNKS = 4  # 6 good + the truncated JPEG (only found when decoded) = 7 selected sources, chunk size 2


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory) -> str:
    """A randomly initialised ImageNet-1k ResNet (transformers), saved as a folder: ``hf:<folder>``."""
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

    from imagenet_e_dataset.labels import class_names

    folder = tmp_path_factory.mktemp("tiny-classifier")
    torch.manual_seed(0)
    names = class_names()
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=1000,
                          id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    ResNetForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return f"hf:{folder}"


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> dict:
    return write_layout(tmp_path_factory.mktemp("imagenet"), GOOD)


def cli_args(layout: dict, out: Path, classifier: str, *extra: str) -> list[str]:
    return [
        "generate", "--images", str(layout["images"]), "--masks", str(layout["masks"]), "--out", str(out),
        "--subsets", "all", "--steps", "3", "--classifier", classifier, "--edit-option", "resolution=64",
        "--chunk-size", "2", "--batch-size", "2", "--single-object", "--no-progress", *extra,
    ]


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(layout, tiny_classifier, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "imagenet-e"
    assert main(cli_args(layout, out, tiny_classifier)) == 0
    assert not (out.parent / "imagenet-e.work").exists()  # the chunks are dropped once merged
    return out


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_every_subset_loads_with_its_rows(clean, layout):
    import datasets

    entries = manifest(clean)
    unreachable = {(e["source_id"], e["subset"]) for e in entries if e["status"] == "unreachable"}
    for config in SUBSETS:
        ds = datasets.load_dataset(str(clean), config, split="test")
        expected = [s for s in SELECTED if (s, config) not in unreachable]
        assert ds["source_id"] == expected, config
        assert ds["label"] == [official_label(int(s[-8:])) for s in expected]
        assert set(ds["attribute"]) == {SUBSETS[config].attribute.name}
        if config == "original":
            assert ds["seed"] == [None] * len(expected)
            raw = ds.cast_column("image", datasets.Image(decode=False))["image"]
            assert [r["bytes"] for r in raw] == [(layout["images"] / f"{s}.JPEG").read_bytes() for s in expected]
        else:
            assert ds["seed"] == [derive_seed(404, s, config) for s in expected]
        row = ds[0]
        mask = np.asarray(row["object_mask"]) > 127
        assert mask.shape == np.asarray(row["image"]).shape[:2] and mask.any()
        if config.startswith("size_0"):
            # Reached on the photo, where the official protocol transforms (the mask at 64 px also carries
            # the authors' one-pixel rim), or "Invalid size" with the untransformed object, as the authors do.
            rates = [e["params"]["rate"] for e in entries if e["subset"] == config and e["status"] == "ok"]
            assert all(abs(r - float(SUBSETS[config].level)) <= 0.015 or e["params"].get("invalid_size")
                       for r, e in zip(rates, [e for e in entries if e["subset"] == config and e["status"] == "ok"])), rates
    # Every (source, subset) pair is accounted for in the manifest, with the sha256 of the bytes stored.
    assert {(e["source_id"], e["subset"]) for e in entries} == {(s, c) for s in SELECTED for c in SUBSETS}
    donors = [e["params"]["other_source_id"] for e in entries if e["subset"] == "background_random" and e["status"] == "ok"]
    assert donors and all(d in SELECTED for d in donors)
    assert all(d != e["source_id"] for d, e in zip(donors, [e for e in entries if e["subset"] == "background_random"]))
    # The protocol (the authors', with the test's resolution) is recorded per row, in the card and in protocol.json.
    label = "official protocol with overrides: resolution=64"
    assert {e["params"]["protocol"] for e in entries if e["subset"] != "original"} == {label}
    record = json.loads((clean / "protocol.json").read_text())
    assert record["label"] == label and record["name"] == "official" and record["overrides"] == {"resolution": 64}
    assert record["settings"]["full_mode"] == "official" and record["settings"]["harmonize"] is True
    card = (clean / "README.md").read_text()
    assert f"| protocol | `{label}` |" in card and "| edit object_box | `largest_contour` |" in card
    assert f"Editing protocol: **{label}**. Every step is the authors' ImageNet-Editing code's but the overridden" in card


def test_bad_sources_are_reported_and_counted_in_the_card(clean):
    lines = (clean / "skipped.tsv").read_text().splitlines()
    assert lines[0] == "source_id\tsubset\treason\tdetail"
    whole = {line.split("\t")[0]: line.split("\t")[2] for line in lines[1:] if line.split("\t")[1] == "*"}
    assert whole == {
        sid(11): "missing_mask", sid(12): "empty_mask", sid(13): "mask_size_mismatch",
        sid(14): "unreadable_image", sid(15): "unreadable_image", sid(16): "multiple_objects",
    }
    assert str(clean.parent) not in (clean / "skipped.tsv").read_text()  # no local paths published
    card = (clean / "README.md").read_text()
    assert "`missing_mask`: 1" in card and "`unreadable_image`: 2" in card and "multiple_objects`: 1" in card
    assert "single_object" in card and "efficientnet" not in card and "hf:" in card


def _wait_for(path: Path, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"generation exited early with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


def test_killed_run_resumes_to_identical_bytes(clean, layout, tiny_classifier, tmp_path):
    out = tmp_path / "imagenet-e"
    chunks = tmp_path / "imagenet-e.work" / "chunks"
    log = open(tmp_path / "log.txt", "w")
    process = subprocess.Popen([sys.executable, "-m", "imagenet_e.cli", *cli_args(layout, out, tiny_classifier)],
                               cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(chunks / "chunk-000000.parquet", process, timeout=300)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    done = sorted(p.name for p in chunks.glob("chunk-*.parquet"))
    assert 1 <= len(done) < CHUNKS and not out.exists(), done

    # A restart with other arguments must not mix its chunks into this run.
    with pytest.raises(ValueError, match="different arguments") as info:
        main_raising(cli_args(layout, out, tiny_classifier, "--seed", "7"))
    assert "seed" in str(info.value)

    assert main(cli_args(layout, out, tiny_classifier)) == 0
    assert digest(out) == digest(clean)


def main_raising(argv: list[str]):
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_launcher_ranks_and_job_array_shards_merge_to_identical_bytes(clean, layout, tiny_classifier, tmp_path, hub_server):
    import datasets

    from generation.generate_command import settings_from_args
    from generation.pipeline import Inputs, Placement, generate

    # Two ranks of a launch (torchrun / accelerate): rank 0 waits for rank 1's chunks, then merges.
    out = tmp_path / "launch" / "imagenet-e"
    settings = settings_from_args(build_parser().parse_args(cli_args(layout, out, tiny_classifier)))
    inputs = Inputs(layout["images"], layout["masks"])
    errors: list[BaseException] = []

    def rank1() -> None:
        try:
            generate(inputs, settings, out, Placement(num_shards=2, shard_index=1, launcher=True, progress=False))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=rank1)
    thread.start()
    report = generate(inputs, settings, out, Placement(num_shards=2, shard_index=0, launcher=True, progress=False),
                      wait_poll_s=0.1)
    thread.join()
    assert not errors and report.out == out
    assert digest(out) == digest(clean)

    # A job array: each shard commits its chunks; --merge refuses until all exist, then assembles and pushes.
    out = tmp_path / "array" / "imagenet-e"
    assert main(cli_args(layout, out, tiny_classifier, "--num-shards", "2", "--shard-index", "1")) == 0
    assert not out.exists()
    with pytest.raises(ValueError, match="2 of 4 chunks are not generated"):
        main_raising(cli_args(layout, out, tiny_classifier, "--merge"))
    assert main(cli_args(layout, out, tiny_classifier, "--num-shards", "2", "--shard-index", "0")) == 0
    repo_id = f"tests/imagenet-e-gen-{uuid.uuid4().hex[:8]}"
    assert main(cli_args(layout, out, tiny_classifier, "--merge", "--repo-id", repo_id)) == 0
    merged, reference = digest(out), digest(clean)
    assert {k: v for k, v in merged.items() if k != "README.md"} == {k: v for k, v in reference.items() if k != "README.md"}
    # The card differs only in the repo id its loading snippets name (linked once the id is known).
    card = (out / "README.md").read_text().replace(f"[`{repo_id}`](https://huggingface.co/datasets/{repo_id})",
                                                   "`<org>/imagenet-e` (not published yet)")
    assert card.replace(repo_id, "<org>/imagenet-e") == (clean / "README.md").read_text()

    ds = datasets.load_dataset(repo_id, "background_20", split="test")
    local = datasets.load_dataset(str(clean), "background_20", split="test")
    assert ds["source_id"] == local["source_id"] and ds["seed"] == local["seed"]
    assert [np.asarray(a).tobytes() for a in ds["image"]] == [np.asarray(b).tobytes() for b in local["image"]]


def test_placement_reads_launcher_environment(monkeypatch):
    from generation.pipeline import Placement

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    placement = Placement.from_environment()
    assert (placement.num_shards, placement.shard_index, placement.launcher, placement.merges) == (4, 3, True, False)
    assert Placement.from_environment(2, 0).launcher is False  # explicit job-array shards win
    monkeypatch.setenv("RANK", "0")
    assert Placement.from_environment().merges
    monkeypatch.delenv("WORLD_SIZE")
    assert Placement.from_environment().merges
    with pytest.raises(ValueError, match="--shard-index"):
        Placement(num_shards=2, shard_index=2)


def test_bad_arguments_are_clear_errors(layout, tmp_path, capsys):
    base = ["generate", "--images", str(layout["images"]), "--masks", str(layout["masks"]), "--out", str(tmp_path / "o")]
    assert main([*base, "--subsets", "background_99"]) == 1
    assert "'background_99' is not one of the declared subsets" in capsys.readouterr().err
    assert main([*base, "--backend", "diffusion"]) == 1
    assert "--unet" in capsys.readouterr().err
    assert main([*base, "--merge"]) == 1
    assert "nothing to merge" in capsys.readouterr().err
    (tmp_path / "o").mkdir()
    assert main([*base, "--limit", "1"]) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_diffusion_backend_runs_batches_through_the_pipeline(layout, tmp_path):
    import datasets
    import torch
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    UNet2DModel(  # ADM-shaped (scale-shift norm, resnet resampling, attention, learned sigma), tiny
        sample_size=32, in_channels=3, out_channels=6, block_out_channels=(32, 32), layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "ResnetUpsampleBlock2D"),
        attention_head_dim=16, resnet_time_scale_shift="scale_shift", attn_norm_num_groups=32,
        downsample_type="resnet", upsample_type="resnet",
    ).save_pretrained(tmp_path / "unet")
    out = tmp_path / "out"
    base = ["generate", "--images", str(layout["images"]), "--masks", str(layout["masks"]), "--backend", "diffusion",
            "--unet", str(tmp_path / "unet"), "--steps", "2", "--subsets", "background_0,20_smooth,position_random",
            "--limit", "3", "--chunk-size", "3", "--batch-size", "3", "--no-progress"]
    assert main([*base, "--out", str(out), "--keep-work"]) == 0
    entries = manifest(out)
    edited = [e for e in entries if e["subset"].startswith("background")]
    assert len(edited) == 6 and {e["params"]["backend"] for e in edited} == {"diffusion"}
    assert {e["params"]["lam"] for e in edited} == {0.0, -20.0}
    assert "editor unet_config_sha256_16" in (out / "README.md").read_text()
    ds = datasets.load_dataset(str(out), "background_-20", split="test")
    assert ds["source_id"] == SELECTED[:3]
    for row in ds:
        image, mask = np.asarray(row["image"]), np.asarray(row["object_mask"]) > 127
        assert image.shape == (32, 32, 3) and 0 < mask.mean() < 1  # the UNet's sample_size, without --resolution
    card = (out / "README.md").read_text()
    assert "| edit resolution | `32` |" in card and "| edit resolution from | `model` |" in card
    assert {e["params"]["protocol"] for e in entries if e["subset"] != "original"} == {"official"}
    # The official protocol harmonises position_random through the diffusion editor too (λ = 0).
    moved = [e for e in entries if e["subset"] == "position_random"]
    assert {e["params"]["backend"] for e in moved} == {"diffusion"} and {e["params"]["lam"] for e in moved} == {0.0}
    # --resolution overrides the model's size, and is recorded as an override of the protocol.
    from generation.generate_command import settings_from_args

    override = settings_from_args(build_parser().parse_args([*base, "--out", str(out), "--resolution", "64"]))
    assert override.model_resolution == 32 and override.edit_options_object().resolution == 64
    assert override.protocol_object().label == "official protocol with overrides: resolution=64"
    # A resume with another batch size is refused: batching may move a guided pixel by one level.
    assert sorted(p.name for p in (tmp_path / "out.work" / "chunks").iterdir()) == ["chunk-000000.parquet"]
    with pytest.raises(ValueError, match="batch_size: 3 then, 1 now"):
        main_raising([*base, "--batch-size", "1", "--out", str(out)])


def test_partial_chunk_files_of_a_killed_process_are_removed(tmp_path):
    import tempfile

    from generation.pipeline import WorkFolder

    work = WorkFolder(tmp_path / "run.work")
    work.chunks.mkdir(parents=True)

    def partial(index: int) -> Path:
        # What atomic_path leaves behind when the process dies mid-write (same prefix/suffix as it uses).
        fd, name = tempfile.mkstemp(prefix=f".{work.chunk_path(index).name}.", suffix=".tmp", dir=work.chunks)
        os.write(fd, b"half a parquet file")
        os.close(fd)
        return Path(name)

    mine, theirs = partial(3), partial(4)
    work.commit(5, [])
    work.clean_temporaries([3, 5])
    assert not mine.exists()
    assert theirs.exists()  # another shard's write in flight is left alone
    assert work.is_done(5)


def test_cpu_backend_keeps_its_guiding_classifier_beside_it(monkeypatch):
    import torch

    import generation.guidance_classifier as guidance
    from helpers.scenes import TinyClassifier
    from generation.pipeline import GenerateSettings, Placement, build_editor

    classifier = TinyClassifier().eval()
    # On a CUDA machine, --backend cpu with --device auto must not put the classifier on the GPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # cuda:1 below must exist
    asked: list[str] = []

    def fake_loader(name: str, device: str = "cpu"):
        asked.append(device)
        return classifier

    monkeypatch.setattr(guidance, "load_guidance_classifier", fake_loader)
    settings = GenerateSettings(subsets=("background_20_adv",), backend="cpu")
    editor = build_editor(settings, Placement(progress=False))
    assert asked == ["cpu"] and editor.device == "cpu"
    editor = build_editor(settings, Placement(device="cuda:1", progress=False))
    assert asked[-1] == "cuda:1" and editor.device == "cuda:1"


def test_one_image_regenerated_alone_matches_the_batch_run(clean, layout, tmp_path):
    # The recorded per-image seed lets any image be regenerated alone with `imagenet-e edit`.
    import datasets

    source = SELECTED[2]
    photo = layout["images"] / f"{source}.JPEG"
    (mask,) = layout["masks"].rglob(f"{source}.png")
    for subset in ("position_random", "direction_random", "background_-20"):
        out = tmp_path / f"{subset}.png"
        assert main(["edit", str(photo), str(mask), "--subsets", subset, "--out", str(out), "--resolution", "64",
                     "--steps", "3"]) == 0
        ds = datasets.load_dataset(str(clean), subset, split="test")
        row = ds[ds["source_id"].index(source)]
        assert row["seed"] == derive_seed(404, source, subset)
        with Image.open(out) as alone:
            assert np.array_equal(np.asarray(alone), np.asarray(row["image"])), subset


def test_edit_is_the_pipeline_on_one_photo_with_its_donor_and_classifier(clean, layout, tiny_classifier, tmp_path):
    """``edit`` of one photo gives the bytes ``generate`` wrote for it, for every subset at once: the donor
    background, the guiding classifier (loaded and placed the same way) and the label included."""
    import datasets

    source = SELECTED[3]
    entries = {e["subset"]: e for e in manifest(clean) if e["source_id"] == source}
    donor = entries["background_random"]["params"]["other_source_id"]
    photo = layout["images"] / f"{source}.JPEG"
    (mask,) = layout["masks"].rglob(f"{source}.png")
    (donor_mask,) = layout["masks"].rglob(f"{donor}.png")
    out = tmp_path / "edits"
    label = official_label(int(source[-8:]))
    assert main(["edit", str(photo), str(mask), "--subsets", "all", "--out", str(out), "--resolution", "64",
                 "--steps", "3", "--classifier", tiny_classifier, "--label", str(label), "--no-progress",
                 "--random-background", str(layout["images"] / f"{donor}.JPEG"),
                 "--random-background-mask", str(donor_mask)]) == 0
    record = json.loads((out / "edits.json").read_text())
    assert record["edits"]["background_random"]["other_source_id"] == donor
    compared = 0
    for config in SUBSETS:
        if entries[config]["status"] != "ok":
            assert record["edits"][config]["status"] == entries[config]["status"], config
            continue
        ds = datasets.load_dataset(str(clean), config, split="test").cast_column("image", datasets.Image(decode=False))
        row = ds[ds["source_id"].index(source)]
        if config == "original":  # the dataset keeps the photo's file; edit shows its pixels as a PNG
            with Image.open(out / "original.png") as alone, Image.open(photo) as given:
                assert np.array_equal(np.asarray(alone), np.asarray(given.convert("RGB")))
            continue
        assert (out / f"{config}.png").read_bytes() == row["image"]["bytes"], config
        compared += 1
    assert compared >= 9  # the diffusion-free cpu editor reaches every edited subset of this photo


def test_a_refused_resume_names_only_the_settings_that_changed(tmp_path):
    from generation.pipeline import WorkFolder

    def run_doc(threshold: float) -> dict:
        # Tuples here, lists once read back from run.json: the same sweep, not a change.
        settings = {"sweeps": (("size", (0.02, 0.1)),), "mask_threshold": threshold}
        return {"fingerprint": f"fp-{threshold}", "settings": settings}

    WorkFolder(tmp_path / "run.work").claim(run_doc(0.6))
    with pytest.raises(ValueError) as info:
        WorkFolder(tmp_path / "run.work").claim(run_doc(0.5))
    assert "mask_threshold: 0.6 then, 0.5 now" in str(info.value)
    assert "sweeps" not in str(info.value)
