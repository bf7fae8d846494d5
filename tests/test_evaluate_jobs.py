"""``imagenet-e jobs evaluate`` on the local Hub server's fake Jobs API (a job is a subprocess): many
models scored on ImageNet-E, one job per model, reruns launch only the models still missing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from imagenet_e.cli import main
from test_generate_jobs import fake_jobs  # noqa: F401  (fixture)


def _evaluate_args(models: list[str], dataset: str, staging: str, out_dir: Path, *extra: str) -> list[str]:
    return ["jobs", "evaluate", *(a for m in models for a in ("--model", m)), "--dataset", dataset,
            "--n-bootstrap", "20", "--batch-size", "4", "--out-dir", str(out_dir), "--staging-repo", staging,
            "--job-launcher", "python -m imagenet_e.cli", "--poll", "0.2", "--wait-timeout", "300", *extra]


def test_models_evaluated_as_jobs_equal_local_runs_and_a_rerun_relaunches_only_the_failed_model(
        hub_server, fake_jobs, tmp_path, capsys):
    """``jobs evaluate`` with two models (tiny ResNets on the local Hub, a tiny Hub-layout dataset): the
    second model's first job is preempted; the rerun launches it alone; each model's staged results
    and predictions equal a local ``imagenet-e evaluate`` of that model."""
    from huggingface_hub import HfApi

    from imagenet_e.eval.predictions import read_predictions
    from imagenet_e.jobs.evaluate_jobs import model_folder
    from imagenet_e_dataset.labels import synonyms
    from test_eval_runner import _save, _tiny_resnet

    tag = uuid.uuid4().hex[:8]
    api = HfApi()
    dataset = f"ns/bench-{tag}"
    api.create_repo(dataset, repo_type="dataset")
    root = tmp_path / "assets"
    _write_tiny_benchmark(root / "dataset")
    api.upload_folder(folder_path=str(root / "dataset"), repo_id=dataset, repo_type="dataset")
    models = []
    for seed in (0, 1):
        repo = f"ns/tiny-{seed}-{tag}"
        api.create_repo(repo)
        api.upload_folder(folder_path=str(_save(_tiny_resnet(dict(enumerate(synonyms())), seed), root / repo)),
                          repo_id=repo)
        models.append(repo)
    staging = f"ns/evals-{tag}"
    out_dir = tmp_path / "evaluations"

    before = set(fake_jobs.jobs)
    fake_jobs.fail_next("model", model_folder(models[1]))
    assert main(_evaluate_args(models, dataset, staging, out_dir, "--attempts", "1")) == 1
    err = capsys.readouterr().err
    assert "1 job(s) failed: job 1: ERROR" in err, err[-3000:]
    assert len([j for j in fake_jobs.jobs if j not in before]) == 2

    seen = set(fake_jobs.jobs)
    assert main(_evaluate_args(models, dataset, staging, out_dir)) == 0
    captured = capsys.readouterr()
    rerun = [fake_jobs.jobs[j] for j in fake_jobs.jobs if j not in seen]
    assert [j.spec["labels"]["model"] for j in rerun] == [model_folder(models[1])]  # model 0 is not redone
    assert f"1 of 2 model(s) already in {staging}: {models[0]}" in captured.err

    for model in models:
        staged = out_dir / model_folder(model)
        local = tmp_path / "local" / model_folder(model) / "results.json"
        local.parent.mkdir(parents=True)
        assert main(["evaluate", "--model", model, "--dataset", dataset, "--n-bootstrap", "20", "--batch-size", "4",
                     "--output", str(local), "--no-progress"]) == 0
        jobs_doc, local_doc = (json.loads(p.read_text()) for p in (staged / "results.json", local))
        assert jobs_doc["metrics"] == local_doc["metrics"] and jobs_doc["model"] == local_doc["model"]
        jobs_pred, local_pred = (read_predictions(p.parent / "predictions.parquet")
                                 for p in (staged / "results.json", local))
        assert (jobs_pred.top1 == local_pred.top1).all() and (jobs_pred.source_ids == local_pred.source_ids).all()
    capsys.readouterr()


def _write_tiny_benchmark(folder: Path) -> None:
    from imagenet_e_dataset.hub_layout import HubLayoutWriter
    from test_eval_runner import CONFIGS, CORRUPT, N_SOURCES, _images, _source_id

    images = _images()
    images[CORRUPT[0]][CORRUPT[1]] = images[CORRUPT[0]][0]  # every image readable
    with HubLayoutWriter(folder) as writer:
        for config in CONFIGS:
            for i in range(N_SOURCES):
                writer.add(config, {"image": {"bytes": images[config][i], "path": None}, "label": (7 * i) % 1000,
                                    "source_id": _source_id(i)})
        writer.finalize()


def test_a_local_model_or_dataset_is_refused_naming_the_flag(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    for extra, flag in ((["--model", str(tmp_path / "model"), "--dataset", "ns/bench"], "--model"),
                        (["--model", "ns/m", "--dataset", str(tmp_path)], "--dataset")):
        argv = ["jobs", "evaluate", *extra, "--staging-repo", "ns/x", "--dry-run"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"imagenet-e jobs: error: {flag} ") and "Hugging Face Jobs cannot read" in err, err


def test_dry_run_prints_one_evaluate_command_per_model(capsys):
    from imagenet_e.jobs.evaluate_jobs import model_folder

    assert main(["jobs", "evaluate", "--model", "org/a", "--model", "org/b", "--dataset", "ns/bench", "--configs",
                 "original,size_0.05", "--format", "csv", "--staging-repo", "ns/x", "--dry-run"]) == 0
    commands = [line.split() for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert [c[c.index("--model") + 1] for c in commands] == ["org/a", "org/b"]
    for command, model in zip(commands, ("org/a", "org/b")):
        assert command[command.index("jobs"):][:2] == ["jobs", "evaluate-model"]
        assert command[command.index("--staging-path") + 1].endswith("/" + model_folder(model))
        assert "--configs" in command and "--format" not in command and "--dry-run" not in command
