"""Severity sweeps: levels from the attribute specs, monotone edits per image, curves and failure points,
through generate -> load_dataset -> evaluate (table, plot) -> leaderboard."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from generation.edits import EditOptions, plan_edit, prepare_source, run_edits
from generation.sweeps import parse_sweep
from helpers.cli import run_cli
from helpers.layouts import write_layout
from imagenet_e_dataset.registry import resolve
from imagenet_e_dataset.metric_table import metric_description
from imagenet_e_metric.sweeps import compute_sweeps


def test_sweep_levels_become_configs_named_by_the_specs():
    assert parse_sweep("background=-40:40:9").config_names() == tuple(
        f"background_{v}" for v in (-40, -30, -20, -10, 0, 10, 20, 30, 40))
    # Levels that coincide with ImageNet-E configs are those configs.
    assert resolve("background_20") is resolve(parse_sweep("background=20").config_names()[0])
    assert parse_sweep("size=0.02, 0.05,0.3").config_names() == ("size_0.02", "size_0.05", "size_0.3")
    assert parse_sweep("direction=0:90:7").values == (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)
    assert parse_sweep("position=0:1:5").config_names()[-1] == "position_1"


@pytest.mark.parametrize(("text", "message"), [
    ("size=0,0.1", r"--sweep size=0,0.1: level 0 is out of range.*object rate"),
    ("size=1.2", r"level 1.2 is out of range"),
    ("direction=0:270:4", r"level 270 is out of range.*\[-180, 180\]"),
    ("position=2", r"level 2 is out of range.*\[0, 1\]"),
    ("original=1", r"'original' has no severity scale; sweepable: background, size"),
    ("colour=1,2", r"unknown attribute 'colour'"),
    ("size=0.1:0.2", r"START:STOP:COUNT"),
    ("size=0.1,0.1", r"repeated"),
    ("size=٠.١", r"not a plain decimal number"),
    ("size", r"expected ATTRIBUTE=V1,V2"),
])
def test_bad_sweeps_are_refused_before_any_work_naming_the_value(text, message):
    with pytest.raises(ValueError, match=message):
        parse_sweep(text)


def _source():
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 24:36] = True
    return prepare_source(photo, mask, "opencv", EditOptions(resolution=64))


def _edit(source, name: str, seed_for_row):
    sub = resolve(name)
    # Without harmonisation the geometric edit is read straight off the composite (no editor needed).
    options = EditOptions(resolution=64, harmonize=False)
    return run_edits([plan_edit(source, None, sub, seed=seed_for_row(sub), options=options)], None)[0]


def test_an_image_is_edited_monotonically_along_a_sweep():
    from generation.seeding import seed_for

    source = _source()
    seed = lambda sub: seed_for(404, "img", sub)  # noqa: E731
    directions = [_edit(source, f"direction_{a}", seed) for a in (15, 30, 60)]
    senses = {r.params["sense"] for r in directions}
    assert len(senses) == 1  # the same rotation sense at every level
    assert [abs(r.params["angle"]) for r in directions] == [15, 30, 60]
    moves = [_edit(source, f"position_{s}", seed) for s in ("0.25", "0.5", "1")]
    assert len({tuple(r.params["target"]) for r in moves}) == 1  # one target place per image
    steps = [np.hypot(r.params["dx"], r.params["dy"]) for r in moves]
    assert steps == sorted(steps)
    hidden = [source.object_mask & ~_edit(source, f"occlusion_{s}", seed).object_mask for s in ("0.25", "0.5", "0.75")]
    assert all(((small & ~large).sum() == 0) for small, large in zip(hidden, hidden[1:]))  # nested occlusions


def test_failure_points_are_the_first_level_where_a_correct_prediction_is_wrong():
    # Sources a..e; original: e is wrong. a never fails, b fails at 0.2, c at 0.1, d at 0.05 (0.1 missing).
    rows = [("original", s, 1 if s != "e" else 0) for s in "abcde"]
    rows += [("size_0.2", "a", 1), ("size_0.2", "b", 0), ("size_0.2", "c", 1), ("size_0.2", "d", 1), ("size_0.2", "e", 0)]
    rows += [("size_0.1", "a", 1), ("size_0.1", "b", 1), ("size_0.1", "c", 0), ("size_0.1", "e", 1)]
    rows += [("size_0.05", s, 1 if s == "a" else 0) for s in "abcde"]
    subsets, ids, preds = zip(*rows)
    out = compute_sweeps(list(preds), [1] * len(rows), list(subsets), list(ids), n_bootstrap=200, per_image=True,
                         description=metric_description(subsets))
    size = out["size"]
    assert size["levels"] == ["0.2", "0.1", "0.05"]  # increasing severity: the object shrinks
    assert size["failure_points"] == {"a": None, "b": "0.2", "c": "0.1", "d": "0.05"}
    assert size["failure"]["images"] == 4 and size["failure"]["never_flip"] == 0.25
    assert size["failure"]["median_level"] == "0.1"  # lower median of (0.2, 0.1, 0.05, never)
    assert size["accuracy"] == [0.6, 0.75, 0.2] and size["counts"] == [5, 4, 5]
    assert all(lo <= acc <= hi for acc, (lo, hi) in zip(size["accuracy"], size["ci95"]))
    # The benchmark's own fixed levels are not a sweep.
    fixed = compute_sweeps([1] * 6, [1] * 6, ["original"] * 2 + ["size_0.1"] * 2 + ["size_0.05"] * 2, list("ab") * 3)
    assert fixed == {}


@pytest.mark.slow
def test_a_sweep_goes_through_generate_evaluate_and_the_leaderboard(tmp_path):
    layout = write_layout(tmp_path / "imagenet", range(1, 5), bad=False)
    out = tmp_path / "sweep-e"
    run_cli("generate", "--images", str(layout["images"]), "--masks", str(layout["masks"]), "--out", str(out),
         "--sweep", "direction=0:60:3", "--sweep", "occlusion=0.25,0.5", "--edit-option", "resolution=64",
         "--single-object", "--no-progress", cwd=tmp_path)
    card = (out / "README.md").read_text("utf-8")
    assert "| sweep direction | `0, 30, 60` |" in card and "config_name: direction_30" in card
    import datasets

    ds = datasets.load_dataset(str(out), "direction_60", split="test")
    assert set(ds["level"]) == {"60"} and len(ds) == 4
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    senses = {}
    for row in manifest:
        if row["subset"].startswith("direction_") and row["subset"] != "direction_0":
            senses.setdefault(row["source_id"], set()).add(row["params"]["sense"])
    assert senses and all(len(s) == 1 for s in senses.values())

    board = tmp_path / "board"
    run_cli("evaluate", "--model", "efficientnet-lite0", "--dataset", str(out), "--output", str(board / "results.json"),
         "--plot", str(board / "drops.png"), "--n-bootstrap", "50", "--num-workers", "0", "--no-progress", cwd=tmp_path)
    doc = json.loads((board / "results.json").read_text("utf-8"))
    assert set(doc["metrics"]["sweeps"]) == {"direction", "occlusion"}
    assert doc["metrics"]["sweeps"]["direction"]["levels"] == ["0", "30", "60"]
    assert (board / "drops_sweeps.png").stat().st_size > 10_000
    code = textwrap.dedent(f"""
        from imagenet_e.leaderboard.table import build_table, load_board_dir
        board = load_board_dir({str(board)!r}, datasets={{{out.name!r}: {str(out)!r}}})
        assert not board.skipped, board.skipped
        print("|".join(build_table(board).columns))
    """)
    columns = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "direction median failure level" in columns and "occlusion median failure level" in columns
