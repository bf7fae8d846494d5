"""``python -m benchmarks render-docs [--check]``: the docs quote the committed measurements, never a hand-typed figure.

README.md and docs/*.md hold marked blocks ``<!-- bench:NAME -->…<!-- /bench:NAME -->``; this
rewrites each block's inside from ``benchmarks/results/commands.json`` (written by
``benchmarks/bench_commands.py``: the commands' timings and what the timed demo printed), always with
the date, machine, load average and exact command beside the numbers. ``--check`` writes nothing and exits 1 naming every block that differs.
``TIMING_SECTIONS`` names the sections that give timings: there, a duration (``N s``, ``N min``)
belongs inside a marked block (``tests/test_bench_docs.py`` enforces both rules).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

from .demo_output import render_drops, render_results
from .harness import RESULTS, _atomic_write

ROOT = Path(__file__).resolve().parents[1]
COMMANDS_JSON = RESULTS / "commands.json"
BLOCK = re.compile(r"<!-- bench:(?P<name>[a-z0-9-]+) -->(?P<body>.*?)<!-- /bench:(?P=name) -->", re.S)
_OPEN = re.compile(r"<!-- (/?)bench:([a-z0-9-]+) -->")  # lower case: "bench:NAME" in prose is an example

TIMING_SECTIONS: dict[str, tuple[str, ...]] = {
    "README.md": ("", "## Your own dataset"),  # "": the introduction, before the first "## " heading
    "docs/demo.md": ("## How long it takes",),
}
"""file (relative to the repository root) -> headings of the sections that state timings."""

DURATION = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?½?\s?(?:ms|s|sec|seconds?|min|minutes?|h|hours?)(?![\w])")
"""A stated duration: a number directly followed by a time unit ("5.3 s", "3 min", "3½ min");
"10 steps" or "3 photos" are not."""


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def _span(low: float, high: float, fmt: Callable[[float], str]) -> str:
    return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}–{fmt(high)}"


def _where(doc: dict[str, Any], group: str) -> str:
    host = doc["machine"]
    loads = [r["load_1m_before"] for s in doc["steps"] if s["group"] == group for r in s["runs"]]
    return (f"{host['date_utc'][:10]}, {host.get('cpu_model', '?')}, {host['cores_usable']} cores, "
            f"{host.get('memory_gb', '?')} GB, CPU only; load average (1 min) "
            f"{_span(min(loads), max(loads), lambda x: f'{x:.1f}')} before the runs; measured by `{host['command']}`")


def _runs(step: dict[str, Any]) -> str:
    count = len(step["runs"])
    if count == 1:
        return "1 run"
    return f"median of {count} runs, {_span(step['wall_min_s'], step['wall_max_s'], _seconds)}"


def _steps(doc: dict[str, Any], group: str) -> list[dict[str, Any]]:
    found = [s for s in doc["steps"] if s["group"] == group]
    if not found:
        raise KeyError(group)
    return found


def _cost(step: dict[str, Any]) -> str:
    return (f"{_seconds(step['wall_median_s'])} wall ({_runs(step)}), {_seconds(step['cpu_median_s'])} CPU "
            f"(user + sys, all its processes), peak RSS {step['max_rss_mb']:.0f} MB")


def render_demo(doc: dict[str, Any]) -> str:
    (step,) = _steps(doc, "demo")
    return f"`{step['command']}` took {_cost(step)} ({_where(doc, 'demo')})."


def render_own_dataset(doc: dict[str, Any]) -> str:
    found = _steps(doc, "own-dataset")
    times = "once" if doc["repeats"] == 1 else f"{doc['repeats']} times"
    lines = [f"Measured {_where(doc, 'own-dataset')}; the commands above in a fresh folder, in order, "
             f"{times} (CPU: user + sys of all its processes):", "",
             "| command | wall median | min–max | CPU median | peak RSS |", "|---|---:|---:|---:|---:|"]
    lines += [f"| `imagenet-e {s['label']}` | {_seconds(s['wall_median_s'])} | "
              f"{_span(s['wall_min_s'], s['wall_max_s'], _seconds)} | {_seconds(s['cpu_median_s'])} | "
              f"{s['max_rss_mb']:.0f} MB |"
              for s in found]
    return "\n".join(lines) + "\n"  # a blank line ends the table before the closing marker


def render_suite(doc: dict[str, Any]) -> str:
    try:
        (step,) = _steps(doc, "suite")
    except KeyError:
        return (f"The test suite's duration is not in the committed measurements (`{doc['machine']['command']}`, "
                f"{doc['machine']['date_utc'][:10]}, ran without `--suite`): "
                f"`python benchmarks/bench_commands.py --suite` measures it.")
    return f"The test suite, `{step['command']}`, took {_cost(step)} ({_where(doc, 'suite')})."


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "demo": render_demo,
    "own-dataset": render_own_dataset,
    "suite": render_suite,
    "demo-results": render_results,
    "demo-drops": render_drops,
}
"""block name -> what the block says, from the results JSON."""


def render_text(text: str, doc: dict[str, Any], where: str = "<text>") -> str:
    """``text`` with every marked block rewritten; a clear error for unknown or unclosed blocks."""
    spans = {m.span() for m in BLOCK.finditer(text)}
    for marker in _OPEN.finditer(text):
        if not any(a <= marker.start() < b for a, b in spans):
            raise ValueError(f"{where}: unmatched marker {marker.group(0)!r} (blocks are "
                             f"'<!-- bench:NAME -->' … '<!-- /bench:NAME -->')")

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in RENDERERS:
            raise ValueError(f"{where}: unknown block 'bench:{name}'; known: {', '.join(RENDERERS)}")
        try:
            body = RENDERERS[name](doc)
        except KeyError as missing:
            raise ValueError(f"{where}: block 'bench:{name}' needs measurements of {missing} that the results "
                             f"JSON does not hold; rerun benchmarks/bench_commands.py") from None
        return f"<!-- bench:{name} -->\n{body}\n<!-- /bench:{name} -->"

    return BLOCK.sub(replace, text)


def load_results(path: Path = COMMANDS_JSON) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python benchmarks/bench_commands.py` first")
    return json.loads(path.read_text(encoding="utf-8"))


def sections(text: str, headings: tuple[str, ...]) -> list[tuple[str, str]]:
    """(heading, body) of each named ``## `` section of ``text``; "" is the part before the first one."""
    parts = re.split(r"^(## .*)$", text, flags=re.M)
    named = {"": parts[0], **{parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}}
    missing = [h for h in headings if h not in named]
    if missing:
        raise ValueError(f"sections {missing} not found")
    return [(h, named[h]) for h in headings]


def stray_durations(text: str, headings: tuple[str, ...]) -> list[tuple[str, str]]:
    """(heading, the phrase) for each duration in the named sections outside a marked block."""
    found = []
    for heading, body in sections(text, headings):
        for match in DURATION.finditer(BLOCK.sub("", body)):
            found.append((heading or "(introduction)", match.group(0)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks render-docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block differs")
    parser.add_argument("--results", type=Path, default=COMMANDS_JSON, help="the results JSON to quote")
    args = parser.parse_args(argv)
    doc = load_results(args.results)
    # Render every file before writing any, so that a bad block leaves all of them as they were.
    rendered = {path: render_text(path.read_text(encoding="utf-8"), doc, str(path.relative_to(ROOT)))
                for path in doc_files()}
    stale = [path for path, new in rendered.items() if new != path.read_text(encoding="utf-8")]
    if not args.check:
        for path in stale:
            _atomic_write(path, rendered[path])
    names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
    verb = "differ from the results" if args.check else "rewritten"
    print(f"{verb}: {names}" if stale else "every marked block matches the results")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
