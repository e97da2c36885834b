"""Atomically written files get ordinary permissions (0666 minus the umask), not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

from yonos_bench.core.atomic import write_json_atomic, write_text_atomic


def test_atomic_files_get_the_umask_permissions_not_0600(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    write_text_atomic(tmp_path / "a.txt", "x")
    write_json_atomic(tmp_path / "b.json", {"k": 1})
    for name in ("a.txt", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
    assert (tmp_path / "b.json").read_text() == '{\n  "k": 1\n}\n'
