"""Evaluation throughput, steady state: the runner vs a minimal torch loop vs the bare forward.

Builds, in a temp folder, a synthetic ImageNet-E dataset in the Hub layout (256x256 JPEG/PNG, four
configs; 32 sources full, 8 ``--quick``) and a ResNet-18-shaped ``transformers`` classifier from its
config (random weights), loads the model once, then compares, interleaved (:mod:`benchmarks.harness`):

* ``bare forward`` (baseline): the model on random preprocessed-size batches, no data at all;
* ``minimal torch loop``: the same images' bytes read once from parquet, PIL decode + the model's
  own preprocessing + batched forward in one process (what a person writes by hand);
* ``runner``: :func:`imagenet_e.eval.runner.evaluate_model` with the model already loaded
  (``loaded_model``): open configs, decode in workers, batched inference, predictions and results
  files, the metric with 10 bootstrap resamples (intervals are the metric benchmark's business).

Start-up (model load, first dataset open) falls in the warm-up round. The goal: runner >= 0.9x the
bare forward's images/s.

    python -m benchmarks eval [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def build_dataset(root: Path, configs: list[str], sources: int, seed: int = 0) -> Path:
    from imagenet_e_dataset.hub_layout import HubLayoutWriter
    from imagenet_e_dataset.registry import SUBSETS

    rng = np.random.default_rng(seed)
    with HubLayoutWriter(root / "dataset") as writer:
        for i in range(sources):
            base = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
            image = Image.fromarray(base).resize((256, 256), Image.Resampling.BICUBIC)
            for config in configs:
                # The release keeps these as JPEG (the registry's file extension), the edits as PNG.
                fmt = "JPEG" if SUBSETS[config].file_extension == ".JPEG" else "PNG"
                buf = io.BytesIO()
                image.rotate(int(rng.integers(0, 360))).save(buf, format=fmt, quality=90)
                writer.add(config, {"image": {"bytes": buf.getvalue(), "path": None},
                                    "label": int(rng.integers(0, 1000)), "source_id": f"ILSVRC2012_val_{i + 1:08d}"})
        return writer.finalize()


def build_model(root: Path) -> Path:
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    from imagenet_e_dataset.labels import synonyms

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2],
                          layer_type="basic", num_labels=1000, id2label=dict(enumerate(synonyms())),
                          label2id={s: i for i, s in enumerate(synonyms())})
    model = ResNetForImageClassification(config).eval()
    folder = root / "resnet18-shaped"
    model.save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875).save_pretrained(folder)
    return folder


def encoded_images(dataset: Path) -> list[bytes]:
    import pyarrow.parquet as pq

    out: list[bytes] = []
    for file in sorted(dataset.rglob("*.parquet")):
        out += [row["bytes"] for row in pq.read_table(file, columns=["image"]).column("image").to_pylist()]
    return out


def run(quick: bool = False) -> list:
    from imagenet_e.eval.models import load_model
    from imagenet_e.eval.runner import evaluate_model

    from .harness import Case, compare, rounds, scratch

    configs = ["original", "background_20", "size_0.05", "direction_random"]
    sources, batch_size = (8, 16) if quick else (32, 32)
    with scratch("bench-eval-") as root:
        os.environ.setdefault("HF_DATASETS_CACHE", str(root / "hf-cache"))
        dataset = build_dataset(root, configs, sources)
        model_dir = build_model(root)
        blobs = encoded_images(dataset)
        n = len(blobs)
        loaded = load_model(str(model_dir))
        model, preprocess = loaded.module, loaded.preprocess
        shape = tuple(preprocess(Image.open(io.BytesIO(blobs[0])).convert("RGB")).shape)
        runs = iter(range(10_000))

        def forward_batches(batches) -> None:
            with torch.inference_mode():
                for x in batches:
                    model(x)

        random_batches = [torch.randn(min(batch_size, n - i), *shape) for i in range(0, n, batch_size)]

        def bare() -> None:
            forward_batches(random_batches)

        def minimal() -> None:
            def batches():
                for i in range(0, n, batch_size):
                    yield torch.stack([preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs[i:i + batch_size]])
            forward_batches(batches())

        def runner(num_workers: int | None = None):
            def once() -> None:
                k = next(runs)
                doc = evaluate_model(str(model_dir), dataset, loaded_model=loaded, batch_size=batch_size,
                                     num_workers=num_workers, output=root / f"results-{k}.json", n_bootstrap=10,
                                     progress=False)
                assert sum(doc["counts"].values()) == n
            return once

        comp = compare(f"Evaluation: {n} images (4 configs x {sources}), ResNet-18-shaped, batch {batch_size}, "
                       f"torch threads {torch.get_num_threads()}", [
                           Case("bare forward (random batches)", bare, n),
                           Case("minimal torch loop (decode + preprocess + forward)", minimal, n),
                           Case("runner evaluate_model (model loaded)", runner(), n),
                           # The worker count the runner does not pick on <= 2 cores (the A/B behind that default).
                           Case("runner, 1 DataLoader worker", runner(1), n),
                       ], repeats=rounds(quick), unit="images",
                       notes=["goal: runner >= 0.9x the bare forward's images/s (x baseline time <= 1.11)"])
    return [comp]


if __name__ == "__main__":
    from .harness import write_results

    print(write_results("eval", run())[1].read_text())
