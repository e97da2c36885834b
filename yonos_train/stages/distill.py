"""Stage ``distill``: scale distillation ×N/2 → ×N — paper eq. 3.

The student (scale N) is initialised from the frozen teacher (scale N/2) and trained on
its predictions. Per micro-batch: each HR crop yields two LRs, 1/N for the student and
2/N for the teacher, from the *same* random degradation parameters by default
(``share_degradation``: the teacher sees the same corruption, less downsampled —
METHOD.md's recommended reading; set it false to draw the teacher's independently). Both
are bicubic-upsampled to HR size and encoded (z_l, z'_l); one z_t = α_t z_h + σ_t ε and one
t serve both; loss = ‖v̂_θ(z_t, z_l, t) − v̂_φ(z_t, z'_l, t)‖² (eq. 3 with eq. 2's
weighting = MSE between v-predictions). The teacher runs under ``no_grad``, is never
prepared or handed to an optimizer, and its folder is only read. Chaining ×2 → ×4 → ×8 is
two calls, each with the previous student as ``teacher``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from yonos_bench.core.errors import SpecError

from .. import losses
from ..config import DistillConfig, validate
from ..data import _DEGRADE, _DEGRADE_TEACHER, _NOISE, _TIME, synthesize_lr, to_float
from ..engine import Optim, Run, StepOutput
from ..schedule import q_sample
from .common import (
    FrozenCast,
    check_vae_factor,
    copy_module,
    default_log,
    encode_images,
    freeze,
    load_yonos_pipeline,
    open_data,
    randn_per_sample,
    seeds_for,
    training_target,
    unet_velocity,
    uniform_per_sample,
    with_components,
)  # fmt: skip


def load_teacher(cfg: DistillConfig):
    """The ×N/2 teacher pipeline; errors (before compute) for a non-pipeline or a wrong scale."""
    teacher = load_yonos_pipeline(cfg.teacher, "--teacher")
    if teacher.scale_factor * 2 != cfg.scale:
        raise SpecError(
            f"--teacher {cfg.teacher} is a ×{teacher.scale_factor} pipeline; distilling ×{cfg.scale} needs a "
            f"×{cfg.scale // 2} teacher (scale N/2)."
        )
    return teacher


def teacher_scale(path: str) -> int | None:
    """The scale recorded in a pipeline folder's model_index.json (no weights loaded)."""
    for folder in (Path(path), Path(path) / "pipeline"):
        if (folder / "model_index.json").is_file():
            return json.loads((folder / "model_index.json").read_text()).get("scale")
    return None


def distill_loss_batch(
    student, teacher, vae, context, hr, lr_s, scale_s: int, lr_t, scale_t: int, eps, t, chunk: int = 0
):
    """Eq. 3 on one batch (pure function of its inputs): same z_t and t for both networks."""
    z_h, z_l, z_l_teacher = encode_images(vae, [(hr, 1), (lr_s, scale_s), (lr_t, scale_t)], chunk)
    z_t = q_sample(z_h, eps, t)
    with torch.no_grad():
        v_teacher = unet_velocity(teacher, z_t, z_l_teacher, t, context)
    v_student = unet_velocity(student, z_t, z_l, t, context)
    return losses.distillation_loss(v_student, v_teacher)


def train(cfg: DistillConfig, *, log: Callable[[str], None] = default_log) -> Path:
    """Run the stage; returns the run folder (student pipeline in ``<run>/pipeline``)."""
    validate(cfg)
    source = open_data(cfg, log)
    teacher_pipe = load_teacher(cfg)
    check_vae_factor(cfg, teacher_pipe.latent_factor)
    run = Run(cfg, log=log)
    acc, device = run.accelerator, run.device
    teacher_pipe.to(device)
    vae, teacher = teacher_pipe.vae, teacher_pipe.unet
    freeze(vae, teacher, teacher_pipe.null_embedding)
    student = copy_module(teacher)  # eq. 3: the student starts as the teacher (fp32)
    frozen = FrozenCast(cfg.frozen_dtype)
    frozen.cast(vae)  # saved with the student: its fp32 weights are put back
    frozen.cast(teacher, keep=False)  # never saved
    student.requires_grad_(True).train()
    if cfg.gradient_checkpointing:
        student.enable_gradient_checkpointing()
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps,
                            weight_decay=cfg.weight_decay)  # fmt: skip
    student_p, opt_p = acc.prepare(student, opt)
    ema = run.make_ema(params)
    n, half = cfg.scale, cfg.scale // 2
    latent_c, f = vae.config.latent_channels, teacher_pipe.latent_factor

    def step_fn(hr_u8: torch.Tensor, idx: torch.Tensor, step: int) -> StepOutput:
        hr = to_float(hr_u8, device)
        seeds = seeds_for(cfg, idx, _DEGRADE)
        if cfg.share_degradation:
            lr_s, lr_t = synthesize_lr(hr, (n, half), cfg.degradation, seeds, cfg.jpeg_codec)
        else:
            lr_s = synthesize_lr(hr, n, cfg.degradation, seeds, cfg.jpeg_codec)[0]
            teacher_seeds = seeds_for(cfg, idx, _DEGRADE_TEACHER)
            lr_t = synthesize_lr(hr, half, cfg.degradation, teacher_seeds, cfg.jpeg_codec)[0]
        eps = randn_per_sample((latent_c, cfg.crop // f, cfg.crop // f), seeds_for(cfg, idx, _NOISE), device)
        t = uniform_per_sample(seeds_for(cfg, idx, _TIME), device)
        context = teacher_pipe.null_embedding(hr.shape[0])
        target = training_target(cfg, hr)
        loss = distill_loss_batch(student_p, teacher, vae, context, target, lr_s, n, lr_t, half, eps, t,
                                  cfg.encode_chunk)  # fmt: skip
        return StepOutput({"unet": loss})

    run.fit(step_fn, source, trainables=[student_p], optims=[Optim("unet", opt_p, params, cfg.lr)], ema=ema,
            ema_params=params)  # fmt: skip
    if ema is not None:
        ema.copy_to(params)
    student.eval()
    frozen.restore()
    lineage = (f"x{half} -> x{n} scale distillation (eq. 3, {cfg.degradation}, {cfg.steps} steps; "
               f"data: {source.describe()}) "
               f"from teacher [{teacher_pipe.config.lineage}]")  # fmt: skip
    out = with_components(teacher_pipe, unet=acc.unwrap_model(student_p), scale=n, lineage=lineage)
    return run.save_result("pipeline", lambda p: out.save_pretrained(str(p))).parent
