"""The project's benchmarks: ``python -m benchmarks all --quick`` runs each through :mod:`benchmarks.harness`."""
