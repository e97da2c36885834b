"""CLI: protocols list/show/validate/prepare and data status via Typer's CliRunner."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from yonos_bench.cli import app


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # Rich tables: no folding inside URLs
    runner = CliRunner()

    def _run(*args):
        return runner.invoke(app, list(args))

    return _run


def test_protocols_list_shows_all_ten(run):
    r = run("protocols", "list")
    assert r.exit_code == 0, r.output
    for name in ("div2k-real", "div2k-real-regen", "div2k-bicubic", "div2k-bicubic-x8", "realsr", "drealsr",
                 "dped", "imagenet-x8", "ffhq-x8", "sample", "realsr-recut", "drealsr-recut", "dped-recut",
                 "ffhq-x8-60k"):  # fmt: skip
        assert f" {name} " in r.output


def test_protocols_show_and_json(run):
    r = run("protocols", "show", "drealsr-recut")
    assert r.exit_code == 0, r.output
    assert (
        "DRealSR/Test_x4/test_HR/*.png (93 HR images)" in r.output and "center_crop: LR 128x128" in r.output
    )
    r = run("protocols", "show", "sample", "--json")
    d = json.loads(r.output)
    assert d["name"] == "sample" and d["pairs"]["per_image"] == 30 and len(d["spec_sha256"]) == 64


def test_unknown_protocol_exits_1_with_did_you_mean(run):
    r = run("protocols", "show", "realsrr")
    assert r.exit_code == 1
    assert "Unknown protocol 'realsrr'. Did you mean: realsr" in r.output and "Traceback" not in r.output


def test_validate_ok_and_bad_file(run, tmp_path, synth):
    r = run("protocols", "validate")
    assert r.exit_code == 0 and r.output.startswith("19 protocol spec(s) valid: div2k-bicubic, ")
    spec = synth.base_spec("bad")
    spec["metrics"] = "psnr-y"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    r = run("protocols", "validate", str(path))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert str(path) in r.output and "key 'metrics' must be list of string" in r.output
    path.write_text("name: bad\n  version: 1\n")
    r = run("protocols", "validate", str(path))
    assert r.exit_code == 1 and "malformed YAML at line 2" in r.output


def test_prepare_sample_json_then_verify(run, tmp_path):
    r = run("protocols", "prepare", "sample", "--data-root", str(tmp_path / "a"), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    # the same digest as the library test pins for any fresh data root on any machine
    assert out["digest"] == "304bc3ab41bc1ad7d74ed9c831c594d740932e578d8965b69c4b870e947c6020"
    assert out["pairs"] == 210 and out["action"] == "prepared"
    assert out["path"] == str(tmp_path / "a" / "prepared" / "sample-v1")
    r = run("protocols", "prepare", "sample", "--data-root", str(tmp_path / "a"))
    assert r.exit_code == 0 and "already prepared (all file hashes verified)" in r.output
    assert out["digest"] in r.output


def test_prepare_missing_dataset_exits_1_with_one_paragraph(run):
    r = run("protocols", "prepare", "div2k-bicubic", "--data-root", "/nonexistent")
    assert r.exit_code == 1 and "Traceback" not in r.output
    msg = r.output.strip()
    assert msg.startswith("Error: Protocol 'div2k-bicubic' needs DIV2K validation")
    assert "DIV2K/DIV2K_valid_HR/*.png (100 HR images)" in msg
    assert "https://data.vision.ee.ethz.ch/cvl/DIV2K/" in msg and "\n\n" not in msg


def test_data_status_reports_missing_with_urls(run, tmp_path):
    r = run("data", "status", "--data-root", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    rows = {d["protocol"]: d for d in json.loads(r.output)["protocols"]}
    assert len(rows) == 19 and rows["sample"]["state"] == "embedded"
    assert {rows[n]["state"] for n in ("sample-x2", "sample-x8", "sample-dist-x4", "sample-dist-x8")} == {"embedded"}
    assert rows["imagenet-x8"] == {
        "protocol": "imagenet-x8",
        "state": "missing",
        "found": None,
        "expected": 10000,
        "layout": "ImageNet/val_10k/*/*.JPEG (10000 HR images)",
        "url": "https://github.com/NVlabs/I2SB",
        "prepared_digest": None,
        "problem": f"{tmp_path / 'ImageNet' / 'val_10k'} does not exist",
    }
    r = run("data", "status", "--data-root", str(tmp_path))
    assert r.exit_code == 0
    for name, d in rows.items():
        assert name in r.output
        if d["url"]:
            assert d["url"] in r.output


def test_data_status_counts_found_vs_expected(run, tmp_path, synth):
    hr = tmp_path / "DRealSR" / "Test_x4" / "test_HR"
    for i in range(5):
        synth.save(hr / f"DSC_{i:04d}_x1.png", synth.coord_image(8, 8))
    r = run("data", "status", "--data-root", str(tmp_path), "--json")
    row = next(d for d in json.loads(r.output)["protocols"] if d["protocol"] == "drealsr-recut")
    assert (row["state"], row["found"], row["expected"]) == ("incomplete", 5, 93)
    assert "found 5 HR images matching" in row["problem"] and "expected 93" in row["problem"]
