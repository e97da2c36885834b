"""FID and KID from features, with clean-fid's own math (not reimplemented).

* FID (Heusel et al. 2017): ``||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½)`` over the
  per-set mean and (unbiased, ``np.cov``) covariance — ``cleanfid.fid.fid_from_feats`` →
  ``frechet_distance``.
* KID (Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial kernel
  ``(x·y / d + 1)³``, averaged over ``num_subsets`` random subsets of size
  ``min(n_sr, n_hr, max_subset_size)`` — ``cleanfid.fid.kernel_distance``. clean-fid draws
  the subsets from NumPy's global RNG; we seed it (and restore the caller's state) so KID
  is reproducible. When both sets have at most ``max_subset_size`` images every subset is a
  permutation of the whole set and the seed does not matter.
"""

from __future__ import annotations

import numpy as np

from yonos_bench.core.errors import YonosError

#: Below this many images FID is dominated by estimator bias (METHOD.md §3): flagged.
FID_RELIABLE_MIN = 1000


def _check(sr: np.ndarray, hr: np.ndarray, what: str) -> None:
    if sr.ndim != 2 or hr.ndim != 2 or sr.shape[1] != hr.shape[1]:
        raise YonosError(
            f"{what}: feature arrays must be (n, d) with the same d, got {sr.shape} and {hr.shape}"
        )
    if sr.shape[0] < 2 or hr.shape[0] < 2:
        raise YonosError(f"{what} needs at least 2 images per set, got {sr.shape[0]} SR and {hr.shape[0]} HR")
    if not (np.isfinite(sr).all() and np.isfinite(hr).all()):
        raise YonosError(f"{what}: features contain NaN or inf (a corrupt image or extractor failure)")


def fid_from_features(sr: np.ndarray, hr: np.ndarray) -> float:
    """FID between two feature sets (n, d)."""
    from cleanfid.fid import fid_from_feats

    sr = np.asarray(sr, dtype=np.float64)
    hr = np.asarray(hr, dtype=np.float64)
    _check(sr, hr, "FID")
    # FID is a squared distance. With rank-deficient covariances (n <= d: e.g. 1,000 images of
    # 2,048-d features) the matrix square root in clean-fid's frechet_distance carries rounding
    # error that can push the value slightly below 0 (-2e-5 for identical sets); clamp at 0.
    try:
        value = float(fid_from_feats(sr, hr))
    except ValueError as e:
        if "Imaginary component" not in str(e):
            raise
        # clean-fid refuses when sqrtm(S1 S2) of singular covariances comes out with an imaginary
        # part > 1e-3 (rounding, not a real property: S1 S2 has real non-negative eigenvalues).
        # Same quantity, computed stably: Tr((S1 S2)^½) = Σ √λ(S1^½ S2 S1^½), a PSD matrix.
        value = _frechet_psd(sr, hr)
    return max(0.0, value)


def _frechet_psd(sr: np.ndarray, hr: np.ndarray) -> float:
    """The Fréchet distance with the trace term from a symmetric PSD eigen-decomposition."""
    mu1, mu2 = sr.mean(axis=0), hr.mean(axis=0)
    s1, s2 = np.cov(sr, rowvar=False), np.cov(hr, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T  # S1^½ (symmetric)
    inner = root1 @ s2 @ root1
    lam = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def kid_from_features(
    sr: np.ndarray, hr: np.ndarray, *, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0
) -> float:
    """KID between two feature sets, clean-fid's estimator with a seeded subset draw."""
    from cleanfid.fid import kernel_distance

    sr = np.asarray(sr, dtype=np.float64)
    hr = np.asarray(hr, dtype=np.float64)
    _check(sr, hr, "KID")
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return float(kernel_distance(sr, hr, num_subsets=num_subsets, max_subset_size=max_subset_size))
    finally:
        np.random.set_state(state)
