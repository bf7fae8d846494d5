"""Batch generation of ImageNet-E: sources in, a complete Hub-layout dataset out.

Every source image goes through every requested subset with a per-image seed derived from (global
seed, source id, subset) and recorded, so any image can be regenerated alone and a resumed run
equals an uninterrupted one.

The run is cut into *chunks*: a fixed run of ``chunk_size`` consecutive selected sources × every
requested subset. A chunk is computed in memory and committed as one parquet file in the work
folder (``<out>.work/chunks/chunk-000042.parquet``, written to a temporary name and
``os.replace``-d), so a run killed at any point loses at most the chunks in flight, and a restart
with the same arguments skips what is committed. Chunk ``k`` belongs to shard ``k % num_shards``;
shards are processes under ``torchrun``/``accelerate launch`` (``RANK``/``WORLD_SIZE``) or jobs of
an array (``--num-shards/--shard-index``). The merge reads the chunks in order and writes the
dataset through :class:`~imagenet_e_dataset.hub_layout.HubLayoutWriter`, which sorts rows by
``source_id``; every byte of every chunk is a pure function of (arguments, inputs), so the
dataset is byte-identical however the work was split, interrupted and resumed.

The modules, in the order a run uses them:

* :mod:`.settings` — :class:`GenerateSettings` (fingerprinted), :class:`Placement` (shard, device), :class:`Inputs`;
* :mod:`.work` — the work folder, the chunk file format, chunk ranges and their split into shards;
* :mod:`.chunks` — :class:`ChunkGenerator`: one chunk's rows, with the background editor from :func:`build_editor`;
* :mod:`.run` — :func:`generate`: this process's chunks, waiting for the other ranks, merge and push;
* :mod:`.merge` — the dataset folder from the chunks, its manifest, skip report and card context.
"""

from .chunks import ChunkGenerator, build_editor
from .merge import MANIFEST_NAME, SKIPPED_NAME, card_context, merge_chunks
from .run import GenerateReport, generate, numeric_environment, prepare_selection, run_document
from .settings import (
    DEFAULT_GUIDANCE_CLASSIFIER,
    FORMAT_VERSION,
    ORIGINAL,
    Backend,
    GenerateSettings,
    Inputs,
    Placement,
)
from .work import CHUNK_SCHEMA, RowStatus, WorkFolder, chunk_ranges, sha256_hex, shard_chunks, work_dir_for

__all__ = [
    "CHUNK_SCHEMA",
    "DEFAULT_GUIDANCE_CLASSIFIER",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "ORIGINAL",
    "SKIPPED_NAME",
    "Backend",
    "ChunkGenerator",
    "GenerateReport",
    "GenerateSettings",
    "Inputs",
    "Placement",
    "RowStatus",
    "WorkFolder",
    "build_editor",
    "card_context",
    "chunk_ranges",
    "generate",
    "merge_chunks",
    "numeric_environment",
    "prepare_selection",
    "run_document",
    "sha256_hex",
    "shard_chunks",
    "work_dir_for",
]
