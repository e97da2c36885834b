"""The continuous cosine v-schedule and the DDIM sampler, against closed forms and diffusers."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDIMScheduler

from yonos_train import schedule
from yonos_train.pipeline import SCHEDULER_CONFIG, make_scheduler


def _rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_alpha_sigma_values_and_endpoints():
    a, s = schedule.alpha_sigma(torch.tensor([0.0, 1 / 3, 0.5, 1.0]))
    assert a.tolist() == [1.0, pytest.approx(math.sqrt(3) / 2), pytest.approx(math.sqrt(0.5)), 0.0]
    assert s.tolist() == [0.0, pytest.approx(0.5), pytest.approx(math.sqrt(0.5)), 1.0]
    assert torch.allclose(a**2 + s**2, torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_times_outside_unit_interval_are_refused(bad):
    with pytest.raises(ValueError, match="^t: expected times in"):
        schedule.alpha_sigma(bad)


def test_conversions_round_trip():
    z0, eps = _rand(3, 4, 5, 5, seed=1), _rand(3, 4, 5, 5, seed=2)
    t = torch.tensor([0.1, 0.5, 0.93], dtype=torch.float64)
    z_t = schedule.q_sample(z0, eps, t)
    v = schedule.v_target(z0, eps, t)
    assert torch.allclose(schedule.x0_from_v(z_t, v, t), z0, atol=1e-12)
    assert torch.allclose(schedule.eps_from_v(z_t, v, t), eps, atol=1e-12)
    # per-sample broadcasting: the middle sample at t=0.5 alone gives the same values
    alone = schedule.q_sample(z0[1:2], eps[1:2], 0.5)
    assert torch.equal(alone, z_t[1:2])


def test_eq2_weighting_equals_v_mse():
    # ‖x̂ − z0‖² (1 + α²/σ²) = ‖v̂ − v‖²  (METHOD.md §1)
    z0, eps, v_hat = _rand(2, 4, 3, 3, seed=3), _rand(2, 4, 3, 3, seed=4), _rand(2, 4, 3, 3, seed=5)
    t = 0.37
    a, s = schedule.alpha_sigma(t)
    z_t = schedule.q_sample(z0, eps, t)
    x_err = ((schedule.x0_from_v(z_t, v_hat, t) - z0) ** 2).sum() * (1 + a**2 / s**2)
    v_err = ((v_hat - schedule.v_target(z0, eps, t)) ** 2).sum()
    assert torch.allclose(x_err, v_err)


def test_timestep_mapping_and_grid():
    assert schedule.timestep_input(torch.tensor([0.0, 0.5, 1.0])).tolist() == [0.0, 499.5, 999.0]
    assert schedule.ddim_times(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="^num_steps: expected an integer >= 1"):
            schedule.ddim_times(bad)


def _toy_model(z, t):
    """A deterministic nonlinear stand-in for the UNet's velocity."""
    t = t.reshape(-1, *([1] * (z.ndim - 1))).to(z.dtype)
    return torch.tanh(z) * (0.3 + t) - 0.2 * z.roll(1, dims=-1)


def test_one_step_closed_form_equals_n_step_sampler_at_n1():
    z1 = _rand(2, 4, 8, 8, seed=6, dtype=torch.float32)
    calls = []

    def model(z, t):
        calls.append(t.tolist())
        return _toy_model(z, t)

    sampled = schedule.ddim_sample(model, z1, 1)
    assert calls == [[1.0, 1.0]]
    closed = schedule.one_step(z1, _toy_model(z1, torch.ones(2)))
    assert torch.equal(sampled, closed)
    assert torch.equal(closed, -_toy_model(z1, torch.ones(2)))  # α_1 = 0, σ_1 = 1: x̂ = −v̂


def _diffusers_loop(z, num_steps):
    sched = DDIMScheduler(**SCHEDULER_CONFIG)
    sched.set_timesteps(num_steps)
    ts = []
    for k in sched.timesteps:
        ts.append(int(k))
        t = torch.full((z.shape[0],), int(k) / 999.0)  # only feeds the toy model
        z = sched.step(_toy_model(z, t), k, z).prev_sample
    return z, ts, sched


@pytest.mark.parametrize("num_steps", [1, 2, 4, 10])
def test_ddim_update_equals_diffusers_scheduler_on_its_own_alphas(num_steps):
    """Fed the ᾱ the scheduler actually uses, our DDIM update reproduces DDIMScheduler.step."""
    z1 = _rand(2, 4, 8, 8, seed=7, dtype=torch.float32)
    expected, ts, sched = _diffusers_loop(z1.clone(), num_steps)
    assert ts[0] == 999  # trailing spacing starts at the terminal timestep (the 1-step pitfall)
    ac = sched.alphas_cumprod.double()
    z = z1.clone()
    for k in ts:
        prev = k - 1000 // num_steps
        a_prev = ac[prev] if prev >= 0 else torch.tensor(1.0, dtype=torch.float64)  # set_alpha_to_one
        v = _toy_model(z, torch.full((2,), k / 999.0))
        z = schedule.ddim_step_ab(z, v, ac[k].sqrt(), (1 - ac[k]).sqrt(), a_prev.sqrt(), (1 - a_prev).sqrt())
    torch.testing.assert_close(z, expected, rtol=1e-5, atol=1e-5)


def test_continuous_one_step_vs_diffusers_one_step():
    """Where the schedules coincide up to the terminal ᾱ: diffusers' ᾱ_999 = 2.4e-9 vs our 0.

    x̂_diffusers − x̂_ours = √ᾱ·z − (√(1−ᾱ) − 1)·v̂, so the gap is at most ~4.9e-5·|z|.
    """
    z1 = _rand(2, 4, 8, 8, seed=8, dtype=torch.float32)
    ours = schedule.ddim_sample(_toy_model, z1, 1)
    theirs, _, sched = _diffusers_loop(z1.clone(), 1)
    abar = float(sched.alphas_cumprod[999])
    assert abar == pytest.approx(2.4287e-9, rel=1e-3)
    bound = math.sqrt(abar) * float(z1.abs().max()) + 1e-6
    assert float((ours - theirs).abs().max()) <= bound
    assert float((ours - theirs).abs().max()) > 0  # they are different schedules, not the same code


def test_continuous_schedule_is_the_offset_free_squaredcos():
    """diffusers' ᾱ_k = f((k+1)/1000)/f(0), f(u) = cos²((u+s)/(1+s)·π/2), s = 0.008; ours is s = 0.

    The documented gap on the 999·t grid: at most 0.005 in α and 0.0125 in σ.
    """
    ac = make_scheduler().alphas_cumprod.double()
    k = torch.arange(1000, dtype=torch.float64)
    s = 0.008
    f = (
        torch.cos(((k + 1) / 1000 + s) / (1 + s) * math.pi / 2) ** 2
        / math.cos(s / (1 + s) * math.pi / 2) ** 2
    )
    torch.testing.assert_close(ac[:990], f[:990], rtol=1e-4, atol=1e-7)  # β clipping acts only at the end
    a, sg = schedule.alpha_sigma(k / 999)  # our α, σ at the times whose UNet input is k
    assert float((a - ac.sqrt()).abs().max()) < 0.005
    assert float((sg - (1 - ac).sqrt()).abs().max()) < 0.0125


def test_n_step_sampler_visits_the_grid_and_is_deterministic():
    z1 = _rand(1, 4, 6, 6, seed=9, dtype=torch.float32)
    seen = []
    out = schedule.ddim_sample(lambda z, t: (seen.append(float(t[0])), _toy_model(z, t))[1], z1, 4)
    assert seen == [1.0, 0.75, 0.5, 0.25]
    assert torch.equal(out, schedule.ddim_sample(_toy_model, z1, 4))
    # an exact model (v of a fixed clean latent along the DDIM path) is recovered exactly
    x0 = _rand(1, 4, 6, 6, seed=10, dtype=torch.float64)

    def oracle(z, t):
        a, s = schedule.alpha_sigma(t)
        eps = (z - a.view(-1, 1, 1, 1) * x0) / s.view(-1, 1, 1, 1)
        return schedule.v_target(x0, eps, t)

    torch.testing.assert_close(schedule.ddim_sample(oracle, z1.double(), 5), x0, rtol=0, atol=1e-12)
