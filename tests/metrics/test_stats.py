"""Bootstrap intervals: coverage by simulation, paired differences, NaN handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yonos_bench.metrics.stats import bootstrap_ci, paired_bootstrap


def test_bootstrap_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    trials, hits = 400, 0
    for t in range(trials):
        x = rng.gamma(4.0, 2.0, size=60)  # skewed, true mean 8
        ci = bootstrap_ci(x, n_boot=400, seed=t)
        hits += ci.ci_low <= 8.0 <= ci.ci_high
    # binomial sd at p=0.95, n=400 is 1.1%; percentile bootstrap under-covers slightly at n=60
    assert 0.90 <= hits / trials <= 0.98


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = np.random.default_rng(1).normal(3.0, 1.0, 100)
    a, b = bootstrap_ci(x, seed=5), bootstrap_ci(x, seed=5)
    assert a == b
    assert a.mean == pytest.approx(x.mean())
    assert a.ci_low < a.mean < a.ci_high
    assert bootstrap_ci(x, seed=6) != a
    narrow = bootstrap_ci(x, confidence=0.5, seed=5)
    assert a.ci_low < narrow.ci_low < narrow.ci_high < a.ci_high


def test_non_finite_values_are_dropped_and_counted_never_averaged():
    ci = bootstrap_ci([1.0, 2.0, math.nan, 3.0, math.inf], n_boot=100)
    assert (ci.mean, ci.n, ci.n_dropped) == (2.0, 3, 2)
    empty = bootstrap_ci([math.nan])
    assert math.isnan(empty.mean) and empty.n == 0 and empty.n_dropped == 1
    one = bootstrap_ci([4.0])
    assert one.mean == 4.0 and math.isnan(one.ci_low)


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(2)
    base = rng.normal(25.0, 3.0, 200)  # per-pair difficulty dominates the spread
    better = base + 0.2 + rng.normal(0, 0.2, 200)
    same = base + rng.normal(0, 0.2, 200)
    d = paired_bootstrap(better, base, seed=0)
    assert d.mean_diff == pytest.approx(np.mean(better - base))
    assert d.ci_low > 0 and not d.zero_inside and d.significant
    # unpaired intervals overlap heavily; the paired one still separates them
    a, b = bootstrap_ci(better), bootstrap_ci(base)
    assert a.ci_low < b.ci_high
    null = paired_bootstrap(same, base, seed=0)
    assert null.zero_inside and not null.significant


def test_paired_bootstrap_null_coverage_and_input_checks():
    rng = np.random.default_rng(3)
    inside = sum(
        paired_bootstrap(rng.normal(0, 1, 50), rng.normal(0, 1, 50), n_boot=300, seed=t).zero_inside
        for t in range(200)
    )
    assert 0.89 <= inside / 200 <= 0.99
    with pytest.raises(ValueError, match="same pairs"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=1.5)
    r = paired_bootstrap([1.0, math.nan, 3.0, 4.0], [0.0, 1.0, math.nan, 2.0], n_boot=50)
    assert (r.n, r.n_dropped, r.mean_diff) == (2, 2, 1.5)
