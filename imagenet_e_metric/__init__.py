"""ImageNet-E metric: per-attribute accuracy drop with paired statistics.

The numpy core (:func:`compute_imagenet_e`) needs neither ``evaluate`` nor ``datasets``; the
``evaluate`` module lives in ``imagenet_e_metric/imagenet_e_metric.py`` and is loaded with
``evaluate.load(imagenet_e_metric.path())`` from anywhere. Imports only numpy and the standard
library (the module file adds ``evaluate``/``datasets``).
"""

from pathlib import Path

from .core import CONTROL_SUBSET, BootstrapSettings, compute_imagenet_e, mcnemar_exact_p
from .subsets import SubsetInfo, benchmark_table

__all__ = ["BootstrapSettings", "CONTROL_SUBSET", "SubsetInfo", "benchmark_table", "compute_imagenet_e",
           "mcnemar_exact_p", "path"]


def path() -> str:
    """The folder of the ``evaluate`` module: ``evaluate.load(imagenet_e_metric.path())`` works from any
    working directory (a bare ``evaluate.load("imagenet_e_metric")`` looks for a local folder or a Hub
    Space of that name instead)."""
    return str(Path(__file__).resolve().parent)
