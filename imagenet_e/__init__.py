"""imagenet-e: the ImageNet-E benchmark as a tool (editing, dataset, metric, evaluation, leaderboard).

``from imagenet_e import evaluate_model`` is the three-line API; it is imported on first use, so
``import imagenet_e`` (and the ``imagenet-e`` command line) stays free of torch.
"""

from __future__ import annotations

from typing import Any

from imagenet_e_dataset.version import __version__
__all__ = ["evaluate_model", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "evaluate_model":
        from imagenet_e.eval.runner import evaluate_model

        return evaluate_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
