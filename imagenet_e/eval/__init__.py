"""Evaluation runner: score any classifier on ImageNet-E and write a results file.

``evaluate_model`` and ``load_model`` are imported lazily, so reading results files
(``imagenet_e.eval.results_schema``, used by the leaderboard) never pulls in torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate_model", "load_model", "wrap_model", "LoadedModel", "register_loader", "read_predictions",
           "score_predictions"]

_LAZY = {
    "evaluate_model": "runner",
    "read_predictions": "predictions",
    "score_predictions": "score",
    "load_model": "models",
    "wrap_model": "models",
    "LoadedModel": "models",
    "register_loader": "models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
