"""`table` from synthetic result files: ranking by direction, significance, md/LaTeX/CSV."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

import numpy as np
import pytest

from yonos_bench.core.errors import YonosError
from yonos_bench.report.render import latex_document, to_csv, to_latex, to_markdown
from yonos_bench.report.tables import build_table

N = 40


def _vals(mean, spread, seed):
    return list(np.random.default_rng(seed).normal(mean, spread, N))


@pytest.fixture
def three_models(results_root, write_run):
    base = np.random.default_rng(0).normal(25.0, 2.0, N)
    lp = np.random.default_rng(1).uniform(0.2, 0.4, N)
    # A: best PSNR; B: PSNR a hair below A on every pair (a significant difference);
    # C: same mean as B's but noisy around A (difference from A not significant).
    noise = np.random.default_rng(2).normal(0, 1.0, N)
    write_run(results_root, model="alpha", values={"psnr-y": list(base + 1.0), "lpips-alex": list(lp + 0.05)})
    write_run(
        results_root, model="beta", values={"psnr-y": list(base + 0.5), "lpips-alex": list(lp)}, seconds=0.5
    )
    write_run(
        results_root,
        model="gamma",
        values={"psnr-y": list(base + 1.0 + noise - noise.mean() - 0.01), "lpips-alex": list(lp + 0.2)},
        steps=4,
    )
    return results_root


def test_ranks_follow_each_metric_direction(three_models):
    t = build_table(three_models)
    assert [c.label for c in t.columns] == ["alpha", "beta", "gamma"]
    rows = {r.metric: r for r in t.rows}
    assert [r.metric for r in t.rows] == ["psnr-y", "lpips-alex"]  # the protocol's metric order
    psnr = rows["psnr-y"]
    assert psnr.lower_better is False and [v.rank for v in psnr.values] == [1, None, 2]
    lpips = rows["lpips-alex"]
    assert lpips.lower_better is True and [v.rank for v in lpips.values] == [2, 1, None]
    # gamma's PSNR mean is 0.01 below alpha's with per-pair noise: not significant;
    # beta is 0.5 below on every pair: significant.
    assert [v.not_significant for v in psnr.values] == [False, False, True]
    assert t.steps == [None, None, 4] and t.s_per_img == [0.01, 0.5, 0.01]


def test_markdown_layout(three_models):
    md = to_markdown(build_table(three_models))
    lines = md.splitlines()
    assert lines[0] == "| Protocol | Metric | alpha | beta | gamma |"
    psnr_line = next(line for line in lines if "psnr-y ↑" in line)
    assert psnr_line.startswith("| sample-v1 | psnr-y ↑ | **")
    cells = [c.strip() for c in psnr_line.strip("|").split("|")]
    assert (
        cells[2].startswith("**")
        and cells[3] == f"{np.mean(_beta_psnr()):.2f}"
        and cells[4].startswith("<u>")
    )
    assert cells[4].endswith("†")
    lp_line = next(line for line in lines if "lpips-alex ↓" in line)
    lp = [c.strip() for c in lp_line.strip("|").split("|")]
    assert lp[0] == "" and lp[2].startswith("<u>") and lp[3].startswith("**")
    assert "| | # steps | – | – | 4 |" in md.replace("|  |", "| |")
    assert any(line.startswith("|  | s/img | 0.01 | 0.5 | 0.01 |") for line in lines)
    assert "not significant" in md


def _beta_psnr():
    return np.random.default_rng(0).normal(25.0, 2.0, N) + 0.5


def test_latex_structure_and_compiles_if_possible(three_models, tmp_path):
    tex = to_latex(build_table(three_models))
    assert tex.count(r"\begin{tabular}{llccc}") == 1 and tex.count(r"\end{tabular}") == 1
    for rule in (r"\toprule", r"\bottomrule"):
        assert tex.count(rule) == 1
    body = tex[tex.index(r"\toprule") : tex.index(r"\bottomrule")]
    rows = [r for r in body.split(r"\\") if "&" in r]
    assert len(rows) == 1 + 2 + 2  # header, 2 metrics, # steps, s/img
    assert all(r.count("&") - r.count(r"\&") == 4 for r in rows)
    assert tex.count(r"\textcolor{red}{") == 2 + 1 and tex.count(r"\textcolor{blue}{") == 2 + 1  # + caption
    assert r"psnr-y $\uparrow$" in tex and r"lpips-alex $\downarrow$" in tex and r"\# steps" in tex
    assert "$^\\dagger$" in tex
    # Braces balance (a cheap well-formedness check that catches broken escapes).
    assert tex.count("{") - tex.count(r"\{") == tex.count("}") - tex.count(r"\}")
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: LaTeX structure checked, compilation skipped")
    (tmp_path / "t.tex").write_text(latex_document(tex))
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path, capture_output=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_latex_escapes_names(results_root, write_run):
    write_run(results_root, model="my_model&co", values={"psnr-y": [20.0, 21.0]})
    tex = to_latex(build_table(results_root))
    assert r"my\_model\&co" in tex


def test_csv_long_format(three_models):
    rows = list(csv.DictReader(io.StringIO(to_csv(build_table(three_models)))))
    assert len(rows) == 6
    r = next(r for r in rows if r["model"] == "gamma" and r["metric"] == "psnr-y")
    assert r["steps"] == "4" and r["rank"] == "2" and r["not_significant_vs_best"] == "True"
    assert r["lower_better"] == "False" and float(r["ci_low"]) < float(r["mean"]) < float(r["ci_high"])


def test_limit_results_are_marked_and_full_results_preferred(results_root, write_run):
    write_run(results_root, model="bicubic", values={"psnr-y": [20.0, 21.0]}, limit=2)
    t = build_table(results_root)
    assert t.rows[0].values[0].reportable is False
    md = to_markdown(t)
    assert re.search(r"\*\*20\.50\*\*\*", md) and "NOT REPORTABLE" in md
    write_run(results_root, model="bicubic", values={"psnr-y": [22.0, 23.0, 24.0]})
    t = build_table(results_root)
    assert t.rows[0].values[0].mean == 23.0 and t.rows[0].values[0].reportable


def test_columns_split_by_steps_and_set_metrics(results_root, write_run):
    for steps, fid in ((1, 30.0), (4, 25.0)):
        write_run(
            results_root,
            model="yonos",
            values={"psnr-y": [20.0 + steps, 21.0]},
            steps=steps,
            set_metrics={"fid-clean": fid},
        )
    t = build_table(results_root)
    assert [c.label for c in t.columns] == ["yonos (1 step)", "yonos (4 steps)"]
    fid = next(r for r in t.rows if r.metric == "fid-clean")
    assert [v.rank for v in fid.values] == [2, 1] and not any(v.not_significant for v in fid.values)
    fid_line = next(line for line in to_markdown(t).splitlines() if "fid-clean ↓" in line)
    assert fid_line.endswith("| <u>30.00</u> | **25.00** |")


def test_errors_name_the_problem(results_root, write_run):
    with pytest.raises(YonosError, match="No result files"):
        build_table(results_root)
    write_run(results_root, model="bicubic", values={"psnr-y": [20.0, 21.0]})
    with pytest.raises(YonosError, match="Did you mean: sample"):
        build_table(results_root, protocols=["sampel"])
    with pytest.raises(YonosError, match="Did you mean: bicubic"):
        build_table(results_root, models=["bicubc"])
    write_run(results_root, model="lanczos", values={"psnr-y": [20.0, 21.0]}, digest="e" * 64)
    with pytest.raises(YonosError, match="different protocol instances"):
        build_table(results_root)
