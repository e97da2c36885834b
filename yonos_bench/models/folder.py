"""Outputs produced by another codebase, read back and matched to the protocol's pairs.

For models whose code is not a pip package and has no command card (SeeSR, PASD, DiffBIR,
SUPIR, AddSR, TSD-SR...): ``yonos-bench protocols prepare P`` exports the LR images as
``lr/<pair id>.png``; the user runs the authors' inference on that folder and gives the
output folder as option ``outputs`` (or in ``$YONOS_OUTPUTS_<NAME>``, e.g.
``YONOS_OUTPUTS_SEESR``, so ``yonos-bench run P --model seesr`` needs no extra flag).
Each pair id is then matched to one file:

* ``template`` (default ``{id}``): the file name made from the pair id. Without a file
  extension any image extension matches (``{id}`` finds ``astronaut_p07.png`` or
  ``astronaut_p07.jpg``; two candidates are an error). Examples: ``{id}_out.png``,
  ``samples/{id}.png``.
* ``map``: a CSV file with header ``id,file`` (file relative to the outputs folder, or
  absolute) for arbitrary names; it replaces the template.

Before a run, :meth:`FolderModel.check_names` names every missing file and every extra
image (one that matches no pair; allowed with ``allow_extra: true``). Every output must be
exactly ``scale ×`` its LR size — a wrong size is an error naming the file, never resized.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from yonos_bench.core.errors import DataMissingError, ImageError, YonosError
from yonos_bench.core.imageio import IMAGE_SUFFIXES, read_rgb8, to_tensor
from yonos_bench.models.base import SRModelBase, combined_digest, file_digest

_SHOW = 10  # names listed in an error message before "... and N more"


def _some(names: Sequence[str]) -> str:
    names = list(names)
    more = f" ... and {len(names) - _SHOW} more" if len(names) > _SHOW else ""
    return ", ".join(names[:_SHOW]) + more


def expand_path(text: str) -> Path:
    """``~`` and ``$VAR`` / ``${VAR}`` expanded; an unset variable is an error, not a literal."""
    expanded = os.path.expandvars(os.path.expanduser(text))
    if "$" in expanded:
        raise YonosError(f"Path {text!r} uses an environment variable that is not set.")
    return Path(expanded)


class OutputMatcher:
    """Pair id → output file, by template or CSV map."""

    def __init__(self, folder: str | os.PathLike, template: str = "{id}", map_csv: str | None = None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataMissingError(f"Outputs folder not found: {self.folder}")
        rest = template.replace("{id}", "", 1)
        if "{id}" not in template or "{" in rest or "}" in rest:
            raise ValueError(
                f"template: must contain '{{id}}' exactly once and no other field, got {template!r}"
            )
        self.template = template
        self.map: dict[str, Path] | None = self._read_map(map_csv) if map_csv else None
        self._by_stem: dict[str, list[Path]] | None = None

    def _read_map(self, map_csv: str) -> dict[str, Path]:
        path = expand_path(map_csv)
        if not path.is_absolute() and not path.is_file():
            path = self.folder / path
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            raise DataMissingError(f"Cannot read the outputs map {path}: {e.strerror or e}") from None
        if not rows or set(rows[0]) != {"id", "file"}:
            raise YonosError(f"Outputs map {path}: expected a CSV with exactly the columns id,file.")
        out: dict[str, Path] = {}
        for i, r in enumerate(rows, start=2):
            if not r["id"] or not r["file"]:
                raise YonosError(f"Outputs map {path}, line {i}: empty id or file.")
            if r["id"] in out:
                raise YonosError(f"Outputs map {path}, line {i}: id {r['id']!r} appears twice.")
            f = Path(r["file"])
            out[r["id"]] = f if f.is_absolute() else self.folder / f
        return out

    def candidates(self, pair_id: str) -> list[Path]:
        if self.map is not None:
            p = self.map.get(pair_id)
            return [p] if p is not None and p.is_file() else []
        rel = self.template.replace("{id}", pair_id)
        if Path(rel).suffix.lower() in IMAGE_SUFFIXES:
            p = self.folder / rel
            return [p] if p.is_file() else []
        if self._by_stem is None:  # index once: any image extension matches
            self._by_stem = {}
            for p in sorted(self.folder.rglob("*")):
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                    stem = p.relative_to(self.folder).with_suffix("").as_posix()
                    self._by_stem.setdefault(stem, []).append(p)
        return self._by_stem.get(rel, [])

    def path_for(self, pair_id: str) -> Path:
        found = self.candidates(pair_id)
        if len(found) > 1:
            raise YonosError(
                f"Outputs folder {self.folder}: pair '{pair_id}' matches {len(found)} files "
                f"({', '.join(p.name for p in found)}); keep one or give a template with an extension."
            )
        if not found:
            raise DataMissingError(
                f"Outputs folder {self.folder} has no output for pair '{pair_id}' "
                f"(looked for {self._describe(pair_id)})."
            )
        return found[0]

    def _describe(self, pair_id: str) -> str:
        if self.map is not None:
            return f"the map's entry for {pair_id!r}"
        rel = self.template.replace("{id}", pair_id)
        return rel if Path(rel).suffix else f"{rel}.<png|jpg|...>"

    def match(
        self, ids: Sequence[str], *, allow_extra: bool, known: Sequence[str] | None = None
    ) -> dict[str, Path]:
        """Every id's file; raises naming all missing ids, then extra images (images that
        match none of ``known``, default ``ids``: a ``--limit`` run tolerates the rest's outputs)."""
        found: dict[str, Path] = {}
        missing: list[str] = []
        for i in ids:
            try:
                found[i] = self.path_for(i)
            except DataMissingError:
                missing.append(i)
        if missing:
            raise DataMissingError(
                f"Outputs folder {self.folder} lacks {len(missing)} of {len(ids)} outputs: {_some(missing)} "
                f"(e.g. looked for {self._describe(missing[0])})."
            )
        if not allow_extra:
            used = {p.resolve() for p in found.values()}
            used |= {p.resolve() for i in (known or ()) for p in self.candidates(i)}
            extra = [
                p.relative_to(self.folder).as_posix()
                for p in sorted(self.folder.rglob("*"))
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.resolve() not in used
            ]
            if extra:
                raise YonosError(
                    f"Outputs folder {self.folder} holds {len(extra)} image(s) that match no pair: {_some(extra)}. "
                    "Remove them, fix the name template/map, or set allow_extra: true."
                )
        return found


def read_output(path: Path, lr_hw: tuple[int, int], scale: int) -> torch.Tensor:
    arr = read_rgb8(path)
    want = (lr_hw[0] * scale, lr_hw[1] * scale)
    if arr.shape[:2] != want:
        raise ImageError(
            f"Output {path} is {arr.shape[1]}x{arr.shape[0]} (WxH) but x{scale} of its {lr_hw[1]}x{lr_hw[0]} LR "
            f"must be {want[1]}x{want[0]}; outputs are never resized (crop or pad them at the source)."
        )
    return to_tensor(arr)


class FolderModel(SRModelBase):
    needs_names = True
    batch_invariant = True  # outputs are files
    runs_here = False  # made by another codebase: reading them is not its speed

    def __init__(
        self,
        name: str,
        matcher: OutputMatcher,
        scale: int,
        *,
        allow_extra: bool,
        default_steps=None,
        outputs_steps: int | None = None,
    ):
        self.name = name
        self.matcher = matcher
        self.scale = int(scale)
        self.allow_extra = allow_extra
        self.supports_steps = False
        self.default_steps = default_steps
        images = [
            p for p in sorted(matcher.folder.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not images:
            raise DataMissingError(f"Outputs folder {matcher.folder} holds no images.")
        self.weights_digest = combined_digest(
            [(p.relative_to(matcher.folder).as_posix(), file_digest(p)) for p in images]
        )
        self.info = {
            "adapter": "folder", "outputs": str(matcher.folder), "template": matcher.template,
            # declared by the card / $YONOS_OUTPUTS_STEPS_<NAME>: `table --with-paper` matches on it
            "outputs_steps": outputs_steps,
        }  # fmt: skip

    def check_names(self, names: Sequence[str], known: Sequence[str] | None = None) -> None:
        self.matcher.match(list(names), allow_extra=self.allow_extra, known=known)

    def _upscale(self, lr, steps, seeds, names):
        hw = (int(lr.shape[-2]), int(lr.shape[-1]))
        out = [read_output(self.matcher.path_for(n), hw, self.scale) for n in names]
        return torch.stack(out).to(lr.device)


def outputs_env(card_name: str) -> str:
    """The environment variable that gives a folder card its outputs folder when the
    ``outputs`` option is unset (``stablesr`` → ``YONOS_OUTPUTS_STABLESR``)."""
    return "YONOS_OUTPUTS_" + "".join(c if c.isalnum() else "_" for c in card_name.upper())


def outputs_steps(card_name: str, options) -> int | None:
    """The steps a folder's outputs were made with: ``$YONOS_OUTPUTS_STEPS_<NAME>`` (for the
    shipped cards, whose option is unset), else the card's ``outputs_steps`` option."""
    env = outputs_env(card_name).replace("YONOS_OUTPUTS_", "YONOS_OUTPUTS_STEPS_", 1)
    text = os.environ.get(env)
    if text:
        if not text.isdigit() or int(text) < 1:
            raise YonosError(f"${env} must be a positive number of steps, got {text!r}.")
        return int(text)
    return options.get("outputs_steps")


def build(card, *, device, dtype, weights_dir, options, scale, path) -> FolderModel:
    del device, dtype, weights_dir, path
    env = outputs_env(card.name)
    outputs = options.get("outputs") or os.environ.get(env)
    if not outputs:
        raise YonosError(
            f"Model '{card.name}' is evaluated from outputs made by its own code. Run it on the LR images of "
            "the protocol (`yonos-bench protocols prepare PROTOCOL` writes <data>/prepared/<protocol>-v<N>/lr/) "
            f"and give the output folder with `--model-option outputs=DIR` (or {card.name}:outputs=DIR when "
            f"running several models), the card option outputs, or ${env}."
        )
    matcher = OutputMatcher(expand_path(outputs), options.get("template", "{id}"), options.get("map"))
    return FolderModel(
        card.name,
        matcher,
        scale if scale is not None else card.scale,
        allow_extra=bool(options.get("allow_extra", False)),
        default_steps=card.steps,
        outputs_steps=outputs_steps(card.name, options),
    )
