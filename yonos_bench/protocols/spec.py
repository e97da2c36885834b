"""Protocol registry: one YAML spec per protocol, validated into frozen dataclasses.

Specs ship as package data in ``yonos_bench/protocols/<name>.yaml``. Validation is strict
(lm-evaluation-harness style): an unknown key, a wrong type or a missing field is a
:class:`~yonos_bench.core.errors.SpecError` naming the file and the key; malformed YAML names
the file and the line; an unknown protocol name gets "did you mean"; two specs with the
same name are rejected. ``version`` must be bumped on any change that moves numbers.

This module imports neither torch nor any image library, so listing is instant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from yonos_bench.core.errors import SpecError, did_you_mean

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
METRIC_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEGRADATIONS = ("bicubic", "avgpool", "realesrgan", "realesrgan-stablesr")
#: Degradations with no random parameters: applied to the whole source image before cropping.
DETERMINISTIC_DEGRADATIONS = ("bicubic", "avgpool")


@dataclass(frozen=True)
class SourceSpec:
    """Where the source images are and how many there must be.

    ``kind: folder`` — ``hr`` / ``lr`` are glob patterns relative to ``<data_root>/<root>``,
    matched files are sorted by relative path; the pair key of a file is its stem minus
    ``hr_suffix`` / ``lr_suffix`` (e.g. DIV2K ``0801x4.png`` with ``lr_suffix: x4``).
    Extensions in patterns compare case-insensitively (``*.png`` finds ``0801.PNG``) and
    dot-files are ignored.
    ``kind: package`` — ``files`` are ``<importable package>/<path inside it>`` (images that
    ship inside installed packages, used by the embedded ``sample`` protocol).
    """

    dataset: str
    count: int  # expected number of source images (HR, or LR for LR-only protocols)
    kind: Literal["folder", "package"] = "folder"
    url: str | None = None
    root: str | None = None
    hr: str | None = None
    lr: str | None = None
    hr_suffix: str = ""
    lr_suffix: str = ""
    files: tuple[str, ...] = ()
    sha256: dict[str, str] = field(default_factory=dict, hash=False)  # key -> file sha256 where known
    #: Pins the file list itself: sha256 of the sorted relative paths of the main source files
    #: joined by newlines (``sources.names_digest``), so any other selection of images is refused.
    names_sha256: str | None = None


@dataclass(frozen=True)
class SubsetSpec:
    """Which sorted source images are used: ``sorted[offset::every][:first]``."""

    offset: int = 0
    every: int = 1
    first: int | None = None


@dataclass(frozen=True)
class HrResizeSpec:
    """Bring HR to ``size``×``size`` before anything else (ImageNet / FFHQ ×8 protocols).

    ``adm-center-crop``: guided-diffusion's ``center_crop_arr`` (Pillow BOX halving while the
    short side ≥ 2·size, BICUBIC resize of the short side to ``size``, then center crop)."""

    method: Literal["adm-center-crop"]
    size: int


@dataclass(frozen=True)
class PairsSpec:
    """How LR/HR pairs are made from the sources.

    ``rule``: ``given`` (pairs used as released; HR must be exactly scale × LR), ``whole``
    (the whole image), ``center_crop`` (one ``lr_size`` LR crop at the centre),
    ``random_patches`` (``per_image`` seeded ``lr_size`` LR crops per image). Crop boxes are
    drawn on the LR grid; the HR box is the LR box × scale (pixel-exact alignment).
    ``lr_from``: ``source`` (LR files from the dataset) or ``degrade`` (LR made from HR with
    ``degradation``; deterministic degradations act on the whole image before cropping,
    random ones on each HR crop with the pair's own seed).
    ``too_small``: an image whose LR is smaller than ``lr_size`` is an ``error`` or is
    ``skip``-ped with the reason recorded in the manifest.
    """

    rule: Literal["given", "whole", "center_crop", "random_patches"]
    lr_from: Literal["source", "degrade"] = "source"
    lr_size: int | None = None
    per_image: int | None = None
    degradation: str | None = None
    hr_resize: HrResizeSpec | None = None
    subset: SubsetSpec = field(default_factory=SubsetSpec)
    too_small: Literal["error", "skip"] = "error"


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    version: int
    description: str
    citation: str
    scale: int
    seed: int
    source: SourceSpec
    pairs: PairsSpec
    metrics: tuple[str, ...]
    expected_pairs: int
    lr_only: bool = False
    notes: tuple[str, ...] = ()  # documented choices where the paper leaves one open
    file: str = field(default="", compare=False)  # where the spec was read from (not a YAML key)

    @property
    def spec_sha256(self) -> str:
        """Digest of the parsed spec (formatting and comments do not count)."""
        d = dataclasses.asdict(self)
        d.pop("file")
        # Keys added after a spec was released are left out while at their default, so adding
        # them does not move the digest (and prepared copies) of specs that do not use them.
        if d["source"]["names_sha256"] is None:
            d["source"].pop("names_sha256")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    @property
    def instance_name(self) -> str:
        return f"{self.name}-v{self.version}"


# --------------------------------------------------------------------------- validation

_NOT_YAML = {"file"}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping of str to str"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return {int: "integer", str: "string", bool: "boolean"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    """Check ``value`` against the type hint ``tp``; return the converted value."""
    origin = typing.get_origin(tp)
    bad = SpecError(f"{where}: key '{key}' must be {_type_name(tp)}, got {type(value).__name__} {value!r}.")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where, key)
            except SpecError:
                continue
        raise bad
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise bad
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(item, v, where, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise bad
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, where, prefix=f"{key}.")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise bad
        return value
    raise TypeError(f"unsupported spec field type {tp!r}")  # a programming error, not user input


def _build(cls: type, data: dict, where: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _NOT_YAML}
    for k in data:
        if k not in fields:
            from yonos_bench.core.strict_yaml import at_line

            close = did_you_mean("key", str(k), list(fields))
            raise SpecError(f"{where}: unknown key '{prefix}{k}'{at_line(data, k)}. {close}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], where, prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(f"{where}: missing required key '{prefix}{name}'.")
    return cls(**kwargs)


def _check_semantics(spec: ProtocolSpec, where: str) -> None:
    """Cross-field rules that the type hints alone cannot express."""

    def fail(key: str, msg: str) -> None:
        raise SpecError(f"{where}: key '{key}' {msg}")

    if not NAME_RE.match(spec.name):
        fail("name", f"must match {NAME_RE.pattern}, got {spec.name!r}.")
    for k in ("version", "scale", "expected_pairs"):
        if getattr(spec, k) < 1:
            fail(k, "must be >= 1.")
    if spec.seed < 0:
        fail("seed", "must be >= 0.")
    for m in spec.metrics:
        if not METRIC_RE.match(m):
            fail("metrics", f"has an invalid metric id {m!r}.")
    if len(set(spec.metrics)) != len(spec.metrics):
        fail("metrics", "lists a metric twice.")
    s, p = spec.source, spec.pairs
    if s.count < 1:
        fail("source.count", "must be >= 1.")
    for k, v in s.sha256.items():
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            fail(f"source.sha256.{k}", f"must be 64 lowercase hex digits, got {v!r}.")
    if s.names_sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", s.names_sha256):
        fail("source.names_sha256", f"must be 64 lowercase hex digits, got {s.names_sha256!r}.")
    if s.kind == "folder":
        if not s.root:
            fail("source.root", "is required for kind 'folder'.")
        if s.files:
            fail("source.files", "is only for kind 'package'.")
        if spec.lr_only and (s.hr or not s.lr):
            fail("source.lr", "is required (and source.hr not allowed) when lr_only is true.")
        if not spec.lr_only and not s.hr:
            fail("source.hr", "is required unless lr_only is true.")
        if p.lr_from == "source" and not s.lr:
            fail("source.lr", "is required when pairs.lr_from is 'source'.")
        if p.lr_from == "degrade" and s.lr:
            fail("source.lr", "must be absent when pairs.lr_from is 'degrade' (LR is made from HR).")
    else:
        if not s.files:
            fail("source.files", "is required for kind 'package'.")
        if s.names_sha256 is not None:
            fail("source.names_sha256", "is only for kind 'folder'.")
        if s.root or s.hr or s.lr:
            fail("source.root", "(and hr/lr) are only for kind 'folder'.")
        if len(s.files) != s.count:
            fail("source.count", f"is {s.count} but source.files lists {len(s.files)} files.")
        if p.lr_from != "degrade":
            fail("pairs.lr_from", "must be 'degrade' for kind 'package' (packages ship HR images only).")
    if p.lr_from == "degrade":
        if p.degradation not in DEGRADATIONS:
            fail("pairs.degradation", f"must be one of {', '.join(DEGRADATIONS)} when lr_from is 'degrade'.")
        if spec.lr_only:
            fail("pairs.lr_from", "cannot be 'degrade' for an LR-only protocol.")
    elif p.degradation is not None:
        fail("pairs.degradation", "is only allowed when pairs.lr_from is 'degrade'.")
    if p.rule in ("center_crop", "random_patches"):
        if p.lr_size is None or p.lr_size < 1:
            fail("pairs.lr_size", f"must be a positive integer for rule '{p.rule}'.")
    elif p.lr_size is not None:
        fail("pairs.lr_size", f"is not used by rule '{p.rule}'.")
    if (p.rule == "random_patches") != (p.per_image is not None):
        fail("pairs.per_image", "is required for (and only for) rule 'random_patches'.")
    if p.per_image is not None and p.per_image < 1:
        fail("pairs.per_image", "must be >= 1.")
    if p.rule == "given" and (p.lr_from != "source" or spec.lr_only):
        fail("pairs.rule", "'given' needs released LR and HR files (lr_from: source, not lr_only).")
    if p.hr_resize is not None and (p.hr_resize.size < 1 or p.hr_resize.size % spec.scale):
        fail("pairs.hr_resize.size", f"must be a positive multiple of scale {spec.scale}.")
    sub = p.subset
    if sub.offset < 0 or sub.every < 1 or (sub.first is not None and sub.first < 1):
        fail("pairs.subset", "needs offset >= 0, every >= 1, first >= 1.")
    n_images = len(range(sub.offset, s.count, sub.every))
    n_images = n_images if sub.first is None else min(n_images, sub.first)
    n_pairs = n_images * (p.per_image or 1)
    if n_pairs != spec.expected_pairs:
        fail(
            "expected_pairs",
            f"is {spec.expected_pairs} but source.count and pairs give {n_pairs} "
            f"({n_images} images x {p.per_image or 1} per image).",
        )


def parse_spec(text: str, where: str) -> ProtocolSpec:
    """Parse and validate one spec's YAML text; ``where`` names it in error messages."""
    from yonos_bench.core.strict_yaml import load_yaml

    data = load_yaml(text, where)  # a key given twice is an error, not "last one wins"
    if not isinstance(data, dict):
        raise SpecError(f"{where}: a protocol spec must be a YAML mapping, got {type(data).__name__}.")
    spec = _build(ProtocolSpec, data, where)
    spec = dataclasses.replace(spec, file=where)
    _check_semantics(spec, where)
    return spec


def load_spec_file(path: str | os.PathLike) -> ProtocolSpec:
    """Load a spec from a YAML file anywhere (user-defined protocols, tests)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"Cannot read protocol spec {path}: {e.strerror or e}.") from None
    spec = parse_spec(text, str(path))
    if spec.name != path.stem:
        raise SpecError(f"{path}: key 'name' is {spec.name!r} but the file is named {path.name!r}.")
    shipped = dict(_shipped()).get(spec.name)
    if shipped is not None and shipped.version == spec.version and shipped.spec_sha256 != spec.spec_sha256:
        # Prepared pairs and results are stored by name and version: a different spec under a
        # registered name would replace the registered pairs and mix their results.
        raise SpecError(
            f"{path}: protocol '{spec.name}' version {spec.version} is already registered ({shipped.file}) "
            "with different content; give your protocol another name (and file name)."
        )
    return spec


def protocols_dir() -> Path:
    from yonos_bench.core.paths import registry_dir

    return registry_dir("protocols")


def load_registry(folder: str | os.PathLike | None = None) -> dict[str, ProtocolSpec]:
    """All specs of ``folder`` (default: the shipped ``protocols/``), by name; duplicates rejected."""
    folder = Path(folder) if folder is not None else protocols_dir()
    if folder == protocols_dir():
        return dict(_shipped())
    return _load_folder(folder)


@lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[str, ProtocolSpec], ...]:
    return tuple(_load_folder(protocols_dir()).items())


def _load_folder(folder: Path) -> dict[str, ProtocolSpec]:
    specs: dict[str, ProtocolSpec] = {}
    for path in sorted(folder.glob("*.y*ml")):
        spec = parse_spec(path.read_text(encoding="utf-8"), str(path))
        if spec.name in specs:
            raise SpecError(
                f"Duplicate protocol name '{spec.name}': defined in {specs[spec.name].file} and in {path}."
            )
        if spec.name != path.stem:
            raise SpecError(f"{path}: key 'name' is {spec.name!r} but the file is named {path.name!r}.")
        specs[spec.name] = spec
    return specs


def list_protocols() -> list[ProtocolSpec]:
    """Every registered protocol, sorted by name."""
    return [spec for _, spec in sorted(_shipped())]


def load_protocol(name: str) -> ProtocolSpec:
    """The registered protocol ``name``, or a spec file path ending in ``.yaml``/``.yml``."""
    if isinstance(name, ProtocolSpec):
        return name
    if str(name).endswith((".yaml", ".yml")) and Path(name).is_file():
        return load_spec_file(name)
    specs = dict(_shipped())
    if name not in specs:
        raise did_you_mean("protocol", str(name), list(specs))
    return specs[name]
