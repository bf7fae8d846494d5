"""The ImageNet-E leaderboard: a Gradio 6 app (Hugging Face Space or ``imagenet-e leaderboard``).

Results come from a Hub dataset repo (``RESULTS_REPO=ns/name``) or a local folder
(``RESULTS_DIR=path``), each results file with its per-image predictions; every number is
recomputed from the predictions against the labels of the dataset revision they name, and a
submission that fails is listed with the reason, never ranked, never fatal. One table per
benchmark (dataset + revision + protocol + subsets, chosen in a selector that shows n), drops
against ``original`` or the control (a toggle). All text a submission carries (model ids,
loaders, links, file names, refusal reasons) reaches the browser as text: table cells are ``str``
columns and everything rendered as HTML here goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import gradio as gr

from .about import about_markdown, ranked_attributes
from .benchmark import BenchmarkPin, board_yaml_snippet
from .requests import EvalRequest, RequestStatus, read_requests
from .table import (
    RowKind,
    default_row_kind,
    board_attributes,
    RANK_COLUMN,
    Board,
    BoardKey,
    DropReference,
    SortKey,
    SubsetMetric,
    build_table,
    default_datasets,
    default_source,
    load_board,
    parse_reference,
    rank_entries,
)

TITLE = "ImageNet-E robustness leaderboard"
DEFAULT_COMPARED = 3

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate")
CSS = """
.gradio-container { max-width: 1400px !important; margin: 0 auto; }
#ie-header h1 { margin: 0.2em 0 0.1em 0; font-size: 1.9em; }
#ie-header p { margin: 0.1em 0; color: var(--body-text-color-subdued); }
.ie-notice { border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.08); padding: 0.6em 0.9em;
             border-radius: 6px; font-size: 0.92em; }
.ie-notice ul { margin: 0.3em 0 0 1.2em; }
.ie-notice code { word-break: break-all; }
"""


# ------------------------------------------------------------------------------------------------
# HTML fragments (every piece of data is escaped here)

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def header_html(board: Board, key: BoardKey | None = None) -> str:
    n_files = len(board.entries)
    n_models = len({e.model_id for e in board.entries})
    keys = board.keys()
    shown = key if key in keys else (keys[0] if keys else None)
    benchmark = (f"<p>Benchmark shown: <code>{_e(board.key_label(shown))}</code>"
                 f"{f' (one of {len(keys)})' if len(keys) > 1 else ''}</p>") if shown else ""
    if board.pin is not None:
        benchmark += f"<p>Pinned by the board's owner: <code>{_e(board.pin.describe())}</code></p>"
    elif board.unpinned_keys():
        benchmark += unpinned_html(board)
    elif board.rank_unpinned:
        benchmark += "<p>No benchmark pinned (the owner sets one in board.yaml): benchmarks are listed by name.</p>"
    # The attributes are the pinned dataset's own (its description, as the About tab reads it), not the registry's.
    edited = ranked_attributes(board)
    attributes = f"({', '.join(edited)}) " if edited else ""
    return (
        f"<div id='ie-header'><h1>{_e(TITLE)}</h1>"
        "<p>How much top-1 accuracy do ImageNet classifiers lose when one object attribute "
        f"{_e(attributes)}of an image is edited? "
        "Lower drop = more robust. Every number is recomputed from the submitted per-image predictions.</p>"
        f"<p>{n_models} model(s) from {n_files} verified results file(s) · source: <code>{_e(board.source)}</code></p>"
        f"{benchmark}</div>"
    )


def unpinned_html(board: Board) -> str:
    """Each benchmark found on a board nobody pinned, as its own "unpinned" section with the
    ``board.yaml`` that would rank it: nothing is ranked until the owner chooses."""
    sections = []
    for key in board.unpinned_keys():
        n = len(board.entries_for(key))
        sections.append(
            f"<div class='ie-notice ie-unpinned'><strong>Unpinned benchmark (not ranked):</strong> "
            f"<code>{_e(key.label())}</code>, {n} results file(s). To rank it, the owner adds to the results repo:"
            f"<pre>{_e(board_yaml_snippet(key.dataset_id, key.dataset_revision))}</pre></div>")
    return ("<p><strong>No benchmark pinned:</strong> this board ranks nothing until its owner pins one "
            "(<code>board.yaml</code> in the results repo, or <code>--benchmark</code>).</p>" + "".join(sections))


def notice_html(board: Board, error: str | None = None) -> str:
    """The submissions not ranked, with the reason (and a load error, if any); empty when all is well."""
    items = []
    if error:
        items.append(f"<li>{_e(error)}</li>")
    items += [f"<li><code>{_e(s.source)}</code>: {_e(s.reason)}</li>" for s in board.skipped]
    if not items:
        return ""
    what = "Could not load the results source." if error else f"{len(board.skipped)} results file(s) not ranked:"
    return f"<div class='ie-notice'><strong>{_e(what)}</strong><ul>{''.join(items)}</ul></div>"


def queue_html(requests: list[EvalRequest], error: str | None = None) -> str:
    """The evaluation queue: pending, running and failed requests (with reasons), newest first."""
    if error:
        return f"<div class='ie-notice'><strong>Could not read the requests.</strong> {_e(error)}</div>"
    shown = [r for r in requests if r.status is not RequestStatus.FINISHED]
    if not shown:
        return "<p>No request waiting, running or failed.</p>"
    rows = "".join(
        f"<tr class='ie-{_e(r.status.value)}'><td>{_e(r.model)}</td><td><code>{_e(r.revision[:12])}</code></td>"
        f"<td>{_e(r.status.value)}</td><td>{_e(r.reason)}</td><td>{_e(r.updated_at)}</td></tr>"
        for r in sorted(shown, key=lambda r: r.updated_at, reverse=True))
    return ("<table id='ie-queue'><thead><tr><th>Model</th><th>Revision</th><th>Status</th><th>Reason</th>"
            f"<th>Updated</th></tr></thead><tbody>{rows}</tbody></table>")


def other_rows_html(board: Board, benchmark: str | None, rows: str | None) -> str:
    """The rows of the other kind on this benchmark, named with their badge (they are never interleaved)."""
    entries = board.entries_for(board.key_by_label(benchmark))
    kind = RowKind(rows) if rows else default_row_kind(entries)
    other = [e for e in entries if e.verified != (kind is RowKind.VERIFIED)]
    if not other:
        return ""
    badge = "verified" if kind is RowKind.SELF_REPORTED else "self-reported"
    names = ", ".join(f"<code>{_e(e.label)}</code> <span class='ie-badge'>{badge}</span>" for e in other)
    return f"<p>{len(other)} {badge} row(s) on this benchmark, shown with Rows = {badge}: {names}</p>"


# ------------------------------------------------------------------------------------------------
# The compare plot

def drops_figure(board: Board, labels: list[str], reference: DropReference | str = DropReference.ORIGINAL):
    """Grouped bars: attribute drop (pp) of each chosen model, against ``reference``."""
    reference = parse_reference(reference)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=100)
    attributes = board_attributes(board)
    known = [label for label in labels if any(e.label == label for e in board.entries)]
    if not known:
        ax.text(0.5, 0.5, "Choose models to compare", ha="center", va="center", fontsize=13, color="#64748b",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    width = 0.8 / len(known)
    x = np.arange(len(attributes))
    colors = plt.get_cmap("tab10").colors
    for i, label in enumerate(known):
        per_attribute = board.entry(label).drops(reference)[1]
        values = [100.0 * per_attribute[a] if a in per_attribute else np.nan for a in attributes]
        # Matplotlib reads text between two '$' as mathtext: a model id like "a$\frac{$" would make
        # the figure raise when drawn, taking the compare plot down for every visitor.
        bars = ax.bar(x - 0.4 + width * (i + 0.5), values, width * 0.92, label=label.replace("$", r"\$"),
                      color=colors[i % 10])
        ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    ax.axhline(0, color="#334155", linewidth=0.8)
    ax.set_xticks(x, attributes)
    ax.set_ylabel("accuracy drop (pp)")
    ax.set_title(f"Attribute drop per model vs {reference.label} (lower = more robust)", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# The app

class _BoardHolder:
    """The board shared by every browser session; Refresh replaces it for all of them."""

    def __init__(self, source: str | None, datasets: dict[str, str] | None = None, pin: BenchmarkPin | None = None,
                 requests_repo: str | None = None, own_dataset: str | None = None):
        self.source = source
        self.pin = pin
        self.own_dataset = own_dataset
        self.requests_repo = requests_repo
        self.requests: list[EvalRequest] = []
        self.requests_error: str | None = None
        self.datasets = dict(datasets) if datasets is not None else default_datasets()
        self._lock = threading.Lock()
        self.board, self.error = self._load()
        self.requests, self.requests_error = self._load_requests()

    def _load(self) -> tuple[Board, str | None]:
        if not self.source:
            return Board(source="(none)", entries=()), (
                "No results source configured: set RESULTS_REPO=ns/name (a Hub dataset repo) "
                "or RESULTS_DIR=folder, or pass --results to `imagenet-e leaderboard`.")
        try:
            return load_board(self.source, datasets=self.datasets, pin=self.pin, own_dataset=self.own_dataset), None
        except Exception as exc:  # a Space must come up even when the Hub or the folder is unreachable
            return Board(source=self.source, entries=()), f"{type(exc).__name__}: {exc}"

    def _load_requests(self) -> tuple[list[EvalRequest], str | None]:
        if not self.requests_repo:
            return [], None
        try:
            return read_requests(self.requests_repo), None
        except Exception as exc:  # noqa: BLE001 - the board stays up without its queue
            return [], f"{type(exc).__name__}: {exc}"

    def reload(self) -> None:
        board, error = self._load()
        requests, requests_error = self._load_requests()
        with self._lock:
            self.board, self.error = board, error
            self.requests, self.requests_error = requests, requests_error


def _table_update(board: Board, sort_label: str, search: str, loaders: list[str], attributes: list[str],
                  metric_label: str, details: bool, benchmark: str | None = None,
                  reference: str = DropReference.ORIGINAL.label, rows: str | None = None) -> gr.Dataframe:
    view = build_table(board, key=board.key_by_label(benchmark), reference=reference, sort_by=sort_label,
                       search=search or "", loaders=loaders, attributes=attributes, subset_metric=metric_label,
                       show_details=details, rows=rows or None)
    return gr.Dataframe(value=_styled(view), datatype=view.datatypes)


def _styled(view):
    """The table as a pandas Styler: numbers shown with 2 decimals (values stay numeric for sorting)."""
    frame = view.to_pandas()
    numeric = [c for c, t in zip(view.columns, view.datatypes) if t == "number" and c != RANK_COLUMN]
    return frame.style.format("{:.2f}", subset=numeric, na_rep="–")


def _top_labels(board: Board, sort_label: str, n: int = DEFAULT_COMPARED, benchmark: str | None = None,
                reference: str = DropReference.ORIGINAL.label) -> list[str]:
    entries = board.entries_for(board.key_by_label(benchmark))
    return [e.label for _, e in rank_entries(entries, sort_label, reference)[:n]]


def _benchmarks(board: Board) -> list[str]:
    return [board.key_label(k) for k in board.keys()]


def build_app(results_source: str | None, *, datasets: dict[str, str] | None = None,
              pin: BenchmarkPin | None = None, requests_repo: str | None = None,
              own_dataset: str | None = None) -> gr.Blocks:
    """The leaderboard app for a results folder or Hub dataset repo id (``None``: nothing configured).

    ``datasets`` maps local dataset names that results name to their folders (Hub datasets need
    nothing). ``own_dataset``: the project's own benchmark, ranked on a Hub board with no
    ``board.yaml`` (see :func:`~.benchmark.own_benchmark_id`). Launch it with :func:`launch` (which
    applies the theme) or ``demo.launch(...)``.
    """
    import os

    holder = _BoardHolder(results_source, datasets, pin, requests_repo or os.environ.get("REQUESTS_REPO"),
                          own_dataset)
    board = holder.board
    sort_default = SortKey.MEAN_DROP.label
    reference_default = DropReference.ORIGINAL.label
    benchmarks = _benchmarks(board)
    rows_default = default_row_kind(board.entries_for(None)).value
    initial = build_table(board, sort_by=sort_default, rows=rows_default)
    attribute_names = board_attributes(board)

    with gr.Blocks(title=TITLE, fill_width=True, analytics_enabled=False) as demo:
        header = gr.HTML(header_html(board))
        notice = gr.HTML(notice_html(board, holder.error), visible=bool(notice_html(board, holder.error)))
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="board"):
                with gr.Row(equal_height=True):
                    benchmark = gr.Dropdown(benchmarks, value=benchmarks[0] if benchmarks else None,
                                            label="Benchmark (dataset @ revision · protocol · subsets · n)", scale=4,
                                            elem_id="ie-benchmark")
                    reference = gr.Radio([r.label for r in DropReference], value=reference_default,
                                         label="Drops against", scale=2, elem_id="ie-reference")
                    rows = gr.Radio([k.value for k in RowKind], value=rows_default, scale=2, elem_id="ie-rows",
                                    label="Rows (verified: evaluated by the board; "
                                          "self-reported: uploaded predictions)")
                with gr.Row(equal_height=True):
                    search = gr.Textbox(label="Search models", placeholder="model id or loader, e.g. resnet",
                                        scale=2, elem_id="ie-search")
                    sort = gr.Radio([k.label for k in SortKey], value=sort_default, label="Rank by", scale=2)
                    metric = gr.Radio([m.label for m in SubsetMetric], value=SubsetMetric.ACCURACY.label,
                                      label="Subset columns show", scale=2)
                with gr.Row(equal_height=True):
                    attributes = gr.CheckboxGroup(attribute_names, value=attribute_names,
                                                  label="Attribute columns", scale=3)
                    loaders = gr.CheckboxGroup(board.loaders, value=board.loaders, label="Loader", scale=2)
                    with gr.Column(scale=1, min_width=200):
                        details = gr.Checkbox(label="Show dataset revision & results file", value=False)
                        refresh = gr.Button("Refresh results", size="sm", variant="secondary")
                table = gr.Dataframe(
                    value=_styled(initial), datatype=initial.datatypes, interactive=False,
                    pinned_columns=2, elem_id="ie-table", max_height=640, label="Ranking", show_label=False,
                )
                others = gr.HTML(other_rows_html(board, None, rows_default), elem_id="ie-other-rows")
                gr.Markdown("### Evaluation queue")
                queue = gr.HTML(queue_html(holder.requests, holder.requests_error), elem_id="ie-queue-box")
                gr.Markdown("### Compare attribute drops")
                with gr.Row():
                    models = gr.Dropdown([e.label for e in board.entries_for(None)],
                                         value=_top_labels(board, sort_default),
                                         multiselect=True, label="Models to compare", elem_id="ie-models", scale=1)
                    plot = gr.Plot(drops_figure(board, _top_labels(board, sort_default)), show_label=False, scale=3)
            with gr.Tab("About", id="about"):
                about = gr.Markdown(about_markdown(board), elem_id="ie-about")

        controls = [sort, search, loaders, attributes, metric, details, benchmark, reference, rows]

        def on_filter(sort_label, query, loader_values, attribute_values, metric_label, show_details,
                      benchmark_label, reference_label, row_kind):
            return _table_update(holder.board, sort_label, query, loader_values, attribute_values,
                                 metric_label, show_details, benchmark_label, reference_label, row_kind)

        gr.on([c.change for c in controls], on_filter, controls, table, api_name="ranking")
        gr.on([benchmark.change, rows.change], lambda b, r: other_rows_html(holder.board, b, r), [benchmark, rows],
              others)

        def on_benchmark(sort_label, benchmark_label, reference_label):
            b = holder.board
            top = _top_labels(b, sort_label, benchmark=benchmark_label, reference=reference_label)
            labels = [e.label for e in b.entries_for(b.key_by_label(benchmark_label))]
            return (header_html(b, b.key_by_label(benchmark_label)), gr.Dropdown(choices=labels, value=top),
                    drops_figure(b, top, reference_label))

        gr.on([benchmark.change, reference.change], on_benchmark, [sort, benchmark, reference],
              [header, models, plot], api_name="benchmark")

        def on_compare(labels, reference_label):
            return drops_figure(holder.board, labels or [], reference_label)

        models.change(on_compare, [models, reference], plot, api_name="compare")

        def on_refresh(sort_label, query, _loaders, attribute_values, metric_label, show_details, benchmark_label,
                       reference_label, row_kind):
            holder.reload()
            b = holder.board
            choices = _benchmarks(b)
            chosen = benchmark_label if benchmark_label in choices else (choices[0] if choices else None)
            top = _top_labels(b, sort_label, benchmark=chosen, reference=reference_label)
            return (
                header_html(b, b.key_by_label(chosen)),
                gr.HTML(notice_html(b, holder.error), visible=bool(notice_html(b, holder.error))),
                gr.CheckboxGroup(choices=b.loaders, value=b.loaders),
                gr.Dropdown(choices=choices, value=chosen),
                _table_update(b, sort_label, query, b.loaders, attribute_values, metric_label, show_details, chosen,
                              reference_label, row_kind),
                gr.Dropdown(choices=[e.label for e in b.entries_for(b.key_by_label(chosen))], value=top),
                drops_figure(b, top, reference_label),
                queue_html(holder.requests, holder.requests_error),
                about_markdown(b),  # board.yaml may pin another dataset (or revision) since the last load
            )

        refresh.click(on_refresh, controls, [header, notice, loaders, benchmark, table, models, plot, queue, about],
                      api_name="refresh")
    return demo


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None, block: bool = True, **kwargs):
    """``demo.launch`` with the leaderboard's theme and CSS (Gradio 6 takes them at launch time)."""
    return demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block,
                       theme=THEME, css=CSS, **kwargs)


_demo: gr.Blocks | None = None


def __getattr__(name: str):
    # ``demo`` is built on first access, so importing this module (tests, the CLI) downloads nothing;
    # Spaces and `gradio app.py` read ``app.demo`` and get the board for RESULTS_REPO / RESULTS_DIR.
    global _demo
    if name == "demo":
        if _demo is None:
            _demo = build_app(default_source())
        return _demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    import os

    launch(__getattr__("demo"), host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
           port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
