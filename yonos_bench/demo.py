"""``yonos-bench demo`` (= ``make demo``): the whole product on a fresh offline machine.

1. prepares the embedded ``sample`` protocol (210 pairs, 32 → 128 px, bicubic ×4);
2. runs bicubic, lanczos and the four embedded tiny models (:data:`TINY_MODELS`, trained
   here by ``make tiny-models``) at 1 DDIM step;
3. sweeps 1…64 DDIM steps for the two original-decoder models (the paper's Fig. 3);
4. prints the Table-1-style table (1 step), the Table-3-style 2 × 2 ablation (scale
   distillation ✗/✓ × decoder original/fine-tuned, :mod:`yonos_bench.report.ablation`), writes
   the Fig.-3-style plots, and says where everything is and which metrics were skipped;
5. where the ``offline-assets`` packages are installed, imports the real Real-ESRGAN+ and
   RealSR networks from their ncnn files (:mod:`yonos_bench.models.ncnn_import`; fp16
   conversions, labelled ``*-ncnn``) and tables them next to bicubic and the tiny YONOS model
   on the first :data:`REAL_PAIRS` pairs (:func:`run_real_baselines`);
6. draws one qualitative figure (the Table-3 models on the pairs where distillation helps /
   hurts most, :mod:`yonos_bench.report.figure`) and the HTML report (:mod:`~yonos_bench.report.html`).

Metrics: the protocol's (PSNR-Y, SSIM-Y, LPIPS-Alex) plus the perceptual ones in
:data:`EXTRA_METRICS`, each used only when its weights are present (nothing is
downloaded); of the set metrics only KID is shown, flagged for its small n (210 pairs). The steps
sweep scores the Fig.-3 metric and PSNR-Y only (keeps the demo within minutes on 2 CPU cores).
Every cell is cached like any ``yonos-bench run``: a second ``demo`` only re-renders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROTOCOL = "sample"
BASELINES = ("bicubic", "lanczos")
#: (training, decoder) -> card: the 2 × 2 of the paper's Table 3, in miniature.
ABLATION = {
    ("direct", "original"): "sd-sr-tiny-x4-orig-decoder",
    ("direct", "fine-tuned"): "sd-sr-tiny-x4",
    ("distilled", "original"): "yonos-tiny-x4-orig-decoder",
    ("distilled", "fine-tuned"): "yonos-tiny-x4",
}
TINY_MODELS = ("yonos-tiny-x4", "yonos-tiny-x4-orig-decoder", "sd-sr-tiny-x4", "sd-sr-tiny-x4-orig-decoder")
#: Fig. 3 compares the two trainings with the original decoder.
SWEEP_MODELS = ("yonos-tiny-x4-orig-decoder", "sd-sr-tiny-x4-orig-decoder")
SWEEP_STEPS = (1, 2, 4, 8, 16, 32, 64)
#: Metrics added to the protocol's when their weights are present: per-image perceptual ones,
#: and KID (whose Inception ships in the offline-assets extra; flagged SMALL n in the table:
#: 210 pairs; KID rather than FID because its estimator is unbiased at small n).
EXTRA_METRICS = ("lpips-vgg", "dists", "musiq-koniq", "kid-clean")
#: The Fig.-3 plot's metric: the paper plots FID (not meaningful on 210 pairs); the first
#: available of these stands in for it.
PLOT_METRICS = ("lpips-alex", "dists", "psnr-y")
#: Real pretrained baselines (fp16 ncnn imports, never the official releases' results).
REAL_BASELINES = ("real-esrgan-x4plus-ncnn", "realsr-x4-df2k-ncnn")
#: A 23-block RRDB costs ~0.65 CPU-s per 32-px image: all 210 pairs would add ~2.5 min on 2
#: cores, so their table uses the first REAL_PAIRS pairs, in its own results folder, every
#: column (bicubic and yonos-tiny-x4 included) on the same pairs.
REAL_PAIRS = 32
REAL_TABLE_MODELS = ("bicubic", "yonos-tiny-x4", *REAL_BASELINES)


@dataclass
class DemoOutput:
    results: Path
    table_md: Path
    ablation_md: Path
    ablation_json: Path
    plots: list[Path]
    metrics_used: list[str]
    metrics_skipped: dict[str, str]  # metric -> why
    seconds: dict[str, float] = field(default_factory=dict)
    table_text: str = ""
    ablation_text: str = ""
    real_table_md: Path | None = None  # the real baselines' table (None: packages missing)
    real_table_text: str = ""
    real_skipped: dict[str, str] = field(default_factory=dict)  # model -> why not run
    figure: Path | None = None  # Table-3 models where distillation helps / hurts most (PNG; + PDF)
    report: Path | None = None  # the HTML report's index.html


def split_metrics(candidates: Sequence[str], weights_dir: Path | None) -> tuple[list[str], dict[str, str]]:
    """(metrics whose weight files are all present, {metric: why skipped}) — no download."""
    from yonos_bench.metrics.presets import get_preset

    used, skipped = [], {}
    for mid in dict.fromkeys(candidates):
        preset = get_preset(mid)
        missing = [w.name for w in preset.weights if not w.is_present(weights_dir)]
        if preset.weights_any_of and len(missing) < len(preset.weights):
            missing = []
        if missing:
            skipped[mid] = f"weights missing: {', '.join(missing)} (`yonos-bench weights fetch {missing[0]}`)"
        else:
            used.append(mid)
    return used, skipped


def run_demo(
    *,
    results: Path | None = None,
    data_root: Path | None = None,
    weights_dir: Path | None = None,
    limit: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> DemoOutput:
    """Run the demo; returns where everything was written. ``limit``: first K pairs (smoke)."""
    from yonos_bench.core.atomic import write_json_atomic, write_text_atomic
    from yonos_bench.core.paths import results_root
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_protocol
    from yonos_bench.report import ablation as abl
    from yonos_bench.report.plot import plot_results
    from yonos_bench.report.render import render
    from yonos_bench.report.tables import build_table
    from yonos_bench.runs.runner import RunOptions, run_benchmark

    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    spec = load_protocol(PROTOCOL)
    root = results_root(results)
    prepared = prepare(spec, data_root, progress=progress)
    echo(f"Protocol {spec.name}-v{spec.version}: {len(prepared.pairs)} pairs in {prepared.path}")
    seconds["prepare"] = time.perf_counter() - t_start

    table_metrics, skipped = split_metrics([*spec.metrics, *EXTRA_METRICS], weights_dir)
    # The sweep scores the Fig.-3 metric (the first available of PLOT_METRICS) and PSNR-Y only:
    # 12 more cells of every metric would double the demo's time (pyiqa's SSIM runs in float64).
    plot_metric = next(m for m in PLOT_METRICS if m in table_metrics or m == "psnr-y")
    sweep_metrics = list(dict.fromkeys([plot_metric, "psnr-y"]))

    def opts(metrics: list[str]) -> RunOptions:
        return RunOptions(device=device, metrics=tuple(metrics), data_root=data_root, results_root=root,
                          weights_dir=weights_dir, limit=limit, progress=progress)  # fmt: skip

    outcomes = []
    t = time.perf_counter()
    outcomes += run_benchmark(PROTOCOL, BASELINES, (None,), opts(table_metrics))
    outcomes += run_benchmark(PROTOCOL, TINY_MODELS, (1,), opts(table_metrics))
    seconds["table_runs"] = time.perf_counter() - t
    t = time.perf_counter()
    outcomes += run_benchmark(PROTOCOL, SWEEP_MODELS, SWEEP_STEPS, opts(sweep_metrics))
    seconds["steps_sweep"] = time.perf_counter() - t
    for o in outcomes:  # present weights that still failed (e.g. a corrupt file)
        for mid, why in o.result.get("unavailable", {}).items():
            skipped.setdefault(mid, why)
    used = [m for m in table_metrics if m not in skipped]

    out_dir = root / "demo"
    table = build_table(root, protocols=[PROTOCOL], models=[*BASELINES, *TINY_MODELS], steps=(None, 1))
    table_text = render(table, "md")
    table_md = out_dir / "table1.md"
    write_text_atomic(table_md, table_text)

    ablation = abl.build_ablation(root, ABLATION, protocol=PROTOCOL, steps=1, seed=0, dtype="fp32")
    ablation_text = abl.to_markdown(ablation)
    ablation_md, ablation_json = out_dir / "table3.md", out_dir / "table3.json"
    write_text_atomic(ablation_md, ablation_text)
    write_json_atomic(ablation_json, abl.to_dict(ablation))

    plots: list[Path] = []
    plot_models = [*BASELINES, *TINY_MODELS]
    for mid in [m for m in sweep_metrics if m not in skipped]:
        stem = root / "plots" / f"{spec.name}-v{spec.version}-{mid}-vs-steps"
        plots.append(plot_results(root, mid, stem, protocol=PROTOCOL, models=plot_models).png)
    out = DemoOutput(root, table_md, ablation_md, ablation_json, plots, used, skipped, seconds,
                     table_text, ablation_text)  # fmt: skip
    t = time.perf_counter()
    run_real_baselines(out, opts(used), limit, echo)
    seconds["real_baselines"] = time.perf_counter() - t
    t = time.perf_counter()
    out.figure, out.report = pictures(root, data_root, plot_metric if plot_metric not in skipped else "psnr-y")
    seconds["pictures"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t_start
    return out


def run_real_baselines(out: DemoOutput, options, limit: int | None, echo: Callable[[str], None]) -> None:
    """Import the real baselines' weights where their packages are installed (offline) and
    table them on the first :data:`REAL_PAIRS` pairs. Their cells go to a sibling results root
    (``<results>-real-baselines/``): inside ``<results>`` every table, plot and gate would also
    pick up these subset cells next to the full 210-pair ones."""
    import dataclasses

    from yonos_bench.catalog import import_ncnn
    from yonos_bench.core.atomic import write_text_atomic
    from yonos_bench.core.errors import WeightsMissingError
    from yonos_bench.models.registry import load_card
    from yonos_bench.report.render import render
    from yonos_bench.report.tables import build_table
    from yonos_bench.runs.runner import run_benchmark

    ready = []
    for name in REAL_BASELINES:
        try:
            import_ncnn([load_card(name).weights[0].name], options.weights_dir, log=echo)
            ready.append(name)
        except WeightsMissingError as e:  # package not installed: say so, run the rest
            out.real_skipped[name] = str(e).splitlines()[0]
    if not ready:
        return
    root = real_results_root(out.results)
    o = dataclasses.replace(options, results_root=root, limit=min(REAL_PAIRS, limit or REAL_PAIRS))
    run_benchmark(PROTOCOL, ["bicubic", *ready], (None,), o)
    run_benchmark(PROTOCOL, ["yonos-tiny-x4"], (1,), o)
    table = build_table(root, protocols=[PROTOCOL], models=[m for m in REAL_TABLE_MODELS if m in ready
                        or m not in REAL_BASELINES], steps=(None, 1))  # fmt: skip
    out.real_table_text = render(table, "md")
    out.real_table_md = out.results / "demo" / "table1-real-baselines.md"
    write_text_atomic(out.real_table_md, out.real_table_text)


def real_results_root(results: Path) -> Path:
    return results.parent / f"{results.name}-real-baselines"


def pictures(root: Path, data_root: Path | None, metric: str) -> tuple[Path, Path]:
    """The Table-3 models side by side on the pairs where scale distillation helps and hurts
    most (YONOS vs SD-SR, fine-tuned decoders, 1 step, on ``metric``), and the HTML report."""
    from yonos_bench.report.figure import make_figure
    from yonos_bench.report.html import write_report

    order = [ABLATION[(t, d)] + "@1" for t in ("direct", "distilled") for d in ("original", "fine-tuned")]
    versus = (ABLATION[("distilled", "fine-tuned")], ABLATION[("direct", "fine-tuned")])
    stem = root / "figures" / f"{PROTOCOL}-distillation-helps-hurts"
    fig = make_figure(root, order, stem, protocol=PROTOCOL, pick="gain-loss", n=2, metric=metric,
                      versus=versus, tile_metric=metric, data_root=data_root, dpi=200)  # fmt: skip
    rep = write_report(root, root / "report", protocols=[PROTOCOL], data_root=data_root,
                       compare=[f"{v}@1" for v in versus])  # fmt: skip
    return fig.png, rep.index


def summary(out: DemoOutput, limit: int | None) -> str:
    """The closing message: what was written where, and what was skipped."""
    lines = [
        "",
        f"Demo finished in {out.seconds.get('total', 0):.0f} s"
        + (f" (--limit {limit}: a smoke run, NOT reportable)" if limit else "")
        + ".",
        f"  results (one cell per model × steps): {out.results}/{PROTOCOL}-v*/",
        f"  Table 1 (1 step): {out.table_md}",
        f"  Table 3 ablation: {out.ablation_md} (+ {out.ablation_json.name})",
        f"  Fig. 3 plot:      {out.plots[0] if out.plots else '(none)'}",
    ]
    lines += [f"                    {p}" for p in out.plots[1:]]
    if out.real_table_md:
        lines.append(f"  Real baselines (ncnn fp16 imports, first {REAL_PAIRS} pairs): {out.real_table_md}")
        lines.append(f"    their results: {real_results_root(out.results)}/")
    lines += [f"  not run: {m}: {why}" for m, why in out.real_skipped.items()]
    if out.figure is not None:
        lines.append(f"  Figure (distillation helps/hurts most): {out.figure} (+ .pdf)")
    if out.report is not None:
        lines.append(f"  HTML report (opens offline): {out.report}")
    lines.append(f"  metrics used: {', '.join(out.metrics_used)}")
    if out.metrics_skipped:
        lines.append("  metrics skipped:")
        lines += [f"    {m}: {why}" for m, why in out.metrics_skipped.items()]
    if "kid-clean" in out.metrics_used:
        lines.append(
            "  kid-clean on 210 pairs is flagged SMALL n: compare it only between the columns of one "
            "table; FID is not computed (far too few images)."
        )
    else:
        lines.append("  FID/KID are not computed on sample: 210 pairs are far too few for a set metric.")
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in out.seconds.items() if k != "total")
    if seconds:
        lines.append(f"  time by stage: {seconds}")
    lines.append(
        "  Re-render any time: yonos-bench table --results <dir> -p sample; yonos-bench plot --metric psnr-y"
    )
    return "\n".join(lines)
