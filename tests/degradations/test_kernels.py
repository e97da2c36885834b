"""Blur kernels: normalisation, symmetry, rotation convention, and values from independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yonos_bench.degradations.kernels import (
    PAD_TO,
    build_kernel,
    gaussian_kernel,
    generalized_gaussian_kernel,
    kernel_grid,
    plateau_kernel,
    sigma_matrix,
    sinc_kernel,
)

SPECS = [
    {"type": "iso", "size": 13, "sigma_x": 1.7, "sigma_y": 1.7, "theta": 0.0},
    {"type": "aniso", "size": 21, "sigma_x": 2.5, "sigma_y": 0.8, "theta": 0.6},
    {"type": "generalized_iso", "size": 9, "sigma_x": 1.2, "sigma_y": 1.2, "theta": 0.0, "beta": 0.7},
    {"type": "generalized_aniso", "size": 15, "sigma_x": 0.9, "sigma_y": 2.2, "theta": -2.0, "beta": 3.1},
    {"type": "plateau_iso", "size": 11, "sigma_x": 1.4, "sigma_y": 1.4, "theta": 0.0, "beta": 1.6},
    {"type": "plateau_aniso", "size": 19, "sigma_x": 2.9, "sigma_y": 0.5, "theta": 2.5, "beta": 1.2},
    {"type": "sinc", "size": 7, "omega_c": 2.1},
    {"type": "sinc", "size": 21, "omega_c": 0.9},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s['type']}{s['size']}")
def test_kernels_normalised_padded_and_point_symmetric(spec):
    k = build_kernel(spec)
    assert k.shape == (PAD_TO, PAD_TO)
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    p = (PAD_TO - spec["size"]) // 2
    inner = np.zeros_like(k, dtype=bool)
    inner[p : PAD_TO - p, p : PAD_TO - p] = True
    assert np.all(k[~inner] == 0)  # zero padding outside the drawn size
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)  # every kernel is point-symmetric
    if spec["type"] in ("iso", "generalized_iso", "plateau_iso", "sinc"):  # isotropic: full symmetry
        np.testing.assert_allclose(k, k.T, atol=1e-15)
        np.testing.assert_allclose(k, k[::-1, :], atol=1e-15)
    else:
        assert np.abs(k - k.T).max() > 1e-4  # rotated anisotropic: not symmetric about the diagonal


@pytest.mark.parametrize(("sx", "sy", "theta"), [(2.5, 1.0, 0.6), (1.2, 2.4, -1.1), (2.0, 1.0, math.pi / 2)])
def test_aniso_gaussian_covariance_matches_analytic(sx, sy, theta):
    """The kernel as a distribution on the grid has covariance R diag(sx^2, sy^2) R^T (x = column)."""
    k = gaussian_kernel(21, sx, sy, theta)
    xx, yy = kernel_grid(21)
    cov = np.array([[(k * xx * xx).sum(), (k * xx * yy).sum()], [(k * xx * yy).sum(), (k * yy * yy).sum()]])
    c, s = math.cos(theta), math.sin(theta)
    analytic = np.array(
        [
            [c * c * sx**2 + s * s * sy**2, c * s * (sx**2 - sy**2)],
            [c * s * (sx**2 - sy**2), s * s * sx**2 + c * c * sy**2],
        ]
    )
    np.testing.assert_allclose(cov, analytic, atol=2e-3)
    np.testing.assert_allclose(sigma_matrix(sx, sy, theta), analytic, atol=1e-12)


def test_theta_zero_stretches_along_columns():
    k = gaussian_kernel(15, 3.0, 0.5, 0.0)
    c = 7
    assert k[c, c + 3] > 100 * k[c + 3, c]  # wide along x (columns), narrow along y (rows)


def test_generalized_and_plateau_follow_their_formulas():
    # beta = 1: the generalized Gaussian is the Gaussian
    np.testing.assert_allclose(
        generalized_gaussian_kernel(11, 1.3, 0.7, 0.4, 1.0), gaussian_kernel(11, 1.3, 0.7, 0.4), atol=1e-15
    )
    # isotropic, one pixel right of centre: q = 1/sigma^2
    sigma, beta = 1.5, 1.7
    g = generalized_gaussian_kernel(9, sigma, sigma, 0.0, beta)
    assert g[4, 5] / g[4, 4] == pytest.approx(math.exp(-0.5 * (1 / sigma**2) ** beta), rel=1e-12)
    p = plateau_kernel(9, sigma, sigma, 0.0, beta)
    assert p[4, 5] / p[4, 4] == pytest.approx(1 / ((1 / sigma**2) ** beta + 1), rel=1e-12)
    assert p[3, 6] / p[4, 4] == pytest.approx(1 / ((5 / sigma**2) ** beta + 1), rel=1e-12)


def _bessel_j1_integral(x: np.ndarray) -> np.ndarray:
    """J1(x) = (1/pi) int_0^pi cos(tau - x sin tau) dtau (Bessel's integral), by Simpson's rule."""
    tau = np.linspace(0, math.pi, 2001)
    vals = np.cos(tau[None, :] - x.reshape(-1, 1) * np.sin(tau)[None, :])
    w = np.ones_like(tau)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return ((vals * w).sum(axis=1) * (tau[1] - tau[0]) / 3 / math.pi).reshape(x.shape)


@pytest.mark.parametrize(("size", "omega"), [(7, math.pi / 3), (13, 2.5), (21, math.pi / 5)])
def test_sinc_matches_bessel_integral(size, omega):
    xx, yy = kernel_grid(size)
    r = np.hypot(xx, yy)
    ref = np.empty_like(r)
    nz = r > 0
    ref[nz] = omega * _bessel_j1_integral(omega * r[nz]) / (2 * math.pi * r[nz])
    ref[~nz] = omega**2 / (4 * math.pi)
    np.testing.assert_allclose(sinc_kernel(size, omega), ref / ref.sum(), atol=1e-10)


def test_bad_kernel_specs():
    with pytest.raises(ValueError, match="unknown kernel type 'box'"):
        build_kernel({"type": "box", "size": 7})
    with pytest.raises(ValueError, match="positive odd"):
        kernel_grid(8)
