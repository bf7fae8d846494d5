"""Score a classifier on ImageNet-E end to end: load, predict all configs in one pass, score, write.

:func:`evaluate_model` is the Python entry point behind ``imagenet-e evaluate``. The pipeline:
model loader (:mod:`.models`) -> undecoded configs (:mod:`.data`) -> one DataLoader over every
config, PIL decoding + the model's preprocessing in workers -> batched ``inference_mode`` forward
(autocast on GPU) -> top-5 ImageNet-1k indices through the label mapping -> (across ranks, when
launched by torchrun / accelerate) -> :func:`imagenet_e_metric.core.compute_imagenet_e`, paired by
source id -> results document validated by :func:`.results_schema.validate_results` -> atomic write.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imagenet_e_dataset.atomic import atomic_write_text
from imagenet_e_dataset.protocol_file import read_protocol
from imagenet_e_dataset.registry import ALL, ALL_SUBSETS, ALL_WITH_EXTRAS, ORIGINAL_CONFIG, Subset, resolve_many
from imagenet_e_dataset.runtime import choose_device, choose_dtype

from . import distributed
from .data import EncodedImages, available_configs, collate, load_configs, worker_init
from .data import dataset_revision as _dataset_revision_of
from .models import LabelMappingChoice, LoadedModel, load_model
from .results_schema import SCHEMA_VERSION, validate_results

TOP_K = 5


class DeviceChoice(str, enum.Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class DtypeChoice(str, enum.Enum):
    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


_TORCH_DTYPES = {DtypeChoice.BF16: torch.bfloat16, DtypeChoice.FP16: torch.float16}


def _enum(cls: type[enum.Enum], value: Any, what: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{what} must be one of {[c.value for c in cls]}, got {value!r}") from None


@dataclass(frozen=True)
class EvalSettings:
    """Everything that shapes a run (validated once, at the boundary)."""

    model: str
    dataset: str
    configs: tuple[str, ...]
    batch_size: int = 64
    num_workers: int | None = None
    device: DeviceChoice = DeviceChoice.AUTO
    dtype: DtypeChoice = DtypeChoice.AUTO
    limit: int | None = None
    restrict_to_dataset_classes: bool = False
    loader: str = "auto"
    label_mapping: LabelMappingChoice = LabelMappingChoice.AUTO
    model_revision: str | None = None
    dataset_revision: str | None = None
    n_bootstrap: int = 1000
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.n_bootstrap < 1:
            raise ValueError(f"n_bootstrap must be >= 1 (the results file reports a 95% interval), got {self.n_bootstrap}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")


def _select_subsets(configs: str | list[str] | tuple[str, ...], available: list[str] | None = None) -> list[Subset]:
    """Resolve the requested configs; ``original`` is always added, every drop is measured against it.

    ``"all"`` means every config in ``available`` (what the dataset holds, extras and plug-in subsets
    included) when that is known.
    """
    everything = isinstance(configs, str) and configs.strip() == ALL
    chosen = resolve_many(ALL_WITH_EXTRAS if everything and available is not None else configs)
    if available is not None:
        if everything:
            chosen = [s for s in chosen if s.name in available]
        missing = [s.name for s in chosen if s.name not in available]
        if missing:  # said before the model is loaded, not after
            raise ValueError(f"the dataset has no config(s) {missing}; it has {available}")
    if not any(s.is_original for s in chosen):
        chosen = [ALL_SUBSETS[ORIGINAL_CONFIG], *chosen]
    if len(chosen) < 2:
        raise ValueError(f"name at least one edited config besides '{ORIGINAL_CONFIG}' (e.g. --configs background_20); "
                         "a drop needs something to compare with")
    return chosen


def _default_workers(world_size: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(16, cores // max(1, world_size) - 1))


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _environment(device: torch.device, dtype: DtypeChoice, world_size: int) -> dict[str, str | None]:
    if device.type == "cuda":
        device_text = f"{device} ({torch.cuda.get_device_name(device)})"
    else:
        device_text = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {
        "imagenet_e": _package_version("imagenet-e"),
        "torch": torch.__version__,
        "transformers": _package_version("transformers"),
        "datasets": _package_version("datasets"),
        "numpy": np.__version__,
        "pillow": _package_version("pillow"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "device": device_text,
        "dtype": dtype.value,
        "world_size": str(world_size),
    }


@dataclass(frozen=True)
class Predictions:
    """What one rank predicted: flat positions and their top-k ImageNet indices (-1 = no such rank)."""

    positions: np.ndarray
    topk: np.ndarray
    failures: tuple[tuple[int, str], ...]


def _predict(loaded: LoadedModel, images: EncodedImages, positions: np.ndarray, settings: EvalSettings,
             device: torch.device, dtype: DtypeChoice, allowed: np.ndarray | None, show_progress: bool) -> Predictions:
    from tqdm.auto import tqdm

    workers = settings.num_workers if settings.num_workers is not None else _default_workers(1)
    loader = torch.utils.data.DataLoader(
        images,
        batch_size=settings.batch_size,
        sampler=positions.tolist(),
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        worker_init_fn=worker_init if workers else None,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    module = loaded.module.to(device)
    # NHWC lets oneDNN (CPU) and cuDNN (GPU) pick their fast convolution kernels: about 2x for a
    # ResNet on CPU. Only worth it when the model has convolutions at all.
    channels_last = any(p.ndim == 4 for p in module.parameters())
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    mapping = loaded.label_mapping
    to_imagenet = torch.as_tensor(mapping.indices, dtype=torch.int64, device=device)
    mask = mapping.output_mask(allowed)
    blocked = None if mask is None else torch.as_tensor(~mask, device=device)
    k = min(TOP_K, int(mask.sum()) if mask is not None else mapping.num_outputs)
    autocast = _TORCH_DTYPES.get(dtype)

    out_positions: list[np.ndarray] = []
    out_topk: list[np.ndarray] = []
    failures: list[tuple[int, str]] = []
    bar = tqdm(total=len(positions), desc="evaluating", unit="img", disable=not show_progress, smoothing=0.1)
    with torch.inference_mode():
        for batch in loader:
            failures.extend(batch.failures)
            if batch.pixels is not None:
                pixels = batch.pixels.to(device, non_blocking=True)
                if channels_last:
                    pixels = pixels.contiguous(memory_format=torch.channels_last)
                if autocast is not None:
                    with torch.autocast(device_type=device.type, dtype=autocast):
                        logits = module(pixels)
                else:
                    logits = module(pixels)
                if logits.ndim != 2 or logits.shape[1] != mapping.num_outputs:
                    raise ValueError(f"{loaded.model_id} returned logits of shape {tuple(logits.shape)}, "
                                     f"expected (batch, {mapping.num_outputs})")
                logits = logits.float()
                if blocked is not None:
                    logits = logits.masked_fill(blocked, float("-inf"))
                top = to_imagenet[logits.topk(k, dim=1).indices]
                out_positions.append(batch.positions.numpy())
                out_topk.append(top.cpu().numpy())
            bar.update(len(batch.positions) + len(batch.failures))
    bar.close()
    topk = np.full((sum(len(p) for p in out_positions), TOP_K), -1, dtype=np.int64)
    if out_topk:
        topk[:, :k] = np.concatenate(out_topk)
    flat = np.concatenate(out_positions) if out_positions else np.zeros(0, dtype=np.int64)
    return Predictions(flat, topk, tuple(failures))


def _rank_scores(topk: np.ndarray, references: np.ndarray) -> np.ndarray:
    """(N, 1000) uint8 scores that rank each row's top-k classes first (k..1) and all others 0.

    The metric takes score rows to report top-5 next to top-1 (argmax = top-1, ties to the lower
    index); these rows give exactly the model's own top-1 and top-5, at a byte per entry instead
    of the 8 of float64 logits. A model that ranks fewer than 5 classes (fewer outputs, or
    ``--restrict`` to few classes) leaves rank slots empty (-1); the metric would fill them with
    the lowest-index unranked classes, the true class among them, so they are filled here with
    classes that are neither ranked nor the row's true class: an unranked class is never top-5.
    """
    topk = topk.copy()
    rows = np.arange(topk.shape[0])
    for r in np.flatnonzero((topk < 0).any(axis=1)):
        used = set(topk[r][topk[r] >= 0].tolist()) | {int(references[r])}
        fillers = (c for c in range(1000) if c not in used)
        topk[r] = [c if c >= 0 else next(fillers) for c in topk[r].tolist()]
    scores = np.zeros((topk.shape[0], 1000), dtype=np.uint8)
    for rank in range(topk.shape[1]):
        scores[rows, topk[:, rank]] = topk.shape[1] - rank
    return scores


def write_results(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """Validate ``doc`` and write it as JSON, atomically (a crash never leaves a half file)."""
    path = Path(path)
    validate_results(doc, source=str(path))
    atomic_write_text(path, json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def evaluate_model(
    model: str,
    dataset: str | os.PathLike,
    *,
    configs: str | list[str] | tuple[str, ...] = "all",
    batch_size: int = 64,
    num_workers: int | None = None,
    device: str = "auto",
    dtype: str = "auto",
    limit: int | None = None,
    restrict_to_dataset_classes: bool = False,
    output: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    loader: str = "auto",
    label_mapping: str = "auto",
    model_revision: str | None = None,
    dataset_revision: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: bool = True,
    loaded_model: LoadedModel | None = None,
) -> dict[str, Any]:
    """Score ``model`` on the ImageNet-E ``dataset`` and return the results document (SPEC §5).

    ``model``: a transformers folder or Hub id, ``package.module:function``, ``timm/NAME`` or
    ``efficientnet-lite0`` (see :mod:`imagenet_e.eval.models`); ``loaded_model`` skips loading.
    ``dataset``: a folder in the Hub layout or a Hub dataset repo id. ``configs``: ``"all"``, a
    comma-separated string or a list of config names / official aliases (``original`` is always
    included). ``limit``: score only the first N source images of every config (kept paired).
    ``restrict_to_dataset_classes``: the argmax ranges only over classes that occur in the
    selected configs' labels. ``output`` / ``plot``: where rank 0 writes the JSON / PNG.

    Under torchrun / accelerate (``WORLD_SIZE`` > 1) every rank must call this; each scores a
    strided share and every rank returns the same document.
    """
    settings = EvalSettings(
        model=model, dataset=os.fspath(dataset),
        configs=tuple(s.name for s in _select_subsets(configs, available_configs(dataset, dataset_revision))),
        batch_size=batch_size, num_workers=num_workers,
        device=_enum(DeviceChoice, device, "device"), dtype=_enum(DtypeChoice, dtype, "dtype"),
        limit=limit, restrict_to_dataset_classes=restrict_to_dataset_classes, loader=loader,
        label_mapping=_enum(LabelMappingChoice, label_mapping, "label_mapping"),
        model_revision=model_revision, dataset_revision=dataset_revision, n_bootstrap=n_bootstrap, seed=seed,
        progress=progress,
    )
    ctx = distributed.setup(torch.device(choose_device(settings.device.value)).type)
    try:
        return _run(settings, ctx, loaded_model, output, plot)
    finally:
        distributed.teardown(ctx)


def _run(settings: EvalSettings, ctx: distributed.DistContext, loaded: LoadedModel | None,
         output: str | os.PathLike | None, plot: str | os.PathLike | None) -> dict[str, Any]:
    started = time.perf_counter()
    device = torch.device(choose_device(settings.device.value, local_rank=ctx.local_rank))
    dtype = DtypeChoice(choose_dtype(settings.dtype.value, device))
    subsets = [ALL_SUBSETS[name] for name in settings.configs]
    if loaded is None:
        loaded = load_model(settings.model, loader=settings.loader, revision=settings.model_revision,
                            label_mapping=settings.label_mapping)
    tables = load_configs(settings.dataset, subsets, revision=settings.dataset_revision, limit=settings.limit)
    images = EncodedImages(tables, loaded.preprocess)
    allowed = None
    if settings.restrict_to_dataset_classes:
        allowed = np.unique(np.concatenate([t.labels[t.rows] for t in tables]))
    if settings.num_workers is None:
        settings = EvalSettings(**{**asdict(settings), "num_workers": _default_workers(ctx.world_size)})
    mine = _predict(loaded, images, ctx.share(len(images)), settings, device, dtype, allowed,
                    settings.progress and ctx.is_main)
    gathered = distributed.gather_to_main(ctx, mine)

    doc: dict[str, Any] | None = None
    error: str | None = None
    if ctx.is_main:
        try:
            doc = _score(settings, loaded, tables, gathered, device, dtype, ctx.world_size,
                         time.perf_counter() - started, len(images))
            if output is not None:
                write_results(doc, output)
            if plot is not None:
                from .report import plot_results

                plot_results(doc, plot)
        except Exception as exc:
            # Tell the other ranks before raising, or they would wait for the document forever.
            error = f"{type(exc).__name__}: {exc}"
            distributed.broadcast_from_main(ctx, {"__error__": error})
            raise
    doc = distributed.broadcast_from_main(ctx, doc)
    if isinstance(doc, dict) and "__error__" in doc:
        raise RuntimeError(f"rank 0 failed: {doc['__error__']}")
    return doc


def _score(settings: EvalSettings, loaded: LoadedModel, tables, gathered: list[Predictions],
           device: torch.device, dtype: DtypeChoice, world_size: int, seconds: float, n_images: int) -> dict[str, Any]:
    from imagenet_e_metric.core import compute_imagenet_e

    positions = np.concatenate([g.positions for g in gathered])
    topk = np.concatenate([g.topk for g in gathered])
    failures = sorted(f for g in gathered for f in g.failures)
    order = np.argsort(positions, kind="stable")
    positions, topk = positions[order], topk[order]

    table_of = np.concatenate([np.full(len(t.rows), i) for i, t in enumerate(tables)])
    row_of = np.concatenate([t.rows for t in tables])
    subset_names = np.asarray([t.subset.name for t in tables], dtype=object)
    references = np.concatenate([t.labels[t.rows] for t in tables])
    source_ids = np.concatenate([t.source_ids[t.rows] for t in tables])

    scored_subsets = set(subset_names[table_of[positions]].tolist())
    missing = [t.subset.name for t in tables if t.subset.name not in scored_subsets]
    if missing:
        raise ValueError(f"no image of config(s) {missing} could be scored; see the skipped items")
    metrics = compute_imagenet_e(
        _rank_scores(topk, references[positions]),
        references[positions],
        subset_names[table_of[positions]].tolist(),
        source_ids[positions].tolist(),
        n_bootstrap=settings.n_bootstrap,
        seed=settings.seed,
    )
    counts = metrics.pop("counts")
    skipped = [
        {"config": tables[table_of[p]].subset.name, "source_id": str(source_ids[p]), "row": int(row_of[p]),
         "error": err[:300]}
        for p, err in failures
    ]
    mapping = loaded.label_mapping
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": {
            "id": loaded.model_id,
            "revision": loaded.revision,
            "loader": loaded.loader,
            "label_mapping": mapping.method.value,
            "num_parameters": loaded.num_parameters,
            "link": loaded.link,
            "num_classes": mapping.num_outputs,
            "label_mapping_notes": list(mapping.notes),
        },
        "dataset": {
            "id": settings.dataset if not Path(settings.dataset).is_dir() else str(Path(settings.dataset).resolve()),
            "revision": _dataset_revision_of(settings.dataset, settings.dataset_revision),
            # The editing protocol the dataset was made under (its protocol.json); None when unknown.
            "protocol": read_protocol(settings.dataset, settings.dataset_revision),
            "configs": [t.subset.name for t in tables],
            "split": "test",
        },
        "preprocessing": {
            **loaded.preprocessing,
            "restrict_to_dataset_classes": settings.restrict_to_dataset_classes,
            "dtype": dtype.value,
        },
        "metrics": metrics,
        "counts": counts,
        "environment": _environment(device, dtype, world_size),
        "created_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "run": {
            "seconds": round(seconds, 3),
            "images": n_images,
            "images_per_second": round(n_images / seconds, 2) if seconds > 0 else None,
            "batch_size": settings.batch_size,
            "num_workers": settings.num_workers,
            "limit": settings.limit,
            "n_bootstrap": settings.n_bootstrap,
            "seed": settings.seed,
            "skipped": skipped,
        },
    }
    if skipped:
        print(f"imagenet-e evaluate: skipped {len(skipped)} unreadable image(s), e.g. "
              f"{skipped[0]['config']}/{skipped[0]['source_id']}: {skipped[0]['error']}", file=sys.stderr)
    return validate_results(doc, source=f"results for {loaded.model_id}")
