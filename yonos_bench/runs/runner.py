"""``run`` / ``sweep-steps``: models × steps over a protocol's pairs → one result per cell.

Per cell (DESIGN.md "data flow"): check the cache → produce the missing SR images
(:mod:`yonos_bench.runs.generate`) → all metrics in one pass (:mod:`yonos_bench.metrics.engine`)
→ ``per_image.csv`` and ``result.json`` (:mod:`yonos_bench.runs.results`), written last and
atomically. A finished cell whose images still match their recorded hashes is not
touched unless ``force``; a corrupted ``result.json`` or image is detected and recomputed.

Every user mistake is caught before any model runs: unknown protocol/model/metric,
a model of another scale, ``--steps`` for a step-less model, an unwritable results
folder, missing data (the ``data status`` message from :mod:`yonos_bench.protocols.pairs`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yonos_bench.core.errors import YonosError
from yonos_bench.core.imageio import sha256_file
from yonos_bench.core.paths import results_root as resolve_results_root
from yonos_bench.core.provenance import resolve_device
from yonos_bench.runs.cell_cache import ProgressLog, clear_logs, read_logs, verify_images
from yonos_bench.runs.generate import Dist, dist_context, generate_images
from yonos_bench.runs.results import (
    PER_IMAGE_FILE,
    RESULT_FILE,
    SR_DIR,
    CellKey,
    ResultFileError,
    cell_dir,
    protocol_dir,
    read_result,
    verify_per_image,
)
from yonos_bench.runs.run_result import write_outputs

SR_FEATURES_FILE = "sr_features.npz"


class OptionError(YonosError, ValueError):
    """A command-line option has an unusable value (names the option)."""


@dataclass(frozen=True)
class RunOptions:
    seed: int = 0
    device: str | None = None  # None/"auto": cuda if available
    dtype: str = "fp32"
    batch_size: int = 8
    metrics: tuple[str, ...] | None = None  # None: the protocol's metrics
    data_root: Path | None = None
    prepared_root: Path | None = None  # None: $YONOS_PREPARED or <data_root>/prepared
    results_root: Path | None = None
    weights_dir: Path | None = None
    limit: int | None = None  # first K pairs only: a smoke run, marked not reportable
    force: bool = False  # recompute images and metrics of finished cells
    force_metrics: bool = False  # recompute metrics from the cached images
    metric_batch_size: int = 8
    progress: bool = True
    strict: bool = False  # a requested metric that cannot be computed is an error
    # --model-option: (model or None for every model, key, value) adapter options over the cards'
    model_options: tuple[tuple[str | None, str, Any], ...] = ()


@dataclass
class CellOutcome:
    key: CellKey
    folder: Path
    status: str  # cached | computed | resumed | rescored
    images_computed: int
    result: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def check_writable(root: Path) -> None:
    """Fail before any work if results cannot be written under ``root``."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as e:
        raise YonosError(
            f"Results folder {root} is not writable ({e.strerror or e}). "
            "Choose another with --results DIR or set YONOS_RESULTS."
        ) from None


def validate_options(opts: RunOptions) -> None:
    from yonos_bench.models.base import DTYPES

    if opts.batch_size < 1:
        raise OptionError(f"--batch-size must be >= 1, got {opts.batch_size}")
    if opts.metric_batch_size < 1:
        raise OptionError(f"--metric-batch-size must be >= 1, got {opts.metric_batch_size}")
    if opts.limit is not None and opts.limit < 1:
        raise OptionError(f"--limit must be >= 1, got {opts.limit}")
    if opts.seed < 0:
        raise OptionError(f"--seed must be >= 0, got {opts.seed}")
    if opts.dtype not in DTYPES:
        raise OptionError(f"--dtype must be one of {', '.join(DTYPES)}, got '{opts.dtype}'")


def precheck_models(models: Sequence[str], scale: int, steps: Sequence[int | None]) -> None:
    """Cheap checks from model cards (no weights loaded): scale and steps support.
    Paths (trained pipelines) are checked when they load."""
    from yonos_bench.models import ANY_SCALE, split_named_path
    from yonos_bench.models.registry import load_card

    for name in models:
        if Path(name).expanduser().exists() or split_named_path(name) is not None:
            continue
        card = load_card(name)  # unknown → did-you-mean
        if not card.runnable:
            raise YonosError(
                f"Model '{name}' is paper-only (its numbers come from its paper; there is nothing to run)."
            )
        _check_model(
            name, scale if card.adapter in ANY_SCALE else card.scale, card.supports_steps, scale, steps
        )
        if card.adapter == "command":
            from yonos_bench.models.card import command_allowed_steps

            allowed = command_allowed_steps(card.options)
            bad = [s for s in steps if s is not None and allowed and s not in allowed]
            if bad:
                raise OptionError(
                    f"--steps {','.join(map(str, bad))}: model '{name}' runs only with steps "
                    f"{', '.join(map(str, allowed))} (the released checkpoints)."
                )


def _check_model(
    name: str, model_scale: int, supports_steps: bool, scale: int, steps: Sequence[int | None]
) -> None:
    if int(model_scale) != int(scale):
        raise YonosError(
            f"Model '{name}' upscales x{model_scale} but the protocol is x{scale}; "
            f"choose a x{scale} model (`yonos-bench models list` shows each model's scale)."
        )
    given = [s for s in steps if s is not None]
    if given and not supports_steps:
        raise YonosError(
            f"--steps {','.join(map(str, given))}: model '{name}' takes no sampling steps; "
            "run it without --steps (in a separate command from the diffusion models)."
        )
    if any(s is not None and s < 1 for s in steps):
        raise OptionError(f"--steps must be positive integers, got {','.join(map(str, given))}")


def run_benchmark(
    protocol: str,
    models: Sequence[str],
    steps: Sequence[int | None] = (None,),
    options: RunOptions | None = None,
    *,
    console=None,
) -> list[CellOutcome]:
    """Run every (model, steps) cell of ``protocol`` and return their outcomes."""
    from yonos_bench.metrics.presets import get_preset
    from yonos_bench.models import load_model
    from yonos_bench.models.base import require_scale
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_protocol

    opts = options or RunOptions()
    validate_options(opts)
    if not models:
        raise OptionError("--model: name at least one model")
    spec = load_protocol(protocol)
    metric_ids = list(dict.fromkeys(opts.metrics or spec.metrics))
    for mid in metric_ids:
        get_preset(mid)  # unknown → did-you-mean
    precheck_models(models, spec.scale, steps)
    root = resolve_results_root(opts.results_root)
    check_writable(root)
    device = resolve_device(opts.device)
    dist = dist_context(device)
    if dist.world > 1 and device.startswith("cuda"):
        device = str(dist.state.device)
    prepared = prepare(
        spec, opts.data_root, prepared_root=opts.prepared_root, progress=opts.progress and dist.main
    )
    pairs = list(prepared.pairs)
    limit = opts.limit if opts.limit is not None and opts.limit < len(pairs) else None
    if limit is not None:
        pairs = pairs[:limit]
    ui = _ui(console, opts.progress and dist.main, dist.main)
    outcomes: list[CellOutcome] = []
    with ui.progress:
        for name in models:
            model = load_model(
                name, device=device, dtype=opts.dtype, weights_dir=opts.weights_dir, scale=spec.scale,
                options=(given := options_for(name, opts.model_options)),
            )  # fmt: skip
            if given:  # e.g. tile_size changes the outputs: never serve a cell made without it
                model.weights_digest = options_digest(model.weights_digest, given)
            require_scale(model, spec.scale)
            _check_model(model.name, model.scale, model.supports_steps, spec.scale, steps)
            if hasattr(model, "check_names"):
                # --limit: the first K outputs must exist; extra files are judged against all pairs
                model.check_names([p.id for p in pairs], known=[p.id for p in prepared.pairs])
            for s in dict.fromkeys(steps):
                resolved = s if s is not None else (model.default_steps if model.supports_steps else None)
                key = CellKey(
                    spec.name, spec.version, prepared.digest, model.name, model.weights_digest,
                    resolved, opts.seed, opts.dtype, limit,
                    None if getattr(model, "batch_invariant", False) else opts.batch_size,
                )  # fmt: skip
                ctx = _CellContext(
                    key, spec, prepared, pairs, metric_ids, model, device, dist, opts, root, ui
                )
                outcome = run_cell(ctx)
                for msg in outcome.messages:
                    ui.say(msg)
                outcomes.append(outcome)
            del model
    if dist.main and opts.progress:
        ui.summary(outcomes, metric_ids)
    elif dist.main:  # quiet: no table, but a skipped metric is never left unsaid
        ui.say_skipped(outcomes)
    return outcomes


def options_for(model: str, given: Sequence[tuple[str | None, str, Any]]) -> dict[str, Any] | None:
    """The ``--model-option`` values meant for ``model`` (untargeted ones apply to all)."""
    out = {k: v for target, k, v in given if target is None or target == model}
    return out or None


def options_digest(weights_digest: str | None, options: dict[str, Any]) -> str:
    """The weights digest of a model run with command-line options: part of the cell key."""
    import hashlib
    import json

    blob = json.dumps({"weights": weights_digest, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class _CellContext:
    key: CellKey
    spec: Any
    prepared: Any
    pairs: list[Any]
    metric_ids: list[str]
    model: Any
    device: str
    dist: Dist
    opts: RunOptions
    root: Path
    ui: Any


def run_cell(c: _CellContext) -> CellOutcome:
    folder = cell_dir(c.root, c.key)
    sr_dir = folder / SR_DIR
    kd = c.key.digest()
    out = CellOutcome(c.key, folder, "computed", 0)
    existing = _existing_result(folder / RESULT_FILE, c.key, c.model, c.opts.force, out.messages)
    if c.opts.force:
        c.dist.barrier()
        if c.dist.main:
            (folder / RESULT_FILE).unlink(missing_ok=True)
            clear_logs(folder)
        c.dist.barrier()
        existing = None
    recorded = dict(existing["sr_images"]) if existing else {}
    recorded.update(read_logs(folder, kd).sha256)
    ids = [p.id for p in c.pairs]
    done, bad = verify_images(sr_dir, ids, recorded)
    out.messages += bad
    if existing is not None:
        trusted = _trusted(existing, folder, out.messages)
        if trusted and len(done) == len(ids) and not c.opts.force_metrics:
            if _complete(existing, folder, c.metric_ids, c.opts.strict, c.opts.weights_dir):
                out.status, out.result = "cached", existing
                return out
        if trusted:  # --metrics adds to a cell: keep every metric it already has
            c.metric_ids = list(dict.fromkeys([*c.metric_ids, *existing["metrics"]]))
    if len(done) < len(ids) and c.dist.main:
        (folder / SR_FEATURES_FILE).unlink(missing_ok=True)  # SR features of replaced images are stale
    out.status = "computed" if not done else ("resumed" if len(done) < len(ids) else "rescored")
    t0 = time.perf_counter()
    if len(done) < len(ids):
        task = c.ui.task(f"{c.key.model} steps={c.key.steps}", len(ids), len(done))
        log = ProgressLog(folder, c.dist.rank, kd)
        try:
            with c.ui.tile_progress(f"{c.key.model} tiles of large images"):
                gen = generate_images(
                    c.model, c.pairs, sr_dir, done=done, steps=c.key.steps, run_seed=c.key.seed,
                    batch_size=c.opts.batch_size, device=c.device, log=log, dist=c.dist,
                    on_progress=lambda k: c.ui.advance(task, k),
                )  # fmt: skip
        finally:
            log.close()
        out.images_computed = gen.images_written
    gen_wall = time.perf_counter() - t0
    c.dist.barrier()  # gather: every shard's images are on disk before metrics
    state = read_logs(folder, kd)
    missing = [i for i in ids if i not in state.sha256 and i not in done]
    if missing:
        raise YonosError(
            f"Cell {folder}: {len(missing)} SR images missing after generation (e.g. {missing[0]})."
        )
    shas = {i: state.sha256.get(i, recorded.get(i)) for i in ids}
    evaluation = _evaluate(c, folder, ids)
    if not evaluation.summary:  # nothing computed: no result file, exit 1 (images stay cached)
        reasons = "; ".join(f"{m}: {why.splitlines()[0]}" for m, why in evaluation.unavailable.items())
        raise YonosError(
            f"Cell {folder}: nothing was computed — no requested metric could run ({reasons}). "
            "The SR images are cached; fix the cause and rerun."
        )
    if c.dist.main:
        walls = {"generation": gen_wall, "total": time.perf_counter() - t0, "images": out.images_computed}
        out.result = write_outputs(c, folder, ids, shas, state, evaluation, walls)
    c.dist.barrier()
    if not c.dist.main:
        out.result = read_result(folder / RESULT_FILE)
    return out


def _existing_result(path: Path, key: CellKey, model, force: bool, messages: list[str]) -> dict | None:
    if not path.exists():
        return None
    try:
        existing = read_result(path)
    except ResultFileError as e:
        messages.append(f"{e} Recomputing it.")
        return None
    if existing["cell_key"] != key.digest():
        if force:
            return None
        raise YonosError(
            f"{path} holds the result of another cell ({_cell_diff(existing['cell'], key, model)}); "
            "its images are not reused. Use --force to replace it, or --results DIR to keep both."
        )
    return existing


def _cell_diff(old: dict, key: CellKey, model) -> str:
    """What differs between the stored cell and the one asked for, in the user's terms."""
    new = key.to_dict()
    parts = []
    for f in sorted(set(old) | set(new)):
        a, b = old.get(f), new.get(f)
        if a == b:
            continue
        if f == "batch_size":
            parts.append(
                f"batch size {a or 'any'} there, --batch-size {b or 'any'} now (outputs depend on it)"
            )
        elif f == "weights_digest":
            files = (getattr(model, "info", None) or {}).get("hashed_files")
            what = (
                f"the command's code changed (template, version or {', '.join(Path(x).name for x in files)})"
                if files is not None
                else "the model's weights changed"
            )
            parts.append(f"weights_digest {str(a)[:12]}… there, {str(b)[:12]}… now: {what}")
        else:
            parts.append(f"{f} {str(a)[:16]} there, {str(b)[:16]} now")
    return "; ".join(parts) or "cell key differs"


def _trusted(existing: dict, folder: Path, messages: list[str]) -> bool:
    """The stored result agrees with its per_image.csv (else its metrics are recomputed)."""
    try:
        verify_per_image(existing, folder / RESULT_FILE)
    except ResultFileError as e:
        messages.append(f"{e} Recomputing its metrics.")
        return False
    return True


def _complete(existing: dict, folder: Path, metric_ids: list[str], strict: bool, weights_dir=None) -> bool:
    """Every requested metric is in the (verified) result; under ``strict`` a metric
    recorded as unavailable counts as missing (it is retried, and fails if it still cannot run).
    FID/KID made with another Inception file than the one now in use are rescored."""
    from yonos_bench.metrics.features import inception_id

    have = set(existing["metrics"]) | (set() if strict else set(existing["unavailable"]))
    csv_path = folder / PER_IMAGE_FILE
    if not set(metric_ids) <= have or not csv_path.is_file():
        return False
    recorded = existing.get("backend_versions", {}).get("fid-inception")
    if recorded is not None and recorded != inception_id(weights_dir):
        return False  # FID/KID of another Inception file: rescore (the images stay cached)
    if _preset_changed(existing, metric_ids):
        return False
    return sha256_file(csv_path) == existing["per_image_csv_sha256"]


def _preset_changed(existing: dict, metric_ids: list[str]) -> bool:
    """A stored metric was computed under other preset arguments than the current preset's
    (e.g. ``swd``'s ``impl`` version after its code changed): its value is not served."""
    from yonos_bench.metrics.presets import get_preset

    for mid in metric_ids:
        stored = existing["metrics"].get(mid)
        if (
            isinstance(stored, dict)
            and "preset" in stored
            and stored["preset"] != get_preset(mid).args_dict()
        ):
            return True
    return False


def _evaluate(c: _CellContext, folder: Path, ids: list[str]):
    from yonos_bench.metrics.engine import evaluate
    from yonos_bench.metrics.features import FeatureCache

    sr_paths = [folder / SR_DIR / f"{i}.png" for i in ids]
    has_hr = all(p.hr_path is not None for p in c.pairs)
    hr_paths = [p.hr_path for p in c.pairs] if has_hr else None
    key = c.prepared.digest[:32] + (f"-limit{c.key.limit}" if c.key.limit else "")
    cache = FeatureCache(protocol_dir(c.root, c.key.protocol, c.key.protocol_version) / ".features", key,
                         sr_file=folder / SR_FEATURES_FILE)  # fmt: skip
    return evaluate(
        sr_paths, hr_paths, c.metric_ids, device=c.device, batch_size=c.opts.metric_batch_size,
        weights_dir=c.opts.weights_dir, feature_cache=cache, pair_ids=ids, strict=c.opts.strict,
        clusters=[p.source or p.id for p in c.pairs],  # intervals resample source images
        progress=c.ui.progress_callback(f"{c.key.model} steps={c.key.steps} metrics"),
    )  # fmt: skip


def _ui(console, enabled: bool, main: bool):
    from yonos_bench.runs.ui import RunUI

    return RunUI(console, enabled, speak=main)
