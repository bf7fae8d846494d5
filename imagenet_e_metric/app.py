"""Gradio Space for the ImageNet-E metric: paste rows, get the scores.

Import-safe: nothing is loaded or launched until :func:`build_demo` / ``python app.py``.
``evaluate.utils.launch_gradio_widget`` uses ``gr.inputs``, which gradio 4+ removed, so the
widget is built here with the current components.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "imagenet_e_metric.py"
COLUMNS = ("predictions", "references", "subsets", "source_ids")


def _unshadow_package() -> None:
    # Run as a script (a Space, or `python imagenet_e_metric/app.py`), this folder is sys.path[0]
    # and its imagenet_e_metric.py would shadow the installed imagenet_e_metric package.
    sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
    shadow = sys.modules.get("imagenet_e_metric")
    if shadow is not None and not hasattr(shadow, "__path__"):
        del sys.modules["imagenet_e_metric"]


def _class_cell(value: Any, row: int, column: str) -> int:
    # Table cells arrive as numbers, text or None; int() would truncate 2.7 or raise a bare TypeError.
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise ValueError(f"row {row + 1}: {column} {value!r} is not a class index (an integer 0..999)")
    return int(number)


def score_rows(rows: list[list[Any]], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Score table rows ``[prediction, reference, subset, source_id]``; a blank source_id
    column (every row) selects unpaired statistics."""
    _unshadow_package()
    import evaluate

    rows = [r for r in rows if any(str(v).strip() for v in r)]
    if not rows:
        raise ValueError("the table is empty: add one row per image")
    if any(len(r) != len(COLUMNS) for r in rows):
        raise ValueError(f"every row needs {len(COLUMNS)} cells: {', '.join(COLUMNS)}")
    preds = [_class_cell(r[0], i, "prediction") for i, r in enumerate(rows)]
    refs = [_class_cell(r[1], i, "reference") for i, r in enumerate(rows)]
    subsets = [str(r[2]).strip() for r in rows]
    ids = [str(r[3]).strip() for r in rows]
    paired = any(ids)
    metric = evaluate.load(str(SCRIPT), None if paired else "unpaired")
    extra = {"source_ids": ids} if paired else {}
    return metric.compute(predictions=preds, references=refs, subsets=subsets, n_bootstrap=n_bootstrap,
                          seed=seed, **extra)


def build_demo():
    """The Space's gradio Blocks (not launched)."""
    import gradio as gr

    def on_submit(table, n_bootstrap, seed):
        rows = table.values.tolist() if hasattr(table, "values") else table
        try:
            return score_rows(rows, int(n_bootstrap), int(seed))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="ImageNet-E metric") as demo:
        gr.Markdown("# ImageNet-E metric\nOne row per image: predicted class, true class, subset "
                    "(config name or official alias), source image id (leave blank for unpaired).")
        table = gr.Dataframe(headers=list(COLUMNS), datatype=["number", "number", "str", "str"],
                             value=[[3, 3, "original", "a"], [2, 3, "background_20", "a"],
                                    [7, 7, "original", "b"], [7, 7, "background_20", "b"]],
                             column_count=len(COLUMNS))
        with gr.Row():
            n_bootstrap = gr.Number(value=1000, precision=0, label="bootstrap resamples")
            seed = gr.Number(value=0, precision=0, label="seed")
        output = gr.JSON(label="scores")
        gr.Button("Compute").click(on_submit, inputs=[table, n_bootstrap, seed], outputs=output)
    return demo


if __name__ == "__main__":
    _unshadow_package()
    build_demo().launch()
