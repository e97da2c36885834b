"""Training configurations: one dataclass per stage, ``key=value`` overrides, options file.

Each stage of :mod:`yonos_train.stages` is a plain function over one of these dataclasses
(EDM style): the CLI builds the recipe's config (:mod:`yonos_train.recipes`), applies the
user's ``--set key=value`` overrides (unknown keys are errors with did-you-mean), and the
stage writes the resolved config to ``<run>/training_options.json``.

A run can be resumed only with the same *training-relevant* config: :func:`config_digest`
hashes every field except the run-control ones in :data:`RUN_CONTROL_FIELDS` (where the run
is written, how often it logs or checkpoints, and the step count, so a finished run can be
extended — the learning-rate schedule is constant after warm-up, so the trajectory does
not depend on the total).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yonos_bench.core.errors import SpecError, did_you_mean

STAGES = ("standard", "distill", "decoder", "autoencoder")
PRESETS = ("sd15", "tiny", "small")
DEGRADATIONS = ("realesrgan", "realesrgan-stablesr", "bicubic", "avgpool")
MIXED_PRECISION = ("no", "fp16", "bf16")
FROZEN_DTYPES = ("fp32", "bf16", "fp16")
JPEG_CODECS = ("auto", "pillow", "torchvision")
USM_TARGET = ("auto", "on", "off")
PERCEPTUAL = ("auto", "lpips-vgg", "off")

#: Fields that may differ between a run and its resumption (see module docstring).
RUN_CONTROL_FIELDS = frozenset(
    {
        "out",
        "runs_dir",
        "resume",
        "steps",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "progress",
        "num_workers",
        "num_threads",
        "encode_chunk",
        "probe_steps",
    }
)

#: Per-stage salt of the data stream (crops, epoch order, degradation/noise/t seeds): a
#: distillation step, or the decoder stage, must not replay the exact stream its teacher was
#: trained on. ``standard`` (and ``autoencoder``) keep salt 0 = the plain seed, so the
#: streams of those stages are what they were before salts existed.
_STAGE_SALT = {"standard": 0, "autoencoder": 0, "distill": 1000, "decoder": 2000}


@dataclass
class TrainConfig:
    """Fields shared by every stage. Each keyword has a one-line comment (EDM style)."""

    stage: str = "standard"  # standard | distill | decoder | autoencoder
    preset: str = "tiny"  # sd15 | tiny: model family (and recipe the defaults came from)
    data: list[str] = field(default_factory=list)  # HR image folders, or "procedural"
    scale: int = 4  # SR factor N this stage trains for
    # -- data ------------------------------------------------------------------------
    crop: int = 64  # HR crop size in pixels (random crop + horizontal flip)
    degradation: str = "realesrgan"  # LR synthesis: realesrgan | realesrgan-stablesr | bicubic | avgpool
    procedural_images: int = 2048  # images in the procedural (dead-leaves) dataset
    procedural_size: int = 96  # side of each procedural image (>= crop)
    num_workers: int = 0  # DataLoader workers decoding/cropping HR images
    stream_salt: int = -1  # data-stream salt; -1 = per stage (distill 1000+N, decoder 2000+N, else 0)
    usm_target: str = "auto"  # train toward the USM-sharpened HR: auto (= on for realesrgan*) | on | off
    jpeg_codec: str = (
        "auto"  # Real-ESRGAN JPEG: auto (Pillow on CPU, torchvision/nvJPEG on CUDA) | pillow | torchvision
    )
    # -- optimisation ----------------------------------------------------------------
    batch_size: int = 8  # micro-batch per device
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 1e-4  # peak learning rate (AdamW), constant after warm-up
    warmup_steps: int = 0  # linear warm-up from 0 to lr (optimizer steps)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    steps: int = 100  # optimizer steps in total
    mixed_precision: str = "no"  # no | fp16 | bf16 (accelerate autocast)
    gradient_checkpointing: bool = False  # trade compute for activation memory
    frozen_dtype: str = (
        "fp32"  # dtype of the frozen networks (VAE encoder, teacher/frozen UNet): fp32 | bf16 | fp16
    )
    encode_chunk: int = 0  # images per frozen-VAE encode call (0 = all of a step's in one call)
    ema_decay: float = 0.0  # EMA of trained weights (0 = off); the saved pipeline uses EMA
    # -- run control -----------------------------------------------------------------
    seed: int = 0  # seeds data order, crops, degradations, noise and t (per sample / step)
    checkpoint_every: int = 500  # optimizer steps between resumable checkpoints
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    log_every: int = 10  # optimizer steps between metrics.jsonl records
    out: str = ""  # run folder; "" = next <runs_dir>/<stage>-NNN
    runs_dir: str = "runs"  # parent of auto-numbered run folders
    resume: bool = False  # continue `out` (or the newest <runs_dir>/<stage>-NNN) from its last checkpoint
    progress: bool = True  # rich progress bar on the main process
    cpu: bool = False  # force CPU even where an accelerator is present
    probe_steps: int = 0  # > 0: run this many steps, print memory/speed/checkpoint size, keep nothing
    num_threads: int = (
        0  # torch intra-op CPU threads; 0 = auto ($OMP_NUM_THREADS, else cores/processes, <= 8)
    )

    @property
    def stream_seed(self) -> int:
        """The seed of this stage's data stream: ``seed`` mixed with the stage's salt."""
        salt = (
            self.stream_salt
            if self.stream_salt >= 0
            else _STAGE_SALT.get(self.stage, 0) + (self.scale if _STAGE_SALT.get(self.stage, 0) else 0)
        )
        if salt == 0:
            return int(self.seed)
        import numpy as np

        state = np.random.SeedSequence([int(self.seed), 0x5A17, int(salt)]).generate_state(2, dtype=np.uint32)
        return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 62) - 1)

    @property
    def uses_usm_target(self) -> bool:
        """Real-ESRGAN (``l1_gt_usm``/``percep_gt_usm``) and StableSR (``use_usm``) train toward
        the USM-sharpened GT; ``auto`` follows them for the Real-ESRGAN degradations."""
        if self.usm_target == "auto":
            return self.degradation.startswith("realesrgan") and self.stage != "autoencoder"
        return self.usm_target == "on"

    @property
    def samples_per_step(self) -> int:
        """Samples per optimizer step on one process (multiply by the process count)."""
        return self.batch_size * self.grad_accum


@dataclass
class StandardConfig(TrainConfig):
    """Eq. 2: train the UNet at scale N on (HR, degraded LR) pairs."""

    init: str = "random"  # UNet/VAE init: random | SD v1.5 folder or hub id | a YonosSRPipeline folder
    vae: str = ""  # replace the VAE: an AutoencoderKL folder or an autoencoder run (tiny chain)


@dataclass
class DistillConfig(TrainConfig):
    """Eq. 3: student at N initialised from and supervised by the frozen N/2 teacher."""

    teacher: str = ""  # YonosSRPipeline folder at scale N/2 (required)
    share_degradation: bool = True  # teacher LR shares all random degradation params


@dataclass
class _AutoencoderLossConfig(TrainConfig):
    perceptual: str = "auto"  # auto (on if VGG weights present) | lpips-vgg (required) | off
    perceptual_weight: float = 1.0  # w_p in rec = |x - x^| + w_p LPIPS
    disc_weight: float = 0.5  # multiplies the adaptive GAN weight
    disc_start: int = 50001  # optimizer step from which the GAN terms are on
    disc_lr: float = 0.0  # discriminator learning rate (0 = same as lr)
    disc_ndf: int = 64  # PatchGAN base filters
    disc_layers: int = 3  # PatchGAN layers


@dataclass
class DecoderConfig(_AutoencoderLossConfig):
    """Paper §3.3: UNet and encoder frozen, one DDIM step, decoder trained with the LDM loss."""

    model: str = ""  # the one-step YonosSRPipeline folder to fine-tune (required)


@dataclass
class AutoencoderConfig(_AutoencoderLossConfig):
    """A small KL autoencoder from scratch (tiny preset: no small pretrained VAE offline)."""

    kl_weight: float = 1e-6  # KL weight of SD's kl-f8 autoencoder


CONFIG_CLASSES: dict[str, type[TrainConfig]] = {
    "standard": StandardConfig,
    "distill": DistillConfig,
    "decoder": DecoderConfig,
    "autoencoder": AutoencoderConfig,
}


# --------------------------------------------------------------------------- overrides


def _field_types(cfg: TrainConfig) -> dict[str, Any]:
    hints = typing.get_type_hints(type(cfg))
    return {f.name: hints[f.name] for f in dataclasses.fields(cfg)}


def _coerce(key: str, raw: str, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if origin in (list, tuple) or typ is list:
        return [s.strip() for s in raw.split(",") if s.strip()]
    if origin in (typing.Union, types.UnionType):
        typ = next(a for a in typing.get_args(typ) if a is not type(None))
    if typ is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise SpecError(f"--set {key}={raw}: expected a boolean (true/false).")
    if typ in (int, float):
        try:
            return typ(raw)
        except ValueError:
            raise SpecError(f"--set {key}={raw}: expected {typ.__name__}.") from None
    return raw


def apply_overrides(cfg: TrainConfig, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
    """Return a copy of ``cfg`` with ``key=value`` strings applied (typed by the field)."""
    types_ = _field_types(cfg)
    changes: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise SpecError(f"--set expects key=value, got {item!r}.")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in types_:
            raise did_you_mean(f"{cfg.stage} config key", key, sorted(types_))
        changes[key] = _coerce(key, raw, types_[key])
    out = dataclasses.replace(cfg, **changes)
    validate(out)
    return out


def validate(cfg: TrainConfig) -> None:
    """Value checks that need no files (files are checked by the stages, before compute)."""

    def bad(key: str, why: str) -> SpecError:
        return SpecError(f"Config key '{key}' = {getattr(cfg, key)!r}: {why}")

    if cfg.stage not in STAGES:
        raise did_you_mean("stage", cfg.stage, list(STAGES))
    if cfg.preset not in PRESETS:
        raise did_you_mean("preset", cfg.preset, list(PRESETS))
    if cfg.degradation not in DEGRADATIONS:
        raise did_you_mean("degradation", cfg.degradation, list(DEGRADATIONS))
    if cfg.mixed_precision not in MIXED_PRECISION:
        raise did_you_mean("mixed_precision", cfg.mixed_precision, list(MIXED_PRECISION))
    if cfg.scale < 1:
        raise bad("scale", "must be >= 1.")
    if cfg.stage == "distill" and (cfg.scale < 2 or cfg.scale % 2):
        raise bad("scale", "distillation needs an even scale N (the teacher works at N/2).")
    for key in ("crop", "batch_size", "grad_accum", "steps", "checkpoint_every", "log_every"):
        if getattr(cfg, key) < 1:
            raise bad(key, "must be >= 1.")
    if cfg.crop % cfg.scale:
        raise bad("crop", f"must be a multiple of scale {cfg.scale} (the LR is crop/scale).")
    if cfg.degradation.startswith("realesrgan") and (cfg.crop * 0.15 <= 10 or cfg.crop // cfg.scale <= 10):
        # Its 21-tap blur/sinc kernels (reflect padding) need > 10 px after the stage-1
        # downscale (down to 0.15×) and at the LR size.
        raise bad(
            "crop", f"too small for {cfg.degradation} at ×{cfg.scale}: needs crop >= 72 and crop/scale >= 11."
        )
    if "procedural" in cfg.data and cfg.procedural_size < cfg.crop:
        raise bad("procedural_size", f"must be >= crop ({cfg.crop}).")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise bad("ema_decay", "must be in [0, 1).")
    if cfg.lr <= 0:
        raise bad("lr", "must be > 0.")
    for key, allowed in (
        ("frozen_dtype", FROZEN_DTYPES),
        ("jpeg_codec", JPEG_CODECS),
        ("usm_target", USM_TARGET),
    ):
        if getattr(cfg, key) not in allowed:
            raise did_you_mean(key, getattr(cfg, key), list(allowed))
    if cfg.stage == "autoencoder" and cfg.usm_target == "on":
        raise bad("usm_target", "the autoencoder reconstructs its input; a sharpened target does not apply.")
    if cfg.usm_target != "off" and cfg.uses_usm_target and cfg.crop <= 25:
        raise bad("crop", "the USM target's 51-tap blur needs crop > 25 (or --set usm_target=off).")
    for key in ("encode_chunk", "num_threads", "num_workers", "probe_steps"):
        if getattr(cfg, key) < 0:
            raise bad(key, "must be >= 0.")
    if cfg.keep_checkpoints < 1:
        raise bad("keep_checkpoints", "must be >= 1 (the newest checkpoint is what --resume needs).")
    if isinstance(cfg, _AutoencoderLossConfig) and cfg.perceptual not in PERCEPTUAL:
        raise did_you_mean("perceptual", cfg.perceptual, list(PERCEPTUAL))


# --------------------------------------------------------------------------- serialisation


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_digest(cfg: TrainConfig) -> str:
    """sha256 of the training-relevant fields (everything but :data:`RUN_CONTROL_FIELDS`)."""
    relevant = {k: v for k, v in to_dict(cfg).items() if k not in RUN_CONTROL_FIELDS}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def describe(cfg: TrainConfig, num_processes: int = 1) -> dict[str, Any]:
    """The ``training_options.json`` payload: the config plus derived quantities."""
    return {
        "config": to_dict(cfg),
        "config_digest": config_digest(cfg),
        "derived": {
            "num_processes": num_processes,
            "samples_per_optimizer_step": cfg.samples_per_step * num_processes,
            "lr_size": cfg.crop // cfg.scale,
        },
    }


def load_config(path: str | Path) -> TrainConfig:
    """Rebuild the config saved in a run's ``training_options.json``."""
    data = json.loads(Path(path).read_text())["config"]
    cls = CONFIG_CLASSES[data["stage"]]
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})
