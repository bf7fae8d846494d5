"""Results as tables: the detailed text table, and the paper's table as CSV, Markdown or LaTeX.

The paper's table (one row per model) reads: Ori | Background (levels) | Size (levels) | Position |
Direction | Avg drop. Columns come from the dataset's own layout recorded in the results
(:mod:`.config_layout`: attribute order, then severity), grouped by attribute, so the paper's order
holds without a subset name in this file and a sweep reads monotonically; a results file without
some subset leaves that cell empty. Two averages close the row: the drop against ``original`` (the paper's)
and against the control subset, when the results have it.
"""

from __future__ import annotations

import csv
import enum
import io
from typing import Any, Sequence

from imagenet_e_dataset.vocab import parse_choice

from .config_layout import ConfigView, column_headers, config_views, views_of


class TableFormat(str, enum.Enum):
    TEXT = "text"
    CSV = "csv"
    MARKDOWN = "markdown"
    LATEX = "latex"


def parse_format(value: str | TableFormat) -> TableFormat:
    return parse_choice(TableFormat, value, "table format")


def _pct(value: float | None, signed: bool = False, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{value * 100:+.{digits}f}" if signed else f"{value * 100:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


# ------------------------------------------------------------------------------------------------
# Detailed text table (one results file)

def format_text(doc: dict[str, Any]) -> str:
    """Per subset: n, top-1, [top-5], drop vs original with 95% CI and McNemar p, flip rate, and the
    same drop against the control when present; then per attribute; then the mean drops."""
    m = doc["metrics"]
    top5 = m.get("top5_accuracy")
    control = m.get("control_subset")
    header = ["subset", "n", "top-1 %", *(["top-5 %"] if top5 else []), "drop pp", "95% CI (pp)", "p", "flip %"]
    if control:
        header += [f"vs {control} pp", "95% CI (pp)", "p"]
    rows = []
    for name in (v.name for v in config_views(doc)):
        ci = m["ci95"].get(name)
        row = [
            name,
            str(doc["counts"].get(name, "")),
            _pct(m["accuracy"][name]),
            *([_pct(top5.get(name))] if top5 else []),
            _pct(m["accuracy_drop"].get(name), signed=True),
            f"[{_pct(ci[0], True)}, {_pct(ci[1], True)}]" if ci else "",
            _p(m.get("mcnemar_p", {}).get(name)),
            _pct(m["flip_rate"].get(name)),
        ]
        if control:
            cci = m["control_ci95"].get(name)
            row += [_pct(m["control_drop"].get(name), signed=True),
                    f"[{_pct(cci[0], True)}, {_pct(cci[1], True)}]" if cci else "",
                    _p(m["control_mcnemar_p"].get(name))]
        rows.append(row)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    model = doc["model"]
    space = doc["dataset"].get("label_space") or {}
    from imagenet_e_dataset.label_space import LabelSpace

    own = f" ({space['num_classes']} classes of its own)" if space.get("sha256") not in (None, LabelSpace.imagenet().digest()) \
        else ""
    out = [f"ImageNet-E: {model['id']} ({model['loader']}, labels {model.get('label_mapping', '?')}) "
           f"on {doc['dataset']['id']}{own}",
           line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
    head = "attribute    drop pp" + (f"  vs {control} pp" if control else "")
    out.append(head)
    for attribute, drop in m["attribute_drop"].items():
        extra = f"  {_pct(m['control_attribute_drop'].get(attribute), True):>{len(control) + 6}}" if control else ""
        out.append(f"{attribute:<12} {_pct(drop, True):>7}{extra}")
    extra = f"  {_pct(m['control_mean_drop'], True):>{len(control) + 6}}" if control else ""
    out.append(f"{'mean drop':<12} {_pct(m['mean_drop'], True):>7}{extra}")
    out += sweep_lines(m.get("sweeps") or {})
    skipped = doc.get("predictions", {}).get("skipped")
    if skipped:
        out.append(f"skipped images: {skipped} (listed under run.skipped)")
    out.append("drop = accuracy(original) - accuracy(subset), paired on source images; "
               + (f"'vs {control}' = the drop against the control, which shares the edited subsets' resizing and "
                  "regeneration; " if control else "")
               + "p = exact McNemar test of the paired change.")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# The paper's table (one row per results file)

def paper_columns(docs: Sequence[dict[str, Any]]) -> list[ConfigView]:
    """Configs any of ``docs`` has, in the dataset's order (the paper's order for ImageNet-E)."""
    return views_of(docs)


def _groups(columns: list[ConfigView]) -> list[tuple[str, list[ConfigView]]]:
    groups: list[tuple[str, list[ConfigView]]] = []
    for s in columns:
        if groups and groups[-1][0] == s.attribute:
            groups[-1][1].append(s)
        else:
            groups.append((s.attribute, [s]))
    return groups


def _controls(docs: Sequence[dict[str, Any]]) -> str | None:
    names = {doc["metrics"].get("control_subset") for doc in docs} - {None}
    return next(iter(names)) if len(names) == 1 else None


def _paper_rows(docs: Sequence[dict[str, Any]], columns: list[ConfigView], digits: int) -> list[list[str]]:
    control = _controls(docs)
    rows = []
    for doc in docs:
        m = doc["metrics"]
        row = [doc["model"]["id"]]
        row += [_pct(m["accuracy"].get(s.name), digits=digits) for s in columns]
        row.append(_pct(m["mean_drop"], digits=digits))
        if control:
            row.append(_pct(m.get("control_mean_drop"), digits=digits))
        rows.append(row)
    return rows


def _paper_header(docs: Sequence[dict[str, Any]], columns: list[ConfigView]) -> list[str]:
    control = _controls(docs)
    headers = column_headers(columns)
    return (["Model"] + [headers[s.name] for s in columns] + ["Avg drop"]
            + ([f"Avg drop vs {control}"] if control else []))


def format_csv(docs: Sequence[dict[str, Any]]) -> str:
    columns = paper_columns(docs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_paper_header(docs, columns))
    writer.writerows(_paper_rows(docs, columns, digits=2))
    return buffer.getvalue().rstrip("\n")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(docs: Sequence[dict[str, Any]]) -> str:
    columns = paper_columns(docs)
    header = _paper_header(docs, columns)
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in _paper_rows(docs, columns, digits=1)]
    lines.append("")
    lines.append("Top-1 accuracy (%) per subset; Avg drop = mean of accuracy(original) - accuracy(subset) over "
                 "the edited subsets (pp).")
    return "\n".join(lines)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX table cell (model ids are user text)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_level(s: ConfigView) -> str:
    level = latex_escape(s.level)
    return f"${s.level}$" if s.level.lstrip("-").replace(".", "", 1).isdigit() else level


def format_latex(docs: Sequence[dict[str, Any]]) -> str:
    """A booktabs table: attribute groups as spanning headers over their levels."""
    columns = paper_columns(docs)
    groups = _groups(columns)
    control = _controls(docs)
    n_tail = 2 if control else 1
    spec = "l" + "".join("c" * len(g) for _, g in groups) + "c" * n_tail
    top, mid, rules, col = [r"\multirow{2}{*}{Model}"], [""], [], 2
    headers = column_headers(columns)
    for attribute, group in groups:
        if len(group) == 1:
            top.append(rf"\multirow{{2}}{{*}}{{{latex_escape(headers[group[0].name])}}}")
            mid.append("")
        else:
            top.append(rf"\multicolumn{{{len(group)}}}{{c}}{{{latex_escape(attribute.replace('_', ' ').capitalize())}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + len(group) - 1}}}")
            mid += [_latex_level(s) for s in group]
        col += len(group)
    top.append(r"\multirow{2}{*}{Avg drop}")
    mid.append("")
    if control:
        top.append(rf"\multirow{{2}}{{*}}{{Avg drop vs {latex_escape(control)}}}")
        mid.append("")
    lines = [r"% needs \usepackage{booktabs,multirow}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(top) + r" \\", " ".join(rules), " & ".join(mid) + r" \\", r"\midrule"]
    for row in _paper_rows(docs, columns, digits=1):
        lines.append(" & ".join([latex_escape(row[0])] + row[1:]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(line for line in lines if line.strip())


def format_results(docs: dict[str, Any] | Sequence[dict[str, Any]], fmt: str | TableFormat = TableFormat.TEXT) -> str:
    """Render one results document (or several, one row each in the paper formats)."""
    fmt = parse_format(fmt)
    docs = [docs] if isinstance(docs, dict) else list(docs)
    if not docs:
        raise ValueError("no results to format")
    if fmt is TableFormat.TEXT:
        return "\n\n".join(format_text(doc) for doc in docs)
    return {TableFormat.CSV: format_csv, TableFormat.MARKDOWN: format_markdown,
            TableFormat.LATEX: format_latex}[fmt](docs)


def sweep_lines(sweeps: dict[str, Any]) -> list[str]:
    """Text lines of the severity sweeps: accuracy per level and the per-image failure point."""
    out: list[str] = []
    for attribute, sweep in sweeps.items():
        failure = sweep["failure"]
        levels = "  ".join(f"{level:>7}" for level in sweep["levels"])
        accuracy = "  ".join(f"{_pct(a):>7}" for a in sweep["accuracy"])
        out += ["", f"{attribute} sweep (level, in increasing severity)",
                f"  level     {levels}", f"  top-1 %   {accuracy}"]
        if failure["images"]:
            median = failure["median_level"] if failure["median_level"] is not None else "never (most images never flip)"
            out.append(f"  failure point (first level where a correct original prediction is wrong), "
                       f"{failure['images']} images: median {median}; never flips {_pct(failure['never_flip'])} %")
        else:
            out.append("  failure point: no image is classified correctly in original")
    return out

