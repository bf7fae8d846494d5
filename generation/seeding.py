"""Per-image seeds: every random draw of an edit comes from (global seed, source id, subset).

A stable hash (not Python's salted ``hash``) so a seed means the same thing on every machine,
process and run; a single image can be regenerated alone, and a resumed or sharded run draws
exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(global_seed: int, source_id: str, subset: str) -> int:
    """A 63-bit seed for one (source image, subset) pair.

    >>> derive_seed(404, "ILSVRC2012_val_00000001", "size_0.1") == derive_seed(404, "ILSVRC2012_val_00000001", "size_0.1")
    True
    >>> derive_seed(404, "ILSVRC2012_val_00000001", "size_0.1") != derive_seed(405, "ILSVRC2012_val_00000001", "size_0.1")
    True
    """
    digest = hashlib.sha256(f"imagenet-e|{int(global_seed)}|{source_id}|{subset}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def seed_for(global_seed: int, source_id: str, subset) -> int:
    """The seed of one (source image, subset) row: :func:`derive_seed` of the subset spec's seed key
    (its config name, or one key shared by every level of a severity sweep)."""
    return derive_seed(global_seed, source_id, subset.spec.seed_key())


def rng_for(seed: int) -> np.random.Generator:
    """The numpy generator every CPU-side draw for one item uses."""
    return np.random.Generator(np.random.PCG64(seed))
