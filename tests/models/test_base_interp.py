"""Shared adapter checks, load_model resolution, and the interpolation baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from yonos_bench.core.errors import UnknownNameError, YonosError
from yonos_bench.degradations import bicubic_resize
from yonos_bench.models import ScaleMismatchError, load_model, require_scale
from yonos_bench.models.interp import lanczos_matrix, lanczos_resize


def _lr(b=2, h=9, w=13, seed=0):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_bicubic_equals_the_degradation_module_and_is_size_exact():
    m = load_model("bicubic")
    x = _lr()
    y = m.upscale(x, seeds=[0, 1])
    assert y.shape == (2, 3, 36, 52) and y.dtype == torch.float32
    ref = bicubic_resize(x, scale=4).clamp(0, 1)
    assert torch.equal(y, ref)
    assert m.weights_digest == "none" and not m.supports_steps and m.default_steps is None


def test_bicubic_pixel_centre_convention_on_a_ramp():
    # MATLAB imresize maps output pixel j (0-based) to input coordinate (j + 0.5)/s - 0.5;
    # Keys' cubic reproduces linear functions exactly, so away from the borders a ramp
    # v[i] = i/100 must come out as ((j + 0.5)/4 - 0.5)/100.
    w = 20
    x = (torch.arange(w, dtype=torch.float32) / 100).expand(1, 3, 6, w).contiguous()
    y = load_model("bicubic").upscale(x, seeds=[0])
    j = torch.arange(4 * w, dtype=torch.float64)
    want = ((j + 0.5) / 4 - 0.5) / 100
    inner = slice(8, 4 * w - 8)
    torch.testing.assert_close(y[0, 0, 10, inner].double(), want[inner], atol=1e-6, rtol=0)


def test_bicubic_keeps_a_constant_image_constant():
    x = torch.full((1, 3, 7, 5), 0.25)
    y = load_model("bicubic").upscale(x, seeds=[3])
    assert torch.allclose(y, torch.full_like(y, 0.25), atol=1e-6)


def test_lanczos_matches_pillow_float_resampling():
    rng = np.random.default_rng(0)
    img = rng.random((7, 11)).astype(np.float32)
    ref = np.asarray(Image.fromarray(img, mode="F").resize((44, 28), Image.Resampling.LANCZOS))
    ours = lanczos_resize(torch.from_numpy(img)[None, None], (28, 44))[0, 0].numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-6)
    m = lanczos_matrix(11, 44)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)  # taps renormalised at borders


def test_lanczos_adapter_clamps_and_takes_any_scale():
    m = load_model("lanczos", scale=3)
    x = (torch.rand(1, 3, 6, 6) > 0.5).float()  # hard edges: Lanczos overshoots
    y = m.upscale(x, seeds=[0])
    assert y.shape == (1, 3, 18, 18) and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert m.scale == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(lr=torch.rand(2, 4, 5, 5), seeds=[0, 1]), r"lr: expected shape \(B, 3, h, w\)"),
        (dict(lr=torch.rand(2, 3, 5, 5) * 2, seeds=[0, 1]), r"lr: values must lie in \[0, 1\]"),
        (dict(lr=torch.zeros(2, 3, 5, 5, dtype=torch.uint8), seeds=[0, 1]), r"lr: expected a floating-point"),
        (dict(lr=torch.full((1, 3, 5, 5), float("nan")), seeds=[0]), r"lr: contains NaN"),
        (dict(lr=torch.rand(2, 3, 5, 5), seeds=[0]), r"seeds: got 1 seeds for a batch of 2"),
        (dict(lr=torch.rand(1, 3, 5, 5), seeds=[-1]), r"seeds: each seed must be an int"),
        (dict(lr=torch.rand(1, 3, 5, 5), seeds=7), r"seeds: expected one int per image"),
        (
            dict(lr=torch.rand(1, 3, 5, 5), seeds=[0], steps=4),
            r"steps: model 'bicubic' takes no sampling steps",
        ),
        (
            dict(lr=torch.rand(1, 3, 5, 5), seeds=[0], names=["a", "b"]),
            r"names: got 2 names for a batch of 1",
        ),
    ],
)
def test_bad_upscale_arguments(kwargs, message):
    m = load_model("bicubic")
    lr = kwargs.pop("lr")
    with pytest.raises(ValueError, match=message):
        m.upscale(lr, **kwargs)


def test_numpy_integer_seeds_accepted():
    y = load_model("bicubic").upscale(_lr(b=1), seeds=[np.int64(5)])
    assert y.shape[0] == 1


def test_scale_mismatch_is_a_clear_error_before_loading():
    # real-esrgan-x4plus has no weights here: the scale check comes first.
    with pytest.raises(ScaleMismatchError, match=r"'real-esrgan-x4plus' upscales x4 but x8 is needed"):
        load_model("real-esrgan-x4plus", scale=8)
    m = load_model("bicubic")
    with pytest.raises(ScaleMismatchError, match=r"upscales x4 but the protocol needs x8"):
        require_scale(m, 8)


def test_paper_only_and_unknown_models():
    with pytest.raises(YonosError, match=r"'p2l' is a paper-only row: no code or weights are wrapped"):
        load_model("p2l")
    with pytest.raises(
        UnknownNameError, match=r"Unknown model 'bicubik'\. Did you mean: bicubic.*or give the path"
    ):
        load_model("bicubik")


def test_missing_weights_message_names_file_url_and_fetch_command(tmp_path):
    from yonos_bench.core.errors import WeightsMissingError

    with pytest.raises(WeightsMissingError) as e:
        load_model("real-esrgan-x4plus", weights_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "models" / "RealESRGAN_x4plus.pth") in msg
    assert "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth" in msg
    assert "yonos-bench weights fetch realesrgan-x4plus" in msg
    with pytest.raises(WeightsMissingError, match=r"(?s)RealSR_DF2K_JPEG\.pth.*Google Drive"):
        load_model("realsr-x4", weights_dir=tmp_path)


def test_option_overrides_are_validated():
    with pytest.raises(
        Exception, match=r"unknown key 'options\.methd' for adapter 'interp'\. Did you mean: method"
    ):
        load_model("bicubic", options={"methd": "lanczos"})
    m = load_model("bicubic", options={"method": "lanczos"})
    assert m.info["method"] == "lanczos"


def test_bad_device_and_dtype():
    with pytest.raises(ValueError, match="dtype: expected one of fp32, fp16, bf16"):
        load_model("bicubic", dtype="fp64")
    with pytest.raises(ValueError, match="device: not a torch device"):
        load_model("bicubic", device="gpu0")
