"""Losses (eq. 2, eq. 3, LDM autoencoder loss), the PatchGAN, and overfitting a fixed batch."""

from __future__ import annotations

import math

import pytest
import torch

from yonos_train import losses
from yonos_train.discriminator import PatchDiscriminator
from yonos_train.presets import build_pipeline
from yonos_train.schedule import alpha_sigma, q_sample, v_target, x0_from_v
from yonos_train.stages.distill import distill_loss_batch
from yonos_train.stages.standard import v_loss_batch


def test_v_mse_equals_eq2_weighted_x_error():
    g = torch.Generator().manual_seed(0)
    z_h, eps, v_hat = (torch.randn(3, 4, 5, 5, generator=g) for _ in range(3))
    t = torch.tensor([0.1, 0.5, 0.93], dtype=torch.float64)
    z_t = q_sample(z_h, eps, t)
    a, s = alpha_sigma(t)
    weight = (1 + a**2 / s**2).float().reshape(3, 1, 1, 1)
    eq2 = (weight * (x0_from_v(z_t, v_hat, t) - z_h) ** 2).mean()
    assert float(losses.v_loss(v_hat, v_target(z_h, eps, t))) == pytest.approx(float(eq2), rel=1e-5)


def test_hinge_loss_values():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-3.0, 0.0, 1.0])
    # mean relu(1 - real) = (0 + .5 + 2)/3; mean relu(1 + fake) = (0 + 1 + 2)/3
    assert float(losses.hinge_d_loss(real, fake)) == pytest.approx(0.5 * (2.5 / 3 + 3 / 3))


class _Lin(torch.nn.Module):
    """A 'decoder' whose last layer is one conv, for checking the adaptive weight by hand."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def test_ldm_loss_adaptive_weight_and_disc_start():
    torch.manual_seed(0)
    dec, disc = _Lin(), PatchDiscriminator(3, ndf=8, n_layers=2)
    loss_fn = losses.LDMAutoencoderLoss(disc, None, disc_weight=0.5, disc_start=3)
    x, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 3, 32, 32)
    x_hat = dec(z)
    nll = (x - x_hat).abs().sum() / 2
    before = loss_fn.generator_loss(x, x_hat, step=2, last_layer=dec.conv.weight)
    assert not loss_fn.gan_active(2) and float(before.loss.detach()) == pytest.approx(float(nll.detach()))
    after = loss_fn.generator_loss(x, x_hat, step=3, last_layer=dec.conv.weight)
    g = -disc(x_hat).mean()
    gn = torch.autograd.grad(nll, dec.conv.weight, retain_graph=True)[0].norm()
    gg = torch.autograd.grad(g, dec.conv.weight, retain_graph=True)[0].norm()
    w = float(torch.clamp(gn / (gg + 1e-4), 0, 1e4)) * 0.5
    assert after.logs["d_weight"] == pytest.approx(w, rel=1e-5)
    assert float(after.loss) == pytest.approx(float(nll + w * g), rel=1e-5)
    # the generator loss gives the discriminator no gradient
    after.loss.backward()
    assert all(p.grad is None for p in disc.parameters()) and dec.conv.weight.grad is not None
    d_loss = loss_fn.discriminator_loss(x, x_hat)
    ref = losses.hinge_d_loss(disc(x), disc(x_hat.detach()))
    assert float(d_loss) == pytest.approx(float(ref), rel=1e-5)


def test_ldm_loss_lpips_is_broadcast_per_pixel():
    import lpips

    perceptual = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)  # offline: random VGG
    loss_fn = losses.LDMAutoencoderLoss(PatchDiscriminator(3, 8, 2), perceptual, perceptual_weight=0.7)
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    p = perceptual(x, y).reshape(2)
    expected = ((x - y).abs().sum() + 0.7 * (p * 3 * 32 * 32).sum()) / 2
    assert float(loss_fn.reconstruction(x, y)) == pytest.approx(float(expected), rel=1e-5)


def test_patch_discriminator_architecture():
    torch.manual_seed(0)
    d = PatchDiscriminator()  # 3 layers, 64 filters, BatchNorm
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 3
    # 3·64·16+64 + 64·128·16+256 + 128·256·16+512 + 256·512·16+1024 + 512·16+1 (hand count)
    assert sum(p.numel() for p in d.parameters()) == 2_765_633
    w = torch.cat([c.weight.flatten() for c in convs])
    assert abs(float(w.mean())) < 1e-3 and float(w.std()) == pytest.approx(0.02, rel=0.02)
    assert d(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 6, 6)


@pytest.fixture(scope="module")
def tiny_pipe():
    """A tiny pipeline whose UNet looks at the LR latent (a fresh one has conv_in[:, 4:8] = 0)."""
    pipe = build_pipeline("tiny", 2, seed=0)
    with torch.no_grad():
        pipe.unet.conv_in.weight[:, 4:].normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    return pipe


def _batch(seed=0, b=2, size=32):
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(b, 3, size, size, generator=g)
    return (
        hr,
        torch.randn(b, 4, size // 8, size // 8, generator=g),
        torch.rand(b, generator=g, dtype=torch.float64),
    )


def test_distillation_loss_is_exactly_zero_for_student_equal_teacher_on_same_lr(tiny_pipe):
    import copy

    teacher = tiny_pipe.unet.requires_grad_(False).eval()
    student = copy.deepcopy(teacher).requires_grad_(True)
    hr, eps, t = _batch()
    lr = torch.rand(2, 3, 16, 16)
    ctx = tiny_pipe.null_embedding(2)
    loss = distill_loss_batch(student, teacher, tiny_pipe.vae, ctx, hr, lr, 2, lr, 2, eps, t)
    assert float(loss) == 0.0
    # a different (2/N) teacher LR gives a non-zero target gap
    lr_t = torch.rand(2, 3, 32, 32)
    loss = distill_loss_batch(student, teacher, tiny_pipe.vae, ctx, hr, lr, 2, lr_t, 1, eps, t)
    assert float(loss) > 0
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    torch.optim.SGD(student.parameters(), lr=0.1).step()
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())


def test_overfit_fixed_batch_standard_and_distill(tiny_pipe):
    """On one fixed batch (fixed noise, t, LR) a few Adam steps must cut each loss in half."""
    import copy

    hr, eps, t = _batch(1)
    lr = torch.rand(2, 3, 16, 16)
    ctx = tiny_pipe.null_embedding(2)
    unet = copy.deepcopy(tiny_pipe.unet).requires_grad_(True).train()
    opt = torch.optim.Adam(unet.parameters(), lr=2e-3)
    hist = []
    for _ in range(25):
        loss = v_loss_batch(unet, tiny_pipe.vae, ctx, hr, lr, 2, eps, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss))
    assert hist[-1] < 0.5 * hist[0], hist
    teacher = tiny_pipe.unet.requires_grad_(False).eval()
    student = copy.deepcopy(unet)  # differs from the teacher: a positive eq. 3 loss to drive down
    opt = torch.optim.Adam(student.parameters(), lr=2e-3)
    hist = []
    for _ in range(25):
        loss = distill_loss_batch(
            student, teacher, tiny_pipe.vae, ctx, hr, lr, 2, hr[:, :, ::2, ::2], 2, eps, t
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss))
    assert hist[-1] < 0.5 * hist[0] and math.isfinite(hist[-1]), hist


def test_overfit_fixed_batch_decoder_ldm_loss(tiny_pipe):
    import copy

    from yonos_train.stages.decoder import one_step_latents
    from yonos_train.stages.gan import LatentDecoder, decoder_parameters

    vae = copy.deepcopy(tiny_pipe.vae)
    _, z1, _ = _batch(2)
    # a smooth target: detail a 4×4 latent can carry
    hr = torch.nn.functional.interpolate(
        torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(3)), size=32, mode="bilinear"
    )
    x0 = one_step_latents(tiny_pipe.unet, vae, tiny_pipe.null_embedding(2), torch.rand(2, 3, 16, 16), 2, z1)
    dec = LatentDecoder(vae)
    params = decoder_parameters(vae)
    for p in params:
        p.requires_grad_(True)
    loss_fn = losses.LDMAutoencoderLoss(PatchDiscriminator(3, 8, 2), None, disc_start=10**9)
    opt = torch.optim.Adam(params, lr=5e-3, betas=(0.5, 0.9))
    hist = []
    for _ in range(40):
        gen = loss_fn.generator_loss(hr * 2 - 1, dec(x0), step=0, last_layer=vae.decoder.conv_out.weight)
        opt.zero_grad()
        gen.loss.backward()
        opt.step()
        hist.append(float(gen.loss))
    assert sum(hist[-5:]) / 5 < 0.6 * hist[0], hist
