"""The content of a run's inputs: sha256 of every selected photo and mask and of the labels file.

The run's fingerprint covers these digests, so a photo, mask or labels file changed between two
invocations of one run (a resumed run, another shard of a job array, ``--merge``) is refused,
naming the file, instead of producing a dataset that mixes old and new edits. The photos are also
checked again when a chunk reads them (:meth:`InputDigests.check_image`), which closes the window
between hashing and reading.

Hashing every input each time would cost a full read of the inputs per invocation, so digests are
cached in the work folder (``input-hashes.json``) keyed by (absolute path, size, mtime in ns): an
unchanged file is only ``stat``-ed. ``benchmarks/bench_fingerprint.py`` measures both costs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from imagenet_e_dataset.atomic import atomic_write_bytes
from imagenet_e_dataset.checksums import file_sha256, sha256_bytes
from imagenet_e_dataset.jsonsafe import canonical_json

from ..sources import Source

CACHE_NAME = "input-hashes.json"
INPUTS_NAME = "inputs.json"
_CACHE_VERSION = 1


class HashCache:
    """sha256 of files, remembered per (absolute path, size, mtime_ns)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.hits = 0
        self.misses = 0
        if path is not None and path.is_file():
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                doc = {}  # a damaged cache only costs a re-hash
            if isinstance(doc, dict) and doc.get("version") == _CACHE_VERSION and isinstance(doc.get("files"), dict):
                self.entries = doc["files"]

    def sha256(self, path: Path) -> str:
        key = str(Path(path).absolute())
        stat = os.stat(key)
        known = self.entries.get(key)
        if isinstance(known, list) and len(known) == 3 and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            self.hits += 1
            return str(known[2])
        self.misses += 1
        value = file_sha256(key)
        self.entries[key] = [stat.st_size, stat.st_mtime_ns, value]
        return value

    def save(self, path: Path | None = None) -> None:
        target = path or self.path
        if target is None or not self.misses:
            return
        doc = {"version": _CACHE_VERSION, "files": self.entries}
        atomic_write_bytes(target, json.dumps(doc, sort_keys=True).encode("utf-8"))


@dataclass(frozen=True)
class InputDigests:
    """Per-source ``(image name, image sha256, mask sha256)`` and the labels file's digest."""

    sources: Mapping[str, tuple[str, str, str]]
    paths: Mapping[str, tuple[str, str]]
    """Per source: the image and mask paths, for messages (not part of the digest: moving the input
    folder does not change the output)."""
    labels: tuple[str, str] | None
    """(path, sha256) of the labels file, when one is used."""

    def digest(self) -> str:
        doc = {
            "sources": {sid: list(v) for sid, v in sorted(self.sources.items())},
            "labels_sha256": None if self.labels is None else self.labels[1],
        }
        return sha256_bytes(canonical_json(doc).encode("utf-8"))

    def describe(self) -> str:
        labels = "" if self.labels is None else ", labels file"
        return f"sha256 {self.digest()[:16]} of {len(self.sources)} photos and masks{labels}"

    def document(self) -> dict[str, Any]:
        return {
            "sources": {sid: {"image": self.paths[sid][0], "image_sha256": v[1], "mask": self.paths[sid][1],
                              "mask_sha256": v[2]} for sid, v in sorted(self.sources.items())},
            "labels": None if self.labels is None else {"path": self.labels[0], "sha256": self.labels[1]},
        }

    def check_image(self, source_id: str, raw: bytes) -> None:
        """Refuse photo bytes that differ from the ones hashed when the run started (edited mid-run)."""
        self._check(source_id, raw, 1)

    def check_mask(self, source_id: str, raw: bytes) -> None:
        self._check(source_id, raw, 2)

    def _check(self, source_id: str, raw: bytes, which: int) -> None:
        expected = self.sources.get(source_id)
        if expected is not None and sha256_bytes(raw) != expected[which]:
            raise ValueError(
                f"{self.paths[source_id][which - 1]} changed while the run was going (its sha256 differs from the one "
                "taken when the run started); restore it, or delete the work folder and start over with the new inputs"
            )


def compute_digests(sources: Iterable[Source], labels_file: Path | None, cache: HashCache, *,
                    auto_mask: bool = False) -> InputDigests:
    """The inputs' digests; with ``auto_mask`` a source without a mask file is hashed by its photo alone
    (its mask is a function of the photo and the fingerprinted ``--auto-mask`` settings)."""
    digests: dict[str, tuple[str, str, str]] = {}
    paths: dict[str, tuple[str, str]] = {}
    for source in sources:
        if source.mask_path is None and not auto_mask:
            raise ValueError(f"source {source.source_id} has no mask")
        mask_sha = "" if source.mask_path is None else cache.sha256(source.mask_path)
        digests[source.source_id] = (source.image_path.name, cache.sha256(source.image_path), mask_sha)
        paths[source.source_id] = (str(source.image_path), "" if source.mask_path is None else str(source.mask_path))
    labels = None if labels_file is None else (str(labels_file), cache.sha256(labels_file))
    return InputDigests(digests, paths, labels)


def changed_inputs(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 3) -> list[str]:
    """Human-readable differences between two :meth:`InputDigests.document` values, changed files first."""
    out: list[str] = []
    old_space, new_space = old.get("label_space"), new.get("label_space")
    if old_space != new_space:
        def text(space: Any) -> str:
            return "ImageNet-1k" if not space else f"{space.get('num_classes')} classes of {space.get('name')}"

        out.append(f"the label space changed ({text(old_space)} then, {text(new_space)} now: classes were added, "
                   "removed or renamed)")
    old_labels, new_labels = old.get("labels"), new.get("labels")
    if (old_labels or {}).get("sha256") != (new_labels or {}).get("sha256"):
        where = (new_labels or old_labels or {}).get("path", "the labels file")
        out.append(f"labels file {where} changed since the run started")
    old_sources, new_sources = old.get("sources", {}), new.get("sources", {})
    for sid in sorted(set(old_sources) & set(new_sources)):
        before, now = old_sources[sid], new_sources[sid]
        for kind in ("image", "mask"):
            if before.get(f"{kind}_sha256") != now.get(f"{kind}_sha256") or \
                    Path(before.get(kind, "")).name != Path(now.get(kind, "")).name:
                what = "photo" if kind == "image" else "mask"
                out.append(f"{what} {now.get(kind)} changed since the run started (sha256 "
                           f"{str(before.get(f'{kind}_sha256'))[:12]}… then, {str(now.get(f'{kind}_sha256'))[:12]}… now)")
    added = sorted(set(new_sources) - set(old_sources))
    removed = sorted(set(old_sources) - set(new_sources))
    if added:
        out.append(f"{len(added)} source(s) not in the run before (e.g. {added[0]})")
    if removed:
        out.append(f"{len(removed)} source(s) of the run are gone (e.g. {removed[0]})")
    if len(out) > limit:
        out = out[:limit] + [f"and {len(out) - limit} more"]
    return out


__all__ = ["CACHE_NAME", "INPUTS_NAME", "HashCache", "InputDigests", "changed_inputs", "compute_digests", "file_sha256"]
