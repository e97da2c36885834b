"""Weight-file registry: status, verification, fetch (offline: monkeypatched URLs only)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
import types

import pytest
import torch

from yonos_bench import catalog as C
from yonos_bench.core import weights as W
from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.metrics.presets import list_presets


def wf(tmp_path, data: bytes | None, **kw):
    """A WeightFile served from a local file:// URL (urllib's real code path, no network)."""
    src = tmp_path / "server" / "model.bin"
    if data is not None:
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(data)
    kw.setdefault("name", "test-model")
    return W.WeightFile(filename="model.bin", url=src.as_uri(), subdir="baselines", used_by=("m",), **kw)


def test_registry_lists_every_metric_file_with_its_users():
    files = {w.name: w for w in C.all_weight_files()}
    assert files["torchvision-vgg16"].used_by == ("lpips-vgg", "dists")
    assert files["cleanfid-inception"].path("/w").as_posix() == "/w/cleanfid/inception-2015-12-05.pt"
    assert files["musiq-koniq"].path("/w").as_posix() == "/w/hub/pyiqa/musiq_koniq_ckpt-e95806b9.pth"
    needed = {w.name for p in list_presets() for w in p.weights}
    assert needed == set(files) or needed < set(files)  # model cards may add more
    for w in files.values():
        # a hash prefix in the name (torch.hub convention) is what we verify against
        if w.sha256_prefix:
            assert f"-{w.sha256_prefix}." in w.filename
        if w.sha256:
            assert w.sha256_prefix is None or w.sha256.startswith(w.sha256_prefix)


def test_lpips_heads_sha256_are_the_lpips_package_files():
    import lpips

    base = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1")
    files = {w.name: w for w in C.all_weight_files()}
    for net in ("alex", "vgg"):
        assert W.sha256_of(os.path.join(base, f"{net}.pth")) == files[f"lpips-{net}-head"].sha256


def test_model_cards_join_the_registry_through_the_hook(monkeypatch):
    card = types.SimpleNamespace(
        name="realesrgan-x4",
        weights=(W.WeightFile("realesrgan", "RealESRGAN_x4plus.pth", "https://x/y.pth"),),
    )
    fake = types.ModuleType("yonos_bench.models.registry")
    fake.list_cards = lambda: [card]
    monkeypatch.setitem(sys.modules, "yonos_bench.models.registry", fake)
    files = {w.name: w for w in C.all_weight_files()}
    assert files["realesrgan"].used_by == ("realesrgan-x4",)
    assert C.get_weight_file("realesrgan").filename == "RealESRGAN_x4plus.pth"


def test_status_states_and_messages(tmp_path):
    w = wf(tmp_path, None, sha256=hashlib.sha256(b"good").hexdigest())
    assert W.check(w, tmp_path).state == "missing"
    w.path(tmp_path).parent.mkdir(parents=True)
    w.path(tmp_path).write_bytes(b"good")
    assert W.check(w, tmp_path).state == "ok"
    w.path(tmp_path).write_bytes(b"evil")
    time.sleep(0.01)
    os.utime(w.path(tmp_path), ns=(time.time_ns(), time.time_ns() + 10**9))  # new mtime: re-hashed
    st = W.check(w, tmp_path)
    assert st.state == "bad-hash" and st.actual_sha256 == hashlib.sha256(b"evil").hexdigest()
    with pytest.raises(W.WeightsHashError) as e:
        W.require([w], tmp_path)
    assert hashlib.sha256(b"evil").hexdigest() in str(e.value) and w.sha256 in str(e.value)
    assert "(published sha256)" in str(e.value)
    unpublished = wf(tmp_path, None, name="no-hash")
    assert W.check(unpublished, tmp_path).state == "unverified"
    with pytest.raises(
        YonosError, match="Unknown weight file 'lpips-alex-hed'. Did you mean: lpips-alex-head"
    ):
        C.status(["lpips-alex-hed"])


def test_missing_message_says_what_where_url_and_command(tmp_path):
    files = {w.name: w for w in C.all_weight_files()}
    with pytest.raises(WeightsMissingError) as e:
        W.require([files["musiq-koniq"]], tmp_path)
    assert str(e.value) == (
        "Missing weight file:\n"
        f"  musiq-koniq: musiq_koniq_ckpt-e95806b9.pth (looked for {tmp_path}/hub/pyiqa/musiq_koniq_ckpt-e95806b9.pth; "
        "download: https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/musiq_koniq_ckpt-e95806b9.pth)\n"
        f"On a connected machine run `yonos-bench weights fetch musiq-koniq --weights-dir {tmp_path}`, "
        "or copy the files to the paths above."
    )


def test_fetch_downloads_verifies_and_renames(tmp_path, monkeypatch):
    good = wf(tmp_path, b"weights!", sha256=hashlib.sha256(b"weights!").hexdigest())
    monkeypatch.setattr(C, "all_weight_files", lambda: [good])
    (path,) = C.fetch(["test-model"], tmp_path / "w")
    assert path == tmp_path / "w" / "baselines" / "model.bin" and path.read_bytes() == b"weights!"
    assert [p.name for p in path.parent.iterdir()] == ["model.bin"]  # no temp file left
    (tmp_path / "server" / "model.bin").unlink()  # source gone: a verified file is not re-fetched
    assert C.fetch(None, tmp_path / "w") == [path]
    path.write_bytes(b"truncat")  # a corrupt copy is replaced
    (tmp_path / "server" / "model.bin").write_bytes(b"weights!")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    C.fetch(None, tmp_path / "w")
    assert path.read_bytes() == b"weights!"


def test_fetch_refuses_a_mismatching_download_and_leaves_nothing(tmp_path, monkeypatch):
    bad = wf(tmp_path, b"tampered", sha256_prefix="deadbeef")
    monkeypatch.setattr(C, "all_weight_files", lambda: [bad])
    with pytest.raises(W.WeightsHashError) as e:
        C.fetch(["test-model"], tmp_path / "w")
    assert hashlib.sha256(b"tampered").hexdigest() in str(e.value) and "expected deadbeef" in str(e.value)
    assert list((tmp_path / "w" / "baselines").iterdir()) == []


def test_fetch_records_the_hash_of_unpublished_files_and_checks_it_later(tmp_path, monkeypatch):
    first = wf(tmp_path, b"v1")
    monkeypatch.setattr(C, "all_weight_files", lambda: [first])
    C.fetch(None, tmp_path / "w")  # default: every missing file
    assert W.check(first, tmp_path / "w").state == "ok"
    first.path(tmp_path / "w").write_bytes(b"v2 changed")
    assert W.check(first, tmp_path / "w").state == "bad-hash"


def test_fetch_fails_fast_with_a_clear_message_when_offline(tmp_path, monkeypatch):
    # port 9 on localhost: connection refused immediately, the same path as an offline machine
    unreachable = W.WeightFile("test-model", "model.bin", "http://127.0.0.1:9/model.bin", subdir="baselines")
    monkeypatch.setattr(C, "all_weight_files", lambda: [unreachable])
    t0 = time.perf_counter()
    with pytest.raises(W.WeightsFetchError) as e:
        C.fetch(["test-model"], tmp_path, timeout=5)
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    assert msg.startswith("Cannot download test-model from http://127.0.0.1:9/model.bin: ")
    assert f"copy model.bin to {tmp_path}/baselines/model.bin" in msg
    assert not (tmp_path / "baselines" / "model.bin").exists()


def test_configure_backends_points_torch_hub_and_pyiqa_at_the_weights_dir(tmp_path, monkeypatch):
    import pyiqa.utils.download_util as du

    monkeypatch.setattr(du, "DEFAULT_CACHE_DIR", du.DEFAULT_CACHE_DIR)
    W.configure_backends(tmp_path)
    assert os.environ["TORCH_HOME"] == str(tmp_path)
    assert torch.hub.get_dir() == str(tmp_path / "hub")
    assert du.DEFAULT_CACHE_DIR == str(tmp_path / "hub" / "pyiqa")


def test_pkg_resources_shim_lets_clip_import(monkeypatch):
    import importlib.util

    monkeypatch.delitem(sys.modules, "pkg_resources", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "pkg_resources" else real(n, *a)
    )
    W.ensure_pkg_resources()
    from pkg_resources import packaging  # what openai-clip does

    assert packaging.version.parse("1.10") > packaging.version.parse("1.9")
    monkeypatch.delitem(sys.modules, "pkg_resources")


def test_torch_load_weights_refuses_pickles_and_reports_corrupt_files(tmp_path):
    ok = tmp_path / "ok.pt"
    torch.save({"w": torch.ones(2)}, ok)
    assert torch.equal(W.torch_load_weights(ok)["w"], torch.ones(2))
    evil = tmp_path / "evil.pt"
    torch.save({"obj": types.SimpleNamespace(a=1)}, evil)
    with pytest.raises(YonosError, match=f"Refused to load {evil}: it needs arbitrary code to unpickle"):
        W.torch_load_weights(evil)
    (tmp_path / "trunc.pt").write_bytes(ok.read_bytes()[:20])
    with pytest.raises(YonosError, match="corrupt or truncated"):
        W.torch_load_weights(tmp_path / "trunc.pt")
    with pytest.raises(WeightsMissingError, match="Weight file not found"):
        W.torch_load_weights(tmp_path / "none.pt")


def test_bulk_fetch_skips_files_without_a_url_and_fetches_the_rest(tmp_path, monkeypatch):
    manual = W.WeightFile("a-manual", "manual.pth", None, subdir="baselines", note="Google Drive only")
    good = wf(tmp_path, b"weights!", name="b-direct")
    monkeypatch.setattr(C, "all_weight_files", lambda: [manual, good])
    logged: list[str] = []
    paths = C.fetch(None, tmp_path / "w", log=logged.append)
    assert paths == [tmp_path / "w" / "baselines" / "model.bin"]
    assert any("a-manual has no direct download URL" in m and "Google Drive only" in m for m in logged)
    with pytest.raises(W.WeightsFetchError, match="a-manual has no direct download URL; place manual.pth at"):
        C.fetch(["a-manual"], tmp_path / "w")
