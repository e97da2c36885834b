"""FID/KID math: clean-fid's functions are the reference; the closed form for Gaussians is
the independent one."""

from __future__ import annotations

import numpy as np
import pytest
from cleanfid.fid import frechet_distance, kernel_distance
from scipy.linalg import sqrtm

from yonos_bench.core.errors import YonosError
from yonos_bench.metrics.fid import fid_from_features, kid_from_features


def exact_sample(rng, n: int, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """n samples whose *sample* mean and unbiased covariance are exactly mu and cov."""
    d = mu.shape[0]
    z = rng.standard_normal((n, d))
    z -= z.mean(0)
    chol = np.linalg.cholesky(np.cov(z, rowvar=False))
    z = z @ np.linalg.inv(chol).T  # now np.cov(z) == I
    return z @ np.linalg.cholesky(cov).T + mu


def test_fid_equals_clean_fid_frechet_distance_on_random_features():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 16)) * 1.3 + 0.2
    b = rng.standard_normal((250, 16)) @ rng.standard_normal((16, 16)) * 0.3
    expected = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-10)


def test_fid_matches_closed_form_for_two_gaussians():
    rng = np.random.default_rng(1)
    d = 6
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    m1, m2 = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    s1, s2 = m1 @ m1.T + np.eye(d), m2 @ m2.T + 0.5 * np.eye(d)
    a, b = exact_sample(rng, 400, mu1, s1), exact_sample(rng, 500, mu2, s2)
    root = sqrtm(sqrtm(s1) @ s2 @ sqrtm(s1)).real  # Tr((S1 S2)^½) = Tr((S1^½ S2 S1^½)^½)
    closed = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert fid_from_features(a, b) == pytest.approx(closed, rel=1e-6)
    # diagonal case, fully by hand: ||dmu||² + sum (sqrt(a_i) - sqrt(b_i))²
    va, vb = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    a = exact_sample(rng, 200, np.zeros(3), np.diag(va))
    b = exact_sample(rng, 200, np.array([1.0, 0.0, 2.0]), np.diag(vb))
    assert fid_from_features(a, b) == pytest.approx(5.0 + (1 - 2) ** 2 + (2 - 1) ** 2, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(2).standard_normal((200, 32))
    assert abs(fid_from_features(f, f)) < 1e-6


def test_kid_equals_clean_fid_kernel_distance_with_the_same_seed():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((120, 8)), rng.standard_normal((90, 8)) + 0.3
    np.random.seed(7)
    expected = kernel_distance(a, b, num_subsets=20, max_subset_size=50)
    state = np.random.get_state()
    got = kid_from_features(a, b, num_subsets=20, max_subset_size=50, seed=7)
    assert got == pytest.approx(expected, rel=1e-12)
    assert np.array_equal(np.random.get_state()[1], state[1])  # caller's RNG untouched
    assert kid_from_features(a, b, num_subsets=20, max_subset_size=50, seed=8) != got
    # whole sets (n <= subset size): every subset is a permutation, the seed is irrelevant
    assert kid_from_features(a[:40], b[:40], seed=1) == pytest.approx(
        kid_from_features(a[:40], b[:40], seed=2)
    )
    assert kid_from_features(b, b, num_subsets=5) < 1e-2 < kid_from_features(a, b + 2.0, num_subsets=5)


def test_degenerate_sets_are_refused_clearly():
    f = np.zeros((1, 4))
    with pytest.raises(YonosError, match="at least 2 images per set, got 1 SR and 1 HR"):
        fid_from_features(f, f)
    with pytest.raises(YonosError, match="same d"):
        kid_from_features(np.zeros((3, 4)), np.zeros((3, 5)))
    bad = np.ones((3, 4))
    bad[0, 0] = np.nan
    with pytest.raises(YonosError, match="NaN"):
        fid_from_features(bad, np.ones((3, 4)))
