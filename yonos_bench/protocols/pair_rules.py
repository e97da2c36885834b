"""The rules that turn one source image into LR/HR pairs: seeds, subsets, crop boxes,
HR resizing and LR degradation.

Determinism: every random choice comes from a hash of (protocol seed, source image name,
patch index) — never from a global RNG, a worker index or a library's random stream — so
the same spec and source give the same pairs on any machine and any number of workers.
Boxes are ``(top, left, height, width)``; crop boxes are drawn on the LR grid and the HR box
is the LR box × scale, so LR and HR are aligned pixel-exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from yonos_bench.core.atomic import write_error
from yonos_bench.core.errors import ImageError
from yonos_bench.core.imageio import encode_png, pixel_sha256, read_rgb8
from yonos_bench.protocols.sources import SourceImage
from yonos_bench.protocols.spec import DETERMINISTIC_DEGRADATIONS, HrResizeSpec, ProtocolSpec, SubsetSpec

T = TypeVar("T")
Box = tuple[int, int, int, int]


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from the protocol seed and names (sha256, so independent of order/platform)."""
    text = "/".join([str(int(seed)), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def draw_int(seed: int, label: str, n: int) -> int:
    """Uniform integer in ``[0, n)`` from ``seed`` and ``label`` (modulo bias < 2**-200)."""
    if n < 1:
        raise ValueError(f"draw_int: n must be >= 1, got {n}")
    return int.from_bytes(hashlib.sha256(f"{seed}/{label}".encode()).digest(), "big") % n


def select_subset(items: Sequence[T], subset: SubsetSpec) -> list[T]:
    """``sorted_items[offset::every][:first]`` — e.g. "sorted, every 10th" is ``every: 10``."""
    chosen = list(items)[subset.offset :: subset.every]
    return chosen if subset.first is None else chosen[: subset.first]


def center_box(h: int, w: int, size: int) -> Box:
    """The ``size``×``size`` box at the centre (top/left rounded down, as StableSR's crops)."""
    if h < size or w < size:
        raise ValueError(f"center_box: image {h}x{w} is smaller than the crop {size}")
    return ((h - size) // 2, (w - size) // 2, size, size)


def random_boxes(h: int, w: int, size: int, count: int, seed: int) -> list[Box]:
    """``count`` boxes uniform over every position where ``size``×``size`` fits in ``h``×``w``."""
    if h < size or w < size:
        raise ValueError(f"random_boxes: image {h}x{w} is smaller than the crop {size}")
    return [
        (draw_int(seed, f"{k}/top", h - size + 1), draw_int(seed, f"{k}/left", w - size + 1), size, size)
        for k in range(count)
    ]


def scale_box(box: Box, scale: int) -> Box:
    return tuple(v * scale for v in box)  # type: ignore[return-value]


def crop(arr: np.ndarray, box: Box) -> np.ndarray:
    top, left, h, w = box
    if top < 0 or left < 0 or top + h > arr.shape[0] or left + w > arr.shape[1]:
        raise ValueError(f"crop box {box} is outside the image {arr.shape[0]}x{arr.shape[1]}")
    return np.ascontiguousarray(arr[top : top + h, left : left + w])


def modcrop(arr: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop to a multiple of ``scale`` (the usual SR "mod crop")."""
    h, w = arr.shape[0] - arr.shape[0] % scale, arr.shape[1] - arr.shape[1] % scale
    return np.ascontiguousarray(arr[:h, :w])


def adm_center_crop(arr: np.ndarray, size: int) -> np.ndarray:
    """guided-diffusion's ``center_crop_arr``: BOX-halve while the short side >= 2·size, BICUBIC
    resize so the short side is ``size`` (Pillow), then centre crop ``size``×``size``."""
    from PIL import Image

    im = Image.fromarray(arr, "RGB")
    while min(im.size) >= 2 * size:
        im = im.resize(tuple(x // 2 for x in im.size), resample=Image.Resampling.BOX)
    s = size / min(im.size)
    im = im.resize(tuple(round(x * s) for x in im.size), resample=Image.Resampling.BICUBIC)
    out = np.asarray(im, dtype=np.uint8)
    top, left = (out.shape[0] - size) // 2, (out.shape[1] - size) // 2
    return np.ascontiguousarray(out[top : top + size, left : left + size])


def resize_hr(arr: np.ndarray, rule: HrResizeSpec) -> np.ndarray:
    if rule.method == "adm-center-crop":
        return adm_center_crop(arr, rule.size)
    raise ValueError(f"unknown hr_resize method {rule.method!r}")  # excluded by spec validation


def _quantize(y: np.ndarray) -> np.ndarray:
    """Float values on the 0–255 scale → uint8 by MATLAB's rule (round half away from zero,
    saturate), the rule DIV2K's LR were written with."""
    return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


def degrade_whole(hr: np.ndarray, name: str, scale: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Deterministic degradation of a whole (mod-cropped) image: ``bicubic`` or ``avgpool``.

    Works on the 0–255 scale in float64 (MATLAB ``imresize`` on a uint8 image), then
    quantises with :func:`_quantize`. Returns the LR and the record for the manifest."""
    import torch

    from yonos_bench.degradations import avgpool_downsample, bicubic_resize

    if name not in DETERMINISTIC_DEGRADATIONS:
        raise ValueError(f"degrade_whole: '{name}' is not a deterministic degradation")
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"degrade_whole: image {h}x{w} is not a multiple of scale {scale}")
    x = torch.from_numpy(np.array(hr, dtype=np.float64)).permute(2, 0, 1)[None]
    with torch.no_grad():
        if name == "bicubic":
            y = bicubic_resize(x, size=(h // scale, w // scale), antialias=True)
        else:
            y = avgpool_downsample(x, scale)
    lr = _quantize(y[0].permute(1, 2, 0).numpy())
    return lr, {"name": name, "scale": scale, "applied_to": "whole image", "quantization": "round-half-up"}


def degrade_patches(
    hr_patches: Sequence[np.ndarray], name: str, scale: int, seeds: Sequence[int]
) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Random degradation (Real-ESRGAN presets) of equally sized HR crops, one seed each,
    on CPU. Returns (LR uint8, record with the sampled parameters) per crop."""
    import torch

    from yonos_bench.degradations import degrade

    if not hr_patches:
        return []
    x = torch.from_numpy(np.stack(hr_patches)).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    with torch.no_grad():
        result = degrade(name, x, scale, [int(s) for s in seeds])
    lr, params = getattr(result, "lr", result), getattr(result, "params", [None] * len(seeds))
    out = []
    for i in range(len(seeds)):
        y = lr[i].detach().to(torch.float64).cpu().permute(1, 2, 0).numpy() * 255.0
        rec = {"name": name, "scale": scale, "applied_to": "HR crop", "params": _jsonable(params[i])}
        out.append((_quantize(y), rec))
    return out


def _jsonable(obj: Any) -> Any:
    """Sampled degradation parameters as plain JSON values (tensors/arrays to lists)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    if isinstance(obj, float):
        return float(obj)
    return obj


# ------------------------------------------------------------------- one source image


def _pair_id(key: str, k: int | None, per_image: int | None) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)
    if k is None:
        return safe
    return f"{safe}_p{k:0{max(2, len(str(per_image - 1)))}d}"


def _lr_grid(spec: ProtocolSpec, src: SourceImage, lr, hr) -> tuple[int, int]:
    """LR grid size (where crop boxes are drawn), after checking the LR/HR size relation.

    ``given``: HR must be exactly scale × LR. Otherwise each LR side must be HR / scale
    rounded down or up: MATLAB's ``imresize(I, 1/s)`` (DIV2K's LR) gives ``ceil(HR / s)``
    when a side is not divisible by ``s``, other tools give the floor. Boxes are drawn on
    ``min(LR, floor(HR / s))`` so the HR box (LR box × s) always lies inside the HR image."""
    s = spec.scale
    if lr is None:  # LR made per HR crop: the LR grid is the HR size // scale
        return hr.shape[0] // s, hr.shape[1] // s
    if hr is None:
        return lr.shape[:2]
    (lh, lw), (hh, hw) = lr.shape[:2], hr.shape[:2]
    if spec.pairs.rule == "given":
        ok = (hh, hw) == (lh * s, lw * s)
        need = f"the HR size to be exactly {s} x the LR size ({lw * s}x{lh * s})"
    else:
        ok = all(side in (big // s, -(-big // s)) for side, big in ((lh, hh), (lw, hw)))
        need = (
            f"each LR side to be the HR side / {s} rounded down or up "
            f"({hw // s} or {-(-hw // s)} wide, {hh // s} or {-(-hh // s)} high)"
        )
    if not ok:
        raise ImageError(
            f"Protocol '{spec.name}': HR {src.hr} is {hw}x{hh} and LR {src.lr} is {lw}x{lh}; the rule "
            f"'{spec.pairs.rule}' needs {need}."
        )
    return min(lh, hh // s), min(lw, hw // s)


def make_source_pairs(spec: ProtocolSpec, src: SourceImage, out_dir: Path) -> tuple[list[dict], list[dict]]:
    """Make (and write under ``out_dir``) every pair of one source image.

    Returns (manifest records, skipped entries). Pure function of (spec, source pixels)."""
    p, s = spec.pairs, spec.scale
    hr = read_rgb8(src.hr) if src.hr is not None else None
    lr = read_rgb8(src.lr) if src.lr is not None else None
    image_seed = derive_seed(spec.seed, src.key)
    whole_record = None
    if p.hr_resize is not None:
        hr = resize_hr(hr, p.hr_resize)
    if p.lr_from == "degrade" and p.degradation in DETERMINISTIC_DEGRADATIONS:
        hr = modcrop(hr, s)
        lr, whole_record = degrade_whole(hr, p.degradation, s)
        if p.hr_resize is not None:
            whole_record["hr_resize"] = {"method": p.hr_resize.method, "size": p.hr_resize.size}
    h, w = _lr_grid(spec, src, lr, hr)

    if p.rule in ("center_crop", "random_patches") and (h < p.lr_size or w < p.lr_size):
        name = src.lr if src.lr is not None else src.hr
        reason = f"LR grid {w}x{h} is smaller than the {p.lr_size}x{p.lr_size} LR crop"
        if p.too_small == "skip":
            return [], [{"source": src.key, "reason": reason}]
        raise ImageError(
            f"Protocol '{spec.name}': image {name}: {reason} (the protocol's rule too_small is 'error')."
        )
    if p.rule == "random_patches":
        boxes = random_boxes(h, w, p.lr_size, p.per_image, image_seed)
        seeds = [derive_seed(spec.seed, src.key, k) for k in range(p.per_image)]
        ids = [_pair_id(src.key, k, p.per_image) for k in range(p.per_image)]
    else:
        boxes = [center_box(h, w, p.lr_size) if p.rule == "center_crop" else (0, 0, h, w)]
        seeds, ids = [image_seed], [_pair_id(src.key, None, None)]

    hr_boxes = [scale_box(b, s) for b in boxes]
    hr_patches = [crop(hr, b) for b in hr_boxes] if hr is not None else [None] * len(boxes)
    if lr is not None:
        lr_patches = [(crop(lr, b), whole_record) for b in boxes]
    else:  # random degradation, one seed per HR crop
        lr_patches = degrade_patches(hr_patches, p.degradation, s, seeds)

    records = []
    for pid, box, hbox, seed, hp, (lp, deg) in zip(
        ids, boxes, hr_boxes, seeds, hr_patches, lr_patches, strict=True
    ):
        rec: dict[str, Any] = {
            "id": pid,
            "source": src.key,
            "seed": seed,
            "crop_box_lr": None if p.rule == "given" else list(box),
            "crop_box_hr": None if (p.rule == "given" or hp is None) else list(hbox),
            "degradation": deg,
            "lr": f"lr/{pid}.png",
            "hr": None if hp is None else f"hr/{pid}.png",
        }
        for kind, arr in (("lr", lp), ("hr", hp)):
            if arr is None:
                rec[f"{kind}_sha256"] = rec[f"{kind}_pixels_sha256"] = None
                continue
            data = encode_png(arr)
            try:  # inside prepare's temporary folder: no atomic rename needed
                (out_dir / rec[kind]).write_bytes(data)
            except OSError as e:
                raise write_error(out_dir / rec[kind], e) from e
            rec[f"{kind}_sha256"] = hashlib.sha256(data).hexdigest()
            rec[f"{kind}_pixels_sha256"] = pixel_sha256(arr)
        records.append(rec)
    return records, []
