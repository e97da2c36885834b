"""Diffusion SR baselines through diffusers: CompVis LDM x4 and the SD x4 upscaler.

* ``ldm`` — ``LDMSuperResolutionPipeline`` (the paper's "LDM"): the LR image in [-1, 1]
  is concatenated to the latents, which live at LR resolution; the VQ decoder upsamples.
* ``sd-upscaler`` — ``StableDiffusionUpscalePipeline``: noised LR pixels (``noise_level``)
  concatenated to the latents, text conditioning (the prompt's CLIP embedding, computed
  once and reused), optional classifier-free guidance.

Size policy (both): a PIL input would be floored to a multiple of 32 by the LDM pipeline
and tensors are floored to the VAE factor by the upscaler's image processor, so we never
let them: the LR batch is reflect-padded on the bottom/right to a multiple of the UNet's
downsampling factor (and of the VAE factor), run, and the output cropped back to exactly
``scale × (h, w)``. Padding changes the context of the last rows/columns only.

Seeds: every image's initial latent noise (and the upscaler's LR noise) comes from its own
``torch.Generator``. With ``eta > 0`` the LDM pipeline draws DDIM noise from the global RNG,
so images are then run one at a time under ``torch.random.fork_rng`` seeded with the
image's seed — still independent of the batch.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from yonos_bench.core.errors import YonosError
from yonos_bench.models.base import SRModelBase, combined_digest, folder_digest, generators, pad_to_multiple


def _unet_factor(unet) -> int:
    """How much the UNet downsamples: one factor 2 per down block but the last."""
    return 2 ** (len(unet.config.down_block_types) - 1)


def load_pipeline(folder: str | Path, kind: str, dtype: torch.dtype):
    import diffusers

    cls = {
        "ldm": diffusers.LDMSuperResolutionPipeline,
        "sd-upscaler": diffusers.StableDiffusionUpscalePipeline,
    }[kind]
    folder = Path(folder)
    from yonos_bench.core.quiet import quiet_diffusers

    quiet_diffusers()  # no "Loading pipeline components" bar per load
    try:
        pipe = cls.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise YonosError(f"Cannot load the {cls.__name__} from {folder}: {type(e).__name__}: {e}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


class DiffusersSRModel(SRModelBase):
    def __init__(self, name, pipe, kind, *, device, options, default_steps, weights_digest):
        if kind not in ("ldm", "sd-upscaler"):
            raise ValueError(f"pipeline: expected 'ldm' or 'sd-upscaler', got {kind!r}")
        self.pipe = pipe.to(device)
        self.kind = kind
        self.name = name
        self.device = device
        self.eta = float(options.get("eta", 0.0))
        self.noise_level = int(options.get("noise_level", 20))
        self.prompt = options.get("prompt", "")
        self.negative_prompt = options.get("negative_prompt", "")
        self.guidance_scale = float(options.get("guidance_scale", 1.0))
        if kind == "ldm":
            self.scale = 2 ** (len(pipe.vqvae.config.block_out_channels) - 1)
            self.pad_multiple = _unet_factor(pipe.unet)
        else:
            self.scale = int(pipe.vae_scale_factor)
            self.pad_multiple = math.lcm(_unet_factor(pipe.unet), int(pipe.vae_scale_factor))
            if self.noise_level > pipe.config.max_noise_level:
                raise ValueError(
                    f"noise_level: must be <= {pipe.config.max_noise_level}, got {self.noise_level}"
                )
        self.supports_steps = True
        self.default_steps = default_steps
        self.weights_digest = weights_digest
        self._embeds = None
        self.info = {
            "adapter": "diffusers",
            "pipeline": type(pipe).__name__,
            "scheduler": type(pipe.scheduler).__name__,
            "eta": self.eta,
            "pad_multiple": self.pad_multiple,
        }
        if kind == "sd-upscaler":
            self.info.update(
                noise_level=self.noise_level, guidance_scale=self.guidance_scale, prompt=self.prompt
            )

    @property
    def dtype(self) -> torch.dtype:
        return self.pipe.unet.dtype

    def _upscale(self, lr, steps, seeds, names):
        h, w = lr.shape[-2:]
        x, _, _ = pad_to_multiple(lr.to(self.device, torch.float32), self.pad_multiple)
        if self.kind == "ldm" and self.eta > 0:
            outs = [self._run_isolated(x[i : i + 1], steps, seeds[i]) for i in range(x.shape[0])]
            y = torch.cat(outs)
        else:
            y = self._run(x, steps, generators(seeds, self.device))
        return y[..., : h * self.scale, : w * self.scale].float()

    def _run_isolated(self, x, steps, seed):
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self._run(x, steps, generators([seed], self.device))

    @torch.inference_mode()
    def _run(self, x, steps, gens):
        if self.kind == "ldm":
            out = self.pipe(
                image=(x * 2 - 1).to(self.dtype),
                num_inference_steps=steps,
                eta=self.eta,
                generator=gens,
                output_type="pt",
            )
            return out.images
        pe, ne = self._prompt_embeds()
        b = x.shape[0]
        cfg = self.guidance_scale > 1.0
        out = self.pipe(
            image=x.to(self.dtype),
            prompt_embeds=pe.expand(b, -1, -1),
            negative_prompt_embeds=ne.expand(b, -1, -1) if cfg else None,
            num_inference_steps=steps,
            guidance_scale=self.guidance_scale,
            noise_level=self.noise_level,
            eta=self.eta,
            generator=gens,
            output_type="pt",
        )
        return out.images

    def _prompt_embeds(self):
        """The prompt's (and negative prompt's) text embedding, computed once."""
        if self._embeds is None:
            cfg = self.guidance_scale > 1.0
            pe, ne = self.pipe.encode_prompt(
                self.prompt, self.device, 1, cfg, self.negative_prompt if cfg else None
            )
            self._embeds = (pe, ne)
        return self._embeds


def build(card, *, device, dtype, weights_dir, options, scale, path) -> DiffusersSRModel:
    del scale
    from yonos_bench.core import weights as wreg

    if path is not None:
        folder, digest = Path(path), folder_digest(path)
    else:
        wreg.require(list(card.weights), weights_dir)  # missing files / sha256 mismatch: clear errors
        folder = card.hf_repo.path(weights_dir)
        digest = combined_digest(
            [(f"{w.subdir}/{w.filename}", wreg.check(w, weights_dir).actual_sha256) for w in card.weights]
        )
    pipe = load_pipeline(folder, options["pipeline"], dtype)
    model = DiffusersSRModel(
        card.name,
        pipe,
        options["pipeline"],
        device=device,
        options=options,
        default_steps=card.steps,
        weights_digest=digest,
    )
    if card.scale and model.scale != card.scale:
        raise YonosError(
            f"Model card '{card.name}' declares x{card.scale} but {folder} upscales x{model.scale}."
        )
    model.info["folder"] = str(folder)
    return model
