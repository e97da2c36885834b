"""Drive another repository's inference script: an external command on a folder of LR images.

Option ``command`` is a template such as
``python inference.py -i {input} -o {output} --scale {scale}`` with the fields

* ``{input}`` — a fresh folder holding the batch's LR images as ``<pair id>.png`` (8-bit:
  the protocols' LR are 8-bit PNGs, so nothing is lost),
* ``{output}`` — an empty folder the command must write the SR images to,
* ``{scale}``, and optionally ``{steps}`` (the model then takes steps) and ``{seed}``.

The template is split like a shell line (``shlex``) and each token filled separately, so
paths with spaces stay one argument; no shell is involved. Outputs are matched by
``outputs_template`` (default ``{id}``, any image extension; see the folder adapter) and
must be exactly ``scale ×`` the LR size. With ``{seed}`` the command runs once per image
with that image's seed (so an output never depends on the batch); otherwise once per batch.
A non-zero exit, a timeout, or missing outputs raise an error quoting the end of the
command's stderr. ``cwd`` sets the working directory (the other repository).

Models released for fixed step counts list them: ``allowed_steps: [1]`` (SinSR, OSEDiff),
or ``step_values: {version: {4: v3, 15: v1}}`` — a template field whose value follows the
steps (ResShift's ``--version``); other step counts are refused before anything runs.

Shipped cards for the authors' repositories carry a ``setup:`` section
(:mod:`yonos_bench.models.command_setup`): the checkout (``$<NAME>_DIR`` or option
``checkout``, the command's working directory), the interpreter of the authors'
environment (``{python}``, ``$<NAME>_PYTHON``), each checkpoint (``{field}``, its own env
var, default path inside the checkout) and ``{launcher}`` (:mod:`ext_launch`, for scripts
that cannot take a folder or a seed as the adapter needs). These are resolved and checked
when the model loads — a missing one is one message naming the env var and the URL — and
written into the template before it is split, so the command line is concrete.

The cell key (``weights_digest``) covers what the command runs, so a changed script is a
new cell, never served from (or resumed into) the old one: the template, ``cwd``, the
optional ``version`` option, and the sha256 of every existing *file* the template names
(a token, or the value of ``--opt=VALUE``, as a path absolute or relative to ``cwd``: the
script, a config, a checkpoint). Not covered: files the script imports or reads without
naming them in the template, folders, and programs found on ``$PATH`` — bump ``version``
when those change. The setup's checkpoints (fixed-path ones included) and the
``step_values`` map are hashed too; the launcher is a file the template names.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import string
import subprocess
import tempfile
from pathlib import Path

import torch

from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.core.imageio import to_uint8, write_png
from yonos_bench.models.base import ScaleMismatchError, SRModelBase, file_digest
from yonos_bench.models.card import command_allowed_steps
from yonos_bench.models.folder import OutputMatcher, expand_path, read_output

FIELDS = ("input", "output", "scale", "steps", "seed")
TAIL_LINES = 20


def template_fields(template: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise ValueError(f"command: malformed template {template!r}: {e}") from None


def _tail(text: str | bytes | None) -> str:
    if not text:
        return "(no stderr output)"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = text.rstrip().splitlines()
    return "\n".join(lines[-TAIL_LINES:])


def named_files(argv_template: list[str], cwd: Path | None) -> list[Path]:
    """The existing regular files a command template names (tokens without fields, or the
    ``VALUE`` of ``--opt=VALUE``), relative to ``cwd`` (or the current folder) unless absolute."""
    base = cwd or Path.cwd()
    found: list[Path] = []
    for tok in argv_template:
        for part in (tok, tok.split("=", 1)[1] if "=" in tok else None):
            if not part or "{" in part:
                continue
            p = Path(os.path.expanduser(part))
            p = p if p.is_absolute() else base / p
            if p.is_file() and p not in found:
                found.append(p)
    return found


def command_digest(template: str, cwd: Path | None, version: str | None, files: list[Path]) -> str:
    """The command's cell-key digest: template, cwd, version and the named files' sha256."""
    h = hashlib.sha256(f"{template}\0{cwd or ''}\0{version or ''}".encode())
    for p in files:
        h.update(f"\0{p}\0{file_digest(p)}".encode())
    return h.hexdigest()


class CommandModel(SRModelBase):
    def __init__(
        self,
        name,
        template,
        scale,
        *,
        default_steps,
        outputs_template,
        cwd,
        timeout_s,
        allowed_steps=None,
        step_values=None,
        required_files=(),
        failure_hint="",
        input_files=(),
        version=None,
        outputs_steps=None,
    ):
        step_values = {k: dict(v) for k, v in (step_values or {}).items()}
        fields = template_fields(template)
        unknown = fields - set(FIELDS) - set(step_values)
        if unknown:
            raise ValueError(
                f"command: unknown field(s) {sorted(unknown)} in {template!r}; allowed: {', '.join(FIELDS)}"
            )
        for need in ("input", "output"):
            if need not in fields:
                raise ValueError(f"command: the template must use {{{need}}}, got {template!r}")
        self.argv_template = shlex.split(template)
        self.template = template
        self.name = name
        self.scale = int(scale)
        self.step_values = step_values
        self.allowed_steps = command_allowed_steps({"allowed_steps": allowed_steps, "step_values": step_values})
        self.supports_steps = "steps" in fields or bool(self.allowed_steps)
        self.default_steps = default_steps if self.supports_steps else None
        if self.supports_steps and default_steps is None:
            raise ValueError("steps: a command using {steps} needs a default number of steps on its card")
        # (path, steps or None, message): checked before each run needing them
        self.required_files = tuple(required_files)
        self.failure_hint = failure_hint  # appended to a non-zero exit (where the setup is)
        # the checkpoints the command reads (setup files, fixed-path ones included): inputs of
        # its results: hashed into the cell key (weights_digest) below
        self.input_files = tuple(input_files)
        self.per_image = "seed" in fields
        self.batch_invariant = self.per_image  # once per image: no batch can change an output
        self.outputs_template = outputs_template
        self.cwd = expand_path(cwd) if cwd else None
        if self.cwd is not None and not self.cwd.is_dir():
            raise YonosError(f"Model '{name}': working directory {self.cwd} does not exist.")
        self.timeout_s = float(timeout_s)
        files = named_files(self.argv_template, self.cwd)
        files += [Path(f) for f in self.input_files if Path(f).is_file() and Path(f) not in files]
        keyed_version = version or ""
        if self.step_values:  # a different steps → version map is a different model
            keyed_version += "\0" + json.dumps(self.step_values, sort_keys=True, default=str)
        self.weights_digest = command_digest(template, self.cwd, keyed_version, files)
        self.info = {
            "adapter": "command", "command": template, "cwd": str(self.cwd or ""), "version": version,
            "hashed_files": [str(p) for p in files],
            "outputs_steps": None if self.supports_steps else outputs_steps,
        }  # fmt: skip
        if self.step_values:
            self.info["step_values"] = {k: dict(v) for k, v in self.step_values.items()}
        if self.input_files:
            self.info["input_files"] = [str(p) for p in self.input_files]

    def resolve_steps(self, steps):
        steps = super().resolve_steps(steps)
        if self.allowed_steps and steps not in self.allowed_steps:
            raise ValueError(
                f"steps: model '{self.name}' runs only with steps {', '.join(map(str, self.allowed_steps))} "
                f"(the released checkpoints), got {steps}"
            )
        return steps

    def _check_files(self, steps) -> None:
        for path, for_steps, message in self.required_files:
            if (for_steps is None or for_steps == steps) and not path.exists():
                raise WeightsMissingError(message)

    def _upscale(self, lr, steps, seeds, names):
        self._check_files(steps)  # steps: already resolved by upscale()
        names = names if names is not None else [f"{i:06d}" for i in range(lr.shape[0])]
        if len(set(names)) != len(names):
            raise ValueError("names: pair ids in a batch must be unique")
        groups = [[i] for i in range(len(names))] if self.per_image else [list(range(len(names)))]
        out: list[torch.Tensor | None] = [None] * len(names)
        for idx in groups:
            ys = self._run([lr[i] for i in idx], [names[i] for i in idx], steps, seeds[idx[0]])
            for i, y in zip(idx, ys, strict=True):
                out[i] = y
        return torch.stack(out).to(lr.device)  # type: ignore[arg-type]

    def _run(self, images, names, steps, seed) -> list[torch.Tensor]:
        with tempfile.TemporaryDirectory(prefix="yonos-cmd-") as tmp:
            inp, outp = Path(tmp) / "lr", Path(tmp) / "sr"
            inp.mkdir()
            outp.mkdir()
            for img, n in zip(images, names, strict=True):
                write_png(inp / f"{n}.png", to_uint8(img))
            values = {
                "input": str(inp),
                "output": str(outp),
                "scale": self.scale,
                "steps": steps,
                "seed": seed,
            }
            values.update({f: by_steps[steps] for f, by_steps in self.step_values.items()})
            argv = [tok.format(**values) for tok in self.argv_template]
            shown = shlex.join(argv)
            try:
                proc = subprocess.run(
                    argv, cwd=self.cwd, capture_output=True, timeout=self.timeout_s, check=False
                )
            except FileNotFoundError:
                raise YonosError(
                    f"Model '{self.name}': command not found: {argv[0]!r} (in `{shown}`)."
                ) from None
            except subprocess.TimeoutExpired as e:
                raise YonosError(
                    f"Model '{self.name}': `{shown}` did not finish within {self.timeout_s:g} s.\n"
                    f"--- stderr (last lines) ---\n{_tail(e.stderr)}"
                ) from None
            if proc.returncode != 0:
                raise YonosError(
                    f"Model '{self.name}': `{shown}` exited with status {proc.returncode}.{self.failure_hint}\n"
                    f"--- stderr (last lines) ---\n{_tail(proc.stderr)}"
                )
            if not any(p.is_file() for p in outp.rglob("*")):
                raise YonosError(
                    f"Model '{self.name}': `{shown}` exited normally but wrote nothing to {outp}.\n"
                    f"--- stderr (last lines) ---\n{_tail(proc.stderr)}"
                )
            matcher = OutputMatcher(outp, self.outputs_template)
            try:
                found = matcher.match(names, allow_extra=True)
            except YonosError as e:
                raise YonosError(
                    f"Model '{self.name}': {e}\n--- stderr (last lines) ---\n{_tail(proc.stderr)}"
                ) from None
            return [
                read_output(found[n], tuple(img.shape[-2:]), self.scale)
                for img, n in zip(images, names, strict=True)
            ]


def build(card, *, device, dtype, weights_dir, options, scale, path) -> CommandModel:
    del device, dtype, weights_dir, path
    template = options["command"]
    cwd = options.get("cwd")
    required: list = []
    hint = ""
    files: list = []
    if card.setup is not None:
        from yonos_bench.models.command_setup import resolve_setup

        resolved = resolve_setup(card, options)
        template = resolved.fill(template)
        cwd = str(resolved.checkout)
        required, files = resolved.deferred, resolved.files
        hint = (
            f" It ran in {resolved.checkout} with ${card.setup.python_env}={resolved.values['python']}; "
            f"check the setup: yonos-bench models show {card.name}"
        )
    if scale is not None and scale != card.scale and "{scale}" not in template:
        raise ScaleMismatchError(
            f"Model '{card.name}' runs a fixed x{card.scale} command (no {{scale}} in its template) but x{scale} is needed."
        )
    return CommandModel(
        card.name,
        template,
        scale if scale is not None else card.scale,
        default_steps=card.steps,
        outputs_template=options.get("outputs_template", "{id}"),
        cwd=cwd,
        timeout_s=options.get("timeout_s", 3600.0),
        allowed_steps=options.get("allowed_steps"),
        step_values=options.get("step_values"),
        required_files=required,
        failure_hint=hint,
        input_files=files,
        version=options.get("version"),
        outputs_steps=options.get("outputs_steps"),
    )
