"""The benchmark harness measures what it says: medians of known workloads, rotated interleaving, the
files the docs quote. Only generous bounds on known sleeps are asserted, never a speed."""

from __future__ import annotations

import json
import time

import pytest

from benchmarks.harness import Case, compare, write_results


def _sleeper(seconds: float, calls: list[str], name: str):
    def fn() -> None:
        calls.append(name)
        time.sleep(seconds)
    return fn


def _busy(seconds: float):
    def fn() -> None:
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
    return fn


def test_medians_of_known_sleeps_and_rotated_interleaving():
    calls: list[str] = []
    cases = [Case("short", _sleeper(0.02, calls, "short"), units=10),
             Case("long", _sleeper(0.08, calls, "long"), units=10),
             Case("busy", _busy(0.03))]
    comp = compare("sleeps", cases, repeats=4, warmup=2, unit="items")
    # Warm-up runs every case twice first, unrecorded; then each round runs every case once, rotated.
    assert calls[:4] == ["short", "long"] * 2 and len(calls) == 4 + 8  # (busy does not log its calls)
    assert comp.order == ["short", "long", "busy", "long", "busy", "short",
                          "busy", "short", "long", "short", "long", "busy"]
    short, long, busy = (comp.summary(n) for n in ("short", "long", "busy"))
    assert all(s.runs == 4 for s in comp.summaries) and len(comp.samples["long"]) == 4
    assert 0.02 <= short.wall_median_s < 0.5 and 0.08 <= long.wall_median_s < 1.0
    assert short.wall_min_s <= short.wall_median_s <= short.wall_max_s
    # A sleep costs (almost) no CPU; a busy loop costs at least what it spun.
    assert short.cpu_median_s < 0.02 and busy.cpu_median_s >= 0.03
    assert long.relative_to_baseline > 1 and short.relative_to_baseline == 1.0
    assert short.throughput_per_s == pytest.approx(10 / short.wall_median_s) and busy.throughput_per_s is None
    assert comp.speed("long", versus="short") == pytest.approx(short.wall_median_s / long.wall_median_s)
    assert len(comp.settings["load_before"]) == 3


def test_results_files_hold_every_sample_and_the_machine(tmp_path):
    comp = compare("one", [Case("a", lambda: None, units=1), Case("b", lambda: None)], repeats=3, warmup=0,
                   baseline="b", notes=["a note"])
    json_path, md_path = write_results("unit", [comp], folder=tmp_path)
    doc = json.loads(json_path.read_text())
    assert doc["benchmark"] == "unit"
    assert {"date_utc", "command", "cores_usable", "cores_present", "load_average", "python"} <= set(doc["machine"])
    (got,) = doc["comparisons"]
    assert got["baseline"] == "b" and [s["name"] for s in got["summaries"]] == ["a", "b"]
    assert {len(v) for v in got["samples"].values()} == {3}
    assert set(got["samples"]["a"][0]) == {"wall_s", "cpu_s"}
    text = md_path.read_text()
    assert "### one" in text and "| a |" in text and "| b |" in text and "- a note" in text
    assert "load average" in text and "usable cores" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unit.json", "unit.md"]  # no temp files left


@pytest.mark.parametrize("kwargs, message", [
    (dict(cases=[]), "at least one case"),
    (dict(cases=[Case("a", lambda: None), Case("a", lambda: None)]), "unique"),
    (dict(cases=[Case("a", lambda: None)], baseline="z"), "baseline 'z' is not one of"),
    (dict(cases=[Case("a", lambda: None)], repeats=0), "repeats must be >= 1"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare("bad", **kwargs)
