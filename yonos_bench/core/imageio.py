"""Reading and writing images, with one documented conversion rule.

Every image that enters yonos-bench (protocol sources, pairs, SR outputs, training data)
goes through :func:`read_rgb8`, which returns an 8-bit RGB ``uint8`` array (H, W, 3):

* 8-bit RGB: unchanged.
* EXIF orientation: applied first (the image as a viewer shows it).
* Grayscale (``L``, ``1``): replicated to three channels.
* 16-bit (``I;16``, ``I``) grayscale: ``round(v / 257)`` to 8 bits, then replicated.
* 16-bit colour PNG (48/64-bit): Pillow decodes only the high byte, ``v >> 8`` (at most one
  level from ``round(v / 257)``; no registered protocol ships such files).
* Palette (``P``), ``CMYK``, ``YCbCr``, ``LAB``: converted to RGB by Pillow.
* Alpha (``RGBA``, ``LA``, ``PA``): the alpha channel is dropped (no compositing), so
  the colour values are exactly those stored in the file.

Files that cannot be decoded (zero bytes, truncated, not an image) and images above
``MAX_PIXELS`` (decompression bombs) raise :class:`~yonos_bench.core.errors.ImageError`
naming the file. PNGs are written atomically (temp file + rename).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from yonos_bench.core.atomic import write_bytes_atomic
from yonos_bench.core.errors import ImageError

#: Largest image accepted (pixels). Pillow's own bomb check is only a warning below 2x its
#: limit; we refuse anything over this, naming the file.
MAX_PIXELS = 16384 * 16384

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (the order is part of protocols)."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_file(p))


def list_images_recursive(folder: str | os.PathLike) -> list[Path]:
    """Image files anywhere below ``folder`` (FFHQ's numbered subfolders, OST's categories),
    sorted by their path relative to ``folder``. Hidden entries — a file or any folder on the
    way whose name starts with ``.`` (``.tmp-*`` atomic-write temps, macOS ``._x.png``
    resource forks, ``.git``) — are skipped, as the pipeline digests skip them."""
    root = Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and is_image_file(name):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def read_rgb8(path: str | os.PathLike) -> np.ndarray:
    """Decode ``path`` to an (H, W, 3) uint8 RGB array by the module's conversion rule."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"Image not found: {path}") from None
    except OSError as e:
        raise ImageError(f"Cannot read image {path}: {e}") from None
    if not data:
        raise ImageError(f"Image {path} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(
                    f"Image {path} is {w}x{h} = {w * h:,} pixels, above the limit of {MAX_PIXELS:,} "
                    "(decompression-bomb guard)."
                )
            im.load()
            im = ImageOps.exif_transpose(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"Image {path} refused by the decompression-bomb guard: {e}") from None
    except Exception as e:  # PIL raises many types (UnidentifiedImageError, OSError, SyntaxError...)
        raise ImageError(f"Cannot decode image {path} (corrupt, truncated or not an image): {e}") from None
    return _to_rgb8(im, path)


def _to_rgb8(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        arr = np.asarray(im, dtype=np.uint8)
    elif mode in ("I;16", "I;16B", "I;16L", "I"):
        v = np.asarray(im).astype(np.float64)
        if mode == "I" and v.max(initial=0) <= 255:
            g = v  # an 8-bit image stored as 32-bit ints
        else:
            g = np.round(v / 257.0)
        g = np.clip(g, 0, 255).astype(np.uint8)
        arr = np.repeat(g[..., None], 3, axis=2)
    elif mode in ("L", "1"):
        g = np.asarray(im.convert("L"), dtype=np.uint8)
        arr = np.repeat(g[..., None], 3, axis=2)
    elif mode in ("RGBA", "RGBa", "LA", "La", "PA", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        if mode == "P" and "transparency" in im.info:
            im = im.convert("RGBA")
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    elif mode == "F":
        raise ImageError(f"Image {path} is a floating-point image (mode F); expected 8- or 16-bit.")
    else:
        try:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as e:
            raise ImageError(f"Image {path} has unsupported mode {mode}: {e}") from None
    return np.ascontiguousarray(arr)


def encode_png(arr: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array (no metadata, fixed compression level)."""
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"encode_png expects (H, W, 3) uint8, got {arr.shape} {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def write_png(path: str | os.PathLike, arr: np.ndarray) -> str:
    """Write ``arr`` as PNG atomically; returns the sha256 of the file bytes."""
    data = encode_png(arr)
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def pixel_sha256(arr: np.ndarray) -> str:
    """Digest of decoded pixels (shape + bytes): identical on any machine even where PNG
    encoders (zlib builds) would produce different file bytes."""
    h = hashlib.sha256()
    h.update(repr(tuple(arr.shape)).encode())
    h.update(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
    return h.hexdigest()


def to_tensor(arr: np.ndarray):
    """(H, W, 3) uint8 → (3, H, W) float32 torch tensor in [0, 1]."""
    import torch

    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:  # arrays viewing PIL/bytes memory are read-only; torch warns on them
        arr = arr.copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)


def to_uint8(t) -> np.ndarray:
    """(3, H, W) float tensor in [0, 1] → (H, W, 3) uint8, round-half-to-even after clamping.

    The single quantisation rule for SR outputs (NaN pixels raise: they must be reported,
    never silently written)."""
    import torch

    t = t.detach().float().cpu()
    if not torch.isfinite(t).all():
        raise ValueError("image tensor contains NaN or inf values")
    return t.clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
