"""Model-card registry: ``yonos_bench/baselines/<name>.yaml`` validated into :class:`ModelCard`.

Validation is as strict as for protocols: an unknown key (with did-you-mean), a wrong
type or a missing field is a :class:`~yonos_bench.core.errors.SpecError` naming the file and the
key; two cards with the same name are rejected; the name must equal the file stem.
Reported numbers must use a known metric ID and a registered protocol (or one of the
non-protocol contexts of ``card_schema.CONTEXTS``). No torch import here: ``models list`` stays instant.
"""

from __future__ import annotations

import dataclasses
import os
import re
from functools import lru_cache
from pathlib import Path

from yonos_bench.core.errors import SpecError, did_you_mean
from yonos_bench.core.weights import WeightFile
from yonos_bench.models.card import (
    ADAPTER_MODULES,
    MODELS_SUBDIR,
    PACKAGE_PREFIX,
    CommandSetup,
    HFRepo,
    ModelCard,
    PipelineFolder,
    Reported,
    SetupFile,
    command_allowed_steps,
    command_takes_steps,
)
from yonos_bench.models.card_schema import (  # noqa: F401  (ADAPTER_OPTIONS, CONTEXTS, EXTRA_METRICS re-exported)
    ADAPTER_OPTIONS,
    COMMAND_FIELDS,
    CONTEXTS,
    ENV_RE,
    EXTRA_METRICS,
    HF_KEYS,
    NAME_RE,
    PIPELINE_KEYS,
    REPORTED_KEYS,
    SETUP_FILE_KEYS,
    SETUP_KEYS,
    SETUP_TEMPLATE_FIELDS,
    SHA_RE,
    TOP_KEYS,
    WEIGHT_KEYS,
    check_mapping,
    str_list,
    validate_options,
)


def _known_protocols() -> set[str]:
    from yonos_bench.protocols.spec import list_protocols

    return {p.name for p in list_protocols()}


def _check_metric(metric: str, where: str, key: str) -> None:
    if metric in EXTRA_METRICS:
        return
    from yonos_bench.metrics.presets import get_preset

    try:
        get_preset(metric)
    except KeyError as e:  # UnknownNameError carries the did-you-mean text
        raise SpecError(f"{where}: key '{key}': {e}") from None


def _parse_weights(items: list, card_name: str, where: str) -> tuple[WeightFile, ...]:
    out: list[WeightFile] = []
    for i, item in enumerate(items):
        key = f"weights[{i}]"
        w = check_mapping(item, WEIGHT_KEYS, where, key + ".")
        sha = w.get("sha256")
        if sha is not None and not SHA_RE.match(sha):
            raise SpecError(
                f"{where}: key '{key}.sha256' must be 64 lowercase hex digits or null, got {sha!r}."
            )
        if "/" in w["file"] or "\\" in w["file"]:
            raise SpecError(
                f"{where}: key '{key}.file' must be a plain file name (use subdir), got {w['file']!r}."
            )
        url = w["url"] or ""
        note = w.get("note", "")
        if not url and not note:
            raise SpecError(
                f"{where}: key '{key}.note' is required when url is null (say how to get the file)."
            )
        out.append(
            WeightFile(
                name=w["name"],
                filename=w["file"],
                url=url,
                sha256=sha,
                subdir=w.get("subdir", MODELS_SUBDIR),
                used_by=(card_name,),
                note=note,
            )
        )
    names = [w.name for w in out]
    if len(set(names)) != len(names):
        raise SpecError(
            f"{where}: key 'weights' lists the name {next(n for n in names if names.count(n) > 1)!r} twice."
        )
    return tuple(out)


def _parse_hf(data: dict, card_name: str, where: str) -> tuple[HFRepo, tuple[WeightFile, ...]]:
    h = check_mapping(data, HF_KEYS, where, "hf_repo.")
    files = str_list(h["files"], where, "hf_repo.files")
    if not files or "model_index.json" not in files:
        raise SpecError(
            f"{where}: key 'hf_repo.files' must list the repository's files, model_index.json included."
        )
    if not re.fullmatch(r"[0-9a-f]{40}", h["revision"]):
        raise SpecError(
            f"{where}: key 'hf_repo.revision' must be a full 40-digit commit hash (pinned), got {h['revision']!r}."
        )
    repo = HFRepo(h["repo"], h["revision"], h["folder"], files)
    weights = []
    for f in files:
        sub, _, fname = f.rpartition("/")
        weights.append(
            WeightFile(
                name=f"{card_name}/{f}",
                filename=fname,
                url=f"https://huggingface.co/{repo.repo}/resolve/{repo.revision}/{f}",
                subdir="/".join(p for p in (MODELS_SUBDIR, repo.folder, sub) if p),
                used_by=(card_name,),
            )
        )
    return repo, tuple(weights)


def _parse_reported(items: list, where: str, protocols: set[str]) -> tuple[Reported, ...]:
    out: list[Reported] = []
    seen: dict[tuple, int] = {}
    for i, item in enumerate(items):
        key = f"reported[{i}]"
        r = check_mapping(item, REPORTED_KEYS, where, key + ".")
        if r["protocol"] not in protocols and r["protocol"] not in CONTEXTS:
            hint = did_you_mean("protocol", r["protocol"], sorted(protocols | set(CONTEXTS)))
            raise SpecError(f"{where}: key '{key}.protocol': {hint}")
        _check_metric(r["metric"], where, f"{key}.metric")
        if r["steps"] is not None and r["steps"] < 1:
            raise SpecError(f"{where}: key '{key}.steps' must be >= 1 or null, got {r['steps']!r}.")
        rep = Reported(
            r["protocol"],
            r["metric"],
            r["label"],
            float(r["value"]),
            r["steps"],
            r["source"],
            r.get("note", ""),
        )
        k = (rep.protocol, rep.metric, rep.steps, rep.source)
        if k in seen:
            raise SpecError(
                f"{where}: key '{key}' repeats reported[{seen[k]}] (same protocol, metric, steps and source)."
            )
        seen[k] = i
        out.append(rep)
    return tuple(out)


def _check_adapter_rules(c: dict, where: str) -> None:
    a = c["adapter"]

    def fail(key: str, msg: str) -> None:
        raise SpecError(f"{where}: key '{key}' {msg}")

    has = {k: k in c for k in ("weights", "hf_repo", "pipeline")}
    needs = {"spandrel": "weights", "diffusers": "hf_repo", "yonos": "pipeline"}.get(a)
    for k, present in has.items():
        if k == needs and not present:
            fail(k, f"is required for adapter '{a}'.")
        if k != needs and present:
            fail(k, f"is not used by adapter '{a}'.")
    if a == "spandrel" and len(c["weights"]) != 1:
        fail("weights", "must list exactly one file for adapter 'spandrel'.")
    steps = c["steps"]
    if steps is not None and steps < 1:
        fail("steps", f"must be >= 1 or null, got {steps!r}.")
    if a in ("diffusers", "yonos") and steps is None:
        fail("steps", f"must be a positive integer for adapter '{a}' (the default number of sampling steps).")
    if a in ("interp", "spandrel") and steps is not None:
        fail("steps", f"must be null: adapter '{a}' takes no sampling steps.")
    opts = c.get("options", {})
    if a == "command" and command_takes_steps(opts) != (steps is not None):
        fail("steps", "must be set exactly when the command takes steps ({steps}, allowed_steps or step_values).")
    if a == "command" and steps is not None:
        allowed = command_allowed_steps(opts)
        if allowed and steps not in allowed:
            fail("steps", f"is {steps} but the command runs only with steps {list(allowed)}.")
    if "setup" in c and a != "command":
        fail("setup", f"is only for adapter 'command', not '{a}'.")


def _check_command_fields(options, setup, where: str) -> None:
    """Every template field is one the adapter or the setup fills, and every setup file
    with a ``field`` is used (so a card cannot drift from its own recipe)."""
    import string

    try:
        used = {f for _, f, _, _ in string.Formatter().parse(options["command"]) if f is not None}
    except ValueError as e:
        raise SpecError(f"{where}: key 'options.command' is a malformed template: {e}") from None
    known = set(COMMAND_FIELDS) | set(options.get("step_values") or {})
    if setup is not None:
        known |= set(SETUP_TEMPLATE_FIELDS) | {f.field for f in setup.files if f.field}
        for i, f in enumerate(setup.files):
            if f.field and f.field not in used:
                raise SpecError(
                    f"{where}: key 'setup.files[{i}].field' is {{{f.field}}} but options.command does not use it."
                )
    unknown = sorted(used - known)
    if unknown:
        raise SpecError(
            f"{where}: key 'options.command' uses unknown field(s) {', '.join('{' + u + '}' for u in unknown)}; "
            f"known here: {', '.join(sorted(known))}."
        )


def _parse_setup(data: dict, where: str) -> CommandSetup:
    s = check_mapping(data, SETUP_KEYS, where, "setup.")
    for key in ("checkout_env", "python_env"):
        if not ENV_RE.match(s[key]):
            raise SpecError(f"{where}: key 'setup.{key}' must be an environment variable name, got {s[key]!r}.")
    if not re.fullmatch(r"[0-9a-f]{40}", s["commit"]):
        raise SpecError(f"{where}: key 'setup.commit' must be a full 40-digit commit hash, got {s['commit']!r}.")
    files = []
    for i, item in enumerate(s.get("files", [])):
        key = f"setup.files[{i}]"
        f = check_mapping(item, SETUP_FILE_KEYS, where, key + ".")
        if f.get("env") is not None and not ENV_RE.match(f["env"]):
            raise SpecError(f"{where}: key '{key}.env' must be an environment variable name, got {f['env']!r}.")
        if f.get("field") is not None and not re.fullmatch(r"[a-z_][a-z0-9_]*", f["field"]):
            raise SpecError(f"{where}: key '{key}.field' must be a lowercase template field name, got {f['field']!r}.")
        if f.get("kind", "file") not in ("file", "folder"):
            raise SpecError(f"{where}: key '{key}.kind' must be 'file' or 'folder', got {f['kind']!r}.")
        if not f["url"] and not f.get("note"):
            raise SpecError(f"{where}: key '{key}.note' is required when url is null (say how to get it).")
        files.append(
            SetupFile(
                name=f["name"], path=f["path"], url=f["url"], field=f.get("field"), env=f.get("env"),
                note=f.get("note", ""), steps=f.get("steps"), kind=f.get("kind", "file"),
            )
        )
    return CommandSetup(
        repo=s["repo"], commit=s["commit"], checkout_env=s["checkout_env"], python_env=s["python_env"],
        install=str_list(s["install"], where, "setup.install"), verify=s["verify"].strip(),
        source=s["source"].strip(), files=tuple(files), workaround=s.get("workaround", "").strip(),
    )


def _check_package_folder(folder: str, where: str) -> None:
    """``package:<path>`` must name a relative path inside the package (no ``..``)."""
    if not folder.startswith(PACKAGE_PREFIX):
        return
    rel = folder[len(PACKAGE_PREFIX) :]
    if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise SpecError(
            f"{where}: key 'pipeline.folder' {folder!r}: after 'package:' give a relative path inside "
            "the yonos_bench package, e.g. package:assets/tiny/yonos-tiny-x4."
        )


def parse_card(text: str, where: str, *, protocols: set[str] | None = None) -> ModelCard:
    """Parse and validate one card's YAML text; ``where`` names it in error messages."""
    from yonos_bench.core.strict_yaml import load_yaml

    data = load_yaml(text, where)  # a key given twice is an error, not "last one wins"
    if not isinstance(data, dict):
        raise SpecError(f"{where}: a model card must be a YAML mapping, got {type(data).__name__}.")
    c = check_mapping(data, TOP_KEYS, where)
    if not NAME_RE.match(c["name"]):
        raise SpecError(f"{where}: key 'name' must match {NAME_RE.pattern}, got {c['name']!r}.")
    if c["adapter"] not in ADAPTER_MODULES:
        raise SpecError(
            f"{where}: key 'adapter': {did_you_mean('adapter', c['adapter'], list(ADAPTER_MODULES))}"
        )
    if c["scale"] < 1:
        raise SpecError(f"{where}: key 'scale' must be >= 1, got {c['scale']!r}.")
    options = validate_options(c["adapter"], c.get("options", {}), where)
    _check_adapter_rules(c, where)
    name = c["name"]
    weights: tuple[WeightFile, ...] = ()
    hf = pipe = None
    if "weights" in c:
        weights = _parse_weights(c["weights"], name, where)
    if "hf_repo" in c:
        hf, weights = _parse_hf(c["hf_repo"], name, where)
    if "pipeline" in c:
        p = check_mapping(c["pipeline"], PIPELINE_KEYS, where, "pipeline.")
        if p.get("env") is not None and not ENV_RE.match(p["env"]):
            raise SpecError(
                f"{where}: key 'pipeline.env' must be an environment variable name, got {p['env']!r}."
            )
        _check_package_folder(p["folder"], where)
        pipe = PipelineFolder(p["folder"], p.get("env"))
    setup = _parse_setup(c["setup"], where) if "setup" in c else None
    if c["adapter"] == "command":
        _check_command_fields(options, setup, where)
    reported = _parse_reported(
        c.get("reported", []), where, protocols if protocols is not None else _known_protocols()
    )
    return ModelCard(
        name=name,
        adapter=c["adapter"],
        scale=c["scale"],
        steps=c["steps"],
        description=c["description"].strip(),
        citation=c["citation"].strip(),
        license=c["license"].strip(),
        display_name=c.get("display_name", name),
        paper_names=str_list(c.get("paper_names", []), where, "paper_names"),
        homepage=c.get("homepage", ""),
        weights=weights,
        hf_repo=hf,
        pipeline=pipe,
        options=options,
        reported=reported,
        notes=str_list(c.get("notes", []), where, "notes"),
        setup=setup,
        file=where,
    )


def load_card_file(path: str | os.PathLike) -> ModelCard:
    """Load a card from a YAML file anywhere (user cards, tests); name must equal the stem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"Cannot read model card {path}: {e.strerror or e}.") from None
    card = parse_card(text, str(path))
    if card.name != path.stem:
        raise SpecError(f"{path}: key 'name' is {card.name!r} but the file is named {path.name!r}.")
    shipped = dict(_shipped()).get(card.name)
    if shipped is not None and dataclasses.replace(shipped, file="") != dataclasses.replace(card, file=""):
        # Results are stored (and cached) by model name: another model under a shipped name
        # would be reported as the shipped one.
        raise SpecError(
            f"{path}: model '{card.name}' is already a shipped card ({shipped.file}) with different "
            "content; give your card another name (and file name)."
        )
    return card


def cards_dir() -> Path:
    from yonos_bench.core.paths import registry_dir

    return registry_dir("baselines")


def load_registry(folder: str | os.PathLike | None = None) -> dict[str, ModelCard]:
    """All cards of ``folder`` (default: the shipped ``baselines/``) by name; duplicates rejected."""
    if folder is None or Path(folder).resolve() == cards_dir():
        return dict(_shipped())
    return _load_folder(Path(folder))


@lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[str, ModelCard], ...]:
    return tuple(_load_folder(cards_dir()).items())


def _load_folder(folder: Path) -> dict[str, ModelCard]:
    protocols = _known_protocols()
    cards: dict[str, ModelCard] = {}
    for path in sorted(folder.glob("*.y*ml")):
        card = parse_card(path.read_text(encoding="utf-8"), str(path), protocols=protocols)
        if card.name in cards:
            raise SpecError(
                f"Duplicate model name '{card.name}': defined in {cards[card.name].file} and in {path}."
            )
        if card.name != path.stem:
            raise SpecError(f"{path}: key 'name' is {card.name!r} but the file is named {path.name!r}.")
        cards[card.name] = card
    return cards


def list_cards() -> list[ModelCard]:
    """Every shipped model card, sorted by name."""
    return [card for _, card in sorted(_shipped())]


def load_card(name: str) -> ModelCard:
    """The shipped card called ``name`` (did-you-mean on unknown names)."""
    cards = dict(_shipped())
    if name not in cards:
        raise did_you_mean("model", name, list(cards))
    return cards[name]
