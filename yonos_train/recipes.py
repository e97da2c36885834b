"""Training presets: ``sd15`` (the paper's recipe) and ``tiny`` (CPU-trainable in minutes).

``recipe(stage, preset)`` returns the stage's config dataclass filled with the preset's
values; the CLI then applies ``--data/--scale/--teacher/... `` and ``--set key=value``.

sd15 — what the paper states, and what we chose (the paper gives no learning rates, step
counts or EMA; METHOD.md §1):

* Stated: SD v1.5 init (the ×2 teacher from the text-to-image model); v-parameterisation
  with a cosine schedule; Real-ESRGAN degradation; training on DIV2K, DIV8K, Flickr2K,
  OST and 10k FFHQ; "4 A100 GPUs ... batch size of 60 with a gradient accumulation factor
  of 4"; 512 px HR (128 → 512 evaluation at ×4).
* The batch arithmetic: 60 cannot be the batch *per update* with accumulation 4 on 4 GPUs
  (60 / (4·4) = 3.75 samples per GPU). We read it as 60 samples per forward pass across the
  4 GPUs — ``batch_size = 15`` per GPU — accumulated 4 times, i.e. **240 samples per
  optimizer update**. The other reading (60 per update) is ``--set grad_accum=1``. The
  effective batch of a run is recorded in ``training_options.json``
  (``derived.samples_per_optimizer_step``); on fewer GPUs raise ``grad_accum`` to keep it.
* Training target: the USM-sharpened HR (``usm_target=auto`` is on for the Real-ESRGAN
  degradations), as Real-ESRGAN (``l1_gt_usm``, ``percep_gt_usm``) and StableSR
  (``use_usm``) train; the discriminator's real images stay the plain HR (``gan_gt_usm``
  false). Memory knobs on by default: gradient checkpointing, frozen networks in bf16,
  the frozen VAE encoding one micro-batch per call (``yonos-bench train ... --probe``).
* Chosen: AdamW, lr 5e-5 (StableSR's UNet fine-tuning rate), weight decay 1e-2, 1,000
  warm-up steps then constant; EMA 0.999; bf16 autocast (A100) with gradient
  checkpointing (15 × 512² per GPU); 20k updates for the ×2 teacher, 10k per distillation
  step, 10k for the decoder. Decoder: StableSR's decoder fine-tuning values — lr 5e-5,
  ``disc_start`` 501, ``disc_weight`` 0.025 — Adam betas (0.5, 0.9) as CompVis, LPIPS-VGG
  required. No sd15 ``autoencoder`` recipe: the paper uses SD's VAE.

tiny — random-init small UNet/VAE (:mod:`yonos_train.presets`) on procedural dead-leaves
images, 64 px crops, bicubic LR (Real-ESRGAN's 21-tap kernels need crops >= 72 px; use
``--set degradation=realesrgan crop=128`` if you want it), fp32, batch 8. Step counts are
sized so the whole chain autoencoder → standard ×2 → distill ×4 → decoder runs in
minutes per stage on two CPU cores.
"""

from __future__ import annotations

from typing import Any

from yonos_bench.core.errors import SpecError, did_you_mean

from .config import CONFIG_CLASSES, PRESETS, STAGES, TrainConfig, validate

SD15_HUB_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"

_SD15_COMMON: dict[str, Any] = {
    "preset": "sd15",
    "crop": 512,
    "degradation": "realesrgan",
    "batch_size": 15,
    "grad_accum": 4,
    "mixed_precision": "bf16",
    "gradient_checkpointing": True,
    "frozen_dtype": "bf16",  # frozen teacher UNet / VAE encoder weights: computed in bf16 by autocast anyway
    "encode_chunk": 15,  # one micro-batch per frozen-VAE call (distill: 3 calls of 15, not 1 of 45)
    "num_workers": 8,
    "checkpoint_every": 1000,
    "keep_checkpoints": 3,
    "log_every": 50,
}
_SD15_UNET = {"lr": 5e-5, "weight_decay": 1e-2, "warmup_steps": 1000, "ema_decay": 0.999}
_SD15_LDM_LOSS = {
    "lr": 5e-5,
    "adam_beta1": 0.5,
    "adam_beta2": 0.9,
    "perceptual": "lpips-vgg",
    "perceptual_weight": 1.0,
    "disc_start": 501,
    "disc_weight": 0.025,
    "disc_ndf": 64,
    "disc_layers": 3,
}

_TINY_COMMON: dict[str, Any] = {
    "preset": "tiny",
    "data": ["procedural"],
    "crop": 64,
    "degradation": "bicubic",
    "procedural_images": 2048,
    "procedural_size": 96,
    "batch_size": 8,
    "grad_accum": 1,
    "mixed_precision": "no",
    "num_workers": 0,
    "checkpoint_every": 200,
    "keep_checkpoints": 2,
    "log_every": 20,
}
_TINY_LDM_LOSS = {
    "adam_beta1": 0.5,
    "adam_beta2": 0.9,
    "perceptual": "auto",
    "disc_ndf": 32,
    "disc_layers": 3,
}

#: small — Miniature v2 (docs/MINIATURE.md, pre-registered plan): the factor-4 VAE of
#: :data:`yonos_train.presets.SMALL_VAE`; one learning rate and EMA for every UNet stage
#: (standard and distill alike, so the three arms of the distillation test differ only in
#: their target / initialisation); 64 px crops (×8: an 8 px LR, upsampled to 64 px before
#: it is encoded, so z_l is 16×16 like z_h). Data: the package photos + dead-leaves folder
#: of :mod:`yonos_train.packaged_photos` (``--data``); ``procedural`` alone is the fallback.
_SMALL_COMMON: dict[str, Any] = {**_TINY_COMMON, "preset": "small"}
_SMALL_UNET = {"lr": 5e-4, "warmup_steps": 100, "ema_decay": 0.999}

RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("standard", "sd15"): {**_SD15_COMMON, **_SD15_UNET, "scale": 2, "steps": 20000, "init": SD15_HUB_ID},
    ("distill", "sd15"): {**_SD15_COMMON, **_SD15_UNET, "scale": 4, "steps": 10000},
    ("decoder", "sd15"): {**_SD15_COMMON, **_SD15_LDM_LOSS, "scale": 4, "steps": 10000},
    ("standard", "tiny"): {**_TINY_COMMON, "scale": 2, "steps": 800, "lr": 5e-4, "warmup_steps": 50},
    ("distill", "tiny"): {**_TINY_COMMON, "scale": 4, "steps": 600, "lr": 2e-4, "warmup_steps": 50},
    ("decoder", "tiny"): {
        **_TINY_COMMON,
        **_TINY_LDM_LOSS,
        "scale": 4,
        "steps": 400,
        "lr": 1e-4,
        "disc_start": 200,
        "disc_weight": 0.025,
    },  # fmt: skip
    ("autoencoder", "tiny"): {
        **_TINY_COMMON,
        **_TINY_LDM_LOSS,
        "scale": 1,
        "steps": 1000,
        "lr": 1e-3,
        "disc_start": 700,
        "disc_weight": 0.5,
        "kl_weight": 1e-6,
    },  # fmt: skip
    ("standard", "small"): {**_SMALL_COMMON, **_SMALL_UNET, "scale": 2, "steps": 3000},
    ("distill", "small"): {**_SMALL_COMMON, **_SMALL_UNET, "scale": 4, "steps": 1500},
    ("decoder", "small"): {
        **_SMALL_COMMON,
        **_TINY_LDM_LOSS,
        "scale": 4,
        "steps": 400,
        "lr": 1e-4,
        "disc_start": 200,
        "disc_weight": 0.025,
    },  # fmt: skip
    ("autoencoder", "small"): {
        **_SMALL_COMMON,
        **_TINY_LDM_LOSS,
        "scale": 1,
        "steps": 3000,
        "lr": 1e-3,
        "disc_start": 3001,  # no GAN: PSNR is the acceptance criterion (docs/MINIATURE.md)
        "disc_weight": 0.5,
        "kl_weight": 1e-6,
        "ema_decay": 0.999,
    },  # fmt: skip
}


def recipe(stage: str, preset: str) -> TrainConfig:
    """The stage's config with the preset's values (validated)."""
    if stage not in STAGES:
        raise did_you_mean("training stage", stage, list(STAGES))
    if preset not in PRESETS:
        raise did_you_mean("training preset", preset, list(PRESETS))
    if (stage, preset) not in RECIPES:
        raise SpecError(
            f"No {preset} recipe for the {stage} stage: the sd15 preset uses SD v1.5's pretrained VAE "
            "(the autoencoder stage exists for the tiny preset, which has no pretrained VAE)."
        )
    cfg = CONFIG_CLASSES[stage](stage=stage, **RECIPES[(stage, preset)])
    validate(cfg)
    return cfg
