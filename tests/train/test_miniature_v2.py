"""Miniature v2 building blocks: the ``small`` preset, the packaged training photos (disjoint
from ``sample``), the pre-registered stage plan, and the two scripts run end to end and resume."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import miniature_chain  # noqa: E402
import run_miniature_sweep  # noqa: E402


def test_small_preset_is_a_factor_4_vae_with_sd_latent_width():
    from yonos_train.pipeline import vae_factor
    from yonos_train.presets import build_pipeline
    from yonos_train.recipes import recipe

    pipe = build_pipeline("small", 4, seed=0)
    assert vae_factor(pipe.vae) == 4 and pipe.vae.config.latent_channels == 4
    assert pipe.unet.config.in_channels == 8 and pipe.config.preset == "small"
    std, dist = recipe("standard", "small"), recipe("distill", "small")
    # One lr and EMA for every UNet stage: the arms differ only in target / init.
    assert (std.lr, std.ema_decay, std.warmup_steps) == (dist.lr, dist.ema_decay, dist.warmup_steps)
    assert std.ema_decay > 0 and recipe("autoencoder", "small").preset == "small"


def test_packaged_training_photos_exclude_the_sample_test_photos_and_the_stereo_twin():
    from yonos_train.packaged_photos import NEAR_DUPLICATES, sample_test_files, training_photos

    test_paths, test_sha = sample_test_files()
    photos = training_photos()
    assert len(photos) >= 10
    sources = {p["source"] for p in photos}
    assert not sources & test_paths and not sources & NEAR_DUPLICATES
    assert not {p["sha256"] for p in photos} & test_sha
    assert "skimage/data/motorcycle_right.png" not in sources


def test_training_folder_tiles_photos_and_is_idempotent(tmp_path, monkeypatch):
    from yonos_train import packaged_photos

    # Two photos only (speed): a 300x260 colour image and a 128x128 gray one.
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (260, 300, 3), dtype=np.uint8)).save(a)
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128), dtype=np.uint8)).save(b)
    fake = [{"source": "x/a.png", "path": a, "sha256": "1"}, {"source": "x/b.png", "path": b, "sha256": "2"}]
    monkeypatch.setattr(packaged_photos, "training_photos", lambda: fake)
    out = tmp_path / "data"
    m = packaged_photos.write_training_folder(out, procedural=2, procedural_size=96, tile=128, max_tiles=3)
    by_source = {}
    for f in m["files"]:
        by_source.setdefault(f["source"], []).append(f["file"])
    assert len(by_source["x/a.png"]) == 3  # 2x2 = 4 tiles, capped at 3
    assert len(by_source["x/b.png"]) == 1 and len(by_source["procedural dead-leaves"]) == 2
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    packaged_photos.write_training_folder(out, procedural=2, procedural_size=96, tile=128, max_tiles=3)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing rewritten


def _sweep_plan(tmp_path, *extra):
    argv = [str(tmp_path / "sweep"), "--vae", str(tmp_path / "ae"), "--plan", "--data", str(tmp_path), *extra]
    plan = run_miniature_sweep.build(run_miniature_sweep.parse_args(argv))
    miniature_chain.print_plan(plan)
    return plan


def _set(stage, key):
    vals = [a.split("=", 1)[1] for a in stage.args if a.startswith(f"{key}=")]
    return vals[-1] if vals else None


def test_sweep_plan_matches_the_preregistration(tmp_path, capsys):
    plan = _sweep_plan(tmp_path)
    by = {s.name: s for s in plan.stages}
    for seed in (0, 1, 2):
        for n in (4, 8):
            arms = [by[f"{a}-x{n}-s{seed}"] for a in ("direct", "distill", "control")]
            # Equal optimizer steps, one shared data stream per scale and seed (common random numbers).
            assert {_set(a, "steps") for a in arms} == {"375"}  # 1500 x 0.25 (amendment 2026-12-02)
            assert {_set(a, "stream_salt") for a in arms} == {str(100 + n)}
            assert {_set(a, "seed") for a in arms} == {str(seed)}
            assert not any(a.startswith(("lr=", "ema_decay=")) for arm in arms for a in arm.args)  # the recipe's
        assert _set(by[f"teacher-x2-p80-s{seed}"], "stream_salt") == "2"
        assert _set(by[f"teacher-x2-s{seed}"], "steps") == "750"
        assert _set(by[f"teacher-x2-p80-s{seed}"], "steps") == "600"
        # Table 3's decoders: (b) and (a) at S (the long direct arm was dropped 2026-12-02).
        assert str(plan.root / f"direct-x{n}-s{seed}" / "pipeline") in by[f"decoder-direct-x{n}-s{seed}"].args
        # x2 -> x4 -> x8: the distilled x4 model teaches x8 and initialises its control.
        x4 = str(plan.root / f"distill-x4-s{seed}" / "pipeline")
        assert x4 in by[f"distill-x8-s{seed}"].args and x4 in by[f"control-x8-s{seed}"].args
        t2 = str(plan.root / f"teacher-x2-s{seed}" / "pipeline")
        assert t2 in by[f"distill-x4-s{seed}"].args and t2 in by[f"control-x4-s{seed}"].args
    assert len(plan.stages) == 3 * 12  # 2 teacher + 2 scales x (direct, distill, control, 2 decoders)
    assert not any("long" in s.name for s in plan.stages)
    # Every seed's x2/x4 stages come before any x8 stage: a cut-off sweep loses x8 first.
    scales = [miniature_chain.stage_scale(s) for s in plan.stages]
    assert scales.index(8) == len(scales) - scales[::-1].count(8) and scales.count(8) == 3 * 5
    assert "[todo] teacher-x2-p80-s0" in capsys.readouterr().out


def test_long_direct_arm_is_the_whole_chain_budget(tmp_path):
    plan = _sweep_plan(tmp_path, "--long", "--steps-factor", "4")  # x4 undoes the amendment's x0.25
    by = {s.name: s for s in plan.stages}
    # Direct arm also at the whole chain's budget: S_T + S at x4, S_T + 2S at x8.
    assert _set(by["direct-x4-long-s0"], "steps") == "4500" and _set(by["direct-x8-long-s0"], "steps") == "6000"
    assert by["direct-x4-long-s0"].extends == "direct-x4-s0"
    assert str(plan.root / "direct-x4-long-s0" / "pipeline") in by["decoder-direct-x4-long-s0"].args


def test_steps_factor_scales_teacher_and_stage_budgets_together(tmp_path):
    plan = _sweep_plan(tmp_path, "--steps-factor", "2", "--seeds", "0", "--no-x8", "--long")
    by = {s.name: s for s in plan.stages}
    assert _set(by["teacher-x2-s0"], "steps") == "1500" and _set(by["distill-x4-s0"], "steps") == "750"
    assert _set(by["direct-x4-long-s0"], "steps") == "2250"


def test_sweep_refuses_a_missing_autoencoder(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPTS / "run_miniature_sweep.py"), str(tmp_path / "s"),
                           "--vae", str(tmp_path / "nope"), "--data", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "no trained autoencoder" in proc.stderr


def test_plan_rejects_unknown_dependencies(tmp_path):
    bad = [miniature_chain.Stage("a", "standard", [], needs=["ghost"])]
    with pytest.raises(ValueError, match="ghost"):
        miniature_chain.Plan(tmp_path, bad, "x", 1)


@pytest.mark.slow
def test_chain_and_sweep_run_end_to_end_skip_done_stages_and_resume(tmp_path):
    """Tiny preset, 2-5 steps per stage: every stage trains, LOG.json records it, a rerun skips
    it, a stage whose result is gone continues from its checkpoint."""
    import numpy as np

    from yonos_bench.core.imageio import write_png
    from yonos_train.data import dead_leaves

    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_png(data / f"{i}.png", dead_leaves(96, np.random.default_rng(i)))
    runs = tmp_path / "chain"
    chain = [sys.executable, str(SCRIPTS / "train_small_models.py"), "--runs", str(runs), "--data", str(data),
             "--preset", "tiny", "--steps-factor", "0.004", "--jobs", "2", "--ship", "--assets",
             str(tmp_path / "assets")]  # fmt: skip
    first = subprocess.run(chain, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    log = json.loads((runs / "LOG.json").read_text())
    names = ["autoencoder", "teacher-x2-p80-s0", "teacher-x2-s0", "direct-x4-s0", "distill-x4-s0",
             "decoder-distill-x4-s0", "decoder-direct-x4-s0"]  # fmt: skip
    assert log["stage_order"] == names and set(log["stages"]) == set(names)
    for rec in log["stages"].values():
        assert rec["status"] == "done" and rec["command"].startswith("yonos-bench train ")
        assert rec["wall_s"] > 0 and rec["result_files"]
    assert log["stages"]["teacher-x2-s0"]["steps"] == 3 and log["stages"]["direct-x4-s0"]["steps"] == 2
    # --ship: the four x4 cards of the shipping rule, fp16, with their provenance
    shipped = json.loads((tmp_path / "assets" / "TRAINING_LOG.json").read_text())
    assert set(shipped["shipped"]) == {"yonos-small-x4", "yonos-small-x4-orig-decoder", "sd-sr-small-x4",
                                       "sd-sr-small-x4-orig-decoder"}  # fmt: skip
    assert shipped["shipped"]["yonos-small-x4"]["from_run"] == "decoder-distill-x4-s0"
    assert set(shipped["stages"]) == set(names)
    assert shipped["command_wall_s"] > 0  # the time a user waits (stages overlap with --jobs 2)
    assert (tmp_path / "assets" / "yonos-small-x4" / "model_index.json").is_file()
    assert "Resumed" in (runs / "teacher-x2-s0.log").read_text()  # the extension continued the 2-step run
    for rec in log["stages"].values():
        for rel, meta in rec["result_files"].items():
            run = runs / rec["stage"]
            from yonos_bench.core.imageio import sha256_file

            assert sha256_file(run / rel) == meta["sha256"]

    again = subprocess.run(chain, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and again.stdout.count("skipped") == len(names) and "===" not in again.stdout

    # An interrupted stage (run folder, checkpoint, no result) continues from its checkpoint.
    shutil.rmtree(runs / "distill-x4-s0" / "pipeline")
    resumed = subprocess.run(chain, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "=== distill-x4-s0: yonos-bench train distill" in resumed.stdout and "--resume" in resumed.stdout
    assert "Resumed" in (runs / "distill-x4-s0.log").read_text()

    sweep = subprocess.run([sys.executable, str(SCRIPTS / "run_miniature_sweep.py"), str(tmp_path / "sweep"),
                            "--vae", str(runs / "autoencoder"), "--data", str(data), "--preset", "tiny",
                            "--seeds", "1", "--no-x8", "--no-decoders", "--steps-factor", "0.004"],
                           capture_output=True, text=True, timeout=900)  # fmt: skip
    assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:]
    slog = json.loads((tmp_path / "sweep" / "LOG.json").read_text())
    assert {r["status"] for r in slog["stages"].values()} == {"done"}
    assert set(slog["stages"]) == {"teacher-x2-p80-s1", "teacher-x2-s1", "direct-x4-s1", "distill-x4-s1",
                                   "control-x4-s1"}  # fmt: skip
