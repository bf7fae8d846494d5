"""ImageNet-E metric: per-attribute accuracy drop with paired statistics.

The numpy core (:func:`compute_imagenet_e`) needs neither ``evaluate`` nor ``datasets``; the
``evaluate`` module lives in ``imagenet_e_metric/imagenet_e_metric.py`` and is loaded with
``evaluate.load("path/to/imagenet_e_metric")``.
"""

from .core import BootstrapSettings, compute_imagenet_e

__all__ = ["BootstrapSettings", "compute_imagenet_e"]
