"""A cached cell whose FID/KID came from one Inception file is not served when the other file
is the one that would be used now (the images stay cached; only metrics are rescored)."""

from __future__ import annotations

from yonos_bench.core.imageio import sha256_file
from yonos_bench.metrics.features import FIDHELPER_INCEPTION_ID, INCEPTION_ID, inception_id
from yonos_bench.metrics.presets import CLEANFID_INCEPTION, FIDHELPER_INCEPTION
from yonos_bench.runs.results import PER_IMAGE_FILE
from yonos_bench.runs.runner import _complete


def _existing(folder, recorded):
    (folder / PER_IMAGE_FILE).write_text("pair,psnr-y\na,30\n")
    return {
        "metrics": {"fid-clean": {}, "psnr-y": {}},
        "unavailable": {},
        "per_image_csv_sha256": sha256_file(folder / PER_IMAGE_FILE),
        "backend_versions": {"fid-inception": recorded} if recorded else {},
    }


def _place(w, wdir):
    w.path(wdir).parent.mkdir(parents=True, exist_ok=True)
    w.path(wdir).write_bytes(b"x")


def test_fid_from_another_inception_file_is_rescored(tmp_path):
    wdir = tmp_path / "w"
    assert inception_id(wdir) is None
    _place(FIDHELPER_INCEPTION, wdir)
    assert inception_id(wdir) == FIDHELPER_INCEPTION_ID
    assert _complete(_existing(tmp_path, FIDHELPER_INCEPTION_ID), tmp_path, ["fid-clean"], False, wdir)
    _place(CLEANFID_INCEPTION, wdir)  # clean-fid's own file is preferred once present
    assert inception_id(wdir) == INCEPTION_ID
    assert not _complete(_existing(tmp_path, FIDHELPER_INCEPTION_ID), tmp_path, ["fid-clean"], False, wdir)
    # cells without set metrics are unaffected
    assert _complete(_existing(tmp_path, None), tmp_path, ["psnr-y"], False, wdir)
