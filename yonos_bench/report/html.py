"""``report``: one static HTML page for a results root — no server, no CDN, opens from disk.

``<out>/index.html`` holds, inlined, the CSS, a small vanilla script (``assets/report.js``,
no framework: nothing to fetch, nothing to keep updated) and the per-image data as JSON;
the images sit next to it (``img/``: SR images of every cell, the LR and HR of every pair,
hard-linked when the file system allows, copied otherwise; ``plots/``). So the folder can be
zipped, moved or opened offline.

Sections: the tables exactly as ``yonos-bench table --with-paper`` builds them (best bold,
second underlined, † not significantly different from the best, * --limit runs, the
paper's number and the difference beside ours); the steps and seconds plots of
``yonos-bench plot``; and a per-image browser (protocol, models A and B, metric, sort by
the per-image difference of A and B; LR | A | B | HR with a synchronized zoom, and an A/B
before/after slider).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from yonos_bench.core.errors import YonosError
from yonos_bench.report.gallery import (
    all_cells,
    choose_protocol,
    load_per_image,
    pair_files,
    parse_model_spec,
    protocol_runs,
)
from yonos_bench.report.tables import Table, Value, build_table, format_seconds, format_value

IMG_DIR = "img"
PLOTS_DIR = "plots"


@dataclass
class ReportResult:
    index: Path
    protocols: list[str]
    n_images: int
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- tables


def _value_html(v: Value | None, with_paper: bool) -> str:
    if v is None:
        return "–"
    s = html.escape(format_value(v.mean))
    if v.rank == 1:
        s = f"<strong>{s}</strong>"
    elif v.rank == 2:
        s = f"<u>{s}</u>"
    if v.not_significant:
        s += "†"
    if not v.reportable:
        s += "*"
    if with_paper and v.paper is not None:
        s += f' <span class="paper">({html.escape(format_value(v.paper))}, Δ {v.diff:+.4g})</span>'
    return s


def table_html(table: Table) -> str:
    """The Table as ``render`` lays it out (Markdown/LaTeX), as an HTML ``<table>``."""
    e = html.escape
    head = "".join(f"<th>{e(c.label)}</th>" for c in table.columns)
    out = [
        '<table class="results">',
        f"<thead><tr><th>Protocol</th><th>Metric</th>{head}</tr></thead><tbody>",
    ]
    last = None
    for row in table.rows:
        proto = e(row.protocol) if row.protocol != last else ""
        last = row.protocol
        arrow = "↓" if row.lower_better else "↑"
        cells = "".join(f"<td>{_value_html(v, table.with_paper)}</td>" for v in row.values)
        out.append(f'<tr><td>{proto}</td><td class="metric">{e(row.metric)} {arrow}</td>{cells}</tr>')
    steps = "".join(f"<td>{'–' if s is None else s}</td>" for s in table.steps)
    out.append(f'<tr class="foot"><td></td><td># steps</td>{steps}</tr>')
    secs = "".join(f"<td>{e(format_seconds(s))}</td>" for s in table.s_per_img)
    out.append(f'<tr class="foot"><td></td><td>{e(table.s_per_img_label)}</td>{secs}</tr>')
    if table.speed_s_per_img is not None:
        secs = "".join(f"<td>{e(format_seconds(s))}</td>" for s in table.speed_s_per_img)
        out.append(f'<tr class="foot"><td></td><td>{e(table.speed_label or "")}</td>{secs}</tr>')
    out.append("</tbody></table>")
    legend = (
        "<strong>bold</strong>: best, <u>underlined</u>: second best; ↑ higher is better, ↓ lower is better."
    )
    if table.with_paper:
        legend += " In grey: (the number the paper reports, Δ ours − paper)."
    notes = [legend, *(e(n) for n in table.notes)]
    out.append('<ul class="notes">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")
    return "\n".join(out)


# ----------------------------------------------------------------------------- images


def _place(src: Path, dst: Path) -> None:
    """``dst`` becomes ``src``'s bytes: a hard link when possible (no extra disk), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _browser_data(
    root: Path, out: Path, name: str, version: int | str, runs, data_root, max_pairs: int | None,
    compare: Sequence[str],
) -> tuple[dict, int]:  # fmt: skip
    cells = all_cells(runs)
    load_per_image(cells)
    files = pair_files([c.result for c in cells], name, version, data_root)
    pkey = f"{name}-v{version}"
    sr_ids = {c.key: {p.stem for p in (c.folder / "sr").glob("*.png")} for c in cells}
    ids = sorted(set().union(*sr_ids.values()) & set(files))
    if max_pairs is not None:
        ids = ids[:max_pairs]
    n = 0
    base = out / IMG_DIR / pkey
    for pid in ids:
        _place(files[pid].lr, base / "lr" / f"{pid}.png")
        n += 1
        if files[pid].hr is not None:
            _place(files[pid].hr, base / "hr" / f"{pid}.png")
            n += 1
    cell_data = []
    for i, c in enumerate(cells):
        folder = f"c{i:02d}"
        have = sorted(sr_ids[c.key] & set(ids))
        for pid in have:
            _place(c.sr_path(pid), base / folder / f"{pid}.png")
        n += len(have)
        metrics = {
            m: {"lower_better": c.lower_better(m), "values": {k: v for k, v in vals.items() if k in ids}}
            for m, vals in c.per_image.items()
            if m in c.result.data["metrics"]
        }
        cell_data.append({"key": c.key, "model": c.model, "steps": c.steps, "label": c.label,
                          "dir": f"{IMG_DIR}/{pkey}/{folder}", "have": have, "metrics": metrics,
                          "reportable": c.result.data["reportable"]})  # fmt: skip
    defaults = [_default_index(cells, spec) for spec in compare]
    defaults = [d for d in defaults if d is not None] or [0, min(1, len(cells) - 1)]
    if len(defaults) == 1:
        defaults.append(defaults[0])
    order = [m for m in runs[0].data["protocol"]["metrics"] if any(m in c["metrics"] for c in cell_data)]
    order += sorted({m for c in cell_data for m in c["metrics"]} - set(order))
    data = {"protocol": pkey, "pairs": ids, "cells": cell_data, "metrics": order,
            "lr": f"{IMG_DIR}/{pkey}/lr", "hr": f"{IMG_DIR}/{pkey}/hr" if any(files[i].hr for i in ids) else None,
            "a": defaults[0], "b": defaults[1]}  # fmt: skip
    return data, n


def _default_index(cells, spec: str) -> int | None:
    name, steps = parse_model_spec(spec)
    for i, c in enumerate(cells):
        if c.model == name and (steps is None or c.steps == steps):
            return i
    return None


# ----------------------------------------------------------------------------- plots


def _plots(root: Path, out: Path, pkey: str, name: str, runs) -> list[Path]:
    """Metric vs steps for every metric some model was swept on; metric vs s/img for the first."""
    from yonos_bench.report.plot import collect_series, draw

    made = []
    metrics = list(dict.fromkeys(m for r in runs for m in r.data["protocol"]["metrics"]))
    metrics += sorted({m for r in runs for m in r.data["metrics"]} - set(metrics))
    for i, mid in enumerate(metrics):
        for x in ("steps", "seconds"):
            if x == "seconds" and i > 0:
                continue
            try:
                key, series, lower = collect_series(runs, mid, name, x)
            except YonosError:
                continue
            if x == "steps" and not any(len(s.points) > 1 for s in series if not s.horizontal):
                continue
            made.append(draw(series, mid, key, lower, x, out / PLOTS_DIR / f"{pkey}-{mid}-vs-{x}").png)
    return made


# ----------------------------------------------------------------------------- page


def _asset(name: str) -> str:
    return resources.files("yonos_bench.report").joinpath("assets", name).read_text(encoding="utf-8")


MARKER = "<!-- written by yonos-bench report -->"


def _check_out_folder(out: Path) -> None:
    """Refuse a non-empty folder that is not a previous report: its img/ and plots/ would be replaced."""
    if not out.exists():
        return
    if not out.is_dir():
        raise YonosError(f"Report folder {out} is a file; choose a folder.")
    index = out / "index.html"
    ours = index.is_file() and MARKER in index.read_text(errors="replace")[:2000]
    if any(out.iterdir()) and not ours:
        raise YonosError(
            f"Report folder {out} is not empty and holds no earlier report; choose an empty or new folder "
            "(its img/ and plots/ would be replaced)."
        )


def write_report(
    results_root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    protocols: Sequence[str] = (),
    max_pairs: int | None = None,
    data_root: str | os.PathLike | None = None,
    compare: Sequence[str] = (),
) -> ReportResult:
    """Write ``<out>/index.html`` (+ ``img/``, ``plots/``). ``compare``: the browser's
    initial models A and B (``name`` or ``name@steps``)."""
    from yonos_bench.core.atomic import write_text_atomic
    from yonos_bench.runs.results import load_results

    root, out = Path(results_root), Path(out)
    loaded, warnings = load_results(root, kind="run")
    names = sorted({r.data["protocol"]["name"] for r in loaded})
    wanted = list(protocols) or names
    table = build_table(root, protocols=wanted, with_paper=True)
    _check_out_folder(out)
    shutil.rmtree(out / IMG_DIR, ignore_errors=True)  # our own folders only: no stale images
    shutil.rmtree(out / PLOTS_DIR, ignore_errors=True)
    browser, plots, n_images, keys = [], [], 0, []
    for p in wanted:
        name, version = choose_protocol(loaded, p)
        runs = protocol_runs(loaded, name, version)
        data, n = _browser_data(root, out, name, version, runs, data_root, max_pairs, compare)
        browser.append(data)
        n_images += n
        keys.append(data["protocol"])
        plots += _plots(root, out, data["protocol"], name, runs)
    plot_html = "".join(
        f'<figure><img src="{PLOTS_DIR}/{p.name}" alt="{html.escape(p.stem)}"><figcaption>'
        f'{html.escape(p.stem)} (<a href="{PLOTS_DIR}/{p.with_suffix(".pdf").name}">PDF</a>)</figcaption></figure>'
        for p in plots
    )
    # "</" cannot appear inside the inline JSON: it would end the <script> element.
    payload = json.dumps(browser, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    parts = {
        "css": _asset("report.css"),
        "js": _asset("report.js"),
        "title": html.escape(f"yonos-bench report — {', '.join(keys)}"),
        "root": html.escape(str(root)),
        "tables": table_html(table),
        "plots": plot_html or "<p>No steps sweep in these results.</p>",
        "data": payload,
    }
    # One pass: a value that happens to contain "{{...}}" is never substituted again.
    page = re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], _asset("report.html"))
    index = out / "index.html"
    write_text_atomic(index, page)
    return ReportResult(index, keys, n_images, plots, sorted(set(warnings + table.warnings)))
