"""Training photos that ship inside installed packages, disjoint from the ``sample`` protocol.

The ``small`` preset (Miniature v2, docs/MINIATURE.md) trains on real photographs, not only
dead-leaves, but nothing may be downloaded. scikit-image, matplotlib and sporco ship some;
``sample`` tests on seven of them, so :func:`write_training_folder` copies the *others*:

* every file ``sample`` lists is excluded (by package path and by sha256 of the file);
* so is ``skimage/data/motorcycle_right.png`` — the other view of the stereo pair whose left
  view ``sample`` uses (the same scene, a near-duplicate);
* grayscale images are kept (replicated to RGB by the reader): texture is what the
  autoencoder needs to learn, and the colour photos alone are only ~10;
* each photo is cut into non-overlapping ``tile``² tiles, so that a photo's weight in the
  training stream (images are drawn uniformly) is proportional to its area, up to
  ``max_tiles`` per photo (evenly spaced), so that the 1411² retina scan (mostly black
  background) does not outweigh all the others.

Dead-leaves images (:func:`yonos_train.data.dead_leaves`) are written beside them as PNGs,
because one ``--data`` cannot mix ``procedural`` with folders. The folder's
``photos.json`` lists every file with its source and sha256.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from yonos_bench.core.errors import DataMissingError

#: (package, path inside the package) of candidate training photos (>= 128 px both sides).
CANDIDATES: tuple[tuple[str, str], ...] = (
    ("sporco", "data/monarch.png"),
    ("sporco", "data/sail.png"),
    ("sporco", "data/tulips.png"),
    ("sporco", "data/barbara.png"),
    ("sporco", "data/kodim23.png"),
    ("skimage", "data/brick.png"),
    ("skimage", "data/camera.png"),
    ("skimage", "data/cell.png"),
    ("skimage", "data/clock_motion.png"),
    ("skimage", "data/coins.png"),
    ("skimage", "data/color.png"),
    ("skimage", "data/grass.png"),
    ("skimage", "data/gravel.png"),
    ("skimage", "data/ihc.png"),
    ("skimage", "data/moon.png"),
    ("skimage", "data/page.png"),
    ("skimage", "data/retina.jpg"),
    ("skimage", "data/text.png"),
    ("skimage", "data/horse.png"),
    ("skimage", "data/motorcycle_right.png"),  # excluded below: stereo twin of a test photo
)
#: Near-duplicates of ``sample`` test photos (not byte-identical, so sha256 cannot catch them).
NEAR_DUPLICATES = {"skimage/data/motorcycle_right.png"}


def _package_root(name: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sample_test_files() -> tuple[set[str], set[str]]:
    """(package paths, sha256s) of the ``sample`` protocol's test photos."""
    from yonos_bench.core.paths import registry_dir
    from yonos_bench.core.strict_yaml import load_yaml

    path = registry_dir("protocols") / "sample.yaml"
    spec = load_yaml(path.read_text(), str(path))
    return set(spec["source"]["files"]), set(spec["source"]["sha256"].values())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def training_photos() -> list[dict]:
    """The candidate photos that are installed and not ``sample`` test photos (or twins)."""
    test_paths, test_sha = sample_test_files()
    found = []
    for package, rel in CANDIDATES:
        key = f"{package}/{rel}"
        root = _package_root(package)
        if key in NEAR_DUPLICATES or key in test_paths or root is None or not (root / rel).is_file():
            continue
        digest = _sha256(root / rel)
        if digest in test_sha:
            continue
        found.append({"source": key, "path": root / rel, "sha256": digest})
    return found


def write_training_folder(out: str | os.PathLike, *, procedural: int, procedural_size: int = 128,
                          tile: int = 128, max_tiles: int = 24, seed: int = 0) -> dict:  # fmt: skip
    """Write the photos (as RGB PNG) and ``procedural`` dead-leaves PNGs to ``out``.

    Idempotent: an existing folder with the same ``photos.json`` is left as it is. Returns
    the manifest (also written as ``out/photos.json``)."""
    from yonos_bench.core.atomic import write_json_atomic
    from yonos_bench.core.imageio import read_rgb8, sha256_file, write_png

    from .data import dead_leaves

    out = Path(out)
    photos = training_photos()
    if not photos:
        raise DataMissingError("No packaged training photo found (scikit-image / sporco not installed?).")
    wanted = {"photos": [{"source": p["source"], "sha256": p["sha256"]} for p in photos],
              "procedural": procedural, "procedural_size": procedural_size, "tile": tile,
              "max_tiles": max_tiles, "seed": seed}  # fmt: skip
    manifest_path = out / "photos.json"
    if manifest_path.is_file():
        import json

        old = json.loads(manifest_path.read_text())
        if {k: old.get(k) for k in wanted} == wanted:
            return old
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for p in photos:
        img = read_rgb8(p["path"])
        stem = p["source"].replace("/", "_").rsplit(".", 1)[0]
        corners = [(top, left) for top in range(0, img.shape[0] - tile + 1, tile)
                   for left in range(0, img.shape[1] - tile + 1, tile)]  # fmt: skip
        if len(corners) > max_tiles:
            corners = [corners[int(i)] for i in np.linspace(0, len(corners) - 1, max_tiles).round()]
        for top, left in corners:
            name = f"{stem}_{top:04d}_{left:04d}.png"
            write_png(out / name, img[top : top + tile, left : left + tile])
            files.append({"file": name, "source": p["source"], "sha256": sha256_file(out / name)})
    for i in range(procedural):
        name = f"deadleaves_{i:05d}.png"
        write_png(out / name, dead_leaves(procedural_size, np.random.default_rng([seed, 0xDEAD, 1, i])))
        files.append({"file": name, "source": "procedural dead-leaves", "sha256": sha256_file(out / name)})
    manifest = {**wanted, "files": files}
    write_json_atomic(manifest_path, manifest)
    return manifest


__all__ = ["CANDIDATES", "NEAR_DUPLICATES", "sample_test_files", "training_photos", "write_training_folder"]
