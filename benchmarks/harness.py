"""The one way every benchmark here measures: warm-up, interleaved repetitions, medians, CPU beside wall.

A benchmark compares *cases* (the project's path and its fair peers) that do the same work. The
harness runs each case ``warmup`` times unrecorded (caches, lazy imports, JIT paths), then
``repeats`` rounds; in every round each case runs once, and the order rotates from round to round,
so a slow spell of a loaded machine (other processes, thermal limits) falls on every case alike
instead of on whichever ran last. Each run records wall seconds (``perf_counter``) and CPU seconds
(``process_time`` plus the CPU of child processes that finished during the run, so work done in
subprocesses counts). A case's summary is the median with min and max; ratios are medians over
the baseline's median. The machine's load average (before and after) and core count go with the
numbers, because a 2-core machine at load 6 gives different answers than an idle one.

Results are written to ``benchmarks/results/<name>.json`` and ``.md`` (temp file + rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    """One way of doing the benchmark's work; ``fn`` does it once (its return value is ignored)."""

    name: str
    fn: Callable[[], Any]
    units: float | None = None
    """Work items one call processes (images, rows), for a throughput column; None: no throughput."""
    note: str = ""


@dataclass
class Summary:
    name: str
    runs: int
    wall_median_s: float
    wall_min_s: float
    wall_max_s: float
    cpu_median_s: float
    units: float | None
    throughput_per_s: float | None
    relative_to_baseline: float
    """This case's median wall over the baseline's (1.0 = as fast; < 1 faster)."""
    note: str = ""


@dataclass
class Comparison:
    """What one benchmark measured: per-case summaries, every raw sample, the order they ran in."""

    title: str
    baseline: str
    unit: str
    summaries: list[Summary]
    samples: dict[str, list[dict[str, float]]]
    order: list[str]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def summary(self, name: str) -> Summary:
        return next(s for s in self.summaries if s.name == name)

    def speed(self, case: str, versus: str) -> float:
        """Throughput of ``case`` over that of ``versus`` (median walls), e.g. 0.9 = 90 % as fast."""
        return self.summary(versus).wall_median_s / self.summary(case).wall_median_s


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _run_once(case: Case) -> dict[str, float]:
    cpu0, wall0 = _cpu_now(), time.perf_counter()
    case.fn()
    wall, cpu = time.perf_counter() - wall0, _cpu_now() - cpu0
    return {"wall_s": wall, "cpu_s": cpu}


def compare(title: str, cases: Sequence[Case], *, repeats: int = 5, warmup: int = 1, baseline: str | None = None,
            unit: str = "items", notes: Sequence[str] = ()) -> Comparison:
    """Warm up, then run ``repeats`` interleaved rounds of ``cases`` (see the module docstring)."""
    if not cases:
        raise ValueError("compare needs at least one case")
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"case names must be unique, got {names}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    baseline = baseline or names[0]
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not one of the cases {names}")
    load_before = os.getloadavg()
    for _ in range(warmup):
        for case in cases:
            case.fn()
    samples: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    order: list[str] = []
    for r in range(repeats):
        k = r % len(cases)
        for case in list(cases[k:]) + list(cases[:k]):  # rotate: each case leads some rounds
            samples[case.name].append(_run_once(case))
            order.append(case.name)
    load_after = os.getloadavg()
    base_median = statistics.median(s["wall_s"] for s in samples[baseline])
    summaries = []
    for case in cases:
        walls = [s["wall_s"] for s in samples[case.name]]
        median = statistics.median(walls)
        summaries.append(Summary(
            name=case.name, runs=len(walls), wall_median_s=median, wall_min_s=min(walls), wall_max_s=max(walls),
            cpu_median_s=statistics.median(s["cpu_s"] for s in samples[case.name]), units=case.units,
            throughput_per_s=None if case.units is None or median <= 0 else case.units / median,
            relative_to_baseline=median / base_median if base_median > 0 else float("nan"), note=case.note))
    settings = {"repeats": repeats, "warmup": warmup, "load_before": list(load_before),
                "load_after": list(load_after)}
    return Comparison(title=title, baseline=baseline, unit=unit, summaries=summaries, samples=samples, order=order,
                      settings=settings, notes=list(notes))


def rounds(quick: bool) -> int:
    """Timed rounds per comparison: 3 under ``--quick`` (minutes for everything on 2 cores), else 5."""
    return 3 if quick else 5


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder for a benchmark's data, removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def machine() -> dict[str, Any]:
    """Where and when: cores (usable and present), load average, Python, platform, UTC date, command."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # orig_argv keeps "-m benchmarks" (argv would show the path of __main__.py).
        "command": " ".join([Path(sys.executable).name, *getattr(sys, "orig_argv", sys.argv)[1:]]),
        "cores_usable": usable, "cores_present": os.cpu_count(), "load_average": list(os.getloadavg()),
        "python": platform.python_version(), "platform": platform.platform(),
    }
    for library in ("numpy", "torch", "datasets", "evaluate"):
        module = sys.modules.get(library)
        if module is not None:
            info[library] = getattr(module, "__version__", "?")
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def markdown(name: str, comparisons: Sequence[Comparison], host: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in host["load_average"])
    lines = [f"## {name}", "",
             f"{host['date_utc']} · `{host['command']}` · {host['cores_usable']} usable cores "
             f"({host['cores_present']} present) · load average {load} · Python {host['python']}", ""]
    for comp in comparisons:
        before = ", ".join(f"{x:.2f}" for x in comp.settings["load_before"])
        lines += [f"### {comp.title}", "",
                  f"{comp.settings['repeats']} interleaved rounds after {comp.settings['warmup']} warm-up; "
                  f"load before {before}; baseline `{comp.baseline}`.", "",
                  f"| case | wall median | min–max | CPU median | {comp.unit}/s | × baseline time |",
                  "|---|---:|---:|---:|---:|---:|"]
        for s in comp.summaries:
            rate = "" if s.throughput_per_s is None else f"{s.throughput_per_s:,.1f}"
            lines.append(f"| {s.name} | {_seconds(s.wall_median_s)} | {_seconds(s.wall_min_s)}–{_seconds(s.wall_max_s)} "
                         f"| {_seconds(s.cpu_median_s)} | {rate} | {s.relative_to_baseline:.2f} |")
        lines += [""] + [f"- {note}" for note in comp.notes] + ([""] if comp.notes else [])
    return "\n".join(lines).rstrip() + "\n"


def write_results(name: str, comparisons: Sequence[Comparison], *, folder: Path = RESULTS,
                  extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """``folder/<name>.json`` (every sample) and ``folder/<name>.md`` (the table the docs quote)."""
    host = machine()
    doc = {"benchmark": name, "machine": host, "comparisons": [asdict(c) for c in comparisons], **(extra or {})}
    json_path, md_path = folder / f"{name}.json", folder / f"{name}.md"
    _atomic_write(json_path, json.dumps(doc, indent=2) + "\n")
    _atomic_write(md_path, markdown(name, comparisons, host))
    return json_path, md_path
