"""What users look at after an evaluation, for any dataset: ``drops.png`` laid out for its configs, and the
paper tables with one distinct heading per config in severity order. The results carry the dataset's
layout (``dataset.layout``), so none of this needs the attribute plug-ins installed."""

from __future__ import annotations

import itertools

import pytest

from imagenet_e.eval.config_layout import config_views
from imagenet_e.eval.formats import format_results


def _results(configs: list[tuple[str, str, str, float | None]], *, control: str | None = None) -> dict:
    """A results document for (name, attribute, level, severity) configs, with made-up accuracies."""
    ranks = {a: k for k, a in enumerate(dict.fromkeys(attribute for _, attribute, _, _ in configs))}
    layout = [{"name": n, "attribute": a, "level": lv, "severity": s, "colour": f"#{(37 * k) % 256:02x}6699",
               "attribute_rank": ranks[a]} for k, (n, a, lv, s) in enumerate(configs)]
    names = [n for n, _, _, _ in configs]
    accuracy = {n: 1.0 if k == 0 else max(0.0, 0.95 - 0.03 * k) for k, n in enumerate(names)}
    edited = names[1:]
    drop = {n: accuracy[names[0]] - accuracy[n] for n in edited}
    by_attribute: dict[str, list[float]] = {}
    for n, a, _, _ in configs[1:]:
        by_attribute.setdefault(a, []).append(drop[n])
    metrics = {"accuracy": accuracy, "accuracy_drop": drop, "ci95": {n: [drop[n] - 0.02, drop[n] + 0.02] for n in edited},
               "attribute_drop": {a: sum(v) / len(v) for a, v in by_attribute.items()},
               "mean_drop": sum(drop.values()) / len(drop), "flip_rate": {n: 0.1 for n in edited}}
    if control:
        metrics.update(control_subset=control, control_drop={n: d / 2 for n, d in drop.items() if n != control},
                       control_ci95={}, control_mean_drop=0.01)
    # Given out of order: the views must sort by attribute, then severity.
    shuffled = names[:1] + names[1:][::-1]
    return {"model": {"id": "org/model", "loader": "x"}, "metrics": metrics,
            "dataset": {"id": "pets-e", "configs": shuffled, "layout": layout}}


SWEEP = [("original", "original", "original", None)] + [
    (f"direction_{d}", "direction", str(d), float(d)) for d in (90, 15, 45, 30)]


def test_paper_tables_head_each_config_distinctly_in_severity_order():
    doc = _results(SWEEP)
    assert [v.name for v in config_views(doc)] == ["original", "direction_15", "direction_30", "direction_45",
                                                   "direction_90"]
    header = format_results(doc, "markdown").splitlines()[0]
    assert header == "| Model | Ori | Direction 15 | Direction 30 | Direction 45 | Direction 90 | Avg drop |"
    latex = format_results(doc, "latex")
    assert r"\multicolumn{4}{c}{Direction}" in latex and "$15$ & $30$ & $45$ & $90$" in latex
    assert format_results(doc, "csv").splitlines()[0].split(",")[1:6] == ["Ori", "Direction 15", "Direction 30",
                                                                          "Direction 45", "Direction 90"]


def _configs(n: int) -> list[tuple[str, str, str, float | None]]:
    out = [("original", "original", "original", None)]
    attributes = ["background", "size", "a_plugin_attribute_with_a_long_name", "direction"]
    for k in range(n - 1):
        attribute = attributes[k % len(attributes)]
        out.append((f"{attribute}_{k}", attribute, str(k), float(k)))
    return out


def _overlaps(fig) -> list[tuple[str, str]]:
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.figure is not None]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


@pytest.mark.parametrize("n", [3, 25])
@pytest.mark.parametrize("control", [None, "background_1"])
def test_drops_figure_has_no_overlapping_text(n, control):
    import matplotlib.pyplot as plt

    from imagenet_e.eval.report import results_figure

    configs = _configs(n)
    if control and control not in [c[0] for c in configs]:
        control = None
    fig = results_figure(_results(configs, control=control))
    try:
        assert _overlaps(fig) == []
        texts = {t.get_text() for t in fig.findobj(__import__("matplotlib.text", fromlist=["Text"]).Text)}
        assert any(t.startswith("background: mean") for t in texts)  # attribute means named in the legend
    finally:
        plt.close(fig)


def test_drops_png_is_written(tmp_path):
    from PIL import Image

    from imagenet_e.eval.report import plot_results

    path = plot_results(_results(_configs(25)), tmp_path / "drops.png")
    with Image.open(path) as image:
        assert image.size[0] > 1000


def test_long_config_names_keep_their_levels_apart():
    from imagenet_e.eval.report import _short

    a, b = _short("a_plugin_attribute_with_a_long_name_3"), _short("a_plugin_attribute_with_a_long_name_7")
    assert a != b and len(a) <= 28 and a.endswith("name_3") and "…" in a
