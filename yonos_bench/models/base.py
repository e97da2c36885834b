"""The adapter interface every SR model satisfies, and the checks every adapter shares.

An adapter turns a batch of LR images into SR images (DESIGN.md "Model adapter"):

* input  ``lr``: float (B, 3, h, w) in [0, 1], RGB;
* output: float (B, 3, scale*h, scale*w) in [0, 1] — exactly, never floored or padded
  (an adapter that pads internally crops back; its policy is written in its docstring);
* ``seeds``: one int per image. Stochastic adapters draw each image's noise from a
  generator seeded with that image's seed, so an output never depends on the batch it
  was computed in, nor on the device count;
* ``steps``: the number of sampling steps for adapters that take it (``None`` = the
  card's default); adapters that take no steps refuse any other value.

:class:`SRModelBase` does the argument checks, calls the adapter's ``_upscale`` and
checks what comes back, so every adapter obeys the same rules.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from yonos_bench.core.errors import YonosError

if TYPE_CHECKING:
    import torch

DTYPES = ("fp32", "fp16", "bf16")


class ScaleMismatchError(YonosError, ValueError):
    """A model's scale differs from the scale the caller (a protocol) needs."""


@runtime_checkable
class SRModel(Protocol):
    """What the runner needs from any model (CONTRACTS.md "Models")."""

    name: str
    scale: int
    supports_steps: bool
    default_steps: int | None
    weights_digest: str

    def upscale(
        self,
        lr: torch.Tensor,
        *,
        steps: int | None = None,
        seeds: Sequence[int],
        names: Sequence[str] | None = None,
    ) -> torch.Tensor: ...


class SRModelBase:
    """Shared checks around an adapter's ``_upscale``.

    Subclasses set ``name``, ``scale``, ``supports_steps``, ``default_steps``,
    ``weights_digest`` (and ``needs_names`` when they match outputs by pair id) and
    implement ``_upscale(lr, steps, seeds, names)``.
    """

    name: str = ""
    scale: int = 1
    supports_steps: bool = False
    default_steps: int | None = None
    weights_digest: str = "none"
    needs_names: bool = False
    #: True when an image's output cannot depend on which other images share its batch
    #: (computed image by image, or read from files); otherwise the batch size is part of
    #: the cell key, so a cell never mixes outputs of two batch sizes.
    batch_invariant: bool = False
    #: False for outputs made elsewhere (folder adapter): their s/img is not measured by us.
    runs_here: bool = True
    #: Human-readable facts recorded next to results (adapter, options, backend versions).
    info: dict[str, Any]

    def upscale(
        self,
        lr: torch.Tensor,
        *,
        steps: int | None = None,
        seeds: Sequence[int],
        names: Sequence[str] | None = None,
    ) -> torch.Tensor:
        check_lr(lr)
        n = lr.shape[0]
        seeds = check_seeds(seeds, n)
        if names is not None:
            names = [str(x) for x in names]
            if len(names) != n:
                raise ValueError(f"names: got {len(names)} names for a batch of {n} images")
        elif self.needs_names:
            raise ValueError(
                f"names: model '{self.name}' reads outputs by pair id, so upscale() needs names= (the pair ids)"
            )
        steps = self.resolve_steps(steps)
        import torch

        try:
            out = self._upscale(lr, steps, seeds, names)
        except (torch.OutOfMemoryError, MemoryError) as e:
            raise out_of_memory_error(self, lr, e) from None
        return check_output(out, lr, self.scale, self.name, names)

    def resolve_steps(self, steps: int | None) -> int | None:
        """The number of steps that will actually be used (``None`` for step-less models)."""
        if not self.supports_steps:
            if steps is not None and steps != self.default_steps:
                raise ValueError(
                    f"steps: model '{self.name}' takes no sampling steps (got steps={steps}); leave it unset"
                )
            return self.default_steps
        if steps is None:
            steps = self.default_steps
        if steps is None:
            raise ValueError(
                f"steps: model '{self.name}' needs a number of sampling steps (none given, no default)"
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: must be a positive integer, got {steps!r}")
        return steps

    def check_names(self, names: Sequence[str], known: Sequence[str] | None = None) -> None:
        """Called once with every pair id of a run before any ``upscale`` call (hook for
        adapters that read outputs produced elsewhere: they name missing and extra files
        up front). ``known``: every pair id of the protocol when the run uses only some
        (``--limit``); files for those are not "extra". Default: nothing to check."""

    def _upscale(
        self, lr: torch.Tensor, steps: int | None, seeds: list[int], names: list[str] | None
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} x{self.scale}>"


# --------------------------------------------------------------------------- checks


def check_lr(lr: Any) -> None:
    import torch

    if not isinstance(lr, torch.Tensor):
        raise ValueError(f"lr: expected a torch.Tensor (B, 3, h, w) in [0, 1], got {type(lr).__name__}")
    if lr.ndim != 4 or lr.shape[1] != 3:
        raise ValueError(f"lr: expected shape (B, 3, h, w), got {tuple(lr.shape)}")
    if lr.shape[0] == 0 or lr.shape[2] == 0 or lr.shape[3] == 0:
        raise ValueError(f"lr: empty batch or image, shape {tuple(lr.shape)}")
    if not lr.is_floating_point():
        raise ValueError(f"lr: expected a floating-point tensor in [0, 1], got dtype {lr.dtype}")
    if not torch.isfinite(lr).all():
        raise ValueError("lr: contains NaN or inf values")
    lo, hi = float(lr.min()), float(lr.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"lr: values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")


def check_seeds(seeds: Any, n: int) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise ValueError(f"seeds: expected one int per image (a sequence of {n}), got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int):
            try:
                import numpy as np

                if isinstance(s, np.integer):
                    s = int(s)
            except ImportError:  # pragma: no cover
                pass
        if isinstance(s, bool) or not isinstance(s, int) or s < 0 or s >= 2**63:
            raise ValueError(f"seeds: each seed must be an int in [0, 2**63), got {s!r}")
        out.append(int(s))
    if len(out) != n:
        raise ValueError(f"seeds: got {len(out)} seeds for a batch of {n} images (one seed per image)")
    return out


def out_of_memory_error(model: Any, lr: torch.Tensor, e: BaseException) -> YonosError:
    """Out of (GPU) memory: what was asked, and the knobs that lower memory. Outputs never
    depend on the batch size (one seed per image), so retrying smaller changes no number."""
    b, _, h, w = lr.shape
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    knobs = "--batch-size (1 needs the least memory)"
    if hasattr(model, "tile_size"):  # spandrel (tile) and YONOS (tile_size) adapters tile large images
        knobs += ", a smaller tile (model option tile / tile_size)"
    return YonosError(
        f"Model '{model.name}' ran out of memory on a batch of {b} image(s) of {w}x{h} (WxH) LR pixels "
        f"({first}). Lower {knobs}, or use --dtype fp16/bf16 where the model supports it."
    )


def check_output(
    sr: Any, lr: torch.Tensor, scale: int, name: str, names: Sequence[str] | None = None
) -> torch.Tensor:
    """The adapter-independent promise: exact size, 3 channels, finite, in [0, 1]."""
    import torch

    b, _, h, w = lr.shape
    want = (b, 3, h * scale, w * scale)
    if not isinstance(sr, torch.Tensor) or tuple(sr.shape) != want:
        got = tuple(sr.shape) if isinstance(sr, torch.Tensor) else type(sr).__name__
        raise YonosError(
            f"Model '{name}' returned {got}, expected exactly {want} (scale x{scale} of the input)."
        )
    finite = torch.isfinite(sr).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = [(names[i] if names is not None else f"#{i} of the batch") for i in range(b) if not finite[i]]
        raise YonosError(
            f"Model '{name}' produced NaN or inf values for image{'s' if len(bad) > 1 else ''} "
            f"{', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}; no output is kept for "
            f"{'them' if len(bad) > 1 else 'it'} (try --dtype fp32)."
        )
    return sr.float().clamp(0.0, 1.0)  # out of place: sr may be an inference-mode tensor


def require_scale(model: SRModel, scale: int, what: str = "the protocol") -> None:
    """Raise :class:`ScaleMismatchError` when ``model.scale != scale``."""
    if int(model.scale) != int(scale):
        raise ScaleMismatchError(
            f"Model '{model.name}' upscales x{model.scale} but {what} needs x{scale}; "
            f"choose a x{scale} model (yonos-bench models list shows each model's scale)."
        )


def parse_dtype(dtype: Any) -> torch.dtype:
    """``"fp32" | "fp16" | "bf16"`` (or a torch dtype) → torch dtype."""
    import torch

    table = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if isinstance(dtype, torch.dtype):
        if dtype in table.values():
            return dtype
    elif isinstance(dtype, str) and dtype in table:
        return table[dtype]
    raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")


def parse_device(device: Any) -> torch.device:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device: not a torch device: {device!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise YonosError(f"device '{device}' requested but CUDA is not available on this machine.")
    return dev


def generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One seeded generator per image (EDM/k-diffusion style per-image seeds)."""
    import torch

    # CPU generators on any device (diffusers' randn_tensor samples on the generator's
    # device and moves the noise), so a seed gives the same noise on every machine.
    del device
    return [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad (B,C,h,w) on the bottom/right to a multiple of ``multiple`` by reflection
    (replicate where the image is too small to reflect). Returns (padded, h, w) so the
    caller can crop its output back to ``scale*h × scale*w``."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, h, w
    rh, rw = min(ph, h - 1), min(pw, w - 1)
    if rh or rw:
        x = F.pad(x, (0, rw, 0, rh), mode="reflect")
    if ph - rh or pw - rw:
        x = F.pad(x, (0, pw - rw, 0, ph - rh), mode="replicate")
    return x, h, w


# --------------------------------------------------------------------------- digests

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, cached per process by (path, size, mtime)."""
    from yonos_bench.core.weights import sha256_of

    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_of(p)
    return _DIGESTS[key]


def combined_digest(entries: Sequence[tuple[str, str]]) -> str:
    """One sha256 over (relative path, file sha256) pairs, order-independent."""
    h = hashlib.sha256()
    for rel, digest in sorted(entries):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


def folder_digest(folder: str | os.PathLike) -> str:
    """Digest of every regular, non-hidden file below ``folder`` (a pipeline folder)."""
    root = Path(folder)
    entries = [
        (p.relative_to(root).as_posix(), file_digest(p))
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return combined_digest(entries)
