"""spandrel adapter: real architectures with random weights, loaded from files."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch
from safetensors.torch import save_file

from yonos_bench.core.errors import YonosError
from yonos_bench.core.weights import WeightsHashError
from yonos_bench.models import load_model
from yonos_bench.models.registry import parse_card


def test_rrdbnet_pth_matches_an_independent_basicsr_implementation(rrdb_pth):
    path, net = rrdb_pth
    m = load_model(path)
    assert m.scale == 4 and m.info["architecture"] == "ESRGAN" and m.name == "rrdb-tiny-x4"
    assert m.weights_digest == hashlib.sha256(path.read_bytes()).hexdigest()
    x = torch.rand(2, 3, 11, 14, generator=torch.Generator().manual_seed(0))
    y = m.upscale(x, seeds=[0, 1])
    with torch.no_grad():
        ref = net(x).clamp(0, 1)
    assert y.shape == (2, 3, 44, 56)
    assert 0.0 < float(ref.mean()) < 1.0 and float((ref > 0).float().mean()) > 0.5  # not all clamped
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)
    # deterministic and batch-independent
    torch.testing.assert_close(m.upscale(x[1:], seeds=[9]), y[1:], atol=1e-5, rtol=0)


def test_swinir_safetensors_pads_to_window_and_crops_back(tmp_path):
    from spandrel.architectures.SwinIR.__arch.SwinIR import SwinIR

    torch.manual_seed(0)
    net = SwinIR(
        upscale=4, img_size=16, window_size=4, img_range=1.0, depths=[1], embed_dim=12,
        num_heads=[2], mlp_ratio=2, upsampler="nearest+conv", resi_connection="1conv",
    )  # fmt: skip
    path = tmp_path / "swinir_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    m = load_model(path)
    assert m.info["architecture"] == "SwinIR" and m.scale == 4
    y = m.upscale(torch.rand(1, 3, 13, 18), seeds=[0])  # not a multiple of the window, below the minimum
    assert y.shape == (1, 3, 52, 72) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_tiling_equals_untiled_when_the_overlap_covers_the_receptive_field(rrdb_pth):
    path, _ = rrdb_pth  # one RRDB block: receptive radius ~19 LR pixels
    x = torch.rand(
        1, 3, 12, 80, generator=torch.Generator().manual_seed(1)
    )  # 5 tiles, each sees < 60 columns
    whole = load_model(path, options={"tile": 0}).upscale(x, seeds=[0])
    tiled = load_model(path, options={"tile": 16, "tile_overlap": 22}).upscale(x, seeds=[0])
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)
    seams = load_model(path, options={"tile": 16, "tile_overlap": 0}).upscale(x, seeds=[0])
    assert float((seams - whole).abs().max()) > 1e-3  # tiling really happened
    auto = load_model(path)  # tile null: automatic, only above 512x512 LR
    assert auto.tile_size(40, 36) == 0 and auto.tile_size(600, 600) == 512


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > PWNED",))


def test_pickle_that_needs_code_execution_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"params_ema": {"conv_first.weight": torch.zeros(1)}, "x": _Evil()}, path)
    with pytest.raises(YonosError, match=r"Refused to load .*evil\.pth: it needs arbitrary code to unpickle"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()


def test_unknown_architecture_and_non_sr_files(tmp_path):
    path = tmp_path / "mystery.safetensors"
    save_file({"foo.weight": torch.zeros(3, 3), "bar.bias": torch.zeros(3)}, path)
    with pytest.raises(
        YonosError, match=r"spandrel cannot identify the architecture of .*mystery\.safetensors"
    ):
        load_model(path)
    bad = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], bad)
    with pytest.raises(YonosError, match=r"does not hold a state dict \(found a list\)"):
        load_model(bad)
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(YonosError, match=r"Cannot read safetensors file"):
        load_model(trunc)


CARD = """\
name: tiny-rrdb
adapter: spandrel
scale: {scale}
steps: null
description: test
citation: test
license: test
weights:
  - {{name: tiny-rrdb-w, file: RRDB_tiny_x4.pth, url: "https://example.org/RRDB_tiny_x4.pth", sha256: {sha}}}
"""


def _card_setup(rrdb_pth, tmp_path, sha, scale=4):
    path, _ = rrdb_pth
    wd = tmp_path / "weights"
    (wd / "models").mkdir(parents=True)
    (wd / "models" / path.name).write_bytes(path.read_bytes())
    return parse_card(CARD.format(sha=sha, scale=scale), "tiny-rrdb.yaml", protocols=set()), wd


def test_card_with_pinned_sha256_loads(rrdb_pth, tmp_path):
    sha = hashlib.sha256(rrdb_pth[0].read_bytes()).hexdigest()
    card, wd = _card_setup(rrdb_pth, tmp_path, sha)
    m = load_model(card, weights_dir=wd, scale=4)
    assert m.weights_digest == sha and m.name == "tiny-rrdb"


def test_sha256_mismatch_is_refused_with_both_hashes(rrdb_pth, tmp_path):
    actual = hashlib.sha256(rrdb_pth[0].read_bytes()).hexdigest()
    wrong = "f" * 64
    card, wd = _card_setup(rrdb_pth, tmp_path, wrong)
    with pytest.raises(WeightsHashError) as e:
        load_model(card, weights_dir=wd)
    assert actual in str(e.value) and wrong in str(e.value)


def test_card_scale_differs_from_file(rrdb_pth, tmp_path):
    card, wd = _card_setup(rrdb_pth, tmp_path, "null", scale=2)
    with pytest.raises(YonosError, match=r"declares x2 but .*RRDB_tiny_x4\.pth is a x4 ESRGAN model"):
        load_model(card, weights_dir=wd)


def test_requested_scale_differs_from_file(rrdb_pth):
    from yonos_bench.models import ScaleMismatchError

    with pytest.raises(ScaleMismatchError, match=r"upscales x4 but the caller needs x8"):
        load_model(rrdb_pth[0], scale=8)
