"""GAN / transformer SR checkpoints through spandrel (Real-ESRGAN, BSRGAN, RealSR, SwinIR, HAT, DAT...).

Loading never executes pickled code: the state dict is read by us — safetensors, or
``torch.load(weights_only=True)`` (spandrel's own loader uses a permissive unpickler) —
canonicalised with spandrel's ``canonicalize_state_dict`` (unwraps ``params_ema`` & co.)
and handed to ``ModelLoader().load_from_state_dict``, which detects the architecture and
its hyper-parameters. TorchScript files are refused.

Size policy: spandrel pads each input to the model's ``size_requirements`` (minimum,
multiple-of, square) by reflection and crops the output back, so the output is exactly
``scale ×`` the input. Large images are cut into tiles only where the descriptor allows it
(``ModelTiling.SUPPORTED``): option ``tile`` = LR tile side in pixels (``0`` never tiles,
``null`` tiles images above ``AUTO_TILE``² pixels), ``tile_overlap`` = LR context added
around each tile and discarded after the forward pass (so a tile's output equals the
untiled output wherever the receptive field fits in the overlap). Models that tile
internally (``ModelTiling.INTERNAL``) are never tiled from outside.

Architectures whose upstream licences keep them out of spandrel (FeMaSR, SRFormer,
Restormer...) come from ``spandrel-extra-arches`` (MIT wrapper; ``pip install
'yonos-bench[femasr]'``), registered with spandrel when installed; a card that needs it
sets option ``extra_arches: true`` and gets one clear message when it is missing.
Option ``pad: femasr`` pads like the authors' ``FeMaSRNet.test`` (the image's mirror
appended below and right up to the next multiple of ``8 // scale * 8`` strictly above its
size; the output cropped back), so outputs match the authors' inference script.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.models.base import SRModelBase

AUTO_TILE = 512  # LR pixels per tile side when tiling automatically
DEFAULT_OVERLAP = 32


def load_state_dict(path: str | os.PathLike) -> dict:
    """Read a checkpoint as a plain state dict without executing code."""
    from spandrel import canonicalize_state_dict

    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(f"Weight file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            sd = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, RuntimeError) as e:
            raise YonosError(f"Cannot read safetensors file {path} (corrupt or truncated?): {e}") from None
    elif suffix in (".pth", ".ckpt", ".pt", ".bin"):
        from yonos_bench.core.weights import torch_load_weights

        sd = torch_load_weights(path)  # weights_only=True; refuses pickles that need code
    else:
        raise YonosError(f"Unsupported weight file type {suffix!r} for {path}: use .pth or .safetensors.")
    if not isinstance(sd, dict):
        raise YonosError(f"{path} does not hold a state dict (found a {type(sd).__name__}).")
    return canonicalize_state_dict(sd)


EXTRA_ARCHES_HINT = "pip install 'yonos-bench[femasr]' (spandrel-extra-arches, MIT)"


def install_extra_arches(*, required_by: str | None = None) -> bool:
    """Register spandrel-extra-arches' architectures with spandrel (once); False when the
    package is absent (an error naming the model when ``required_by`` is given)."""
    try:
        import spandrel_extra_arches
    except ImportError:
        if required_by:
            raise YonosError(
                f"Model '{required_by}' needs the architectures of spandrel-extra-arches: {EXTRA_ARCHES_HINT}."
            ) from None
        return False
    spandrel_extra_arches.install(ignore_duplicates=True)
    return True


def load_descriptor(path: str | os.PathLike):
    """spandrel ``ImageModelDescriptor`` for a single-image SR checkpoint (on CPU, fp32)."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    install_extra_arches()
    sd = load_state_dict(path)
    try:
        desc = ModelLoader(device="cpu").load_from_state_dict(sd)
    except UnsupportedModelError:
        raise YonosError(
            f"spandrel cannot identify the architecture of {path} (keys such as "
            f"{', '.join(list(sd)[:3]) or 'none'}). Supported: the single-image SR architectures of "
            "spandrel (ESRGAN/RRDBNet, SwinIR, HAT, DAT, RCAN...), and with spandrel-extra-arches "
            "FeMaSR, SRFormer..."
        ) from None
    except Exception as e:  # a detected architecture whose tensors do not fit it
        raise YonosError(
            f"spandrel recognised {path} but could not build it: {type(e).__name__}: {e}"
        ) from None
    if not isinstance(desc, ImageModelDescriptor):
        raise YonosError(f"{path} is a {desc.purpose} model ({desc.architecture.name}), not single-image SR.")
    if desc.input_channels != 3 or desc.output_channels != 3:
        raise YonosError(
            f"{path} ({desc.architecture.name}) maps {desc.input_channels} to {desc.output_channels} channels; "
            "RGB in and out is required."
        )
    if desc.scale < 2:
        raise YonosError(f"{path} ({desc.architecture.name}) is a x{desc.scale} restoration model, not SR.")
    return desc


class SpandrelModel(SRModelBase):
    """A spandrel descriptor behind the SRModel interface (deterministic: seeds unused)."""

    def __init__(
        self, name, desc, *, device, dtype, tile, tile_overlap, weights_digest, source, pad=None
    ):
        from spandrel import ModelTiling, UnsupportedDtypeError

        if tile and desc.tiling == ModelTiling.INTERNAL:
            raise YonosError(
                f"Model '{name}' ({desc.architecture.name}) tiles internally; do not set the tile option."
            )
        try:
            desc = desc.to(device=device, dtype=dtype)
        except UnsupportedDtypeError as e:
            raise YonosError(
                f"Model '{name}' ({desc.architecture.name}) cannot run in {dtype}: {e}"
            ) from None
        desc.eval()
        self.desc = desc
        self.name = name
        self.scale = int(desc.scale)
        self.device, self.dtype = device, dtype
        self.tile, self.tile_overlap = tile, int(tile_overlap)
        self.pad = pad
        self.supports_steps = False
        self.default_steps = None
        self.weights_digest = weights_digest
        self.info = {
            "adapter": "spandrel",
            "architecture": desc.architecture.id,
            "tiling": desc.tiling.name,
            "size_requirements": repr(desc.size_requirements),
            "tile": tile,
            "tile_overlap": self.tile_overlap,
            "pad": pad,
            "weights": str(source),
        }

    def tile_size(self, h: int, w: int) -> int:
        """LR tile side for an h×w image (0 = whole image)."""
        from spandrel import ModelTiling

        if self.tile is None:
            auto = self.desc.tiling == ModelTiling.SUPPORTED and h * w > AUTO_TILE * AUTO_TILE
            return AUTO_TILE if auto else 0
        return 0 if self.tile >= max(h, w) else int(self.tile)

    def _upscale(self, lr, steps, seeds, names):
        x = lr.to(self.device, self.dtype)
        tile = self.tile_size(x.shape[-2], x.shape[-1])
        with torch.inference_mode():
            y = self._forward(x) if tile == 0 else self._tiled(x, tile)
        return y.float()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad != "femasr":
            return self.desc(x)
        # FeMaSRNet.test (chaofengc/FeMaSR basicsr/archs/femasr_arch.py): mirror-pad to the
        # next multiple of wsz strictly above the size, run, crop
        h, w = x.shape[-2:]
        wsz = 8 // self.scale * 8
        h_pad, w_pad = (h // wsz + 1) * wsz - h, (w // wsz + 1) * wsz - w
        if h_pad > h or w_pad > w:
            raise YonosError(
                f"Model '{self.name}': a {w}x{h} (WxH) input is too small for the authors' mirror padding "
                f"(needs at least {wsz // 2} pixels per side)."
            )
        x = torch.cat([x, torch.flip(x, [2])], 2)[..., : h + h_pad, :]
        x = torch.cat([x, torch.flip(x, [3])], 3)[..., : w + w_pad]
        return self.desc(x)[..., : h * self.scale, : w * self.scale]

    def _tiled(self, x: torch.Tensor, tile: int) -> torch.Tensor:
        from yonos_train.tiling import report_tile

        b, c, h, w = x.shape
        s, ov = self.scale, self.tile_overlap
        out = x.new_zeros((b, c, h * s, w * s))
        starts = [(y0, x0) for y0 in range(0, h, tile) for x0 in range(0, w, tile)]
        for k, (y0, x0) in enumerate(starts, 1):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            py0, px0, py1, px1 = max(y0 - ov, 0), max(x0 - ov, 0), min(y1 + ov, h), min(x1 + ov, w)
            o = self._forward(x[..., py0:py1, px0:px1])
            out[..., y0 * s : y1 * s, x0 * s : x1 * s] = o[
                ..., (y0 - py0) * s : (y1 - py0) * s, (x0 - px0) * s : (x1 - px0) * s
            ]
            report_tile(k, len(starts))  # per-tile progress for large images
        return out


def build(card, *, device, dtype, weights_dir, options, scale, path) -> SpandrelModel:
    del scale  # checked by load_model against the loaded model's scale
    from yonos_bench.core import weights as wreg

    if options.get("extra_arches"):
        install_extra_arches(required_by=card.name)
    if path is not None:  # a file given by path: the user's file, hashed for the results key
        source = Path(path)
        digest = wreg.sha256_of(source)
    else:
        wf = card.weights[0]
        try:
            wreg.require([wf], weights_dir)
        except (WeightsMissingError, wreg.WeightsHashError) as e:
            if not _is_shipped(card):  # `weights fetch` knows only shipped cards' files
                raise type(e)(_user_card_message(card, wf, weights_dir, e)) from None
            raise type(e)(f"{e}\n{wf.note}" if wf.note else str(e)) from None
        st = wreg.check(wf, weights_dir)
        source, digest = st.path, st.actual_sha256
    desc = load_descriptor(source)
    if card.scale and desc.scale != card.scale:
        raise YonosError(
            f"Model card '{card.name}' declares x{card.scale} but {source} is a x{desc.scale} "
            f"{desc.architecture.name} model."
        )
    return SpandrelModel(
        card.name,
        desc,
        device=device,
        dtype=dtype,
        tile=options.get("tile"),
        tile_overlap=options.get("tile_overlap", DEFAULT_OVERLAP),
        weights_digest=digest,
        source=source,
        pad=options.get("pad"),
    )


def _is_shipped(card) -> bool:
    from yonos_bench.models.registry import cards_dir

    return bool(card.file) and Path(card.file).resolve().parent == cards_dir()


def _user_card_message(card, wf, weights_dir, err: Exception) -> str:
    """For a user's own card file: the same facts, with the way to get the file that works
    for it (``yonos-bench weights fetch`` only knows the shipped cards' files)."""
    from yonos_bench.core import weights as wreg

    target = wf.path(weights_dir)
    how = f"Download it from {wf.url} to {target}" if wf.url else f"Put it at {target}"
    how += f" ({wf.note})." if wf.note else "."
    if isinstance(err, wreg.WeightsHashError):
        first = str(err).split(" The file is", 1)[0]
        return f"{first} (model card {card.file}). The file is corrupt, truncated or another file: {how}"
    return f"Missing weight file {wf.filename} of model card {card.file} (looked for {target}). {how}"
