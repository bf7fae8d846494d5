"""Timings that stay true (issue 24 item 9, issue 26): the README and docs quote the committed output of
benchmarks/bench_commands.py through marked blocks, and state no hand-typed duration in the sections
that give timings. Also the measuring pieces themselves, on commands of known behaviour (no speed is
asserted beyond generous bounds on a known sleep)."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import pytest

from benchmarks import bench_commands, render_docs
from benchmarks.render_docs import (BLOCK, COMMANDS_JSON, DURATION, ROOT, TIMING_SECTIONS, doc_files, load_results,
                                    render_text, stray_durations)


def test_every_marked_block_matches_the_committed_results():
    doc = load_results(COMMANDS_JSON)
    stale = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        rendered = render_text(text, doc, str(path.relative_to(ROOT)))
        new_blocks = {m.group(0) for m in BLOCK.finditer(rendered)}
        stale += [f"{path.relative_to(ROOT)}: bench:{m.group('name')}" for m in BLOCK.finditer(text)
                  if m.group(0) not in new_blocks]
    assert not stale, f"blocks differ from {COMMANDS_JSON.name}; run `python -m benchmarks render-docs`: {stale}"


def test_the_stale_timings_are_replaced_by_blocks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = {m.group("name") for m in BLOCK.finditer(readme)}
    assert {"demo", "own-dataset", "suite"} <= names
    assert "STALE (issue 24, item 9)" not in readme


def test_no_duration_outside_a_marked_block_in_the_timing_sections():
    found = []
    for relative, headings in TIMING_SECTIONS.items():
        text = (ROOT / relative).read_text(encoding="utf-8")
        found += [f"{relative} / {heading}: {phrase!r}" for heading, phrase in stray_durations(text, headings)]
    assert not found, f"hand-typed durations (quote benchmarks/results/commands.json through a block): {found}"


@pytest.mark.parametrize("phrase", ["0.5 s", "took 6.9 s", "3 min 37 s", "3½ min", "40 s,", "250 ms", "2 h", "6 min"])
def test_duration_pattern_catches_stated_durations(phrase):
    assert DURATION.search(phrase)


@pytest.mark.parametrize("phrase", ["10 steps", "3 photos", "12 subsets", "4.5 MB", "sizes 0.05", "2 cores",
                                    "v2 seconds", "step 3 is"])
def test_duration_pattern_ignores_prose(phrase):
    assert not DURATION.search(phrase)


def test_stray_durations_sees_only_the_named_sections():
    text = ("intro took 5 s\n<!-- bench:demo -->\nit took 9 s\n<!-- /bench:demo -->\n"
            "## Timed\nthen 3 min\n## Other\nfree prose with 7 s\n")
    assert stray_durations(text, ("", "## Timed")) == [("(introduction)", "5 s"), ("## Timed", "3 min")]
    with pytest.raises(ValueError, match="Missing"):
        stray_durations(text, ("## Missing",))


def _results(tmp_path: Path, *, suite: bool = False) -> dict:
    def step(group, label, command, wall):
        runs = [{"wall_s": wall + d, "cpu_s": wall / 2, "max_rss_mb": 300.0, "load_1m_before": 2.0 + d}
                for d in (0.0, 1.0, 2.0)]
        return {"group": group, "label": label, "command": command, "runs": runs, "wall_median_s": wall + 1,
                "wall_min_s": wall, "wall_max_s": wall + 2, "cpu_median_s": wall / 2, "max_rss_mb": 300.0}
    steps = [step("demo", "demo", "imagenet-e demo --out demo-out", 80.0),
             step("own-dataset", "generate", "imagenet-e generate --image-folder photos", 20.0)]
    if suite:
        steps.append(step("suite", "test suite", "python -m pytest -q", 200.0))
    return {"machine": {"date_utc": "2026-12-07T22:00:00Z", "cpu_model": "Test CPU", "cores_usable": 2,
                        "memory_gb": 24.0, "command": "python benchmarks/bench_commands.py"},
            "repeats": 3, "steps": steps}


def test_render_writes_numbers_date_machine_load_and_command(tmp_path):
    doc = _results(tmp_path)
    text = ("a\n<!-- bench:demo -->\nold 15 s\n<!-- /bench:demo -->\nb\n"
            "<!-- bench:own-dataset --><!-- /bench:own-dataset -->")
    out = render_text(text, doc)
    demo = next(m.group("body") for m in BLOCK.finditer(out) if m.group("name") == "demo")
    for expected in ("81.0 s wall", "80.0 s–82.0 s", "40.0 s CPU", "300 MB", "2026-12-07", "Test CPU", "2 cores",
                     "load average (1 min) 2.0–4.0", "`python benchmarks/bench_commands.py`",
                     "`imagenet-e demo --out demo-out`"):
        assert expected in demo
    assert "15 s" not in out and out.startswith("a\n") and "\nb\n" in out
    assert "| `imagenet-e generate` | 21.0 s |" in out
    assert render_text(out, doc) == out  # rendering twice changes nothing


def test_suite_block_says_when_the_suite_was_not_measured(tmp_path):
    text = "<!-- bench:suite --><!-- /bench:suite -->"
    assert "not in the committed measurements" in render_text(text, _results(tmp_path))
    assert "`python -m pytest -q`, took 201 s wall" in render_text(text, _results(tmp_path, suite=True))


@pytest.mark.parametrize("text, message", [
    ("<!-- bench:nope -->x<!-- /bench:nope -->", "unknown block 'bench:nope'"),
    ("<!-- bench:demo -->x", "unmatched marker"),
    ("<!-- bench:demo -->x<!-- /bench:suite -->", "unmatched marker"),
])
def test_render_refuses_bad_blocks_naming_the_file(tmp_path, text, message):
    with pytest.raises(ValueError, match=message) as error:
        render_text(text, _results(tmp_path), "docs/x.md")
    assert "docs/x.md" in str(error.value)


def test_render_docs_check_and_rewrite(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    readme = tmp_path / "README.md"
    readme.write_text("<!-- bench:demo -->\nold\n<!-- /bench:demo -->\n", encoding="utf-8")
    results = tmp_path / "commands.json"
    results.write_text(json.dumps(_results(tmp_path)), encoding="utf-8")
    monkeypatch.setattr(render_docs, "ROOT", tmp_path)
    monkeypatch.setattr(render_docs, "doc_files", lambda: [readme])
    assert render_docs.main(["--check", "--results", str(results)]) == 1
    assert "old" in readme.read_text(encoding="utf-8")
    assert render_docs.main(["--results", str(results)]) == 0
    assert "81.0 s wall" in readme.read_text(encoding="utf-8")
    assert render_docs.main(["--check", "--results", str(results)]) == 0
    with pytest.raises(FileNotFoundError, match="bench_commands.py"):
        render_docs.main(["--results", str(tmp_path / "missing.json")])
    # A bad block anywhere: nothing is written, not even the files before it.
    readme.write_text("<!-- bench:demo -->\nold\n<!-- /bench:demo -->\n", encoding="utf-8")
    bad = tmp_path / "docs" / "bad.md"
    bad.write_text("<!-- bench:typo -->x<!-- /bench:typo -->", encoding="utf-8")
    monkeypatch.setattr(render_docs, "doc_files", lambda: [readme, bad])
    with pytest.raises(ValueError, match="docs/bad.md: unknown block 'bench:typo'"):
        render_docs.main(["--results", str(results)])
    assert "old" in readme.read_text(encoding="utf-8")


def test_the_timed_commands_are_the_readme_own_dataset_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n## Your own dataset\ntext\n```bash\npip install --no-deps something\n"
                      "imagenet-e demo --export-photos photos   # note\n"
                      "imagenet-e generate --image-folder photos \\\n    --out photos-e\n```\n## Next\n```bash\n"
                      "imagenet-e other\n```\n", encoding="utf-8")
    found = bench_commands.steps(readme=readme)
    assert [(s.group, s.label, s.command) for s in found] == [
        ("demo", "demo", bench_commands.DEMO_COMMAND),
        ("own-dataset", "demo --export-photos", "imagenet-e demo --export-photos photos"),
        ("own-dataset", "generate", "imagenet-e generate --image-folder photos --out photos-e")]
    readme.write_text("# x\n## Elsewhere\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Your own dataset"):
        bench_commands.own_dataset_commands(readme)


def test_the_real_readme_block_is_the_four_documented_steps():
    labels = [s.label for s in bench_commands.steps() if s.group == "own-dataset"]
    assert labels == ["demo --export-photos", "generate", "contact-sheet", "evaluate"]


def test_run_command_measures_its_own_child(tmp_path):
    python = Path(sys.executable).name
    sleeper = bench_commands.run_command(f"{python} -c 'import time; time.sleep(0.3)'", tmp_path, tmp_path / "a.log")
    assert 0.3 <= sleeper.wall_s < 30 and sleeper.cpu_s < sleeper.wall_s + 5
    # Linux counts what the child shares with this process before exec: the floor is our own peak.
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = int(floor) + 200
    allocate = f"b = bytearray({size} * 2**20); b[::4096] = b\"x\" * len(b[::4096])"
    big = bench_commands.run_command(f"{python} -c '{allocate}'", tmp_path, tmp_path / "b.log")
    assert big.max_rss_mb > size - 10  # the child's own allocation, above anything inherited
    small = bench_commands.run_command(f"{python} -c 'pass'", tmp_path, tmp_path / "c.log")
    assert small.max_rss_mb < floor + 50
    busy = bench_commands.run_command(
        f"{python} -c 'import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass'",
        tmp_path, tmp_path / "d.log")
    assert busy.cpu_s >= 0.3


def test_run_command_names_a_failing_command_and_its_output(tmp_path):
    python = Path(sys.executable).name
    with pytest.raises(bench_commands.CommandFailed, match=r"exited with 3[\s\S]*boom"):
        bench_commands.run_command(f"{python} -c 'print(\"boom\"); raise SystemExit(3)'", tmp_path, tmp_path / "x.log")
    with pytest.raises(bench_commands.CommandFailed, match="not on PATH"):
        bench_commands.run_command("no-such-program-xyz", tmp_path, tmp_path / "y.log")


def test_measure_interleaves_groups_and_keeps_every_run(tmp_path):
    python = Path(sys.executable).name
    steps = [bench_commands.Step("a", "one", f"{python} -c 'open(\"made\", \"w\")'"),
             bench_commands.Step("a", "two", f"{python} -c 'open(\"made\")'"),  # needs step one's file
             bench_commands.Step("b", "three", f"{python} -c 'pass'")]
    measured = bench_commands.measure(steps, 2, tmp_path)
    assert [len(r.runs) for r in measured.steps] == [2, 2, 2]
    assert measured.comparison.order == ["a", "b", "b", "a"]
    assert measured.demo_outputs == [] and 0 < measured.launcher_rss_mb
    # Each run of a (non-suite) group starts with an empty Hugging Face cache of its own, as a user's first run does.
    seen = tmp_path / "seen.txt"
    record = f"import os; open(\"{seen}\", \"a\").write(os.environ[\"HF_HOME\"] + chr(10))"
    (tmp_path / "probe").mkdir()
    bench_commands.measure([bench_commands.Step("c", "cache", f"{python} -c '{record}'")], 2, tmp_path / "probe")
    caches = seen.read_text().split()
    assert len(caches) == len(set(caches)) == 2 and all(Path(c).parent.name.startswith("c-") for c in caches)
    json_path, md_path = bench_commands.write(measured, 2, tmp_path / "out")
    doc = json.loads(json_path.read_text())
    assert [s["label"] for s in doc["steps"]] == ["one", "two", "three"]
    assert doc["machine"]["cores_usable"] >= 1 and "load_average" in doc["machine"]
    assert "| `" + steps[2].command + "` |" in md_path.read_text()


def _demo_folder(tmp_path: Path) -> Path:
    """A demo output folder of the shape `imagenet-e demo` writes: two photos, one edit flips the zebra."""
    import pandas as pd
    folder = tmp_path / "demo-out"
    folder.mkdir()
    rows = [("original", "z", 340, 340), ("original", "s", 335, 335), ("background_0", "z", 340, 340),
            ("background_0", "s", 335, 335), ("size_0.05", "z", 340, 9), ("size_0.05", "s", 335, 335)]
    pd.DataFrame(rows, columns=["subset", "source_id", "label", "top1"]).to_parquet(folder / "predictions.parquet")
    metrics = {"accuracy": {"original": 1.0, "background_0": 1.0, "size_0.05": 0.5},
               "accuracy_drop": {"background_0": 0.0, "size_0.05": 0.5},
               "ci95": {"background_0": [0.0, 0.0], "size_0.05": [0.0, 1.0]},
               "control_subset": "background_0", "control_drop": {"size_0.05": 0.5},
               "attribute_drop": {"background": 0.0, "size": 0.5}, "control_attribute_drop": {"size": 0.5},
               "mean_drop": 0.25, "control_mean_drop": 0.5}
    results = {"created_at": "2026-12-07T22:00:00Z", "model": {"id": "efficientnet-lite0"}, "metrics": metrics,
               "counts": {"original": 2}, "predictions": {"file": "predictions.parquet"},
               "dataset": {"layout": [{"name": n} for n in ("original", "background_0", "size_0.05")]}}
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


def test_demo_output_is_quoted_from_what_the_demo_wrote(tmp_path):
    from benchmarks.demo_output import summarise
    out = summarise(_demo_folder(tmp_path))
    assert [r["changed"] for r in out["rows"]] == [[], [], ["zebra → ostrich"]]
    doc = {**_results(tmp_path), **bench_commands.demo_fields([out, {**out, "created_at": "later"}])}
    assert doc["demo_output_identical"]
    text = render_text("<!-- bench:demo-results --><!-- /bench:demo-results -->\n"
                       "<!-- bench:demo-drops --><!-- /bench:demo-drops -->", doc)
    assert "| size_0.05 | 50.0 | +50.0 [+0.0, +100.0] | +50.0 | zebra → ostrich |" in text
    assert "| background_0 | 100.0 | +0.0 |  |  |" in text
    assert "size +50.0 (+50.0 against the control)" in text and "all 3 runs printed the same" in text
    assert "mean drop is +25.0 pp against `original` and +50.0 pp against the control `background_0`" in text
    other = {**out, "rows": out["rows"][:2]}
    assert not bench_commands.demo_fields([out, other])["demo_output_identical"]
    with pytest.raises(ValueError, match="needs measurements of 'demo_output'"):
        render_text("<!-- bench:demo-drops --><!-- /bench:demo-drops -->", _results(tmp_path))


def test_measure_keeps_each_demo_runs_output(tmp_path):
    fixture = _demo_folder(tmp_path)
    python = Path(sys.executable).name
    step = bench_commands.Step("demo", "demo", f"{python} -c 'import shutil; shutil.copytree(\"{fixture}\", "
                                               f"\"{bench_commands.DEMO_OUT}\")'")
    work = tmp_path / "work"
    work.mkdir()
    measured = bench_commands.measure([step], 2, work)
    assert len(measured.demo_outputs) == 2
    assert measured.demo_outputs[0]["rows"][2]["changed"] == ["zebra → ostrich"]
    assert bench_commands.demo_fields(measured.demo_outputs)["demo_output_identical"]
