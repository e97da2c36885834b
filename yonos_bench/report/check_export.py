"""The regression gate's report for machines: JSON and JUnit XML (CI test panels).

JUnit: one ``<testsuite>`` per protocol, one ``<testcase>`` per (model, steps, metric);
a regression or a missing value is a ``<failure>`` whose message carries baseline, current,
delta and tolerance; notes become the suite's ``<system-out>``. Written atomically.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from yonos_bench.report.check import CheckReport, CheckRow

FAILING = ("REGRESSION", "MISSING")


def row_dict(r: CheckRow) -> dict[str, Any]:
    return {
        "protocol": r.protocol,
        "model": r.model,
        "steps": r.steps,
        "metric": r.metric,
        "lower_better": r.lower_better,
        "baseline": r.baseline,
        "current": r.current,
        "delta": r.delta,
        "tolerance": r.tolerance,
        "status": r.status,
    }


def report_json(report: CheckReport) -> str:
    return json.dumps(
        {
            "passed": not report.failed,
            "compared": len(report.rows),
            "failures": sum(r.status in FAILING for r in report.rows),
            "rows": [row_dict(r) for r in report.rows],
            "notes": list(report.notes),
        },
        indent=2,
    )


def _case_name(r: CheckRow) -> str:
    steps = "" if r.steps is None else f" steps={r.steps}"
    return f"{r.model}{steps} {r.metric}"


def report_junit(report: CheckReport) -> str:
    """JUnit XML text (the schema Jenkins/GitLab/GitHub test reporters read)."""
    suites = ET.Element("testsuites", name="yonos-bench check")
    by_protocol: dict[str, list[CheckRow]] = {}
    for r in report.rows:
        by_protocol.setdefault(r.protocol, []).append(r)
    total = fails = 0
    for protocol, rows in sorted(by_protocol.items()):
        n_fail = sum(r.status in FAILING for r in rows)
        suite = ET.SubElement(
            suites, "testsuite", name=protocol, tests=str(len(rows)), failures=str(n_fail), errors="0"
        )
        for r in rows:
            case = ET.SubElement(suite, "testcase", classname=f"{protocol}.{r.model}", name=_case_name(r))
            if r.status in FAILING:
                delta = "–" if r.delta is None else f"{r.delta:+.6g}"
                msg = (
                    f"{r.status}: baseline {r.baseline} current {r.current} delta {delta} "
                    f"tolerance {r.tolerance}"
                )
                ET.SubElement(case, "failure", message=msg, type=r.status).text = msg
        total += len(rows)
        fails += n_fail
    if report.failed and fails == 0:
        # the gate failed without a failing row (it compared nothing): CI panels must show red too
        suite = ET.SubElement(suites, "testsuite", name="gate", tests="1", failures="1", errors="0")
        case = ET.SubElement(suite, "testcase", classname="gate", name="compared something")
        msg = "the gate compared nothing: " + "; ".join(report.notes or ["no baseline entry matched"])
        ET.SubElement(case, "failure", message=msg, type="EMPTY").text = msg
        total += 1
        fails += 1
    if report.notes:
        out = ET.SubElement(suites, "system-out")
        out.text = "\n".join(report.notes)
    suites.set("tests", str(total))
    suites.set("failures", str(fails))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(report: CheckReport, path: str | Path) -> Path:
    from yonos_bench.core.atomic import write_text_atomic

    write_text_atomic(Path(path), report_junit(report))
    return Path(path)
