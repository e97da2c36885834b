"""The engine's optimizer updates with a loss scaler (fp16) and two optimizers.

No GPU here: accelerate gives no scaler for fp16 on CPU, so the tests install
``torch.amp.GradScaler("cpu")`` on the accelerator before ``prepare`` — the objects and
the call order are then exactly those of an fp16 CUDA run (``acc.backward`` scales the
loss, the prepared optimizers hold the scaler)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from yonos_train.config import StandardConfig
from yonos_train.engine import Optim, Run, StepOutput

SCALE = 1024.0


class _Scaled(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x).sum()  # d loss / d w = x exactly (elementwise: not autocast)


@pytest.fixture(autouse=True)
def _fresh_accelerator_state():
    # accelerate's state is a process-wide singleton: an fp16 Accelerator after a "no" one in
    # the same pytest process is refused unless the state is reset.
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def _run_with_scaler(tmp_path) -> Run:
    cfg = StandardConfig(stage="standard", out=str(tmp_path / "run"), mixed_precision="fp16", cpu=True,
                         max_grad_norm=1e9, progress=False)  # fmt: skip
    run = Run(cfg)
    run.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=SCALE)
    run.accelerator.native_amp = True
    return run


def test_fp16_two_optimizers_generator_only_then_both_unscaled_once(tmp_path):
    run = _run_with_scaler(tmp_path)
    acc = run.accelerator
    gen, disc = _Scaled(3), _Scaled(3)
    gen_p, g_opt, disc_p, d_opt = acc.prepare(gen, torch.optim.SGD(gen.parameters(), lr=1.0),
                                              disc, torch.optim.SGD(disc.parameters(), lr=1.0))  # fmt: skip
    assert g_opt.scaler is acc.scaler  # the prepared optimizers step through the scaler
    x_gen, x_disc = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, 0.25, 4.0])
    optims = [Optim("gen", g_opt, [gen.w], 1.0), Optim("disc", d_opt, [disc.w], 1.0)]
    gan_on = {"on": False}

    def step_fn(hr, idx, step):
        out = {"gen": gen_p(x_gen)}
        if gan_on["on"]:
            out["disc"] = disc_p(x_disc)
        return StepOutput(out)

    batches = iter([(torch.zeros(1), torch.zeros(1, dtype=torch.long))] * 2)
    # Step 1, before disc_start: the discriminator has no gradient. Stepping its optimizer
    # through the scaler raised "No inf checks were recorded for this optimizer".
    run._one_step(step_fn, batches, 0, [gen_p, disc_p], optims, None)
    torch.testing.assert_close(gen.w.detach(), -x_gen, rtol=0, atol=0)
    torch.testing.assert_close(disc.w.detach(), torch.zeros(3), rtol=0, atol=0)
    # Step 2, both losses: each optimizer's gradients unscaled exactly once (the old order
    # unscaled the discriminator's twice: a 1/1024 update).
    gan_on["on"] = True
    run._one_step(step_fn, batches, 1, [gen_p, disc_p], optims, None)
    torch.testing.assert_close(gen.w.detach(), -2 * x_gen, rtol=0, atol=0)
    torch.testing.assert_close(disc.w.detach(), -x_disc, rtol=0, atol=0)
    assert acc.scaler.get_scale() == SCALE  # one update per step, no inf: unchanged


def test_fp16_inf_in_one_optimizer_skips_it_and_backs_off_once(tmp_path):
    run = _run_with_scaler(tmp_path)
    acc = run.accelerator
    a, b = _Scaled(2), _Scaled(2)
    a_p, a_opt, b_p, b_opt = acc.prepare(a, torch.optim.SGD(a.parameters(), lr=1.0),
                                         b, torch.optim.SGD(b.parameters(), lr=1.0))  # fmt: skip
    optims = [Optim("a", a_opt, [a.w], 1.0), Optim("b", b_opt, [b.w], 1.0)]
    x_ok, x_inf = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1e38])  # 1e38 * 1024 overflows

    def step_fn(hr, idx, step):
        return StepOutput({"a": a_p(x_ok), "b": b_p(x_inf)})

    batches = iter([(torch.zeros(1), torch.zeros(1, dtype=torch.long))])
    run._one_step(step_fn, batches, 0, [a_p, b_p], optims, None)
    torch.testing.assert_close(a.w.detach(), -x_ok, rtol=0, atol=0)  # its step is taken, unscaled once
    torch.testing.assert_close(b.w.detach(), torch.zeros(2), rtol=0, atol=0)  # inf: skipped
    assert acc.scaler.get_scale() == SCALE / 2  # backed off once, not once per optimizer
