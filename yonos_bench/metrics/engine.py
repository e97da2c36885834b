"""One-pass evaluation: every image decoded once, batched, all metrics applied to the batch.

``evaluate(sr_paths, hr_paths, metric_ids, ...)`` reads each SR/HR pair once through
:func:`yonos_bench.core.imageio.read_rgb8` (the next batch is decoded in threads while the
current one is scored), groups the batch by image size, runs every per-image backend on
the same tensors, extracts clean-mode Inception features for FID/KID and Laplacian-pyramid
patch descriptors for SWD (:mod:`.swd`). Values, features and descriptors go into
torchmetrics states keyed by pair index (:mod:`.accumulate`), so a sharded run
(``shard=(rank, world)``, synchronised by torchmetrics under ``torch.distributed``) returns
exactly what a single process returns.

A metric whose weights are missing (or fail verification) is recorded in ``unavailable``
with the file names and the others still run; ``strict=True`` raises instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from yonos_bench.core.errors import ImageError, WeightsMissingError, YonosError
from yonos_bench.core.imageio import read_rgb8
from yonos_bench.core.paths import weights_dir as resolve_weights_dir
from yonos_bench.metrics import features as F
from yonos_bench.metrics.accumulate import IndexedValues, computed_rows
from yonos_bench.metrics.backends import Scorer, Unavailable, backend_versions, build_scorer, weights_problem
from yonos_bench.metrics.evaluation import Evaluation, MetricSummary
from yonos_bench.metrics.fid import FID_RELIABLE_MIN, fid_from_features, kid_from_features
from yonos_bench.metrics.presets import PSNR_CAP_DB, MetricPreset, get_preset
from yonos_bench.metrics.stats import bootstrap_ci
from yonos_bench.metrics.swd import SWD_IMPL, SWDConfig, image_descriptors, swd_from_descriptors

_SSIM_WINDOW = 11


class Evaluator:
    """Accumulates one shard's values; :meth:`compute` (after :meth:`merge` of the other
    shards, or torchmetrics' own sync under ``torch.distributed``) gives the result."""

    def __init__(
        self,
        metric_ids: Sequence[str],
        pair_ids: Sequence[str],
        *,
        has_hr: bool,
        device="cpu",
        weights_dir: str | os.PathLike | None = None,
        strict: bool = False,
        backends: Mapping[str, Scorer] | None = None,
        feature_extractor: Callable | None = None,
        feature_cache: F.FeatureCache | None = None,
        n_boot: int = 2000,
        seed: int = 0,
        clusters: Sequence[str] | None = None,
    ) -> None:
        if not metric_ids:
            raise ValueError("metric_ids must name at least one metric")
        self.presets: dict[str, MetricPreset] = {m: get_preset(m) for m in dict.fromkeys(metric_ids)}
        self.pair_ids = list(pair_ids)
        # The source image of each pair: intervals resample source images (patches of one
        # image are not independent); None or all-distinct: the pairs themselves.
        self.clusters = list(clusters) if clusters is not None else None
        if self.clusters is not None and len(self.clusters) != len(self.pair_ids):
            raise ValueError(f"clusters: {len(self.clusters)} labels for {len(self.pair_ids)} pairs")
        if self.clusters is not None and len(set(self.clusters)) == len(self.clusters):
            self.clusters = None
        self.device = str(device)
        self.weights_dir = resolve_weights_dir(weights_dir)
        self.n_boot, self.seed = n_boot, seed
        self.feature_cache = feature_cache
        self.unavailable: dict[str, str] = {}
        self.scorers: dict[str, Scorer] = {}
        backends = dict(backends or {})
        set_ids = [m for m, p in self.presets.items() if p.kind == "set"]
        for mid, p in self.presets.items():
            if p.kind in ("fr", "set") and not has_hr:
                self._unavailable(mid, f"{mid} needs HR reference images; none were given.", strict, None)
            elif p.kind == "set":
                if feature_extractor is None:
                    problem = weights_problem(p, self.weights_dir)
                    if problem:
                        self._unavailable(mid, problem, strict, WeightsMissingError)
            elif mid in backends:
                self.scorers[mid] = backends[mid]
            else:
                problem = weights_problem(p, self.weights_dir)
                if problem:
                    self._unavailable(mid, problem, strict, WeightsMissingError)
                    continue
                try:
                    self.scorers[mid] = build_scorer(p, device, self.weights_dir)
                except Unavailable as e:
                    self._unavailable(mid, str(e), strict, YonosError)
        self.set_ids = [m for m in set_ids if m not in self.unavailable]
        # Set metrics of Inception features (FID/KID) and of pyramid patches (SWD, no weights).
        self.inception_ids = [m for m in self.set_ids if self.presets[m].backend == "clean-fid"]
        self.swd_ids = [m for m in self.set_ids if self.presets[m].backend == "swd"]
        self.swd_configs = {m: SWDConfig.from_args(self.presets[m].backend_args) for m in self.swd_ids}
        self.extractor, self.extractor_id = None, F.INCEPTION_ID
        if self.inception_ids:
            if feature_extractor is not None:
                self.extractor = feature_extractor
                self.extractor_id = getattr(feature_extractor, "extractor_id", "custom")
            else:
                self.extractor = F.load_inception(self.weights_dir, device)
                self.extractor_id = self.extractor.extractor_id
        self.hr_feats_cached = self._load_hr_cache()
        self.values = {m: IndexedValues() for m in self.scorers}
        self.sr_feats = IndexedValues()
        self.hr_feats = IndexedValues()
        # Raw SWD descriptors per pair, flattened (levels · patches · 147 float32), per config.
        self.sr_patches = {m: IndexedValues() for m in self.swd_ids}
        self.hr_patches = {m: IndexedValues() for m in self.swd_ids}

    def _unavailable(self, mid: str, reason: str, strict: bool, exc) -> None:
        if strict:
            raise (exc or YonosError)(f"Metric {mid} cannot run (strict mode): {reason}")
        self.unavailable[mid] = reason

    def _hr_ids(self) -> list[str]:
        return self.pair_ids

    def _load_hr_cache(self) -> np.ndarray | None:
        if not self.inception_ids or self.feature_cache is None:
            return None
        path = self.feature_cache.hr_file(self.extractor_id)
        return F.load_features(path, self._hr_ids(), self.extractor_id)

    @property
    def needs_hr_images(self) -> bool:
        fr = any(self.presets[m].kind == "fr" for m in self.scorers)
        inception = bool(self.inception_ids) and self.hr_feats_cached is None
        return fr or inception or bool(self.swd_ids)

    # ------------------------------------------------------------------ update
    def update(
        self, indices: Sequence[int], sr: Sequence[np.ndarray], hr: Sequence[np.ndarray] | None
    ) -> None:
        """Score one batch: ``sr``/``hr`` are uint8 (H, W, 3) arrays of pairs ``indices``."""
        import torch

        groups: dict[tuple[int, int], list[int]] = {}
        for k, img in enumerate(sr):
            groups.setdefault(img.shape[:2], []).append(k)
        for ks in groups.values():
            idx = torch.tensor([indices[k] for k in ks])
            sr_t = _to_device([sr[k] for k in ks], self.device)
            hr_t = _to_device([hr[k] for k in ks], self.device) if hr is not None else None
            for mid, scorer in self.scorers.items():
                fr = self.presets[mid].kind == "fr"
                try:
                    vals = scorer(sr_t, hr_t if fr else None)
                except YonosError:
                    raise
                except Exception as e:
                    names = ", ".join(self.pair_ids[indices[k]] for k in ks[:3])
                    raise YonosError(
                        f"Metric {mid} failed on pairs {names}: {type(e).__name__}: {e}"
                    ) from None
                self.values[mid].update(idx, torch.as_tensor(vals).reshape(-1))
        if self.inception_ids:
            idx = torch.tensor(list(indices))
            self.sr_feats.update(idx, torch.from_numpy(F.extract_features(self.extractor, sr, self.device)))
            if self.hr_feats_cached is None and hr is not None:
                self.hr_feats.update(
                    idx, torch.from_numpy(F.extract_features(self.extractor, hr, self.device))
                )
        for mid in self.swd_ids:
            idx = torch.tensor(list(indices))
            cfg = self.swd_configs[mid]
            for state, imgs, what in ((self.sr_patches[mid], sr, "SR"), (self.hr_patches[mid], hr, "HR")):
                if imgs is None:
                    raise YonosError(
                        f"{mid} needs HR images: update() got none for pair {self.pair_ids[indices[0]]}"
                    )
                d = image_descriptors(imgs, list(indices), cfg, f"{what} image of pair")
                state.update(idx, torch.from_numpy(d.reshape(len(imgs), -1)))

    def merge(self, other: Evaluator) -> None:
        """Fold another shard's states into this one (what torchmetrics' sync does across
        processes; used for in-process sharding and its tests)."""
        for mid, state in self.values.items():
            state.merge_state(other.values[mid])
        self.sr_feats.merge_state(other.sr_feats)
        self.hr_feats.merge_state(other.hr_feats)
        for mid in self.swd_ids:
            self.sr_patches[mid].merge_state(other.sr_patches[mid])
            self.hr_patches[mid].merge_state(other.hr_patches[mid])

    # ------------------------------------------------------------------ compute
    def compute(self) -> Evaluation:
        n = len(self.pair_ids)
        per_image: dict[str, list[float]] = {}
        summary: dict[str, MetricSummary] = {}
        warnings: list[str] = []
        for mid, state in self.values.items():
            idx, vals = computed_rows(state)
            self._check_complete(mid, idx, n)
            v = vals.numpy().astype(np.float64)
            per_image[mid] = v.tolist()
            summary[mid] = self._summarise(mid, v, warnings)
        feature_files: dict[str, str] = {}
        if self.inception_ids:
            summary.update(self._set_metrics(n, warnings, feature_files))
        for mid in self.swd_ids:
            summary[mid] = self._swd(mid, n)
        versions = backend_versions()
        if self.inception_ids:  # which Inception file gave the features (it can move FID)
            versions["fid-inception"] = self.extractor_id
        if self.swd_ids:
            versions["swd"] = SWD_IMPL
        return Evaluation(
            metric_ids=list(self.presets),
            pair_ids=self.pair_ids,
            per_image=per_image,
            summary=summary,
            unavailable=dict(self.unavailable),
            backend_versions=versions,
            preset_args={m: p.args_dict() for m, p in self.presets.items()},
            device=self.device,
            warnings=warnings,
            feature_files=feature_files,
        )

    def _check_complete(self, what: str, idx, n: int) -> None:
        if idx.numel() != n or (n and (int(idx[0]) != 0 or int(idx[-1]) != n - 1)):
            raise YonosError(f"{what}: {idx.numel()} of {n} pairs were scored (a shard is missing).")

    def _summarise(self, mid: str, v: np.ndarray, warnings: list[str]) -> MetricSummary:
        p = self.presets[mid]
        ci = bootstrap_ci(v, n_boot=self.n_boot, seed=self.seed, clusters=self.clusters)
        note = ""
        if ci.n_dropped:
            bad = [self.pair_ids[i] for i in np.flatnonzero(~np.isfinite(v))[:5]]
            note = f"{ci.n_dropped} non-finite per-image values excluded from the mean (pairs {', '.join(bad)}...)"
            warnings.append(f"{mid}: {note}")
        capped = int((v >= PSNR_CAP_DB - 1e-6).sum()) if p.args_dict().get("metric_name") == "psnr" else 0
        if capped:
            note = (note + "; " if note else "") + f"{capped} identical pairs at the {PSNR_CAP_DB:g} dB cap"
        return MetricSummary(
            ci.mean,
            ci.ci_low,
            ci.ci_high,
            ci.n,
            p.kind,
            p.lower_better,
            ci.n_dropped,
            capped,
            note,
            n_clusters=ci.n_clusters,
        )

    def _set_metrics(self, n: int, warnings: list[str], files: dict[str, str]) -> dict[str, MetricSummary]:
        idx, sr = computed_rows(self.sr_feats)
        self._check_complete("SR features", idx, n)
        sr = sr.numpy()
        if self.hr_feats_cached is not None:
            hr = self.hr_feats_cached
        else:
            idx, hr_t = computed_rows(self.hr_feats)
            self._check_complete("HR features", idx, n)
            hr = hr_t.numpy()
        cache = self.feature_cache
        if cache is not None:
            hr_path = cache.hr_file(self.extractor_id)
            if self.hr_feats_cached is None:
                F.save_features(hr_path, hr, self._hr_ids(), self.extractor_id)
            files["hr"] = str(hr_path)
            if cache.sr_file is not None:
                F.save_features(cache.sr_file, sr, self.pair_ids, self.extractor_id)
                files["sr"] = str(cache.sr_file)
        out = {}
        for mid in self.inception_ids:
            p = self.presets[mid]
            a = p.args_dict()
            if p.backend_args.get("num_subsets") is not None:
                val = kid_from_features(
                    sr, hr, num_subsets=a["num_subsets"], max_subset_size=a["max_subset_size"], seed=a["seed"]
                )
            else:
                val = fid_from_features(sr, hr)
            note = ""
            if n < FID_RELIABLE_MIN:
                note = f"unreliable: {n} < {FID_RELIABLE_MIN} images"
                warnings.append(f"{mid}: {note}")
            out[mid] = MetricSummary(val, float("nan"), float("nan"), n, p.kind, p.lower_better, note=note)
        return out

    def _swd(self, mid: str, n: int) -> MetricSummary:
        """SWD (×10³, mean over pyramid levels) of the SR set vs the HR set; per level in
        ``components``."""
        cfg, p = self.swd_configs[mid], self.presets[mid]
        rows = []
        for what, state in (("SR", self.sr_patches[mid]), ("HR", self.hr_patches[mid])):
            idx, vals = computed_rows(state)
            self._check_complete(f"{mid} {what} descriptors", idx, n)
            shape = (n, cfg.levels, cfg.patches_per_level, cfg.descriptor_dim)
            rows.append(vals.numpy().reshape(shape))
        res = swd_from_descriptors(rows[0], rows[1], cfg)
        return MetricSummary(
            res.mean, float("nan"), float("nan"), n, p.kind, p.lower_better, components=res.components()
        )


def _to_device(imgs: Sequence[np.ndarray], device):
    """uint8 (H, W, 3) list → float32 (B, 3, H, W) in [0, 1] on ``device`` (the tensor
    convention; converted on the device so only bytes cross the bus)."""
    import torch

    t = torch.from_numpy(np.stack(imgs)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _check_pair(sr: np.ndarray, hr: np.ndarray | None, sr_path, hr_path, min_side: tuple[int, str]) -> None:
    if hr is not None and sr.shape != hr.shape:
        raise ImageError(
            f"SR/HR size mismatch for pair {Path(sr_path).name}: SR {sr_path} is "
            f"{sr.shape[1]}x{sr.shape[0]}, HR {hr_path} is {hr.shape[1]}x{hr.shape[0]}."
        )
    need, why = min_side
    if min(sr.shape[:2]) < need:
        raise ImageError(
            f"Image {sr_path} is {sr.shape[1]}x{sr.shape[0]}: too small for the requested metrics "
            f"({why} needs at least {need} px per side)."
        )


def _min_side(presets: Mapping[str, MetricPreset]) -> tuple[int, str]:
    """The smallest image side every metric of ``presets`` accepts, and what sets it."""
    need, why = 1, "every metric"
    for mid, p in presets.items():
        if p.backend == "swd":
            cfg = SWDConfig.from_args(p.backend_args)
            side, reason = (
                cfg.min_image_px,
                f"{mid} (a {cfg.levels}-level pyramid down to {cfg.min_level_px} px)",
            )
        else:
            crop = int(p.backend_args.get("crop_border", 0) or 0)
            window = _SSIM_WINDOW if p.backend_args.get("metric_name") == "ssim" else 1
            side = 2 * crop + window
            reason = f"{mid} (after cropping {crop} px borders)" if crop else mid
        if side > need:
            need, why = side, reason
    return need, why


def evaluate(
    sr_paths: Sequence[str | os.PathLike],
    hr_paths: Sequence[str | os.PathLike] | None,
    metric_ids: Sequence[str],
    *,
    device="cpu",
    batch_size: int = 8,
    weights_dir: str | os.PathLike | None = None,
    feature_cache: F.FeatureCache | None = None,
    strict: bool = False,
    **options,
) -> Evaluation:
    """Score SR images (against HR where given) with every metric in one pass and return
    the :class:`Evaluation`. Further keyword ``options`` (``pair_ids``, ``backends``,
    ``feature_extractor``, ``shard``, ``n_boot``, ``seed``, ``progress``, ``num_threads``)
    are those of :func:`score_pairs`."""
    from yonos_bench.core.provenance import resolve_device

    t0 = time.perf_counter()
    device = resolve_device(str(device))  # "auto" → cuda|cpu; an unusable device is one error
    ev = score_pairs(
        sr_paths,
        hr_paths,
        metric_ids,
        device=device,
        batch_size=batch_size,
        weights_dir=weights_dir,
        feature_cache=feature_cache,
        strict=strict,
        **options,
    )
    result = ev.compute()
    result.seconds = time.perf_counter() - t0
    return result


def score_pairs(
    sr_paths: Sequence[str | os.PathLike],
    hr_paths: Sequence[str | os.PathLike] | None,
    metric_ids: Sequence[str],
    *,
    device="cpu",
    batch_size: int = 8,
    weights_dir: str | os.PathLike | None = None,
    feature_cache: F.FeatureCache | None = None,
    strict: bool = False,
    pair_ids: Sequence[str] | None = None,
    backends: Mapping[str, Scorer] | None = None,
    feature_extractor: Callable | None = None,
    shard: tuple[int, int] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    num_threads: int = 2,
    clusters: Sequence[str] | None = None,
) -> Evaluator:
    """The pass itself: returns the :class:`Evaluator` holding this shard's states (call
    ``.compute()``, after merging the other shards when sharding in-process).

    ``pair_ids`` default to the SR file stems. ``backends`` / ``feature_extractor`` replace
    a preset's backend / the Inception network (tests, custom wiring). ``shard=(rank,
    world)`` scores pairs ``rank::world`` only; under ``torch.distributed`` the default is
    the process rank and torchmetrics gathers the shards in ``compute``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sr_paths = [Path(p) for p in sr_paths]
    hr_list = [Path(p) for p in hr_paths] if hr_paths is not None else None
    if hr_list is not None and len(hr_list) != len(sr_paths):
        raise ValueError(f"sr_paths and hr_paths differ in length: {len(sr_paths)} vs {len(hr_list)}")
    if not sr_paths:
        raise ValueError("sr_paths is empty: nothing to evaluate")
    ids = list(pair_ids) if pair_ids is not None else [p.stem for p in sr_paths]
    if len(ids) != len(sr_paths) or len(set(ids)) != len(ids):
        raise ValueError("pair_ids must be unique, one per SR image")
    rank, world = shard if shard is not None else _dist_shard()
    if not 0 <= rank < world:
        raise ValueError(f"shard must be (rank, world) with 0 <= rank < world, got {shard}")
    ev = Evaluator(
        metric_ids,
        ids,
        has_hr=hr_list is not None,
        device=device,
        weights_dir=weights_dir,
        strict=strict,
        backends=backends,
        feature_extractor=feature_extractor,
        feature_cache=feature_cache,
        n_boot=n_boot,
        seed=seed,
        clusters=clusters,
    )
    read_hr = hr_list is not None and ev.needs_hr_images
    min_side = _min_side({m: ev.presets[m] for m in [*ev.scorers, *ev.swd_ids]})
    mine = list(range(rank, len(sr_paths), world))
    batches = [mine[i : i + batch_size] for i in range(0, len(mine), batch_size)]

    def load(batch: list[int]):
        sr = [read_rgb8(sr_paths[i]) for i in batch]
        hr = [read_rgb8(hr_list[i]) for i in batch] if read_hr else None
        for k, i in enumerate(batch):
            _check_pair(sr[k], hr[k] if hr else None, sr_paths[i], hr_list[i] if hr_list else None, min_side)
        return sr, hr

    if ev.scorers or ev.set_ids:
        with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
            pending = pool.submit(load, batches[0]) if batches else None
            for b, batch in enumerate(batches):
                sr, hr = pending.result()
                if b + 1 < len(batches):  # decode the next batch while this one is scored
                    pending = pool.submit(load, batches[b + 1])
                ev.update(batch, sr, hr)
                if progress:
                    progress(min(len(mine), (b + 1) * batch_size), len(mine))
    return ev


def _dist_shard() -> tuple[int, int]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except ImportError:  # pragma: no cover - torch always has it
        pass
    return 0, 1
