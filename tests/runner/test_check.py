"""`check`: direction-aware regression gate against a baseline file."""

from __future__ import annotations

import json
import shutil

import pytest

from yonos_bench.core.errors import YonosError
from yonos_bench.report.check import (
    Tolerance,
    check_results,
    format_report,
    judge,
    parse_tolerances,
    write_baseline,
)


def _write(root, write_run, psnr=(25.0, 27.0), lpips=(0.2, 0.3), **kw):
    return write_run(root, model="bicubic", values={"psnr-y": list(psnr), "lpips-alex": list(lpips)}, **kw)


def test_identical_results_pass(results_root, write_run, tmp_path):
    _write(results_root, write_run)
    base = tmp_path / "baseline.json"
    assert write_baseline(results_root, base) == 1
    report = check_results(results_root, base)
    assert not report.failed and {r.status for r in report.rows} == {"ok"}
    assert format_report(report).rstrip().endswith("PASSED.")


@pytest.mark.parametrize(
    ("psnr", "lpips", "expect"),
    [
        ((24.0, 26.0), (0.2, 0.3), {"psnr-y": "REGRESSION", "lpips-alex": "ok"}),  # PSNR fell
        ((26.0, 28.0), (0.2, 0.3), {"psnr-y": "improved", "lpips-alex": "ok"}),  # PSNR rose
        ((25.0, 27.0), (0.3, 0.4), {"psnr-y": "ok", "lpips-alex": "REGRESSION"}),  # LPIPS rose
        ((25.0, 27.0), (0.1, 0.2), {"psnr-y": "ok", "lpips-alex": "improved"}),  # LPIPS fell
    ],
)
def test_regressions_are_judged_per_direction(results_root, write_run, tmp_path, psnr, lpips, expect):
    _write(results_root, write_run)
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base)
    shutil.rmtree(results_root)
    _write(results_root, write_run, psnr=psnr, lpips=lpips)
    report = check_results(results_root, base)
    assert {r.metric: r.status for r in report.rows} == expect
    assert report.failed == ("REGRESSION" in expect.values())
    text = format_report(report)
    assert ("FAILED: 1 regression" in text) == report.failed


def test_tolerances(results_root, write_run, tmp_path):
    _write(results_root, write_run)
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base, tolerances=parse_tolerances(["psnr-y=0.6"]))
    # the given tolerance is stored; a metric given none gets its default (issue 14)
    assert json.loads(base.read_text())["tolerances"] == {"psnr-y": "0.6", "lpips-alex": "0.001"}
    shutil.rmtree(results_root)
    _write(results_root, write_run, psnr=(24.5, 26.5), lpips=(0.21, 0.31))  # PSNR -0.5, LPIPS +0.01
    report = check_results(results_root, base)
    assert {r.metric: r.status for r in report.rows} == {"psnr-y": "ok", "lpips-alex": "REGRESSION"}
    # Command-line tolerances override and extend the stored ones; relative with %.
    report = check_results(results_root, base, tolerances=parse_tolerances(["lpips-alex=5%", "psnr-y=0.4"]))
    assert {r.metric: r.status for r in report.rows} == {"psnr-y": "REGRESSION", "lpips-alex": "ok"}


def test_judge_and_tolerance_parsing():
    assert judge(10.0, 9.0, lower_better=False, tol=Tolerance(0.5)) == "REGRESSION"
    assert judge(10.0, 11.0, lower_better=True, tol=Tolerance(0.5)) == "REGRESSION"
    assert judge(10.0, 10.4, lower_better=True, tol=Tolerance(5, relative=True)) == "ok"
    assert judge(10.0, 10.0 + 1e-12, lower_better=True, tol=Tolerance(0.0)) == "ok"  # float noise
    assert parse_tolerances(["fid-clean=1e-1"]) == {"fid-clean": Tolerance(0.1)}
    with pytest.raises(YonosError, match="--tolerance 'psnr-y:0.1'"):
        parse_tolerances(["psnr-y:0.1"])


def test_missing_results_fail(results_root, write_run, tmp_path):
    _write(results_root, write_run)
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base)
    shutil.rmtree(results_root)
    write_run(results_root, model="bicubic", values={"psnr-y": [25.0, 27.0]})  # no lpips
    report = check_results(results_root, base)
    assert {r.metric: r.status for r in report.rows} == {"psnr-y": "ok", "lpips-alex": "MISSING"}
    assert report.failed


def test_baseline_of_another_protocol_version_is_refused(results_root, write_run, tmp_path):
    _write(results_root, write_run, version=1)
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base)
    shutil.rmtree(results_root)
    _write(results_root, write_run, version=2)
    with pytest.raises(YonosError, match=r"written for protocol sample v1, but the results are sample v2"):
        check_results(results_root, base)
    shutil.rmtree(results_root)
    _write(results_root, write_run, version=1, digest="f" * 64)
    with pytest.raises(YonosError, match="instance digest"):
        check_results(results_root, base)


def test_bad_baseline_files(results_root, tmp_path):
    with pytest.raises(YonosError, match="Baseline file not found.*--write-baseline"):
        check_results(results_root, tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(YonosError, match="not valid JSON"):
        check_results(results_root, bad)
    with pytest.raises(YonosError, match="No result files"):
        write_baseline(results_root, tmp_path / "b.json")
