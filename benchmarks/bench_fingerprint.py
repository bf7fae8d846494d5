"""Cost of fingerprinting a generation run's inputs (sha256 of every photo and mask, cached by path/size/mtime).

``imagenet-e generate`` hashes every selected photo and mask so that a file changed between two
invocations of one run is refused (see ``generation/pipeline/fingerprint.py``). This measures, in one
process, on synthetic files:

  * baseline read - reading every file's bytes without hashing (the floor any content check pays);
  * cold          - ``compute_digests`` with an empty cache (the first invocation of a run: hashes everything);
  * baseline stat - ``os.stat`` of every file;
  * warm          - ``compute_digests`` with the cache the cold pass saved, loaded from disk (every later
                    invocation: resume, other shards, ``--merge``), cache load and save included.

It reports seconds per 10,000 source images (one photo + one mask each) and the ratios cold/read and
warm/stat. The files are freshly written, so they are in the page cache: the cold figure is the CPU
cost of sha256 plus cached reads; on a cold disk the read itself dominates (the same read the edit
pass makes anyway). A second, smaller pass uses ImageNet-sized photos (~110 KB) to show how the cold
cost scales with bytes.

    python benchmarks/bench_fingerprint.py [--n 50000] [--photo-kb 8] [--mask-kb 2] [--big-n 2000] [--big-photo-kb 110]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from generation.pipeline.fingerprint import HashCache, compute_digests
from generation.sources import Source


def make_sources(root: Path, n: int, photo_kb: int, mask_kb: int) -> list[Source]:
    rng_bytes = os.urandom(max(photo_kb, mask_kb) * 1024 + 4096)
    sources = []
    for i in range(1, n + 1):
        folder = root / f"n{i // 1000:08d}"  # ImageNet-like: many files per class folder
        folder.mkdir(exist_ok=True)
        photo, mask = folder / f"ILSVRC2012_val_{i:08d}.JPEG", folder / f"ILSVRC2012_val_{i:08d}.png"
        offset = i % 4096  # distinct content per file
        photo.write_bytes(i.to_bytes(8, "little") + rng_bytes[offset:offset + photo_kb * 1024])
        mask.write_bytes(i.to_bytes(8, "little") + rng_bytes[offset:offset + mask_kb * 1024])
        sources.append(Source(photo.stem, photo, mask, i % 1000))
    return sources


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(root: Path, n: int, photo_kb: int, mask_kb: int) -> dict[str, float]:
    root.mkdir()
    start = time.perf_counter()
    sources = make_sources(root, n, photo_kb, mask_kb)
    build = time.perf_counter() - start
    files = [p for s in sources for p in (s.image_path, s.mask_path)]

    def read_all() -> None:
        for path in files:
            with open(path, "rb") as fh:
                fh.read()

    read_all()  # same page-cache state for every pass
    cache_file = root / "input-hashes.json"
    results = {"build_s": build}
    results["read_s"] = timed(read_all)

    def cold() -> None:
        cache = HashCache(None)
        compute_digests(sources, None, cache)
        cache.save(cache_file)

    results["cold_s"] = timed(cold)
    results["stat_s"] = timed(lambda: [os.stat(p) for p in files])

    def warm() -> None:
        cache = HashCache(cache_file)
        compute_digests(sources, None, cache)
        assert cache.misses == 0
        cache.save(cache_file)

    results["warm_s"] = timed(warm)
    return results


def report(title: str, n: int, r: dict[str, float]) -> None:
    per10k = 10_000 / n
    print(f"\n{title}: {n:,} source images (photo + mask each), files built in {r['build_s']:.1f} s")
    print(f"  baseline read (no hash)   {r['read_s'] * per10k:8.3f} s per 10k images")
    print(f"  cold fingerprint          {r['cold_s'] * per10k:8.3f} s per 10k images   ratio to read {r['cold_s'] / r['read_s']:.2f}")
    print(f"  baseline stat             {r['stat_s'] * per10k:8.3f} s per 10k images")
    print(f"  warm fingerprint (cached) {r['warm_s'] * per10k:8.3f} s per 10k images   ratio to stat {r['warm_s'] / r['stat_s']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="source images in the main pass (default 50,000)")
    parser.add_argument("--photo-kb", type=int, default=8, help="photo size in the main pass (default 8 KB)")
    parser.add_argument("--mask-kb", type=int, default=2, help="mask size (default 2 KB, like an ImageNet-S PNG)")
    parser.add_argument("--big-n", type=int, default=2000, help="source images in the ImageNet-sized pass (0: skip)")
    parser.add_argument("--big-photo-kb", type=int, default=110, help="photo size of that pass (ImageNet val ~110 KB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fingerprint-") as tmp:
        main_pass = measure(Path(tmp) / "small", args.n, args.photo_kb, args.mask_kb)
        report(f"{args.photo_kb} KB photos", args.n, main_pass)
    if args.big_n:
        with tempfile.TemporaryDirectory(prefix="bench-fingerprint-") as tmp:
            big = measure(Path(tmp) / "big", args.big_n, args.big_photo_kb, args.mask_kb)
            report(f"{args.big_photo_kb} KB photos (ImageNet-sized)", args.big_n, big)
            mb_per_s = args.big_n * (args.big_photo_kb + args.mask_kb) / 1024 / big["cold_s"]
            print(f"  cold hashing throughput {mb_per_s:.0f} MB/s; all 50,000 ImageNet val photos + masks "
                  f"(~{50_000 * (args.big_photo_kb + args.mask_kb) / 1024 / 1024:.1f} GB) would take "
                  f"~{big['cold_s'] * 50_000 / args.big_n:.0f} s cold, ~{big['warm_s'] * 50_000 / args.big_n:.1f} s warm")


if __name__ == "__main__":
    main()
