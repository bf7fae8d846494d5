"""Human-facing views of a results document: a text table and a two-panel matplotlib figure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from imagenet_e_dataset.atomic import atomic_path
from imagenet_e_dataset.registry import ALL_SUBSETS, attributes, edited_attributes


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"


def format_table(doc: dict[str, Any]) -> str:
    """Per subset (n, top-1, [top-5], drop, 95% CI, flip rate), then per attribute, then the mean drop.

    Percentages; drops are accuracy(original) - accuracy(subset) on paired source images.
    """
    m = doc["metrics"]
    top5 = m.get("top5_accuracy")
    header = ["subset", "n", "top-1 %", *(["top-5 %"] if top5 else []), "drop pp", "95% CI (pp)", "flip %"]
    rows = []
    for name in doc["dataset"]["configs"]:
        ci = m["ci95"].get(name)
        rows.append([
            name,
            str(doc["counts"].get(name, "")),
            _pct(m["accuracy"][name]),
            *([_pct(top5.get(name))] if top5 else []),
            _pct(m["accuracy_drop"].get(name), signed=True) if name in m["accuracy_drop"] else "",
            f"[{_pct(ci[0], True)}, {_pct(ci[1], True)}]" if ci else "",
            _pct(m["flip_rate"][name]) if name in m["flip_rate"] else "",
        ])
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    model = doc["model"]
    out = [f"ImageNet-E: {model['id']} ({model['loader']}, labels {model.get('label_mapping', '?')}) "
           f"on {doc['dataset']['id']}",
           line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
    out.append("attribute    drop pp")
    for attribute, drop in m["attribute_drop"].items():
        out.append(f"{attribute:<12} {_pct(drop, True):>7}")
    out.append(f"{'mean drop':<12} {_pct(m['mean_drop'], True):>7}")
    return "\n".join(out)


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

    # Drop per edited subset, grouped by attribute, CI error bars, attribute mean as a line.
    x, labels, pos = [], [], 0.0
    for attribute in edited_attributes():
        group = [s for s in subsets if s.attribute is attribute]
        if not group:
            continue
        start = pos
        for s in group:
            drop = m["accuracy_drop"][s.name] * 100
            low, high = (v * 100 for v in m["ci95"].get(s.name, (drop / 100, drop / 100)))
            ax_drop.bar(pos, drop, color=attribute.plot_colour, width=0.8, edgecolor="white")
            ax_drop.errorbar(pos, drop, yerr=[[max(0.0, drop - low)], [max(0.0, high - drop)]], fmt="none",
                             ecolor="black", elinewidth=1.1, capsize=3)
            x.append(pos)
            labels.append(s.name)
            pos += 1
        mean = m["attribute_drop"].get(attribute.value)
        if mean is not None:
            ax_drop.hlines(mean * 100, start - 0.45, pos - 0.55, colors=attribute.plot_colour, lw=2.5,
                           linestyles=":", zorder=3)
            ax_drop.annotate(f"{attribute.value}\nmean {mean * 100:+.1f}", ((start + pos - 1) / 2, 1.0),
                             xycoords=("data", "axes fraction"), ha="center", va="top", fontsize=8,
                             color=attribute.plot_colour, fontweight="bold")
        pos += 0.6
    ax_drop.axhline(0, color="black", lw=0.8)
    ax_drop.set_xticks(x, labels, rotation=40, ha="right", fontsize=9)
    ax_drop.set_ylabel("accuracy drop vs original (pp)")
    low_lim, high_lim = ax_drop.get_ylim()
    ax_drop.set_ylim(low_lim, high_lim + (high_lim - low_lim) * 0.18)  # room for the attribute labels
    ax_drop.set_title(f"Drop per edited subset (95% bootstrap CI); mean drop {m['mean_drop'] * 100:+.1f} pp",
                      fontsize=11, loc="left")
    for ax in (ax_acc, ax_drop):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.25)
        ax.set_axisbelow(True)
    # '\$': a folder name with two '$' would otherwise be parsed as mathtext and could fail to draw.
    fig.suptitle(f"ImageNet-E — {doc['model']['id']}".replace("$", r"\$"), fontsize=13, fontweight="bold")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=130, format="png")
    finally:
        plt.close(fig)
    return path
