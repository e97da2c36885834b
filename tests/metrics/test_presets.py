"""Presets: IDs parse, and every pyiqa preset's arguments are real arguments of the pyiqa
architecture it names, with the direction pyiqa itself declares."""

from __future__ import annotations

import inspect

import pytest

from yonos_bench.core.errors import UnknownNameError
from yonos_bench.metrics.presets import OWN_ARGS, get_preset, list_presets, parse_metric_list


def test_parametric_crop_ids():
    p = get_preset("ssim-y-crop8")
    assert (p.id, p.kind, p.lower_better) == ("ssim-y-crop8", "fr", False)
    assert p.args_dict() == {
        "metric_name": "ssim",
        "test_y_channel": True,
        "color_space": "ycbcr",
        "crop_border": 8,
    }
    assert get_preset("psnr-y-crop4").backend_args["crop_border"] == 4
    for bad in ("psnr-y-crop0", "psnr-y-crop04", "psnr-y-cropx", "psnr-rgb-crop4"):
        with pytest.raises(UnknownNameError, match=f"Unknown metric '{bad}'"):
            get_preset(bad)
    with pytest.raises(UnknownNameError, match="Did you mean: lpips-alex"):
        get_preset("lpips_alex")
    assert parse_metric_list(" psnr-y, ssim-y,psnr-y ,") == ["psnr-y", "ssim-y"]


def test_pyiqa_presets_use_real_arguments_and_pyiqa_directions():
    from pyiqa.archs import _lazy_import_arch  # pyiqa registers architectures on first use
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    from pyiqa.utils.registry import ARCH_REGISTRY

    for p in list_presets():
        if p.backend != "pyiqa":
            continue
        args = p.args_dict()
        cfg = DEFAULT_CONFIGS[args.pop("metric_name")]
        assert p.lower_better == cfg.get("lower_better", False), p.id
        assert p.kind == cfg["metric_mode"].lower(), p.id
        _lazy_import_arch(cfg["metric_opts"]["type"])
        arch = ARCH_REGISTRY.get(cfg["metric_opts"]["type"])
        params = inspect.signature(arch.__init__).parameters
        takes_kwargs = any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values())
        for name in set(args) - OWN_ARGS:
            assert name in params or takes_kwargs, f"{p.id}: pyiqa {arch.__name__} has no argument {name!r}"


def test_maniqa_skips_only_the_redundant_timm_download(monkeypatch):
    import timm

    from yonos_bench.metrics.backends import _no_timm_imagenet_download

    calls = []
    monkeypatch.setattr(
        timm, "create_model", lambda name, pretrained=False, **kw: calls.append((name, pretrained))
    )
    original = timm.create_model
    with _no_timm_imagenet_download():
        timm.create_model("vit_base_patch8_224", pretrained=True)
        timm.create_model("resnet50", pretrained=True)
    assert calls == [("vit_base_patch8_224", False), ("resnet50", True)]
    assert timm.create_model is original
