"""Bad training data: the run stops with one message naming the image, and the same
command works again once the image is fixed."""

from __future__ import annotations

TRAIN = ("train", "standard", "--preset", "tiny", "--scale", "2", "--set", "crop=32", "--set",
         "degradation=bicubic", "--set", "batch_size=3", "--set", "steps=1", "--set", "progress=false")  # fmt: skip


def _data(rel, tmp_path):
    folder = tmp_path / "hr"
    for i in range(3):
        rel.save(folder / f"a{i}.png", rel.coord_image(48, 48, i))
    bad = folder / "a1.png"
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # valid header, truncated data: found when decoded
    return folder, bad, good


def test_truncated_training_image_stops_naming_it_and_the_rerun_works(rel, tmp_path):
    folder, bad, good = _data(rel, tmp_path)
    args = (*TRAIN, "--data", folder, "--out", tmp_path / "run")
    rel.assert_fails(rel.invoke(*args), f"Cannot decode image {bad} (corrupt, truncated or not an image)")
    bad.write_bytes(good)
    res = rel.invoke(*args)
    assert res.exit_code == 0, res.output


def test_truncated_training_image_with_loader_workers_gives_one_message(rel, tmp_path):
    folder, bad, _ = _data(rel, tmp_path)
    res = rel.invoke(*TRAIN, "--set", "num_workers=1", "--data", folder, "--out", tmp_path / "run")
    rel.assert_fails(res, f"Cannot decode image {bad}")  # and no traceback
