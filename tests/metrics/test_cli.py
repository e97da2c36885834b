"""`yonos-bench metrics` and `yonos-bench weights` through Typer's CliRunner."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory, make_pairs):
    root = tmp_path_factory.mktemp("cli")
    make_pairs(root, n=5, size=64)
    return root


def test_metrics_list_shows_every_preset_with_weights_status():
    res = runner.invoke(app, ["metrics", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["id"]: r for r in json.loads(res.output)}
    for mid in (
        "psnr-y",
        "ssim-y",
        "psnr-rgb",
        "lpips-alex",
        "lpips-vgg",
        "dists",
        "fid-clean",
        "kid-clean",
        "musiq-koniq",
        "niqe",
        "clipiqa",
        "maniqa-koniq",
        "maniqa-pipal",
        "psnr-y-crop4",
    ):
        assert mid in rows
    assert rows["psnr-y"]["weights"] == "none needed" and rows["psnr-y"]["kind"] == "FR"
    assert rows["lpips-alex"]["weights"] == "missing: lpips-alex-head, torchvision-alexnet"
    assert rows["fid-clean"]["kind"] == "set" and rows["fid-clean"]["direction"] == "lower is better"
    table = runner.invoke(app, ["metrics", "list"])
    assert table.exit_code == 0 and "maniqa-pipal" in table.output


def test_metrics_compute_prints_intervals_and_writes_per_image_csv(folders, tmp_path):
    out = tmp_path / "per_image.csv"
    res = runner.invoke(
        app,
        [
            "metrics",
            "compute",
            "--sr",
            str(folders / "sr"),
            "--hr",
            str(folders / "hr"),
            "--metrics",
            "psnr-y,ssim-y,lpips-alex",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "5 pairs" in res.output
    assert res.output.count("higher is better") == 2
    assert "lpips-alex  unavailable: Missing weight files:" in res.output
    rows = list(csv.DictReader(out.open()))
    assert [r["pair_id"] for r in rows] == sorted(p.stem for p in (folders / "sr").iterdir())
    assert set(rows[0]) == {"pair_id", "psnr-y", "ssim-y"} and 20 < float(rows[0]["psnr-y"]) < 45


def test_metrics_compute_json_is_machine_readable(folders, tmp_path):
    res = runner.invoke(
        app,
        [
            "metrics",
            "compute",
            "--sr",
            str(folders / "sr"),
            "--hr",
            str(folders / "hr"),
            "--metrics",
            "psnr-y, ssim-y",
            "--json",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    s = data["summary"]["psnr-y"]
    assert s["n"] == 5 and s["ci_low"] < s["mean"] < s["ci_high"] and s["lower_better"] is False
    assert data["preset_args"]["ssim-y"]["color_space"] == "ycbcr"
    assert data["per_image_csv"] == str(tmp_path / "x.csv") and data["unavailable"] == {}


def test_metrics_compute_errors_are_one_clear_message(folders, tmp_path):
    (tmp_path / "hr").mkdir()
    res = runner.invoke(
        app, ["metrics", "compute", "--sr", str(folders / "sr"), "--hr", str(tmp_path / "hr")]
    )
    assert (
        res.exit_code == 1
        and "do not match by file name: 5 SR image(s) without HR: astronaut_000" in res.output
    )
    res = runner.invoke(app, ["metrics", "compute", "--sr", str(folders / "sr"), "--metrics", "psnr-why"])
    assert res.exit_code == 1 and "Unknown metric 'psnr-why'. Did you mean: psnr-y" in res.output
    res = runner.invoke(
        app,
        [
            "metrics",
            "compute",
            "--sr",
            str(folders / "sr"),
            "--hr",
            str(folders / "hr"),
            "--metrics",
            "psnr-y,lpips-alex",
            "--strict",
            "--out",
            str(tmp_path / "s.csv"),
        ],
    )
    assert res.exit_code == 1 and "Metric lpips-alex cannot run (strict mode)" in res.output
    assert "Traceback" not in res.output


def test_weights_status_and_fetch(tmp_path):
    res = runner.invoke(app, ["weights", "status", "--weights-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["weights_dir"] == str(tmp_path)
    clip = next(f for f in data["files"] if f["name"] == "clip-rn50")
    assert clip["state"] == "missing" and clip["path"] == str(tmp_path / "hub" / "clip" / "RN50.pt")
    assert clip["url"].endswith(f"/{clip['sha256_expected']}/RN50.pt") and clip["used_by"] == ["clipiqa"]
    text = runner.invoke(app, ["weights", "status", "--weights-dir", str(tmp_path)])
    n = len(data["files"])
    assert f"0 of {n} present" in text.output
    fetch_line = text.output.splitlines()[-1]
    assert fetch_line.startswith("Fetch on a connected machine: yonos-bench weights fetch ")
    assert " cleanfid-inception " in fetch_line and fetch_line.endswith(f"--weights-dir {tmp_path}")
    res = runner.invoke(app, ["weights", "fetch", "no-such-file", "--weights-dir", str(tmp_path)])
    assert res.exit_code == 1 and "Unknown weight file 'no-such-file'" in res.output
