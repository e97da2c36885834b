"""Model cards: every shipped card validates, carries the papers' numbers exactly, and bad
cards fail with messages naming the file and the key."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from yonos_bench.core.errors import SpecError, UnknownNameError
from yonos_bench.models import load_card
from yonos_bench.models.registry import cards_dir, list_cards, load_registry, parse_card

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "reference"
COPY = Path(__file__).parent / "data"
CSVS = ("paper_tables.csv", "peer_numbers.csv")

# The required cards (plus the ablation rows and peers, which the CSVs need).
REQUIRED = [
    "bicubic", "lanczos", "real-esrgan-x4plus", "bsrgan-x4", "realsr-x4", "swinir-real-x4", "ldm-x4",
    "sd-x4-upscaler", "stablesr", "resshift", "sinsr", "osediff", "dasr", "femasr", "yonos-x4", "yonos-x8",
    "sd-sr-x4", "sd-sr-x8", "ldps", "gml-dps", "psld", "ldir", "p2l",
]  # fmt: skip

# How the tables name each system -> card (independent of the cards' own paper_names).
METHOD_TO_CARD = {
    "RealSR": "realsr-x4", "BSRGAN": "bsrgan-x4", "DASR": "dasr", "Real-ESRGAN+": "real-esrgan-x4plus",
    "FeMaSR": "femasr", "LDM": "ldm-x4", "ResShift": "resshift", "StableSR": "stablesr", "LDPS": "ldps",
    "GML-DPS": "gml-dps", "PSLD": "psld", "LDIR": "ldir", "P2L": "p2l", "DiffBIR": "diffbir",
    "SeeSR": "seesr", "PASD": "pasd", "SinSR": "sinsr", "OSEDiff": "osediff", "AddSR": "addsr",
    "SUPIR": "supir", "TSD-SR": "tsd-sr",
}  # fmt: skip
TABLE3 = {
    "SD-SR (standard), original decoder": "sd-sr-x{s}",
    "scale distillation, original decoder": "yonos-x{s}-orig-decoder",
    "SD-SR (standard), fine-tuned decoder": "sd-sr-x{s}-ft-decoder",
    "scale distillation, fine-tuned decoder (YONOS)": "yonos-x{s}",
}
METRIC_IDS = {
    "FID": "fid-clean", "LPIPS": "lpips-alex", "PSNR": "psnr-y", "SSIM": "ssim-y", "MUSIQ": "musiq-koniq",
    "DISTS": "dists", "NIQE": "niqe", "MANIQA": "maniqa-koniq", "CLIPIQA": "clipiqa",
    "seconds_per_image": "seconds-per-image",
}  # fmt: skip
PROTOCOL_NAMES = {"div2k-bicubic-x4": "div2k-bicubic"}  # Table 3's x4 label is our div2k-bicubic


def _csv(name: str) -> list[dict]:
    path = SHARED / name if (SHARED / name).is_file() else COPY / name
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _expected_rows():
    """(card, protocol, metric id, label, steps, value, source, note) for every CSV row."""
    rows = []
    for r in _csv("paper_tables.csv"):
        if r["table"] == "table3":
            card = TABLE3[r["method"]].format(s=8 if r["protocol"].endswith("x8") else 4)
        elif r["method"] == "YONOS":
            card = "yonos-x8" if r["table"] == "table2" else "yonos-x4"
        else:
            card = METHOD_TO_CARD[r["method"]]
        source = f"YONOS-SR paper Table {r['table'].removeprefix('table')}"
        rows.append((card, PROTOCOL_NAMES.get(r["protocol"], r["protocol"]), METRIC_IDS[r["metric"]],
                     r["metric"], int(r["steps"]) if r["steps"] else None, float(r["value"]), source, r["note"]))  # fmt: skip
    for r in _csv("peer_numbers.csv"):
        rows.append((METHOD_TO_CARD[r["method"]], r["protocol"], METRIC_IDS[r["metric"]], r["metric"],
                     int(r["steps"]) if r["steps"] else None, float(r["value"]), r["source"], ""))  # fmt: skip
    return rows


def test_every_card_validates_and_required_cards_exist():
    cards = {c.name: c for c in list_cards()}
    assert set(REQUIRED) <= set(cards)
    assert len(cards) == len(list(cards_dir().glob("*.yaml")))
    for c in cards.values():
        assert c.file.endswith(f"{c.name}.yaml")
        assert c.description and c.citation and c.license
    assert {cards[n].adapter for n in ("ldps", "gml-dps", "psld", "ldir", "p2l")} == {"paper-only"}
    for n in ("stablesr", "resshift", "sinsr", "osediff", "dasr"):
        assert cards[n].adapter == "command" and cards[n].setup is not None
    assert cards["femasr"].adapter == "spandrel" and cards["femasr"].options["extra_arches"]
    assert cards["yonos-x8"].scale == 8 and cards["sd-sr-x8"].pipeline.env == "SD_SR_X8_PIPELINE"


@pytest.mark.parametrize("name", CSVS)
def test_committed_csv_copy_equals_the_original(name):
    if not (SHARED / name).is_file():
        pytest.skip(f"{SHARED / name} not present (the committed copy is used instead)")
    assert (COPY / name).read_bytes() == (SHARED / name).read_bytes()


def test_reported_numbers_equal_the_csv_values_exactly():
    expected = _expected_rows()
    assert len(expected) == 172 + 232  # every row of both CSVs
    cards = {c.name: c for c in list_cards()}
    actual = [
        (c.name, r.protocol, r.metric, r.label, r.steps, r.value, r.source, r.note)
        for c in cards.values()
        for r in c.reported
    ]
    assert sorted(actual, key=repr) == sorted(expected, key=repr)


def test_paper_names_and_lookup():
    c = load_card("real-esrgan-x4plus")
    assert c.paper_names == ("Real-ESRGAN+",)
    [fid] = c.reported_for("div2k-real", "fid-clean")
    assert fid.value == 37.64 and fid.steps is None
    assert [r.steps for r in load_card("addsr").reported_for("div2k-real", "fid-clean")] == [1, 4]


def test_weight_files_and_hf_repos():
    w = load_card("real-esrgan-x4plus").weights[0]
    assert w.url == "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth"
    assert w.subdir == "models" and w.used_by == ("real-esrgan-x4plus",) and w.sha256 is None
    ldm = load_card("ldm-x4")
    assert (
        ldm.hf_repo.repo == "CompVis/ldm-super-resolution-4x-openimages" and len(ldm.hf_repo.revision) == 40
    )
    names = {x.name for x in ldm.weights}
    assert "ldm-x4/unet/diffusion_pytorch_model.bin" in names
    unet = next(x for x in ldm.weights if x.name == "ldm-x4/unet/diffusion_pytorch_model.bin")
    assert unet.subdir == "models/ldm-super-resolution-4x-openimages/unet"
    assert unet.url.endswith(f"/resolve/{ldm.hf_repo.revision}/unet/diffusion_pytorch_model.bin")
    # weight registry of the metrics helper sees the model files too
    from yonos_bench.catalog import all_weight_files

    assert {"realesrgan-x4plus", "sd-x4-upscaler/unet/diffusion_pytorch_model.safetensors"} <= {
        x.name for x in all_weight_files()
    }


def test_weights_state(tmp_path):
    card = load_card("real-esrgan-x4plus")
    assert card.weights_state(tmp_path) == "missing"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "RealESRGAN_x4plus.pth").write_bytes(b"x")
    assert card.weights_state(tmp_path) == "present"
    assert load_card("bicubic").weights_state(tmp_path) == "none"
    assert load_card("p2l").weights_state(tmp_path) == "paper-only"
    y = load_card("yonos-x4")
    assert y.weights_state(tmp_path) == "missing"
    (tmp_path / "models" / "yonos-x4").mkdir()
    (tmp_path / "models" / "yonos-x4" / "model_index.json").write_text("{}")
    assert y.weights_state(tmp_path) == "present"


def test_unknown_card_name_did_you_mean():
    with pytest.raises(
        UnknownNameError, match=r"Unknown model 'real-esrgan'\. Did you mean: real-esrgan-x4plus"
    ):
        load_card("real-esrgan")


def test_listing_imports_no_backend():
    code = (
        "import sys; from yonos_bench.models import list_cards; list_cards(); "
        "print(sorted(m for m in ('torch', 'diffusers', 'spandrel', 'pyiqa', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------- validation errors

GOOD = """\
name: my-model
adapter: spandrel
scale: 4
steps: null
description: A test card.
citation: Nobody 2024.
license: MIT.
weights:
  - {name: my-w, file: my.pth, url: "https://example.org/my.pth", sha256: null}
reported:
  - {protocol: realsr, metric: lpips-alex, label: LPIPS, value: 0.3, steps: null, source: "T1"}
"""


def _parse(text):
    return parse_card(text, "my-model.yaml")


def test_good_card_parses():
    c = _parse(GOOD)
    assert c.name == "my-model" and c.weights[0].filename == "my.pth" and c.reported[0].value == 0.3


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "license: MIT.",
            "licence: MIT.",
            r"my-model\.yaml: unknown key 'licence' \(line \d+\)\. .*Did you mean: license",
        ),
        ("scale: 4", "scale: four", r"my-model\.yaml: key 'scale' must be an integer, got str 'four'"),
        ("scale: 4", "scale: true", r"key 'scale' must be an integer, got bool"),
        ("steps: null\n", "", r"missing required key 'steps'"),
        (
            "adapter: spandrel",
            "adapter: spandrell",
            r"key 'adapter': Unknown adapter 'spandrell'\. Did you mean: spandrel",
        ),
        ("steps: null", "steps: 4", r"key 'steps' must be null: adapter 'spandrel' takes no sampling steps"),
        ("sha256: null", "sha256: abc", r"key 'weights\[0\]\.sha256' must be 64 lowercase hex digits"),
        (
            "metric: lpips-alex",
            "metric: lpips",
            r"key 'reported\[0\]\.metric': Unknown metric 'lpips'\. Did you mean",
        ),
        (
            "protocol: realsr",
            "protocol: realsr-v2",
            r"key 'reported\[0\]\.protocol': Unknown protocol 'realsr-v2'",
        ),
        ("value: 0.3", "value: high", r"key 'reported\[0\]\.value' must be a number"),
        ("name: my-model", "name: My Model", r"key 'name' must match"),
        ("weights:\n", "options: {tile: -1}\nweights:\n", r"key 'options\.tile' must be >= 0, got -1"),
        (
            "weights:\n",
            "options: {tiles: 8}\nweights:\n",
            r"unknown key 'options\.tiles' \(line \d+\) for adapter 'spandrel'\. Did you mean: tile\?",
        ),
        (
            'url: "https://example.org/my.pth"',
            "url: null",
            r"key 'weights\[0\]\.note' is required when url is null",
        ),
    ],
)
def test_bad_cards_name_file_and_key(old, new, message):
    assert old in GOOD
    with pytest.raises(SpecError, match=message):
        _parse(GOOD.replace(old, new))


def test_duplicate_reported_rows_and_missing_weights_rejected():
    row = '  - {protocol: realsr, metric: lpips-alex, label: LPIPS, value: 0.3, steps: null, source: "T1"}\n'
    with pytest.raises(SpecError, match=r"key 'reported\[1\]' repeats reported\[0\]"):
        _parse(GOOD + row)
    no_weights = GOOD.split("weights:")[0] + "reported: []\n"
    with pytest.raises(SpecError, match=r"key 'weights' is required for adapter 'spandrel'"):
        _parse(no_weights)


def test_malformed_yaml_names_the_line():
    with pytest.raises(SpecError, match=r"my-model\.yaml: malformed YAML at line \d+"):
        _parse("name: [unclosed\n")


def test_duplicate_names_and_file_stem_rejected(tmp_path):
    (tmp_path / "my-model.yaml").write_text(GOOD)
    assert set(load_registry(tmp_path)) == {"my-model"}
    (tmp_path / "other.yaml").write_text(GOOD)
    with pytest.raises(
        SpecError, match=r"Duplicate model name 'my-model'|key 'name' is 'my-model' but the file"
    ):
        load_registry(tmp_path)
    (tmp_path / "other.yaml").unlink()
    (tmp_path / "z-copy.yml").write_text(GOOD)
    with pytest.raises(SpecError, match="Duplicate model name 'my-model'"):
        load_registry(tmp_path)
