"""The two JPEG codecs of the Real-ESRGAN stages: Pillow (CPU, protocols) and torchvision
(nvJPEG on CUDA; on CPU the same libjpeg-turbo defaults). On CPU they must agree exactly."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from yonos_bench.degradations import degrade
from yonos_bench.degradations.ops import jpeg, jpeg_codec_for


def _photo_like(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.avg_pool2d(torch.rand(1, 3, 2 * h, 2 * w, generator=g), 2)  # some structure


@pytest.mark.parametrize("hw", [(37, 53), (128, 128), (201, 97)])
@pytest.mark.parametrize("quality", [30, 60, 95])
def test_torchvision_codec_gives_pillows_bytes_and_pixels_on_cpu(hw, quality):
    from torchvision.io import encode_jpeg

    x = _photo_like(*hw, seed=quality)
    u8 = (x[0] * 255).round().to(torch.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=quality, subsampling=2,
                                                      optimize=False)  # fmt: skip
    assert bytes(encode_jpeg(u8, quality=quality).numpy()) == buf.getvalue()
    torch.testing.assert_close(jpeg(x, quality, "torchvision"), jpeg(x, quality, "pillow"), rtol=0, atol=0)


def test_realesrgan_lr_identical_with_either_codec_on_cpu():
    hr = _photo_like(96, 96, seed=1).repeat(3, 1, 1, 1).clamp(0, 1)
    a = degrade("realesrgan", hr, 4, [1, 2, 3], jpeg_codec="pillow").lr
    b = degrade("realesrgan", hr, 4, [1, 2, 3], jpeg_codec="torchvision").lr
    c = degrade("realesrgan", hr, 4, [1, 2, 3]).lr  # auto on CPU = Pillow: protocols unchanged
    assert torch.equal(a, b) and torch.equal(a, c)


def test_codec_choice_by_device_and_bad_names():
    assert jpeg_codec_for(torch.device("cpu")) == "pillow"
    assert jpeg_codec_for(torch.device("cuda", 0)) == "torchvision"
    assert jpeg_codec_for(torch.device("cpu"), "torchvision") == "torchvision"
    with pytest.raises(ValueError, match="jpeg codec must be one of"):
        jpeg_codec_for(torch.device("cpu"), "diffjpeg")
    with pytest.raises(ValueError, match="jpeg codec must be one of"):
        degrade("realesrgan", torch.zeros(1, 3, 96, 96), 4, [0], jpeg_codec="nope")
