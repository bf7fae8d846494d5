"""Every benchmark ``python -m benchmarks`` names exists and has the ``run(quick)`` it is called with."""

from __future__ import annotations

import importlib
import inspect

import pytest

from benchmarks.__main__ import BENCHMARKS, main


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_registered_benchmark_has_run_quick(name):
    module = importlib.import_module(BENCHMARKS[name])
    parameters = inspect.signature(module.run).parameters
    assert "quick" in parameters and parameters["quick"].default is False


def test_unknown_benchmark_is_refused_with_the_valid_names(capsys):
    with pytest.raises(SystemExit):
        main(["no-such-bench", "--quick"])
    err = capsys.readouterr().err
    assert "no-such-bench" in err and "leaderboard" in err and "diffusion" in err
