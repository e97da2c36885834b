"""Continuous-time cosine schedule with v-parameterisation, and the DDIM (η = 0) sampler.

This is the one schedule of the project: training (``yonos_train.stages``) and sampling
(:class:`yonos_train.pipeline.YonosSRPipeline`) both import it, so they cannot drift apart.
The paper (Sec. 4, "Implementation details") says only "our own implementation of the
v-parameterization with a cosine schedule"; METHOD.md §1 pins it as follows.

* Time ``t ∈ [0, 1]``; ``t = 0`` is the clean latent, ``t = 1`` pure noise.
* ``α_t = cos(πt/2)``, ``σ_t = sin(πt/2)`` (so ``α_t² + σ_t² = 1``, variance preserving).
* Forward process (paper eq. 1): ``z_t = α_t z_h + σ_t ε``.
* Velocity target: ``v = α_t ε − σ_t z_h``; inverse: ``x̂ = α_t z_t − σ_t v̂``,
  ``ε̂ = σ_t z_t + α_t v̂``.
* Eq. 2 weighted by ``(1 + α_t²/σ_t²)`` in x-space equals plain MSE on v:
  ``x̂ − z_h = −σ_t (v̂ − v)`` and ``σ_t² (1 + α_t²/σ_t²) = 1``.
* UNet timestep input: ``timestep_input(t) = 999 · t`` (a float; the sinusoidal embedding
  accepts any real). ``t = 1`` maps to 999, SD's last training timestep and the first
  timestep of diffusers' ``DDIMScheduler`` with ``timestep_spacing="trailing"``.
* DDIM with η = 0 (Song et al. 2021, eq. 12) on the uniform "trailing" grid
  ``t_i = i/N, i = N … 0``: the first model call is at ``t = 1`` (pure noise), the last
  step lands on ``t = 0``. At ``N = 1`` the sampler reduces to the closed form
  ``x̂ = α_1 z_1 − σ_1 v̂ = −v̂`` (:func:`one_step`).

Relation to diffusers. ``DDIMScheduler(beta_schedule="squaredcos_cap_v2",
prediction_type="v_prediction", timestep_spacing="trailing", set_alpha_to_one=True,
clip_sample=False)`` uses the *discrete* ``ᾱ_k = f((k+1)/1000) / f(0)`` with
``f(u) = cos²((u + 0.008)/1.008 · π/2)`` and β clipped at 0.999; our continuous
``ᾱ(t) = cos²(πt/2)`` is the same family with offset 0 and no clipping. Its DDIM update
(:func:`ddim_step_ab`) is exactly ours when fed the same ``(α, σ)`` (tested). The two
schedules differ by at most 0.005 in α and 0.012 in σ over the grid; at the terminal
step diffusers has ``ᾱ_999 = 2.4e-9`` (α = 4.9e-5) against our ``α_1 = 0``. The pipeline
samples with *this* module's continuous schedule, the one training uses; the stored
``DDIMScheduler`` documents the configuration for diffusers users and is what
:func:`ddim_step_ab` is checked against.

All functions work on tensors of any shape ``(B, …)``; ``t`` is a float or a tensor
broadcastable to the batch (shape ``(B,)``). Arithmetic of α and σ is done in float64
and the result cast to the latent's dtype, so the endpoints are exact
(``cos(π/2)`` in float32 would be −4.4e-8, a negative α).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

#: Number of discrete timesteps of SD's UNet embedding; ``timestep_input`` maps [0,1] onto [0, T−1].
NUM_TRAIN_TIMESTEPS = 1000

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``model(z_t, t) -> v̂``: latent (B, C, H, W), times (B,) in [0, 1] → velocity like ``z_t``."""


def _as_time(t: float | torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=torch.float64, device=like.device if like is not None else None)
    if bool(torch.any((t < 0) | (t > 1))) or bool(torch.any(torch.isnan(t))):
        raise ValueError(f"t: expected times in [0, 1], got {t.tolist()}")
    return t


def _broadcast(coef: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) or scalar coefficient → shape (B, 1, 1, …) in ``like``'s dtype."""
    coef = coef.to(device=like.device, dtype=like.dtype)
    if coef.ndim == 0:
        return coef
    return coef.reshape(coef.shape + (1,) * (like.ndim - coef.ndim))


def alpha_sigma(t: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``α_t = cos(πt/2)``, ``σ_t = sin(πt/2)`` (METHOD.md §1), float64 tensors.

    Endpoints are exact: ``t = 0`` → (1, 0); ``t = 1`` → (0, 1).
    """
    t = _as_time(t)
    alpha = torch.cos(0.5 * math.pi * t)
    sigma = torch.sin(0.5 * math.pi * t)
    alpha = torch.where(t == 1, torch.zeros_like(alpha), alpha)
    sigma = torch.where(t == 0, torch.zeros_like(sigma), sigma)
    return alpha, sigma


def q_sample(z0: torch.Tensor, eps: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Forward process, paper eq. 1: ``z_t = α_t z_0 + σ_t ε``."""
    a, s = alpha_sigma(t)
    return _broadcast(a, z0) * z0 + _broadcast(s, z0) * eps


def v_target(z0: torch.Tensor, eps: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Velocity target (Salimans & Ho 2022, eq. 9 of "Progressive distillation"): ``v = α_t ε − σ_t z_0``."""
    a, s = alpha_sigma(t)
    return _broadcast(a, z0) * eps - _broadcast(s, z0) * z0


def x0_from_v(z_t: torch.Tensor, v: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Clean-latent estimate from a velocity: ``x̂ = α_t z_t − σ_t v̂``."""
    a, s = alpha_sigma(t)
    return _broadcast(a, z_t) * z_t - _broadcast(s, z_t) * v


def eps_from_v(z_t: torch.Tensor, v: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Noise estimate from a velocity: ``ε̂ = σ_t z_t + α_t v̂``."""
    a, s = alpha_sigma(t)
    return _broadcast(s, z_t) * z_t + _broadcast(a, z_t) * v


def v_from_x0_eps(x0: torch.Tensor, eps: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Velocity of a (clean, noise) pair, the same as :func:`v_target`: ``v = α_t ε − σ_t x̂``."""
    return v_target(x0, eps, t)


def timestep_input(t: float | torch.Tensor) -> torch.Tensor:
    """The UNet's timestep argument for time ``t``: ``(T − 1) · t = 999 · t`` (float32).

    One mapping for training and sampling; ``t = 1`` ↔ 999, ``t = 0`` ↔ 0.
    """
    return ((NUM_TRAIN_TIMESTEPS - 1) * _as_time(t)).to(torch.float32)


def ddim_times(num_steps: int) -> list[float]:
    """The "trailing" DDIM grid ``[1, (N−1)/N, …, 1/N, 0]`` (N + 1 times, N model calls)."""
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
        raise ValueError(f"num_steps: expected an integer >= 1, got {num_steps!r}")
    return [i / num_steps for i in range(num_steps, -1, -1)]


def ddim_step_ab(
    z_t: torch.Tensor,
    v: torch.Tensor,
    alpha_t: float | torch.Tensor,
    sigma_t: float | torch.Tensor,
    alpha_s: float | torch.Tensor,
    sigma_s: float | torch.Tensor,
) -> torch.Tensor:
    """Deterministic DDIM update (Song et al. 2021, eq. 12 with η = 0) in v-parameterisation.

    ``x̂ = α_t z_t − σ_t v̂``, ``ε̂ = σ_t z_t + α_t v̂``, ``z_s = α_s x̂ + σ_s ε̂``, for any
    (α, σ) pairs — the schedule-free form shared by the continuous sampler and by
    diffusers' ``DDIMScheduler.step`` (with α = √ᾱ, σ = √(1−ᾱ)).
    """

    def coef(c):
        return _broadcast(torch.as_tensor(c, dtype=torch.float64), z_t)

    a_t, s_t, a_s, s_s = coef(alpha_t), coef(sigma_t), coef(alpha_s), coef(sigma_s)
    x0 = a_t * z_t - s_t * v
    eps = s_t * z_t + a_t * v
    return a_s * x0 + s_s * eps


def ddim_step(
    z_t: torch.Tensor, v: torch.Tensor, t: float | torch.Tensor, s: float | torch.Tensor
) -> torch.Tensor:
    """DDIM (η = 0) from time ``t`` to an earlier time ``s`` on the cosine schedule (eq. 12 of Song et al.)."""
    a_t, s_t = alpha_sigma(t)
    a_s, s_s = alpha_sigma(s)
    return ddim_step_ab(z_t, v, a_t, s_t, a_s, s_s)


def one_step(z_1: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The one-step closed form from pure noise at ``t = 1`` (METHOD.md "One DDIM step"):
    ``x̂ = α_1 z_1 − σ_1 v̂ = −v̂`` since ``α_1 = 0``, ``σ_1 = 1``."""
    return x0_from_v(z_1, v, 1.0)


def ddim_sample(
    model: VelocityFn,
    z_1: torch.Tensor,
    num_steps: int,
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """DDIM (η = 0) from pure noise ``z_1`` at ``t = 1`` to ``t = 0`` in ``num_steps`` model calls.

    ``model(z_t, t)`` receives ``t`` as a (B,) float64 tensor in [0, 1] (convert it with
    :func:`timestep_input` for the UNet) and returns v̂. ``on_step(i, t)`` is called after
    each step (for progress and timing). With ``num_steps == 1`` the result equals
    :func:`one_step` exactly: the update to ``s = 0`` is ``1·x̂ + 0·ε̂``.
    """
    times = ddim_times(num_steps)
    z = z_1
    batch = z.shape[0]
    for i, (t, s) in enumerate(zip(times[:-1], times[1:], strict=True)):
        t_vec = torch.full((batch,), t, dtype=torch.float64, device=z.device)
        v = model(z, t_vec)
        z = ddim_step(z, v.to(z.dtype), t, s)
        if on_step is not None:
            on_step(i, t)
    return z
