"""Spot-checks of self-reported results: re-run a seeded sample of the model and compare.

When a self-reported file's model is reachable on the Hub at the revision the file names, the
worker re-runs that model on a random sample of source images (every config of the file, the
seed taken from the commit that added the file, so neither side can choose the sample after the
fact) and compares its top-1 with the file's. The record, ``X.spotcheck.json`` beside the results
file, reads ``spot-checked k/k agree`` or ``disagrees (k of n)`` on the board.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import BenchmarkPin
from .loading import SPOT_CHECK_SUFFIX, VERIFICATION_SUFFIX



def sample_sources(source_ids: list[str], commit: str, size: int) -> list[str]:
    """``size`` source ids drawn with a seed from ``commit`` (a hex sha), in sorted order."""
    rng = np.random.default_rng(int(commit[:16], 16))
    unique = sorted(set(source_ids))
    chosen = rng.choice(len(unique), size=min(size, len(unique)), replace=False)
    return sorted(unique[i] for i in chosen)


def _sampled_dataset(dataset_folder: Path, sources: set[str], out: Path) -> Path:
    """A Hub-layout copy of ``dataset_folder`` holding only ``sources`` (the same configs and card)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import yaml

    out.mkdir(parents=True, exist_ok=True)
    # The card's configs only: its dataset_info (split sizes) describes the full dataset, not the sample.
    text = (dataset_folder / "README.md").read_text("utf-8")
    front = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else {}
    card = {"configs": (front or {}).get("configs", [])}
    (out / "README.md").write_text(f"---\n{yaml.safe_dump(card, sort_keys=False)}---\n", "utf-8")
    wanted = pa.array(sorted(sources))
    for config in sorted({p.parent.name for p in dataset_folder.rglob("*.parquet")}):
        parts = [pq.read_table(p) for p in sorted((dataset_folder / config).glob("*.parquet"))]
        table = pa.concat_tables(parts)
        (out / config).mkdir(exist_ok=True)
        pq.write_table(table.filter(pc.is_in(table.column("source_id"), value_set=wanted)),
                       out / config / "test-00000-of-00001.parquet")
    return out


def spot_check(results: Path, predictions: Path, commit: str, pin: BenchmarkPin, *, sample: int = 16,
               batch_size: int = 64, token: str | bool | None = None) -> dict[str, Any]:
    """Re-run the file's model on a seeded sample; the record (compared, agree, sample, ...)."""
    from huggingface_hub import HfApi, snapshot_download

    from imagenet_e.eval.predictions import predictions_path_for, read_predictions
    from imagenet_e.eval.runner import evaluate_model

    doc = json.loads(results.read_text("utf-8"))
    model, revision = doc["model"]["id"], doc["model"].get("revision")
    model_commit = HfApi(token=token).model_info(model, revision=revision).sha  # unreachable: raises, no record
    submitted = read_predictions(predictions, name=predictions.name)
    sources = sample_sources(submitted.source_ids.tolist(), commit, sample)
    dataset = Path(snapshot_download(pin.dataset_id, repo_type="dataset", revision=pin.revision, token=token))
    with tempfile.TemporaryDirectory(prefix="imagenet-e-spot-") as tmp:
        sampled = _sampled_dataset(dataset, set(sources), Path(tmp) / "sample")
        output = Path(tmp) / "spot.json"
        evaluate_model(model, sampled, configs=submitted.configs, model_revision=model_commit,
                       loader=doc["model"].get("loader", "auto"), output=output, n_bootstrap=1,
                       batch_size=batch_size, progress=False, num_workers=0,
                       restrict_to_dataset_classes=doc.get("protocol") == "dataset-classes")
        rerun = read_predictions(predictions_path_for(output))
    mine = {(s, i): int(p) for s, i, p in zip(rerun.subsets, rerun.source_ids, rerun.top1)}
    theirs = {(s, i): int(p) for s, i, p in zip(submitted.subsets, submitted.source_ids, submitted.top1)
              if (s, i) in mine}
    agree = sum(mine[key] == value for key, value in theirs.items())
    return {"model_id": model, "model_commit": model_commit, "seed_commit": commit, "sources": sources,
            "compared": len(theirs), "agree": agree}


def describe(record: dict[str, Any]) -> str:
    """How a spot-check reads on the board."""
    compared, agree = int(record.get("compared", 0)), int(record.get("agree", 0))
    if compared and agree == compared:
        return f"spot-checked {agree}/{compared} agree"
    return f"spot-check disagrees ({compared - agree} of {compared})"


def spot_check_repo(results_repo: str, pin: BenchmarkPin, worker: str, *, sample: int = 16, batch_size: int = 64,
                    token: str | bool | None = None, log=print) -> list[dict[str, Any]]:
    """Spot-check every self-reported file of the results repo that has no record yet and whose model
    is reachable; commit each record beside its file. Returns the records written."""
    import hashlib

    from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

    from imagenet_e.eval.predictions import PREDICTIONS_SUFFIX

    from .identity import hub_provenance

    api = HfApi(token=token)
    files = set(api.list_repo_files(results_repo, repo_type="dataset"))
    candidates = sorted(f for f in files if f.endswith(".json") and not f.endswith((VERIFICATION_SUFFIX, SPOT_CHECK_SUFFIX))
                        and f != "board.yaml" and f[: -len(".json")] + VERIFICATION_SUFFIX not in files
                        and f[: -len(".json")] + SPOT_CHECK_SUFFIX not in files
                        and f[: -len(".json")] + PREDICTIONS_SUFFIX in files)
    commits = hub_provenance(results_repo, candidates, token=token) if candidates else {}
    written = []
    for path in candidates:
        stem = path[: -len(".json")]
        try:
            results = Path(hf_hub_download(results_repo, path, repo_type="dataset", token=token))
            predictions = Path(hf_hub_download(results_repo, stem + PREDICTIONS_SUFFIX, repo_type="dataset",
                                               token=token))
            record = spot_check(results, predictions, commits[path].commit, pin, sample=sample,
                                batch_size=batch_size, token=token)
        except Exception as exc:  # noqa: BLE001 - a private/gone model or a bad file: no record, say why
            log(f"spot-check of {path} skipped: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        record.update(worker=worker, results_sha256=hashlib.sha256(results.read_bytes()).hexdigest())
        api.create_commit(results_repo, repo_type="dataset", commit_message=f"Spot-check of {path}",
                          operations=[CommitOperationAdd(stem + SPOT_CHECK_SUFFIX,
                                                         (json.dumps(record, indent=2) + "\n").encode())])
        log(f"spot-check of {path}: {describe(record)}")
        written.append(record)
    return written
