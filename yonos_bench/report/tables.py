"""``table``: Table-1-style comparison built from result files only (never runs a model).

Layout (the paper's Table 1): one block of rows per protocol, one row per metric with its
direction (↑ higher is better, ↓ lower is better), one column per model (per distinct
steps / seed / dtype when a model has several cells), then a ``# steps`` row and a
measured ``s/img`` row. In each metric row the best value is marked (bold in Markdown,
red in LaTeX) and the second best (underlined / blue); a value whose difference from the
best is *not* significant by a paired bootstrap over the same pairs (``per_image.csv``)
carries a dagger. Ranks and daggers are given only among results on the same pairs (same
protocol instance and ``--limit``); a result on other pairs is shown unranked, with a note.
The paired test resamples source images when pairs share one (patches of one image).
Rendering lives in :mod:`yonos_bench.report.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.errors import YonosError, did_you_mean
from yonos_bench.core.formatting import format_seconds, format_value  # noqa: F401  (re-exported)
from yonos_bench.runs.results import (
    PER_IMAGE_FILE,
    LoadedResult,
    load_results,
    measured_seconds,
    read_per_image,
    read_sources,
)

#: Two-sided level of the "not significantly different from the best" test.
SIGNIFICANCE_ALPHA = 0.05
#: Bootstrap resamples for that test (fixed seed: the table is deterministic).
N_BOOT = 2000


@dataclass(frozen=True)
class Column:
    model: str
    steps: int | None
    seed: int
    dtype: str
    label: str


@dataclass
class Value:
    mean: float
    ci_low: float | None
    ci_high: float | None
    n: int
    rank: int | None = None  # 1 best, 2 second best
    not_significant: bool = False  # difference from the best not significant
    paper: float | None = None  # the number a paper reports for this model/protocol/metric
    reportable: bool = True
    limit: int | None = None
    unranked: bool = False  # on other pairs than the ranked values of its row: never ranked
    std: float | None = None  # standard deviation over seeds (seeds aggregated), else None
    n_seeds: int = 1

    @property
    def diff(self) -> float | None:
        return None if self.paper is None else self.mean - self.paper


@dataclass
class MetricRow:
    protocol: str  # "<name>-v<version>"
    metric: str
    lower_better: bool
    values: list[Value | None]  # aligned with Table.columns


@dataclass
class Table:
    columns: list[Column]
    rows: list[MetricRow]
    steps: list[int | None]
    s_per_img: list[float | None]
    s_per_img_label: str
    speed_s_per_img: list[float | None] | None
    speed_label: str | None
    with_paper: bool
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build_table(
    results_root: str | Path,
    *,
    protocols: Sequence[str] = (),
    models: Sequence[str] = (),
    with_paper: bool = False,
    steps: Sequence[int | None] = (),
    skip_bad: bool = False,
    labels: str = "display",
    aggregate_seeds: bool = True,
) -> Table:
    """Collect run (and speed) results under ``results_root`` into a :class:`Table`.

    ``steps``: keep only cells with these step counts (``None`` = step-less models); all if empty.
    A corrupt or edited result file is an error naming it unless ``skip_bad`` (then a warning).
    ``labels``: column headers from the cards' ``display_name`` (``"display"``, the paper's
    names; the model id stays in ``Column.model`` and in CSV) or the model ids (``"id"``).
    ``aggregate_seeds``: cells differing only by seed become one column, mean ± std over the
    seeds (:mod:`yonos_bench.report.seeds`); False: one column per seed."""
    if labels not in ("display", "id"):
        raise ValueError(f"labels: expected 'display' or 'id', got {labels!r}")
    loaded, warnings = load_results(results_root, skip_invalid=skip_bad)
    runs = [r for r in loaded if r.kind == "run"]
    speeds = [r for r in loaded if r.kind == "speed"]
    if not runs:
        raise YonosError(
            f"No result files under {Path(results_root)}. Run e.g. `yonos-bench run sample --model bicubic` first."
        )
    runs = _filter(runs, protocols, models)
    if steps:
        runs = [r for r in runs if r.steps in steps]
        if not runs:
            raise YonosError(f"No results with steps in {list(steps)} under {Path(results_root)}.")
    cells = _pick_cells(runs)
    if aggregate_seeds:
        from yonos_bench.report.seeds import merge_seeds

        cells = merge_seeds(cells)
    columns = _columns(cells, display_names(sorted({r.model for r in runs})) if labels == "display" else {})
    proto_keys = _protocol_order(cells)
    rows: list[MetricRow] = []
    for pkey in proto_keys:
        metric_ids = _metric_order([r for (p, _), r in cells.items() if p == pkey])
        for mid in metric_ids:
            rows.append(_metric_row(pkey, mid, columns, cells, with_paper))
    table = Table(
        columns=columns,
        rows=rows,
        steps=[c.steps for c in columns],
        s_per_img=[],
        s_per_img_label="s/img",
        speed_s_per_img=None,
        speed_label=None,
        with_paper=with_paper,
        warnings=warnings,
    )
    _fill_timing(table, cells, proto_keys, speeds)
    _notes(table, cells)
    return table


def _filter(runs: list[LoadedResult], protocols: Sequence[str], models: Sequence[str]) -> list[LoadedResult]:
    names = sorted({r.data["protocol"]["name"] for r in runs})
    for p in protocols:
        if p not in names:
            raise did_you_mean("protocol (no results for it)", p, names)
    model_names = sorted({r.model for r in runs})
    for m in models:
        if m not in model_names:
            raise did_you_mean("model (no results for it)", m, model_names)
    return [
        r
        for r in runs
        if (not protocols or r.data["protocol"]["name"] in protocols) and (not models or r.model in models)
    ]


def column_id(r: LoadedResult) -> tuple:
    return (r.model, r.steps, r.data["seed"], r.data["dtype"])


def protocol_key(r: LoadedResult) -> str:
    return f"{r.data['protocol']['name']}-v{r.data['protocol']['version']}"


def _pick_cells(runs: list[LoadedResult]) -> dict[tuple[str, tuple], LoadedResult]:
    """One result per (protocol, column): a reportable (full) run beats a ``--limit`` run,
    then the larger n. Protocol instances (digests) must agree within a protocol version."""
    digests: dict[str, set[str]] = {}
    best: dict[tuple[str, tuple], LoadedResult] = {}
    for r in runs:
        pkey = protocol_key(r)
        digests.setdefault(pkey, set()).add(r.data["protocol"]["digest"])
        k = (pkey, column_id(r))
        old = best.get(k)
        if old is None or _preference(r) > _preference(old):
            best[k] = r
    for pkey, ds in digests.items():
        if len(ds) > 1:
            raise YonosError(
                f"Results for {pkey} come from different protocol instances (digests "
                f"{', '.join(sorted(d[:12] for d in ds))}): their numbers are not comparable. "
                "Select results with --results, or remove the stale ones."
            )
    return best


def _preference(r: LoadedResult) -> tuple:
    return (bool(r.data["reportable"]), r.data["n"], r.data["created"])


def display_names(models: Sequence[str]) -> dict[str, str]:
    """Model id → its card's ``display_name`` (ids without a shipped card, e.g. path models,
    keep their id; two ids sharing a display name keep their ids, so no header is ambiguous)."""
    from yonos_bench.models.registry import list_cards

    cards = {c.name: c.display_name for c in list_cards()}
    names = {m: cards.get(m, m) for m in models}
    taken: dict[str, int] = {}
    for v in names.values():
        taken[v] = taken.get(v, 0) + 1
    return {m: (v if taken[v] == 1 else m) for m, v in names.items()}


def _columns(
    cells: dict[tuple[str, tuple], LoadedResult], names: dict[str, str] | None = None
) -> list[Column]:
    ids = sorted({cid for (_, cid) in cells}, key=lambda c: (c[0], -1 if c[1] is None else c[1], c[2], c[3]))
    by_model: dict[str, list[tuple]] = {}
    for cid in ids:
        by_model.setdefault(cid[0], []).append(cid)
    columns = []
    for cid in ids:
        model, steps, seed, dtype = cid
        siblings = by_model[model]
        extra = []
        if len({s[1] for s in siblings}) > 1:
            extra.append("no steps" if steps is None else f"{steps} step" + ("s" if steps != 1 else ""))
        if len({s[2] for s in siblings}) > 1:
            extra.append(f"seed {seed}")
        if len({s[3] for s in siblings}) > 1:
            extra.append(dtype)
        label = (names or {}).get(model, model) + (f" ({', '.join(extra)})" if extra else "")
        columns.append(Column(model, steps, seed, dtype, label))
    return columns


def _protocol_order(cells: dict[tuple[str, tuple], LoadedResult]) -> list[str]:
    return sorted({p for (p, _) in cells})


def _metric_order(results: list[LoadedResult]) -> list[str]:
    """The protocol spec's metric order, then any extra metric in name order."""
    order: list[str] = []
    for r in results:
        for m in r.data["protocol"]["metrics"]:
            if m not in order:
                order.append(m)
    extra = sorted({m for r in results for m in r.data["metrics"]} - set(order))
    present = {m for r in results for m in r.data["metrics"]}
    return [m for m in order if m in present] + extra


def _metric_row(
    pkey: str, mid: str, columns: list[Column], cells: dict[tuple[str, tuple], LoadedResult], with_paper: bool
) -> MetricRow:
    values: list[Value | None] = []
    sources: list[LoadedResult | None] = []
    lower_better = None
    for col in columns:
        r = cells.get((pkey, (col.model, col.steps, col.seed, col.dtype)))
        m = r.data["metrics"].get(mid) if r is not None else None
        if m is None:
            values.append(None)
            sources.append(None)
            continue
        lower_better = bool(m["lower_better"]) if lower_better is None else lower_better
        v = Value(
            m["mean"],
            m["ci_low"],
            m["ci_high"],
            m["n"],
            reportable=r.data["reportable"],
            limit=r.data["limit"],
            std=m.get("std"),
            n_seeds=int(m.get("n_seeds", 1)),
        )
        if with_paper:
            v.paper = paper_number(r, mid)
        values.append(v)
        sources.append(r)
    row = MetricRow(pkey, mid, bool(lower_better), values)
    _mark_comparable(row)
    _rank(row)
    _significance(row, sources)
    return row


def _mark_comparable(row: MetricRow) -> None:
    """Only values on the same pairs are ranked: the full (no ``--limit``) results if any,
    else those with the largest limit; the others are marked ``unranked``."""
    limits = {v.limit for v in row.values if v is not None}
    if len(limits) <= 1:
        return
    ranked = None if None in limits else max(x for x in limits if x is not None)
    for v in row.values:
        if v is not None and v.limit != ranked:
            v.unranked = True


def _rank(row: MetricRow) -> None:
    present = [(v.mean, i) for i, v in enumerate(row.values) if v is not None and not v.unranked]
    distinct = sorted({m for m, _ in present}, reverse=not row.lower_better)
    for rank, target in enumerate(distinct[:2], start=1):
        for m, i in present:
            if m == target:
                row.values[i].rank = rank


def _significance(row: MetricRow, sources: list[LoadedResult | None]) -> None:
    """Mark values whose difference from the best is not significant (paired bootstrap on
    the per-image values of the pairs both cells share). Set metrics (FID) have no
    per-image values and are never marked."""
    best = [i for i, v in enumerate(row.values) if v is not None and v.rank == 1]
    if not best:
        return
    b = best[0]
    best_vals = _per_image(sources[b], row.metric)
    if not best_vals:
        return
    src = _sources(sources[b])
    for i, v in enumerate(row.values):
        if v is None or v.rank == 1 or v.unranked:
            continue
        vals = _per_image(sources[i], row.metric)
        ids = sorted(set(best_vals) & set(vals))
        if len(ids) < 2:
            continue
        clusters = [src.get(k, k) for k in ids] if src else None
        v.not_significant = not differs([best_vals[k] for k in ids], [vals[k] for k in ids], clusters)


def differs(a: Sequence[float], b: Sequence[float], clusters: Sequence[str] | None = None) -> bool:
    """True when the paired bootstrap's 95% interval of mean(a - b) excludes 0; with
    ``clusters`` (the source image of each pair) whole source images are resampled."""
    from yonos_bench.metrics.stats import paired_bootstrap

    res = paired_bootstrap(
        list(a), list(b), n_boot=N_BOOT, confidence=1 - SIGNIFICANCE_ALPHA, seed=0, clusters=clusters
    )
    return bool(res.significant)


_SOURCES_CACHE: dict[tuple, dict[str, str]] = {}


def _sources(r: LoadedResult | None) -> dict[str, str]:
    """Pair id → source image, from ``per_image.csv`` ({} when every pair is its own)."""
    if r is None:
        return {}
    path = r.path.parent / PER_IMAGE_FILE
    key = _file_key(path)
    if key not in _SOURCES_CACHE:
        try:
            src = read_sources(path)
        except YonosError:
            src = {}
        _SOURCES_CACHE[key] = src if len(set(src.values())) < len(src) else {}
    return _SOURCES_CACHE[key]


_PER_IMAGE_CACHE: dict[tuple, dict[str, dict[str, float]]] = {}


def _file_key(path: Path) -> tuple:
    """Cache key of a file that changes when the file does (a rewritten cell is reread)."""
    try:
        st = path.stat()
    except OSError:
        return (path, None, None)
    return (path, st.st_mtime_ns, st.st_size)


def _per_image(r: LoadedResult | None, metric: str) -> dict[str, float]:
    if r is None:
        return {}
    from yonos_bench.report.seeds import SeedMean

    if isinstance(r, SeedMean):
        return r.per_image.get(metric, {})
    path = r.path.parent / PER_IMAGE_FILE
    key = _file_key(path)
    if key not in _PER_IMAGE_CACHE:
        try:
            _PER_IMAGE_CACHE[key] = read_per_image(path)
        except YonosError:
            _PER_IMAGE_CACHE[key] = {}
    return _PER_IMAGE_CACHE[key].get(metric, {})


def paper_number(r: LoadedResult, metric: str) -> float | None:
    """The number a paper reports for this model on this protocol and metric (model card),
    measured with the same number of steps; None when no card or no such number."""
    from yonos_bench.core.errors import UnknownNameError
    from yonos_bench.models.registry import load_card

    try:
        card = load_card(r.model)
    except (UnknownNameError, YonosError):
        return None
    steps = r.steps
    if steps is None:  # folder/command outputs: the steps the card declares they were made with
        steps = (r.data.get("model", {}).get("info") or {}).get("outputs_steps")
    matches = [x for x in card.reported_for(r.data["protocol"]["name"], metric) if x.steps in (None, steps)]
    return float(matches[0].value) if matches else None


def _fill_timing(
    table: Table,
    cells: dict[tuple[str, tuple], LoadedResult],
    proto_keys: list[str],
    speeds: list[LoadedResult],
) -> None:
    # The run row: seconds per image on the first protocol that has a value for the column
    # (image sizes differ between protocols, so values are never averaged across them).
    s_per_img: list[float | None] = []
    used: set[str] = set()
    for col in table.columns:
        val = None
        for pkey in proto_keys:
            r = cells.get((pkey, (col.model, col.steps, col.seed, col.dtype)))
            if r is not None and measured_seconds(r.data) is not None:
                val = measured_seconds(r.data)
                used.add(pkey)
                break
        s_per_img.append(val)
    table.s_per_img = s_per_img
    table.s_per_img_label = "s/img" if len(used) <= 1 else "s/img (first protocol)"
    devices = sorted({r.data["device"] for r in cells.values()})
    table.notes.append(
        f"s/img: measured while running {', '.join(sorted(used)) or '–'} on {'; '.join(devices)}."
    )
    elsewhere = sorted({r.model for r in cells.values() if measured_seconds(r.data) is None
                        and (r.data["model"].get("info") or {}).get("adapter") == "folder"})  # fmt: skip
    if elsewhere:
        table.notes.append(
            f"s/img –: {', '.join(elsewhere)} not run by us (outputs made by their own code; "
            "reading them is not their speed)."
        )
    if not speeds:
        return
    speed_vals: list[float | None] = []
    sizes: set[int] = set()
    for col in table.columns:
        match = [
            s
            for s in speeds
            if s.model == col.model and s.steps == col.steps and s.data["dtype"] == col.dtype
        ]
        if not match:
            speed_vals.append(None)
            continue
        pick = max(match, key=lambda s: (s.data["size"] == 512, s.data["size"], s.data["created"]))
        sizes.add(pick.data["size"])
        speed_vals.append(pick.data["timing"]["median_s_per_image"])
    if any(v is not None for v in speed_vals):
        table.speed_s_per_img = speed_vals
        size = "/".join(f"{s}²" for s in sorted(sizes))
        table.speed_label = f"s/img @{size} (speed)"
        devs = sorted({s.data["device"] for s in speeds})
        table.notes.append(f"s/img @{size}: `yonos-bench speed` median on {'; '.join(devs)}.")


def _notes(table: Table, cells: dict[tuple[str, tuple], LoadedResult]) -> None:
    limited = sorted(
        {
            col.label
            for col in table.columns
            for (_, cid), r in cells.items()
            if cid == (col.model, col.steps, col.seed, col.dtype) and not r.data["reportable"]
        }
    )
    if limited:
        table.notes.append(
            "NOT REPORTABLE: values marked * for " + ", ".join(limited) + " come from --limit smoke runs."
        )
    clustered = any(_sources(r) for r in cells.values())
    unit = "source images (patches of one image are resampled together)" if clustered else "pairs"
    seeded = sorted({v.n_seeds for row in table.rows for v in row.values if v is not None and v.n_seeds > 1})
    if seeded:
        table.notes.append(
            f"±: standard deviation over {'/'.join(map(str, seeded))} seeds of the same cell "
            "(value: mean over seeds; --per-seed for one column per seed)."
        )
    small_n = sorted(
        {
            f"{mid} ({m['note']})"
            for r in cells.values()
            for mid, m in r.data["metrics"].items()
            if m.get("kind") == "set" and "unreliable" in (m.get("note") or "")
            and any(row.metric == mid for row in table.rows)
        }
    )  # fmt: skip
    if small_n:
        table.notes.append(
            "SMALL n: " + "; ".join(small_n) + " — set metrics (FID/KID) are biased at this size; "
            "compare them only between columns of the same table."
        )
    if any(v is not None and v.not_significant for row in table.rows for v in row.values):
        table.notes.append(
            f"†: difference from the best is not significant (paired bootstrap over the same pairs, "
            f"resampling {unit}, {int(100 * (1 - SIGNIFICANCE_ALPHA))}%)."
        )
    if clustered:
        table.notes.append(f"Intervals resample {unit}.")
    unranked: dict[str, set[str]] = {}
    for row in table.rows:
        for col, v in zip(table.columns, row.values, strict=True):
            if v is not None and v.unranked:
                name = col.label if col.label == col.model else f"{col.label} = {col.model}"
                unranked.setdefault(name, set()).add("full" if v.limit is None else f"--limit {v.limit}")
    if unranked:
        table.notes.append(
            "not ranked (other pairs than the ranked columns): "
            + ", ".join(f"{k} ({', '.join(sorted(x))})" for k, x in sorted(unranked.items()))
            + "."
        )
