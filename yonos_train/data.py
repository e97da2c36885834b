"""Training data: HR crops from image folders (or procedural images), LR made on the device.

* :class:`FolderImages` indexes HR images from several roots (DIV2K + Flickr2K + OST + ...):
  a missing or empty root, or an unreadable file, is an error naming it; images smaller
  than the crop are skipped with a count (an error if none remain). All of this happens
  when the run starts, before any compute.
* :class:`ProceduralImages` needs no download: dead-leaves images (occluding discs,
  ellipses and convex polygons with power-law sizes — the classic model of natural-image
  statistics), filled with flat colours, gratings, smooth noise or gradients, plus thin
  strokes; anti-aliased by 2× supersampling. Image ``i`` is a pure function of (seed, i).
* :class:`CropStream` is a map-style dataset over *global sample indices* g = 0, 1, 2, ...
  Sample g is a random crop (+ horizontal flip) of image ``perm_epoch[g mod n]`` with the
  epoch's permutation and the crop drawn from generators seeded by (seed, g). So the data
  seen at any step is a function of the step alone: resuming needs no loader state, and
  :class:`StepBatchSampler` shards the global batch across processes by index.
* :func:`synthesize_lr` degrades an HR batch *on the training device*, batched, with the
  shared :mod:`yonos_bench.degradations` module (as Real-ESRGAN's trainer does), one seed
  per sample; with two scales (distillation: 1/N student, 2/N teacher) the random
  parameters are shared and only the final resize differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from yonos_bench.core.errors import DataMissingError, ImageError, YonosError

PROCEDURAL = "procedural"

# Purposes of per-sample random streams (kept apart so one never shifts another).
_CROP, _EPOCH, _DEGRADE, _DEGRADE_TEACHER, _NOISE, _TIME = range(6)


def sample_seed(seed: int, g: int, purpose: int) -> int:
    """A 63-bit seed for sample ``g``'s stream ``purpose`` (numpy SeedSequence mixing)."""
    state = np.random.SeedSequence([int(seed), int(purpose), int(g)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def sample_seeds(seed: int, indices: Sequence[int] | torch.Tensor, purpose: int) -> list[int]:
    return [sample_seed(seed, int(g), purpose) for g in indices]


class ImageSource(Protocol):
    def __len__(self) -> int: ...
    def load(self, i: int) -> np.ndarray: ...  # (H, W, 3) uint8
    def describe(self) -> str: ...


# --------------------------------------------------------------------------- image folders


class FolderImages:
    """HR images from one or more folders (recursively; sorted by relative path per root)."""

    def __init__(
        self, roots: Sequence[str | Path], min_size: int, *, on_skip: Callable[[str], None] | None = None
    ):
        from PIL import Image

        from yonos_bench.core.imageio import list_images_recursive

        if not roots:
            raise DataMissingError(
                "No training data given: pass --data DIR (one or more), or --data procedural."
            )
        from .prepare_data import read_manifest

        self.roots = [Path(r) for r in roots]
        self.paths: list[Path] = []
        self.skipped_small = 0
        self.tiled_from: list[str] = []
        unreadable: list[str] = []
        for root in self.roots:
            if not root.is_dir():
                raise DataMissingError(f"Training data folder not found: {root}")
            manifest = read_manifest(root)
            if manifest is not None:  # prepared tiles: sizes known, no file opened at start-up
                self.tiled_from += [s["root"] for s in manifest["sources"]]
                for t in manifest["tiles"]:
                    if min(t["size"]) < min_size:
                        self.skipped_small += 1
                    else:
                        self.paths.append(root / t["file"])
                continue
            files = list_images_recursive(root)
            if not files:
                raise DataMissingError(
                    f"Training data folder {root} contains no images (.png/.jpg/.jpeg/.bmp/.tif/.webp)."
                )
            for p in files:
                try:
                    with Image.open(p) as im:
                        w, h = im.size
                except Exception as e:  # PIL raises many types for broken files
                    unreadable.append(f"{p} ({type(e).__name__})")
                    continue
                if min(w, h) < min_size:
                    self.skipped_small += 1
                else:
                    self.paths.append(p)
        if unreadable:
            more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
            raise ImageError(
                f"Unreadable training images: {', '.join(unreadable[:5])}{more}. Remove or fix them."
            )
        if not self.paths:
            raise DataMissingError(
                f"No training image is at least {min_size}×{min_size} px (the crop) in "
                f"{', '.join(map(str, self.roots))}: all {self.skipped_small} were smaller."
            )
        if self.skipped_small and on_skip is not None:
            on_skip(f"Skipped {self.skipped_small} image(s) smaller than the {min_size}px crop.")

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> np.ndarray:
        from yonos_bench.core.imageio import read_rgb8

        return read_rgb8(self.paths[i])

    def describe(self) -> str:
        tiled = f" (tiles of {', '.join(self.tiled_from)})" if self.tiled_from else ""
        return (f"{len(self)} images from {', '.join(map(str, self.roots))}{tiled} "
                f"({self.skipped_small} skipped, too small)")  # fmt: skip


# --------------------------------------------------------------------------- procedural


class ProceduralImages:
    """``n`` dead-leaves images of ``size``² px; image i depends only on (seed, i)."""

    def __init__(self, n: int, size: int, seed: int = 0):
        if n < 1 or size < 8:
            raise ValueError(f"procedural dataset needs n >= 1 and size >= 8, got n={n}, size={size}")
        self.n, self.size, self.seed = n, size, seed
        self._cache: dict[int, np.ndarray] = {}  # ~30 ms per 96 px image: draw each once

    def __len__(self) -> int:
        return self.n

    def load(self, i: int) -> np.ndarray:
        if i not in self._cache:
            self._cache[i] = dead_leaves(self.size, np.random.default_rng([self.seed, 0xDEAD, i]))
        return self._cache[i]

    def describe(self) -> str:
        return f"{self.n} procedural dead-leaves images of {self.size}px (seed {self.seed})"


def _texture(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray, size: int) -> np.ndarray:
    """A scalar field in [-1, 1] over the grid (xx, yy): grating, smooth noise or gradient."""
    kind = rng.choice(3)
    if kind == 0:  # sinusoidal grating, 2–24 px period (at 96 px), any orientation
        theta, period = rng.uniform(0, math.pi), rng.uniform(2.0, 24.0) * (size / 96) ** 0.5
        return np.sin(
            2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period + rng.uniform(0, 6.3)
        )
    if kind == 1:  # smooth value noise: bilinear interpolation of a coarse random grid
        cells = int(rng.integers(2, 10))
        coarse = rng.uniform(-1, 1, (cells + 1, cells + 1))
        span_x, span_y = max(float(np.ptp(xx)), 1e-6), max(float(np.ptp(yy)), 1e-6)
        fx = (xx - xx.min()) / span_x * cells
        fy = (yy - yy.min()) / span_y * cells
        ix, iy = np.minimum(fx.astype(int), cells - 1), np.minimum(fy.astype(int), cells - 1)
        wx, wy = fx - ix, fy - iy
        top = coarse[iy, ix] * (1 - wx) + coarse[iy, ix + 1] * wx
        bottom = coarse[iy + 1, ix] * (1 - wx) + coarse[iy + 1, ix + 1] * wx
        return top * (1 - wy) + bottom * wy
    theta = rng.uniform(0, 2 * math.pi)  # linear gradient
    g = xx * math.cos(theta) + yy * math.sin(theta)
    return (g - g.min()) / max(float(np.ptp(g)), 1e-6) * 2 - 1


def _shape_mask(rng: np.random.Generator, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Rotated ellipse or convex polygon (3–6 vertices on a circle) of radius r at the origin."""
    if rng.uniform() < 0.4:
        th, ar = rng.uniform(0, math.pi), rng.uniform(0.4, 1.0)
        u1 = dx * math.cos(th) + dy * math.sin(th)
        u2 = -dx * math.sin(th) + dy * math.cos(th)
        return (u1 / r) ** 2 + (u2 / (r * ar)) ** 2 <= 1
    k = int(rng.integers(3, 7))
    ang = np.sort(rng.uniform(0, 2 * math.pi, k))
    vx, vy = r * np.cos(ang), r * np.sin(ang)
    mask = np.ones(dx.shape, dtype=bool)
    for j in range(k):  # intersection of the half-planes left of each edge
        ax, ay, bx, by = vx[j], vy[j], vx[(j + 1) % k], vy[(j + 1) % k]
        mask &= (bx - ax) * (dy - ay) - (by - ay) * (dx - ax) >= 0
    return mask


def dead_leaves(
    size: int, rng: np.random.Generator, supersample: int = 2, max_shapes: int = 600
) -> np.ndarray:
    """One dead-leaves image (H = W = ``size``) as uint8 (H, W, 3).

    Shapes, coloured from a small per-image palette, are drawn front to back, each painting
    only still-uncovered pixels, until the canvas is covered (the exact dead-leaves model); radii have density ∝ r⁻³ on
    [max(1.5, size/40), size/2] (scale invariance), sampled by inverse CDF. 2× supersampling anti-aliases
    the edges.
    """
    s = size * supersample
    img = np.zeros((s, s, 3), np.float32)
    covered = np.zeros((s, s), dtype=bool)
    r_min, r_max = max(1.5, size / 40) * supersample, s / 2
    palette = rng.uniform(0, 1, (int(rng.integers(4, 13)), 3)).astype(np.float32)
    for _ in range(max_shapes):
        u = rng.uniform()
        r = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
        cx, cy = rng.uniform(-0.1, 1.1, 2) * s
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 2, s)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 2, s)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        mask = _shape_mask(rng, xx - cx, yy - cy, r) & ~covered[y0:y1, x0:x1]
        if not mask.any():
            continue
        color = np.clip(palette[rng.integers(len(palette))] + rng.normal(0, 0.05, 3), 0, 1).astype(np.float32)
        fill = np.broadcast_to(color, mask.shape + (3,))
        if rng.uniform() < 0.5:  # textured fill
            amp = rng.uniform(0.05, 0.4) * rng.uniform(-1, 1, 3).astype(np.float32)
            fill = color + amp * _texture(rng, xx / supersample, yy / supersample, size)[..., None]
        img[y0:y1, x0:x1][mask] = fill[mask]
        covered[y0:y1, x0:x1] |= mask
        if covered.all():
            break
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / supersample
    # Whatever the first ``max_shapes`` leaves left uncovered shows a textured backdrop.
    back = palette[rng.integers(len(palette))] + 0.2 * _texture(rng, xx, yy, size)[..., None]
    img[~covered] = back[~covered]
    for _ in range(int(rng.integers(0, 4))):  # thin strokes on top: 1–3 px lines
        th, off = rng.uniform(0, math.pi), rng.uniform(0, size)
        dist = np.abs(xx * math.cos(th) + yy * math.sin(th) - off)
        img[dist <= rng.uniform(0.5, 1.5)] = rng.uniform(0, 1, 3).astype(np.float32)
    img = img.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def open_source(
    data: Sequence[str], *, crop: int, procedural_images: int, procedural_size: int, seed: int, on_skip=None
) -> ImageSource:
    """``data == ["procedural"]`` → :class:`ProceduralImages`, else :class:`FolderImages`."""
    if PROCEDURAL in data:
        if len(data) != 1:
            raise DataMissingError("--data procedural cannot be mixed with image folders.")
        return ProceduralImages(procedural_images, procedural_size, seed)
    return FolderImages(data, crop, on_skip=on_skip)


# --------------------------------------------------------------------------- crops and batches


class CropStream(torch.utils.data.Dataset):
    """Global sample index g → (uint8 (3, crop, crop) HR crop, g). See module docstring."""

    def __init__(self, source: ImageSource, crop: int, seed: int, hflip: bool = True):
        self.source, self.crop, self.seed, self.hflip = source, crop, seed, hflip
        self._epoch, self._perm = -1, np.zeros(0, np.int64)

    def __len__(self) -> int:  # the stream is unbounded; the sampler decides the indices
        return 2**62

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:  # cached per worker: indices arrive in increasing order
            self._perm = np.random.default_rng([self.seed, _EPOCH, epoch]).permutation(len(self.source))
            self._epoch = epoch
        return self._perm

    def __getitem__(self, g: int) -> tuple[torch.Tensor | _WorkerFailure, int]:
        try:
            return self._item(g)
        except YonosError as e:
            if torch.utils.data.get_worker_info() is None:
                raise
            # In a DataLoader worker torch would re-raise this with the worker's traceback
            # pasted into the message; carry it to the main process intact instead.
            return _WorkerFailure(e), g

    def _item(self, g: int) -> tuple[torch.Tensor, int]:
        n = len(self.source)
        img = self.source.load(int(self._permutation(g // n)[g % n]))
        rng = np.random.default_rng(sample_seed(self.seed, g, _CROP))
        h, w = img.shape[:2]
        if min(h, w) < self.crop:
            raise ImageError(f"Training image {h}×{w} is smaller than the {self.crop}px crop (index {g}).")
        top, left = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
        patch = img[top : top + self.crop, left : left + self.crop]
        if self.hflip and rng.uniform() < 0.5:
            patch = patch[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1), g


class StepBatchSampler(torch.utils.data.Sampler):
    """Micro-batches of global indices for one process, from optimizer step ``start_step`` on.

    Index of item j of process r in micro-step m of step s:
    ``((s·accum + m)·world + r)·batch + j`` — every sample is used once per epoch order,
    whatever the process count, and resuming at step s continues the same stream.
    """

    def __init__(self, batch: int, accum: int, start_step: int = 0, rank: int = 0, world: int = 1):
        self.batch, self.accum, self.start, self.rank, self.world = batch, accum, start_step, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        micro = self.start * self.accum
        while True:
            base = (micro * self.world + self.rank) * self.batch
            yield list(range(base, base + self.batch))
            micro += 1

    def __len__(self) -> int:
        return 2**62


class _WorkerFailure:
    """A user error (e.g. an undecodable image) raised inside a loader worker."""

    def __init__(self, error: YonosError):
        self.error = error


def _collate(items):
    for x, _ in items:
        if isinstance(x, _WorkerFailure):
            return x, None
    return torch.stack([x for x, _ in items]), torch.tensor([g for _, g in items], dtype=torch.long)


class _Reraising:
    """Iterates a loader, re-raising a worker's user error in the main process as itself."""

    def __init__(self, loader: torch.utils.data.DataLoader):
        self.loader = loader

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for hr, g in self.loader:
            if isinstance(hr, _WorkerFailure):
                raise hr.error
            yield hr, g


def hr_loader(
    source: ImageSource, *, crop: int, seed: int, batch: int, accum: int, start_step: int,
    rank: int = 0, world: int = 1, num_workers: int = 0,
) -> _Reraising:  # fmt: skip
    """Infinite loader of (uint8 (B, 3, crop, crop), global indices (B,)) micro-batches."""
    return _Reraising(
        torch.utils.data.DataLoader(
            CropStream(source, crop, seed),
            batch_sampler=StepBatchSampler(batch, accum, start_step, rank, world),
            collate_fn=_collate,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
        )
    )


# --------------------------------------------------------------------------- LR synthesis


def synthesize_lr(
    hr: torch.Tensor, scales: int | Sequence[int], degradation: str, seeds: Sequence[int],
    jpeg_codec: str = "auto",
) -> list[torch.Tensor]:  # fmt: skip
    """Degrade ``hr`` (B, 3, H, W) in [0, 1] to one LR per entry of ``scales`` (H/scale each).

    :func:`yonos_bench.degradations.degrade` (8-bit levels, one seed per sample, on ``hr``'s
    device). With several scales the random parameters are shared: only the final resize
    differs (the recommended choice for scale distillation, METHOD.md §1).
    """
    from yonos_bench.degradations import degrade

    single = isinstance(scales, int)
    result = degrade(degradation, hr, int(scales) if single else [int(s) for s in scales], list(seeds),
                     jpeg_codec=jpeg_codec)  # fmt: skip
    return [result.lr] if single else list(result.lr)


def to_float(hr_uint8: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 (B, 3, H, W) → float32 [0, 1] on ``device``."""
    return hr_uint8.to(device=device, non_blocking=True).float().div_(255.0)
