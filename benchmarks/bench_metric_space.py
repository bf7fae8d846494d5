"""How long `evaluate.load` takes for the published metric Space, cold and warm, from a folder and from
a Hub id (a local Hub-compatible server on 127.0.0.1), in a Python that cannot import this project.

Baseline, measured in the same process: `evaluate.load` of a one-file metric folder that carries no
modules (evaluate's own fixed cost). Cold = first load in a fresh process with an empty module
cache (downloads and copies files); warm = the next load in the same process.

    python benchmarks/bench_metric_space.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

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


def main() -> None:
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-metric-space-"))
    os.environ.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp / "hf"), HF_HUB_DISABLE_XET="1",
                      HF_UPDATE_DOWNLOAD_COUNTS="0", HF_TOKEN="hf_local_bench", HF_HUB_DISABLE_PROGRESS_BARS="1")
    from hub_server import start_hub_server

    from imagenet_e.publish.metric_space import build_metric_space, publish_metric

    server = start_hub_server(port, tmp / "hub")
    try:
        folder = build_metric_space(tmp / "imagenet_e_metric")
        publish_metric("bench/imagenet_e_metric")
        (tmp / "trivial").mkdir()
        (tmp / "trivial" / "trivial.py").write_text(TRIVIAL)
        loads = [("trivial folder, cold (baseline)", str(tmp / "trivial")),
                 ("Space folder, cold", str(folder)), ("Space folder, warm", str(folder)),
                 ("Hub id, cold", "bench/imagenet_e_metric"), ("Hub id, warm", "bench/imagenet_e_metric")]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        runs = []
        for attempt in range(3):
            env["HF_MODULES_CACHE"] = str(tmp / f"modules-{attempt}")
            result = subprocess.run([sys.executable, "-I", "-c", RUNNER, json.dumps(loads)], env=env, cwd=tmp,
                                    capture_output=True, text=True, check=True)
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
        best = {label: min(run[label] for run in runs) for label in runs[0]}
        base = best["trivial folder, cold (baseline)"]
        for label, seconds in best.items():
            ratio = "" if label == "import evaluate" else f"   {seconds / base:5.2f}x baseline"
            print(f"{label:34s} {seconds:7.3f} s{ratio}")
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
