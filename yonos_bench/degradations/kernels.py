"""Blur kernels of the Real-ESRGAN degradation (Wang et al. 2021, Sec. 3.2), from the formulas.

All kernels live on the integer grid ``-(k//2) .. k//2`` (``k`` odd), are normalised to sum
to one and are zero-padded to ``PAD_TO x PAD_TO`` (21) so that a batch can share one shape.
With ``M = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T`` and ``q(c) = c^T M^-1 c`` for the
grid coordinate ``c = (x, y)`` (x along columns, y along rows):

* Gaussian (iso: ``sigma_y = sigma_x``, ``theta = 0``; aniso):  ``exp(-q / 2)``
* generalized Gaussian:  ``exp(-(q^beta) / 2)``   (as Real-ESRGAN: ``q`` itself is raised to beta)
* plateau:  ``1 / (q^beta + 1)``
* sinc (circular low-pass, cutoff ``omega_c``):  ``omega_c J1(omega_c r) / (2 pi r)`` with the
  limit ``omega_c^2 / (4 pi)`` at ``r = 0``; ``J1`` is scipy's Bessel function of the first kind.

``sample_blur_kernel`` draws kernel parameters as Real-ESRGAN's dataset does; every draw
comes from the caller's ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

PAD_TO = 21
KERNEL_SIZES = tuple(range(7, 22, 2))  # Real-ESRGAN: kernel size uniform over {7, 9, ..., 21}
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def kernel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(xx, yy) integer offsets from the centre of an odd ``size x size`` kernel."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")
    ax = np.arange(size, dtype=np.float64) - size // 2
    return np.meshgrid(ax, ax, indexing="xy")


def sigma_matrix(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Covariance ``R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T``."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    xx, yy = kernel_grid(size)
    inv = np.linalg.inv(sigma_matrix(sigma_x, sigma_y, theta))
    return inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    k = np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta))
    return k / k.sum()


def generalized_gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float, theta: float, beta: float
) -> np.ndarray:
    k = np.exp(-0.5 * np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta))
    return k / k.sum()


def plateau_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    k = 1.0 / (np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta) + 1.0)
    return k / k.sum()


def sinc_kernel(size: int, omega_c: float) -> np.ndarray:
    """Circular low-pass (2-D sinc) kernel with cutoff ``omega_c`` (radians/pixel)."""
    xx, yy = kernel_grid(size)
    r = np.hypot(xx, yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * special.j1(omega_c * r) / (2.0 * np.pi * r)
    k[size // 2, size // 2] = omega_c**2 / (4.0 * np.pi)  # lim_{r->0} of the expression
    return k / k.sum()


def pad_kernel(kernel: np.ndarray, size: int = PAD_TO) -> np.ndarray:
    p = (size - kernel.shape[0]) // 2
    if p < 0:
        raise ValueError(f"kernel of size {kernel.shape[0]} is larger than {size}")
    return np.pad(kernel, ((p, p), (p, p)))


def pulse_kernel(size: int = PAD_TO) -> np.ndarray:
    """Identity kernel (Real-ESRGAN's ``pulse_tensor``: no final sinc)."""
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def build_kernel(spec: dict | None) -> np.ndarray:
    """The padded ``PAD_TO x PAD_TO`` float64 kernel described by a sampled ``spec`` (None: pulse)."""
    if spec is None:
        return pulse_kernel()
    t, size = spec["type"], int(spec["size"])
    if t == "sinc":
        k = sinc_kernel(size, spec["omega_c"])
    elif t in ("iso", "aniso"):
        k = gaussian_kernel(size, spec["sigma_x"], spec["sigma_y"], spec["theta"])
    elif t in ("generalized_iso", "generalized_aniso"):
        k = generalized_gaussian_kernel(size, spec["sigma_x"], spec["sigma_y"], spec["theta"], spec["beta"])
    elif t in ("plateau_iso", "plateau_aniso"):
        k = plateau_kernel(size, spec["sigma_x"], spec["sigma_y"], spec["theta"], spec["beta"])
    else:
        raise ValueError(f"unknown kernel type {t!r}; expected one of {', '.join(KERNEL_TYPES + ('sinc',))}")
    return pad_kernel(k)


@dataclass(frozen=True)
class KernelConfig:
    """Parameters of one random blur (Real-ESRGAN's ``kernel_prob``, ``blur_sigma``, ...)."""

    kernel_prob: tuple[float, ...]  # probabilities of KERNEL_TYPES
    sinc_prob: float
    sigma: tuple[float, float]
    betag: tuple[float, float]  # generalized Gaussian beta range
    betap: tuple[float, float]  # plateau beta range


def _beta(rng: np.random.Generator, lo: float, hi: float) -> float:
    # Real-ESRGAN: beta ~ U(lo, 1) or U(1, hi), with probability 1/2 each
    return float(rng.uniform(lo, 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, hi))


def sample_blur_kernel(rng: np.random.Generator, cfg: KernelConfig) -> dict:
    """Draw one blur kernel spec: size, then sinc (p=sinc_prob) or a mixed Gaussian-family kernel."""
    size = int(rng.choice(KERNEL_SIZES))
    if rng.uniform() < cfg.sinc_prob:
        # Real-ESRGAN: a wider cutoff range for larger kernels
        lo = math.pi / 3 if size < 13 else math.pi / 5
        return {"type": "sinc", "size": size, "omega_c": float(rng.uniform(lo, math.pi))}
    t = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=np.asarray(cfg.kernel_prob)))]
    sigma_x = float(rng.uniform(*cfg.sigma))
    if t.endswith("_iso") or t == "iso":
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y, theta = float(rng.uniform(*cfg.sigma)), float(rng.uniform(-math.pi, math.pi))
    spec = {"type": t, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}
    if t.startswith("generalized"):
        spec["beta"] = _beta(rng, *cfg.betag)
    elif t.startswith("plateau"):
        spec["beta"] = _beta(rng, *cfg.betap)
    return spec


def sample_final_sinc(rng: np.random.Generator, prob: float) -> dict | None:
    """Final sinc filter with probability ``prob`` (cutoff U(pi/3, pi)); None means no filter."""
    if rng.uniform() >= prob:
        return None
    size = int(rng.choice(KERNEL_SIZES))
    return {"type": "sinc", "size": size, "omega_c": float(rng.uniform(math.pi / 3, math.pi))}
