"""The one-pass engine gives what each backend gives when called on its own, whatever the
batching or sharding; missing weights and bad inputs produce the documented messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from cleanfid.fid import compute_fid, get_folder_features, kernel_distance

from yonos_bench.core.errors import ImageError, WeightsMissingError
from yonos_bench.core.imageio import read_rgb8, to_tensor, write_png
from yonos_bench.metrics.engine import evaluate, score_pairs
from yonos_bench.metrics.features import FeatureCache
from yonos_bench.metrics.presets import MUSIQ_KONIQ


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, make_pairs):
    root = tmp_path_factory.mktemp("engine")
    sr, hr = make_pairs(root, n=8, size=64)
    return root, sr, hr


class CountingExtractor(torch.nn.Module):
    """A tiny random feature extractor with clean-fid's custom_feat_extractor signature
    ((B,3,299,299) in [0,255] -> (B,D)); counts the images it saw."""

    extractor_id = "tiny-random"

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        g = x / 255.0  # per-image statistics: independent of the batch composition
        return torch.cat([g.mean((2, 3)), g.std((2, 3))], 1) * 10.0


def lpips_random():
    import lpips

    torch.manual_seed(0)
    return lpips.LPIPS(pnet_rand=True, pretrained=False, verbose=False).eval()


def test_one_pass_equals_each_backend_called_on_its_own(pairs):
    import pyiqa

    root, sr, hr = pairs
    net = lpips_random()
    ext = CountingExtractor()
    ev = evaluate(
        sr,
        hr,
        ["psnr-y", "ssim-y", "lpips-alex", "fid-clean", "kid-clean"],
        batch_size=3,
        backends={"lpips-alex": lambda s, h: net(s, h, normalize=True).reshape(-1)},
        feature_extractor=ext,
        feature_cache=FeatureCache(root / "features", "k1", sr_file=root / "features" / "sr.npz"),
        n_boot=100,
    )
    assert ev.unavailable == {}
    psnr = pyiqa.create_metric("psnr", test_y_channel=True, color_space="ycbcr", device="cpu")
    ssim = pyiqa.create_metric("ssim", test_y_channel=True, color_space="ycbcr", device="cpu")
    for i, (s, h) in enumerate(zip(sr, hr, strict=True)):
        # pyiqa reads the files itself here: our decoding must agree with its own
        assert ev.per_image["psnr-y"][i] == pytest.approx(psnr(str(s), str(h)).item(), abs=1e-5)
        assert ev.per_image["ssim-y"][i] == pytest.approx(ssim(str(s), str(h)).item(), abs=1e-6)
        with torch.no_grad():
            one = net(to_tensor(read_rgb8(s))[None], to_tensor(read_rgb8(h))[None], normalize=True)
        assert ev.per_image["lpips-alex"][i] == pytest.approx(one.item(), abs=1e-5)
    # FID: clean-fid's own folder pipeline (its decoding, its clean resize) with the same extractor
    ref = compute_fid(
        str(root / "sr"),
        str(root / "hr"),
        mode="clean",
        custom_feat_extractor=ext,
        num_workers=0,
        device=torch.device("cpu"),
        verbose=False,
        batch_size=4,
    )
    assert ref > 0.01 and ev.summary["fid-clean"].mean == pytest.approx(ref, rel=1e-5)
    assert "unreliable: 8 < 1000 images" in ev.summary["fid-clean"].note
    f_sr = get_folder_features(
        str(root / "sr"), ext, num_workers=0, device=torch.device("cpu"), verbose=False
    )
    f_hr = get_folder_features(
        str(root / "hr"), ext, num_workers=0, device=torch.device("cpu"), verbose=False
    )
    with np.load(ev.feature_files["sr"]) as z:  # our clean-mode preprocessing == clean-fid's
        order = np.argsort([p.name for p in sr])  # clean-fid sorts the folder by name
        assert np.allclose(z["feats"][order], f_sr, atol=1e-5)
    np.random.seed(0)
    assert ev.summary["kid-clean"].mean == pytest.approx(kernel_distance(f_sr, f_hr), rel=1e-5)
    assert {"pyiqa", "clean-fid", "torch"} <= set(ev.backend_versions)
    assert ev.preset_args["psnr-y"] == {
        "metric_name": "psnr",
        "test_y_channel": True,
        "color_space": "ycbcr",
        "crop_border": 0,
        "eps": 1e-8,
    }


def test_musiq_random_init_through_pyiqa_matches_direct_calls(pairs):
    import pyiqa

    _, sr, _ = pairs
    torch.manual_seed(0)
    musiq = pyiqa.create_metric("musiq", pretrained=False, device="cpu")
    ev = evaluate(
        sr[:2],
        None,
        ["musiq-koniq", "psnr-y"],
        backends={"musiq-koniq": lambda s, h: musiq(s)},
        batch_size=2,
        n_boot=50,
    )
    assert ev.unavailable == {"psnr-y": "psnr-y needs HR reference images; none were given."}
    for i, s in enumerate(sr[:2]):
        assert ev.per_image["musiq-koniq"][i] == pytest.approx(musiq(str(s)).item(), abs=1e-4)


def test_sharded_passes_merge_to_the_single_pass_result(pairs):
    _, sr, hr = pairs
    kw = dict(
        backends={"lpips-alex": (lambda n: lambda s, h: n(s, h, normalize=True).reshape(-1))(lpips_random())},
        feature_extractor=CountingExtractor(),
        n_boot=100,
        batch_size=2,
    )
    ids = ["psnr-y", "lpips-alex", "fid-clean"]
    whole = evaluate(sr, hr, ids, **kw)
    shard1 = score_pairs(sr, hr, ids, shard=(1, 2), **kw)
    shard0 = score_pairs(sr, hr, ids, shard=(0, 2), **kw)
    shard1.merge(shard0)
    merged = shard1.compute()
    # PSNR is computed image by image: bit-equal. LPIPS runs a conv net on batches, and the shards'
    # batches hold other pairs, so CPU kernels may round differently (seen: 1e-11 under load with
    # 2 threads, 2e-7 with 1 thread: float32 convolutions pick other kernels per batch shape).
    assert merged.per_image["psnr-y"] == whole.per_image["psnr-y"]
    assert merged.per_image["lpips-alex"] == pytest.approx(whole.per_image["lpips-alex"], rel=1e-5, abs=1e-9)
    m, w = merged.to_dict()["summary"], whole.to_dict()["summary"]  # (NaN-free form)
    assert m.keys() == w.keys()
    for metric in m:
        for key, value in w[metric].items():
            if isinstance(value, float):
                tol = 1e-5 if metric == "lpips-alex" else 1e-9  # see above: float32 conv batches
                assert m[metric][key] == pytest.approx(value, rel=tol, abs=tol * 1e-3), (metric, key)
            else:
                assert m[metric][key] == value, (metric, key)
    with pytest.raises(Exception, match="4 of 8 pairs were scored"):
        score_pairs(sr, hr, ids, shard=(0, 2), **kw).compute()


def test_batching_and_mixed_sizes_do_not_change_values(pairs, tmp_path):
    _, sr, hr = pairs
    big = np.tile(read_rgb8(hr[0]), (2, 1, 1))  # a 128x64 pair among 64x64 ones
    write_png(tmp_path / "big_sr.png", np.ascontiguousarray(big[:, ::-1]))
    write_png(tmp_path / "big_hr.png", big)
    srs, hrs = [*sr[:3], tmp_path / "big_sr.png", *sr[3:5]], [*hr[:3], tmp_path / "big_hr.png", *hr[3:5]]
    a = evaluate(srs, hrs, ["psnr-y", "ssim-y"], batch_size=1, n_boot=20)
    b = evaluate(srs, hrs, ["psnr-y", "ssim-y"], batch_size=4, n_boot=20)
    assert a.per_image == b.per_image
    assert a.pair_ids[3] == "big_sr"


def test_hr_features_are_cached_per_key_and_sr_features_per_cell(pairs, tmp_path):
    _, sr, hr = pairs
    ext = CountingExtractor()
    cache = FeatureCache(tmp_path / "features", "digest123", sr_file=tmp_path / "cell" / "sr_features.npz")
    first = evaluate(sr, hr, ["fid-clean"], feature_extractor=ext, feature_cache=cache)
    assert ext.seen == 16
    assert (tmp_path / "features" / "hr-tiny-random-digest123.npz").is_file()
    assert (tmp_path / "cell" / "sr_features.npz").is_file()
    ext.seen = 0
    missing_hr = [tmp_path / "nowhere" / p.name for p in hr]  # cached: HR is not even decoded
    second = evaluate(
        sr,
        missing_hr,
        ["fid-clean"],
        feature_extractor=ext,
        feature_cache=cache,
        pair_ids=[p.stem for p in sr],
    )
    assert ext.seen == 8
    assert second.summary["fid-clean"].mean == first.summary["fid-clean"].mean
    other = FeatureCache(tmp_path / "features", "otherdigest")
    ext.seen = 0
    evaluate(sr, hr, ["fid-clean"], feature_extractor=ext, feature_cache=other)
    assert ext.seen == 16  # another protocol instance: HR recomputed


def test_missing_weights_make_a_metric_unavailable_and_the_others_still_run(pairs, tmp_path):
    _, sr, hr = pairs
    ev = evaluate(sr[:2], hr[:2], ["psnr-y", "lpips-alex", "musiq-koniq"], weights_dir=tmp_path, n_boot=20)
    assert set(ev.summary) == {"psnr-y"} and len(ev.per_image["psnr-y"]) == 2
    msg = ev.unavailable["lpips-alex"]
    assert "LPIPS_v0.1_alex-df73285e.pth" in msg and "alexnet-owt-7be5be79.pth" in msg
    assert str(tmp_path / "hub" / "pyiqa" / "LPIPS_v0.1_alex-df73285e.pth") in msg
    assert "yonos-bench weights fetch lpips-alex-head torchvision-alexnet" in msg
    assert "musiq_koniq_ckpt-e95806b9.pth" in ev.unavailable["musiq-koniq"]
    with pytest.raises(WeightsMissingError, match="Metric lpips-alex cannot run \\(strict mode\\)"):
        evaluate(sr[:2], hr[:2], ["psnr-y", "lpips-alex"], weights_dir=tmp_path, strict=True)


def test_a_corrupt_weight_file_is_refused_with_both_hashes(pairs, tmp_path):
    _, sr, _ = pairs
    bad = MUSIQ_KONIQ.path(tmp_path)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    ev = evaluate(sr[:1], None, ["musiq-koniq"], weights_dir=tmp_path)
    msg = ev.unavailable["musiq-koniq"]
    import hashlib

    assert hashlib.sha256(b"not a checkpoint").hexdigest() in msg
    assert "expected e95806b9 (sha256 prefix in the file name)" in msg


def test_size_mismatch_names_the_pair(pairs, tmp_path):
    _, sr, hr = pairs
    write_png(tmp_path / "odd.png", np.zeros((60, 64, 3), np.uint8))
    with pytest.raises(
        ImageError, match=r"size mismatch for pair astronaut_000.png: SR .* is 64x64, HR .*odd.png is 64x60"
    ):
        evaluate([sr[0]], [tmp_path / "odd.png"], ["psnr-y"])
    write_png(tmp_path / "tiny.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageError, match="too small .* at least 11 px"):
        evaluate([tmp_path / "tiny.png"], [tmp_path / "tiny.png"], ["ssim-y"])


def test_nan_values_are_reported_not_averaged(pairs):
    _, sr, hr = pairs

    def flaky(s, h):
        out = torch.ones(s.shape[0])
        out[0] = math.nan
        return out

    ev = evaluate(sr[:4], hr[:4], ["lpips-alex"], backends={"lpips-alex": flaky}, batch_size=4, n_boot=20)
    assert math.isnan(ev.per_image["lpips-alex"][0])
    s = ev.summary["lpips-alex"]
    assert (s.mean, s.n, s.n_nan) == (1.0, 3, 1)
    assert ev.warnings == [
        "lpips-alex: 1 non-finite per-image values excluded from the mean (pairs astronaut_000...)"
    ]
    assert "nan" in ev.per_image_csv().splitlines()[1]


class _TinyLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 2048, 1)

    def forward(self, x):
        small = torch.nn.functional.adaptive_avg_pool2d(x, 8)  # keep it cheap: 8x8 before the conv
        return torch.nn.functional.adaptive_avg_pool2d(torch.tanh(self.conv(small)), 1)


class _TinyInception(torch.nn.Module):
    """Same interface as StyleGAN2-ADA's TorchScript Inception as clean-fid uses it:
    ``.layers`` maps the normalised (B,3,299,299) batch to (B,2048,1,1)."""

    def __init__(self):
        super().__init__()
        self.layers = _TinyLayers()

    def forward(self, x):
        return self.layers(x)


def test_real_inception_code_path_loads_from_the_weights_dir(pairs, tmp_path):
    """A stand-in TorchScript file at the registry path goes through clean-fid's own
    InceptionV3W wrapper (normalisation, 2048-d view), as the real file would."""
    from cleanfid.inception_torchscript import InceptionV3W

    from yonos_bench.metrics.presets import CLEANFID_INCEPTION

    root, sr, hr = pairs
    path = CLEANFID_INCEPTION.path(tmp_path)
    path.parent.mkdir(parents=True)
    torch.jit.script(_TinyInception()).save(str(path))
    cache = FeatureCache(tmp_path / "f", "k", sr_file=tmp_path / "f" / "sr.npz")
    ev = evaluate(sr, hr, ["kid-clean"], weights_dir=tmp_path, feature_cache=cache)
    assert ev.unavailable == {}
    ref_model = InceptionV3W(str(path.parent), download=False)
    f_sr = get_folder_features(
        str(root / "sr"), ref_model, num_workers=0, device=torch.device("cpu"), verbose=False
    )
    with np.load(ev.feature_files["sr"]) as z:
        assert z["feats"].shape == (8, 2048)
        assert np.allclose(z["feats"][np.argsort([p.name for p in sr])], f_sr, atol=1e-5)
