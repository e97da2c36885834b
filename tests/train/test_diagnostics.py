"""yonos_train.diagnostics and scripts/miniature_diagnostics.py on tiny random pipelines:
per-t v-MSE (oracle, zero UNet, batch invariance), the teacher-target identity, 1-step noise
sensitivity (0 for a model blind to z_t, equal to the pipeline's 1-step path), the script."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from yonos_bench.core.errors import SpecError
from yonos_train.diagnostics import (
    DIAGNOSTIC_TIMES,
    eps_seeds,
    half_scale_lr,
    noise_sensitivity,
    v_mse_per_t,
    z1_seed,
)
from yonos_train.pipeline import encode_latents
from yonos_train.presets import build_pipeline
from yonos_train.schedule import alpha_sigma

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "miniature_diagnostics.py"


@pytest.fixture(scope="module")
def tiny4():
    return build_pipeline("tiny", 4, seed=0)


@pytest.fixture(scope="module")
def pairs():
    g = torch.Generator().manual_seed(3)
    hr = torch.nn.functional.interpolate(torch.rand(4, 3, 8, 8, generator=g), size=32, mode="bilinear")
    return hr, half_scale_lr(hr, 4)  # HR 32² (4² latents), LR 8²


class OracleUNet(nn.Module):
    """Returns the true v when the conditioning latent IS z_h: v = (α z_t − z_h)/σ."""

    def __init__(self, latent_c: int):
        super().__init__()
        self.c = latent_c
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, timestep, encoder_hidden_states=None, return_dict=False):
        z_t, z_h = x[:, : self.c].double(), x[:, self.c :].double()
        a, s = alpha_sigma(timestep.double() / 999)
        a, s = a.reshape(-1, 1, 1, 1), s.reshape(-1, 1, 1, 1)
        return ((a * z_t - z_h) / s).float(), None


class ZeroUNet(OracleUNet):
    def forward(self, x, timestep, encoder_hidden_states=None, return_dict=False):
        return torch.zeros_like(x[:, : self.c]), None


class BlindUNet(nn.Module):
    """The tiny UNet fed zeros instead of z_t: its 1-step output depends only on z_l."""

    def __init__(self, unet, latent_c: int):
        super().__init__()
        self.unet, self.c = unet, latent_c

    def forward(self, x, timestep, encoder_hidden_states=None, return_dict=False):
        x = torch.cat([torch.zeros_like(x[:, : self.c]), x[:, self.c :]], dim=1)
        return self.unet(x, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=return_dict)


def with_unet(pipe, unet):
    return SimpleNamespace(unet=unet, vae=pipe.vae, null_embedding=pipe.null_embedding)


def test_oracle_v_mse_is_zero_and_zero_unet_gives_mean_v_squared(tiny4, pairs):
    hr, _ = pairs
    c = tiny4.vae.config.latent_channels
    # LR = HR at scale 1: the condition z_l equals z_h, so the oracle knows the answer.
    oracle = v_mse_per_t(with_unet(tiny4, OracleUNet(c)), hr, hr, 1, pair_indices=range(4), seed=5)["model"]
    assert oracle.shape == (len(DIAGNOSTIC_TIMES), 4)
    assert float(oracle.max()) < 1e-10
    zero = v_mse_per_t(with_unet(tiny4, ZeroUNet(c)), hr, hr, 1, pair_indices=range(4), seed=5)["model"]
    # Independently: z_h, ε from each pair's own generator, v = α ε − σ z_h with math's cos/sin.
    with torch.no_grad():
        z_h = encode_latents(tiny4.vae, hr).double()
    for i, s in enumerate(eps_seeds(5, range(4))):
        eps = torch.randn(tuple(z_h.shape[1:]), generator=torch.Generator().manual_seed(s)).double()
        for j, t in enumerate(DIAGNOSTIC_TIMES):
            v = math.cos(math.pi * t / 2) * eps - math.sin(math.pi * t / 2) * z_h[i]
            assert float(zero[j, i]) == pytest.approx(float(v.pow(2).mean()), rel=1e-5)
    assert float(zero.min()) > 0.1


def test_v_mse_does_not_depend_on_batch_size_or_on_the_other_pairs(tiny4, pairs):
    hr, lr = pairs
    one = v_mse_per_t(tiny4, hr, lr, 4, pair_indices=range(4), seed=0, batch_size=1)["model"]
    four = v_mse_per_t(tiny4, hr, lr, 4, pair_indices=range(4), seed=0, batch_size=4)["model"]
    torch.testing.assert_close(one, four, rtol=1e-5, atol=1e-8)
    tail = v_mse_per_t(tiny4, hr[2:], lr[2:], 4, pair_indices=[2, 3], seed=0, batch_size=3)["model"]
    torch.testing.assert_close(tail, four[:, 2:], rtol=1e-5, atol=1e-8)
    other_seed = v_mse_per_t(tiny4, hr, lr, 4, pair_indices=range(4), seed=1)["model"]
    assert not torch.allclose(other_seed, four, rtol=1e-3)
    sens1 = noise_sensitivity(tiny4, lr, 4, pair_indices=range(4), seed=0, draws=3, batch_size=1)
    sens4 = noise_sensitivity(tiny4, lr, 4, pair_indices=range(4), seed=0, draws=3, batch_size=4)
    torch.testing.assert_close(sens1["pixel_std"], sens4["pixel_std"], rtol=1e-5, atol=1e-8)


def test_teacher_target_error_is_the_teachers_own_v_mse_on_the_same_z_t(tiny4, pairs):
    hr, lr4 = pairs
    teacher = build_pipeline("tiny", 2, seed=1)
    lr2 = half_scale_lr(hr, 2)
    assert lr2.shape[-1] == 16
    # The sanity identity: the student IS the teacher, at the teacher's input.
    same = v_mse_per_t(teacher, hr, lr2, 2, pair_indices=range(4), seed=0,
                       teacher=teacher, teacher_lr=lr2, teacher_scale=2)  # fmt: skip
    torch.testing.assert_close(same["teacher_target"], same["model"], rtol=1e-6, atol=1e-9)
    # A ×4 student sharing the teacher's VAE (as distillation makes it): the target error does
    # not depend on the student's UNet or LR, and differs from the student's own error.
    student = with_unet(teacher, tiny4.unet)
    res = v_mse_per_t(student, hr, lr4, 4, pair_indices=range(4), seed=0,
                      teacher=teacher, teacher_lr=lr2, teacher_scale=2)  # fmt: skip
    torch.testing.assert_close(res["teacher_target"], same["model"], rtol=1e-6, atol=1e-9)
    assert not torch.allclose(res["model"], res["teacher_target"], rtol=1e-3)
    with pytest.raises(SpecError, match="teacher_lr and teacher_scale"):
        v_mse_per_t(student, hr, lr4, 4, pair_indices=range(4), seed=0, teacher=teacher)
    with pytest.raises(SpecError, match="is not the HR size"):
        v_mse_per_t(student, hr, lr4, 2, pair_indices=range(4), seed=0)
    with pytest.raises(SpecError, match="3 indices for 4 pairs"):
        v_mse_per_t(student, hr, lr4, 4, pair_indices=range(3), seed=0)


def test_noise_sensitivity_is_zero_for_a_model_blind_to_z_t_and_matches_the_pipeline(tiny4, pairs):
    _, lr = pairs
    c = tiny4.vae.config.latent_channels
    blind = with_unet(tiny4, BlindUNet(tiny4.unet, c))
    res = noise_sensitivity(
        blind, lr, 4, pair_indices=range(4), seed=0, draws=4, score=lambda o, j: o.mean((1, 2, 3))
    )
    assert float(res["pixel_std"].abs().max()) == 0.0 and float(res["score_std"].abs().max()) == 0.0

    seen: dict[int, torch.Tensor] = {}

    def keep(outputs, j):
        seen[j] = outputs
        return outputs.mean((1, 2, 3))

    res = noise_sensitivity(tiny4, lr, 4, pair_indices=[10, 11, 12, 13], seed=0, draws=4, score=keep)
    assert float(res["pixel_std"].min()) > 1e-3 and float(res["score_std"].min()) > 0
    for j in range(4):  # draw k of pair index 10 + j is the pipeline's 1-step output for that seed
        torch.testing.assert_close(res["pixel_std"][j], seen[j].double().std(0).flatten().mean())
        g = torch.Generator().manual_seed(z1_seed(0, 10 + j, 2))
        torch.testing.assert_close(tiny4(lr[j : j + 1], 1, generator=g)[0], seen[j][2], rtol=1e-5, atol=1e-6)
    with pytest.raises(SpecError, match="at least 2"):
        noise_sensitivity(tiny4, lr, 4, pair_indices=range(4), seed=0, draws=1)


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)  # fmt: skip


def script_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import miniature_diagnostics
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return miniature_diagnostics


def test_script_defaults_are_the_library_constants():
    from yonos_train import diagnostics

    mod = script_module()
    assert mod.DEFAULT_TIMES == diagnostics.DIAGNOSTIC_TIMES
    assert (mod.DEFAULT_DRAWS, mod.DEFAULT_BATCH) == (diagnostics.NOISE_DRAWS, diagnostics.BATCH)


def test_encoder_identity_check(tiny4):
    import copy

    mod = script_module()
    twin = copy.deepcopy(tiny4.vae)
    assert mod.encoders_equal(tiny4.vae, twin)
    twin.decoder.conv_out.bias.data += 1  # a fine-tuned decoder keeps the encoder
    assert mod.encoders_equal(tiny4.vae, twin)
    twin.encoder.conv_in.bias.data[0] += 1e-3
    assert not mod.encoders_equal(tiny4.vae, twin)
    assert not mod.encoders_equal(tiny4.vae, build_pipeline("tiny", 4, seed=1).vae)


def test_script_on_four_pairs_of_sample_with_a_teacher_and_resume(tmp_path, capsys):
    build_pipeline("tiny", 4, seed=0).save_pretrained(str(tmp_path / "x4"))
    build_pipeline("tiny", 2, seed=1).save_pretrained(str(tmp_path / "x2" / "pipeline"))  # a run folder
    out = tmp_path / "diag.json"
    args = ["--protocol", "sample", "--limit", "4", "--out", str(out), "--threads", "1", "--draws", "3",
            "--model", f"s={tmp_path / 'x4'}", "--teacher", f"s={tmp_path / 'x2'}"]  # fmt: skip
    proc = run_script(*args)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    cfg = data["config"]
    assert (cfg["protocol"], cfg["n_pairs"], cfg["scale"], cfg["draws"]) == ("sample", 4, 4, 3)
    assert cfg["unet_timesteps"] == pytest.approx([999, 749.25, 499.5, 249.75, 99.9])
    entry = data["models"]["s"]
    assert len(entry["unet_sha256"]) == 64 and entry["teacher"]["scale"] == 2
    assert set(entry["v_mse"]) == {"1", "0.75", "0.5", "0.25", "0.1"}
    assert len(entry["v_mse"]["1"]["per_pair"]) == 4 and entry["v_mse"]["1"]["mean"] > 0
    assert entry["teacher"]["same_encoder_as_model"] is False  # two random VAEs
    assert entry["noise_sensitivity"]["psnr_y_std"]["mean"] > 0
    assert len(data["pairs"]) == 4 and "s: v-MSE t=1 " in proc.stdout
    # Unchanged model and settings: reused (in-process, the imports are paid), same file.
    assert script_module().main(args) == 0
    assert "reused" in capsys.readouterr().err
    assert json.loads(out.read_text()) == data


def test_script_errors_name_the_culprit_and_compute_nothing(tmp_path, capsys):
    out = tmp_path / "diag.json"
    proc = run_script("--limit", "4", "--out", str(out), "--model", f"gone={tmp_path / 'nope'}")
    assert proc.returncode == 1
    assert (
        "--model gone=" in proc.stderr and "no such folder" in proc.stderr and "Traceback" not in proc.stderr
    )
    assert not out.exists()
    main = script_module().main
    assert main(["--out", str(out), "--model", f"a={tmp_path}", "--teacher", f"b={tmp_path}"]) == 1
    assert "--teacher b: no --model of that name" in capsys.readouterr().err
    assert main(["--out", str(out)]) == 1 and "nothing to evaluate" in capsys.readouterr().err
    assert main(["--out", str(out), "--model", f"a={tmp_path}"]) == 1
    assert "not a YonosSRPipeline folder" in capsys.readouterr().err
    assert main(["--out", str(out), "--model", "a"]) == 1 and "expected NAME=PATH" in capsys.readouterr().err
    assert not out.exists()


def test_script_per_photo_subset_without_noise_sensitivity(tmp_path, capsys):
    """--per-photo K keeps the first K pairs of every photo; --no-noise computes the v-MSE only."""
    build_pipeline("tiny", 4, seed=0).save_pretrained(str(tmp_path / "x4"))
    out = tmp_path / "diag.json"
    args = ["--protocol", "sample", "--per-photo", "1", "--no-noise", "--out", str(out), "--threads", "1",
            "--model", f"s={tmp_path / 'x4'}"]  # fmt: skip
    assert script_module().main(args) == 0
    data = json.loads(out.read_text())
    assert data["config"]["n_pairs"] == 7 and data["config"]["per_photo"] == 1 and data["config"]["draws"] is None
    assert len({p["source"] for p in data["pairs"]}) == 7
    entry = data["models"]["s"]
    assert "noise_sensitivity" not in entry and entry["v_mse"]["1"]["mean"] > 0
    assert "s: v-MSE t=1 " in capsys.readouterr().out
