"""Synthetic datasets and specs for the foundation tests (temp data roots only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image


def coord_image(h: int, w: int, salt: int = 0) -> np.ndarray:
    """An RGB image whose pixels encode their coordinates, so any misalignment shows:
    R = y mod 256, G = x mod 256, B = (y // 256 * 16 + x // 256 + salt) mod 256."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([y % 256, x % 256, (y // 256 * 16 + x // 256 + salt) % 256], axis=-1).astype(np.uint8)


def save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path)
    return path


def base_spec(name: str, **over) -> dict:
    """A minimal valid folder spec (random patches from given LR), overridable per key."""
    spec = {
        "name": name,
        "version": 1,
        "description": "synthetic test protocol",
        "citation": "none",
        "scale": 4,
        "seed": 0,
        "expected_pairs": 6,
        "source": {
            "dataset": "synthetic",
            "url": "https://example.org/synthetic",
            "root": "synth",
            "hr": "HR/*.png",
            "lr": "LR/*.png",
            "lr_suffix": "x4",
            "count": 2,
        },
        "pairs": {"rule": "random_patches", "lr_size": 8, "per_image": 3},
        "metrics": ["psnr-y"],
    }
    for key, value in over.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            if value is None:
                spec[outer].pop(inner, None)
            else:
                spec[outer][inner] = value
        elif value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


@pytest.fixture
def write_spec(tmp_path):
    """write_spec(dict) -> loaded ProtocolSpec (the file is <tmp>/specs/<name>.yaml)."""
    from yonos_bench.protocols.spec import load_spec_file

    def _write(spec: dict):
        path = tmp_path / "specs" / f"{spec['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return load_spec_file(path)

    return _write


@pytest.fixture
def paired_root(tmp_path):
    """A data root with synth/HR/img{i}.png and synth/LR/img{i}x4.png where LR = HR[::4, ::4]
    (nearest subsampling, so LR/HR alignment can be checked exactly on pixels)."""

    def _make(sizes=((96, 80), (64, 72)), scale=4, root_name="data") -> Path:
        root = tmp_path / root_name
        for i, (h, w) in enumerate(sizes):
            hr = coord_image(h, w, salt=i)
            save(root / "synth" / "HR" / f"img{i}.png", hr)
            save(root / "synth" / "LR" / f"img{i}x{scale}.png", np.ascontiguousarray(hr[::scale, ::scale]))
        return root

    return _make


@pytest.fixture
def synth():
    """The helpers above, as a fixture (test modules cannot import each other in importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(coord_image=coord_image, save=save, base_spec=base_spec)
