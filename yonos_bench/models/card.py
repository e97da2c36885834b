"""Model cards: what a wrapped model is, how it runs, and what its papers report.

A card is a YAML file in ``yonos_bench/baselines/<name>.yaml`` (validated by
:mod:`yonos_bench.models.registry`) and becomes a frozen :class:`ModelCard`. Cards hold
no code: the ``adapter`` names the module that runs the model, loaded only when the model
is (so ``models list`` imports no backend).

Weights (``weights:`` in the YAML) are the files ``yonos-bench weights status|fetch``
manage. Each has its official URL and the sha256 — pinned in the card where the authors
published one, otherwise ``null``: then the sha256 is recorded at the first
``weights fetch`` in ``<weights_dir>/sha256-recorded.json`` and every later load is checked
against that record (:mod:`yonos_bench.core.weights`). A mismatch is refused, both hashes shown.
Files live under ``<weights_dir>/models/`` (``subdir`` changes that). A Hugging Face
diffusers repository is listed as ``hf_repo`` + pinned ``revision`` + its ``files``; each
file becomes one weight file under ``<weights_dir>/models/<folder>/``.

Pipelines the user trains (YONOS, SD-SR) are not downloadable: ``pipeline:`` names the
folder (``<weights_dir>/models/<folder>`` or the environment variable ``env``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from yonos_bench.core.weights import WeightFile

#: Adapters and the module that implements each (imported lazily by ``load_model``).
ADAPTER_MODULES: Mapping[str, str] = MappingProxyType(
    {
        "interp": "yonos_bench.models.interp",
        "spandrel": "yonos_bench.models.spandrel_sr",
        "diffusers": "yonos_bench.models.diffusers_sr",
        "yonos": "yonos_bench.models.yonos",
        "folder": "yonos_bench.models.folder",
        "command": "yonos_bench.models.command",
        "paper-only": "",
    }
)

#: Where baseline weight files live inside the weights folder.
MODELS_SUBDIR = "models"
#: ``pipeline.folder: "package:assets/tiny/x"`` is a folder shipped inside ``yonos_bench``.
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class Reported:
    """One number a paper reports for this model.

    ``protocol`` is the registered protocol name (or a non-protocol context such as
    ``cost-512-a100``), ``metric`` the metric ID whose convention it is assumed to follow,
    ``label`` the column header as printed in the paper, ``steps`` the sampling steps it was
    measured with (``None`` for step-less models), ``source`` the paper and table."""

    protocol: str
    metric: str
    label: str
    value: float
    steps: int | None
    source: str
    note: str = ""


@dataclass(frozen=True)
class PipelineFolder:
    """A diffusers pipeline folder the user trains or downloads (no public URL)."""

    folder: str  # relative to <weights_dir>/models, absolute, or "package:<path in yonos_bench>"
    env: str | None = None  # environment variable that overrides the location

    def path(self, weights_dir: str | os.PathLike | None = None) -> Path:
        from yonos_bench.core.paths import weights_dir as resolve

        if self.env and os.environ.get(self.env):
            return Path(os.environ[self.env]).expanduser()
        if self.folder.startswith(PACKAGE_PREFIX):  # shipped inside the package (the tiny models)
            from yonos_bench.core.paths import package_dir

            return package_dir() / self.folder[len(PACKAGE_PREFIX) :]
        p = Path(self.folder).expanduser()
        return p if p.is_absolute() else resolve(weights_dir) / MODELS_SUBDIR / p

    def is_present(self, weights_dir: str | os.PathLike | None = None) -> bool:
        return (self.path(weights_dir) / "model_index.json").is_file()


@dataclass(frozen=True)
class HFRepo:
    """A Hugging Face diffusers repository pinned at ``revision``, stored in ``folder``."""

    repo: str
    revision: str
    folder: str
    files: tuple[str, ...]

    def path(self, weights_dir: str | os.PathLike | None = None) -> Path:
        from yonos_bench.core.paths import weights_dir as resolve

        return resolve(weights_dir) / MODELS_SUBDIR / self.folder


@dataclass(frozen=True)
class SetupFile:
    """A checkpoint (or folder) the authors' command needs: default ``path`` (relative to
    the checkout), the template ``field`` that receives it, the ``env`` var that moves it."""

    name: str
    path: str
    url: str | None
    field: str | None = None
    env: str | None = None
    note: str = ""
    steps: int | None = None  # needed only for runs with this many steps
    kind: str = "file"  # or "folder"


@dataclass(frozen=True)
class CommandSetup:
    """How to get and check the authors' code for a ``command`` card (``models show``)."""

    repo: str
    commit: str
    checkout_env: str
    python_env: str
    install: tuple[str, ...]
    verify: str
    source: str
    files: tuple[SetupFile, ...] = ()
    workaround: str = ""


def command_takes_steps(options: Mapping[str, Any]) -> bool:
    """A command card takes steps when its template uses ``{steps}`` or it lists the step
    counts it was released for (``allowed_steps`` / ``step_values``)."""
    return (
        "{steps}" in str(options.get("command", ""))
        or bool(options.get("allowed_steps"))
        or bool(options.get("step_values"))
    )


def command_allowed_steps(options: Mapping[str, Any]) -> tuple[int, ...]:
    """The only step counts a command card runs with (``()``: any): ``allowed_steps``
    intersected with the keys of every ``step_values`` field."""
    allowed = set(options.get("allowed_steps") or [])
    for by_steps in (options.get("step_values") or {}).values():
        allowed = (allowed & set(by_steps)) if allowed else set(by_steps)
    return tuple(sorted(allowed))


@dataclass(frozen=True)
class ModelCard:
    name: str
    adapter: str
    scale: int
    description: str
    citation: str
    license: str
    steps: int | None = None  # default sampling steps (None: the model takes no steps)
    display_name: str = ""
    paper_names: tuple[str, ...] = ()  # how the papers' tables name it
    homepage: str = ""
    weights: tuple[WeightFile, ...] = ()
    hf_repo: HFRepo | None = None
    pipeline: PipelineFolder | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    reported: tuple[Reported, ...] = ()
    notes: tuple[str, ...] = ()
    setup: CommandSetup | None = None
    file: str = ""  # the YAML it was read from ("" for cards built in code)

    @property
    def runnable(self) -> bool:
        return self.adapter != "paper-only"

    @property
    def supports_steps(self) -> bool:
        if self.adapter in ("diffusers", "yonos"):
            return True
        if self.adapter == "command":
            return command_takes_steps(self.options)
        return False

    def reported_for(self, protocol: str, metric: str | None = None) -> list[Reported]:
        return [r for r in self.reported if r.protocol == protocol and (metric is None or r.metric == metric)]

    def weights_state(self, weights_dir: str | os.PathLike | None = None) -> str:
        """One word for ``models list``: present | missing | partial | none | outputs |
        paper-only (presence only; hashes are checked when the model loads)."""
        if self.adapter == "paper-only":
            return "paper-only"
        if self.adapter in ("folder", "command"):
            return "outputs" if self.adapter == "folder" else "external"
        if self.pipeline is not None:
            return "present" if self.pipeline.is_present(weights_dir) else "missing"
        if not self.weights:
            return "none"
        have = [w.is_present(weights_dir) for w in self.weights]
        return "present" if all(have) else ("partial" if any(have) else "missing")
