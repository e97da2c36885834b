"""The ``setup:`` of a command card: where the authors' checkout, interpreter and
checkpoints are, checked before anything runs, and the recipe ``models show`` prints.

Resolution order for each location: the model option (``checkout``) or the env var named
on the card, else the card's default (checkpoint paths relative to the checkout). A missing
checkout or file is one :class:`~yonos_bench.core.errors.WeightsMissingError` naming the env
var to set, where it looked and where to download it. Values are put into the template
shell-quoted (``shlex.quote``), so a path with spaces stays one argument after the split.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.errors import WeightsMissingError
from yonos_bench.models.folder import expand_path

#: The stdlib-only launcher the authors' Python runs (``{launcher}`` in a template).
LAUNCHER = Path(__file__).with_name("ext_launch.py")
SETUP_FIELDS = ("python", "launcher", "checkout")


@dataclass
class ResolvedSetup:
    checkout: Path
    values: dict[str, str]  # template field -> value
    deferred: list[tuple[Path, int, str]] = field(default_factory=list)  # checked per run (steps)
    files: list[Path] = field(default_factory=list)  # every setup file, fixed-path ones included

    def fill(self, template: str) -> str:
        for name, value in self.values.items():
            # braces doubled: the filled template is str.format-ed again per run
            safe = shlex.quote(value).replace("{", "{{").replace("}", "}}")
            template = template.replace("{" + name + "}", safe)
        return template


def _recipe_hint(card) -> str:
    return f"The full setup recipe: yonos-bench models show {card.name}"


def checkout_path(card, options) -> tuple[Path | None, str]:
    """(path or None, where it came from)."""
    s = card.setup
    if options.get("checkout"):
        return expand_path(options["checkout"]), "option checkout"
    if os.environ.get(s.checkout_env):
        return expand_path(os.environ[s.checkout_env]), f"${s.checkout_env}"
    return None, ""


def file_path(card, checkout: Path, f) -> tuple[Path, str]:
    if f.env and os.environ.get(f.env):
        return expand_path(os.environ[f.env]), f"${f.env}"
    p = Path(f.path).expanduser()
    return (p if p.is_absolute() else checkout / p), "default"


def _missing_file_message(card, f, path: Path, source: str) -> str:
    what = "folder" if f.kind == "folder" else "file"
    move = f" or set ${f.env} to its path" if f.env else ""
    get = f"Download: {f.url}" if f.url else ""
    if f.note:
        get = f"{get} ({f.note})" if get else f.note
    when = f" (needed for {f.steps}-step runs)" if f.steps is not None else ""
    return (
        f"Model '{card.name}': {what} {f.name}{when} not found at {path} ({source}). "
        f"Put it there{move}. {get}. {_recipe_hint(card)}"
    )


def resolve_setup(card, options) -> ResolvedSetup:
    s = card.setup
    checkout, source = checkout_path(card, options)
    if checkout is None:
        raise WeightsMissingError(
            f"Model '{card.name}' runs the authors' code: clone {s.repo} (the card's command line was read "
            f"at commit {s.commit[:12]}), install it, and give the checkout in ${s.checkout_env} "
            f"(or the model option checkout=DIR). {_recipe_hint(card)}"
        )
    if not checkout.is_dir():
        raise WeightsMissingError(
            f"Model '{card.name}': the checkout {checkout} ({source}) is not a folder; clone {s.repo} there "
            f"or point ${s.checkout_env} at your clone. {_recipe_hint(card)}"
        )
    values = {
        "python": os.environ.get(s.python_env) or "python",
        "launcher": str(LAUNCHER),
        "checkout": str(checkout),
    }
    out = ResolvedSetup(checkout=checkout, values=values)
    for f in s.files:
        path, where = file_path(card, checkout, f)
        if f.field:
            values[f.field] = str(path)
        out.files.append(path)
        message = _missing_file_message(card, f, path, where)
        if f.steps is not None:
            out.deferred.append((path, f.steps, message))
        elif not path.exists():
            raise WeightsMissingError(message)
    return out


def setup_recipe(card, options=None) -> dict:
    """What ``models show`` prints for a command card: clone, install, files, verify, and
    the state of each location on this machine."""
    s = card.setup
    options = dict(card.options) if options is None else options
    checkout, source = checkout_path(card, options)
    files = []
    for f in s.files:
        if checkout is not None or (f.env and os.environ.get(f.env)) or Path(f.path).is_absolute():
            path, where = file_path(card, checkout or Path("."), f)
            state = "present" if path.exists() else "missing"
            shown = str(path)
        else:
            where, state, shown = "default", "unknown (checkout not set)", f"<checkout>/{f.path}"
        files.append(
            {
                "name": f.name,
                "path": shown,
                "from": where,
                "env": f.env,
                "field": f.field,
                "url": f.url,
                "note": f.note or None,
                "steps": f.steps,
                "state": state,
            }
        )
    return {
        "repo": s.repo,
        "commit": s.commit,
        "clone": f"git clone {s.repo} && git -C {Path(s.repo).name} checkout {s.commit}",
        "checkout_env": s.checkout_env,
        "checkout": str(checkout) if checkout is not None else None,
        "checkout_from": source or None,
        "checkout_present": bool(checkout is not None and checkout.is_dir()),
        "python_env": s.python_env,
        "python": os.environ.get(s.python_env) or "python",
        "install": list(s.install),
        "files": files,
        "verify": s.verify,
        "source": s.source,
        "workaround": s.workaround or None,
        "command": options.get("command"),
    }
