"""YONOS-SR and SD-SR pipelines (``yonos_train.pipeline.YonosSRPipeline`` folders).

The folder is what ``yonos-bench train`` saves (``<run>/pipeline/``) or any folder written
by ``YonosSRPipeline.save_pretrained``. No public YONOS weights exist: the ``yonos-*`` and
``sd-sr-*`` cards point at ``<weights_dir>/models/<card name>/`` or at the folder named by
the card's environment variable (e.g. ``$YONOS_X4_PIPELINE``).

Steps are sweepable (``num_inference_steps``; 1 is the paper's setting); each image's
initial noise comes from its own generator. Sizes are exact: the pipeline pads to the VAE
factor internally and crops back; large images run in latent tiles (options
``tile_size`` / ``tile_overlap``, in latents; defaults are the pipeline's).
"""

from __future__ import annotations

from pathlib import Path

import torch

from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.models.base import SRModelBase, folder_digest, generators


class YonosModel(SRModelBase):
    def __init__(self, name, pipe, *, device, default_steps, options, weights_digest, folder):
        self.pipe = pipe
        self.name = name
        self.device = device
        self.scale = int(pipe.scale_factor)
        self.supports_steps = True
        self.default_steps = default_steps
        self.weights_digest = weights_digest
        self.tile_size = options.get("tile_size")
        self.tile_overlap = options.get("tile_overlap")
        self.info = {
            "adapter": "yonos",
            "folder": str(folder),
            "lineage": str(getattr(pipe.config, "lineage", "") or ""),
            "tile_size": self.tile_size,
            "tile_overlap": self.tile_overlap,
        }

    def _upscale(self, lr, steps, seeds, names):
        with torch.inference_mode():
            return self.pipe(
                lr.to(self.device, torch.float32),
                num_inference_steps=steps,
                generator=generators(seeds, self.device),
                tile_size=self.tile_size,
                tile_overlap=self.tile_overlap,
            )


def missing_pipeline_message(card, folder: Path) -> str:
    env = card.pipeline.env if card.pipeline is not None else None
    where = f" or set ${env} to its path" if env else ""
    return (
        f"No pipeline folder for model '{card.name}' at {folder} (no model_index.json there). "
        "No public YONOS/SD-SR weights exist: train one with `yonos-bench train` and copy its "
        f"<run>/pipeline/ folder to {folder}{where}."
    )


def build(card, *, device, dtype, weights_dir, options, scale, path) -> YonosModel:
    del scale
    folder = Path(path) if path is not None else card.pipeline.path(weights_dir)
    if not (folder / "model_index.json").is_file():
        raise WeightsMissingError(missing_pipeline_message(card, folder))
    from yonos_bench.core.quiet import quiet_diffusers
    from yonos_train.pipeline import YonosSRPipeline

    quiet_diffusers()  # no "Loading pipeline components" bar per load
    try:
        pipe = YonosSRPipeline.from_pretrained(folder)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise YonosError(f"Cannot load the YONOS pipeline from {folder}: {type(e).__name__}: {e}") from None
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(device)
    if dtype != torch.float32:
        pipe = pipe.to(dtype=dtype)
    model = YonosModel(
        card.name,
        pipe,
        device=device,
        default_steps=card.steps,
        options=options,
        weights_digest=folder_digest(folder),
        folder=folder,
    )
    if card.scale and model.scale != card.scale:
        raise YonosError(
            f"Model card '{card.name}' declares x{card.scale} but {folder} is a x{model.scale} pipeline."
        )
    return model
