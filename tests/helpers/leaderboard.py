"""Real submissions for leaderboard tests and benchmarks: a labels-only ImageNet-E dataset in the
Hub layout, and per-image predictions built to give chosen accuracies, with the results file
computed from them by the same code ``imagenet-e evaluate`` uses. Nothing here is fabricated: the
board recomputes every number and must agree."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from imagenet_e.eval.dataset_labels import folder_revision
from imagenet_e.eval.predictions import (
    METADATA_KEY,
    PREDICTIONS_SUFFIX,
    TOP_K,
    PredictionTable,
    predictions_bytes,
    read_predictions,
    sha256_bytes,
)
from imagenet_e.eval.scoring import results_from_predictions
from imagenet_e_dataset.registry import EDITED_CONFIG_NAMES, SUBSETS

DATASET_NAME = "bench-imagenet-e"

# Per-subset offsets around the mean drop: they sum to zero, so mean_drop is the mean of the drops.
OFFSETS = dict(zip(EDITED_CONFIG_NAMES, [-0.02, 0.01, 0.03, 0.05, 0.0, -0.04, 0.02, 0.0, -0.03, -0.01, -0.01]))
assert abs(sum(OFFSETS.values())) < 1e-12


def write_labels_dataset(folder: Path, *, n_sources: int = 100, configs: tuple[str, ...] | None = None,
                         seed: int = 0) -> Path:
    """A Hub-layout folder whose configs hold ``source_id`` and ``label`` only (what a check reads)."""
    configs = configs or tuple(SUBSETS)
    labels = np.random.default_rng(seed).integers(0, 1000, n_sources)
    ids = [f"ILSVRC2012_val_{i + 1:08d}" for i in range(n_sources)]
    folder.mkdir(parents=True, exist_ok=True)
    for config in configs:
        (folder / config).mkdir(exist_ok=True)
        pq.write_table(pa.table({"source_id": ids, "label": pa.array(labels, pa.int64())}),
                       folder / config / "test-00000-of-00001.parquet")
    names = "\n".join(f"  - config_name: {c}\n    data_files:\n    - split: test\n      path: {c}/*.parquet"
                      for c in configs)
    (folder / "README.md").write_text(f"---\nconfigs:\n{names}\n---\n# labels-only ImageNet-E\n", "utf-8")
    return folder


def _dataset_labels(folder: Path, config: str) -> tuple[list[str], np.ndarray]:
    table = pq.read_table(folder / config / "test-00000-of-00001.parquet")
    return table.column("source_id").to_pylist(), table.column("label").to_numpy()


def accuracies(original: float, mean_drop: float, configs: tuple[str, ...]) -> dict[str, float]:
    edited = [c for c in configs if c != "original"]
    drops = {c: mean_drop + OFFSETS[c] for c in edited}
    if set(edited) != set(EDITED_CONFIG_NAMES):  # the offsets sum to zero only over all subsets
        shift = sum(drops.values()) / len(drops) - mean_drop
        drops = {c: d - shift for c, d in drops.items()}
    return {"original": original, **{c: original - d for c, d in drops.items()}}


def make_submission(dataset: Path, model_id: str, *, original: float, mean_drop: float, loader: str = "transformers",
                    revision: str | None = "main", created_at: str = "2026-11-28T12:00:00Z", link: str | None = None,
                    configs: tuple[str, ...] | None = None, stem: str = "results", n_bootstrap: int = 200,
                    limit: int | None = None, dataset_id: str = DATASET_NAME, dataset_revision: str | None = None,
                    protocol: str = "all-classes") -> tuple[dict, bytes]:
    """(results document, predictions parquet bytes) of a model right on the first
    round(accuracy * n) source images of each subset (so paired drops are exact)."""
    configs = tuple(c for c in SUBSETS if c in (configs or tuple(SUBSETS)))
    targets = accuracies(original, mean_drop, configs)
    subsets, ids, labels, top1 = [], [], [], []
    for config in configs:
        source_ids, truth = _dataset_labels(dataset, config)
        n = len(source_ids) if limit is None else limit
        right = int(round(targets[config] * n))
        predicted = np.where(np.arange(n) < right, truth[:n], (truth[:n] + 1) % 1000)
        subsets += [config] * n
        ids += source_ids[:n]
        labels.append(truth[:n])
        top1.append(predicted)
    top1_all = np.concatenate(top1).astype(np.int64)
    # Runners-up as varied as a real model's (for realistic file sizes), distinct from the top-1.
    steps = np.cumsum(np.random.default_rng(len(model_id)).integers(1, 200, (len(top1_all), TOP_K - 1)), axis=1)
    top5 = np.concatenate([top1_all[:, None], (top1_all[:, None] + steps) % 1000], axis=1)
    metadata = {
        "model": {"id": model_id, "revision": revision, "loader": loader, "link": link, "label_mapping": "identity",
                  "num_parameters": 1000, "num_classes": 1000, "label_mapping_notes": []},
        "dataset": {"id": dataset_id, "revision": dataset_revision or folder_revision(dataset), "split": "test"},
        "preprocessing": {"description": "Resize 256, CenterCrop 224, ImageNet mean/std"},
        "protocol": protocol,
        "environment": {"python": "3.11", "imagenet_e": "0.1.0"},
        "created_at": created_at,
        "run": {"n_bootstrap": n_bootstrap, "seed": 0, "limit": limit, "batch_size": 64},
    }
    table = PredictionTable(np.asarray(subsets, dtype=object), np.asarray(ids, dtype=object),
                            np.concatenate(labels).astype(np.int64), top1_all, top5,
                            np.full(len(subsets), None, dtype=object), metadata)
    data = predictions_bytes(table)
    doc = results_from_predictions(read_predictions(data), file_name=f"{stem}{PREDICTIONS_SUFFIX}",
                                   sha256=sha256_bytes(data))
    return doc, data


def write_submission(folder: Path, stem: str, dataset: Path, model_id: str, **kw) -> Path:
    """``<stem>.json`` + ``<stem>.predictions.parquet`` under ``folder`` (stem may hold sub-folders)."""
    name = Path(stem).name
    doc, data = make_submission(dataset, model_id, stem=name, **kw)
    path = folder / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), "utf-8")
    path.with_name(name + PREDICTIONS_SUFFIX).write_bytes(data)
    return path


_DEFAULT: list[Path] = []


def default_dataset() -> Path:
    """A labels-only dataset (100 sources, every subset) shared by a test session."""
    if not _DEFAULT:
        import tempfile

        _DEFAULT.append(write_labels_dataset(Path(tempfile.mkdtemp(prefix="imagenet-e-labels-")) / DATASET_NAME))
    return _DEFAULT[0]


def make_results(model_id: str, **kw) -> dict:
    """Just the results document of :func:`make_submission` on :func:`default_dataset`."""
    return make_submission(default_dataset(), model_id, **kw)[0]


# --- a small board of submissions (leaderboard tests, the browser test) ---------------------------

XSS_NAME = "<img src=x onerror=alert(1)>"


def write_results(folder: Path, name: str, doc) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), "utf-8")
    return path


BOARD_MODELS = [
    # model id, original accuracy, mean drop, loader
    ("org/robust-net", 0.70, 0.05, "transformers"),
    ("org/accurate-net", 0.85, 0.15, "transformers"),
    ("other/middle-net", 0.80, 0.10, "torch"),
    (XSS_NAME, 0.60, 0.20, "transformers"),
]


def _safe(model_id: str) -> str:
    return model_id.replace("/", "--").replace("<", "_").replace(">", "_").replace(" ", "_")


def populate_board(folder: Path, dataset: Path | None = None) -> None:
    dataset = dataset or default_dataset()
    for model_id, original, mean_drop, loader in BOARD_MODELS:
        write_submission(folder, f"results/{_safe(model_id)}/main", dataset, model_id, original=original,
                         mean_drop=mean_drop, loader=loader,
                         link="https://huggingface.co/" + model_id if "/" in model_id else "javascript:alert(1)")


def load(folder: Path):
    """The board of ``folder``, its local dataset known by name (results record local datasets by name)."""
    from imagenet_e.leaderboard.table import load_board_dir

    return load_board_dir(folder, datasets={DATASET_NAME: str(default_dataset())})




def push_labels(api, repo: str, folder: Path) -> str:
    """Upload a labels dataset folder to the (local) Hub as ``repo``; returns its commit."""
    api.create_repo(repo, repo_type="dataset", exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset")
    return api.dataset_info(repo).sha


def commit_submission(repo: str, path: Path, in_repo: str, token: str, *, create_pr: bool = False) -> int | None:
    """Commit a results file and its predictions to ``repo`` as the account of ``token`` (a pull request
    with ``create_pr``: its number is returned)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    predictions = path.with_name(path.name[: -len(".json")] + PREDICTIONS_SUFFIX)
    info = HfApi(token=token).create_commit(repo, repo_type="dataset", commit_message=f"add {in_repo}", operations=[
        CommitOperationAdd(f"{in_repo}.json", path.read_bytes()),
        CommitOperationAdd(f"{in_repo}{PREDICTIONS_SUFFIX}", predictions.read_bytes())], create_pr=create_pr)
    return info.pr_num if create_pr else None


def rewrite_metadata(results: Path, change) -> Path:
    """Edit the run description inside a submission's predictions parquet, then re-record its sha256
    in the results file (and whatever ``change`` returns for the results document)."""
    predictions = results.with_name(results.name[: -len(".json")] + PREDICTIONS_SUFFIX)
    table = pq.read_table(predictions)
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    doc = json.loads(results.read_text())
    change(meta, doc)
    table = table.replace_schema_metadata({**table.schema.metadata, METADATA_KEY: json.dumps(meta).encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    data = sink.getvalue()
    predictions.write_bytes(data)
    doc["predictions"]["sha256"] = sha256_bytes(data)
    results.write_text(json.dumps(doc))
    return results
