"""Cost of fingerprinting a generation run's inputs (sha256 of every photo and mask, cached by path/size/mtime).

``imagenet-e generate`` hashes every selected photo and mask so that a file changed between two
invocations of one run is refused (see ``generation/pipeline/fingerprint.py``). This measures, in one
process, on synthetic files:

  * baseline read - reading every file's bytes without hashing (the floor any content check pays);
  * cold          - ``compute_digests`` with an empty cache (the first invocation of a run: hashes everything);
  * baseline stat - ``os.stat`` of every file;
  * warm          - ``compute_digests`` with the cache the cold pass saved, loaded from disk (every later
                    invocation: resume, other shards, ``--merge``), cache load and save included.

It reports, through the harness, cold against the read floor and warm against the stat floor. The files are freshly written, so they are in the page cache: the cold figure is the CPU
cost of sha256 plus cached reads; on a cold disk the read itself dominates (the same read the edit
pass makes anyway). A second, smaller pass uses ImageNet-sized photos (~110 KB) to show how the cold
cost scales with bytes.

    python -m benchmarks fingerprint [--quick]     # 50,000 small + 2,000 ImageNet-sized sources (5,000 + 300 quick)
"""

from __future__ import annotations

import os
import sys
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


def compare_pass(root: Path, n: int, photo_kb: int, mask_kb: int, repeats: int):
    """Cold vs reading every file (no hash), warm vs ``os.stat`` of every file, on one set of files."""
    from benchmarks.harness import Case, compare

    root.mkdir()
    sources = make_sources(root, n, photo_kb, mask_kb)
    files = [p for s in sources for p in (s.image_path, s.mask_path)]
    cache_file = root / "input-hashes.json"

    def read_all() -> None:
        for path in files:
            with open(path, "rb") as fh:
                fh.read()

    def cold() -> None:
        cache = HashCache(None)
        compute_digests(sources, None, cache)
        cache.save(cache_file)

    def stat_all() -> None:
        for path in files:
            os.stat(path)

    def warm() -> None:
        cache = HashCache(cache_file)
        compute_digests(sources, None, cache)
        assert cache.misses == 0, "the saved cache did not cover an unchanged file"
        cache.save(cache_file)

    cold()  # the warm case needs a saved cache before its warm-up
    per_10k = "times scale linearly: x {:.1f} for 10,000 source images".format(10_000 / n)
    return [
        compare(f"Fingerprint cold: {n:,} sources ({photo_kb} KB photo + {mask_kb} KB mask), page cache warm",
                [Case("read every file (no hash)", read_all, n), Case("compute_digests, empty cache", cold, n)],
                repeats=repeats, unit="sources", notes=[per_10k]),
        compare(f"Fingerprint warm: {n:,} sources, the cache saved by a cold pass",
                [Case("os.stat every file", stat_all, n), Case("compute_digests, cache loaded + saved", warm, n)],
                repeats=repeats, unit="sources", notes=[per_10k]),
    ]


def run(quick: bool = False) -> list:
    """``python -m benchmarks fingerprint``: small files (ImageNet-S-like masks), then ImageNet-sized photos."""
    from benchmarks.harness import rounds, scratch

    small_n, big_n = (5_000, 300) if quick else (50_000, 2_000)
    with scratch("bench-fingerprint-") as tmp:
        comps = compare_pass(tmp / "small", small_n, 8, 2, rounds(quick))
        comps += compare_pass(tmp / "big", big_n, 110, 2, rounds(quick))
    return comps


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository root
    from benchmarks.harness import write_results

    print(write_results("fingerprint", run())[1].read_text(encoding="utf-8"))
