"""The leaderboard's About tab: what is measured, and what the pinned benchmark holds.

The benchmark part is read from the pinned dataset's own description (``imagenet_e.json``,
:attr:`~.board.Board.pinned_description`), never from the installed registry: a board pinned to a
size sweep or a plug-in dataset lists that dataset's configs, in its order, with its label space.
With nothing pinned it says so and lists nothing. Everything a dataset carries (config names,
descriptions, class-space names) is escaped before it reaches the Markdown.
"""

from __future__ import annotations

import html

from imagenet_e_dataset.description import DatasetDescription
from imagenet_e_metric.core import CONTROL_SUBSET

from .benchmark import BenchmarkPin
from .board import Board


def _text(value: object) -> str:
    """A value as Markdown text: HTML escaped; pipes, backticks, asterisks and line breaks unable to
    break a table row or start markup."""
    escaped = html.escape(" ".join(str(value).split()), quote=True)
    return escaped.translate({ord("|"): "&#124;", ord("`"): "&#96;", ord("*"): "&#42;", ord("_"): "&#95;",
                              ord("["): "&#91;", ord("\\"): "&#92;"})


def _code(value: object) -> str:
    """A value shown as code (inline HTML, so the escapes are decoded as in any other text)."""
    return f"<code>{_text(value)}</code>"


def about_markdown(board: Board) -> str:
    """The About tab of ``board``: metric definitions, how numbers are verified, the pinned benchmark's
    configs and label space (from its description), how to submit."""
    return _MEASURED.format(control=CONTROL_SUBSET.name if CONTROL_SUBSET else "control") \
        + benchmark_markdown(board) + _SUBMIT


def benchmark_markdown(board: Board) -> str:
    """The "Benchmark" section: the pinned dataset's configs and label space, or why there are none."""
    pin = board.pin
    if pin is None:
        return ("## Benchmark\n\nNo benchmark is pinned: this board's owner has not named the dataset it ranks "
                "(`board.yaml` in the results repo, `--benchmark`, or a single `--dataset`), so no subsets are "
                "listed here.\n")
    head = f"## Benchmark\n\nPinned by the board's owner: {_code(pin.describe())}.\n\n"
    description = board.pinned_description
    if description is None:
        return head + f"Its description could not be read, so its subsets are not listed here: " \
                      f"{_text(board.pinned_description_error or 'unknown reason')}.\n"
    return head + _described(description, pin)


def ranked_configs(description: DatasetDescription, pin: BenchmarkPin) -> list:
    """The pinned dataset's configs the board ranks (the pin's config set, if it names one), in its order."""
    return [c for c in description.configs if pin.configs is None or c.name in pin.configs]


def ranked_attributes(board: Board) -> list[str]:
    """The attributes the pinned dataset edits among the ranked configs; none when nothing is pinned or described."""
    if board.pin is None or board.pinned_description is None:
        return []
    return _edited(board.pinned_description, ranked_configs(board.pinned_description, board.pin))


def _edited(description: DatasetDescription, configs: list) -> list[str]:
    return [a.name for a in description.edited_attributes if any(c.attribute == a.name for c in configs)]


def _described(description: DatasetDescription, pin: BenchmarkPin) -> str:
    configs = ranked_configs(description, pin)
    missing = sorted(set(pin.configs or ()) - {c.name for c in configs})
    edited = _edited(description, configs)
    space = description.label_space
    classes = "the 1000 ImageNet-1k classes" if space.is_imagenet_1k else \
        f"its own {space.num_classes} classes (label space {_code(space.name)}, sha256 `{space.sha256[:16]}`)"
    lines = [f"Its labels are {classes}. Ranked results are scored "
             + (f"under the {_code(pin.protocol)} protocol only." if pin.protocol else
                "under one protocol each (argmax over all of a model's classes, or over the dataset's classes); "
                "results under different protocols are never ranked together.")]
    if description.protocol or description.backend:
        made = " and ".join(f"{what} {_code(value)}" for what, value in
                            (("the generation protocol", description.protocol),
                             ("the editing backend", description.backend)) if value)
        lines.append(f"Its images were made with {made}.")
    if description.origin == "derived":
        lines.append("The dataset predates recorded descriptions: its subsets below were read from its card and "
                     "data, so edit severities are unknown.")
    lines.append(f"It edits {', '.join(f'**{_text(a)}**' for a in edited) or 'no attribute'}. "
                 + ("The board ranks results on exactly these of its subsets" if pin.configs else "Its subsets")
                 + ", in the dataset's order:")
    rows = "\n".join(
        f"| {_code(c.name)} | {_code(c.alias or '-')} | {_text(c.attribute)} | {_text(c.level)} | "
        f"{c.num_examples} | {_text(c.description or '-')} |" for c in configs)
    table = f"| config | official folder | attribute | level | images | edit |\n|---|---|---|---|---|---|\n{rows}\n"
    note = (f"\nPinned subsets the dataset does not hold: {', '.join(f'{_code(m)}' for m in missing)}.\n"
            if missing else "")
    return "\n\n".join(lines) + "\n\n" + table + note


_MEASURED = """
## What is measured

ImageNet-E (Li et al., *ImageNet-E: Benchmarking Neural Network Robustness via Attribute Editing*,
CVPR 2023) edits one object attribute of ImageNet validation images while the rest of the image stays
in distribution. Every subset holds the **same source images**, so each edited prediction is paired
with the prediction on the original image. The subsets of the benchmark this board ranks are listed
under *Benchmark* below.

| metric | definition |
|---|---|
| **Accuracy** | top-1 accuracy on a subset (shown in %). |
| **Drop** | accuracy(`original`) − accuracy(subset), on the source images both share (percentage points, pp). Positive = the edit hurts. The paper's definition: it answers "how much accuracy does the benchmark's edited image cost?" |
| **Drop vs `{control}`** | accuracy(`{control}`) − accuracy(subset): `{control}` is regenerated with no edit but went through the same resizing to 256×256 and diffusion as every edited subset, so this answers "how much does the attribute edit itself cost?" (toggle *Drops against*). |
| **Attribute drop** | mean drop over that attribute's subsets present in the results file. |
| **Mean drop** | mean drop over every edited subset present — the default ranking key, **lower is more robust**. |
| **Flip rate** | share of paired images whose prediction on the edited image differs from the prediction on the original. |
| **CI (95 %)** | bootstrap interval of a subset's drop, resampling source images; stored in every results file with an exact McNemar p-value of the paired change. |

Ranks use competition ranking (tied models share a rank). Results are only ranked against results
on the same benchmark: the same dataset and revision, the same protocol (argmax over all classes,
or over the dataset's classes) and the same subsets. The selector above the table chooses the
benchmark and shows its n (images per subset).

## How a number gets here

A submission is a results file plus its `predictions.parquet` (one row per subset and source
image: the model's top-1 and top-5 and the dataset label). The board recomputes every number from
the predictions against the labels of the dataset revision the file names, read from the dataset
itself, never from the submission. A submission is not ranked, and is listed with the reason,
when its predictions are missing, do not match the sha256 the results record, leave out or repeat
an image, carry labels that differ from the dataset's, skipped images, or give numbers that differ
from its results file.

"""

_SUBMIT = """
## How to submit

1. **A model (verified):** `imagenet-e submit --model NS/MODEL --requests NS/REQUESTS` queues it; the
   board's worker evaluates it at the pinned commit on this benchmark and publishes the row marked
   *verified*. The queue (pending, running, failed with reasons) is shown under the table.
2. **A results file (self-reported):** `imagenet-e evaluate ...` writes one results file per (model,
   dataset revision); `imagenet-e submit results.json --repo-id NS/RESULTS --pr` runs the board's own
   checks and opens a pull request with it and its predictions. Once merged it appears after
   **Refresh**, in the *self-reported* rows (never interleaved with verified ones).
3. Optionally add `--model-repo NS/MODEL` to also write the Hub-native `.eval_results/imagenet-e.yaml`
   entry (per-subset accuracy) to the model repo, which feeds the Hub's own benchmark leaderboard.

The benchmark ranked is the one the board's owner pinned (`board.yaml`); a row's submitter and date
come from the commit that added it; look-alike model names are flagged (⚠).
Every number on this page is recomputed from per-image predictions.
"""
