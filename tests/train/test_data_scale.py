"""Data at scale: recursive listing (hidden entries skipped), `train prepare-data` tiles with a
manifest that the loader reads instead of opening every file, per-stage stream salts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.imageio import list_images_recursive, read_rgb8
from yonos_train.config import DecoderConfig, DistillConfig, StandardConfig
from yonos_train.data import FolderImages
from yonos_train.prepare_data import tile_offsets

runner = CliRunner()


def _save(path, h, w, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def test_listing_recurses_in_path_order_and_skips_hidden_entries(tmp_path):
    for rel in ("b.png", "00000/1.png", "00000/0.png", "animal/z/x.jpg", ".hidden/a.png", "00000/._0.png",
                "c/.tmp-d.png", "notes.txt"):  # fmt: skip
        if rel.endswith(".txt"):
            (tmp_path / rel).write_text("x")
        else:
            _save(tmp_path / rel, 8, 8)
    got = [p.relative_to(tmp_path).as_posix() for p in list_images_recursive(tmp_path)]
    assert got == ["00000/0.png", "00000/1.png", "animal/z/x.jpg", "b.png"]
    src = FolderImages([tmp_path], min_size=8)  # the training data source uses it
    assert len(src) == 4


def test_tile_offsets_cover_the_image_with_the_last_tile_flush():
    assert tile_offsets(1000, 640, 320) == [0, 320, 360]
    assert tile_offsets(640, 640, 320) == [0]
    assert tile_offsets(500, 640, 320) == [0]  # smaller than a tile: kept whole


def test_prepare_data_tiles_exactly_and_the_loader_uses_the_manifest(tmp_path, monkeypatch):
    _save(tmp_path / "src" / "big" / "a.png", 100, 130, seed=1)
    _save(tmp_path / "src" / "b.png", 64, 70, seed=2)
    _save(tmp_path / "src" / "tiny.png", 20, 20, seed=3)
    res = runner.invoke(app, ["train", "prepare-data", "--data", str(tmp_path / "src"), "--out",
                              str(tmp_path / "tiles"), "--tile", "64", "--stride", "48", "--min-size", "32"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "1 smaller than 32px skipped" in res.output
    manifest = json.loads((tmp_path / "tiles" / "tiles.json").read_text())
    a = read_rgb8(tmp_path / "src" / "big" / "a.png")
    tiles_of_a = [t for t in manifest["tiles"] if t["source"] == "0/big/a.png"]
    assert [(t["y"], t["x"]) for t in tiles_of_a] == [(0, 0), (0, 48), (0, 66), (36, 0), (36, 48), (36, 66)]
    for t in tiles_of_a:  # every tile is the exact pixels of its source (lossless)
        np.testing.assert_array_equal(read_rgb8(tmp_path / "tiles" / t["file"]),
                                      a[t["y"] : t["y"] + 64, t["x"] : t["x"] + 64])  # fmt: skip
    assert len(manifest["tiles"]) == 6 + 2  # b.png: 64x70 -> x offsets 0, 6

    def no_header_reads(*a, **k):
        raise AssertionError("opened a file although the manifest gives its size")

    monkeypatch.setattr(Image, "open", no_header_reads)
    src = FolderImages([tmp_path / "tiles"], min_size=64)
    assert (
        len(src) == 8 and "tiles of" in src.describe() and str((tmp_path / "src").resolve()) in src.describe()
    )


def test_prepare_data_errors_name_the_culprit(tmp_path):
    res = runner.invoke(
        app, ["train", "prepare-data", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "t")]
    )
    assert res.exit_code == 1 and "source folder not found" in res.output and "nope" in res.output
    res = runner.invoke(app, ["train", "prepare-data", "--data", str(tmp_path), "--out", str(tmp_path / "t"),
                              "--stride", "700"])  # fmt: skip
    assert res.exit_code == 1 and "stride" in res.output


def test_stream_salts_separate_stages_but_keep_standard_streams_unchanged():
    std = StandardConfig(stage="standard", seed=5, scale=2)
    assert std.stream_seed == 5  # unchanged: the standard stage's stream is what it always was
    d4, d8 = DistillConfig(stage="distill", seed=5, scale=4), DistillConfig(stage="distill", seed=5, scale=8)
    dec = DecoderConfig(stage="decoder", seed=5, scale=4)
    seeds = {std.stream_seed, d4.stream_seed, d8.stream_seed, dec.stream_seed}
    assert len(seeds) == 4  # no stage replays another's crops, degradations, noise or t
    assert DistillConfig(stage="distill", seed=5, scale=4, stream_salt=0).stream_seed == 5


@pytest.mark.parametrize("stage_cfg", [StandardConfig, DistillConfig])
def test_usm_target_defaults_follow_the_references(stage_cfg):
    stage = "standard" if stage_cfg is StandardConfig else "distill"
    scale = 2 if stage == "standard" else 4
    assert stage_cfg(stage=stage, scale=scale, degradation="realesrgan").uses_usm_target
    assert not stage_cfg(stage=stage, scale=scale, degradation="bicubic").uses_usm_target  # tiny: unchanged
    assert not stage_cfg(stage=stage, scale=scale, degradation="realesrgan", usm_target="off").uses_usm_target
