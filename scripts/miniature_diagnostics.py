"""Miniature v2 diagnostics of trained YONOS pipelines on a prepared protocol's pairs.

docs/MINIATURE.md, "Evaluation" → "Diagnostics"; the computations are
:mod:`yonos_train.diagnostics`. For every ``--model NAME=PATH`` (a YonosSRPipeline folder
or a run folder holding ``pipeline/``):

* per-t v-MSE against the true v at t = 1, 0.75, 0.5, 0.25, 0.1 (ε per pair seeded from
  ``--seed`` and the pair's index in the protocol);
* with ``--teacher NAME=PATH`` (the frozen ×N/2 model NAME was distilled from): the MSE of
  the teacher's v̂ on the same z_t against the same true v — the error of NAME's training
  target (eq. 3), conditioned on ``LR_{N/2}`` = MATLAB-bicubic ×N/2 of the HR crop (8-bit
  levels), as the distill stage makes it;
* 1-step noise sensitivity: ``--draws`` (8) noise seeds per pair, the mean per-pixel std
  of the outputs (RGB, [0, 1], ddof 1) and the std of PSNR-Y across the draws. PSNR-Y is the
  project's ``psnr-y`` metric (pyiqa, BT.601 Y, no border crop) on the outputs quantised to
  8-bit levels as ``yonos-bench run`` saves them (:func:`yonos_bench.core.imageio.to_uint8`'s rule).

Means over pairs come with a 95% bootstrap interval resampling source photos (patches of
one photo are not independent); every per-pair value is kept for other analyses. The JSON
(``--out``, written atomically after each model) records the protocol digest, the seeds,
the times and the sha256 of every UNet; a rerun with the same settings reuses the entries
of models whose UNet (and teacher) are unchanged, so a sweep can be resumed.

    python scripts/miniature_diagnostics.py --protocol sample --out diag-x4.json \\
        --model direct-s0=runs/sweep/direct-x4-s0 --model distill-s0=runs/sweep/distill-x4-s0 \\
        --teacher distill-s0=runs/sweep/teacher-x2-s0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FORMAT = 1
# yonos_train.diagnostics' DIAGNOSTIC_TIMES, NOISE_DRAWS, BATCH, written out so that --help and
# argument errors need no torch import (tests/train/test_diagnostics.py checks they agree).
DEFAULT_TIMES = (1.0, 0.75, 0.5, 0.25, 0.1)
DEFAULT_DRAWS = 8
DEFAULT_BATCH = 16


def parse_mapping(items: list[str], option: str) -> dict[str, str]:
    from yonos_bench.core.errors import SpecError

    out: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SpecError(f"{option} {item!r}: expected NAME=PATH")
        if name in out:
            raise SpecError(f"{option} {name}: given twice")
        out[name] = path
    return out


def pipeline_folder(path: str) -> Path:
    folder = Path(path)
    return folder / "pipeline" if (folder / "pipeline" / "model_index.json").is_file() else folder


def unet_sha256(path: str) -> str:
    """sha256 of the pipeline's UNet weights file (one safetensors/bin file under ``unet/``)."""
    from yonos_bench.core.errors import DataMissingError
    from yonos_bench.core.imageio import sha256_file

    files = sorted(
        p for p in (pipeline_folder(path) / "unet").glob("*") if p.suffix in (".safetensors", ".bin")
    )
    if len(files) != 1:
        raise DataMissingError(f"{path}: expected one UNet weights file under unet/, found {len(files)}")
    return sha256_file(files[0])


def load_pairs(
    protocol: str, data_root: str | None, prepared_root: str | None, limit: int | None, per_photo: int | None = None
):
    import torch

    from yonos_bench.core.errors import SpecError
    from yonos_bench.core.imageio import read_rgb8, to_tensor
    from yonos_bench.protocols.pairs import load_prepared

    prepared = load_prepared(protocol, data_root, prepared_root=prepared_root)
    pairs = prepared.pairs[:limit] if limit else prepared.pairs
    if per_photo:  # the first K pairs of every source photo (a stratified subset, not a smoke run)
        seen: dict[str, int] = {}
        kept = []
        for p in pairs:
            seen[p.source] = seen.get(p.source, 0) + 1
            if seen[p.source] <= per_photo:
                kept.append(p)
        pairs = kept
    if not pairs or any(p.hr_path is None for p in pairs):
        raise SpecError(
            f"--protocol {protocol}: the diagnostics need HR images (an LR-only or empty protocol)"
        )
    hr = torch.stack([to_tensor(read_rgb8(p.hr_path)) for p in pairs])
    lr = torch.stack([to_tensor(read_rgb8(p.lr_path)) for p in pairs])
    return prepared, pairs, hr, lr


def summary(values, sources: list[str]) -> dict:
    from yonos_bench.metrics.stats import bootstrap_ci

    vals = [float(v) for v in values]
    ci = bootstrap_ci(vals, clusters=sources, seed=0)
    interval = [ci.ci_low, ci.ci_high] if math.isfinite(ci.ci_low) else None  # < 2 photos: no interval
    return {"mean": ci.mean, "ci95": interval, "n_clusters": ci.n_clusters, "per_pair": vals}


def psnr_y_scorer(hr):
    """``score(outputs (K, 3, H, W), pair position) -> (K,)``: psnr-y of 8-bit-quantised outputs."""
    from yonos_bench.core.paths import weights_dir
    from yonos_bench.metrics.backends import build_scorer
    from yonos_bench.metrics.presets import get_preset

    scorer = build_scorer(get_preset("psnr-y"), "cpu", weights_dir())

    def score(outputs, j: int):
        sr = outputs.clamp(0, 1).mul(255.0).round().div(255.0)
        return scorer(sr, hr[j : j + 1].expand_as(sr))

    return score


def encoders_equal(vae_a, vae_b) -> bool:
    """Whether two VAEs encode identically (same encoder weights, quant_conv and scaling):
    then the student's z_h and z_t are exactly those its distillation targets were made on."""
    import torch

    def state(vae):
        quant = getattr(vae, "quant_conv", None)
        quant_state = quant.state_dict() if quant is not None else {}
        return {**vae.encoder.state_dict(), **{f"quant_conv.{k}": v for k, v in quant_state.items()}}

    a, b = state(vae_a), state(vae_b)
    same = a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)
    cfg = ("scaling_factor", "shift_factor")
    return same and all(getattr(vae_a.config, c, None) == getattr(vae_b.config, c, None) for c in cfg)


def evaluate_model(name, path, teacher_path, hr, lr, scale, sources, ns, log) -> dict:
    from yonos_bench.core.errors import SpecError
    from yonos_train.diagnostics import half_scale_lr, noise_sensitivity, v_mse_per_t
    from yonos_train.stages.common import load_yonos_pipeline

    started = time.perf_counter()
    pipe = load_yonos_pipeline(path, f"--model {name}")
    if pipe.scale_factor != scale:
        raise SpecError(f"--model {name}={path} is a ×{pipe.scale_factor} pipeline; the protocol is ×{scale}")
    indices = list(range(hr.shape[0]))
    entry: dict = {
        "path": str(path), "unet_sha256": unet_sha256(path), "scale": pipe.scale_factor,
        "preset": pipe.config.preset, "lineage": pipe.config.lineage,
    }  # fmt: skip
    kw = dict(pair_indices=indices, seed=ns.seed, times=ns.times, batch_size=ns.batch)
    teacher = None
    if teacher_path is not None:
        teacher = load_yonos_pipeline(teacher_path, f"--teacher {name}")
        if teacher.scale_factor * 2 != scale:
            raise SpecError(
                f"--teacher {name}={teacher_path} is a ×{teacher.scale_factor} pipeline; a ×{scale} student's "
                f"teacher is ×{scale // 2}"
            )
        same_encoder = encoders_equal(pipe.vae, teacher.vae)
        teacher_lr = half_scale_lr(hr, scale // 2)
        kw.update(teacher=teacher, teacher_lr=teacher_lr, teacher_scale=scale // 2)
    log(f"{name}: per-t v-MSE on {hr.shape[0]} pairs ...")
    mse = v_mse_per_t(pipe, hr, lr, scale, **kw)
    entry["v_mse"] = {f"{t:g}": summary(mse["model"][j], sources) for j, t in enumerate(ns.times)}
    if teacher is not None:
        entry["teacher"] = {
            "path": str(teacher_path), "unet_sha256": unet_sha256(teacher_path), "scale": teacher.scale_factor,
            "lineage": teacher.config.lineage, "same_encoder_as_model": bool(same_encoder),
            "target_v_mse": {f"{t:g}": summary(mse["teacher_target"][j], sources) for j, t in enumerate(ns.times)},
        }  # fmt: skip
    mse_done = time.perf_counter()
    if ns.no_noise:
        entry["seconds"] = entry["seconds_v_mse"] = round(mse_done - started, 2)
        return entry
    log(f"{name}: 1-step noise sensitivity ({ns.draws} draws per pair) ...")
    sens = noise_sensitivity(pipe, lr, scale, pair_indices=indices, seed=ns.seed, draws=ns.draws,
                             batch_size=ns.batch, score=psnr_y_scorer(hr))  # fmt: skip
    entry["noise_sensitivity"] = {
        "draws": ns.draws,
        "pixel_std": summary(sens["pixel_std"], sources),
        "psnr_y_std": summary(sens["score_std"], sources),
        "psnr_y_mean": summary(sens["score_mean"], sources),
    }
    entry["seconds"] = round(time.perf_counter() - started, 2)
    entry["seconds_v_mse"] = round(mse_done - started, 2)  # loading + v-MSE (+ teacher target)
    return entry


def reusable(
    previous: dict | None, config: dict, name: str, path: str, teacher_path: str | None
) -> dict | None:
    """The previous entry of ``name`` if computed with this config, UNet and teacher."""
    if not previous or previous.get("config") != config:
        return None
    entry = previous.get("models", {}).get(name)
    if not entry or entry.get("unet_sha256") != unet_sha256(path):
        return None
    old_teacher = entry.get("teacher")
    if (old_teacher is None) != (teacher_path is None):
        return None
    if teacher_path is not None and old_teacher.get("unet_sha256") != unet_sha256(teacher_path):
        return None
    return entry


def check_folders(models: dict[str, str], teachers: dict[str, str]) -> None:
    """Every folder checked before any compute (and before the heavy imports)."""
    from yonos_bench.core.errors import DataMissingError

    for option, mapping in (("--model", models), ("--teacher", teachers)):
        for name, path in mapping.items():
            if not Path(path).is_dir():
                raise DataMissingError(f"{option} {name}={path}: no such folder.")
            from yonos_train.stages.common import is_yonos_pipeline, load_yonos_pipeline

            if not is_yonos_pipeline(path):
                load_yonos_pipeline(path, f"{option} {name}")  # raises its clear error
                raise DataMissingError(f"{option} {name}={path}: not a YonosSRPipeline folder")


def run(ns: argparse.Namespace, log) -> dict:
    from yonos_bench.core.errors import SpecError

    models = parse_mapping(ns.model, "--model")
    teachers = parse_mapping(ns.teacher, "--teacher")
    if not models:
        raise SpecError("nothing to evaluate: give at least one --model NAME=PATH")
    if not ns.times or any(not 0.0 < t <= 1.0 for t in ns.times):
        raise SpecError(f"--times {ns.times}: expected times in (0, 1]")
    if ns.draws < 2 or ns.batch < 1:
        raise SpecError(f"--draws {ns.draws} / --batch {ns.batch}: expected draws >= 2 and batch >= 1")
    unknown = sorted(set(teachers) - set(models))
    if unknown:
        raise SpecError(f"--teacher {unknown[0]}: no --model of that name (teachers are given per model)")
    check_folders(models, teachers)

    import torch

    from yonos_bench.core.atomic import write_json_atomic
    from yonos_train.diagnostics import eps_seeds

    if ns.threads:
        torch.set_num_threads(ns.threads)
    prepared, pairs, hr, lr = load_pairs(ns.protocol, ns.data_root, ns.prepared_root, ns.limit, ns.per_photo)
    scale = int(prepared.spec.scale)
    sources = [p.source for p in pairs]
    config = {
        "protocol": prepared.spec.name, "version": prepared.spec.version, "digest": prepared.digest,
        "scale": scale, "n_pairs": len(pairs), "seed": ns.seed, "times": list(ns.times),
        "unet_timesteps": [999 * t for t in ns.times], "draws": None if ns.no_noise else ns.draws,
        "per_photo": ns.per_photo,
        "eps": "one generator per pair: seed yonos_train.diagnostics.eps_seeds(seed, [pair index])",
        "teacher_lr": "MATLAB-bicubic xN/2 of the HR crop, 8-bit levels (yonos_train.diagnostics.half_scale_lr)",
        "psnr_y": "psnr-y (pyiqa, BT.601 Y, no crop) of the 1-step outputs quantised to 8 bits",
        "intervals": "95% percentile bootstrap over source photos (2000 draws, seed 0)",
    }  # fmt: skip
    config["eps_seed_of_pair_0"] = eps_seeds(ns.seed, [0])[0]  # a change of the seeding rule shows
    out = Path(ns.out)
    previous = None
    if out.is_file():
        try:
            previous = json.loads(out.read_text())
        except ValueError:
            log(f"{out}: not readable JSON; recomputing every model.")
    result = {
        "format": FORMAT, "tool": "scripts/miniature_diagnostics.py", "config": config,
        "pairs": [{"id": p.id, "source": p.source} for p in pairs], "models": {},
    }  # fmt: skip
    for name, path in models.items():
        entry = reusable(previous, config, name, path, teachers.get(name))
        if entry is not None:
            log(f"{name}: unchanged since the last run, reused.")
        else:
            entry = evaluate_model(name, path, teachers.get(name), hr, lr, scale, sources, ns, log)
            log(f"{name}: done in {entry['seconds']} s.")
        result["models"][name] = entry
        write_json_atomic(out, result)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--protocol", default="sample", help="prepared protocol (sample, sample-x8, sample-x2, ...)"
    )
    ap.add_argument(
        "--model", action="append", default=[], metavar="NAME=PATH", help="a pipeline to evaluate"
    )
    ap.add_argument("--teacher", action="append", default=[], metavar="NAME=PATH",
                    help="the x N/2 teacher model NAME was distilled from: its target error")  # fmt: skip
    ap.add_argument("--out", required=True, help="output JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--times", type=float, nargs="+", default=list(DEFAULT_TIMES))
    ap.add_argument("--draws", type=int, default=DEFAULT_DRAWS)
    ap.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    ap.add_argument("--limit", type=int, default=None, help="only the first N pairs (smoke runs)")
    ap.add_argument("--per-photo", type=int, default=None, help="only the first K pairs of every source photo")
    ap.add_argument("--no-noise", action="store_true", help="skip the 1-step noise sensitivity (v-MSE only)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--prepared-root", default=None)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from yonos_bench.core.errors import YonosError

    ns = parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        result = run(ns, log)
    except YonosError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    for name, entry in result["models"].items():
        mse = ", ".join(f"t={t:g} {entry['v_mse'][f'{t:g}']['mean']:.4g}" for t in ns.times)
        line = f"{name}: v-MSE {mse}"
        sens = entry.get("noise_sensitivity")  # absent with --no-noise
        if sens:
            line += f"; pixel std {sens['pixel_std']['mean']:.4g}, PSNR-Y std {sens['psnr_y_std']['mean']:.3g} dB"
        if "teacher" in entry:
            target = entry["teacher"]["target_v_mse"]
            tgt = ", ".join(f"t={t:g} {target[f'{t:g}']['mean']:.4g}" for t in ns.times)
            line += f"; teacher target v-MSE {tgt}"
        print(line)
    print(f"Wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
