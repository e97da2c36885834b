"""Shared pieces of the reliability suite: synthetic data roots and protocol specs, image
files that are broken or unusual in one specific way, and a CLI helper that checks the
one-message-exit-1 contract.

Every fixture writes under ``tmp_path``; the suite-wide conftest already isolates the data,
weights and results roots per test.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from PIL import Image

SCALE = 2


def coord_image(h: int, w: int, salt: int = 0) -> np.ndarray:
    """RGB pixels that encode their coordinates (any misalignment or flip shows)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(y * 7 + salt) % 256, (x * 5) % 256, (y + x + 3 * salt) % 256], -1).astype(np.uint8)


def save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def spec_dict(name: str, *, pairs: dict | None = None, source: dict | None = None, **top) -> dict:
    """A valid folder protocol: ``synth/HR/*.png`` (+ ``synth/LR/*x2.png`` when pairs come
    from the source), scale 2, metric psnr-y."""
    src = {"dataset": "synthetic", "url": "https://example.org/synth", "root": "synth", "hr": "HR/*"}
    pr = {"rule": "whole", "lr_from": "degrade", "degradation": "avgpool"}
    src.update(source or {})
    pr.update(pairs or {})
    spec = {
        "name": name,
        "version": 1,
        "description": "reliability test protocol",
        "citation": "none",
        "scale": SCALE,
        "seed": 0,
        "expected_pairs": src.get("count", 2),
        "source": {"count": 2, **src},
        "pairs": pr,
        "metrics": ["psnr-y"],
    }
    spec.update(top)
    return spec


def write_spec(folder: Path, spec: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def paired_data(root: Path, sizes=((24, 20), (16, 18)), scale: int = SCALE) -> Path:
    """``synth/HR/img{i}.png`` and ``synth/LR/img{i}x{scale}.png`` with LR = HR[::scale, ::scale]."""
    for i, (h, w) in enumerate(sizes):
        hr = coord_image(h, w, i)
        save(root / "synth" / "HR" / f"img{i}.png", hr)
        save(root / "synth" / "LR" / f"img{i}x{scale}.png", np.ascontiguousarray(hr[::scale, ::scale]))
    return root


def hr_only_data(root: Path, second: tuple[bytes, str] | None = None) -> Path:
    """synth/HR/img0.png (valid 24x20) and img1 (valid 16x18, or the given bytes/suffix);
    returns img1's path."""
    save(root / "synth" / "HR" / "img0.png", coord_image(24, 20, 0))
    if second is None:
        return save(root / "synth" / "HR" / "img1.png", coord_image(16, 18, 1))
    data, suffix = second
    path = root / "synth" / "HR" / f"img1{suffix}"
    path.write_bytes(data)
    return path


def given_spec(name: str, count: int = 2, rule: str = "given") -> dict:
    return spec_dict(
        name,
        source={"hr": "HR/*", "lr": "LR/*", "lr_suffix": f"x{SCALE}", "count": count},
        pairs={"rule": rule, "lr_from": "source", "degradation": None},
    )


# ------------------------------------------------------------------ broken / unusual images


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(side: int = 20000) -> bytes:
    """A valid PNG header claiming side x side pixels (400 M at 20000) with almost no data:
    what a decompression bomb looks like before it is decoded."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def encoded(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def broken_bytes(kind: str, h: int = 16, w: int = 16) -> bytes:
    """File contents for the unreadable cases."""
    arr = coord_image(h, w, 5)
    if kind == "zero-byte":
        return b""
    if kind == "truncated-png":
        data = encoded(arr, "PNG")
        return data[: len(data) // 2]
    if kind == "truncated-jpeg":
        data = encoded(arr, "JPEG", quality=90)
        return data[: len(data) // 2]
    if kind == "not-an-image":
        return b"name,value\nthis is a CSV file with an image extension\n"
    if kind == "bomb":
        return bomb_png()
    raise ValueError(kind)


BROKEN = {
    # kind: (file suffix, fragment of the message after the file name)
    "zero-byte": (".png", "is empty (0 bytes)"),
    "truncated-png": (".png", "Cannot decode image"),
    "truncated-jpeg": (".jpg", "Cannot decode image"),
    "not-an-image": (".png", "Cannot decode image"),
    "bomb": (".png", "decompression-bomb guard"),
}


def unusual_image(kind: str, h: int, w: int) -> tuple[bytes, str, np.ndarray, int]:
    """(file bytes, suffix, the RGB uint8 pixels the documented rule must give, tolerance)."""
    rgb = coord_image(h, w, 9)
    if kind == "gray":
        g = rgb[..., 0]
        return encoded(g, "PNG"), ".png", np.repeat(g[..., None], 3, 2), 0
    if kind == "gray16":
        v = (np.arange(h * w, dtype=np.uint32).reshape(h, w) * 997 % 65536).astype(np.uint16)
        g = np.floor(v.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)  # round(v / 257)
        return encoded(v, "PNG"), ".png", np.repeat(g[..., None], 3, 2), 0
    if kind == "rgb16":
        # 48-bit PNG written by hand (Pillow cannot write one); Pillow decodes it to its high
        # bytes, v >> 8 — at most one level from round(v / 257), the 16-bit gray rule
        v = (np.arange(h * w * 3, dtype=np.uint32).reshape(h, w, 3) * 4099 % 65536).astype(np.uint16)
        raw = b"".join(b"\x00" + v[i].astype(">u2").tobytes() for i in range(h))
        ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
        data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
        return data + png_chunk(b"IEND", b""), ".png", (v >> 8).astype(np.uint8), 0
    if kind == "rgba":
        alpha = ((np.arange(h * w).reshape(h, w) * 13) % 256).astype(np.uint8)
        return encoded(np.dstack([rgb, alpha]), "PNG"), ".png", rgb, 0  # alpha dropped, colours kept
    if kind == "palette":
        im = Image.fromarray(rgb).quantize(colors=12, dither=Image.Dither.NONE)
        pal = np.array(im.getpalette()[: 3 * 256], dtype=np.uint8).reshape(-1, 3)
        expected = pal[np.asarray(im)]  # palette lookup done here with numpy
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue(), ".png", expected, 0
    if kind == "cmyk-jpeg":
        # K = 0 and C/M/Y = 255 - R/G/B, so the RGB the file means is `rgb` (up to JPEG loss)
        cmyk = np.dstack([255 - rgb, np.zeros((h, w), np.uint8)])
        buf = io.BytesIO()
        Image.fromarray(cmyk, "CMYK").save(buf, format="JPEG", quality=100, subsampling=0)
        return buf.getvalue(), ".jpg", rgb, 12
    if kind == "exif-rotated-jpeg":
        # Stored w x h (transposed), EXIF orientation 6: a viewer rotates it 90 degrees clockwise.
        stored = np.ascontiguousarray(np.rot90(rgb, k=1))  # what a camera writes for a portrait shot
        exif = Image.Exif()
        exif[0x0112] = 6
        buf = io.BytesIO()
        Image.fromarray(stored).save(buf, format="JPEG", quality=100, subsampling=0, exif=exif.tobytes())
        return buf.getvalue(), ".jpg", rgb, 12
    raise ValueError(kind)


UNUSUAL = ("gray", "gray16", "rgb16", "rgba", "palette", "cmyk-jpeg", "exif-rotated-jpeg")


# ------------------------------------------------------------------ the CLI contract


def invoke(*args: str, env: dict | None = None):
    from typer.testing import CliRunner

    from yonos_bench.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_fails(result, *fragments: str) -> str:
    """Exit code 1, one message containing every fragment, no traceback."""
    out = flat(result.output)
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    assert out.startswith("Error:") or "Error:" in out, out
    for f in fragments:
        assert flat(f) in out, f"{f!r} not in: {out}"
    return out


@pytest.fixture
def rel():
    """The helpers above, as a fixture (test modules cannot import each other in importlib mode)."""
    return SimpleNamespace(
        coord_image=coord_image,
        save=save,
        spec_dict=spec_dict,
        given_spec=given_spec,
        write_spec=write_spec,
        paired_data=paired_data,
        hr_only_data=hr_only_data,
        broken_bytes=broken_bytes,
        BROKEN=BROKEN,
        unusual_image=unusual_image,
        UNUSUAL=UNUSUAL,
        bomb_png=bomb_png,
        invoke=invoke,
        assert_fails=assert_fails,
        flat=flat,
        SCALE=SCALE,
    )


@pytest.fixture
def prepared(tmp_path):
    """A prepared HR-only x2 protocol (avgpool LR): pairs img0 (LR 12x10) and img1 (LR 8x9).
    Returns (spec file, data root)."""
    root = tmp_path / "data"
    hr_only_data(root)
    spec = write_spec(tmp_path / "specs", spec_dict("outs"))
    res = invoke("protocols", "prepare", spec, "--data-root", root, "--json")
    assert res.exit_code == 0, res.output
    return spec, root
