"""``figure``: paper-style qualitative comparison grids (the seed paper's Fig. 1, 4, 5).

One row per pair, one column per image: LR (upsampled, nearest or bicubic) | model A |
model B | … | HR. Every tile carries the same inset box; the zoom of that box is drawn
under the tile at the tile's width (integer nearest-neighbour upscaling: the zoom shows
the source pixels, never resampled ones). Pairs are given by id or picked from the
per-image metrics: where model A beats B most (``gain``), loses most (``loss``), both
(``gain-loss``), or an even ``spread`` over the sorted ids. The inset is given in HR pixels
or placed, per row, where the models' SR images differ most (largest summed per-pixel
standard deviation across the models over the window).

Output: PNG and PDF (TrueType text, selectable and searchable), at a LaTeX two-column
paper's ``\\columnwidth`` (3.25 in) or ``\\textwidth`` (6.875 in), deterministic bytes
(fixed font, dpi, no dates or versions in the metadata).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yonos_bench.core.errors import YonosError, did_you_mean
from yonos_bench.report.gallery import (
    Cell,
    choose_protocol,
    common_pair_ids,
    load_per_image,
    metric_delta,
    pair_files,
    protocol_runs,
    select_cells,
)

#: LaTeX widths of a two-column paper (CVPR/ICCV style), inches.
WIDTHS = {"column": 3.25, "text": 6.875}
PICKS = ("gain", "loss", "gain-loss", "spread")
LR_MODES = ("bicubic", "nearest", "none")
INSET_COLOR = "#e41a1c"
FONT = "DejaVu Sans"  # ships with matplotlib: the same glyphs on every machine


@dataclass
class Tile:
    label: str
    image: np.ndarray  # (H, W, 3) uint8 as drawn
    zoom: np.ndarray  # the inset's pixels, integer-upscaled (nearest)
    metric_text: str = ""


@dataclass
class Row:
    pair_id: str
    box: tuple[int, int, int, int]  # inset (x, y, w, h) in HR pixels
    tiles: list[Tile]
    delta: float | None = None  # A better than B by this much (the picking metric)
    note: str = ""  # printed with the pair id beside the row


@dataclass
class FigureResult:
    png: Path
    pdf: Path
    protocol: str
    rows: list[Row]
    columns: list[str]
    metric: str | None = None
    versus: tuple[str, str] | None = None
    notes: list[str] = field(default_factory=list)


def zoom_crop(image: np.ndarray, box: tuple[int, int, int, int], factor: int) -> np.ndarray:
    """``image[y:y+h, x:x+w]`` repeated ``factor`` times along both axes (exact pixels)."""
    x, y, w, h = box
    crop = image[y : y + h, x : x + w]
    return np.repeat(np.repeat(crop, factor, axis=0), factor, axis=1)


def upsample_lr(lr: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """LR shown at HR size: ``nearest`` (integer repeat: the real pixels) or ``bicubic`` (PIL)."""
    w, h = size
    if mode == "nearest":
        fy, fx = h // lr.shape[0], w // lr.shape[1]
        if fy * lr.shape[0] == h and fx * lr.shape[1] == w:
            return np.repeat(np.repeat(lr, fy, axis=0), fx, axis=1)
    from PIL import Image

    resample = Image.Resampling.NEAREST if mode == "nearest" else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(lr).resize((w, h), resample), dtype=np.uint8)


def auto_inset(images: Sequence[np.ndarray], size: int) -> tuple[int, int, int, int]:
    """The ``size``×``size`` window where the images differ most: the largest sum of the
    per-pixel standard deviation across images (ties: the first in raster order)."""
    h, w = images[0].shape[:2]
    size = max(1, min(size, h, w))
    if len(images) < 2:
        return ((w - size) // 2, (h - size) // 2, size, size)
    stack = np.stack([im.astype(np.float64).mean(axis=2) for im in images])
    spread = stack.std(axis=0)
    integral = np.pad(spread.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    )
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return (int(x), int(y), size, size)


def pick_pairs(ids: Sequence[str], deltas: dict[str, float] | None, pick: str, n: int) -> list[str]:
    """``n`` pair ids: largest gains, largest losses, half of each, or an even spread."""
    if pick not in PICKS:
        raise YonosError(f"--pick '{pick}': expected one of {', '.join(PICKS)}.")
    if n < 1:
        raise YonosError(f"--n {n}: expected at least 1 pair.")
    if pick == "spread":
        ids = sorted(ids)
        if len(ids) <= n:
            return ids
        return [ids[round(i * (len(ids) - 1) / max(1, n - 1))] for i in range(n)] if n > 1 else [ids[0]]
    if deltas is None:
        raise ValueError(f"pick '{pick}' needs per-pair metric differences (deltas), got None")
    gains = sorted(deltas, key=lambda i: (-deltas[i], i))
    losses = sorted(deltas, key=lambda i: (deltas[i], i))
    if pick == "gain":
        return gains[:n]
    if pick == "loss":
        return losses[:n]
    out = gains[: math.ceil(n / 2)]
    out += [i for i in losses if i not in out][: n - len(out)]
    return out


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise YonosError(f"--inset '{text}': expected X,Y,W,H in HR pixels, e.g. 40,40,32,32.") from None
    if w < 1 or h < 1 or x < 0 or y < 0:
        raise YonosError(f"--inset '{text}': W and H must be positive, X and Y not negative.")
    return (x, y, w, h)


def make_figure(
    results_root: str | os.PathLike,
    models: Sequence[str],
    out: str | os.PathLike,
    *,
    protocol: str | None = None,
    pairs: Sequence[str] = (),
    pick: str = "gain-loss",
    metric: str | None = None,
    versus: tuple[str, str] | None = None,
    n: int = 2,
    inset: tuple[int, int, int, int] | None = None,
    inset_size: int | None = None,
    lr: str = "bicubic",
    hr: bool = True,
    tile_metric: str | None = None,
    width: str = "text",
    dpi: int = 300,
    steps: int | None = None,
    data_root: str | os.PathLike | None = None,
) -> FigureResult:
    """Build the grid from result folders and write ``<out>.png`` and ``<out>.pdf``."""
    from yonos_bench.core.imageio import read_rgb8
    from yonos_bench.runs.results import load_results

    if not models:
        raise YonosError(
            "Choose the models to compare with --model (repeat it), e.g. -m bicubic -m yonos-tiny-x4@1."
        )
    if lr not in LR_MODES:
        raise YonosError(f"--lr '{lr}': expected one of {', '.join(LR_MODES)}.")
    if width not in WIDTHS:
        raise YonosError(f"--width '{width}': expected column or text.")
    loaded, _ = load_results(results_root, kind="run")
    name, version = choose_protocol(loaded, protocol)
    runs = protocol_runs(loaded, name, version)
    cells = select_cells(runs, models, steps)
    load_per_image(cells)
    ids = common_pair_ids(cells)
    if not ids:
        raise YonosError(f"The chosen cells share no SR images under {results_root} (sr/ folders are empty).")
    files = pair_files([c.result for c in cells], name, version, data_root)

    metric_used, vs, deltas = None, None, None
    if pairs:
        missing = [p for p in pairs if p not in ids]
        if missing:
            raise did_you_mean("pair id (no SR image of it in every chosen cell)", missing[0], ids)
        chosen = list(pairs)
    else:
        if pick != "spread":
            a, b = _versus_cells(cells, versus)
            metric_used = metric or _first_common_metric(a, b)
            vs = (a.model, b.model)
            deltas = metric_delta(a, b, metric_used, ids)
            if not deltas:
                raise YonosError(f"No pair has {metric_used} for both {a.model} and {b.model}.")
        chosen = pick_pairs(ids, deltas, pick, n)

    rows = []
    for pid in chosen:
        srs = [read_rgb8(c.sr_path(pid)) for c in cells]
        hh, ww = srs[0].shape[:2]
        for c, im in zip(cells, srs, strict=True):
            if im.shape[:2] != (hh, ww):
                raise YonosError(
                    f"SR images of pair {pid} differ in size ({c.sr_path(pid)} is {im.shape[1]}x{im.shape[0]})."
                )
        box = inset or auto_inset(srs, inset_size or max(8, min(hh, ww) // 4))
        x, y, bw, bh = box
        if x + bw > ww or y + bh > hh:
            raise YonosError(f"--inset {x},{y},{bw},{bh} does not fit in the {ww}x{hh} images of pair {pid}.")
        factor = max(1, ww // bw)
        tiles = []
        if lr != "none":
            lr_img = upsample_lr(read_rgb8(files[pid].lr), (ww, hh), lr)
            tiles.append(Tile(f"LR ({lr})", lr_img, zoom_crop(lr_img, box, factor)))
        for c, im in zip(cells, srs, strict=True):
            text = ""
            if tile_metric:
                v = c.per_image.get(tile_metric, {}).get(pid)
                text = "" if v is None else f"{tile_metric} {v:.4g}"
            tiles.append(Tile(c.label, im, zoom_crop(im, box, factor), text))
        if hr and files[pid].hr is not None:
            hr_img = read_rgb8(files[pid].hr)
            tiles.append(Tile("HR", hr_img, zoom_crop(hr_img, box, factor)))
        d = None if deltas is None else deltas.get(pid)
        note = "" if d is None else f"Δ{metric_used} {d:+.3g}"
        rows.append(Row(pid, box, tiles, d, note))

    png, pdf = draw_grid(rows, out, width_in=WIDTHS[width], dpi=dpi)
    return FigureResult(
        png, pdf, f"{name}-v{version}", rows, [t.label for t in rows[0].tiles], metric_used, vs
    )


def _versus_cells(cells: list[Cell], versus: tuple[str, str] | None) -> tuple[Cell, Cell]:
    if versus is None:
        if len(cells) < 2:
            raise YonosError(
                "Picking pairs by a metric difference needs two models (or --pick spread / --pair)."
            )
        return cells[0], cells[1]
    out = []
    for spec in versus:
        match = [c for c in cells if spec in (c.model, f"{c.model}@{c.steps}")]
        if not match:
            raise did_you_mean("--versus model (not among --model)", spec, [c.model for c in cells])
        out.append(match[0])
    return out[0], out[1]


def _first_common_metric(a: Cell, b: Cell) -> str:
    order = [m for m in a.result.data["protocol"]["metrics"] if m in a.per_image and m in b.per_image]
    order += sorted(set(a.per_image) & set(b.per_image) - set(order))
    if not order:
        raise YonosError(f"{a.model} and {b.model} share no per-image metric to pick pairs by.")
    return order[0]


# ----------------------------------------------------------------------------- drawing


def _rc() -> dict:
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [FONT],
        "font.size": 6,
        "pdf.fonttype": 42,  # TrueType: text stays text in the PDF (LaTeX-friendly, searchable)
        "svg.hashsalt": "yonos-bench",
        "path.simplify": False,
        "axes.linewidth": 0.6,
    }


def draw_grid(
    rows: list[Row],
    out: str | os.PathLike,
    *,
    width_in: float,
    dpi: int = 300,
) -> tuple[Path, Path]:
    """Lay out and save the grid (geometry in inches: the same figure at any dpi)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() in (".png", ".pdf") else out
    ncol = len(rows[0].tiles)
    left, gap, vgap, head = 0.14, 0.03, 0.02, 0.26
    tw = (width_in - left - gap * (ncol - 1)) / ncol
    has_text = any(t.metric_text for r in rows for t in r.tiles)
    text_h = 0.1 if has_text else 0.0
    heights = []
    for r in rows:
        ih = tw * r.tiles[0].image.shape[0] / r.tiles[0].image.shape[1]
        zh = tw * r.tiles[0].zoom.shape[0] / r.tiles[0].zoom.shape[1]
        heights.append((ih, zh))
    height_in = head + sum(ih + zh + vgap + text_h + 0.04 for ih, zh in heights)
    chars = max(8, int(tw * 72 / 6 * 1.9))  # ~characters of 6-pt text across one tile
    with plt.rc_context(_rc()):
        fig = plt.figure(figsize=(width_in, height_in), dpi=dpi)
        try:
            y_top = height_in - head
            for j, t in enumerate(rows[0].tiles):
                x0 = left + j * (tw + gap)
                label = "\n".join(textwrap.wrap(t.label, chars)[:2])
                fig.text((x0 + tw / 2) / width_in, (y_top + 0.03) / height_in, label,
                         ha="center", va="bottom", fontsize=6)  # fmt: skip
            for r, (ih, zh) in zip(rows, heights, strict=True):
                fig.text(0.07 / width_in, (y_top - (ih + zh) / 2) / height_in,
                         r.pair_id + (f"  ({r.note})" if r.note else ""),
                         ha="center", va="center", rotation=90, fontsize=5)  # fmt: skip
                for j, t in enumerate(r.tiles):
                    x0 = left + j * (tw + gap)
                    ax = fig.add_axes(
                        (x0 / width_in, (y_top - ih) / height_in, tw / width_in, ih / height_in)
                    )
                    ax.imshow(t.image, interpolation="nearest", resample=False)
                    x, y, w, h = r.box
                    ax.add_patch(
                        Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor=INSET_COLOR, linewidth=0.6)
                    )
                    ax.set_axis_off()
                    zy = y_top - ih - vgap - zh
                    az = fig.add_axes((x0 / width_in, zy / height_in, tw / width_in, zh / height_in))
                    az.imshow(t.zoom, interpolation="nearest", resample=False)
                    az.set_xticks([])
                    az.set_yticks([])
                    for s in az.spines.values():
                        s.set_edgecolor(INSET_COLOR)
                        s.set_linewidth(0.8)
                    if t.metric_text:
                        fig.text((x0 + tw / 2) / width_in, (zy - 0.015) / height_in, t.metric_text,
                                 ha="center", va="top", fontsize=5)  # fmt: skip
                y_top -= ih + zh + vgap + text_h + 0.04
            png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
            stem.parent.mkdir(parents=True, exist_ok=True)
            _save(fig, png, "png", dpi)
            _save(fig, pdf, "pdf", dpi)
        finally:
            plt.close(fig)
    return png, pdf


def _save(fig, path: Path, fmt: str, dpi: int) -> None:
    import io

    from yonos_bench.core.atomic import write_bytes_atomic

    # No dates, no library versions in the files: same inputs -> same bytes.
    meta = {"Software": None} if fmt == "png" else {"CreationDate": None, "Producer": None, "Creator": None}
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
    write_bytes_atomic(path, buf.getvalue())
