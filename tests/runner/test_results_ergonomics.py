"""Read-only commands on synthetic result files: results list|rm|compare, check --json/--junit,
plot's file naming and --output spelling, tracebacks turned into one message, display names."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from typer.testing import CliRunner

from yonos_bench.cli import app

runner = CliRunner()


def _two_cells(root, write_run):
    a = write_run(root, model="bicubic", values={"psnr-y": [20.0, 21.0, 22.0]})
    b = write_run(root, model="lanczos", values={"psnr-y": [20.5, 19.0, 22.0]})
    return a.parent, b.parent


def test_results_list_json_and_table(results_root, write_run):
    a, b = _two_cells(results_root, write_run)
    r = runner.invoke(app, ["results", "list", "--results", str(results_root), "--json"])
    assert r.exit_code == 0, r.output
    cells = json.loads(r.output)["cells"]
    assert {c["model"] for c in cells} == {"bicubic", "lanczos"}
    assert {c["cell"] for c in cells} == {
        "sample-v1/bicubic/stepsna-seed0-fp32",
        "sample-v1/lanczos/stepsna-seed0-fp32",
    }
    r = runner.invoke(app, ["results", "list", "--results", str(results_root), "-m", "lanczos"])
    assert (
        r.exit_code == 0 and "sample-v1/lanczos/stepsna-seed0-fp32" in r.output and "bicubic" not in r.output
    )


def test_results_compare_orders_worst_images_first(results_root, write_run):
    _two_cells(results_root, write_run)
    args = [
        "results",
        "compare",
        "sample-v1/bicubic/stepsna-seed0-fp32",
        "sample-v1/lanczos/stepsna-seed0-fp32",
    ]
    r = runner.invoke(app, [*args, "--results", str(results_root), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["metric"] == "psnr-y" and d["lower_better"] is False
    # PSNR higher is better: img001 lost 2 dB, img000 gained 0.5, img002 equal → img001 first
    assert [i["id"] for i in d["images"]] == ["img001", "img002", "img000"]
    assert d["images"][0]["delta"] == -2.0
    r = runner.invoke(app, [*args, "--results", str(results_root), "--metric", "lpips-alex"])
    assert r.exit_code == 1 and "not in both cells" in r.output


def test_results_rm_deletes_one_cell_and_names_unknown_ones(results_root, write_run):
    a, b = _two_cells(results_root, write_run)
    r = runner.invoke(app, ["results", "rm", "sample-v1/nope/x", "--results", str(results_root)])
    assert r.exit_code == 1 and "is not a result cell" in r.output and "sample-v1/bicubic" in r.output
    assert a.is_dir() and b.is_dir()
    r = runner.invoke(app, ["results", "rm", str(a), "--results", str(results_root)])
    assert r.exit_code == 0, r.output
    assert not a.exists() and not a.parent.exists() and b.is_dir()


def test_check_json_and_junit(results_root, write_run, tmp_path):
    _two_cells(results_root, write_run)
    base = tmp_path / "baseline.json"
    assert (
        runner.invoke(
            app, ["check", "--write-baseline", "--baseline", str(base), "--results", str(results_root)]
        ).exit_code
        == 0
    )
    # make bicubic regress
    write_run(results_root, model="bicubic", values={"psnr-y": [10.0, 10.0, 10.0]})
    junit = tmp_path / "ci" / "check.xml"
    (tmp_path / "ci").mkdir()
    r = runner.invoke(
        app,
        ["check", "--baseline", str(base), "--results", str(results_root), "--json", "--junit", str(junit)],
    )
    assert r.exit_code == 1
    d = json.loads(r.stdout)
    assert d["passed"] is False and d["failures"] == 1
    assert {(x["model"], x["status"]) for x in d["rows"]} == {("bicubic", "REGRESSION"), ("lanczos", "ok")}
    tree = ET.parse(junit).getroot()
    assert tree.tag == "testsuites" and tree.get("tests") == "2" and tree.get("failures") == "1"
    failures = tree.findall(".//testcase/failure")
    assert len(failures) == 1 and "REGRESSION" in failures[0].get("message")


def test_plot_names_files_like_sweep_steps_and_accepts_both_output_spellings(
    results_root, write_run, tmp_path
):
    for s, v in ((1, 20.0), (4, 22.0)):
        write_run(results_root, model="yonos-tiny-x4", steps=s, values={"psnr-y": [v, v + 1]})
    r = runner.invoke(app, ["plot", "--metric", "psnr-y", "--results", str(results_root)])
    assert r.exit_code == 0, r.output
    assert (results_root / "plots" / "sample-v1-psnr-y-vs-steps.png").is_file()  # sweep-steps' naming
    r = runner.invoke(
        app, ["plot", "--metric", "psnr-y", "--results", str(results_root), "-o", str(tmp_path / "a")]
    )
    assert r.exit_code == 0 and (tmp_path / "a.png").is_file()
    r = runner.invoke(
        app, ["plot", "--metric", "psnr-y", "--results", str(results_root), "--out", str(tmp_path / "b")]
    )
    assert r.exit_code == 0 and (tmp_path / "b.pdf").is_file()  # the old spelling still works
    assert "--out " not in runner.invoke(app, ["plot", "--help"]).output  # ... hidden


def test_plot_into_unwritable_place_is_one_message_not_a_traceback(results_root, write_run, monkeypatch):
    write_run(results_root, model="yonos-tiny-x4", steps=1, values={"psnr-y": [20.0, 21.0]})
    (results_root / "plots").write_text("a file where the plots folder goes")
    r = runner.invoke(app, ["plot", "--metric", "psnr-y", "--results", str(results_root)])
    assert r.exit_code == 1 and "Traceback" not in r.output and str(results_root / "plots") in r.output
    (results_root / "plots").unlink()
    import matplotlib.figure

    def denied(self, fname, **kw):  # a read-only results folder (root ignores chmod, so simulate it)
        raise PermissionError(13, "Permission denied", str(fname))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", denied)
    r = runner.invoke(app, ["plot", "--metric", "psnr-y", "--results", str(results_root)])
    assert r.exit_code == 1
    assert "Permission denied" in r.output and "Traceback" not in r.output and "--output" in r.output


def test_table_headers_use_display_names_ids_on_request(results_root, write_run):
    write_run(results_root, model="yonos-tiny-x4", values={"psnr-y": [20.0, 21.0]})
    write_run(results_root, model="yonos-tiny-x4-orig-decoder", values={"psnr-y": [19.0, 20.0]})
    write_run(results_root, model="my-own", values={"psnr-y": [18.0, 20.0]})
    md = runner.invoke(app, ["table", "--results", str(results_root)]).output
    header = md.splitlines()[0]
    assert "| YONOS-tiny x4 |" in header and "| YONOS-tiny x4, original decoder |" in header
    assert "| my-own |" in header  # no card: the id
    ids = runner.invoke(app, ["table", "--results", str(results_root), "--ids"]).output.splitlines()[0]
    assert "| yonos-tiny-x4 |" in ids and "| yonos-tiny-x4-orig-decoder |" in ids
    csv_text = runner.invoke(app, ["table", "--results", str(results_root), "-f", "csv"]).output
    assert "yonos-tiny-x4-orig-decoder,YONOS-tiny x4, original decoder" in csv_text.replace('"', "")


def test_seeds_of_one_cell_are_one_column_mean_pm_std(results_root, write_run):
    import statistics

    from yonos_bench.report.tables import build_table

    seeds = {0: [20.0, 22.0, 24.0], 1: [21.0, 23.0, 25.0], 2: [19.0, 21.0, 26.0]}
    for seed, vals in seeds.items():
        write_run(results_root, model="sd-sr-tiny-x4", steps=4, seed=seed, values={"psnr-y": vals})
    write_run(results_root, model="bicubic", values={"psnr-y": [10.0, 11.0, 12.0]})
    t = build_table(results_root, labels="id")
    assert [c.label for c in t.columns] == ["bicubic", "sd-sr-tiny-x4"]
    v = t.rows[0].values[1]
    means = [statistics.fmean(x) for x in seeds.values()]
    assert v.mean == statistics.fmean(means) and v.std == statistics.stdev(means) and v.n_seeds == 3
    assert v.rank == 1 and t.rows[0].values[0].std is None
    md = runner.invoke(app, ["table", "--results", str(results_root), "--ids"]).output
    assert f"**{v.mean:.2f}** ± {v.std:.4f}" in md and "standard deviation over 3 seeds" in md
    per_seed = runner.invoke(app, ["table", "--results", str(results_root), "--ids", "--per-seed"]).output
    header = per_seed.splitlines()[0]
    assert "sd-sr-tiny-x4 (seed 0)" in header and "sd-sr-tiny-x4 (seed 2)" in header and "±" not in per_seed
    csv_text = runner.invoke(app, ["table", "--results", str(results_root), "-f", "csv"]).output
    assert "std_over_seeds" in csv_text.splitlines()[0]
