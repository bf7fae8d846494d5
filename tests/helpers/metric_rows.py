"""Metric input rows from per-config correctness marks over the same sources (shared by metric tests)."""

from __future__ import annotations


def rows_from_marks(correct: dict[str, list[int]], *, label: int = 7, wrong: int = 8
                    ) -> tuple[list[int], list[int], list[str], list[str]]:
    """(predictions, references, subsets, source_ids): mark k of a config is source ``src{k}``, right or wrong."""
    preds, refs, subsets, ids = [], [], [], []
    for name, marks in correct.items():
        for k, ok in enumerate(marks):
            preds.append(label if ok else wrong)
            refs.append(label)
            subsets.append(name)
            ids.append(f"src{k}")
    return preds, refs, subsets, ids
