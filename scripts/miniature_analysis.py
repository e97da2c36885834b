"""The Miniature v2 analysis rule (docs/MINIATURE.md, "Analysis rule"), applied to an evaluation.

Input: the folder written by ``scripts/evaluate_miniature.py`` (``results/`` cells of
``yonos-bench run`` and the diagnostics JSON). Output: ``summary.json`` (every number) and
``RESULTS.md`` (the tables) in that folder, and ``fig3.png``.

* Unit of replication = training seed. For X − Y and seed s, d_s = mean over identical
  pairs of the per-pair difference (set metrics KID/FID/SWD: the difference of the values).
* Primary interval: the seed-level 95% t-interval d̄ ± t_{0.975, n−1}·sd/√n.
* Also: a two-level bootstrap (seeds, then source photos within each seed; 10,000 draws) for
  per-pair metrics, and each seed's photo-cluster pair bootstrap.
* Verdict: "wins" if the interval lies on the better side of 0, "loses" if on the worse side,
  else "inconclusive"; |d̄| < 0.05 dB PSNR-Y is "negligible".

    python scripts/miniature_analysis.py EVAL_FOLDER
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PAIR_METRICS = ("psnr-y", "ssim-y")
SET_METRICS = ("kid-clean", "fid-clean", "swd")
#: The DDIM step counts of Fig. 3 that the (amended) plan evaluates.
FIG3_STEPS = (1, 2, 4, 8)
LOWER_BETTER = {"kid-clean", "fid-clean", "swd"}
PAIR_PROTOCOL = {2: "sample-x2", 4: "sample", 8: "sample-x8"}
DIST_PROTOCOL = {4: "sample-dist-x4", 8: "sample-dist-x8"}
NEGLIGIBLE_DB = 0.05


# ----------------------------------------------------------------------------- statistics


def t_interval(d: list[float], confidence: float = 0.95) -> dict:
    """Mean and the t-interval over seeds (n = len(d)); n < 2 gives no interval."""
    from scipy import stats

    x = np.asarray(d, dtype=np.float64)
    n = int(x.size)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n_seeds": n, "sd": None}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n_seeds": n, "sd": sd}


def two_level_bootstrap(per_seed: list[dict[str, list[float]]], n_boot: int = 10_000, seed: int = 0) -> dict:
    """Resample seeds, then source photos within each drawn seed; the statistic is the mean
    over drawn seeds of the mean over drawn photos of the photo's mean pair difference."""
    rng = np.random.default_rng(seed)
    seeds = [np.array([np.mean(v) for v in photos.values()]) for photos in per_seed]
    k = len(seeds)
    if k == 0:
        return {"low": None, "high": None}
    draws = np.empty(n_boot)
    for b in range(n_boot):
        picked = rng.integers(0, k, size=k)
        vals = []
        for i in picked:
            ph = seeds[i]
            vals.append(ph[rng.integers(0, ph.size, size=ph.size)].mean())
        draws[b] = np.mean(vals)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return {"low": float(lo), "high": float(hi), "n_boot": n_boot}


def verdict(est: dict, metric: str) -> str:
    """The pre-registered verdict of "distillation (X) vs Y" from the seed-level interval."""
    lo, hi, mean = est.get("low"), est.get("high"), est["mean"]
    if lo is None or hi is None or not math.isfinite(mean):
        return "no interval (fewer than 2 seeds)"
    better_positive = metric not in LOWER_BETTER
    if (lo > 0 and better_positive) or (hi < 0 and not better_positive):
        v = "wins"
    elif (hi < 0 and better_positive) or (lo > 0 and not better_positive):
        v = "loses"
    else:
        return "inconclusive"
    if metric == "psnr-y" and abs(mean) < NEGLIGIBLE_DB:
        v += " (negligible)"
    return v


# ----------------------------------------------------------------------------- loading


def load_cells(results: Path) -> dict[tuple[str, str, int | None], dict]:
    """{(protocol, model, steps): {"metrics": {id: value}, "pairs": {id: {pair: value}},
    "sources": {pair: photo}, "reportable": bool}} from every result.json under ``results``."""
    cells = {}
    for rj in sorted(results.rglob("result.json")):
        r = json.loads(rj.read_text())
        if not r.get("reportable"):  # a --limit smoke cell never enters a comparison
            continue
        cell = r["cell"]
        steps = cell.get("steps") if r["model"].get("supports_steps") else None
        metrics = {k: v.get("mean") for k, v in r.get("metrics", {}).items()}
        pairs: dict[str, dict[str, float]] = {}
        sources: dict[str, str] = {}
        csv_path = rj.parent / "per_image.csv"
        if csv_path.is_file():
            with csv_path.open() as fh:
                for row in csv.DictReader(fh):
                    sources[row["id"]] = row["source"]
                    for m in PAIR_METRICS:
                        if row.get(m) not in (None, ""):
                            pairs.setdefault(m, {})[row["id"]] = float(row[m])
        cells[(cell["protocol"], cell["model"], steps)] = {
            "metrics": metrics, "pairs": pairs, "sources": sources, "reportable": bool(r.get("reportable")),
            "n": r.get("n"), "warnings": r.get("warnings", []),
        }  # fmt: skip
    return cells


def model_name(arm: str, n: int, seed: int, decoder: bool = False) -> str:
    return f"{'decoder-' if decoder else ''}{arm}-x{n}-s{seed}"


def seed_difference(cells, protocol: str, x: str, y: str, steps: int, metric: str):
    """d_s of one seed (None when either cell or value is missing) and, for pair metrics, the
    per-photo lists of pair differences (for the two-level bootstrap)."""
    cx, cy = cells.get((protocol, x, steps)), cells.get((protocol, y, steps))
    if cx is None or cy is None:
        return None, None
    if metric in PAIR_METRICS:
        px, py = cx["pairs"].get(metric, {}), cy["pairs"].get(metric, {})
        ids = sorted(set(px) & set(py))
        if not ids or len(ids) != len(px) or len(ids) != len(py):
            return None, None  # never compare different pair sets
        photos: dict[str, list[float]] = {}
        for i in ids:
            photos.setdefault(cx["sources"][i], []).append(px[i] - py[i])
        return float(np.mean([px[i] - py[i] for i in ids])), photos
    vx, vy = cx["metrics"].get(metric), cy["metrics"].get(metric)
    if vx is None or vy is None or cx["n"] != cy["n"]:  # set metrics: only on the same pair set
        return None, None
    return float(vx - vy), None


def compare(cells, seeds: list[int], protocol: str, x, y, steps: int, metric: str) -> dict:
    """X − Y over seeds under the analysis rule; ``x``/``y`` map a seed to a model name."""
    d, photos, used = [], [], []
    for s in seeds:
        ds, ph = seed_difference(cells, protocol, x(s), y(s), steps, metric)
        if ds is None:
            continue
        d.append(ds)
        used.append(s)
        if ph is not None:
            photos.append(ph)
    est = t_interval(d)
    est.update(per_seed=dict(zip(used, d, strict=True)), verdict=verdict(est, metric))
    if photos and len(photos) == len(d):
        est["two_level_bootstrap"] = two_level_bootstrap(photos)
    return est


# ----------------------------------------------------------------------------- report


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:+.{digits}f}" if digits else f"{v:+.0f}"


def digits_for(metric: str) -> int:
    return {"psnr-y": 2, "ssim-y": 4, "kid-clean": 4, "fid-clean": 2, "swd": 2}.get(metric, 3)


def analyse(folder: Path) -> dict:
    cells = load_cells(folder / "results")
    seeds = sorted({int(m[1]) for k in cells if (m := re.search(r"-s(\d+)$", k[1]))})
    summary: dict = {"seeds": seeds, "comparisons": [], "table3": [], "absolute": [], "fig3": [], "fig3_differences": [],
                     "teacher": []}
    metrics = (*PAIR_METRICS, *SET_METRICS)
    comps = [("distill", "control", "(b) vs (c): primary at x4 psnr-y"), ("distill", "direct", "(b) vs (a) at S"),
             ("control", "direct", "(c) vs (a) at S")]  # fmt: skip
    for n in (4, 8):
        proto = PAIR_PROTOCOL[n]
        for xa, ya, label in comps:
            for m in metrics:
                est = compare(cells, seeds, proto, lambda s, a=xa, n=n: model_name(a, n, s),
                              lambda s, a=ya, n=n: model_name(a, n, s), 1, m)  # fmt: skip
                if est["n_seeds"]:
                    summary["comparisons"].append({"scale": n, "x": xa, "y": ya, "label": label, "metric": m,
                                                   "protocol": proto, "steps": 1, **est})  # fmt: skip
        # absolute values: mean over seeds of every arm (and decoders) and the baselines
        for arm in ("direct", "distill", "control"):
            for dec in (False, True):
                for m in metrics:
                    vals = [cells[(proto, model_name(arm, n, s, dec), 1)]["metrics"].get(m) for s in seeds
                            if (proto, model_name(arm, n, s, dec), 1) in cells]  # fmt: skip
                    vals = [v for v in vals if v is not None]
                    if vals:
                        summary["absolute"].append({"scale": n, "model": arm, "decoder": dec, "metric": m,
                                                    "protocol": proto, **t_interval(vals), "values": vals})  # fmt: skip
        for base in ("bicubic", "lanczos"):
            for p in (proto, DIST_PROTOCOL[n]):
                c = cells.get((p, base, None))
                if c:
                    summary["absolute"].append({"scale": n, "model": base, "decoder": False, "protocol": p,
                                                "metrics": c["metrics"]})  # fmt: skip
        # Table 3: arms (a), (b) x decoder, and the interaction
        for arm in ("direct", "distill"):
            for m in metrics:
                est = compare(cells, seeds, proto, lambda s, a=arm, n=n: model_name(a, n, s, True),
                              lambda s, a=arm, n=n: model_name(a, n, s), 1, m)  # fmt: skip
                if est["n_seeds"]:
                    summary["table3"].append({"scale": n, "arm": arm, "metric": m, "effect": "fine-tuned decoder",
                                              **est})  # fmt: skip
        for m in metrics:
            inter = []
            for s in seeds:
                a1, _ = seed_difference(cells, proto, model_name("distill", n, s, True), model_name("distill", n, s), 1, m)
                a0, _ = seed_difference(cells, proto, model_name("direct", n, s, True), model_name("direct", n, s), 1, m)
                if a1 is not None and a0 is not None:
                    inter.append(a1 - a0)
            if inter:
                est = t_interval(inter)
                summary["table3"].append({"scale": n, "arm": "interaction (b) - (a)", "metric": m,
                                          "effect": "decoder gain of (b) minus that of (a)", **est,
                                          "verdict": verdict(est, m)})  # fmt: skip
        # Fig. 3: metric vs DDIM steps, per arm: the mean over the seeds that have the cell and,
        # with >= 2 seeds, the seed-level t-interval
        for arm in ("direct", "distill", "control"):
            for steps in FIG3_STEPS:
                row: dict = {"scale": n, "arm": arm, "steps": steps}
                for m in PAIR_METRICS:
                    vals = {s: cells[(proto, model_name(arm, n, s), steps)]["metrics"].get(m) for s in seeds
                            if (proto, model_name(arm, n, s), steps) in cells}  # fmt: skip
                    vals = {s: v for s, v in vals.items() if v is not None}
                    if vals:
                        est = t_interval(list(vals.values()))
                        row[m] = est["mean"]
                        row[f"{m}_ci"] = [est["low"], est["high"]]
                        row["seeds"] = sorted(vals)
                if "seeds" in row:
                    summary["fig3"].append(row)
        # Fig. 3 as paired differences: does the (b) - (c) and (b) - (a) gap change with steps?
        for xa, ya in (("distill", "control"), ("distill", "direct")):
            for steps in FIG3_STEPS:
                for m in PAIR_METRICS:
                    est = compare(cells, seeds, proto, lambda s, a=xa, n=n: model_name(a, n, s),
                                  lambda s, a=ya, n=n: model_name(a, n, s), steps, m)  # fmt: skip
                    if est["n_seeds"]:
                        summary["fig3_differences"].append({"scale": n, "x": xa, "y": ya, "steps": steps, "metric": m,
                                                            **est})  # fmt: skip
        # the 1,050-crop distribution sets, seed 0
        dp = DIST_PROTOCOL[n]
        for arm in ("direct", "distill", "control"):
            for dec in (False, True):
                c = cells.get((dp, model_name(arm, n, 0, dec), 1))
                if c:
                    summary["absolute"].append({"scale": n, "model": arm, "decoder": dec, "protocol": dp, "seed": 0,
                                                "metrics": c["metrics"]})  # fmt: skip
    summary["teacher"] = teacher_check(folder, seeds)
    return summary


def teacher_check(folder: Path, seeds: list[int]) -> list[dict]:
    """Per seed: T₂'s t=1 v-MSE on ×2 vs the direct ×4 model's on ×4 (premise: lower), and the
    plateau (< 2% relative change between the 0.8·S_T snapshot and S_T)."""
    def load(name):
        p = folder / name
        return json.loads(p.read_text()).get("models", {}) if p.is_file() else {}

    d2, d4, d8 = load("diagnostics-x2.json"), load("diagnostics-x4.json"), load("diagnostics-x8.json")
    out = []
    for s in seeds:
        row: dict = {"seed": s}
        t = d2.get(f"teacher-x2-s{s}", {}).get("v_mse", {}).get("1", {}).get("mean")
        p80 = d2.get(f"teacher-x2-p80-s{s}", {}).get("v_mse", {}).get("1", {}).get("mean")
        a4 = d4.get(f"direct-x4-s{s}", {}).get("v_mse", {}).get("1", {}).get("mean")
        b4 = d4.get(f"distill-x4-s{s}", {}).get("v_mse", {}).get("1", {}).get("mean")
        a8 = d8.get(f"direct-x8-s{s}", {}).get("v_mse", {}).get("1", {}).get("mean")
        tgt4 = d4.get(f"distill-x4-s{s}", {}).get("teacher", {}).get("target_v_mse", {}).get("1", {}).get("mean")
        tgt8 = d8.get(f"distill-x8-s{s}", {}).get("teacher", {}).get("target_v_mse", {}).get("1", {}).get("mean")
        row.update(teacher_x2_t1=t, teacher_p80_t1=p80, direct_x4_t1=a4, distill_x4_t1=b4, direct_x8_t1=a8,
                   target_error_x4_t1=tgt4, target_error_x8_t1=tgt8)  # fmt: skip
        if t is not None and a4 is not None:
            row["premise_x4"] = t < a4
        if b4 is not None and a8 is not None:
            row["premise_x8"] = b4 < a8
        if t is not None and p80 is not None:
            row["plateau_rel_change"] = abs(t - p80) / p80
            row["plateaued"] = row["plateau_rel_change"] < 0.02
        out.append(row)
    return out


def write_markdown(summary: dict, path: Path) -> None:
    lines = ["# Miniature v2 — results under the pre-registered plan (generated by scripts/miniature_analysis.py)",
             "", f"Training seeds: {summary['seeds']}. Differences are X − Y on identical pairs; interval = seed-level "
             "95% t-interval (n = seeds); 2-level = bootstrap over seeds then photos. KID/FID/SWD on the 210 "
             "`sample`/`sample-x8` pairs are flagged **n = 210 < 1,000**.", ""]  # fmt: skip
    lines += ["## Comparisons at 1 DDIM step (original decoder)", "",
              "| scale | comparison | metric | d̄ | seed-level 95% CI | 2-level bootstrap | per seed | verdict |",
              "|---|---|---|---:|---|---|---|---|"]  # fmt: skip
    for c in summary["comparisons"]:
        k = digits_for(c["metric"])
        b = c.get("two_level_bootstrap", {})
        per = ", ".join(f"s{s}: {fmt(v, k)}" for s, v in c["per_seed"].items())
        lines.append(f"| ×{c['scale']} | {c['x']} − {c['y']} | {c['metric']} | {fmt(c['mean'], k)} | "
                     f"[{fmt(c['low'], k)}, {fmt(c['high'], k)}] | [{fmt(b.get('low'), k)}, {fmt(b.get('high'), k)}] | "
                     f"{per} | {c['verdict']} |")  # fmt: skip
    lines += ["", "## Table 3 — decoder fine-tuning × distillation (1 step)", "",
              "| scale | arm | metric | fine-tuned − original | seed-level 95% CI | verdict |", "|---|---|---|---:|---|---|"]
    for c in summary["table3"]:
        k = digits_for(c["metric"])
        lines.append(f"| ×{c['scale']} | {c['arm']} | {c['metric']} | {fmt(c['mean'], k)} | "
                     f"[{fmt(c['low'], k)}, {fmt(c['high'], k)}] | {c.get('verdict', '')} |")  # fmt: skip
    lines += ["", "## Absolute values (mean over seeds; 1 step)", "", "| scale | protocol | model | decoder | metric | mean | seed values |",
              "|---|---|---|---|---|---:|---|"]  # fmt: skip
    for a in summary["absolute"]:
        if "metrics" in a:
            for m, v in a["metrics"].items():
                lines.append(f"| ×{a['scale']} | {a['protocol']} | {a['model']}{' (seed 0)' if 'seed' in a else ''} | "
                             f"{'fine-tuned' if a['decoder'] else 'original'} | {m} | {v:.4f} | |")  # fmt: skip
        else:
            vals = ", ".join(f"{v:.4f}" for v in a["values"])
            lines.append(f"| ×{a['scale']} | {a['protocol']} | {a['model']} | {'fine-tuned' if a['decoder'] else 'original'} | "
                         f"{a['metric']} | {a['mean']:.4f} | {vals} |")  # fmt: skip
    lines += ["", "## Fig. 3 data (metric vs DDIM steps; mean over the seeds listed, seed-level 95% CI)", "",
              "| scale | arm | steps | seeds | psnr-y | CI | ssim-y | CI |", "|---|---|---:|---|---:|---|---:|---|"]
    for f in summary["fig3"]:
        ci = {m: f.get(f"{m}_ci") or [None, None] for m in PAIR_METRICS}
        lines.append(f"| ×{f['scale']} | {f['arm']} | {f['steps']} | {f['seeds']} | {f.get('psnr-y', math.nan):.3f} | "
                     f"[{fmt(ci['psnr-y'][0], 2)}, {fmt(ci['psnr-y'][1], 2)}] | {f.get('ssim-y', math.nan):.4f} | "
                     f"[{fmt(ci['ssim-y'][0], 4)}, {fmt(ci['ssim-y'][1], 4)}] |")  # fmt: skip
    lines += ["", "## Fig. 3 as paired differences (original decoder; seed-level 95% CI)", "",
              "| scale | comparison | steps | metric | d̄ | seed-level 95% CI | per seed | verdict |",
              "|---|---|---:|---|---:|---|---|---|"]  # fmt: skip
    for c in summary["fig3_differences"]:
        k = digits_for(c["metric"])
        per = ", ".join(f"s{s}: {fmt(v, k)}" for s, v in c["per_seed"].items())
        lines.append(f"| ×{c['scale']} | {c['x']} − {c['y']} | {c['steps']} | {c['metric']} | {fmt(c['mean'], k)} | "
                     f"[{fmt(c['low'], k)}, {fmt(c['high'], k)}] | {per} | {c['verdict']} |")  # fmt: skip
    lines += ["", "## Teacher check (t = 1 v-MSE, 210 pairs)", "", "```json", json.dumps(summary["teacher"], indent=1), "```", ""]
    path.write_text("\n".join(lines))


def plot_fig3(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["fig3"]
    if not rows:
        return
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    for j, n in enumerate((4, 8)):
        for i, m in enumerate(("psnr-y", "ssim-y")):
            ax = axes[i][j]
            for arm, label in (("direct", "(a) direct"), ("distill", "(b) distilled"), ("control", "(c) control")):
                pts = sorted((r["steps"], r[m], r.get(f"{m}_ci"), len(r["seeds"])) for r in rows
                             if r["scale"] == n and r["arm"] == arm and r.get(m) is not None)  # fmt: skip
                if pts:
                    ys = [p[1] for p in pts]
                    err = [[y - (p[2][0] if p[2] and p[2][0] is not None else y) for y, p in zip(ys, pts, strict=True)],
                           [(p[2][1] if p[2] and p[2][1] is not None else y) - y for y, p in zip(ys, pts, strict=True)]]  # fmt: skip
                    seeds = sorted({p[3] for p in pts})
                    ax.errorbar([p[0] for p in pts], ys, yerr=err, marker="o", capsize=3,
                                label=f"{label} (seeds: {'/'.join(map(str, seeds))})")  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_xlabel("DDIM steps")
            ax.set_ylabel(f"{m} (higher is better)")
            ax.set_title(f"×{n}, 210 pairs; bars: seed-level 95% t-interval where > 1 seed", fontsize=9)
            ax.legend(fontsize=8)
    fig.suptitle("Miniature v2, Fig. 3: metric vs DDIM steps (small preset, budget ×0.25)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="the evaluation folder of scripts/evaluate_miniature.py")
    ns = ap.parse_args(argv)
    if not (ns.folder / "results").is_dir():
        sys.exit(f"{ns.folder}: no results/ folder (run scripts/evaluate_miniature.py first)")
    summary = analyse(ns.folder)
    if not summary["comparisons"] and not summary["absolute"]:
        sys.exit(f"{ns.folder}: no result cell of the sweep's models found: nothing to analyse")
    from yonos_bench.core.atomic import write_json_atomic

    write_json_atomic(ns.folder / "summary.json", summary)
    write_markdown(summary, ns.folder / "RESULTS.md")
    plot_fig3(summary, ns.folder / "fig3.png")
    print(f"wrote {ns.folder / 'summary.json'}, RESULTS.md, fig3.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
