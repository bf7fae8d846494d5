"""Time the README's documented commands end to end, as a user runs them (issue 24 item 9, issue 26).

Each command runs as a subprocess, exactly as documented, in a fresh scratch folder: the demo
(``imagenet-e demo --out DIR``) and the own-dataset steps, read from the first ``bash`` block of
README.md's "Your own dataset" section (so the timed commands are the documented ones, whatever the
README says today). Per command and run it records wall seconds, the CPU seconds of the command's
process tree (user + sys, from ``os.wait4``), the peak RSS of the largest process in that tree and
the 1-minute load average before it started. The rounds go through ``benchmarks.harness.compare``
(interleaved, rotated; no warm-up: a user's first run is cold too, and shows in the max). The
install is not timed.

    python benchmarks/bench_commands.py [--quick] [--suite]

``--quick``: one run of each; default: 3. ``--suite`` adds ``python -m pytest -q`` (minutes).
Writes ``benchmarks/results/commands.json`` and ``.md``; ``python -m benchmarks render-docs`` copies
the numbers into the marked blocks of README.md and docs/*.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.demo_output import summarise  # noqa: E402
from benchmarks.harness import RESULTS, Case, Comparison, _atomic_write, compare, machine, scratch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OWN_DATASET_HEADING = "## Your own dataset"
DEMO_OUT = "demo-out"
DEMO_COMMAND = f"imagenet-e demo --out {DEMO_OUT}"
SUITE_COMMAND = "python -m pytest -q"
NAME = "commands"


@dataclass(frozen=True)
class Step:
    """One documented command: ``group`` is the marked doc block that quotes it."""

    group: str
    label: str
    command: str


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    load_1m_before: float


@dataclass
class StepResult:
    step: Step
    runs: list[Run] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        walls = [r.wall_s for r in self.runs]
        return {**asdict(self.step), "runs": [asdict(r) for r in self.runs],
                "wall_median_s": statistics.median(walls), "wall_min_s": min(walls), "wall_max_s": max(walls),
                "cpu_median_s": statistics.median(r.cpu_s for r in self.runs),
                "max_rss_mb": max(r.max_rss_mb for r in self.runs),
                "load_1m_min": min(r.load_1m_before for r in self.runs),
                "load_1m_max": max(r.load_1m_before for r in self.runs)}


class CommandFailed(RuntimeError):
    pass


def _fenced_blocks(text: str) -> list[tuple[str, list[str]]]:
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if current is None:
                current, info = [], line.strip()[3:].strip()
            else:
                blocks.append((info, current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def own_dataset_commands(readme: Path = README) -> list[str]:
    """The ``imagenet-e`` commands of the first ``bash`` block under the own-dataset heading,
    continuations joined, comments dropped; a clear error when the section or block is gone."""
    text = readme.read_text(encoding="utf-8")
    start = text.find(OWN_DATASET_HEADING + "\n")
    if start < 0:
        raise ValueError(f"{readme}: no '{OWN_DATASET_HEADING}' section: cannot find the commands to time")
    section = re.split(r"\n## ", text[start + len(OWN_DATASET_HEADING):], maxsplit=1)[0]
    blocks = [lines for info, lines in _fenced_blocks(section) if info == "bash"]
    if not blocks:
        raise ValueError(f"{readme}: the '{OWN_DATASET_HEADING}' section has no ```bash block")
    commands, pending = [], ""
    for line in blocks[0]:
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        words = shlex.split(pending, comments=True)
        if words[:1] == ["imagenet-e"]:  # an install line (pip ...) there is not timed
            commands.append(shlex.join(words))
        pending = ""
    return commands


def _label(command: str) -> str:
    argv = shlex.split(command)
    return argv[1] if argv[:1] == ["imagenet-e"] and len(argv) > 1 else argv[0]


def steps(suite: bool = False, readme: Path = README) -> list[Step]:
    found = [Step("demo", "demo", DEMO_COMMAND)]
    for command in own_dataset_commands(readme):
        label = _label(command)
        if any(s.label == label for s in found):  # `demo --export-photos`: name it by its option
            label = f"{label} {shlex.split(command)[2]}"
        found.append(Step("own-dataset", label, command))
    if suite:
        found.append(Step("suite", "test suite", SUITE_COMMAND))
    return found


def run_command(command: str, cwd: Path, log: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``command`` (shell words, no shell) in ``cwd``; its output goes to ``log``. ``os.wait4``
    gives this child's own resource use (its tree's CPU, the largest process's peak RSS), which
    ``getrusage(RUSAGE_CHILDREN)`` only gives summed over every child so far. Linux counts the memory
    the child shares with this process before ``exec`` in its peak RSS, so this process stays lean
    while measuring (its own peak goes in the JSON as ``launcher_rss_mb``, the floor of every figure)."""
    argv = shlex.split(command)
    executable = shutil.which(argv[0])
    if executable is None:
        raise CommandFailed(f"{argv[0]!r} is not on PATH: install the project (pip install -e '.[demo]') first")
    load = os.getloadavg()[0]
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([executable, *argv[1:]], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                env=None if env is None else {**os.environ, **env})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise CommandFailed(f"`{command}` (in {cwd}) exited with {proc.returncode}; last output:\n{tail}")
    # ru_maxrss is in KiB on Linux.
    return Run(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, max_rss_mb=usage.ru_maxrss / 1024,
               load_1m_before=load)


def _group_case(group: str, members: list[StepResult], work: Path, demo_outputs: list[Path]) -> Case:
    counter = itertools.count()

    def fn() -> None:
        folder = work / f"{group}-{next(counter)}"
        folder.mkdir()
        cwd = ROOT if group == "suite" else folder  # the suite runs from the repository root
        # A user's first run starts with an empty Hugging Face cache (datasets' Arrow cache, evaluate's
        # modules): an earlier run of the same deterministic command would otherwise leave them warm.
        env = None if group == "suite" else {"HF_HOME": str(folder / "hf-home")}
        for result in members:
            result.runs.append(run_command(result.step.command, cwd, folder / f"{result.step.label}.log", env))
        if group == "demo":  # keep what it wrote (small files) for the docs that quote the demo's results
            keep = work / "demo-outputs" / folder.name
            keep.mkdir(parents=True)
            for name in ("results.json", "predictions.parquet"):
                shutil.copy2(folder / DEMO_OUT / name, keep / name)
            demo_outputs.append(keep)
        if group != "suite":
            shutil.rmtree(folder, ignore_errors=True)  # keep the disk free between rounds
    return Case(name=group, fn=fn)


@dataclass
class Measured:
    steps: list[StepResult]
    comparison: Comparison
    demo_outputs: list[dict[str, Any]]
    """``demo_output.summarise`` of each demo run, in run order."""
    launcher_rss_mb: float
    """This process's peak RSS while the commands ran: the floor of their peak RSS figures."""


def measure(all_steps: Sequence[Step], repeats: int, work: Path) -> Measured:
    """Every group's commands in order, ``repeats`` interleaved rounds of the groups."""
    results = [StepResult(s) for s in all_steps]
    demo_outputs: list[Path] = []
    groups = list(dict.fromkeys(s.group for s in all_steps))
    cases = [_group_case(g, [r for r in results if r.step.group == g], work, demo_outputs) for g in groups]
    comparison = compare("documented commands, end to end", cases, repeats=repeats, warmup=0, unit="runs",
                         notes=["each case runs its commands in order in a fresh folder; no warm-up"])
    launcher = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Read only now: pandas loaded in this process would raise every later child's peak RSS (see run_command).
    return Measured(results, comparison, [summarise(folder) for folder in demo_outputs], launcher)


def demo_fields(outputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The last demo run's output, and whether every run printed the same numbers and changed photos."""
    if not outputs:
        return {}
    numbers = [{k: v for k, v in o.items() if k != "created_at"} for o in outputs]
    return {"demo_output": outputs[-1], "demo_output_identical": all(n == numbers[0] for n in numbers)}


def describe_machine() -> dict[str, Any]:
    """The harness's machine record plus the CPU model and memory, which a reader needs to compare."""
    info = machine()
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        info["cpu_model"] = model.group(1).strip() if model else "?"
    if meminfo.exists():
        total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.M)
        info["memory_gb"] = round(int(total.group(1)) / 1024**2, 1) if total else None
    info["gpu"] = "none used (CPU only)"
    return info


def _markdown(doc: dict[str, Any]) -> str:
    host = doc["machine"]
    load = ", ".join(f"{x:.2f}" for x in host["load_average"])
    lines = [f"## {NAME}", "",
             f"{host['date_utc']} · `{host['command']}` · {host.get('cpu_model', '?')}, "
             f"{host['cores_usable']} usable cores, {host.get('memory_gb', '?')} GB · load average {load} · "
             f"{doc['repeats']} run(s) each", "",
             "| command | wall median | min–max | CPU median | peak RSS | load (1 min) before |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in doc["steps"]:
        lines.append(f"| `{s['command']}` | {s['wall_median_s']:.1f} s "
                     f"| {s['wall_min_s']:.1f}–{s['wall_max_s']:.1f} s | {s['cpu_median_s']:.1f} s "
                     f"| {s['max_rss_mb']:.0f} MB "
                     f"| {s['load_1m_min']:.1f}–{s['load_1m_max']:.1f} |")
    return "\n".join(lines) + "\n"


def write(measured: Measured, repeats: int, folder: Path = RESULTS) -> tuple[Path, Path]:
    doc = {"benchmark": NAME, "machine": describe_machine(), "repeats": repeats,
           "launcher_rss_mb": measured.launcher_rss_mb,
           "steps": [r.summary() for r in measured.steps], "comparison": asdict(measured.comparison),
           **demo_fields(measured.demo_outputs)}
    json_path, md_path = folder / f"{NAME}.json", folder / f"{NAME}.md"
    _atomic_write(json_path, json.dumps(doc, indent=2) + "\n")
    _atomic_write(md_path, _markdown(doc))
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each command (default: 3)")
    parser.add_argument("--suite", action="store_true", help=f"also time `{SUITE_COMMAND}` (minutes)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    with scratch("bench_commands_") as work:
        try:
            measured = measure(steps(args.suite), repeats, work)
        except CommandFailed as error:
            print(f"bench_commands: {error}", file=sys.stderr)
            return 1
    _, md_path = write(measured, repeats, args.out)
    print(md_path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
