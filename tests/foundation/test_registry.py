"""Protocol registry: the shipped specs (ten paper protocols + four named variants), strict validation, did-you-mean, duplicates."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from yonos_bench.core.errors import SpecError, UnknownNameError
from yonos_bench.protocols.spec import list_protocols, load_protocol, load_registry, load_spec_file

PAPER_PROTOCOLS = {
    "div2k-real",
    "div2k-real-regen",
    "div2k-bicubic",
    "div2k-bicubic-x8",
    "realsr",
    "drealsr",
    "dped",
    "imagenet-x8",
    "ffhq-x8",
    "sample",
}
#: Named variants kept beside the paper protocols (re-cuts from the originals, FFHQ 60k split).
VARIANTS = {"realsr-recut", "drealsr-recut", "dped-recut", "ffhq-x8-60k"}
#: Embedded siblings of `sample` (same photos and rule): the demo's subset, Miniature v2's sets.
EMBEDDED = {"sample-mini", "sample-x2", "sample-x8", "sample-dist-x4", "sample-dist-x8"}


def test_all_ten_protocols_are_registered_and_valid():
    specs = {s.name: s for s in list_protocols()}
    assert set(specs) == PAPER_PROTOCOLS | VARIANTS | EMBEDDED
    for s in specs.values():
        assert s.version >= 1 and s.citation and s.description
        if s.name != "sample" and s.name not in EMBEDDED:
            assert s.source.url and s.source.url.startswith("https://"), s.name
        # FID needs ~1k images: never on the small real-world sets
        if s.expected_pairs < 1000 and s.name not in EMBEDDED:
            assert "fid-clean" not in s.metrics, s.name
    assert specs["div2k-real"].pairs.rule == "given"
    assert specs["dped"].lr_only and specs["dped"].metrics == ("musiq-koniq",)
    assert (specs["realsr"].expected_pairs, specs["drealsr"].expected_pairs) == (100, 93)
    # the peers' real-world sets are StableSR's released crops, used as given
    for name, folder in (("realsr", "RealSRVal_crop128"), ("drealsr", "DrealSRVal_crop128"),
                         ("dped", "DPEDiphoneValSet_crop128")):  # fmt: skip
        assert specs[name].source.root == f"StableSR_testsets/{folder}" and specs[name].version == 2
    assert specs["dped"].expected_pairs == 113 and specs["dped"].pairs.rule == "whole"
    assert specs["ffhq-x8"].source.hr == "00000/*.png" and specs["ffhq-x8"].version == 2
    assert specs["ffhq-x8-60k"].source.hr == "60000/*.png"
    assert specs["imagenet-x8"].source.names_sha256
    assert specs["imagenet-x8"].pairs.subset.every == 10 and specs["imagenet-x8"].scale == 8
    assert specs["sample"].expected_pairs == 210 and specs["sample"].pairs.lr_size == 32
    for name in EMBEDDED:  # the same seven packaged photos, pinned by the same sha256s
        assert specs[name].source.kind == "package" and specs[name].source.sha256 == specs["sample"].source.sha256
    assert {specs[n].expected_pairs for n in ("sample-dist-x4", "sample-dist-x8")} == {1050}
    assert (specs["sample-x2"].scale, specs["sample-x8"].scale, specs["sample-dist-x8"].scale) == (2, 8, 8)
    # the paper's metrics per protocol (METHOD.md section 3)
    assert {"fid-clean", "lpips-alex", "psnr-y", "ssim-y", "musiq-koniq"} <= set(specs["div2k-real"].metrics)
    assert {"fid-clean", "lpips-alex", "psnr-y"} <= set(specs["ffhq-x8"].metrics)


def test_open_choices_are_documented():
    assert any("center_crop_arr" in n for n in load_protocol("imagenet-x8").notes)
    assert any("10k" in n or "10,000" in n for n in load_protocol("imagenet-x8").notes)
    assert load_protocol("div2k-bicubic-x8").notes


def test_unknown_protocol_did_you_mean():
    with pytest.raises(UnknownNameError) as e:
        load_protocol("div2k-bicubc")
    msg = str(e.value)
    assert msg.startswith("Unknown protocol 'div2k-bicubc'. Did you mean: div2k-bicubic")
    assert "Available: div2k-bicubic, div2k-bicubic-x8, div2k-real," in msg


def _write(tmp_path, text: str, name: str = "proto"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_file_and_key(tmp_path, synth):
    spec = synth.base_spec("proto")
    spec["pairs"]["per_imag"] = 3
    path = _write(tmp_path, yaml.safe_dump(spec))
    with pytest.raises(SpecError) as e:
        load_spec_file(path)
    assert str(path) in str(e.value)
    assert "unknown key 'pairs.per_imag'" in str(e.value) and "Did you mean: per_image" in str(e.value)


def test_wrong_type_names_file_and_key(tmp_path, synth):
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("proto", scale="4")))
    with pytest.raises(SpecError, match=r"key 'scale' must be integer, got str '4'") as e:
        load_spec_file(path)
    assert str(path) in str(e.value)
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("proto", version=True)))
    with pytest.raises(SpecError, match="key 'version' must be integer, got bool"):
        load_spec_file(path)
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("proto", **{"pairs.rule": "tiles"})))
    with pytest.raises(SpecError, match="key 'pairs.rule' must be 'given' | 'whole'"):
        load_spec_file(path)


def test_missing_field_names_file_and_key(tmp_path, synth):
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("proto", citation=None)))
    with pytest.raises(SpecError, match=r"missing required key 'citation'") as e:
        load_spec_file(path)
    assert str(path) in str(e.value)
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("proto", **{"source.count": None})))
    with pytest.raises(SpecError, match=r"missing required key 'source.count'"):
        load_spec_file(path)


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _write(tmp_path, "name: proto\nversion: 1\nsource:\n  dataset: [unclosed\n  count: 2\n")
    with pytest.raises(SpecError) as e:
        load_spec_file(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: malformed YAML at line ")
    line = int(msg.split("at line ")[1].split(",")[0])
    assert 4 <= line <= 6  # the unclosed list starts on line 4; PyYAML reports where it gave up


def test_semantic_checks(tmp_path, synth):
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("proto", expected_pairs=7)))
    with pytest.raises(SpecError, match=r"'expected_pairs' is 7 but source.count and pairs give 6"):
        load_spec_file(path)
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("proto", **{"pairs.lr_size": None})))
    with pytest.raises(SpecError, match=r"'pairs.lr_size' must be a positive integer"):
        load_spec_file(path)
    path = _write(tmp_path, yaml.safe_dump(synth.base_spec("other")))
    with pytest.raises(SpecError, match="key 'name' is 'other' but the file is named 'proto.yaml'"):
        load_spec_file(path)


def test_duplicate_names_rejected(tmp_path, synth):
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(synth.base_spec("b")))
    (tmp_path / "b.yml").write_text(yaml.safe_dump(synth.base_spec("b", seed=3)))
    with pytest.raises(SpecError, match="Duplicate protocol name 'b'") as e:
        load_registry(tmp_path)
    assert "b.yaml" in str(e.value) and "b.yml" in str(e.value)


def test_spec_digest_ignores_formatting(tmp_path, synth):
    spec = synth.base_spec("proto")
    a = _write(tmp_path, yaml.safe_dump(spec))
    b = tmp_path / "other" / "proto.yaml"
    b.parent.mkdir()
    b.write_text("# a comment\n" + yaml.safe_dump(spec, default_flow_style=True))
    assert load_spec_file(a).spec_sha256 == load_spec_file(b).spec_sha256
    c = tmp_path / "third" / "proto.yaml"
    c.parent.mkdir()
    c.write_text(yaml.safe_dump(synth.base_spec("proto", seed=1)))
    assert load_spec_file(c).spec_sha256 != load_spec_file(a).spec_sha256


def test_listing_imports_no_torch():
    code = "import sys, yonos_bench.cli, yonos_bench.protocols.spec as r; r.list_protocols(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
