"""``yonos-bench train prepare-data``: cut HR source images into tiles once, with a manifest.

Why: a training sample is one random crop (512² for sd15) of one source image; decoding a
whole DIV8K image (~8k × 8k, ~200 MB of pixels) for every crop makes the loader, not the
GPU, the bottleneck. BasicSR/Real-ESRGAN solve this the same way
(``scripts/extract_subimages.py``: DIV2K into 480² sub-images with step 240): overlapping
tiles, here ``tile``² with step ``stride``, the last row/column flush with the image edge,
written as lossless PNG (the HR must not change). An image smaller than ``tile`` on a side
but at least ``min_size`` is kept whole; smaller ones are skipped (counted).

The format is a plain folder of PNGs — readable by anything, and by :class:`~yonos_train.
data.FolderImages` like any folder (``--data TILES``) — plus ``tiles.json``: every tile's
file, size, source image and offset, and the sources' roots, written last and atomically
(a folder without it is an unfinished preparation: rerun the same command; tiles already
written are reused). With the manifest the loader skips opening every file at start-up.
Tar shards (WebDataset) or LMDB (BasicSR's other option) would need a new dependency for
no gain here: the map-style, index-addressed :class:`~yonos_train.data.CropStream` needs
random access by index, which a folder of files gives directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from yonos_bench.core.errors import DataMissingError, SpecError

MANIFEST = "tiles.json"
FORMAT = "yonos-tiles/1"


def tile_offsets(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets along one axis: every ``stride``, plus one flush with the far edge."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def _cut_one(job: tuple[str, str, str, int, int, int]) -> dict[str, Any]:
    """Tile one source image (in a worker process); returns its manifest entries."""
    from yonos_bench.core.imageio import read_rgb8, write_png

    src, rel, out, tile, stride, min_size = job
    img = read_rgb8(src)
    h, w = img.shape[:2]
    if min(h, w) < min_size:
        return {"source": rel, "tiles": [], "skipped": True}
    entries = []
    stem = str(Path(rel).with_suffix("")).replace("/", "__")
    for y in tile_offsets(h, tile, stride):
        for x in tile_offsets(w, tile, stride):
            patch = img[y : y + tile, x : x + tile]
            name = f"{stem}_y{y:05d}_x{x:05d}.png"
            target = Path(out) / name
            if not target.is_file():  # rerun of an unfinished preparation: reuse what exists
                write_png(target, patch)
            entries.append({"file": name, "size": [int(patch.shape[0]), int(patch.shape[1])],
                            "source": rel, "y": y, "x": x})  # fmt: skip
    return {"source": rel, "tiles": entries, "skipped": False}


def prepare_tiles(
    roots: Sequence[str | Path], out: str | Path, *, tile: int = 640, stride: int = 320, min_size: int = 512,
    workers: int = 1, log: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Cut every image below ``roots`` into tiles in ``out``; returns the manifest."""
    from yonos_bench.core.atomic import write_json_atomic
    from yonos_bench.core.imageio import list_images_recursive

    if tile < 1 or stride < 1 or stride > tile:
        raise SpecError(
            f"prepare-data: need tile >= 1 and 1 <= stride <= tile, got tile {tile}, stride {stride}."
        )
    if min_size > tile:
        raise SpecError(f"prepare-data: --min-size {min_size} is larger than the tile {tile}.")
    out = Path(out)
    jobs, sources = [], []
    for k, root in enumerate(Path(r).expanduser().resolve() for r in roots):
        if not root.is_dir():
            raise DataMissingError(f"prepare-data: source folder not found: {root}")
        files = list_images_recursive(root)
        if not files:
            raise DataMissingError(f"prepare-data: {root} contains no images.")
        sources.append({"root": str(root), "images": len(files)})
        (out / f"{k}").mkdir(parents=True, exist_ok=True)
        jobs += [(str(p), f"{k}/{p.relative_to(root).as_posix()}", str(out / f"{k}"), tile, stride, min_size)
                 for p in files]  # fmt: skip
    results = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_cut_one, jobs, chunksize=4))
    else:
        results = [_cut_one(j) for j in jobs]
    tiles = [
        {**t, "file": f"{r['source'].split('/', 1)[0]}/{t['file']}"} for r in results for t in r["tiles"]
    ]
    skipped = sum(r["skipped"] for r in results)
    manifest = {"format": FORMAT, "tile": tile, "stride": stride, "min_size": min_size, "sources": sources,
                "skipped_small": skipped, "tiles": tiles}  # fmt: skip
    write_json_atomic(out / MANIFEST, manifest)
    if log:
        log(f"{len(tiles)} tiles of {tile}px (stride {stride}) from {len(jobs)} images in {out} "
            f"({skipped} image(s) smaller than {min_size}px skipped).")  # fmt: skip
    return manifest


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The tiles manifest of ``root``, or None when it is a plain image folder."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except ValueError as e:
        raise DataMissingError(
            f"{path}: not a valid tiles manifest ({e}); rerun `train prepare-data`."
        ) from None
    if manifest.get("format") != FORMAT:
        raise DataMissingError(f"{path}: unknown format {manifest.get('format')!r} (expected {FORMAT}).")
    return manifest
