"""What the timed demo printed, kept beside its timings so the docs quote the demo's real output.

``benchmarks/bench_commands.py`` runs ``imagenet-e demo --out DIR`` several times; ``summarise`` reads
each run's ``results.json`` and ``predictions.parquet`` (the files the demo writes) into the numbers
docs/demo.md, docs/metrics.md and the README state: top-1 and drops per subset with their intervals,
the per-attribute and mean drops, and which photo's prediction changed to what. The renderers here
write those blocks (``demo-results``, ``demo-drops``) for ``benchmarks/render_docs.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagenet_e_dataset.labels import class_names


def summarise(folder: Path) -> dict[str, Any]:
    """The demo's output in ``folder`` as plain JSON: per subset, per attribute, and the changed photos."""
    import pandas as pd  # here, not at import: bench_commands' process stays lean while it measures
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    metrics = results["metrics"]
    predictions = pd.read_parquet(folder / results["predictions"]["file"])
    names = class_names()
    truth = {row.source_id: int(row.label) for row in predictions[predictions.subset == "original"].itertuples()}
    changed: dict[str, list[str]] = {}
    for row in predictions[predictions.subset != "original"].itertuples():
        was_right = int(row.label) == truth.get(row.source_id, -1)
        if was_right != (int(row.top1) == int(row.label)):  # a correct answer lost, or a wrong one fixed
            changed.setdefault(row.subset, []).append(f"{names[int(row.label)]} → {names[int(row.top1)]}")
    subsets = [entry["name"] for entry in results["dataset"]["layout"]]
    rows = [{"subset": s, "top1": metrics["accuracy"][s], "drop": metrics["accuracy_drop"].get(s),
             "ci95": metrics["ci95"].get(s), "control_drop": metrics["control_drop"].get(s),
             "changed": sorted(changed.get(s, []))} for s in subsets]
    return {"created_at": results["created_at"], "model": results["model"]["id"],
            "images": results["counts"]["original"], "rows": rows,
            "attribute_drop": metrics["attribute_drop"], "control_attribute_drop": metrics["control_attribute_drop"],
            "mean_drop": metrics["mean_drop"], "control_mean_drop": metrics["control_mean_drop"],
            "control_subset": metrics["control_subset"]}


def _pp(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.1f}"


def _source(doc: dict[str, Any]) -> str:
    demo = next(s for s in doc["steps"] if s["group"] == "demo")
    runs = len(demo["runs"])
    agree = ("1 run" if runs == 1 else f"all {runs} runs printed the same" if doc["demo_output_identical"]
             else f"the {runs} runs did not all print the same: this is the last")
    return (f"printed by `{demo['command']}` in `{doc['machine']['command']}` "
            f"({doc['machine']['date_utc'][:10]}; {agree})")


def render_results(doc: dict[str, Any]) -> str:
    out = doc["demo_output"]
    lines = [f"What the demo {_source(doc)}:", "",
             f"| subset | top-1 % | drop pp (95 % CI) | vs {out['control_subset']} pp | photo that changed |",
             "|---|---:|---|---:|---|"]
    for row in out["rows"]:
        interval = "" if not row["ci95"] or row["ci95"][0] == row["ci95"][1] else \
            f" [{_pp(row['ci95'][0])}, {_pp(row['ci95'][1])}]"
        drop = "" if row["drop"] is None else _pp(row["drop"]) + interval
        lines.append(f"| {row['subset']} | {row['top1'] * 100:.1f} | {drop} | {_pp(row['control_drop'])} "
                     f"| {'; '.join(row['changed'])} |")
    per_attribute = ", ".join(f"{a} {_pp(v)} ({_pp(out['control_attribute_drop'].get(a))} against the control)"
                              for a, v in out["attribute_drop"].items())
    lines += ["", f"Per attribute (pp): {per_attribute}; mean drop {_pp(out['mean_drop'])} pp, "
                  f"{_pp(out['control_mean_drop'])} pp against the control."]
    return "\n".join(lines)


def render_drops(doc: dict[str, Any]) -> str:
    out = doc["demo_output"]
    flips = [f"{row['subset']}: {', '.join(row['changed'])}" for row in out["rows"] if row["changed"]]
    return (f"The demo's mean drop is {_pp(out['mean_drop'])} pp against `original` and "
            f"{_pp(out['control_mean_drop'])} pp against the control `{out['control_subset']}` with "
            f"{out['model']} on {out['images']} photos (changed predictions: {'; '.join(flips) or 'none'}), as "
            f"{_source(doc)}.")
