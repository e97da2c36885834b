"""Weight files that are missing, truncated, tampered with, malicious or of the wrong
model: every case stops before a number is produced, with one message naming the file
(and, for hashes, both digests), and leaves no result file. A metric whose weights are
unusable is recorded as unavailable with the reason — the other metrics still run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

URL = "https://example.org/tiny_esrgan_x2.safetensors"
CARD = """\
name: tiny-esrgan
adapter: spandrel
scale: 2
steps: null
description: a tiny random ESRGAN (test)
citation: none
license: none
weights:
  - {{name: tiny-esrgan-w, file: tiny_esrgan_x2.safetensors, url: "{url}", sha256: {sha}}}
"""


def esrgan_state(scale: int) -> dict[str, torch.Tensor]:
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(scale)
    return {
        k: v.contiguous() for k, v in ESRGAN(num_filters=8, num_blocks=1, scale=scale).state_dict().items()
    }


@pytest.fixture(scope="module")
def x2_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("w") / "x2.safetensors"
    save_file(esrgan_state(2), str(path))
    return path.read_bytes()


def _run(rel, tmp_path, prepared, model, *extra):
    spec, root = prepared
    results = tmp_path / "results"
    res = rel.invoke(
        "run", spec, "-m", model, "--data-root", root, "--results", results, "--weights-dir",
        tmp_path / "weights", "--device", "cpu", "--quiet", *extra,
    )  # fmt: skip
    return res, results


def _no_results(results: Path) -> bool:
    return not list(results.rglob("result.json")) and not list(results.rglob("per_image.csv"))


def _card(tmp_path, sha: str) -> Path:
    path = tmp_path / "cards" / "tiny-esrgan.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CARD.format(url=URL, sha=sha))
    return path


def test_model_weights_missing_names_file_and_url(rel, tmp_path, prepared):
    card = _card(tmp_path, "null")
    res, results = _run(rel, tmp_path, prepared, card, "--metrics", "psnr-y")
    target = tmp_path / "weights" / "models" / "tiny_esrgan_x2.safetensors"
    out = rel.assert_fails(
        res,
        f"Missing weight file tiny_esrgan_x2.safetensors of model card {card} (looked for {target}). "
        f"Download it from {URL} to {target}.",
    )
    assert "weights fetch" not in out  # it only knows the shipped cards' files
    assert _no_results(results)


def test_shipped_card_missing_weights_give_the_fetch_command(tmp_path):
    from yonos_bench.core.errors import WeightsMissingError
    from yonos_bench.models import load_model

    with pytest.raises(WeightsMissingError) as e:
        load_model("real-esrgan-x4plus", weights_dir=tmp_path / "w", scale=4)
    msg = " ".join(str(e.value).split())
    assert f"looked for {tmp_path / 'w' / 'models'}" in msg and "download: https://" in msg
    assert f"yonos-bench weights fetch realesrgan-x4plus --weights-dir {tmp_path / 'w'}" in msg


def test_model_weights_sha256_mismatch_gives_both_hashes(rel, tmp_path, prepared, x2_bytes):
    pinned = "f" * 64
    target = tmp_path / "weights" / "models" / "tiny_esrgan_x2.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(x2_bytes)
    res, results = _run(rel, tmp_path, prepared, _card(tmp_path, pinned), "--metrics", "psnr-y")
    actual = hashlib.sha256(x2_bytes).hexdigest()
    out = rel.assert_fails(
        res,
        f"at {target} has sha256 {actual}, expected {pinned} (published sha256).",
        f"The file is corrupt, truncated or another file: Download it from {URL} to {target}.",
    )
    assert "weights fetch" not in out
    assert _no_results(results)
    # with the right pin the same file runs (the check is what stopped it)
    res, results = _run(rel, tmp_path, prepared, _card(tmp_path, actual), "--metrics", "psnr-y")
    assert res.exit_code == 0, res.output
    data = json.loads(next(results.rglob("result.json")).read_text())
    assert data["model"]["weights_digest"] == actual


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_truncated_checkpoint_is_refused(rel, tmp_path, prepared, x2_bytes, suffix):
    path = tmp_path / f"tiny_x2{suffix}"
    if suffix == ".pth":
        torch.save(esrgan_state(2), path)
        data = path.read_bytes()
    else:
        data = x2_bytes
    path.write_bytes(data[: len(data) // 2])
    res, results = _run(rel, tmp_path, prepared, path, "--metrics", "psnr-y")
    what = "Cannot read safetensors file" if suffix == ".safetensors" else "Cannot read weight file"
    rel.assert_fails(res, f"{what} {path}", "(corrupt or truncated?)")
    assert _no_results(results)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_that_would_execute_code_is_refused_unexecuted(rel, tmp_path, prepared):
    marker = tmp_path / "CODE-RAN"
    evil = tmp_path / "evil_x2.pth"
    torch.save({"params_ema": esrgan_state(2), "extra": _Payload(marker)}, evil)
    res, results = _run(rel, tmp_path, prepared, evil, "--metrics", "psnr-y")
    rel.assert_fails(res, f"Refused to load {evil}: it needs arbitrary code to unpickle")
    assert not marker.exists() and _no_results(results)


def test_metric_weights_tampered_are_never_unpickled(rel, tmp_path, prepared):
    """pyiqa unpickles its checkpoints permissively, so a file at the LPIPS path is hashed
    first: a tampered one makes lpips-alex unavailable (reason recorded in result.json,
    psnr-y still computed), or with --strict stops `metrics compute` with exit 1."""
    marker = tmp_path / "CODE-RAN"
    wdir = tmp_path / "weights"
    head = wdir / "hub" / "pyiqa" / "LPIPS_v0.1_alex-df73285e.pth"
    backbone = wdir / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    for p in (head, backbone):
        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"w": _Payload(marker)}, p)
    actual = hashlib.sha256(head.read_bytes()).hexdigest()
    res, results = _run(rel, tmp_path, prepared, "bicubic", "--metrics", "psnr-y,lpips-alex")
    assert res.exit_code == 0, res.output
    data = json.loads(next(results.rglob("result.json")).read_text())
    assert list(data["metrics"]) == ["psnr-y"]
    reason = rel.flat(data["unavailable"]["lpips-alex"])
    assert f"Weight file lpips-alex-head at {head} has sha256 {actual}, expected df73285e" in reason
    per_image = (next(results.rglob("per_image.csv"))).read_text().splitlines()[0]
    assert per_image == "id,source,seed,sr_sha256,psnr-y"  # no empty lpips column posing as data

    spec, root = prepared
    hr = root / "prepared" / "outs-v1" / "hr"
    res = rel.invoke("metrics", "compute", "--sr", hr, "--hr", hr, "--metrics", "psnr-y,lpips-alex",
                     "--weights-dir", wdir, "--strict", "--out", tmp_path / "m.csv")  # fmt: skip
    rel.assert_fails(res, "Metric lpips-alex cannot run (strict mode)", str(head), actual)
    assert not marker.exists() and not (tmp_path / "m.csv").exists()


def test_metric_weights_missing_are_reported_not_averaged(rel, tmp_path, prepared):
    res, results = _run(rel, tmp_path, prepared, "bicubic", "--metrics", "psnr-y,lpips-alex")
    assert res.exit_code == 0, res.output
    data = json.loads(next(results.rglob("result.json")).read_text())
    assert "lpips-alex" not in data["metrics"] and data["metrics"]["psnr-y"]["n"] == 2
    reason = rel.flat(data["unavailable"]["lpips-alex"])
    assert "Missing weight files: lpips-alex-head: LPIPS_v0.1_alex-df73285e.pth" in reason
    assert "yonos-bench weights fetch lpips-alex-head torchvision-alexnet" in reason


def test_checkpoint_of_the_wrong_architecture_or_scale(rel, tmp_path, prepared):
    mystery = tmp_path / "mystery.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 3), "decoder.bias": torch.zeros(4)}, str(mystery))
    res, results = _run(rel, tmp_path, prepared, mystery, "--metrics", "psnr-y")
    rel.assert_fails(res, f"spandrel cannot identify the architecture of {mystery}")

    x4 = tmp_path / "tiny_x4.safetensors"
    save_file(esrgan_state(4), str(x4))
    res, results = _run(rel, tmp_path, prepared, x4, "--metrics", "psnr-y")
    rel.assert_fails(res, "Model 'tiny-x4' upscales x4 but the caller needs x2")

    target = tmp_path / "weights" / "models" / "tiny_esrgan_x2.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(x4.read_bytes())  # the card says x2, the file is x4
    res, results = _run(rel, tmp_path, prepared, _card(tmp_path, "null"), "--metrics", "psnr-y")
    rel.assert_fails(res, f"Model card 'tiny-esrgan' declares x2 but {target} is a x4 ESRGAN model")
    assert _no_results(results)


def test_yonos_pipeline_of_the_wrong_scale(rel, tmp_path, prepared):
    from yonos_train.presets import build_pipeline

    x4 = tmp_path / "yonos-x4"
    build_pipeline("tiny", scale=4, seed=0).save_pretrained(x4)
    res, results = _run(rel, tmp_path, prepared, x4, "--metrics", "psnr-y")
    rel.assert_fails(res, "Model 'yonos-x4' upscales x4 but the caller needs x2")
    assert _no_results(results)
