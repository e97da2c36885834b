"""Diagnostics of trained YONOS pipelines (docs/MINIATURE.md, "Evaluation" → "Diagnostics").

Three measurements on (HR, LR) pairs given as tensors (the script
``scripts/miniature_diagnostics.py`` reads them from a prepared protocol):

1. **Per-t v-MSE** (:func:`v_mse_per_t`): the training loss of eq. 2 evaluated at fixed
   times ``t ∈ {1, 0.75, 0.5, 0.25, 0.1}`` on held-out pairs. Exactly what training does
   (``yonos_train.stages.standard.v_loss_batch``): ``z_h = E(HR)``, ``z_l = E(bicubic↑(LR))``
   (:func:`~yonos_train.stages.common.encode_images`, posterior mode), ``z_t = α_t z_h + σ_t ε``
   (eq. 1), true ``v = α_t ε − σ_t z_h``, ``v̂ = UNet(cat[z_t, z_l], 999·t)``; per pair the
   mean squared error per latent element. The UNet's timestep is
   :func:`~yonos_train.schedule.timestep_input` ``(t) = 999·t`` (749.25 at t = 0.75, 99.9 at
   t = 0.1: the mapping training used, not a rounded integer).
2. **Teacher-target error** (the ``teacher=`` arguments of :func:`v_mse_per_t`): for a
   scale-distilled student, the MSE of its training target — the frozen ×N/2 teacher's
   v̂ on the *same* ``z_t`` and ``t``, conditioned on ``E(bicubic↑(LR_{N/2}))`` (eq. 3,
   ``yonos_train.stages.distill.distill_loss_batch``) — against the true v of the ×N task:
   the teacher's bias, measured. :func:`half_scale_lr` makes ``LR_{N/2}`` from the HR crop
   the way the distill stage does (``bicubic`` degradation, 8-bit levels).
3. **1-step noise sensitivity** (:func:`noise_sensitivity`): per pair, ``K`` (8) noise draws
   ``z_1 ~ N(0, I)`` → one DDIM step (``x̂ = −v̂(z_1, 1)``, :func:`~yonos_train.schedule.one_step`)
   → decode; the per-pixel std across the K outputs (RGB in [0, 1], sample std, ddof 1),
   averaged over pixels; and, through a caller-given ``score`` (the script passes PSNR-Y),
   the std of the score across the K draws. The same computation as the pipeline's 1-step
   path for an image that fits one tile (tested to match ``pipe(lr, 1, generator)``).

Randomness: ε and every ``z_1`` come from one generator per pair, seeded from
``(seed, pair index)`` (and the draw ``k``) through :func:`yonos_train.data.sample_seed`, so
numbers never depend on the batch size or on which other pairs are evaluated. One ε per
pair serves every t (common random numbers across t).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from yonos_bench.core.errors import SpecError

from .data import sample_seed, sample_seeds, synthesize_lr
from .pipeline import decode_latents, vae_factor
from .schedule import one_step, q_sample, v_target
from .stages.common import encode_images, randn_per_sample, unet_velocity

#: The diagnostic times (UNet timesteps 999, 749.25, 499.5, 249.75, 99.9).
DIAGNOSTIC_TIMES = (1.0, 0.75, 0.5, 0.25, 0.1)
#: Noise draws per pair for the 1-step noise sensitivity.
NOISE_DRAWS = 8
#: Batch of pairs per UNet / VAE call (CPU-friendly; results do not depend on it).
BATCH = 16

# Purposes of the per-pair streams (yonos_train.data uses 0–5 for training streams).
_EPS_PURPOSE, _Z1_PURPOSE = 100, 101

Score = Callable[[torch.Tensor, int], torch.Tensor]
"""``score(outputs (K, 3, H, W) in [0, 1], pair position) -> (K,)`` (e.g. PSNR-Y against the HR)."""


def eps_seeds(seed: int, pair_indices: Sequence[int]) -> list[int]:
    """The seed of pair ``i``'s ε (the same for every t)."""
    return sample_seeds(seed, [int(i) for i in pair_indices], _EPS_PURPOSE)


def z1_seed(seed: int, pair_index: int, draw: int) -> int:
    """The seed of pair ``pair_index``'s ``draw``-th pure-noise latent z_1."""
    return sample_seed(sample_seed(seed, int(pair_index), _Z1_PURPOSE), int(draw), _Z1_PURPOSE)


def half_scale_lr(hr: torch.Tensor, half: int) -> torch.Tensor:
    """``LR_{N/2}``: MATLAB-bicubic ×``half`` downscale of HR on 8-bit levels, as the distill
    stage makes the teacher's input (``synthesize_lr(hr, half, "bicubic", …)``)."""
    return synthesize_lr(hr, int(half), "bicubic", [0] * hr.shape[0])[0]


def _device(pipe) -> torch.device:
    return next(pipe.unet.parameters()).device


def _check_pairs(what: str, hr: torch.Tensor, lr: torch.Tensor, scale: int, factor: int) -> None:
    if hr.ndim != 4 or hr.shape[1] != 3 or lr.ndim != 4 or lr.shape[1] != 3:
        raise SpecError(
            f"{what}: expected HR and LR of shape (N, 3, H, W), got {tuple(hr.shape)} and {tuple(lr.shape)}"
        )
    if hr.shape[0] != lr.shape[0] or hr.shape[0] == 0:
        raise SpecError(f"{what}: {hr.shape[0]} HR images but {lr.shape[0]} LR images (need the same, ≥ 1)")
    if tuple(hr.shape[-2:]) != (lr.shape[-2] * scale, lr.shape[-1] * scale):
        raise SpecError(
            f"{what}: LR {tuple(lr.shape[-2:])} ×{scale} is not the HR size {tuple(hr.shape[-2:])}"
        )
    if hr.shape[-2] % factor or hr.shape[-1] % factor:
        raise SpecError(
            f"{what}: HR size {tuple(hr.shape[-2:])} is not a multiple of the VAE factor {factor}"
        )


def _check_indices(pair_indices: Sequence[int], n: int) -> list[int]:
    idx = [int(i) for i in pair_indices]
    if len(idx) != n:
        raise SpecError(f"pair_indices: {len(idx)} indices for {n} pairs")
    return idx


@torch.no_grad()
def v_mse_per_t(
    pipe,
    hr: torch.Tensor,
    lr: torch.Tensor,
    scale: int,
    *,
    pair_indices: Sequence[int],
    seed: int,
    times: Sequence[float] = DIAGNOSTIC_TIMES,
    batch_size: int = BATCH,
    teacher=None,
    teacher_lr: torch.Tensor | None = None,
    teacher_scale: int | None = None,
) -> dict[str, torch.Tensor]:
    """Per-pair v-MSE at each time: ``{"model": (len(times), N) float64}``, and with a
    ``teacher`` also ``"teacher_target"``: the teacher's v̂ on the same ``z_t`` (conditioned on
    ``teacher_lr`` ×``teacher_scale``) against the same true v.

    ``pipe`` / ``teacher``: a :class:`~yonos_train.pipeline.YonosSRPipeline` (or any object with
    ``unet``, ``vae``, ``null_embedding``). ``z_h`` and ``z_t`` come from ``pipe``'s VAE; the
    teacher's condition from the teacher's VAE (in a distill chain both are the same VAE).
    HR/LR: (N, 3, H, W) float in [0, 1]; ``pair_indices[i]`` seeds pair i's ε.
    """
    factor = vae_factor(pipe.vae)
    _check_pairs("v_mse_per_t", hr, lr, scale, factor)
    idx = _check_indices(pair_indices, hr.shape[0])
    if teacher is not None:
        if teacher_lr is None or teacher_scale is None:
            raise SpecError("v_mse_per_t: a teacher needs teacher_lr and teacher_scale")
        _check_pairs("v_mse_per_t (teacher)", hr, teacher_lr, teacher_scale, vae_factor(teacher.vae))
    if batch_size < 1:
        raise SpecError(f"batch_size: expected >= 1, got {batch_size}")
    device = _device(pipe)
    latent_c = pipe.vae.config.latent_channels
    out = {"model": torch.zeros(len(times), hr.shape[0], dtype=torch.float64)}
    if teacher is not None:
        out["teacher_target"] = torch.zeros_like(out["model"])
    for start in range(0, hr.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        hr_b = hr[sl].to(device)
        z_h, z_l = encode_images(pipe.vae, [(hr_b, 1), (lr[sl].to(device), scale)])
        eps = randn_per_sample((latent_c, *z_h.shape[-2:]), eps_seeds(seed, idx[sl]), device)
        context = pipe.null_embedding(hr_b.shape[0])
        if teacher is not None:
            (z_l_teacher,) = encode_images(
                teacher.vae, [(teacher_lr[sl].to(_device(teacher)), teacher_scale)]
            )
            context_teacher = teacher.null_embedding(hr_b.shape[0])
        for j, t in enumerate(times):
            t_vec = torch.full((hr_b.shape[0],), float(t), dtype=torch.float64, device=device)
            z_t = q_sample(z_h, eps, t_vec)
            v = v_target(z_h, eps, t_vec)
            v_hat = unet_velocity(pipe.unet, z_t, z_l, t_vec, context).float()
            out["model"][j, sl] = _per_pair_mse(v_hat, v)
            if teacher is not None:
                v_teacher = unet_velocity(
                    teacher.unet,
                    z_t.to(_device(teacher)),
                    z_l_teacher,
                    t_vec.to(_device(teacher)),
                    context_teacher,
                ).float()
                out["teacher_target"][j, sl] = _per_pair_mse(v_teacher.to(device), v)
    return out


def _per_pair_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred.double() - target.double()).pow(2).flatten(1).mean(1).cpu()


@torch.no_grad()
def one_step_outputs(pipe, z_l: torch.Tensor, z_1: torch.Tensor) -> torch.Tensor:
    """One DDIM step from ``z_1`` (t = 1) given the encoded condition, decoded to [0, 1]
    (the pipeline's 1-step path without tiling: ``x̂ = −v̂``, decode, ``(x + 1)/2`` clamped)."""
    t = torch.ones(z_1.shape[0], dtype=torch.float64, device=z_1.device)
    v_hat = unet_velocity(pipe.unet, z_1, z_l, t, pipe.null_embedding(z_1.shape[0])).float()
    latents = one_step(z_1, v_hat)
    return decode_latents(pipe.vae, latents).float().add_(1.0).div_(2.0).clamp_(0.0, 1.0)


@torch.no_grad()
def noise_sensitivity(
    pipe,
    lr: torch.Tensor,
    scale: int,
    *,
    pair_indices: Sequence[int],
    seed: int,
    draws: int = NOISE_DRAWS,
    batch_size: int = BATCH,
    score: Score | None = None,
) -> dict[str, torch.Tensor]:
    """Per pair: ``"pixel_std"`` (N,) the mean over pixels and channels of the std across
    ``draws`` 1-step outputs; with ``score``, ``"score_std"`` (N,) the std of the scores across
    the draws and ``"score_mean"`` (N,) their mean. Stds are sample stds (ddof 1)."""
    if draws < 2:
        raise SpecError(f"draws: a std across noise draws needs at least 2, got {draws}")
    if batch_size < 1:
        raise SpecError(f"batch_size: expected >= 1, got {batch_size}")
    if lr.ndim != 4 or lr.shape[1] != 3 or lr.shape[0] == 0:
        raise SpecError(f"noise_sensitivity: expected LR of shape (N, 3, h, w), got {tuple(lr.shape)}")
    factor = vae_factor(pipe.vae)
    if (lr.shape[-2] * scale) % factor or (lr.shape[-1] * scale) % factor:
        raise SpecError(f"noise_sensitivity: output size is not a multiple of the VAE factor {factor}")
    idx = _check_indices(pair_indices, lr.shape[0])
    device = _device(pipe)
    latent_c = pipe.vae.config.latent_channels
    n = lr.shape[0]
    out = {"pixel_std": torch.zeros(n, dtype=torch.float64)}
    if score is not None:
        out["score_std"] = torch.zeros(n, dtype=torch.float64)
        out["score_mean"] = torch.zeros(n, dtype=torch.float64)
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        (z_l,) = encode_images(pipe.vae, [(lr[sl].to(device), scale)])
        shape = (latent_c, *z_l.shape[-2:])
        batch_idx = idx[sl]
        images = []
        for k in range(draws):
            # The same draw as the pipeline's initial_noise with torch.Generator().manual_seed(s).
            z_1 = randn_per_sample(shape, [z1_seed(seed, i, k) for i in batch_idx], device)
            images.append(one_step_outputs(pipe, z_l, z_1).cpu())
        stack = torch.stack(images)  # (K, B, 3, H, W)
        out["pixel_std"][sl] = stack.double().std(dim=0, correction=1).flatten(1).mean(1)
        if score is not None:
            for j in range(stack.shape[1]):
                values = torch.as_tensor(score(stack[:, j], start + j), dtype=torch.float64).reshape(-1)
                if values.numel() != draws:
                    raise SpecError(
                        f"score: expected {draws} values for pair {start + j}, got {values.numel()}"
                    )
                out["score_std"][start + j] = values.std(correction=1)
                out["score_mean"][start + j] = values.mean()
    return out


__all__ = [
    "BATCH",
    "DIAGNOSTIC_TIMES",
    "NOISE_DRAWS",
    "eps_seeds",
    "half_scale_lr",
    "noise_sensitivity",
    "one_step_outputs",
    "v_mse_per_t",
    "z1_seed",
]
