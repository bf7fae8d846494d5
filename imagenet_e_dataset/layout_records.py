"""What a written Hub layout consists of, and what its dataset card is told about the run.

Plain records shared by the writer (:mod:`imagenet_e_dataset.hub_layout`), which produces them, and
the card renderer (:mod:`imagenet_e_dataset.card`), which reads them; neither imports the other's
module for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SPLIT = "test"
"""The one split of every config (the benchmark is evaluation-only)."""
README_NAME = "README.md"
"""The dataset card at the root of every layout."""
LICENSE_FILE = "LICENSE.md"
"""The licence file a dataset of non-ImageNet photos carries (its card's ``license_link``)."""


@dataclass(frozen=True)
class ShardFile:
    """One written parquet shard."""

    path: str
    """Path relative to the dataset root (``background_20/test-00000-of-00001.parquet``)."""
    num_examples: int
    num_bytes: int
    """File size on disk."""
    sha256: str


@dataclass(frozen=True)
class ConfigStats:
    """What was written for one config (one subset)."""

    name: str
    num_examples: int
    dataset_bytes: int
    """In-memory Arrow size of the rows (``SplitInfo.num_bytes``, as ``push_to_hub`` reports it)."""
    files: tuple[ShardFile, ...]

    @property
    def download_bytes(self) -> int:
        return sum(f.num_bytes for f in self.files)


@dataclass(frozen=True)
class CardContext:
    """How the images were made: rendered into the dataset card by :mod:`imagenet_e_dataset.card`."""

    repo_id: str = "<org>/imagenet-e"
    """Where the dataset is (or will be) hosted; used in the card's loading snippets."""
    provenance: str = "Generated with the imagenet-e toolkit."
    """One paragraph on where the images come from (official release import, toolkit run, ...)."""
    generation_settings: Mapping[str, Any] = field(default_factory=dict)
    """Knobs of the run (editor, steps, lambda, checkpoint, ...), shown as a table."""
    global_seed: int | None = None
    skipped: Mapping[str, int] = field(default_factory=dict)
    """Config name -> number of source files skipped as bad (importer ``--skip-bad``, generator failures)."""
    notes: tuple[str, ...] = ()
    # What the card says about the images. ``None`` keeps the text that describes the authors' release
    # (ImageNet val photos, ImageNet-S masks, blended diffusion); a toolkit run states what it did.
    title: str | None = None
    sources: str | None = None
    """Markdown: which photos, masks and id scheme the subsets hold."""
    method: str | None = None
    """Markdown bullets: how each attribute's images were made (backend actually used, protocol, inpainter)."""
    limitations: tuple[str, ...] | None = None
    licence: str | None = None
    """Markdown: the terms that apply to the images."""
    imagenet_terms: bool = True
    """Whether the photos are ImageNet's, so its terms of access apply (the card's YAML licence fields,
    the ``original`` row of the subset table)."""
    label_space: Mapping[str, Any] | None = None
    """For a dataset whose classes are not ImageNet-1k's: ``name``, ``num_classes``, ``sha256`` and
    ``names`` of its label space (the card's "Label space" section). None: ImageNet-1k, no section."""
    # What the dataset description (``imagenet_e.json``) records about the run besides its configs.
    origin: str = "writer"
    """Who wrote the layout: ``generate``, ``import-release`` or ``writer`` (see description.Origin)."""
    protocol: str | None = None
    backend: str | None = None
    model: str | None = None
    mask_source: str | None = None

    @classmethod
    def coerce(cls, value: CardContext | Mapping[str, Any] | None) -> CardContext:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            known = set(cls.__dataclass_fields__)
            unknown = set(value) - known
            if unknown:
                raise ValueError(f"unknown card_context keys {sorted(unknown)}; valid: {sorted(known)}")
            kwargs = dict(value)
            for key in ("notes", "limitations"):
                if kwargs.get(key) is not None:
                    kwargs[key] = tuple(kwargs[key])
            return cls(**kwargs)
        raise ValueError(f"card_context must be a CardContext, a mapping or None, got {type(value).__name__}")
