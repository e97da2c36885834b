"""``yonos-bench demo`` (= ``make demo``): the whole product on a fresh offline machine.

1. prepares the embedded ``sample`` protocol (210 pairs, 32 → 128 px, bicubic ×4);
2. runs bicubic, lanczos and the four embedded YONOS / SD-SR models (:data:`ABLATION`, the one
   place that names them; trained here by ``make small-models``) at 1 DDIM step;
3. sweeps :data:`SWEEP_STEPS` DDIM steps for the two original-decoder models (the paper's Fig. 3)
   on :data:`SUBSET_PROTOCOL`, sample's first 4 crops of each photo (28 pairs, identical ids
   and pixels), with bicubic and lanczos as reference lines;
4. prints the Table-1-style table (1 step), the Table-3-style 2 × 2 ablation (scale
   distillation ✗/✓ × decoder original/fine-tuned, :mod:`yonos_bench.report.ablation`), writes
   the Fig.-3-style plots, and says where everything is and which metrics were skipped;
5. where the ``offline-assets`` packages are installed, imports the real Real-ESRGAN+ and
   RealSR networks from their ncnn files (:mod:`yonos_bench.models.ncnn_import`; fp16
   conversions, labelled ``*-ncnn``) and tables them next to bicubic and the headline YONOS
   model on :data:`SUBSET_PROTOCOL` (:func:`run_real_baselines`);
6. draws one qualitative figure (the Table-3 models on the pairs where distillation helps /
   hurts most, :mod:`yonos_bench.report.figure`) and the HTML report (:mod:`~yonos_bench.report.html`).

Metrics: the protocol's (PSNR-Y, SSIM-Y, LPIPS-Alex) plus the perceptual ones in
:data:`EXTRA_METRICS`, each used only when its weights are present (nothing is
downloaded); of the set metrics only KID is shown, flagged for its small n (210 pairs), for
:data:`KID_MODELS`. The steps
sweep scores the Fig.-3 metric and PSNR-Y only. Budget (``make demo`` ≤ 5 min on 2 CPU cores):
the Inception features of KID dominate (one forward per SR image, ~0.15-0.27 CPU-s; the HR
side once per protocol, cached in ``<results>/<protocol>/.features``), then the diffusion models'
1-step outputs; the sweep and the RRDBs run on the 28-pair subset.
Every cell is cached like any ``yonos-bench run``: a second ``demo`` only re-renders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROTOCOL = "sample"
#: sample's first 4 crops of each of its 7 photos (28 pairs, the same ids and pixels): the steps
#: sweep and the real baselines run here — every photo represented, at 2/15 of the cost. Its
#: intervals (which resample the 7 photos) measured 1.0-1.1× the width of sample's (PSNR-Y, 1 step).
SUBSET_PROTOCOL = "sample-mini"
BASELINES = ("bicubic", "lanczos")
#: (training, decoder) -> card: the 2 × 2 of the paper's Table 3, in miniature. The one place
#: that names the embedded diffusion models: everything below is derived from it.
ABLATION = {
    ("direct", "original"): "sd-sr-small-x4-orig-decoder",
    ("direct", "fine-tuned"): "sd-sr-small-x4",
    ("distilled", "original"): "yonos-small-x4-orig-decoder",
    ("distilled", "fine-tuned"): "yonos-small-x4",
}
#: The embedded models in Table 1's column order (YONOS first).
EMBEDDED_MODELS = tuple(ABLATION[k] for k in (("distilled", "fine-tuned"), ("distilled", "original"),
                                              ("direct", "fine-tuned"), ("direct", "original")))  # fmt: skip
#: The paper's method (scale distillation + fine-tuned decoder): the real baselines' comparison.
HEADLINE_MODEL = ABLATION[("distilled", "fine-tuned")]
#: The 1-step cells that also get the set metric (KID): one Inception forward per SR image is
#: the demo's largest cost (~0.2 CPU-s each, ~80% of Table 1's time), and the Table-3 ablation
#: compares per-image metrics only, so the original-decoder twins get those alone ("–" for KID).
#: Only bicubic (the reference) and the headline model: with the small models Table 1 cost
#: 392 CPU-s of the demo's 532 (measured 2026-12-02), each Inception pass ~45 of them.
KID_MODELS = ("bicubic", HEADLINE_MODEL)
#: Fig. 3 compares the two trainings with the original decoder.
SWEEP_MODELS = (ABLATION[("distilled", "original")], ABLATION[("direct", "original")])
#: The paper sweeps 1…64; the tiny models' curves are flat from 4 steps on (docs/MINIATURE.md,
#: within 0.05 dB to 64) and 16+32+64 steps would cost 8× the rest of the sweep. The full curve:
#: ``yonos-bench sweep-steps sample -m <model> --steps 1,2,4,8,16,32,64``.
SWEEP_STEPS = (1, 2, 4)
#: Metrics added to the protocol's when their weights are present: per-image perceptual ones,
#: and KID (whose Inception ships in the offline-assets extra; flagged SMALL n in the table:
#: 210 pairs; KID rather than FID because its estimator is unbiased at small n).
EXTRA_METRICS = ("lpips-vgg", "dists", "musiq-koniq", "kid-clean")
#: The Fig.-3 plot's metric: the paper plots FID (not meaningful on 210 pairs); the first
#: available of these stands in for it.
PLOT_METRICS = ("lpips-alex", "dists", "psnr-y")
#: Real pretrained baselines (fp16 ncnn imports, never the official releases' results).
REAL_BASELINES = ("real-esrgan-x4plus-ncnn", "realsr-x4-df2k-ncnn")
#: A 23-block RRDB costs ~0.65 CPU-s per 32-px image (all 210 pairs: ~4.5 CPU-min for the two),
#: so their table is on SUBSET_PROTOCOL, every column (bicubic and HEADLINE_MODEL too) on its pairs.
REAL_TABLE_MODELS = ("bicubic", HEADLINE_MODEL, *REAL_BASELINES)


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
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # stage -> CPU s (wall: ``seconds``)


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
    from yonos_bench.metrics.presets import get_preset
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_protocol
    from yonos_bench.report import ablation as abl
    from yonos_bench.report.plot import plot_results
    from yonos_bench.report.render import render
    from yonos_bench.report.tables import build_table
    from yonos_bench.runs.runner import RunOptions, run_benchmark

    clock = StageClock()
    spec = load_protocol(PROTOCOL)
    sub = load_protocol(SUBSET_PROTOCOL)
    root = results_root(results)
    with clock("prepare"):
        prepared = prepare(spec, data_root, progress=progress)
        prepare(sub, data_root, progress=progress)
    echo(f"Protocol {spec.name}-v{spec.version}: {len(prepared.pairs)} pairs in {prepared.path}")

    table_metrics, skipped = split_metrics([*spec.metrics, *EXTRA_METRICS], weights_dir)
    # The sweep scores the Fig.-3 metric (the first available of PLOT_METRICS) and PSNR-Y only:
    # every metric on each sweep cell would double its time (pyiqa's SSIM runs in float64).
    plot_metric = next(m for m in PLOT_METRICS if m in table_metrics or m == "psnr-y")
    sweep_metrics = list(dict.fromkeys([plot_metric, "psnr-y"]))

    def opts(metrics: list[str]) -> RunOptions:
        return RunOptions(device=device, metrics=tuple(metrics), data_root=data_root, results_root=root,
                          weights_dir=weights_dir, limit=limit, progress=progress)  # fmt: skip

    outcomes = []
    per_image = [m for m in table_metrics if get_preset(m).kind != "set"]
    with clock("table_runs"):
        for models, steps in ((BASELINES, (None,)), (EMBEDDED_MODELS, (1,))):
            for with_kid in (True, False):
                group = [m for m in models if (m in KID_MODELS) == with_kid]
                if group:
                    metrics = table_metrics if with_kid else per_image
                    outcomes += run_benchmark(PROTOCOL, group, steps, opts(metrics))
    for o in outcomes:  # present weights that still failed (e.g. a corrupt file)
        for mid, why in o.result.get("unavailable", {}).items():
            skipped.setdefault(mid, why)
    used = [m for m in table_metrics if m not in skipped]
    with clock("steps_sweep"):
        # bicubic with every table metric: the real baselines' table reuses this cell.
        run_benchmark(SUBSET_PROTOCOL, BASELINES[:1], (None,), opts(used))
        run_benchmark(SUBSET_PROTOCOL, BASELINES[1:], (None,), opts(sweep_metrics))
        run_benchmark(SUBSET_PROTOCOL, SWEEP_MODELS, SWEEP_STEPS, opts(sweep_metrics))

    out_dir = root / "demo"
    with clock("tables_plots"):
        table = build_table(
            root, protocols=[PROTOCOL], models=[*BASELINES, *EMBEDDED_MODELS], steps=(None, 1)
        )
        table_text = render(table, "md")
        table_md = out_dir / "table1.md"
        write_text_atomic(table_md, table_text)

        ablation = abl.build_ablation(root, ABLATION, protocol=PROTOCOL, steps=1, seed=0, dtype="fp32")
        ablation_text = abl.to_markdown(ablation)
        ablation_md, ablation_json = out_dir / "table3.md", out_dir / "table3.json"
        write_text_atomic(ablation_md, ablation_text)
        write_json_atomic(ablation_json, abl.to_dict(ablation))

        plots: list[Path] = []
        for mid in [m for m in sweep_metrics if m not in skipped]:
            stem = root / "plots" / f"{sub.name}-v{sub.version}-{mid}-vs-steps"
            plots.append(plot_results(root, mid, stem, protocol=SUBSET_PROTOCOL,
                                      models=[*BASELINES, *SWEEP_MODELS]).png)  # fmt: skip
    out = DemoOutput(root, table_md, ablation_md, ablation_json, plots, used, skipped, clock.wall,
                     table_text, ablation_text, cpu_seconds=clock.cpu)  # fmt: skip
    with clock("real_baselines"):
        run_real_baselines(out, opts(used), echo)
    with clock("pictures"):
        out.figure, out.report = pictures(
            root, data_root, plot_metric if plot_metric not in skipped else "psnr-y"
        )
    clock.finish()
    return out


class StageClock:
    """Wall and CPU seconds per stage (CPU: this process's threads, ``time.process_time``; on a
    machine shared with other jobs it shows the demo's own cost, which wall time does not)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._t0 = (time.perf_counter(), time.process_time())

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - w
            self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - c

    def finish(self) -> None:
        self.wall["total"] = time.perf_counter() - self._t0[0]
        self.cpu["total"] = time.process_time() - self._t0[1]


def run_real_baselines(out: DemoOutput, options, echo: Callable[[str], None]) -> None:
    """Import the real baselines' weights where their packages are installed (offline) and
    table them beside bicubic and :data:`HEADLINE_MODEL` on :data:`SUBSET_PROTOCOL` (its own
    protocol: no table or plot of ``sample`` mixes these 28-pair cells with the 210-pair ones)."""
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
    run_benchmark(SUBSET_PROTOCOL, ["bicubic", *ready], (None,), options)
    run_benchmark(SUBSET_PROTOCOL, [HEADLINE_MODEL], (1,), options)
    table = build_table(out.results, protocols=[SUBSET_PROTOCOL], models=[m for m in REAL_TABLE_MODELS
                        if m in ready or m not in REAL_BASELINES], steps=(None, 1))  # fmt: skip
    out.real_table_text = render(table, "md")
    out.real_table_md = out.results / "demo" / "table1-real-baselines.md"
    write_text_atomic(out.real_table_md, out.real_table_text)


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
    total_cpu = out.cpu_seconds.get("total")
    lines = [
        "",
        f"Demo finished in {out.seconds.get('total', 0):.0f} s"
        + (f" ({total_cpu:.0f} CPU-s)" if total_cpu is not None else "")
        + (f" (--limit {limit}: a smoke run, NOT reportable)" if limit else "")
        + ".",
        f"  results (one cell per model × steps): {out.results}/{PROTOCOL}-v*/, {out.results}/{SUBSET_PROTOCOL}-v*/",
        f"  Table 1 (1 step): {out.table_md}",
        f"  Table 3 ablation: {out.ablation_md} (+ {out.ablation_json.name})",
        f"  Fig. 3 plot ({SUBSET_PROTOCOL}: sample's first 4 crops of each photo, 28 pairs; steps "
        f"{', '.join(map(str, SWEEP_STEPS))}): {out.plots[0] if out.plots else '(none)'}",
    ]
    lines += [f"                    {p}" for p in out.plots[1:]]
    if out.real_table_md:
        lines.append(
            f"  Real baselines (ncnn fp16 imports, on {SUBSET_PROTOCOL}, 28 pairs): {out.real_table_md}"
        )
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
            "  kid-clean on 210 pairs (28 for the real baselines) is flagged SMALL n: compare it only "
            "between the columns of one table; FID is not computed (far too few images). In Table 1 "
            f"only for {', '.join(KID_MODELS)} (one Inception pass per image is the demo's main cost)."
        )
    else:
        lines.append("  FID/KID are not computed on sample: 210 pairs are far too few for a set metric.")
    stages = [
        f"{k} {v:.0f} s" + (f" ({out.cpu_seconds[k]:.0f} CPU-s)" if k in out.cpu_seconds else "")
        for k, v in out.seconds.items()
        if k != "total"
    ]
    if stages:
        lines.append(f"  time by stage: {', '.join(stages)}")
    lines.append(
        "  Re-render any time: yonos-bench table --results <dir> -p sample; "
        f"yonos-bench plot --metric psnr-y -p {SUBSET_PROTOCOL}"
    )
    return "\n".join(lines)
