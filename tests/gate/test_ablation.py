"""The Table-3 ablation against hand-computed values on synthetic result files."""

from __future__ import annotations

import numpy as np
import pytest

from yonos_bench.core.errors import YonosError
from yonos_bench.report import ablation as abl

from .conftest import write_synthetic_result

MODELS = {
    ("direct", "original"): "a-do",
    ("direct", "fine-tuned"): "a-dft",
    ("distilled", "original"): "a-so",
    ("distilled", "fine-tuned"): "a-sft",
}


def _write_four(root, n=40):
    rng = np.random.default_rng(0)
    base = rng.normal(20, 1, n)
    # Known structure: distillation +1.0 dB with the original decoder, fine-tuning +0.5 (direct)
    # and +1.5 (distilled) dB -> interaction +1.0; LPIPS (lower is better) moves the other way.
    psnr = {
        "a-do": base,
        "a-dft": base + 0.5 + rng.normal(0, 0.01, n),
        "a-so": base + 1.0 + rng.normal(0, 0.01, n),
        "a-sft": base + 2.5 + rng.normal(0, 0.01, n),
    }
    lp = {m: 0.5 - 0.01 * (v - base) for m, v in psnr.items()}
    sources = [f"img{i % 4}" for i in range(n)]
    for m in MODELS.values():
        write_synthetic_result(root, model=m, values={"psnr-y": list(psnr[m]), "lpips-alex": list(lp[m])},
                               sources=sources)  # fmt: skip
    return psnr, lp


def test_ablation_equals_hand_computed_differences(tmp_path):
    psnr, lp = _write_four(tmp_path)
    a = abl.build_ablation(tmp_path, MODELS, protocol="sample", steps=1)
    by = {m.metric: m for m in a.metrics}
    p = by["psnr-y"]
    assert p.n == 40 and not p.lower_better
    assert p.cells[("direct", "original")].mean == pytest.approx(np.mean(psnr["a-do"]), abs=1e-12)
    for d, (hi, lo) in {"original": ("a-so", "a-do"), "fine-tuned": ("a-sft", "a-dft")}.items():
        g = p.distill_gain[d]
        assert g.mean == pytest.approx(np.mean(psnr[hi] - psnr[lo]), abs=1e-12)
        assert g.lo <= g.mean <= g.hi and g.significant
    assert p.decoder_gain["direct"].mean == pytest.approx(np.mean(psnr["a-dft"] - psnr["a-do"]), abs=1e-12)
    want = np.mean((psnr["a-sft"] - psnr["a-so"]) - (psnr["a-dft"] - psnr["a-do"]))
    assert p.interaction.mean == pytest.approx(want, abs=1e-12) and want == pytest.approx(1.0, abs=0.02)
    assert p.interaction.significant
    assert p.source_wins["original"] == (4, 4)
    # Lower-is-better: cells keep their own sign, gains are signed so that + is better.
    q = by["lpips-alex"]
    assert q.lower_better and q.cells[("direct", "original")].mean == pytest.approx(0.5)
    assert q.distill_gain["original"].mean == pytest.approx(np.mean(lp["a-do"] - lp["a-so"]), abs=1e-12)
    assert q.distill_gain["original"].mean > 0 and q.interaction.mean > 0
    text = abl.to_markdown(a)
    assert "| psnr-y ↑ | original |" in text and "interaction +0.995" in text and "(4/4 images)" in text
    d = abl.to_dict(a)
    assert d["metrics"]["psnr-y"]["interaction"]["significant"] is True


def test_no_difference_is_not_significant(tmp_path):
    rng = np.random.default_rng(1)
    vals = rng.normal(20, 1, 30)
    for m in MODELS.values():
        write_synthetic_result(tmp_path, model=m, values={"psnr-y": list(vals + rng.normal(0, 0.5, 30))},
                               sources=["x"] * 30)  # fmt: skip
    p = abl.build_ablation(tmp_path, MODELS).metrics[0]
    assert p.distill_gain["original"].lo < 0 < p.distill_gain["original"].hi
    assert not p.distill_gain["original"].significant


def test_missing_cell_names_the_command(tmp_path):
    _write_four(tmp_path)
    with pytest.raises(
        YonosError,
        match=r"No result on sample at 4 step\(s\), seed 0, fp32 for: a-do, a-dft, a-so, a-sft\. "
        r"Run `yonos-bench run sample --steps 4 --model a-do --model a-dft",
    ):
        abl.build_ablation(tmp_path, MODELS, steps=4)
    with pytest.raises(ValueError, match="models: missing cells"):
        abl.build_ablation(tmp_path, {("direct", "original"): "a-do"})


def test_table_steps_filter_keeps_only_those_cells(tmp_path):
    from yonos_bench.report.tables import build_table

    src = ["a"] * 3
    write_synthetic_result(
        tmp_path, model="bic", values={"psnr-y": [20.0, 21.0, 22.0]}, sources=src, steps=None
    )
    for s, v in ((1, 19.0), (4, 25.0)):
        write_synthetic_result(
            tmp_path, model="m", values={"psnr-y": [v, v + 1, v + 2]}, sources=src, steps=s
        )
    full = build_table(tmp_path)
    assert [c.label for c in full.columns] == ["bic", "m (1 step)", "m (4 steps)"]
    t = build_table(tmp_path, steps=(None, 1))
    assert [(c.model, c.steps, c.label) for c in t.columns] == [("bic", None, "bic"), ("m", 1, "m")]
    assert [v.rank for v in t.rows[0].values] == [1, 2]  # ranked without the 4-step cell (25 dB)
    with pytest.raises(YonosError, match=r"No results with steps in \[8\]"):
        build_table(tmp_path, steps=(8,))
