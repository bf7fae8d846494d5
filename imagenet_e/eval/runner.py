"""Score a classifier on ImageNet-E end to end: load, predict all configs in one pass, score, write.

:func:`evaluate_model` is the Python entry point behind ``imagenet-e evaluate``. The pipeline:
model loader (:mod:`.models`) or a model object (:func:`.models.wrap_model`) -> undecoded configs
(:mod:`.data`) -> one DataLoader over every config, PIL decoding + the model's preprocessing in
workers -> batched ``inference_mode`` forward (autocast on GPU) -> non-finite logits refused (or
skipped and counted) -> top-5 ImageNet-1k indices through the label mapping (memory: 5 small ints
per image, never a dense N x 1000 matrix) -> (across ranks, when launched by torchrun / accelerate)
-> the per-image predictions file (:mod:`.predictions`) -> the results document computed from
that file alone (:func:`.scoring.results_from_predictions`, the same code ``imagenet-e score``
runs) -> atomic writes.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imagenet_e import __version__
from imagenet_e_dataset.label_space import LabelSpace
from imagenet_e_dataset.local_paths import looks_like_local_path
from imagenet_e_dataset.protocol_file import read_protocol
from imagenet_e_dataset.registry import ALL, ALL_SUBSETS, ALL_WITH_EXTRAS, ORIGINAL_CONFIG, Subset, resolve_many
from imagenet_e_dataset.runtime import choose_device, choose_dtype, launch_environment, torch_dtype
from imagenet_e_dataset.vocab import DeviceChoice, DtypeChoice, parse_choice, parse_device, parse_dtype

from . import distributed
from .config_layout import layout_record
from .data import EncodedImages, available_configs, collate, load_configs, worker_init
from .dataset_labels import dataset_revision as _dataset_revision_of
from .dataset_labels import recorded_dataset_id
from .dataset_space import dataset_space_of, link_to_dataset
from .label_mapping import split_label_map
from .models import LabelMappingChoice, LoadedModel, load_model, wrap_model
from .predictions import (
    TOP_K,
    PredictionTable,
    label_space_metadata,
    predictions_bytes,
    predictions_path_for,
    read_predictions,
    sha256_bytes,
    write_predictions,
)
from .results_schema import Protocol
from .scoring import results_from_predictions, write_results  # noqa: F401  (write_results re-exported)

logger = logging.getLogger(__name__)
NON_FINITE = "non-finite logits (NaN or infinity)"


@dataclass(frozen=True)
class EvalSettings:
    """Everything that shapes a run (validated once, at the boundary)."""

    model: str
    dataset: str
    configs: tuple[str, ...]
    batch_size: int = 64
    num_workers: int | None = None
    device: str = DeviceChoice.AUTO.value
    """A :func:`~imagenet_e_dataset.vocab.parse_device` form: auto, cpu, cuda, mps or cuda:N."""
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
    skip_non_finite: bool = False
    record_paths: bool = False

    @property
    def protocol(self) -> Protocol:
        return Protocol.DATASET_CLASSES if self.restrict_to_dataset_classes else Protocol.ALL_CLASSES

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


# At or below this many cores per rank, a CPU forward already keeps every core busy, and decoding in
# the main process between forwards beats a worker fighting the forward's threads (2 cores, ResNet-18
# shape, 128 images: 0 workers 1.12x the bare forward's time, 1 worker 1.19x; docs/benchmarks.md).
CPU_INLINE_DECODE_MAX_CORES = 2


def _default_workers(world_size: int, device_type: str = "cpu") -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_rank = cores // max(1, world_size)
    if device_type == "cpu" and per_rank <= CPU_INLINE_DECODE_MAX_CORES:
        return 0
    return max(1, min(16, per_rank - 1))


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
        "imagenet_e": __version__,  # the one version string (pyproject reads it too); an editable install's metadata can be stale
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
    """What one rank predicted: flat positions, their top-k ImageNet indices, what could not be scored."""

    positions: np.ndarray
    topk: np.ndarray
    """(n, k) int16, best first; k = min(5, classes the model can rank)."""
    failures: tuple[tuple[int, str], ...]


def _predict(loaded: LoadedModel, images: EncodedImages, positions: np.ndarray, settings: EvalSettings,
             device: torch.device, dtype: DtypeChoice, allowed: np.ndarray | None, show_progress: bool) -> Predictions:
    from tqdm.auto import tqdm

    workers = settings.num_workers if settings.num_workers is not None else _default_workers(1, device.type)
    module = loaded.module.to(device)
    # NHWC lets oneDNN (CPU) and cuDNN (GPU) pick their fast convolution kernels: about 2x for a
    # ResNet on CPU. Only worth it when the model has convolutions at all.
    channels_last = any(p.ndim == 4 for p in module.parameters())
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    loader = torch.utils.data.DataLoader(
        images,
        batch_size=settings.batch_size,
        sampler=positions.tolist(),
        num_workers=workers,
        collate_fn=functools.partial(collate, channels_last=channels_last),
        pin_memory=device.type == "cuda",
        worker_init_fn=worker_init if workers else None,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    mapping = loaded.label_mapping
    to_imagenet = torch.as_tensor(mapping.indices, dtype=torch.int64, device=device)
    mask = mapping.output_mask(allowed)
    blocked = None if mask is None else torch.as_tensor(~mask, device=device)
    k = min(TOP_K, int(mask.sum()) if mask is not None else mapping.num_outputs)
    autocast = None if dtype is DtypeChoice.FP32 else torch_dtype(dtype)  # fp32 runs the model as it is

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
                # NaN wins topk, so a broken model would otherwise score as a confident one.
                finite = torch.isfinite(logits).all(dim=1)
                batch_positions = batch.positions.numpy()
                if not bool(finite.all()):
                    bad = (~finite).cpu().numpy()
                    failures.extend((int(p), NON_FINITE) for p in batch_positions[bad])
                    logits, batch_positions = logits[finite], batch_positions[~bad]
                if blocked is not None:
                    logits = logits.masked_fill(blocked, float("-inf"))
                top = to_imagenet[logits.topk(k, dim=1).indices]
                out_positions.append(batch_positions)
                out_topk.append(top.to(torch.int16).cpu().numpy())
            bar.update(len(batch.positions) + len(batch.failures))
    bar.close()
    topk = np.concatenate(out_topk) if out_topk else np.zeros((0, k), dtype=np.int16)
    flat = np.concatenate(out_positions) if out_positions else np.zeros(0, dtype=np.int64)
    return Predictions(flat, topk, tuple(failures))


# The bootstrap draws n_bootstrap resamples per subset at once: 10^6 is far more than a 95 % interval needs
# and still a few tens of MB; 10^11 would fail with a MemoryError after the whole model run.
MAX_N_BOOTSTRAP = 1_000_000
MAX_MODEL_ID_LENGTH = 200  # results_schema: model.id maxLength


def _check_output_file(path: str | os.PathLike | None, flag: str, dataset_folder: Path | None) -> None:
    if path is None:
        return
    target = Path(path).expanduser()
    if target.is_dir():
        example = target / ("results.json" if flag == "--output" else "drops.png")
        raise ValueError(f"{flag} {target} is a folder; give a file path, e.g. {example}")
    existing = next((p for p in [target.parent, *target.parent.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{flag} {target}: {existing} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {target}: cannot write in {existing} (permission denied); choose another path")
    if dataset_folder is not None:
        resolved, base = target.resolve(), dataset_folder.resolve()
        if base in resolved.parents:
            raise ValueError(f"{flag} {target} is inside the dataset folder {dataset_folder}; results never go into an "
                             "input (a push would upload them with the data): write them elsewhere")


def expected_model_id(model: str, loader: str = "auto") -> str:
    """The ``model.id`` the results file will carry for ``model`` (known before loading it)."""
    from .models import detect_loader

    name = detect_loader(model) if loader == "auto" else loader
    if name == "transformers" and Path(model).is_dir():
        return str(Path(model))
    if name == "timm":
        return "timm/" + model.split("/", 1)[-1].split(":", 1)[-1] if model.startswith(("timm/", "timm:")) else model
    return model


def check_before_model(model: str, dataset: str | os.PathLike, *, output: str | os.PathLike | None,
                       plot: str | os.PathLike | None, n_bootstrap: int, loaded_model: LoadedModel | None = None,
                       loader: str = "auto") -> None:
    """Every check that does not need the model, so a run never fails after scoring for a reason known before it."""
    if isinstance(n_bootstrap, int) and n_bootstrap > MAX_N_BOOTSTRAP:
        raise ValueError(f"--n-bootstrap {n_bootstrap} is above {MAX_N_BOOTSTRAP:,}; 1000 (the default) is plenty "
                         "for a 95% interval")
    model_id = loaded_model.model_id if loaded_model is not None else expected_model_id(model, loader)
    if len(model_id) > MAX_MODEL_ID_LENGTH:
        raise ValueError(f"model id {model_id[:60]!r}... is {len(model_id)} characters; a results file allows "
                         f"{MAX_MODEL_ID_LENGTH}: load the model from a shorter path (e.g. a symlink or a copy)")
    text = os.fspath(dataset)
    folder = Path(text).expanduser()
    if not folder.exists() and looks_like_local_path(text):
        raise FileNotFoundError(f"dataset folder {text} does not exist (it looks like a path, so the Hub was not asked)")
    dataset_folder = folder if folder.is_dir() else None
    _check_output_file(output, "--output", dataset_folder)
    _check_output_file(plot, "--plot", dataset_folder)
    if output is not None and plot is not None and Path(output).resolve() == Path(plot).resolve():
        raise ValueError(f"--output and --plot are the same file {output}")


def evaluate_model(
    model: Any,
    dataset: str | os.PathLike,
    *,
    preprocess: Any = None,
    label_space: Any = "imagenet",
    model_name: str | None = None,
    configs: str | list[str] | tuple[str, ...] = "all",
    batch_size: int = 64,
    num_workers: int | None = None,
    device: str = "auto",
    dtype: str = "auto",
    limit: int | None = None,
    restrict_to_dataset_classes: bool = False,
    output: str | os.PathLike | None = None,
    predictions: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    loader: str = "auto",
    label_mapping: str = "auto",
    label_map: dict[int, int] | None = None,
    model_revision: str | None = None,
    dataset_revision: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: bool = True,
    skip_non_finite: bool = False,
    record_paths: bool = False,
    loaded_model: LoadedModel | None = None,
    rank_timeout: float = distributed.DEFAULT_RANK_TIMEOUT_S,
) -> dict[str, Any]:
    """Score ``model`` on the ImageNet-E ``dataset`` and return the results document.

    ``model``: a transformers folder or Hub id, ``package.module:function``, ``timm/NAME`` or
    ``efficientnet-lite0`` (see :mod:`imagenet_e.eval.models`); or a model object, an
    ``nn.Module`` or any callable taking a (B, C, H, W) batch and returning logits, with
    ``preprocess`` (PIL image -> (C, H, W) tensor), ``label_space`` (what its outputs are; default
    ImageNet-1k in order) and optionally ``model_name``::

        from imagenet_e import evaluate_model
        doc = evaluate_model(my_module, "org/imagenet-e", preprocess=my_transform)
        print(doc["metrics"]["mean_drop"], doc["metrics"].get("control_mean_drop"))

    ``dataset``: a folder in the Hub layout or a Hub dataset repo id. ``configs``: ``"all"``, a
    comma-separated string or a list of config names / official aliases (``original`` is always
    included). ``limit``: score only the first N source images of every config (kept paired).
    ``restrict_to_dataset_classes``: the argmax ranges only over classes that occur in the
    selected configs' labels. ``label_map`` {output: ImageNet index}: explicit placement of
    outputs (duplicate label names). ``skip_non_finite``: images whose logits hold NaN/inf are
    skipped and counted instead of refusing the run. ``record_paths``: record local dataset and
    model paths instead of their names. ``output`` / ``predictions`` / ``plot``: where rank 0
    writes the results JSON, the predictions parquet (default: beside ``output``) and the PNG.

    Under torchrun / accelerate (``WORLD_SIZE`` > 1) every rank must call this; each scores a
    strided share and every rank returns the same document. ``rank_timeout``: seconds a rank waits for
    the others to join (and for a collective) before naming the missing rank.
    """
    _refuse_one_gpu_for_every_rank(device)
    if loaded_model is None and not isinstance(model, str):
        loaded_model = wrap_model(model, preprocess, label_space=label_space, name=model_name,
                                  label_mapping=label_mapping, label_map=label_map)
    spec = loaded_model.model_id if loaded_model is not None else model
    check_before_model(model, dataset, output=output, plot=plot, n_bootstrap=n_bootstrap,
                       loaded_model=loaded_model, loader=loader)
    settings = EvalSettings(
        model=spec, dataset=os.fspath(dataset),
        configs=tuple(s.name for s in _select_subsets(configs, available_configs(dataset, dataset_revision))),
        batch_size=batch_size, num_workers=num_workers,
        device=parse_device(device), dtype=parse_dtype(dtype),
        limit=limit, restrict_to_dataset_classes=restrict_to_dataset_classes, loader=loader,
        label_mapping=parse_choice(LabelMappingChoice, label_mapping, "label_mapping"),
        model_revision=model_revision, dataset_revision=dataset_revision, n_bootstrap=n_bootstrap, seed=seed,
        progress=progress, skip_non_finite=skip_non_finite, record_paths=record_paths,
    )
    if predictions is None and output is not None:
        predictions = predictions_path_for(output)
    ctx = distributed.setup(torch.device(choose_device(settings.device)).type, timeout_s=rank_timeout)
    try:
        return _run(settings, ctx, loaded_model, label_map, output, predictions, plot)
    finally:
        distributed.teardown(ctx)


def _refuse_one_gpu_for_every_rank(device: str) -> None:
    """Under a launcher, an explicit ``cuda:N`` would put every rank on the same GPU, which NCCL refuses
    only after every rank has loaded its model; say so before anything starts."""
    launch = launch_environment()
    name = parse_device(device)
    if launch.launched and name.startswith("cuda:"):
        raise ValueError(f"--device {name} under a launcher (WORLD_SIZE={launch.world_size}) would put every rank on "
                         "that one GPU; use --device cuda (each rank takes GPU LOCAL_RANK modulo the GPUs it sees) "
                         "and choose the GPUs with CUDA_VISIBLE_DEVICES")


def _run(settings: EvalSettings, ctx: distributed.DistContext, loaded: LoadedModel | None,
         label_map: dict[int, int] | None, output: str | os.PathLike | None,
         predictions: str | os.PathLike | None, plot: str | os.PathLike | None) -> dict[str, Any]:
    started = time.perf_counter()
    device = torch.device(choose_device(settings.device, local_rank=ctx.local_rank))
    dtype = choose_dtype(settings.dtype, device)
    subsets = [ALL_SUBSETS[name] for name in settings.configs]
    if loaded is None:
        loaded = load_model(settings.model, loader=settings.loader, revision=settings.model_revision,
                            label_mapping=settings.label_mapping, label_map=label_map,
                            record_paths=settings.record_paths)
    tables = load_configs(settings.dataset, subsets, revision=settings.dataset_revision, limit=settings.limit)
    # Predictions live in the dataset's label space: ImageNet-1k keeps the model's mapping, a dataset with
    # its own classes gets each class linked to one model output (by name, or by way of ImageNet-1k).
    space = dataset_space_of({t.subset.name: t.label_space for t in tables}, source=settings.dataset)
    loaded = replace(loaded, label_mapping=link_to_dataset(
        loaded.label_mapping, loaded.output_names, space, class_outputs=split_label_map(label_map)[1],
        model_name=loaded.model_id))
    images = EncodedImages(tables, loaded.preprocess)
    allowed = None
    if settings.restrict_to_dataset_classes:
        allowed = np.unique(np.concatenate([t.labels[t.rows] for t in tables]))
    if settings.num_workers is None:
        settings = EvalSettings(**{**asdict(settings), "num_workers": _default_workers(ctx.world_size, device.type)})
    # A local folder's revision is the sha256 of its shards (GBs for the full dataset): hashed on a thread
    # while the model runs (hashlib releases the GIL), not after it.
    revision = ThreadPoolExecutor(1) if ctx.is_main else None
    pending = revision.submit(_dataset_revision_of, settings.dataset, settings.dataset_revision) if revision else None
    try:
        mine = _predict(loaded, images, ctx.share(len(images)), settings, device, dtype, allowed,
                        settings.progress and ctx.is_main)
        gathered = distributed.gather_to_main(ctx, mine)
    finally:
        if revision is not None:  # the future still completes; an error above is not held up by the hash
            revision.shutdown(wait=False)

    doc: dict[str, Any] | None = None
    if ctx.is_main:
        try:
            table = _prediction_table(settings, loaded, tables, gathered, device, dtype, ctx.world_size,
                                      time.perf_counter() - started, len(images), space, pending.result())
            data = predictions_bytes(table)
            name = Path(predictions).name if predictions is not None else "predictions.parquet"
            # Scored from the file's own bytes, read back: the results are what the file gives.
            doc = results_from_predictions(read_predictions(data, name=name), file_name=name,
                                           sha256=sha256_bytes(data), source=f"results for {loaded.model_id}")
            if predictions is not None:
                write_predictions(predictions, data)
            if output is not None:
                write_results(doc, output)
            if plot is not None:
                from .report import plot_results, plot_sweeps, sweeps_plot_path

                plot_results(doc, plot)
                plot_sweeps(doc, sweeps_plot_path(plot))
        except Exception as exc:
            # Tell the other ranks before raising, or they would wait for the document forever.
            distributed.broadcast_from_main(ctx, {"__error__": f"{type(exc).__name__}: {exc}"})
            raise
    doc = distributed.broadcast_from_main(ctx, doc)
    if isinstance(doc, dict) and "__error__" in doc:
        raise RuntimeError(f"rank 0 failed: {doc['__error__']}")
    return doc


def _prediction_table(settings: EvalSettings, loaded: LoadedModel, tables, gathered: list[Predictions],
                      device: torch.device, dtype: DtypeChoice, world_size: int, seconds: float,
                      n_images: int, space: LabelSpace, dataset_revision: str | None) -> PredictionTable:
    """Every requested (config, source) as one row: the model's top-k, or why it has none."""
    positions = np.concatenate([g.positions for g in gathered])
    topk = np.concatenate([g.topk for g in gathered])
    failures = dict(sorted(f for g in gathered for f in g.failures))
    subset_names = np.asarray([t.subset.name for t in tables], dtype=object)
    table_of = np.concatenate([np.full(len(t.rows), i) for i, t in enumerate(tables)])
    references = np.concatenate([t.labels[t.rows] for t in tables]).astype(np.int64)
    source_ids = np.concatenate([t.source_ids[t.rows] for t in tables])
    n, k = len(references), topk.shape[1]

    non_finite = [p for p, err in failures.items() if err == NON_FINITE]
    if non_finite and not settings.skip_non_finite:
        shown = ", ".join(f"{subset_names[table_of[p]]}/{source_ids[p]}" for p in non_finite[:5])
        raise ValueError(
            f"{loaded.model_id} produced non-finite logits (NaN or infinity) for {len(non_finite)} of {n} images, "
            f"first: {shown}; fix the model (dtype overflow? --dtype fp32) or pass --skip-non-finite to skip "
            "such images (they are then recorded and counted as skipped)")
    top1 = np.full(n, -1, dtype=np.int64)
    ranked = np.full((n, TOP_K), -1, dtype=np.int64)
    top1[positions] = topk[:, 0]
    ranked[positions, :k] = topk
    skipped = np.full(n, None, dtype=object)
    for p, err in failures.items():
        skipped[p] = err[:300]
    mapping = loaded.label_mapping
    metadata = {
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
            "id": recorded_dataset_id(settings.dataset, record_paths=settings.record_paths),
            "revision": dataset_revision,
            "split": "test",
            # The editing protocol the dataset was made under (its protocol.json); None when unknown.
            "protocol": read_protocol(settings.dataset, settings.dataset_revision),
            # Each config's attribute, level, severity and colour as the dataset describes them: what the
            # tables and plots show, without the plug-ins that made the dataset.
            "layout": layout_record(settings.dataset, settings.dataset_revision, [t.subset.name for t in tables]),
        },
        "preprocessing": {
            **loaded.preprocessing,
            "restrict_to_dataset_classes": settings.restrict_to_dataset_classes,
            "dtype": dtype.value,
        },
        "protocol": settings.protocol.value,
        "label_space": label_space_metadata(space),
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
            "non_finite": "skip" if settings.skip_non_finite else "error",
        },
    }
    if failures:
        first = next(iter(failures))
        logger.warning("imagenet-e evaluate: skipped %d image(s), e.g. %s/%s: %s", len(failures),
                       subset_names[table_of[first]], source_ids[first], failures[first])
    return PredictionTable(subset_names[table_of], source_ids, references, top1,
                           ranked if k == TOP_K else None, skipped, metadata)
