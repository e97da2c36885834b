"""Configuration files: protocol specs and model cards (YAML), training overrides (``--set``).

Validation is strict everywhere: an unknown key (with did-you-mean), a wrong type, a key
given twice in one mapping (plain YAML would silently keep the last value) or malformed
YAML is an error naming the file, the key and — where the parser knows it — the line. Two
specs or cards with the same name are refused, including a user's file that reuses the
name of a shipped one with different content (results are stored by name, so it would
mix numbers). There is no ``include`` mechanism: an ``include`` key is an unknown key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from yonos_bench.core.errors import SpecError

CARD = {
    "name": "my-lanczos",
    "adapter": "interp",
    "scale": 2,
    "steps": None,
    "description": "lanczos at any scale",
    "citation": "none",
    "license": "none",
    "options": {"method": "lanczos"},
}


def _spec_text(rel, **over) -> str:
    spec = rel.spec_dict("cfg")
    spec.update(over)
    return yaml.safe_dump(spec, sort_keys=False)


def _validate(rel, tmp_path, text: str, name: str = "cfg"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path, rel.invoke("protocols", "validate", path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.replace("seed: 0", "sead: 0"),
            "unknown key 'sead' (line",  # then "Unknown key 'sead'. Did you mean: seed?"
        ),
        (lambda s: s.replace("  rule: whole", "  rul: whole"), "unknown key 'pairs.rul' (line"),
        (lambda s: s + "include: base.yaml\n", "unknown key 'include' (line"),
        (lambda s: s.replace("scale: 2", "scale: '2'"), "key 'scale' must be integer, got str '2'."),
        (lambda s: s.replace("seed: 0", "seed: true"), "key 'seed' must be integer, got bool True."),
        (lambda s: s.replace("- psnr-y", "- 7"), "key 'metrics[0]' must be string, got int 7."),
        (lambda s: s.replace("seed: 0\n", ""), "missing required key 'seed'."),
        (lambda s: s.replace("seed: 0", "seed: 0\nscale: 4"), "key 'scale' appears twice (lines"),
        (
            lambda s: s.replace("  rule: whole", "  rule: whole\n  rule: given"),
            "key 'rule' appears twice (lines",
        ),
        (lambda s: s.replace("seed: 0", "seed: [0"), "malformed YAML at line"),
    ],
    ids=[
        "unknown",
        "unknown-nested",
        "include",
        "str-for-int",
        "bool-for-int",
        "list-item",
        "missing",
        "duplicate-key",
        "duplicate-nested-key",
        "malformed",
    ],  # fmt: skip
)
def test_protocol_spec_errors_name_file_and_key(rel, tmp_path, edit, message):
    text = edit(_spec_text(rel))
    path, res = _validate(rel, tmp_path, text)
    rel.assert_fails(res, f"{path}:", message)


def test_duplicate_key_message_gives_both_lines(rel, tmp_path):
    text = _spec_text(rel).replace("seed: 0", "seed: 0\nversion: 2")
    lines = text.splitlines()
    first, second = lines.index("version: 1") + 1, lines.index("version: 2") + 1
    path, res = _validate(rel, tmp_path, text)
    rel.assert_fails(res, f"{path}: key 'version' appears twice (lines {first} and {second})")


def test_duplicate_protocol_names(rel, tmp_path):
    from yonos_bench.protocols.spec import load_registry, load_spec_file

    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "twin.yaml").write_text(yaml.safe_dump(rel.spec_dict("twin")))
    (folder / "twin.yml").write_text(yaml.safe_dump(rel.spec_dict("twin", seed=1)))
    with pytest.raises(
        SpecError,
        match=rf"Duplicate protocol name 'twin': defined in {folder}/twin.yaml and in {folder}/twin.yml",
    ):
        load_registry(folder)
    other = tmp_path / "elsewhere" / "twin.yaml"
    other.parent.mkdir()
    other.write_text((folder / "twin.yml").read_text())
    rel.assert_fails(
        rel.invoke("protocols", "validate", folder / "twin.yaml", other),
        f"Duplicate protocol name 'twin': defined in {folder / 'twin.yaml'} and in {other}.",
    )
    # a user's file that reuses a shipped protocol's name and version with other content
    shadow = tmp_path / "user" / "sample.yaml"
    shadow.parent.mkdir()
    from yonos_bench.protocols.spec import protocols_dir

    shipped = yaml.safe_load((protocols_dir() / "sample.yaml").read_text())
    shadow.write_text(yaml.safe_dump({**shipped, "seed": 1}))
    res = rel.invoke("protocols", "prepare", shadow, "--data-root", tmp_path / "data")
    rel.assert_fails(
        res,
        f"{shadow}: protocol 'sample' version 1 is already registered ({protocols_dir() / 'sample.yaml'}) "
        "with different content",
    )
    assert not (tmp_path / "data" / "prepared").exists()
    shadow.write_text(yaml.safe_dump(shipped))  # an identical copy is the same protocol
    assert load_spec_file(shadow).spec_sha256 == load_spec_file(protocols_dir() / "sample.yaml").spec_sha256


def _card(tmp_path, name="my-lanczos", **over) -> Path:
    data = {**CARD, "name": name, **over}
    path = tmp_path / "cards" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"adaptor": "interp"}, "unknown key 'adaptor' (line"),
        ({"scale": "2"}, "key 'scale' must be"),
        ({"options": {"methd": "lanczos"}}, "methd"),
        ({"include": "base.yaml"}, "unknown key 'include' (line"),
    ],
    ids=["unknown", "wrong-type", "unknown-option", "include"],
)
def test_model_card_errors_name_file_and_key(rel, tmp_path, prepared, over, message):
    spec, root = prepared
    card = _card(tmp_path, **over)
    res = rel.invoke("run", spec, "-m", card, "--data-root", root, "--results", tmp_path / "r", "--quiet")
    rel.assert_fails(res, f"{card}:", message)
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("result.json"))


def test_model_card_duplicate_key_is_refused(rel, tmp_path, prepared):
    spec, root = prepared
    card = _card(tmp_path)
    card.write_text(card.read_text().replace("scale: 2", "scale: 2\nscale: 4"))
    res = rel.invoke("run", spec, "-m", card, "--data-root", root, "--results", tmp_path / "r", "--quiet")
    rel.assert_fails(res, f"{card}: key 'scale' appears twice (lines")


def test_model_card_shadowing_a_shipped_name_cannot_pose_as_it(rel, tmp_path, prepared):
    """A user card named 'bicubic' that runs lanczos would be stored (and later reported)
    as bicubic: refused. An identical copy of the shipped card is accepted."""
    spec, root = prepared
    from yonos_bench.models.registry import cards_dir

    shipped = yaml.safe_load((cards_dir() / "bicubic.yaml").read_text())
    card = _card(tmp_path, name="bicubic", **{k: v for k, v in shipped.items() if k != "name"})
    card.write_text(card.read_text().replace("method: bicubic", "method: lanczos"))
    args = ("run", spec, "--data-root", root, "--results", tmp_path / "r", "--metrics", "psnr-y", "--quiet")
    res = rel.invoke(*args, "-m", card)
    rel.assert_fails(
        res,
        f"{card}: model 'bicubic' is already a shipped card ({cards_dir() / 'bicubic.yaml'}) with different content",
    )
    assert not list((tmp_path / "r").rglob("result.json"))
    card.write_text(yaml.safe_dump(shipped, sort_keys=False))
    assert rel.invoke(*args, "-m", card).exit_code == 0


def test_duplicate_model_card_names(tmp_path):
    from yonos_bench.models.registry import load_registry

    folder = tmp_path / "cards"
    folder.mkdir()
    for suffix in (".yaml", ".yml"):
        (folder / f"twin{suffix}").write_text(yaml.safe_dump({**CARD, "name": "twin"}))
    with pytest.raises(
        SpecError,
        match=rf"Duplicate model name 'twin': defined in {folder}/twin.yaml and in {folder}/twin.yml",
    ):
        load_registry(folder)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["stepz=3"], "Unknown standard config key 'stepz'. Did you mean: steps"),
        (["steps=three"], "--set steps=three: expected int."),
        (["ema_decay=1.5"], "Config key 'ema_decay' = 1.5: must be in [0, 1)."),
        (["cpu=maybe"], "--set cpu=maybe: expected a boolean (true/false)."),
        (["steps"], "--set expects key=value, got 'steps'."),
    ],
)
def test_training_overrides_are_checked(rel, tmp_path, sets, message):
    args = [
        "train",
        "standard",
        "--preset",
        "tiny",
        "--data",
        "procedural",
        "--out",
        tmp_path / "run",
        "--dry-run",
    ]
    for s in sets:
        args += ["--set", s]
    rel.assert_fails(rel.invoke(*args), message)
    assert not (tmp_path / "run").exists()


def test_training_dry_run_resolves_overrides(rel, tmp_path):
    res = rel.invoke("train", "standard", "--preset", "tiny", "--data", "procedural", "--set", "steps=3",
                     "--set", "crop=32", "--set", "degradation=bicubic", "--dry-run")  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = json.loads(res.output)["config"]
    assert (cfg["steps"], cfg["crop"], cfg["degradation"]) == (3, 32, "bicubic")
