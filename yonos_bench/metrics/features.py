"""Inception features in clean-fid "clean" mode, and their on-disk cache.

Preprocessing is clean-fid's own (``cleanfid.resize.build_resizer("clean")``: PIL bicubic
resize of each channel as float32 to 299x299, no quantisation; then the [0, 255] float
tensor goes to the TorchScript Inception of StyleGAN2-ADA, which normalises by
``(x - 128) / 128``), applied to the already-decoded uint8 image — the same pixels clean-fid
would decode from the file — so features equal ``cleanfid.fid.get_folder_features``.

A feature extractor is any callable ``(B, 3, 299, 299) float [0, 255] -> (B, D)``, the
signature of clean-fid's ``custom_feat_extractor``; tests inject a small random one.

Cache: HR-side features are computed once per protocol instance (``key`` = the manifest
digest) and reused by every model and step count; SR features are stored per evaluated
cell. Files are ``.npz`` with the features, the pair ids they belong to and the extractor
id, written atomically; a file whose ids do not match is ignored and rewritten.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yonos_bench.core.atomic import write_bytes_atomic

FeatureExtractor = Callable[["object"], "object"]  # torch (B,3,299,299) [0,255] -> (B, D)
INCEPTION_ID = "inception-2015-12-05-clean"


def clean_preprocess(images: Sequence[np.ndarray]):
    """uint8 (H, W, 3) images → float32 tensor (B, 3, 299, 299) in [0, 255], exactly as
    clean-fid's ``ResizeDataset`` does in "clean" mode."""
    import torch
    import torchvision.transforms
    from cleanfid.resize import build_resizer

    resize = build_resizer("clean")
    to_tensor = torchvision.transforms.ToTensor()
    out = []
    for img in images:
        r = resize(img)
        # clean-fid: ToTensor scales only uint8 input; "clean" mode gives float32 in [0, 255]
        out.append(to_tensor(np.array(r)) * 255 if r.dtype == np.uint8 else to_tensor(r))
    return torch.stack(out)


def load_inception(weights_dir: str | os.PathLike, device) -> FeatureExtractor:
    """clean-fid's TorchScript Inception from our weights folder (never its ``/tmp`` default).
    The caller checks the file first (weights registry); this does not download."""
    from cleanfid.inception_torchscript import InceptionV3W

    from yonos_bench.core.weights import cleanfid_dir

    model = InceptionV3W(str(cleanfid_dir(weights_dir)), download=False, resize_inside=False)
    model = model.to(device).eval()
    return model


def extract_features(extractor: FeatureExtractor, images: Sequence[np.ndarray], device) -> np.ndarray:
    """(B, D) float32 features of uint8 images, via clean-fid's ``get_batch_features``."""
    from cleanfid.fid import get_batch_features

    batch = clean_preprocess(images)
    return np.asarray(get_batch_features(batch, extractor, device), dtype=np.float32)


@dataclass(frozen=True)
class FeatureCache:
    """Where features are kept: ``root/hr-<extractor>-<key>.npz`` for the HR side (shared by
    every cell of a protocol instance) and ``sr_file`` (the cell's own file) for the SR side."""

    root: Path
    key: str
    sr_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.key or any(c in self.key for c in "/\\\0") or self.key.startswith("."):
            raise ValueError(
                f"FeatureCache key must be a plain name (e.g. a manifest digest), got {self.key!r}"
            )
        object.__setattr__(self, "root", Path(self.root))
        if self.sr_file is not None:
            object.__setattr__(self, "sr_file", Path(self.sr_file))

    def hr_file(self, extractor_id: str) -> Path:
        return self.root / f"hr-{extractor_id}-{self.key}.npz"


def save_features(path: Path, feats: np.ndarray, ids: Sequence[str], extractor_id: str) -> None:
    buf = io.BytesIO()
    np.savez(buf, feats=np.asarray(feats, np.float32), ids=np.asarray(list(ids)), extractor=extractor_id)
    write_bytes_atomic(path, buf.getvalue())


def load_features(path: Path | None, ids: Sequence[str], extractor_id: str) -> np.ndarray | None:
    """Cached features if ``path`` holds exactly these ids (same order) from this extractor."""
    if path is None or not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["extractor"]) != extractor_id or [str(i) for i in z["ids"]] != list(ids):
                return None
            return np.asarray(z["feats"], dtype=np.float32)
    except (OSError, ValueError, KeyError):
        return None  # unreadable cache: recompute and overwrite
