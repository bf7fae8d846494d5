"""Human-facing views of a results document: tables (:mod:`.formats`) and a two-panel matplotlib figure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from imagenet_e_dataset.atomic import atomic_path


def format_table(doc: dict[str, Any], fmt: str = "text") -> str:
    """The results as a table: ``text`` (detailed, per subset) or the paper's table in ``csv``,
    ``markdown`` or ``latex`` (see :mod:`imagenet_e.eval.formats`)."""
    from .formats import format_results

    return format_results(doc, fmt)


# Inches per bar: room for a vertical tick label and a vertical value label side by side.
_INCH_PER_BAR = 0.36
_MAX_LABEL = 28


def _short(text: str, limit: int = _MAX_LABEL) -> str:
    """A tick label cut in the middle with an ellipsis, so a long plug-in config name cannot run into its
    neighbours and its level (the end of the name) still tells the configs apart."""
    if len(text) <= limit:
        return text
    tail = limit // 2
    return text[: limit - tail - 1] + "…" + text[-tail:]


def plot_results(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """:func:`results_figure` written atomically as PNG."""
    return _save(results_figure(doc), path)


def results_figure(doc: dict[str, Any]) -> Any:
    """Accuracy per config (original highlighted, its level as a reference line), and accuracy drop per
    edited config with its bootstrap 95% CI, grouped by attribute, each attribute's mean drop a dotted line
    named in the legend. Configs come in the dataset's order (attribute, then severity) with its colours;
    the figure grows with the number of configs (panels stacked past a dozen)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .config_layout import config_views

    m = doc["metrics"]
    views = config_views(doc)
    names = [v.name for v in views]
    acc = [m["accuracy"][c] * 100 for c in names]
    colours = [v.colour for v in views]
    edited = [v for v in views if not v.is_original]
    control = m.get("control_subset")
    stacked = len(views) > 12
    acc_width = 1.5 + _INCH_PER_BAR * len(views)
    drop_width = 1.5 + _INCH_PER_BAR * len(edited) * (1.6 if control else 1.0)
    label_room = 0.09 * max((len(_short(n)) for n in names), default=8)  # rotated tick labels hang below
    if stacked:
        fig, (ax_acc, ax_drop) = plt.subplots(2, 1, figsize=(max(8.0, acc_width, drop_width), 7.5 + 2 * label_room),
                                              layout="constrained")
    else:
        fig, (ax_acc, ax_drop) = plt.subplots(
            1, 2, figsize=(max(9.0, acc_width + drop_width), 5.0 + label_room), layout="constrained",
            gridspec_kw={"width_ratios": [max(acc_width, 2.5), max(drop_width, 2.5)]})

    # Accuracy per config; value labels vertical inside the axes, with head room below the title.
    bars = ax_acc.bar(range(len(names)), acc, color=colours, edgecolor="white", linewidth=0.8)
    original = next((i for i, v in enumerate(views) if v.is_original), None)
    if original is not None:
        bars[original].set_edgecolor("black")
        bars[original].set_linewidth(2.0)
        bars[original].set_hatch("//")
        ax_acc.axhline(acc[original], color="black", lw=1, ls="--", alpha=0.6, zorder=0)
    top = max(acc, default=0.0)
    for bar, value in zip(bars, acc):
        ax_acc.text(bar.get_x() + bar.get_width() / 2, value + top * 0.02 + 0.5, f"{value:.1f}", ha="center",
                    va="bottom", fontsize=7, rotation=90)
    ax_acc.set_xticks(range(len(names)), [_short(n) for n in names], rotation=90, fontsize=8)
    ax_acc.set_ylabel("top-1 accuracy (%)")
    ax_acc.set_ylim(0, top * 1.25 + 8)
    ax_acc.set_yticks([t for t in ax_acc.get_yticks() if 0 <= t <= 100])
    ax_acc.set_title("Accuracy per config", fontsize=11, loc="left")

    # Drop per edited config, grouped by attribute; with the control present each config gets a second,
    # hatched bar (its drop against the control).
    width = 0.42 if control else 0.8
    x, labels, pos = [], [], 0.0
    handles: list[Any] = []

    def bar(position: float, drop: float, interval, colour: str, hatch: str | None) -> None:
        low, high = (v * 100 for v in (interval or (drop / 100, drop / 100)))
        ax_drop.bar(position, drop, color=colour, width=width, edgecolor="white", hatch=hatch,
                    alpha=0.55 if hatch else 1.0)
        ax_drop.errorbar(position, drop, yerr=[[max(0.0, drop - low)], [max(0.0, high - drop)]], fmt="none",
                         ecolor="black", elinewidth=1.1, capsize=3)

    groups: dict[str, list[Any]] = {}
    for v in edited:
        groups.setdefault(v.attribute, []).append(v)
    for attribute, group in groups.items():
        colour = group[0].colour
        start = pos
        for v in group:
            offset = -width / 2 if control else 0.0
            bar(pos + offset, m["accuracy_drop"][v.name] * 100, m["ci95"].get(v.name), colour, None)
            if control and v.name in m["control_drop"]:
                bar(pos + width / 2, m["control_drop"][v.name] * 100, m["control_ci95"].get(v.name), colour, "//")
            x.append(pos)
            labels.append(_short(v.name))
            pos += 1
        mean = m["attribute_drop"].get(attribute)
        if mean is not None:
            ax_drop.hlines(mean * 100, start - 0.45, pos - 0.55, colors=colour, lw=2.5, linestyles=":", zorder=3)
            # The mean goes in the legend, not over the bars: labels of narrow groups would run together.
            handles.append(Line2D([], [], color=colour, lw=6, label=f"{attribute}: mean {mean * 100:+.1f} pp"))
        pos += 0.6
    if control:
        handles += [Patch(facecolor="#777777", label="vs original (paper)"),
                    Patch(facecolor="#777777", alpha=0.55, hatch="//", label=f"vs {control} (control)")]
    ax_drop.axhline(0, color="black", lw=0.8)
    ax_drop.set_xticks(x, labels, rotation=90, fontsize=8)
    ax_drop.set_ylabel("accuracy drop (pp)" if control else "accuracy drop vs original (pp)")
    title = f"Drop per edited config (95% CI); mean {m['mean_drop'] * 100:+.1f} pp"
    if control:
        title += f", {m['control_mean_drop'] * 100:+.1f} pp vs {control}"
    ax_drop.set_title(title, fontsize=10, loc="left")
    for ax in (ax_acc, ax_drop):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.25)
        ax.set_axisbelow(True)
    if original is not None:
        handles.insert(0, Patch(facecolor=colours[original], hatch="//", edgecolor="black", label="original"))
    # Outside the axes: a legend inside would cover bars.
    fig.legend(handles=handles, loc="outside lower center", ncol=max(1, min(len(handles), 4)), fontsize=8,
               frameon=False)
    # '\$': a folder name with two '$' would otherwise be parsed as mathtext and could fail to draw.
    fig.suptitle(f"ImageNet-E — {doc['model']['id']}".replace("$", r"\$"), fontsize=13, fontweight="bold")
    return fig


def plot_sweeps(doc: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """Accuracy vs severity per swept attribute (95 % bootstrap band, the original accuracy as a
    dashed line, the median failure point marked); None when the results hold no sweep."""
    sweeps = doc["metrics"].get("sweeps") or {}
    if not sweeps:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .config_layout import FALLBACK_COLOUR, config_views

    views = config_views(doc)
    colour_of = {v.attribute: v.colour for v in views}
    original = next((doc["metrics"]["accuracy"][v.name] for v in views if v.is_original), None)
    fig, axes = plt.subplots(1, len(sweeps), figsize=(4.6 * len(sweeps), 4.0), squeeze=False, constrained_layout=True)
    for ax, (attribute, sweep) in zip(axes[0], sweeps.items()):
        colour = colour_of.get(attribute, FALLBACK_COLOUR)
        x = list(range(len(sweep["levels"])))
        acc = [a * 100 for a in sweep["accuracy"]]
        low = [c[0] * 100 for c in sweep["ci95"]]
        high = [c[1] * 100 for c in sweep["ci95"]]
        ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.plot(x, acc, "o-", color=colour, lw=2)
        if original is not None:
            ax.axhline(original * 100, color="black", ls="--", lw=1, alpha=0.6, label="original")
        median = sweep["failure"]["median_level"]
        if median is not None:
            ax.axvline(sweep["levels"].index(median), color=colour, ls=":", lw=1.5, label=f"median failure {median}")
        ax.set_xticks(x, sweep["levels"])
        ax.set_xlabel(f"{attribute} level (increasing severity)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(attribute, fontsize=11, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.25)
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(f"ImageNet-E sweeps — {doc['model']['id']}".replace("$", r"\$"), fontsize=12, fontweight="bold")
    return _save(fig, path)


def _save(fig: Any, path: str | os.PathLike) -> Path:
    """Write a figure as PNG atomically (a crash never leaves half a picture) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=130, format="png")
    finally:
        plt.close(fig)
    return path


def sweeps_plot_path(plot: str | os.PathLike) -> Path:
    """``drops.png`` -> ``drops_sweeps.png`` (the curves beside the main figure)."""
    plot = Path(plot)
    return plot.with_name(f"{plot.stem}_sweeps{plot.suffix or '.png'}")

