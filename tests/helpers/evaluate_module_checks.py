"""evaluate's own checks of a module folder, as its test suite runs them on the modules it hosts.

Run as ``python evaluate_module_checks.py ROOT NAME`` in a Python that holds evaluate, datasets and
numpy and nothing of this project; ``ROOT/metrics/NAME/NAME.py`` is the module. The checks: the
module imports through evaluate's module factory; the metric class's ``_compute`` takes no
``**kwargs``; every doctest of the script passes with ``evaluate.load("NAME", ...)`` answered from
``ROOT/metrics/NAME`` (as evaluate's harness answers it for its own metrics), with "[...]" as the
ellipsis marker. Prints one JSON line with what it found; exits non-zero on the first failure.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import json
import os
import sys
from unittest import mock


def main(root: str, name: str) -> int:
    import evaluate

    os.chdir(root)
    folder = os.path.join("metrics", name)
    factory = evaluate.loading.evaluation_module_factory(folder, module_type="metric")
    module = importlib.import_module(factory.module_path)
    metric_class = evaluate.loading.import_main_class(module.__name__)
    parameters = inspect.signature(metric_class._compute).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        print(f"{name}: _compute takes **kwargs", file=sys.stderr)
        return 1
    load = evaluate.load

    def from_folder(module_name: str, *args, **kwargs):
        return load(os.path.join("metrics", module_name), *args, **kwargs)

    doctest.ELLIPSIS_MARKER = "[...]"
    with mock.patch("evaluate.load", side_effect=from_folder):
        try:
            results = doctest.testmod(module, raise_on_error=True)
        except doctest.UnexpectedException as exc:
            raise exc.exc_info[1]
    loaded = load(folder)
    project = sorted({m.split(".")[0] for m in sys.modules} & {"imagenet_e", "imagenet_e_dataset", "generation"}
                     | ({"imagenet_e_metric"} if "imagenet_e_metric" in sys.modules else set()))
    print(json.dumps({"attempted": results.attempted, "failed": results.failed, "module_name": loaded.info.module_name,
                      "name": loaded.name, "project_modules": project}))
    return 0 if results.failed == 0 and results.attempted > 1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
