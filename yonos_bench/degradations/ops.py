"""Image operations of the Real-ESRGAN pipeline (USM sharpening, per-sample blur, noise, JPEG).

Batch independence: an image's result must not depend on the other images of its batch.
Element-wise ops guarantee that by construction. Convolutions on CPU run as one depthwise
(grouped) convolution over all ``B x C`` planes: oneDNN computes each plane identically
whatever the group count (``tests/degradations`` checks it bit for bit) and it is ~2.5x
faster than looping. On other devices (cuDNN may pick another algorithm for another batch
size) the convolution loops over images, so each call sees the same shape.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

#: Real-ESRGAN's USMSharp: cv2.getGaussianKernel(51, 0), i.e. sigma = 0.3 * ((51 - 1) / 2 - 1) + 0.8 = 8.
USM_RADIUS = 51
USM_SIGMA = 0.3 * ((USM_RADIUS - 1) * 0.5 - 1) + 0.8
USM_WEIGHT = 0.5
USM_THRESHOLD = 10  # in 8-bit levels


def _check_reflect(x: torch.Tensor, pad: int, what: str) -> None:
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if min(h, w) <= pad:
        raise ValueError(
            f"image of {h}x{w} pixels is too small for the {2 * pad + 1}-tap {what} with reflect padding "
            f"(needs more than {pad} pixels per side); use a larger HR image or a smaller scale"
        )


def _depthwise(x: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
    """Valid depthwise convs of (B, C, H, W) ``x`` with (B*C, 1, kh, kw) ``weights``, in turn."""
    b, c = x.shape[:2]
    if x.device.type == "cpu":
        y = x.reshape(1, b * c, *x.shape[-2:])
        if b * c >= 8:
            # oneDNN's depthwise kernels vectorise over channels: channels-last is 2-5x faster
            # with many planes (and gives bit-identical results, see the tests)
            y = y.contiguous(memory_format=torch.channels_last)
        for w in weights:
            y = F.conv2d(y, w, groups=b * c)
        y = y.contiguous()
        return y.reshape(b, c, *y.shape[-2:])
    out = []
    for i in range(b):
        y = x[i : i + 1]
        for w in weights:
            y = F.conv2d(y, w[i * c : (i + 1) * c], groups=c)
        out.append(y)
    return torch.cat(out)


def filter_per_sample(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Correlate image i of (B, C, H, W) ``x`` with (B, k, k) ``kernels[i]``, reflect padding.

    Same semantics as BasicSR's ``filter2D`` / ``cv2.filter2D`` (correlation, reflect-101 border).
    """
    k = int(kernels.shape[-1])
    _check_reflect(x, k // 2, "blur kernel")
    xp = F.pad(x, (k // 2,) * 4, mode="reflect")
    c = x.shape[1]
    weight = kernels.to(x.dtype).repeat_interleave(c, dim=0)[:, None]  # (B*C, 1, k, k)
    return _depthwise(xp, weight)


def _gaussian_1d(radius: int, sigma: float) -> np.ndarray:
    t = np.arange(radius, dtype=np.float64) - radius // 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_blur_separable(
    x: torch.Tensor, radius: int = USM_RADIUS, sigma: float = USM_SIGMA
) -> torch.Tensor:
    """Blur with the outer product ``g g^T`` of a 1-D Gaussian as two 1-D passes (reflect border)."""
    pad = radius // 2
    _check_reflect(x, pad, "USM Gaussian blur")
    b, c = x.shape[:2]
    g = torch.from_numpy(_gaussian_1d(radius, sigma)).to(device=x.device, dtype=x.dtype)
    xp = F.pad(x, (pad,) * 4, mode="reflect")
    return _depthwise(
        xp,
        g.view(1, 1, radius, 1).expand(b * c, 1, radius, 1),
        g.view(1, 1, 1, radius).expand(b * c, 1, 1, radius),
    )


def usm_sharpen(img: torch.Tensor) -> torch.Tensor:
    """Real-ESRGAN's unsharp masking of the GT (weight 0.5, 51x51 Gaussian, threshold 10/255).

    sharp = clip(I + w (I - B), 0, 1); mask = |I - B| * 255 > threshold, softened by the same blur;
    out = mask * sharp + (1 - mask) * I.
    """
    blur = gaussian_blur_separable(img)
    residual = img - blur
    mask = (residual.abs() * 255 > USM_THRESHOLD).to(img.dtype)
    soft_mask = gaussian_blur_separable(mask)
    sharp = (img + USM_WEIGHT * residual).clamp(0, 1)
    return torch.lerp(img, sharp, soft_mask)  # = soft_mask * sharp + (1 - soft_mask) * img


def resize(x: torch.Tensor, mode: str, *, size: tuple[int, int] | None = None, scale: float | None = None):
    """``F.interpolate`` exactly as Real-ESRGAN calls it (area / bilinear / bicubic, no antialias)."""
    if size is not None and min(size) < 1:
        raise ValueError(f"degradation resize to {size} pixels: the HR image is too small for this scale")
    # On CPU, float32 bilinear results change in the last bit with the thread count; computed in
    # float64 and rounded once to float32, they do not (checked in the tests), at ~no cost.
    y = x.double() if x.device.type == "cpu" else x
    if mode == "area":
        y = F.interpolate(y, size=size, scale_factor=scale, mode="area")
    else:
        y = F.interpolate(y, size=size, scale_factor=scale, mode=mode, align_corners=False)
    return y.to(x.dtype)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def add_gaussian_noise(x: torch.Tensor, sigma: float, gray: bool, seed: int) -> torch.Tensor:
    """x + N(0, (sigma/255)^2), one field shared by the channels when ``gray``; clipped to [0, 1]."""
    b, c, h, w = x.shape
    shape = (b, 1, h, w) if gray else (b, c, h, w)
    noise = torch.randn(shape, generator=_generator(seed, x.device), device=x.device, dtype=x.dtype)
    return (x + noise * (sigma / 255.0)).clamp(0, 1)


def add_poisson_noise(x: torch.Tensor, scale: float, gray: bool, seed: int) -> torch.Tensor:
    """Real-ESRGAN's Poisson noise for one image (B == 1), clipped to [0, 1].

    The image (or its BT.601 luma when ``gray``) is rounded to 8-bit levels; with ``n`` distinct
    levels, ``vals = 2^ceil(log2 n)`` and noise = scale * (Poisson(img * vals) / vals - img).
    """
    if x.shape[0] != 1:
        raise ValueError("add_poisson_noise works on one image at a time (its level count is per image)")
    img = x
    if gray:
        w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        img = (x * w).sum(dim=1, keepdim=True)
    levels = (img * 255).round().clamp(0, 255)
    img = levels / 255
    # number of distinct 8-bit levels (== len(torch.unique(img)), without sorting)
    n_levels = int(torch.bincount(levels.flatten().to(torch.int64), minlength=256).count_nonzero())
    vals = 2.0 ** math.ceil(math.log2(max(n_levels, 1)))
    out = torch.poisson(img * vals, generator=_generator(seed, x.device)) / vals
    return (x + (out - img) * scale).clamp(0, 1)


def to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounding half to even like torch.round."""
    return (x[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


#: JPEG codecs of :func:`jpeg`. ``auto``: Pillow on CPU (what protocols' ``prepare`` uses),
#: torchvision (nvJPEG) on CUDA, so training-time degradation never leaves the device.
JPEG_CODECS = ("auto", "pillow", "torchvision")


def jpeg_codec_for(device: torch.device, codec: str = "auto") -> str:
    """The concrete codec ``jpeg`` uses for a tensor on ``device``."""
    if codec not in JPEG_CODECS:
        raise ValueError(f"jpeg codec must be one of {JPEG_CODECS}, got {codec!r}")
    if codec != "auto":
        return codec
    return "torchvision" if device.type == "cuda" else "pillow"


def jpeg(x: torch.Tensor, quality: int, codec: str = "auto") -> torch.Tensor:
    """Real JPEG round trip of one (1, 3, H, W) image, libjpeg's IJG quality scale, 4:2:0 chroma.

    The image is first rounded to 8 bits (as any saved JPEG is). ``codec``:

    * ``pillow`` (libjpeg-turbo, on the CPU; the default there): what protocols use.
    * ``torchvision`` (``torchvision.io.encode_jpeg``/``decode_jpeg``): on CPU the same
      libjpeg-turbo defaults (baseline, 4:2:0, ISLOW DCT, no Huffman optimisation, fancy
      upsampling), so the same bytes and the same decoded pixels as Pillow
      (``tests/degradations/test_jpeg_codec.py``); on CUDA nvJPEG, which stays on the device
      (its IDCT and chroma upsampling may differ from libjpeg's by a few 8-bit levels).

    Real-ESRGAN and StableSR used DiffJPEG, a torch re-implementation; it differs from a real
    codec not by rounding (it rounds with ``torch.round``) but by its quantisation tables
    (scaled and *not* rounded to integers), nearest-neighbour chroma upsampling and zero
    padding to multiples of 16 — see docs/TRAINING.md "JPEG codec" for the measured effect.
    """
    if jpeg_codec_for(x.device, codec) == "torchvision":
        return _jpeg_torchvision(x, quality)
    buf = io.BytesIO()
    Image.fromarray(to_uint8_hwc(x)).save(
        buf, format="JPEG", quality=int(quality), subsampling=2, optimize=False
    )
    buf.seek(0)
    with Image.open(buf) as im:
        dec = np.asarray(im.convert("RGB"))
    return torch.from_numpy(dec.copy()).permute(2, 0, 1)[None].to(device=x.device, dtype=x.dtype) / 255.0


def _jpeg_torchvision(x: torch.Tensor, quality: int) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

    u8 = (x[0].clamp(0, 1) * 255).round().to(torch.uint8)  # round half to even, like to_uint8_hwc
    data = encode_jpeg(u8, quality=int(quality))
    if x.device.type == "cuda":
        dec = decode_jpeg(data, mode=ImageReadMode.RGB, device=x.device)
    else:
        dec = decode_jpeg(data, mode=ImageReadMode.RGB)
    return dec[None].to(dtype=x.dtype) / 255.0


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels: ``round(clamp(x, 0, 1) * 255) / 255``."""
    return (x.clamp(0, 1) * 255).round() / 255
