"""FeMaSR natively: random weights in the official release layout, through the femasr card."""

from __future__ import annotations

import pytest
import torch

from yonos_bench.core.errors import YonosError
from yonos_bench.models import load_model

pytest.importorskip("spandrel_extra_arches")  # the `femasr` extra (part of `dev`)


def _official_like_net():
    from spandrel_extra_arches.architectures.FeMaSR import FeMaSR

    torch.manual_seed(0)
    # the hyper-parameters of the authors' inference_femasr.py for -s 4
    return FeMaSR(codebook_params=[[32, 1024, 512]], LQ_stage=True, scale_factor=4).eval()


@pytest.fixture(scope="module")
def femasr_weights(tmp_path_factory):
    """A weights folder holding FeMaSR_SRX4_model_g.pth as the authors save it:
    {'params': state_dict} with the training-only keys the release file also carries."""
    net = _official_like_net()
    sd = dict(net.state_dict())
    sd["conv_semantic.0.weight"] = torch.randn(512, 512, 1, 1)
    sd["conv_semantic.0.bias"] = torch.randn(512)
    sd["vgg_feat_extractor.vgg_net.0.weight"] = torch.randn(64, 3, 3, 3)
    root = tmp_path_factory.mktemp("femasr-weights")
    (root / "models").mkdir()
    torch.save({"params": sd}, root / "models" / "FeMaSR_SRX4_model_g.pth")
    return root, net


def _authors_test(net, x):
    """FeMaSRNet.test as in chaofengc/FeMaSR: mirror-pad to the next multiple of 16
    strictly above the size, run, crop (written here from the authors' description)."""
    h, w = x.shape[-2:]
    hp, wp = (h // 16 + 1) * 16, (w // 16 + 1) * 16
    rows = torch.cat([x, x.flip(-2)], -2)[..., :hp, :]
    both = torch.cat([rows, rows.flip(-1)], -1)[..., :wp]
    with torch.no_grad():
        return net(both)[..., : 4 * h, : 4 * w]


def test_femasr_card_loads_the_release_layout_and_pads_like_the_authors(femasr_weights):
    root, net = femasr_weights
    m = load_model("femasr", weights_dir=root, scale=4)
    assert m.scale == 4 and m.info["architecture"] == "FeMaSR" and m.info["pad"] == "femasr"
    assert not m.supports_steps and len(m.weights_digest) == 64
    x = torch.rand(1, 3, 20, 16, generator=torch.Generator().manual_seed(1))  # 16 = a multiple: padded anyway
    y = m.upscale(x, seeds=[0])
    ref = _authors_test(net, x).clamp(0, 1)
    assert y.shape == (1, 3, 80, 64)
    torch.testing.assert_close(y, ref, atol=1e-4, rtol=0)
    # spandrel's own padding (reflect, only up to a multiple) gives a different image
    m.pad = None
    plain = m.upscale(x, seeds=[0])
    assert float((plain - y).abs().max()) > 1e-3


def test_femasr_without_the_extra_is_one_clear_message(femasr_weights, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_extra(name, *a, **k):
        if name.startswith("spandrel_extra_arches"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_extra)
    with pytest.raises(
        YonosError,
        match=r"'femasr' needs the architectures of spandrel-extra-arches: pip install 'yonos-bench\[femasr\]'",
    ):
        load_model("femasr", weights_dir=femasr_weights[0])
