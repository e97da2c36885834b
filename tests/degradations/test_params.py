"""Distribution of the sampled Real-ESRGAN parameters against METHOD.md section 2 (no images)."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from yonos_bench.degradations import RealESRGANDegradation
from yonos_bench.degradations.kernels import KERNEL_SIZES, KERNEL_TYPES

N = 4000


@pytest.fixture(scope="module")
def draws() -> dict[str, list[dict]]:
    return {
        name: [RealESRGANDegradation(name).sample_params(np.random.default_rng(s)) for s in range(N)]
        for name in ("realesrgan", "realesrgan-stablesr")
    }


def _frac(items, pred) -> float:
    items = list(items)
    return sum(1 for i in items if pred(i)) / len(items)


def _check_kernel(k: dict, sigma: tuple, betag: tuple, betap: tuple) -> None:
    assert k["size"] in KERNEL_SIZES
    if k["type"] == "sinc":
        lo = math.pi / 3 if k["size"] < 13 else math.pi / 5
        assert lo <= k["omega_c"] <= math.pi
        return
    assert sigma[0] <= k["sigma_x"] <= sigma[1] and sigma[0] <= k["sigma_y"] <= sigma[1]
    if "iso" in k["type"] and "aniso" not in k["type"]:
        assert k["sigma_y"] == k["sigma_x"] and k["theta"] == 0.0
    else:
        assert -math.pi <= k["theta"] <= math.pi
    if k["type"].startswith("generalized"):
        assert betag[0] <= k["beta"] <= betag[1]
    if k["type"].startswith("plateau"):
        assert betap[0] <= k["beta"] <= betap[1]


def _check_resize(r: dict, lo: float, hi: float) -> None:
    assert r["mode"] in ("area", "bilinear", "bicubic")
    if r["type"] == "up":
        assert 1 <= r["factor"] <= hi
    elif r["type"] == "down":
        assert lo <= r["factor"] <= 1
    else:
        assert r["factor"] == 1.0


def _check_noise(n: dict, sigma: tuple, poisson: tuple) -> None:
    if n["type"] == "gaussian":
        assert sigma[0] <= n["sigma"] <= sigma[1]
    else:
        assert poisson[0] <= n["scale"] <= poisson[1]
    assert isinstance(n["gray"], bool) and isinstance(n["seed"], int)


def test_x4plus_frequencies(draws):
    ps = draws["realesrgan"]
    for key in ("kernel1", "kernel2"):
        assert _frac(ps, lambda p, key=key: p[key]["type"] == "sinc") == pytest.approx(0.1, abs=0.02)
        types = Counter(p[key]["type"] for p in ps if p[key]["type"] != "sinc")
        total = sum(types.values())
        for t, prob in zip(KERNEL_TYPES, (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), strict=True):
            assert types[t] / total == pytest.approx(prob, abs=0.03), t
        sizes = Counter(p[key]["size"] for p in ps)
        assert set(sizes) == set(KERNEL_SIZES)
        assert all(c / N == pytest.approx(1 / 8, abs=0.03) for c in sizes.values())
    for key, probs in (("resize1", (0.2, 0.7, 0.1)), ("resize2", (0.3, 0.4, 0.3))):
        for kind, prob in zip(("up", "down", "keep"), probs, strict=True):
            assert _frac(ps, lambda p, key=key, kind=kind: p[key]["type"] == kind) == pytest.approx(
                prob, abs=0.03
            )
        for mode in ("area", "bilinear", "bicubic"):
            assert _frac(ps, lambda p, key=key, mode=mode: p[key]["mode"] == mode) == pytest.approx(
                1 / 3, abs=0.03
            )
    for key in ("noise1", "noise2"):
        assert _frac(ps, lambda p, key=key: p[key]["type"] == "gaussian") == pytest.approx(0.5, abs=0.03)
        assert _frac(ps, lambda p, key=key: p[key]["gray"]) == pytest.approx(0.4, abs=0.03)
    assert _frac(ps, lambda p: p["blur2"]) == pytest.approx(0.8, abs=0.03)
    assert _frac(ps, lambda p: p["sinc"] is not None) == pytest.approx(0.8, abs=0.03)
    assert _frac(ps, lambda p: p["final_order"] == "resize_sinc_jpeg") == pytest.approx(0.5, abs=0.03)
    assert not any(p["no_degradation"] for p in ps)
    # generalized beta: U(lo, 1) or U(1, hi) with p = 1/2 each
    betas = [p["kernel1"]["beta"] for p in ps if p["kernel1"]["type"].startswith("generalized")]
    assert _frac(betas, lambda b: b < 1) == pytest.approx(0.5, abs=0.1)


def test_x4plus_ranges(draws):
    for p in draws["realesrgan"]:
        _check_kernel(p["kernel1"], (0.2, 3.0), (0.5, 4.0), (1.0, 2.0))
        _check_kernel(p["kernel2"], (0.2, 1.5), (0.5, 4.0), (1.0, 2.0))
        if p["sinc"] is not None:
            assert p["sinc"]["type"] == "sinc" and math.pi / 3 <= p["sinc"]["omega_c"] <= math.pi
        _check_resize(p["resize1"], 0.15, 1.5)
        _check_resize(p["resize2"], 0.3, 1.2)
        _check_noise(p["noise1"], (1, 30), (0.05, 3.0))
        _check_noise(p["noise2"], (1, 25), (0.05, 2.5))
        assert 30 <= p["jpeg1"] <= 95 and 30 <= p["jpeg2"] <= 95
    # the extremes are actually reached (the ranges are not narrower than specified)
    ps = draws["realesrgan"]
    assert min(p["jpeg1"] for p in ps) == 30 and max(p["jpeg1"] for p in ps) == 95
    downs = [p["resize1"]["factor"] for p in ps if p["resize1"]["type"] == "down"]
    assert min(downs) < 0.17 and max(downs) > 0.98


def test_stablesr_variant(draws):
    ps = draws["realesrgan-stablesr"]
    for p in ps:
        _check_kernel(p["kernel1"], (0.2, 1.5), (0.5, 2.0), (1.0, 1.5))
        _check_kernel(p["kernel2"], (0.2, 1.0), (0.5, 2.0), (1.0, 1.5))
        _check_resize(p["resize1"], 0.3, 1.5)
        _check_resize(p["resize2"], 0.6, 1.2)
        _check_noise(p["noise1"], (1, 15), (0.05, 2.0))
        _check_noise(p["noise2"], (1, 12), (0.05, 1.0))
        assert 60 <= p["jpeg1"] <= 95 and 60 <= p["jpeg2"] <= 100
    assert max(p["jpeg2"] for p in ps) == 100
    assert _frac(ps, lambda p: p["blur2"]) == pytest.approx(0.5, abs=0.03)
    assert _frac(ps, lambda p: p["no_degradation"]) == pytest.approx(0.01, abs=0.006)
    assert _frac(ps, lambda p: p["kernel1"]["type"] == "sinc") == pytest.approx(0.1, abs=0.02)


def test_params_are_json_and_seed_determined(draws):
    ps = draws["realesrgan"][:50]
    for s, p in enumerate(ps):
        assert json.loads(json.dumps(p)) == p
        assert RealESRGANDegradation("realesrgan").sample_params(s) == p  # int seed == default_rng(seed)
    assert len({json.dumps(p, sort_keys=True) for p in ps}) == 50


def test_unknown_preset():
    with pytest.raises(KeyError, match="Did you mean: realesrgan"):
        RealESRGANDegradation("realesrgan-x4")
