"""With real weights (a connected machine: `yonos-bench weights fetch --weights-dir D`, then
`YONOS_TEST_WEIGHTS=D pytest -m slow tests/metrics`), the presets built by the engine give
what pyiqa gives when called directly with its own defaults for the same metric. Skipped
here (no weights can be downloaded on this machine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yonos_bench.core.weights import check
from yonos_bench.metrics.presets import get_preset

WEIGHTS = os.environ.get("YONOS_TEST_WEIGHTS")
CASES = [
    ("lpips-alex", "lpips"),
    ("lpips-vgg", "lpips-vgg"),
    ("dists", "dists"),
    ("musiq-koniq", "musiq"),
    ("clipiqa", "clipiqa"),
    ("maniqa-koniq", "maniqa"),
    ("maniqa-pipal", "maniqa-pipal"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("metric_id", "pyiqa_name"), CASES)
def test_preset_equals_pyiqa_default_metric(metric_id, pyiqa_name, tmp_path, make_pairs):
    if not WEIGHTS:
        pytest.skip(
            "real weights needed: set YONOS_TEST_WEIGHTS to a folder filled by `yonos-bench weights fetch`"
        )
    preset = get_preset(metric_id)
    missing = [w.filename for w in preset.weights if check(w, Path(WEIGHTS)).state != "ok"]
    if missing:
        pytest.skip(f"{metric_id}: weights missing or unverified in {WEIGHTS}: {', '.join(missing)}")
    from yonos_bench.core.weights import configure_backends
    from yonos_bench.metrics.engine import evaluate

    sr, hr = make_pairs(tmp_path, n=3, size=224)
    ev = evaluate(sr, hr, [metric_id], weights_dir=WEIGHTS, n_boot=20, strict=True)
    configure_backends(WEIGHTS)
    import pyiqa

    direct = pyiqa.create_metric(pyiqa_name, device="cpu")
    for i, (s, h) in enumerate(zip(sr, hr, strict=True)):
        ref = direct(str(s), str(h)) if preset.kind == "fr" else direct(str(s))
        assert ev.per_image[metric_id][i] == pytest.approx(ref.item(), rel=1e-4, abs=1e-5)
