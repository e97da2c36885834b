"""Done-when check: outputs produced outside the project are evaluated through the `folder`
adapter on the `sample` pairs, by the real benchmark loop."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from yonos_bench.core.imageio import read_rgb8

# "Another codebase": a plain Pillow script, run as its own process, that writes <id>.png.
OTHER_CODEBASE = """
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
for pair_id in sys.argv[3:]:
    im = Image.open(f"{src}/{pair_id}.png")
    im.resize((im.width * 4, im.height * 4), Image.BICUBIC).save(f"{dst}/{pair_id}.png")
"""


def _psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR on BT.601 Y (16-235), float, no crop — written from the formula."""
    w = np.array([65.481, 128.553, 24.966])
    ya = (16.0 + (a.astype(np.float64) / 255.0) @ w) / 255.0
    yb = (16.0 + (b.astype(np.float64) / 255.0) @ w) / 255.0
    mse = np.mean((ya - yb) ** 2)
    return float(10 * np.log10(1.0 / (mse + 1e-8)))


def test_outputs_made_elsewhere_are_evaluated_on_the_sample_pairs(tmp_path, monkeypatch):
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_protocol
    from yonos_bench.runs.runner import RunOptions, run_benchmark

    data = tmp_path / "data"
    prepared = prepare(load_protocol("sample"), data, progress=False)
    pairs = prepared.pairs[:5]
    out = tmp_path / "seesr-outputs"
    out.mkdir()
    ids = [p.id for p in pairs]
    subprocess.run(
        [sys.executable, "-c", OTHER_CODEBASE, str(prepared.path / "lr"), str(out), *ids], check=True
    )
    monkeypatch.setenv("YONOS_OUTPUTS_SEESR", str(out))

    opts = RunOptions(
        metrics=("psnr-y",),
        data_root=data,
        results_root=tmp_path / "results",
        limit=5,
        progress=False,
        device="cpu",
    )
    [outcome] = run_benchmark("sample", ["seesr"], options=opts)

    res = outcome.result
    assert res["model"]["name"] == "seesr" and res["metrics"]["psnr-y"]["n"] == 5
    want = np.mean([_psnr_y(read_rgb8(out / f"{p.id}.png"), read_rgb8(p.hr_path)) for p in pairs])
    assert abs(res["metrics"]["psnr-y"]["mean"] - want) < 1e-3
    for p in pairs:  # the cell's SR images are exactly the files produced elsewhere
        assert np.array_equal(
            read_rgb8(outcome.folder / "sr" / f"{p.id}.png"), read_rgb8(out / f"{p.id}.png")
        )
