"""`yonos-bench models list|show` through Typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.models.registry import list_cards

runner = CliRunner()


def test_models_list_shows_every_card_with_weights_status(tmp_path):
    r = runner.invoke(app, ["models", "list", "--weights-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert set(rows) == {c.name for c in list_cards()}
    assert rows["real-esrgan-x4plus"] == {
        "name": "real-esrgan-x4plus", "display_name": "Real-ESRGAN+", "adapter": "spandrel",
        "scale": 4, "steps": None, "weights": "missing", "reported": 12,
    }  # fmt: skip
    assert rows["bicubic"]["weights"] == "none" and rows["p2l"]["weights"] == "paper-only"
    assert rows["seesr"]["weights"] == "outputs" and rows["stablesr"]["weights"] == "external" and rows["ldm-x4"]["steps"] == 200
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "RealESRGAN_x4plus.pth").write_bytes(b"x")
    r = runner.invoke(app, ["models", "list", "--weights-dir", str(tmp_path), "--json"])
    assert {row["name"]: row for row in json.loads(r.output)}["real-esrgan-x4plus"]["weights"] == "present"


def test_models_list_table():
    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0, r.output
    for name in ("yonos-x8", "sd-x4-upscaler", "gml-dps", "swinir-real-x4"):
        assert name in r.output
    assert "paper-only = published numbers only" in r.output


def test_models_show(tmp_path):
    r = runner.invoke(app, ["models", "show", "ldm-x4", "--weights-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["hf_repo"]["repo"] == "CompVis/ldm-super-resolution-4x-openimages"
    assert d["hf_repo"]["folder"] == str(tmp_path / "models" / "ldm-super-resolution-4x-openimages")
    assert {w["present"] for w in d["weight_files"]} == {False}
    assert {"protocol": "div2k-real", "metric": "fid-clean", "label": "FID", "steps": 200, "value": 26.47,
            "source": "YONOS-SR paper Table 1"}.items() <= d["reported_numbers"][0].items()  # fmt: skip
    r = runner.invoke(app, ["models", "show", "yonos-x4"])
    assert r.exit_code == 0, r.output
    assert (
        "YONOS_X4_PIPELINE" in r.output
        and "missing" in r.output
        and "Numbers reported for yonos-x4" in r.output
    )


def test_models_show_unknown_name_is_one_clean_error():
    r = runner.invoke(app, ["models", "show", "stable-sr"])
    assert r.exit_code == 1
    assert "Unknown model 'stable-sr'. Did you mean: stablesr" in r.output
    assert "Traceback" not in r.output
