"""Render a :class:`~yonos_bench.report.tables.Table` as Markdown, LaTeX (booktabs) or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from yonos_bench.report.tables import Table, Value, format_seconds, format_value

ARROWS_MD = {True: "↓", False: "↑"}
ARROWS_TEX = {True: r"$\downarrow$", False: r"$\uparrow$"}


def render(table: Table, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(table)
    if fmt == "latex":
        return to_latex(table)
    if fmt == "csv":
        return to_csv(table)
    raise ValueError(f"format: expected md, latex or csv, got {fmt!r}")


def _paper_md(v: Value) -> str:
    if v.paper is None:
        return ""
    return f" ({format_value(v.paper)}, Δ {v.diff:+.4g})"


def _md_value(v: Value | None, with_paper: bool) -> str:
    if v is None:
        return "–"
    s = format_value(v.mean)
    if v.rank == 1:
        s = f"**{s}**"
    elif v.rank == 2:
        s = f"<u>{s}</u>"
    if v.std is not None:
        s += f" ± {format_value(v.std)}"
    if v.not_significant:
        s += "†"
    if not v.reportable:
        s += "*"
    if with_paper:
        s += _paper_md(v)
    return s


def to_markdown(table: Table) -> str:
    head = ["Protocol", "Metric", *[c.label for c in table.columns]]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * len(table.columns)) + "|",
    ]
    last = None
    for row in table.rows:
        proto = row.protocol if row.protocol != last else ""
        last = row.protocol
        cells = [_md_value(v, table.with_paper) for v in row.values]
        lines.append("| " + " | ".join([proto, f"{row.metric} {ARROWS_MD[row.lower_better]}", *cells]) + " |")
    lines.append("| " + " | ".join(["", "# steps", *[_steps(s) for s in table.steps]]) + " |")
    lines.append("| " + " | ".join(["", table.s_per_img_label, *map(format_seconds, table.s_per_img)]) + " |")
    if table.speed_s_per_img is not None:
        lines.append(
            "| "
            + " | ".join(["", table.speed_label or "", *map(format_seconds, table.speed_s_per_img)])
            + " |"
        )
    legend = "**bold**: best, <u>underlined</u>: second best; ↑ higher is better, ↓ lower is better."
    if table.with_paper:
        legend += " With --with-paper: (number reported by the paper, Δ ours − paper)."
    notes = [legend, *table.notes]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def _steps(s: int | None) -> str:
    return "–" if s is None else str(s)


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def _tex_value(v: Value | None, with_paper: bool) -> str:
    if v is None:
        return "--"
    s = format_value(v.mean)
    if v.rank == 1:
        s = rf"\textcolor{{red}}{{{s}}}"  # the paper: best in red, second best in blue
    elif v.rank == 2:
        s = rf"\textcolor{{blue}}{{{s}}}"
    if v.std is not None:
        s += rf" {{\scriptsize$\pm$ {format_value(v.std)}}}"
    if v.not_significant:
        s += r"$^\dagger$"
    if not v.reportable:
        s += r"$^*$"
    if with_paper and v.paper is not None:
        s += rf" {{\scriptsize({format_value(v.paper)}, $\Delta$ ${v.diff:+.4g}$)}}"
    return s


def to_latex(table: Table) -> str:
    """A ``table`` environment with a booktabs ``tabular``; needs
    ``\\usepackage{booktabs}`` and ``\\usepackage{xcolor}`` in the preamble."""
    ncol = len(table.columns)
    out = [
        r"% yonos-bench table: needs \usepackage{booktabs} and \usepackage{xcolor}",
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{ll" + "c" * ncol + "}",
        r"\toprule",
        " & ".join(["Protocol", "Metric", *[tex_escape(c.label) for c in table.columns]]) + r" \\",
    ]
    last = None
    for row in table.rows:
        if row.protocol != last:
            out.append(r"\midrule")
        proto = tex_escape(row.protocol) if row.protocol != last else ""
        last = row.protocol
        cells = [_tex_value(v, table.with_paper) for v in row.values]
        metric = f"{tex_escape(row.metric)} {ARROWS_TEX[row.lower_better]}"
        out.append(" & ".join([proto, metric, *cells]) + r" \\")
    out.append(r"\midrule")
    out.append(" & ".join(["", r"\# steps", *[_steps(s).replace("–", "--") for s in table.steps]]) + r" \\")
    secs = [format_seconds(s).replace("–", "--") for s in table.s_per_img]
    out.append(" & ".join(["", tex_escape(table.s_per_img_label), *secs]) + r" \\")
    if table.speed_s_per_img is not None:
        secs = [format_seconds(s).replace("–", "--") for s in table.speed_s_per_img]
        out.append(" & ".join(["", tex_escape(_ascii(table.speed_label or "")), *secs]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    caption = (
        r"Results in \textcolor{red}{red} and \textcolor{blue}{blue} are the best and second best. "
        r"$\uparrow$ higher is better, $\downarrow$ lower is better."
    )
    if any(v is not None and v.not_significant for r in table.rows for v in r.values):
        caption += r" $^\dagger$: not significantly different from the best (paired bootstrap, 95\%)."
    if any(v is not None and not v.reportable for r in table.rows for v in r.values):
        caption += r" $^*$: --limit smoke run, not reportable."
    out += [rf"\caption{{{caption}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def _ascii(text: str) -> str:
    return text.replace("²", "^2").replace("–", "--")


def latex_document(body: str) -> str:
    """A minimal standalone document around :func:`to_latex` output (for compiling)."""
    return (
        "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n"
        "\\usepackage{xcolor}\n\\begin{document}\n" + body + "\\end{document}\n"
    )


def to_csv(table: Table) -> str:
    records = as_records(table)
    buf = io.StringIO()
    fields = list(records[0]) if records else ["protocol", "metric", "model"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def as_records(table: Table) -> list[dict[str, Any]]:
    """Long format (one record per protocol × metric × column), for CSV."""
    out = []
    for row in table.rows:
        for col, v, sec in zip(table.columns, row.values, table.s_per_img, strict=True):
            if v is None:
                continue
            out.append(
                {
                    "protocol": row.protocol,
                    "metric": row.metric,
                    "lower_better": row.lower_better,
                    "model": col.model,
                    "label": col.label,
                    "steps": "" if col.steps is None else col.steps,
                    "seed": col.seed,
                    "dtype": col.dtype,
                    "mean": v.mean,
                    "ci_low": "" if v.ci_low is None else v.ci_low,
                    "ci_high": "" if v.ci_high is None else v.ci_high,
                    "n": v.n,
                    "std_over_seeds": "" if v.std is None else v.std,
                    "n_seeds": v.n_seeds,
                    "rank": "" if v.rank is None else v.rank,
                    "not_significant_vs_best": v.not_significant,
                    "paper": "" if v.paper is None else v.paper,
                    "diff_vs_paper": "" if v.diff is None else v.diff,
                    "s_per_img": "" if sec is None else sec,
                    "reportable": v.reportable,
                }
            )
    return out
