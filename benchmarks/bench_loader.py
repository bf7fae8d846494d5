"""Loader throughput: ``load_dataset(folder, config)`` + decode, warm and streaming, vs PIL decode of the same files.

Builds a synthetic config (N 256x256 PNGs: 1,000 full, 200 ``--quick``) in a temp dir with the
Hub-layout writer, then compares, interleaved (see :mod:`benchmarks.harness`):

* ``PIL decode`` (baseline): ``PIL.Image.open(file).load()`` over the PNG files (the floor);
* ``load_dataset warm``: ``load_dataset`` with its Arrow cache already built + decode every row;
* ``load_dataset streaming``: ``streaming=True`` + decode every row (its one-time start-up falls in
  the warm-up round, not in the timed ones);
* ``load_dataset warm, bytes in batches``: the eval runner's route (``Image(decode=False)``,
  ``Dataset.iter``), PIL decoding the bytes;
* ``imagenet_e_dataset.load`` warm and streaming: the project's reader (card read once, libyaml,
  the parquet builder);
* ``imagenet_e_dataset.reader.iter_rows``: the pyarrow fast path (no ``datasets`` at all);
* ``load_dataset cold``: a fresh cache directory every call (parquet -> Arrow) + decode.

    python -m benchmarks loader [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image


def synthetic_png(rng: np.random.Generator, size: int) -> bytes:
    # Smooth colour field plus mild noise: compresses like a photo-ish PNG, not like pure noise.
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    freq = rng.uniform(1, 6, size=3)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    channels = [127 + 100 * np.sin(2 * np.pi * (f * xx + (f / 2) * yy) + p) for f, p in zip(freq, phase)]
    img = np.stack(channels, axis=-1) + rng.normal(0, 3, size=(size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buffer, format="PNG", compress_level=1)  # fast to build; decode cost is alike
    return buffer.getvalue()


def build(root: Path, n: int, size: int) -> tuple[list[Path], Path]:
    from imagenet_e_dataset.hub_layout import HubLayoutWriter

    rng = np.random.default_rng(0)
    files_dir = root / "files"
    files_dir.mkdir()
    files = []
    writer = HubLayoutWriter(root / "hub")
    for i in range(1, n + 1):
        data = synthetic_png(rng, size)
        path = files_dir / f"ILSVRC2012_val_{i:08d}.png"
        path.write_bytes(data)
        files.append(path)
        writer.add("background_20", {"image": {"bytes": data, "path": path.name}, "label": i % 1000,
                                     "source_id": path.stem, "seed": i})
    return files, writer.finalize({"repo_id": "bench/imagenet-e"})


def run(quick: bool = False) -> list:
    from .harness import scratch

    n, size = (200, 256) if quick else (1000, 256)
    with scratch("bench-loader-") as tmp:
        return _compare(tmp, n, size, quick)


def _compare(tmp: Path, n: int, size: int, quick: bool) -> list:
    from .harness import Case, compare, rounds

    os.environ["HF_DATASETS_CACHE"] = str(tmp / "cache")
    import datasets

    from imagenet_e_dataset.reader import iter_rows, load

    datasets.disable_progress_bars()
    files, folder = build(tmp, n, size)
    colds = iter(range(10_000))

    def pil() -> None:
        for path in files:
            with Image.open(path) as img:
                img.load()

    def decode_all(ds) -> None:
        count = 0
        for row in ds:
            row["image"].load()
            count += 1
        assert count == n

    def warm() -> None:
        decode_all(datasets.load_dataset(str(folder), "background_20", split="test"))

    def streaming() -> None:
        decode_all(datasets.load_dataset(str(folder), "background_20", split="test", streaming=True))

    def warm_batched() -> None:
        # The eval runner's route: encoded bytes in batches (no per-row dict or Image feature), PIL decode.
        ds = datasets.load_dataset(str(folder), "background_20", split="test")
        ds = ds.cast_column("image", datasets.Image(decode=False))
        count = 0
        for batch in ds.iter(batch_size=64):
            for image in batch["image"]:
                with Image.open(io.BytesIO(image["bytes"])) as img:
                    img.load()
                count += 1
        assert count == n

    def reader_warm() -> None:
        decode_all(load("background_20", folder))

    def reader_streaming() -> None:
        decode_all(load("background_20", folder, streaming=True))

    def fast_path() -> None:
        decode_all(iter_rows("background_20", folder))

    def cold() -> None:
        decode_all(datasets.load_dataset(str(folder), "background_20", split="test",
                                         cache_dir=str(tmp / f"cold-{next(colds)}")))

    return [compare(f"Loader: {n} PNGs {size}x{size}, open + decode every image", [
        Case("PIL decode (same files)", pil, n),
        Case("load_dataset warm + decode", warm, n),
        Case("load_dataset streaming + decode", streaming, n),
        Case("load_dataset warm, bytes in batches + PIL decode", warm_batched, n),
        Case("imagenet_e_dataset.load warm + decode", reader_warm, n),
        Case("imagenet_e_dataset.load streaming + decode", reader_streaming, n),
        Case("imagenet_e_dataset.reader.iter_rows (pyarrow) + decode", fast_path, n),
        Case("load_dataset cold (fresh cache) + decode", cold, n),
    ], repeats=rounds(quick), unit="images",
        notes=["goal: warm and streaming >= 0.9x the PIL decode throughput (x baseline time <= 1.11)",
               "load_dataset(folder, config) parses the card's YAML (1,000 class names) with PyYAML's pure-Python "
               "loader on every call (huggingface_hub's RepoCard); imagenet_e_dataset.load reads it once per file "
               "version with libyaml and opens the shards through the parquet builder"])]


if __name__ == "__main__":
    from .harness import write_results

    print(write_results("loader", run())[1].read_text())
