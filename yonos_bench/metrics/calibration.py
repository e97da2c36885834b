"""pyiqa's golden calibration set: 5 TID2013 reference/distorted pairs (512×384 BMP) with the
official scores of each metric's original (mostly MATLAB) implementation.

The files ship in pyiqa's source archive (``ResultsCalibra/``); they are extracted from it
into ``<weights_dir>/calibration/pyiqa-<version>/`` by ``yonos-bench weights fetch
pyiqa-calibration`` (pip downloads the archive once; sha256 of the archive and of every file
pinned here). :func:`score_official` and :func:`read_official` are what
tests/metrics/test_calibration.py and docs/CALIBRATION.md use: pyiqa's own method.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from yonos_bench.core.package_assets import PackageSource
from yonos_bench.core.paths import weights_dir as _resolve_weights_dir
from yonos_bench.core.weights import WeightFile

PYIQA_SDIST_VERSION = "0.1.16"
_ARCHIVE_SHA256 = "80fb913302585a774875c224b4f95068ac17bebd88f735876e6f0c3bb0988d34"
_ROOT = f"calibration/pyiqa-{PYIQA_SDIST_VERSION}/ResultsCalibra"
IMAGES = ("I03", "I04", "I06", "I08", "I19")

_FILES = {  # path under ResultsCalibra/ -> sha256
    "ref_dir/I03.bmp": "28441215ca5b6358e6267717250a02eeec4fa5ef73ae454870b8426320f980a8",
    "ref_dir/I04.bmp": "c8500941a30397bc9e613a297e1286bdb955f49926148f58e7963d6e82b03c9f",
    "ref_dir/I06.bmp": "445c2c0fcb47898e9cd8e6de640f2545621d27cbb248c69ef2c84d8204723061",
    "ref_dir/I08.bmp": "b5d6738ece811f45f43c5bce425ad5d18d5c78466989001fe1129fcdd08efdab",
    "ref_dir/I19.bmp": "b8a2ede827d8db21c45f9ca1fb1c043bcec571b5a7243b4ea1aab3fb4feb7e0b",
    "dist_dir/I03.bmp": "bb817e7fef614dcc12b3a99af33ce3d201bc4d56c4827254c0bcc4fa6ea11151",
    "dist_dir/I04.bmp": "f3d685983aacd76b2c131579ea60cee345205a1169a4bd2ff5f3039ecf81729e",
    "dist_dir/I06.bmp": "726e043e99d8e07235c2535107d4bb6fc85bad0cb3cc7d6ba3ecf3364ac97539",
    "dist_dir/I08.bmp": "8ad39042d7e17d6c96ecfd8c4b9f0e98c803b303a92d368ef57bc9c3c40f5330",
    "dist_dir/I19.bmp": "e0c6000652d270d1c39b7094761d01e14695fc5aa7cb76b945be6391327ee886",
    "results_official.csv": "92bea67a2009ce565c81d43f7d66bf39b73ecf43d3f8d91cf0d6f82ba8616b02",
    "calibration_summary.csv": "ed0a95cf5ad67dbfa4fac7c6c8a3b6320319d87cbb1119e03859d9bff93194ba",
}


#: metric preset -> (official method in results_official.csv, per-image tolerance).
TOLERANCE = {
    # official values are printed with 2 decimals: half a unit of the last digit
    "psnr-rgb": ("psnr", 0.005),
}
#: MATLAB NIQE (original release) vs pyiqa's port with the same pristine model: the gap of
#: pyiqa's own implementation (its calibration_summary.csv: up to 0.44 on I19) plus margin.
NIQE_VS_MATLAB = 0.5
#: vs pyiqa's own result for the same images (its calibration_summary.csv, 4 decimals, from
#: its own machine): the only difference in the path is where the pristine model is read from.
NIQE_VS_PYIQA = 0.005
#: pyiqa's default `ssim` (the official convention) through our backend builder vs official:
#: pyiqa's own calibration reaches 4e-4 (0.6997 vs 0.6993 on I03).
SSIM_OFFICIAL_CONVENTION = 5e-4


def _file(rel: str, sha: str) -> WeightFile:
    folder, _, name = rel.rpartition("/")
    tag = (folder.replace("_dir", "") + "-" if folder else "") + name.rsplit(".", 1)[0].replace("_", "-")
    return WeightFile(
        f"pyiqa-calibration-{tag.lower()}",
        name,
        "",
        sha,
        f"{_ROOT}/{folder}".rstrip("/"),
        package=PackageSource(
            "sdist",
            f"pyiqa=={PYIQA_SDIST_VERSION}",
            f"pyiqa-{PYIQA_SDIST_VERSION}/ResultsCalibra/{rel}",
            archive_sha256=_ARCHIVE_SHA256,
        ),
        note="pyiqa calibration set (TID2013 images; pyiqa sdist, PolyForm-Noncommercial-1.0.0)",
    )


CALIBRATION_FILES: tuple[WeightFile, ...] = tuple(_file(r, h) for r, h in _FILES.items())


def calibration_dir(weights_dir: str | os.PathLike | None = None) -> Path:
    """The extracted ``ResultsCalibra`` folder (``ref_dir/``, ``dist_dir/``, the CSVs)."""
    return _resolve_weights_dir(weights_dir) / _ROOT


def read_official(weights_dir: str | os.PathLike | None = None, file: str = "results_official.csv"):
    """{method: {image: value}} from pyiqa's ``results_official.csv`` (or ``calibration_summary.csv``)."""
    out: dict[str, dict[str, float]] = {}
    with open(calibration_dir(weights_dir) / file, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.rsplit(".", 1)[0] for h in rows[0][1:]]
    for row in rows[1:]:
        if row:
            out[row[0]] = {img: float(v) for img, v in zip(header, row[1:], strict=True)}
    return out


def score_official(metric_ids, weights_dir: str | os.PathLike | None = None, **options):
    """Score the 5 distorted images against their references with our presets (one
    :func:`yonos_bench.metrics.engine.evaluate` pass); returns the Evaluation."""
    from yonos_bench.metrics.engine import evaluate

    root = calibration_dir(weights_dir)
    sr = [root / "dist_dir" / f"{i}.bmp" for i in IMAGES]
    hr = [root / "ref_dir" / f"{i}.bmp" for i in IMAGES]
    return evaluate(sr, hr, list(metric_ids), weights_dir=weights_dir, pair_ids=list(IMAGES), **options)
