"""Training data: folder checks, procedural images, deterministic crops, sharding, LR synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from yonos_bench.core.errors import DataMissingError, ImageError
from yonos_train.data import (
    CropStream,
    FolderImages,
    ProceduralImages,
    StepBatchSampler,
    dead_leaves,
    hr_loader,
    synthesize_lr,
)


def _png(path, h, w, seed=0):
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def test_folder_errors_name_the_culprit(tmp_path):
    with pytest.raises(DataMissingError, match=f"Training data folder not found: {tmp_path / 'nope'}"):
        FolderImages([tmp_path / "nope"], 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataMissingError, match=f"{tmp_path / 'empty'} contains no images"):
        FolderImages([tmp_path / "empty"], 32)
    bad = tmp_path / "bad"
    bad.mkdir()
    _png(bad / "a.png", 40, 40)
    (bad / "b.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match=r"Unreadable training images: .*b\.png \(UnidentifiedImageError\)"):
        FolderImages([bad], 32)
    with pytest.raises(DataMissingError, match="No training data given"):
        FolderImages([], 32)


def test_small_images_are_skipped_with_a_count_or_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _png(a / "big.png", 48, 64)
    _png(a / "small.png", 20, 64)
    _png(b / "tiny.jpg", 31, 31)
    msgs = []
    src = FolderImages([a, b], 32, on_skip=msgs.append)
    assert len(src) == 1 and src.skipped_small == 2
    assert msgs == ["Skipped 2 image(s) smaller than the 32px crop."]
    with pytest.raises(
        DataMissingError, match="No training image is at least 64×64 px .* all 3 were smaller"
    ):
        FolderImages([a, b], 64)


def test_crops_are_deterministic_per_index_and_cover_the_image(tmp_path):
    arr = _png(tmp_path / "x.png", 40, 50)
    stream = CropStream(FolderImages([tmp_path], 16), crop=16, seed=3)
    x, g = stream[5]
    assert g == 5 and x.shape == (3, 16, 16) and x.dtype == torch.uint8
    assert torch.equal(stream[5][0], x) and not torch.equal(stream[6][0], x)
    # every crop is a window of the image (possibly mirrored)
    img = torch.from_numpy(arr).permute(2, 0, 1)
    for i in range(6):
        c = stream[i][0]
        found = any(
            torch.equal(img[:, t : t + 16, lft : lft + 16], cand)
            for t in range(25) for lft in range(35) for cand in (c, c.flip(-1))
        )  # fmt: skip
        assert found


def test_sampler_shards_the_global_stream_and_resumes_by_step():
    one = StepBatchSampler(batch=2, accum=3, start_step=0)
    it = iter(one)
    stream = [i for _ in range(12) for i in next(it)]
    assert stream == list(range(24))
    r0, r1 = (
        iter(StepBatchSampler(2, 3, 0, rank=0, world=2)),
        iter(StepBatchSampler(2, 3, 0, rank=1, world=2)),
    )
    both = sorted(i for _ in range(6) for i in next(r0) + next(r1))
    assert both == list(range(24))
    assert next(iter(StepBatchSampler(2, 3, start_step=2))) == [12, 13]  # step 2 = micro-batch 6


def test_loader_batches_and_epoch_order(tmp_path):
    src = ProceduralImages(3, 24, seed=1)
    hr, idx = next(iter(hr_loader(src, crop=16, seed=0, batch=4, accum=1, start_step=1)))
    assert hr.shape == (4, 3, 16, 16) and idx.tolist() == [4, 5, 6, 7]
    stream = CropStream(src, 16, seed=0)
    order = [int(stream._permutation(0)[i]) for i in range(3)]
    assert sorted(order) == [0, 1, 2]  # each epoch visits every image once


def test_dead_leaves_is_seeded_and_textured():
    a = dead_leaves(48, np.random.default_rng(7))
    assert a.shape == (48, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, dead_leaves(48, np.random.default_rng(7)))
    assert not np.array_equal(a, dead_leaves(48, np.random.default_rng(8)))
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 50  # many colours: shapes, textures, AA edges
    gx = np.abs(np.diff(a.astype(int), axis=1)).max(axis=2)
    assert (gx > 60).mean() > 0.01  # sharp edges present
    src = ProceduralImages(4, 32, seed=0)
    assert np.array_equal(src.load(2), ProceduralImages(4, 32, seed=0).load(2))


def test_synthesize_lr_shares_params_across_scales():
    hr = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    lr4, lr2 = synthesize_lr(hr, (4, 2), "realesrgan", [11, 12])
    assert lr4.shape == (2, 3, 24, 24) and lr2.shape == (2, 3, 48, 48)
    alone4 = synthesize_lr(hr, 4, "realesrgan", [11, 12])[0]
    assert torch.equal(alone4, lr4)  # the same draw: only the final resize differs
    other = synthesize_lr(hr, 4, "realesrgan", [13, 12])[0]
    assert not torch.equal(other[0], lr4[0]) and torch.equal(other[1], lr4[1])  # per-sample seeds
    bic = synthesize_lr(hr, 2, "bicubic", [0, 0])[0]
    assert torch.equal(bic * 255, torch.round(bic * 255))  # 8-bit levels
