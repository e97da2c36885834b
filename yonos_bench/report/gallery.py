"""The images behind the numbers: cells of one protocol, their SR images, the LR/HR pairs.

Shared by ``figure`` (paper-style grids) and ``report`` (the HTML page). Reads only result
folders (``sr/<pair id>.png`` + ``per_image.csv``, :mod:`yonos_bench.runs.results`) and the
prepared protocol the runs used (LR/HR); the prepared copy must have the digest recorded in
the results, otherwise the LR/HR shown would not be the pairs the models saw.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.errors import YonosError, did_you_mean
from yonos_bench.runs.results import PER_IMAGE_FILE, SR_DIR, LoadedResult, read_per_image


@dataclass
class Cell:
    """One result cell drawn as one column: a model at one step count / seed / dtype."""

    result: LoadedResult
    label: str  # the model card's display name, "(N steps)" for diffusion models
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> id -> value

    @property
    def model(self) -> str:
        return self.result.model

    @property
    def steps(self) -> int | None:
        return self.result.steps

    @property
    def folder(self) -> Path:
        return self.result.path.parent

    def sr_path(self, pair_id: str) -> Path:
        return self.folder / SR_DIR / f"{pair_id}.png"

    def lower_better(self, metric: str) -> bool:
        return bool(self.result.data["metrics"][metric]["lower_better"])

    @property
    def key(self) -> str:
        """A stable, file-name-safe id of the cell (folder names under the protocol)."""
        return f"{self.folder.parent.name}/{self.folder.name}"


def display_label(model: str, steps: int | None) -> str:
    """``display_name`` of the model card (the name itself without a card), plus the steps."""
    from yonos_bench.models.registry import load_card

    try:
        name = load_card(model).display_name or model
    except YonosError:
        name = model
    if steps is None:
        return name
    return f"{name} ({steps} step{'s' if steps != 1 else ''})"


def parse_model_spec(text: str) -> tuple[str, int | None]:
    """``name`` or ``name@S`` (S sampling steps)."""
    if "@" not in text:
        return text, None
    name, _, s = text.rpartition("@")
    if not s.isdigit() or int(s) < 1:
        raise YonosError(f"Model '{text}': expected NAME or NAME@STEPS with STEPS a positive integer.")
    return name, int(s)


def choose_protocol(runs: list[LoadedResult], protocol: str | None) -> tuple[str, int | str]:
    """(name, version) of the protocol to draw: the only one, or the one asked for (latest version)."""
    from yonos_bench.report.plot import protocol_name

    if not runs:
        raise YonosError("No run results here. Run e.g. `yonos-bench run sample -m bicubic` first.")
    protocol = protocol_name(runs, protocol)
    versions = sorted(
        {r.data["protocol"]["version"] for r in runs if r.data["protocol"]["name"] == protocol}, key=str
    )
    return protocol, versions[-1]


def protocol_runs(runs: list[LoadedResult], protocol: str, version: int | str) -> list[LoadedResult]:
    return [
        r
        for r in runs
        if r.kind == "run"
        and r.data["protocol"]["name"] == protocol
        and r.data["protocol"]["version"] == version
    ]


def _preference(r: LoadedResult) -> tuple:
    # The table's rule: a reportable (full) run beats a --limit one, then more pairs; then
    # seed 0 / fp32 (the default run) and the path, so the choice never depends on file order.
    d = r.data
    return (bool(d["reportable"]), d["n"], d["seed"] == 0, d["dtype"] == "fp32", str(r.path))


def all_cells(runs: list[LoadedResult]) -> list[Cell]:
    """One cell per (model, steps) — the preferred seed/dtype — sorted by model, then steps."""
    best: dict[tuple[str, int | None], LoadedResult] = {}
    for r in runs:
        k = (r.model, r.steps)
        if k not in best or _preference(r) > _preference(best[k]):
            best[k] = r
    keys = sorted(best, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    return [Cell(best[k], display_label(k[0], k[1])) for k in keys]


def select_cells(
    runs: list[LoadedResult], specs: Sequence[str], default_steps: int | None = None
) -> list[Cell]:
    """The cells named by ``specs`` (``name`` or ``name@steps``), in that order.

    A model with results at several step counts needs ``@steps`` (or ``default_steps``);
    the error lists the counts there are."""
    cells = all_cells(runs)
    by_model: dict[str, list[Cell]] = {}
    for c in cells:
        by_model.setdefault(c.model, []).append(c)
    out: list[Cell] = []
    for spec in specs:
        name, steps = parse_model_spec(spec)
        if name not in by_model:
            raise did_you_mean("model (no results for it on this protocol)", name, sorted(by_model))
        have = by_model[name]
        if steps is None and len(have) > 1:
            steps = default_steps
        if steps is None and len(have) > 1:
            counts = ", ".join(str(c.steps) for c in have)
            raise YonosError(
                f"Model '{name}' has results at several step counts ({counts}); write {name}@STEPS."
            )
        match = have if steps is None else [c for c in have if c.steps == steps]
        if not match:
            counts = ", ".join("none" if c.steps is None else str(c.steps) for c in have)
            raise YonosError(f"Model '{name}' has no results at {steps} steps (it has: {counts}).")
        if match[0] in out:
            raise YonosError(f"Model '{spec}' is listed twice.")
        out.append(match[0])
    return out


def load_per_image(cells: Sequence[Cell]) -> None:
    for c in cells:
        if not c.per_image:
            c.per_image = read_per_image(c.folder / PER_IMAGE_FILE)


def common_pair_ids(cells: Sequence[Cell]) -> list[str]:
    """Pair ids every cell has an SR image of (sorted)."""
    ids: set[str] | None = None
    for c in cells:
        have = {p.stem for p in (c.folder / SR_DIR).glob("*.png")}
        ids = have if ids is None else ids & have
    return sorted(ids or ())


@dataclass(frozen=True)
class PairFiles:
    lr: Path
    hr: Path | None


def pair_files(
    runs: Sequence[LoadedResult], protocol: str, version: int | str, data_root: str | os.PathLike | None
) -> dict[str, PairFiles]:
    """LR/HR paths by pair id, from the prepared protocol whose digest the results record."""
    from yonos_bench.protocols.pairs import load_prepared, prepared_dir
    from yonos_bench.protocols.spec import load_protocol

    spec = load_protocol(protocol)
    if str(spec.version) != str(version):
        raise YonosError(
            f"The results are for {protocol}-v{version} but the installed protocol spec is v{spec.version}: "
            "its LR/HR pairs are not the ones the models saw."
        )
    prepared = load_prepared(spec, data_root)
    digests = {r.data["protocol"]["digest"] for r in runs}
    if digests != {prepared.digest}:
        raise YonosError(
            f"The prepared pairs in {prepared_dir(spec, data_root)} (digest {prepared.digest[:12]}) are not the "
            f"ones these results were computed on (digest {', '.join(sorted(d[:12] for d in digests))}); "
            "pass the --data-root the runs used."
        )
    return {p.id: PairFiles(p.lr_path, p.hr_path) for p in prepared.pairs}


def metric_delta(a: Cell, b: Cell, metric: str, ids: Sequence[str]) -> dict[str, float]:
    """Per pair: how much better ``a`` is than ``b`` on ``metric`` (positive = ``a`` better,
    whatever the metric's direction). Pairs without a value in both are left out."""
    for c in (a, b):
        if metric not in c.per_image:
            raise did_you_mean(f"per-image metric of {c.model}", metric, sorted(c.per_image))
    sign = -1.0 if a.lower_better(metric) else 1.0
    va, vb = a.per_image[metric], b.per_image[metric]
    return {i: sign * (va[i] - vb[i]) for i in ids if i in va and i in vb}
