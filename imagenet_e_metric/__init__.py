"""ImageNet-E metric: per-attribute accuracy drop with paired statistics.

The numpy core (:func:`compute_imagenet_e`) needs neither ``evaluate`` nor ``datasets``; the
``evaluate`` module lives in ``imagenet_e_metric/imagenet_e_metric.py`` and is loaded with
``evaluate.load("path/to/imagenet_e_metric")``.
"""

from .core import CONTROL_SUBSET, BootstrapSettings, compute_imagenet_e, mcnemar_exact_p

__all__ = ["BootstrapSettings", "CONTROL_SUBSET", "compute_imagenet_e", "mcnemar_exact_p"]
