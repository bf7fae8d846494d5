"""How long `evaluate.load` takes for the published metric Space, cold and warm, from a folder and from
a Hub id (a local Hub-compatible server on 127.0.0.1), in a Python that cannot import this project.

Baseline, measured in the same process: `evaluate.load` of a one-file metric folder that carries no
modules (evaluate's own fixed cost). Cold = first load in a fresh process with an empty module
cache (downloads and copies files); warm = the next load in the same process.

    python -m benchmarks metric_space [--quick]

Every case is a fresh ``python -I`` process (through :mod:`benchmarks.harness`: interleaved rounds,
medians); the process's own timings of the cold load and a second, warm load go in the notes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.ports import free_port  # noqa: E402

TRIVIAL = textwrap.dedent('''
    import datasets
    import evaluate

    class Trivial(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(description="", citation="", inputs_description="",
                                       features=datasets.Features({"predictions": datasets.Value("int64"),
                                                                   "references": datasets.Value("int64")}))

        def _compute(self, predictions, references):
            return {"n": len(predictions)}
''')

RUNNER = textwrap.dedent('''
    import json, sys, time
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.path[:] = [p for p in sys.path if "__editable__" not in p]
    import importlib.util
    assert importlib.util.find_spec("imagenet_e_metric") is None
    timings = {}
    t = time.perf_counter(); import evaluate; timings["import evaluate"] = time.perf_counter() - t
    for label, path in json.loads(sys.argv[1]):
        t = time.perf_counter(); evaluate.load(path); timings[label] = time.perf_counter() - t
    print(json.dumps(timings))
''')

PUBLISH = textwrap.dedent('''
    import sys
    from pathlib import Path
    from imagenet_e.publish.metric_space import build_metric_space, publish_metric
    build_metric_space(Path(sys.argv[1]))
    publish_metric("bench/imagenet_e_metric")
''')


def run(quick: bool = False) -> list:
    """``python -m benchmarks metric_space``: every case a fresh process with an empty module cache."""
    import statistics

    from .harness import Case, compare, rounds, scratch

    port = free_port()
    with scratch("bench-metric-space-") as tmp:
        # The Hub endpoint is read when huggingface_hub is imported, and other benchmarks of the same
        # `python -m benchmarks` run imported it already: everything that talks to the local server runs
        # in processes started with this environment, never in this one.
        hub_env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp / "hf"),
                       HF_HUB_DISABLE_XET="1", HF_UPDATE_DOWNLOAD_COUNTS="0", HF_TOKEN="hf_local_bench",
                       HF_HUB_DISABLE_PROGRESS_BARS="1")
        from hub_server import start_hub_server

        server = start_hub_server(port, tmp / "hub")
        try:
            folder = tmp / "imagenet_e_metric"
            subprocess.run([sys.executable, "-c", PUBLISH, str(folder)], env=hub_env, cwd=REPO, check=True,
                           capture_output=True, text=True)
            (tmp / "trivial").mkdir()
            (tmp / "trivial" / "trivial.py").write_text(TRIVIAL)
            env = {k: v for k, v in hub_env.items() if k != "PYTHONPATH"}
            runs = iter(range(10_000))
            inner: dict[str, list[dict[str, float]]] = {}

            def process(label: str, target: str | None):
                def go() -> None:
                    env["HF_MODULES_CACHE"] = str(tmp / f"modules-{next(runs)}")  # cold: nothing cached
                    loads = [] if target is None else [("cold", target), ("warm", target)]
                    result = subprocess.run([sys.executable, "-I", "-c", RUNNER, json.dumps(loads)], env=env, cwd=tmp,
                                            capture_output=True, text=True, check=True)
                    inner.setdefault(label, []).append(json.loads(result.stdout.strip().splitlines()[-1]))
                return go

            cases = [("start-up only (python -I + import evaluate)", None),
                     ("trivial metric folder (evaluate's own cost)", str(tmp / "trivial")),
                     ("published Space folder", str(folder)), ("Hub id via the local Hub server", "bench/imagenet_e_metric")]
            comp = compare("evaluate.load of the published metric, each in a fresh process that cannot import this project",
                           [Case(label, process(label, target), 1) for label, target in cases],
                           # Each process costs seconds of imports on 2 cores: --quick takes one round (no
                           # warm-up needed: every run is cold by design).
                           repeats=1 if quick else rounds(quick), warmup=0 if quick else 1, unit="loads",
                           notes=["wall and CPU are whole processes (start-up included); inside them, medians:"])
            for label, target in cases[1:]:
                cold = statistics.median(r["cold"] for r in inner[label])
                warm = statistics.median(r["warm"] for r in inner[label])
                comp.notes.append(f"{label}: evaluate.load cold {cold * 1000:.0f} ms, then warm in the same process "
                                  f"{warm * 1000:.0f} ms")
        finally:
            server.stop()
    return [comp]


if __name__ == "__main__":
    from .harness import write_results

    print(write_results("metric_space", run())[1].read_text(encoding="utf-8"))
