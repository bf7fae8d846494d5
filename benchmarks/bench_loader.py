"""Loader throughput: images/s through ``load_dataset(folder, config)`` + decode, vs PIL on the same files.

Builds a synthetic ImageNet-E-like config (N 256x256 PNGs, default 1,000) in a temp dir, writes it
with the Hub-layout writer, then measures in one process:

  * baseline  - ``PIL.Image.open(file).load()`` over the PNG files (decoding is the floor);
  * cold      - ``load_dataset(folder, config)`` from scratch (parquet -> Arrow cache) + decode every row;
  * warm      - ``load_dataset`` again (cache hit) + decode every row;
  * streaming - ``load_dataset(..., streaming=True)`` + decode every row.

Ratios are loader images/s divided by baseline images/s (1.0 = as fast as raw decoding).

    python benchmarks/bench_loader.py [--n 1000] [--size 256]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
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


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        tmp = Path(tmp)
        os.environ["HF_DATASETS_CACHE"] = str(tmp / "cache")
        import datasets

        datasets.disable_progress_bars()
        t0 = time.perf_counter()
        files, folder = build(tmp, args.n, args.size)
        mb = sum(f.stat().st_size for f in files) / 2**20
        print(f"built {len(files)} {args.size}x{args.size} PNGs ({mb:.1f} MiB) + Hub layout in {time.perf_counter() - t0:.1f}s")

        def pil() -> int:
            for path in files:
                with Image.open(path) as img:
                    img.load()
            return len(files)

        def through_load_dataset() -> int:
            ds = datasets.load_dataset(str(folder), "background_20", split="test")
            n = 0
            for row in ds:
                row["image"].load()
                n += 1
            return n

        def streaming() -> int:
            ds = datasets.load_dataset(str(folder), "background_20", split="test", streaming=True)
            n = 0
            for row in ds:
                row["image"].load()
                n += 1
            return n

        pil()  # warm the page cache so both sides read from memory
        base_s, base_n = timed(pil)
        cold_s, cold_n = timed(through_load_dataset)
        warm_s, warm_n = timed(through_load_dataset)
        stream_s, stream_n = timed(streaming)
        assert base_n == cold_n == warm_n == stream_n == len(files)
        base_ips = base_n / base_s
        print(f"{'path':<44}{'images/s':>10}{'ratio vs PIL':>14}")
        print(f"{'PIL open+decode (baseline)':<44}{base_ips:>10.0f}{1.0:>14.2f}")
        for name, secs in (("load_dataset cold (+Arrow cache)", cold_s), ("load_dataset warm", warm_s),
                           ("load_dataset streaming", stream_s)):
            ips = base_n / secs
            print(f"{name + ' + decode':<44}{ips:>10.0f}{ips / base_ips:>14.2f}")


if __name__ == "__main__":
    main()
