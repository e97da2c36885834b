"""How numbers are printed, in tables and in run summaries alike."""

from __future__ import annotations


def format_value(x: float | None) -> str:
    """Table 1's precision: 4 decimals below 1 (LPIPS, SSIM), else 2 (PSNR, FID, MUSIQ)."""
    if x is None:
        return "–"
    return f"{x:.4f}" if abs(x) < 1 else f"{x:.2f}"


def format_seconds(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3g}"
