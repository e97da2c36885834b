"""`speed` (breakdown adds up, result file readable by `table`), `check` through the CLI,
`table --with-paper`, and the sharding arithmetic."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.report.render import to_markdown
from yonos_bench.report.tables import build_table
from yonos_bench.runs.generate import Dist, chunks, my_chunks
from yonos_bench.runs.results import read_result

runner = CliRunner()


def test_speed_breakdown_adds_up_and_table_shows_it(tmp_path, write_run):
    from yonos_train.presets import build_pipeline

    pipe = tmp_path / "tiny-yonos"
    build_pipeline("tiny", scale=4).save_pretrained(pipe)
    results = tmp_path / "results"
    res = runner.invoke(app, ["speed", "-m", str(pipe), "--size", "128", "--steps", "1,2", "--batch-size", "2",
                              "--repeats", "3", "--device", "cpu", "--results", str(results)])  # fmt: skip
    assert res.exit_code == 0, res.output
    files = sorted(results.rglob("result.json"))
    assert [f.parent.name for f in files] == ["size128-steps1-bs2-fp32-cpu", "size128-steps2-bs2-fp32-cpu"]
    for f in files:
        d = read_result(f)
        t = d["timing"]
        assert len(t["seconds_per_image_all"]) == 3 and t["median_s_per_image"] <= t["p90_s_per_image"]
        assert t["images_per_second"] == pytest.approx(1 / t["median_s_per_image"])
        assert t["peak_memory_bytes"] > 0 and d["provenance"]["packages"]["torch"]
        parts = sum(d["stages"][k] for k in ("encode", "unet", "decode", "other"))
        assert parts == pytest.approx(t["median_s_per_image"], rel=0.10)
        assert min(d["stages"].values()) >= 0 and d["stages"]["unet"] > 0
    assert "stages of the median call" in res.output
    # `table` shows the measured s/img of a run result's model from the speed files.
    write_run(results, model="tiny-yonos", values={"psnr-y": [20.0, 21.0]}, steps=1)
    t = build_table(results)
    assert t.speed_label == "s/img @128² (speed)"
    assert t.speed_s_per_img == [read_result(files[0])["timing"]["median_s_per_image"]]
    assert "s/img @128² (speed)" in to_markdown(t)


def test_speed_bad_input(tmp_path):
    res = runner.invoke(
        app, ["speed", "-m", "bicubic", "--size", "66", "--device", "cpu", "--results", str(tmp_path)]
    )
    assert res.exit_code == 1 and "--size 66 is not a multiple" in res.output
    res = runner.invoke(
        app, ["speed", "-m", "bicubic", "--steps", "4", "--device", "cpu", "--results", str(tmp_path)]
    )
    assert res.exit_code == 1 and "takes no sampling steps" in res.output


def test_check_cli_gates_a_regression(tmp_path, write_run):
    results = tmp_path / "results"
    write_run(results, model="bicubic", values={"psnr-y": [25.0, 27.0], "lpips-alex": [0.2, 0.3]})
    base = tmp_path / "baseline.json"
    res = runner.invoke(
        app, ["check", "--results", str(results), "--baseline", str(base), "--write-baseline"]
    )
    assert res.exit_code == 0 and "1 cells" in res.output and base.is_file()
    res = runner.invoke(app, ["check", "--results", str(results), "--baseline", str(base)])
    assert res.exit_code == 0 and "PASSED" in res.output
    write_run(
        results, model="bicubic", values={"psnr-y": [24.0, 26.0], "lpips-alex": [0.2, 0.3]}
    )  # overwrite
    res = runner.invoke(app, ["check", "--results", str(results), "--baseline", str(base)])
    assert res.exit_code == 1 and "REGRESSION" in res.output and "FAILED" in res.output
    line = next(x for x in res.output.splitlines() if "REGRESSION" in x)
    assert "psnr-y ↑" in line and "-1" in line
    res = runner.invoke(
        app, ["check", "--results", str(results), "--baseline", str(base), "--tolerance", "psnr-y=1.5"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(base.read_text())
    data["entries"][0]["protocol_version"] = 0
    base.write_text(json.dumps(data))
    res = runner.invoke(app, ["check", "--results", str(results), "--baseline", str(base)])
    assert res.exit_code == 1 and "not comparable" in res.output and "Traceback" not in res.output


def test_table_with_paper_numbers(tmp_path, write_run):
    results = tmp_path / "results"
    write_run(results, model="yonos-x4", values={"psnr-y": [26.0, 26.5]}, steps=1, protocol="div2k-bicubic")
    write_run(results, model="yonos-x4", values={"psnr-y": [25.0, 25.5]}, steps=4, protocol="div2k-bicubic")
    t = build_table(results, with_paper=True)
    v1, v4 = t.rows[0].values
    assert v1.paper == 26.26 and v1.diff == pytest.approx(26.25 - 26.26)  # YONOS paper, Table 1, 1 step
    assert v4.paper is None  # the paper reports no 4-step number
    md = to_markdown(t)
    assert "26.25** (26.26, Δ -0.01)" in md


@pytest.mark.parametrize(("n", "batch", "world"), [(10, 3, 1), (10, 3, 2), (7, 2, 3), (5, 8, 4)])
def test_sharding_covers_each_chunk_exactly_once(n, batch, world):
    ids = [f"p{i}" for i in range(n)]
    all_chunks = chunks(ids, batch)
    assert [i for c in all_chunks for i in c] == list(range(n))
    assert all(len(c) == batch for c in all_chunks[:-1])
    owned = [k for r in range(world) for k in my_chunks(len(all_chunks), Dist(r, world))]
    assert sorted(owned) == list(range(len(all_chunks)))
