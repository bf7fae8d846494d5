"""Human-facing views of a results document: tables (:mod:`.formats`) and a two-panel matplotlib figure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from imagenet_e_dataset.atomic import atomic_path
from imagenet_e_dataset.registry import ALL_SUBSETS, attributes, edited_attributes


def format_table(doc: dict[str, Any], fmt: str = "text") -> str:
    """The results as a table: ``text`` (detailed, per subset) or the paper's table in ``csv``,
    ``markdown`` or ``latex`` (see :mod:`imagenet_e.eval.formats`)."""
    from .formats import format_results

    return format_results(doc, fmt)


def plot_results(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """Left: top-1 accuracy per subset (original highlighted, its level as a reference line).
    Right: accuracy drop per edited subset with its bootstrap 95% CI, grouped by attribute, with
    each attribute's mean drop as a bracket-wide line. Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    m = doc["metrics"]
    configs = doc["dataset"]["configs"]
    subsets = [ALL_SUBSETS[c] for c in configs]
    acc = [m["accuracy"][c] * 100 for c in configs]
    colours = [s.attribute.plot_colour for s in subsets]

    fig, (ax_acc, ax_drop) = plt.subplots(
        1, 2, figsize=(13.5, 5.2), gridspec_kw={"width_ratios": [1.05, 1]}, constrained_layout=True)

    # Accuracy per subset.
    bars = ax_acc.bar(range(len(configs)), acc, color=colours, edgecolor="white", linewidth=0.8)
    original = next((i for i, s in enumerate(subsets) if s.is_original), None)
    if original is not None:
        bars[original].set_edgecolor("black")
        bars[original].set_linewidth(2.0)
        bars[original].set_hatch("//")
        ax_acc.axhline(acc[original], color="black", lw=1, ls="--", alpha=0.6, zorder=0)
    for bar, value in zip(bars, acc):
        ax_acc.text(bar.get_x() + bar.get_width() / 2, value + 1, f"{value:.1f}", ha="center", va="bottom",
                    fontsize=8)
    ax_acc.set_xticks(range(len(configs)), configs, rotation=40, ha="right", fontsize=9)
    ax_acc.set_ylabel("top-1 accuracy (%)")
    ax_acc.set_ylim(0, min(100, max(acc) * 1.15 + 5))
    ax_acc.set_title("Accuracy per subset", fontsize=11, loc="left")
    present = [a for a in attributes() if any(s.attribute is a for s in subsets)]
    ax_acc.legend(handles=[Patch(facecolor=a.plot_colour, label=a.name) for a in present],
                  fontsize=8, frameon=False, loc="upper right", ncol=len(present))

    # Drop per edited subset, grouped by attribute, CI error bars, attribute mean as a line. With
    # the control present, each subset gets a second, hatched bar: its drop against the control.
    control = m.get("control_subset")
    width = 0.42 if control else 0.8
    x, labels, pos = [], [], 0.0

    def bar(position: float, drop: float, interval, colour: str, hatch: str | None) -> None:
        low, high = (v * 100 for v in (interval or (drop / 100, drop / 100)))
        ax_drop.bar(position, drop, color=colour, width=width, edgecolor="white", hatch=hatch,
                    alpha=0.55 if hatch else 1.0)
        ax_drop.errorbar(position, drop, yerr=[[max(0.0, drop - low)], [max(0.0, high - drop)]], fmt="none",
                         ecolor="black", elinewidth=1.1, capsize=3)

    for attribute in edited_attributes():
        group = [s for s in subsets if s.attribute is attribute]
        if not group:
            continue
        start = pos
        for s in group:
            offset = -width / 2 if control else 0.0
            bar(pos + offset, m["accuracy_drop"][s.name] * 100, m["ci95"].get(s.name), attribute.plot_colour, None)
            if control and s.name in m["control_drop"]:
                bar(pos + width / 2, m["control_drop"][s.name] * 100, m["control_ci95"].get(s.name),
                    attribute.plot_colour, "//")
            x.append(pos)
            labels.append(s.name)
            pos += 1
        mean = m["attribute_drop"].get(attribute.name)
        if mean is not None:
            ax_drop.hlines(mean * 100, start - 0.45, pos - 0.55, colors=attribute.plot_colour, lw=2.5,
                           linestyles=":", zorder=3)
            ax_drop.annotate(f"{attribute.name}\nmean {mean * 100:+.1f}", ((start + pos - 1) / 2, 1.0),
                             xycoords=("data", "axes fraction"), ha="center", va="top", fontsize=8,
                             color=attribute.plot_colour, fontweight="bold")
        pos += 0.6
    if control:
        ax_drop.legend(handles=[Patch(facecolor="#777777", label="vs original (paper)"),
                                Patch(facecolor="#777777", alpha=0.55, hatch="//", label=f"vs {control} (control)")],
                       fontsize=8, frameon=True, framealpha=0.9, loc="lower left")
    ax_drop.axhline(0, color="black", lw=0.8)
    ax_drop.set_xticks(x, labels, rotation=40, ha="right", fontsize=9)
    ax_drop.set_ylabel("accuracy drop (pp)" if control else "accuracy drop vs original (pp)")
    low_lim, high_lim = ax_drop.get_ylim()
    ax_drop.set_ylim(low_lim, high_lim + (high_lim - low_lim) * 0.18)  # room for the attribute labels
    title = f"Drop per edited subset (95% bootstrap CI); mean drop {m['mean_drop'] * 100:+.1f} pp"
    if control:
        title = (f"Drop per edited subset (95% bootstrap CI)\nmean drop {m['mean_drop'] * 100:+.1f} pp vs original, "
                 f"{m['control_mean_drop'] * 100:+.1f} pp vs {control}")
    ax_drop.set_title(title, fontsize=10, loc="left")
    for ax in (ax_acc, ax_drop):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.25)
        ax.set_axisbelow(True)
    # '\$': a folder name with two '$' would otherwise be parsed as mathtext and could fail to draw.
    fig.suptitle(f"ImageNet-E — {doc['model']['id']}".replace("$", r"\$"), fontsize=13, fontweight="bold")

    return _save(fig, path)


def plot_sweeps(doc: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """Accuracy vs severity per swept attribute (95 % bootstrap band, the original accuracy as a
    dashed line, the median failure point marked); None when the results hold no sweep."""
    sweeps = doc["metrics"].get("sweeps") or {}
    if not sweeps:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from imagenet_e_dataset.registry import ORIGINAL_CONFIG, get_attribute

    original = doc["metrics"]["accuracy"].get(ORIGINAL_CONFIG)
    fig, axes = plt.subplots(1, len(sweeps), figsize=(4.6 * len(sweeps), 4.0), squeeze=False, constrained_layout=True)
    for ax, (attribute, sweep) in zip(axes[0], sweeps.items()):
        colour = get_attribute(attribute).plot_colour
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

