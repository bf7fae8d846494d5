"""Evaluation throughput: ``imagenet-e evaluate`` end to end vs the plain transformers pipeline loop.

Builds, in a temp folder, a synthetic ImageNet-E dataset in the Hub layout (256x256 JPEG/PNG
images, several configs) and a ResNet-18-shaped ``transformers`` classifier from its config
(random weights, ``ConvNextImageProcessor`` as microsoft/resnet-18 uses), then measures in this
one process, images per second:

* decode only: PIL decode + RGB convert of every image (the floor for a small model);
* pipeline loop: ``pipeline("image-classification")`` called once per decoded image, the way
  most people score a model on an image folder;
* runner: :func:`imagenet_e.eval.runner.evaluate_model`, end to end (load model, open configs,
  decode in workers, batched inference, metric with 1000 bootstrap resamples, results file),
  after one warm-up run that fills the ``datasets`` cache as a user's first run would.

Prints the ratios runner / pipeline loop and runner / decode. Default size keeps the run
around a minute on 2 cores; ``--sources`` / ``--configs`` scale it.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
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


def bench_decode(blobs: list[bytes]) -> float:
    start = time.perf_counter()
    for blob in blobs:
        Image.open(io.BytesIO(blob)).convert("RGB")
    return len(blobs) / (time.perf_counter() - start)


def bench_pipeline(model_dir: Path, blobs: list[bytes], limit: int) -> float:
    """Images/s of the per-image pipeline loop, timed on the first ``limit`` images (a rate, so a
    sample suffices: the loop's cost per image does not change along the dataset)."""
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(model_dir), device="cpu")
    pipe(Image.open(io.BytesIO(blobs[0])).convert("RGB"))  # warm-up, as for the runner
    sample = blobs[:limit]
    start = time.perf_counter()
    for blob in sample:
        pipe(Image.open(io.BytesIO(blob)).convert("RGB"))
    return len(sample) / (time.perf_counter() - start)


def bench_model_only(model_dir: Path, batch_size: int, seconds: float = 5.0) -> float:
    """Images/s of the bare forward pass on random 224x224 batches (channels_last, inference mode):
    the compute bound no loader can beat, so the runner's share of it says what is left to gain."""
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(model_dir).eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, 3, 224, 224).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(pixel_values=x)
        start, done = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            model(pixel_values=x)
            done += batch_size
    return done / (time.perf_counter() - start)


def bench_runner(model_dir: Path, dataset: Path, out: Path, batch_size: int, workers: int | None) -> tuple[float, dict]:
    from imagenet_e.eval.runner import evaluate_model

    evaluate_model(str(model_dir), dataset, limit=1, num_workers=0, n_bootstrap=10, progress=False)  # warm caches
    start = time.perf_counter()
    doc = evaluate_model(str(model_dir), dataset, batch_size=batch_size, num_workers=workers, output=out,
                         progress=False)
    seconds = time.perf_counter() - start
    return sum(doc["counts"].values()) / seconds, doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=32, help="source images per config")
    parser.add_argument("--pipeline-images", type=int, default=32, help="images the pipeline loop is timed on")
    parser.add_argument("--configs", default="original,background_20,size_0.05,direction_random")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=None)
    args = parser.parse_args()

    configs = [c.strip() for c in args.configs.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("HF_DATASETS_CACHE", str(root / "hf-cache"))
        dataset = build_dataset(root, configs, args.sources)
        model_dir = build_model(root)
        blobs = encoded_images(dataset)
        print(f"{len(blobs)} images (256x256) in {len(configs)} configs; ResNet-18-shaped model, "
              f"torch threads {torch.get_num_threads()}, cores {os.cpu_count()}")
        decode = bench_decode(blobs)
        print(f"decode only        {decode:8.1f} img/s")
        runner, doc = bench_runner(model_dir, dataset, root / "results.json", args.batch_size, args.num_workers)
        print(f"runner end to end  {runner:8.1f} img/s  (batch {args.batch_size}, workers {doc['run']['num_workers']})")
        pipe = bench_pipeline(model_dir, blobs, args.pipeline_images)
        print(f"pipeline loop      {pipe:8.1f} img/s  (timed on {min(len(blobs), args.pipeline_images)} images)")
        bound = bench_model_only(model_dir, args.batch_size)
        print(f"model forward only {bound:8.1f} img/s  (batch {args.batch_size}, no data)")
        print(f"runner / pipeline loop = {runner / pipe:.2f}x   runner / decode only = {runner / decode:.3f}x   "
              f"runner / model forward only = {runner / bound:.2f}x")


if __name__ == "__main__":
    main()
