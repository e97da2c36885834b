"""``swd``: sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018,
"Progressive Growing of GANs", §5 and appendix D). Weight-free; lower is better.

Pre-registered definition (docs/MINIATURE.md, "Evaluation"; this module implements exactly it):

1. **Pixels**: each RGB image as float64 in its native [0, 255] range (as ProGAN). The
   choice does not move the number: step 4 divides by a pooled per-channel std, so any
   global rescaling of the pixels cancels (up to float rounding).
2. **Laplacian pyramid** with ``levels = 4`` octaves: Gaussian blur by the separable 5-tap
   binomial kernel ``[1, 4, 6, 4, 1] / 16`` with mirror boundaries (SciPy's ``mode='mirror'``
   = NumPy's ``pad(mode='reflect')``: the edge pixel is not repeated), then every second row/column
   (rows/columns 0, 2, 4, ...). Level k (k < 3) is ``G_k - up(G_{k+1})`` where ``up``
   inserts zeros between samples and blurs with 4x the kernel (cropped back to G_k's size
   for odd sizes); the coarsest level is the Gaussian level ``G_3`` itself. For a 128²
   crop the levels are 128, 64, 32 and 16 px. Every level must be at least
   ``min_level_px = 16`` px per side (ProGAN's lowest resolution), i.e. images of at least
   128 px per side; smaller ones are an error naming the image.
3. **Patches**: per image and per level, ``128`` patches of 7×7×3 at uniformly random
   top-left corners (the patch lies wholly inside the level). The corners of image ``i``
   are drawn from ``numpy.random.default_rng([seed, 0, i])`` (level by level, rows then
   columns), so the two sets' image ``i`` (an SR output and its HR) use the *same*
   positions, and the draw does not depend on batching or sharding. Descriptor = the
   patch flattened channel-major (147 values).
4. **Normalisation**: per level and per channel, subtract the mean and divide by the
   (population) std of that channel's values over all descriptors of *both* sets pooled
   (the plan's choice; ProGAN's code normalises each set by its own statistics, which
   makes SWD blind to a per-channel brightness or contrast change). A channel with zero
   pooled std is constant in both sets; it is left at 0 (divided by 1).
5. **Distance**: per level, ``4`` repeats × ``128`` random directions: standard normal
   147-vectors from ``numpy.random.default_rng([seed, 1, level])``, each scaled to unit
   length. For each direction both descriptor sets are projected, sorted, and the mean
   absolute difference of the sorted projections is the 1-D Wasserstein-1 distance (the
   sets have equal size: one descriptor set per image set, so the two *image* sets must
   have the same number of images, else an error). The level's SWD is the mean over the
   512 directions; reported ×10³ per level and **the headline value is the mean over the
   4 levels ×10³**. ``seed = 0``. Projections and sorting run in float64 (NumPy): same
   inputs → the same number.

An independent implementation of the definition (SciPy's ``ndimage.convolve`` pyramid and
``stats.wasserstein_distance`` per direction) checks this one in tests/metrics/test_swd.py.
No code was copied from ProGAN (CC BY-NC); the definition follows the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from yonos_bench.core.errors import YonosError

#: Bumped whenever the definition or its implementation changes a value: it is recorded in
#: every result's preset arguments, and a cached ``swd`` of another version is recomputed.
SWD_IMPL = "swd-v1"
#: The 5-tap binomial kernel (ProGAN's; its outer product is the 5x5 Gaussian).
BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)
SCALE = 1000.0  # values are reported x10^3, as in the paper


class SWDError(YonosError, ValueError):
    """Images or descriptor sets SWD cannot compare (names the set and image)."""


@dataclass(frozen=True)
class SWDConfig:
    levels: int = 4
    min_level_px: int = 16
    patch_size: int = 7
    patches_per_level: int = 128
    dir_repeats: int = 4
    dirs_per_repeat: int = 128
    seed: int = 0

    @property
    def min_image_px(self) -> int:
        """Smallest image side whose coarsest level keeps ``min_level_px``."""
        return self.min_level_px * 2 ** (self.levels - 1)

    @property
    def descriptor_dim(self) -> int:
        return 3 * self.patch_size**2

    @classmethod
    def from_args(cls, args: Mapping[str, object]) -> SWDConfig:
        """The config named by a preset's ``backend_args`` (other keys are descriptive)."""
        return cls(**{f.name: int(args[f.name]) for f in fields(cls) if f.name in args})

    def as_args(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SWDResult:
    per_level: tuple[float, ...]  # x10^3, finest level first
    level_names: tuple[str, ...]  # "1/1", "1/2", ...: the level's side relative to the image

    @property
    def mean(self) -> float:
        """The headline value: the mean over levels (x10^3)."""
        return float(np.mean(self.per_level))

    def components(self) -> dict[str, float]:
        return dict(zip(self.level_names, self.per_level, strict=True))


def level_names(cfg: SWDConfig) -> tuple[str, ...]:
    return tuple(f"1/{2**k}" for k in range(cfg.levels))


# ---------------------------------------------------------------------------- descriptors


def check_image_size(height: int, width: int, cfg: SWDConfig, what: str) -> None:
    if min(height, width) < cfg.min_image_px:
        raise SWDError(
            f"swd: {what} is {width}x{height}; its {cfg.levels}-level Laplacian pyramid would end at "
            f"{width >> (cfg.levels - 1)}x{height >> (cfg.levels - 1)} px, below the {cfg.min_level_px} px "
            f"minimum per level (images need at least {cfg.min_image_px} px per side)."
        )


def _blur(x: np.ndarray, taps: Sequence[float], step: int = 1) -> np.ndarray:
    """Separable blur of (B, C, H, W) float64 by the 1-D ``taps`` with mirror boundaries
    (``np.pad(mode='reflect')``: the edge pixel is not repeated): a weighted sum of shifted
    slices along H, then along W. ``step=2`` computes only rows/columns 0, 2, 4, ... (the
    same numbers as blurring everything and subsampling, at a quarter of the work)."""
    pad = len(taps) // 2
    for axis in (2, 3):
        width = [(0, 0)] * 4
        width[axis] = (pad, pad)
        xp = np.pad(x, width, mode="reflect")
        n = x.shape[axis]
        out = None
        for k, t in enumerate(taps):
            window = [slice(None)] * 4
            window[axis] = slice(k, k + n, step)
            term = t * xp[tuple(window)]
            out = term if out is None else out + term
        x = out
    return x


def laplacian_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` band-pass images of (B, 3, H, W) float64, finest first; the last is the
    Gaussian level itself (module doc, step 2)."""
    taps = [t / 16.0 for t in BINOMIAL_5]
    gauss = [np.asarray(images, np.float64)]
    for _ in range(levels - 1):
        gauss.append(_blur(gauss[-1], taps, step=2))
    out = []
    for k in range(levels - 1):
        fine, coarse = gauss[k], gauss[k + 1]
        b, c, h, w = coarse.shape
        up = np.zeros((b, c, 2 * h, 2 * w))
        up[:, :, ::2, ::2] = coarse
        up = _blur(up, [2 * t for t in taps])[:, :, : fine.shape[2], : fine.shape[3]]
        out.append(fine - up)
    out.append(gauss[-1])
    return out


def patch_corners(index: int, level_shapes: Sequence[tuple[int, int]], cfg: SWDConfig) -> list[np.ndarray]:
    """Per level, (P, 2) top-left (row, col) corners of image ``index``'s patches."""
    rng = np.random.default_rng([cfg.seed, 0, int(index)])
    out = []
    for h, w in level_shapes:
        rows = rng.integers(0, h - cfg.patch_size + 1, size=cfg.patches_per_level)
        cols = rng.integers(0, w - cfg.patch_size + 1, size=cfg.patches_per_level)
        out.append(np.stack([rows, cols], axis=1))
    return out


def image_descriptors(
    images: Sequence[np.ndarray], indices: Sequence[int], cfg: SWDConfig, what: str = "image"
) -> np.ndarray:
    """Raw (un-normalised) descriptors of uint8 (H, W, 3) images: (B, levels, P, 147)
    float32. ``indices`` are the images' positions in their set (they seed the patch
    corners); ``what`` names the set in errors."""
    if len(images) != len(indices):
        raise ValueError(f"{len(images)} images but {len(indices)} indices")
    out = np.empty((len(images), cfg.levels, cfg.patches_per_level, cfg.descriptor_dim), np.float32)
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, img in enumerate(images):
        if img.ndim != 3 or img.shape[2] != 3:
            raise SWDError(f"swd: {what} {indices[k]} has shape {img.shape}, expected (H, W, 3) RGB")
        check_image_size(img.shape[0], img.shape[1], cfg, f"{what} {indices[k]}")
        groups.setdefault(img.shape, []).append(k)
    p = cfg.patch_size
    for ks in groups.values():
        batch = np.stack([images[k] for k in ks]).transpose(0, 3, 1, 2).astype(np.float64)
        pyramid = laplacian_pyramid(batch, cfg.levels)
        shapes = [level.shape[2:] for level in pyramid]
        corners = [patch_corners(int(indices[k]), shapes, cfg) for k in ks]
        b_idx = np.arange(len(ks)).reshape(-1, 1)
        for lv, level in enumerate(pyramid):
            cr = np.stack([c[lv] for c in corners])  # (b, P, 2)
            windows = np.lib.stride_tricks.sliding_window_view(level, (p, p), axis=(2, 3))
            patches = windows[b_idx, :, cr[:, :, 0], cr[:, :, 1]]  # (b, P, 3, p, p), channel-major
            out[ks, lv] = patches.reshape(len(ks), cfg.patches_per_level, -1)
    return out


# ---------------------------------------------------------------------------- distance


def normalise_pooled(a: np.ndarray, b: np.ndarray, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(N, C·k) descriptor sets (channel-major) as float64 copies normalised per channel by
    the mean and population std of that channel over both sets pooled (two passes)."""
    a, b = np.array(a, np.float64), np.array(b, np.float64)
    k = a.shape[1] // channels
    count = (a.shape[0] + b.shape[0]) * k
    mean = (a.sum(axis=0) + b.sum(axis=0)).reshape(channels, k).sum(axis=1) / count
    a -= np.repeat(mean, k)
    b -= np.repeat(mean, k)
    sq = np.einsum("ij,ij->j", a, a) + np.einsum("ij,ij->j", b, b)
    std = np.sqrt(sq.reshape(channels, k).sum(axis=1) / count)
    std[std == 0] = 1.0  # constant in both sets: stays 0
    a /= np.repeat(std, k)
    b /= np.repeat(std, k)
    return a, b


def directions(level: int, dim: int, cfg: SWDConfig) -> np.ndarray:
    """(repeats, dim, dirs_per_repeat) unit directions of ``level`` (module doc, step 5)."""
    rng = np.random.default_rng([cfg.seed, 1, int(level)])
    d = rng.standard_normal((cfg.dir_repeats, dim, cfg.dirs_per_repeat))
    return d / np.sqrt((d**2).sum(axis=1, keepdims=True))


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, dirs: np.ndarray, chunk: int = 32) -> float:
    """Mean over ``dirs`` (R, D, K) of the W1 distance between the projections of the
    equal-size sets ``a``, ``b`` (N, D): sorted projections, mean absolute difference."""
    if a.shape != b.shape:
        raise SWDError(f"swd: descriptor sets differ in shape: {a.shape} vs {b.shape}")
    flat = np.moveaxis(dirs, 1, 0).reshape(dirs.shape[1], -1)  # (D, R·K)
    total = 0.0
    for j in range(0, flat.shape[1], chunk):
        d = flat[:, j : j + chunk].T  # (chunk, D): projections as rows, sorted along the row
        pa = np.sort(d @ a.T, axis=1)
        pb = np.sort(d @ b.T, axis=1)
        total += float(np.abs(pa - pb).mean(axis=1).sum())
    return total / flat.shape[1]


def swd_from_descriptors(sr: np.ndarray, hr: np.ndarray, cfg: SWDConfig = SWDConfig()) -> SWDResult:
    """SWD ×10³ per level from raw descriptors (n, levels, P, D) of two image sets."""
    for what, x in (("SR", sr), ("HR", hr)):
        if x.ndim != 4 or x.shape[1:] != (cfg.levels, cfg.patches_per_level, cfg.descriptor_dim):
            raise SWDError(f"swd: {what} descriptors have shape {x.shape}, expected (n, {cfg.levels}, "
                           f"{cfg.patches_per_level}, {cfg.descriptor_dim})")  # fmt: skip
    check_set_sizes(sr.shape[0], hr.shape[0])
    if not (np.isfinite(sr).all() and np.isfinite(hr).all()):
        raise SWDError("swd: descriptors contain NaN or inf")
    values = []
    for lv in range(cfg.levels):
        a, b = normalise_pooled(
            sr[:, lv].reshape(-1, cfg.descriptor_dim), hr[:, lv].reshape(-1, cfg.descriptor_dim)
        )
        values.append(SCALE * sliced_wasserstein(a, b, directions(lv, cfg.descriptor_dim, cfg)))
    return SWDResult(tuple(values), level_names(cfg))


def check_set_sizes(n_sr: int, n_hr: int, names: tuple[str, str] = ("SR", "HR")) -> None:
    if n_sr == 0 or n_hr == 0:
        empty = [nm for nm, n in zip(names, (n_sr, n_hr), strict=True) if n == 0]
        what = f"the {empty[0]} set is" if len(empty) == 1 else f"the {' and '.join(empty)} sets are"
        raise SWDError(f"swd: {what} empty ({n_sr} {names[0]}, {n_hr} {names[1]} images)")
    if n_sr != n_hr:
        raise SWDError(
            f"swd compares sets of equal size: {n_sr} {names[0]} vs {n_hr} {names[1]} images "
            "(score the same pairs on both sides)"
        )


def swd(
    sr_images: Sequence[np.ndarray], hr_images: Sequence[np.ndarray], cfg: SWDConfig = SWDConfig()
) -> SWDResult:
    """SWD between two sets of uint8 (H, W, 3) images; image ``i`` of both sets shares its
    patch positions. Lower is better; 0 for identical sets."""
    check_set_sizes(len(sr_images), len(hr_images))
    idx = list(range(len(sr_images)))
    return swd_from_descriptors(
        image_descriptors(sr_images, idx, cfg, "SR image"),
        image_descriptors(hr_images, idx, cfg, "HR image"),
        cfg,
    )
