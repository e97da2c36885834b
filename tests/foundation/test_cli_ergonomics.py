"""Day-one ergonomics (issue 19) of commands that run no model: --version, -q, escaping of
user text in Rich output, no tracebacks, CI-readable tables, JSON, user cards, spec checks."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.paths import registry_dir

runner = CliRunner()


@pytest.fixture
def piped(monkeypatch):
    """Output as in a CI log: not a terminal and no $COLUMNS (Rich would use 80 columns)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("YONOS_QUIET", raising=False)


def test_version():
    from yonos_bench import __version__

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"yonos-bench {__version__}"


def test_brackets_in_user_text_are_printed_verbatim(tmp_path):
    r = runner.invoke(app, ["metrics", "compute", "--sr", "mc/run[final]"])
    assert r.exit_code == 1 and "mc/run[final] does not exist" in r.output
    folder = tmp_path / "out"
    folder.mkdir()
    r = runner.invoke(app, ["run", "sample", "-m", f"Bad Name={folder}", "--data-root", str(tmp_path / "d")])
    assert r.exit_code == 1 and "^[a-z0-9][a-z0-9.-]*$" in r.output


def test_a_file_as_data_root_is_one_message(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    for cmd in (["protocols", "prepare", "sample"], ["data", "status"], ["run", "sample", "-m", "bicubic"]):
        r = runner.invoke(app, [*cmd, "--data-root", str(f)])
        assert r.exit_code == 1, (cmd, r.output)
        assert "is a file, not a folder" in r.output and "Traceback" not in r.output
        assert not isinstance(r.exception, NotADirectoryError)


def test_tables_off_a_terminal_never_cut_names_or_urls(piped):
    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0
    assert "…" not in r.output
    for name in ("yonos-tiny-x4-orig-decoder", "sd-sr-tiny-x4-orig-decoder", "real-esrgan-x4plus"):
        assert f" {name} " in r.output
    assert "YONOS-tiny x4, original decoder" in r.output  # display names beside the ids
    r = runner.invoke(app, ["data", "status", "--data-root", "/nonexistent-yonos-data"])
    assert r.exit_code == 0 and "…" not in r.output
    from yonos_bench.protocols.spec import list_protocols

    urls = [s.source.url for s in list_protocols() if s.source.url]
    assert urls and all(u in r.output for u in urls)  # whole, on one line
    r = runner.invoke(app, ["metrics", "list"])
    assert "…" not in r.output and " lpips-alex " in r.output


def test_protocols_and_models_list_json():
    r = runner.invoke(app, ["protocols", "list", "--json"])
    rows = json.loads(r.output)
    assert {"sample", "div2k-bicubic"} <= {p["name"] for p in rows}
    assert all(set(p) >= {"name", "version", "scale", "pairs", "metrics"} for p in rows)
    cards = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert any(c["name"] == "bicubic" and c["display_name"] == "Bicubic" for c in cards)


def test_models_show_accepts_a_card_file(tmp_path):
    text = (
        (registry_dir("baselines") / "bicubic.yaml").read_text().replace("name: bicubic", "name: my-bicubic")
    )
    card = tmp_path / "my-bicubic.yaml"
    card.write_text(text)
    r = runner.invoke(app, ["models", "show", str(card), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["name"] == "my-bicubic" and d["file"] == str(card)
    r = runner.invoke(app, ["models", "show", str(card)])
    assert r.exit_code == 0 and "my-bicubic" in r.output


def test_unknown_keys_name_their_line(tmp_path):
    text = (registry_dir("baselines") / "bicubic.yaml").read_text()
    lines = text.splitlines()
    lines.insert(3, "scael: 4")  # line 4
    card = tmp_path / "bicubic.yaml"
    card.write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["models", "show", str(card)])
    assert (
        r.exit_code == 1 and "unknown key 'scael' (line 4)" in r.output and "Did you mean: scale" in r.output
    )
    spec = (registry_dir("protocols") / "sample.yaml").read_text()
    bad = tmp_path / "mine.yaml"
    bad.write_text(spec.replace("name: sample", "name: mine").replace("\nseed:", "\nseeed:", 1))
    line = next(i for i, s in enumerate(bad.read_text().splitlines(), 1) if s.startswith("seeed:"))
    r = runner.invoke(app, ["protocols", "validate", str(bad)])
    assert r.exit_code == 1 and f"unknown key 'seeed' (line {line})" in r.output


def test_spec_metric_ids_are_checked_at_show_and_prepare(tmp_path):
    spec = (registry_dir("protocols") / "sample.yaml").read_text()
    assert "psnr-y" in spec
    bad = tmp_path / "mine.yaml"
    bad.write_text(spec.replace("name: sample", "name: mine").replace("[psnr-y,", "[psnr-yy,", 1))
    assert "psnr-yy" in bad.read_text()
    for cmd in (
        ["protocols", "show", str(bad)],
        ["protocols", "prepare", str(bad), "--data-root", str(tmp_path)],
    ):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 1, r.output
        assert "psnr-yy" in r.output and "Did you mean" in r.output and str(bad) in r.output
    assert not (tmp_path / "prepared").exists()  # failed before any work


def test_unfinished_training_run_is_named_as_such(tmp_path):
    run_dir = tmp_path / "runs" / "mine"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "training_options.json").write_text('{"stage": "distill"}')
    r = runner.invoke(app, ["run", "sample", "-m", str(run_dir), "--data-root", str(tmp_path / "d")])
    assert (
        r.exit_code == 1
        and "never finished" in r.output
        and f"train distill --out {run_dir} --resume" in r.output
    )
    assert "holds no images" not in r.output


def test_model_option_parsing():
    from yonos_bench.core.errors import YonosError
    from yonos_bench.models.option_args import parse_model_options

    got = parse_model_options(["outputs=/x/y", "dasr:allow_extra=true", "tile_size=256", "template=a:{id}"])
    assert got == (
        (None, "outputs", "/x/y"),
        ("dasr", "allow_extra", True),
        (None, "tile_size", 256),
        (None, "template", "a:{id}"),
    )
    for bad in ("outputs", "=x", ":k=v"):
        with pytest.raises(YonosError, match="KEY=VALUE"):
            parse_model_options([bad])


def test_third_party_noise_is_silenced_at_the_source():
    from yonos_bench.core.quiet import quiet_diffusers, silence_third_party

    logging.getLogger("bitsandbytes").setLevel(logging.NOTSET)
    silence_third_party()
    # the logger bitsandbytes' "Failed to load CPU gemm_4bit_forward" warning goes through
    noisy = logging.getLogger("bitsandbytes.backends.cpu.ops")
    assert not noisy.isEnabledFor(logging.WARNING) and noisy.isEnabledFor(logging.ERROR)
    from diffusers.utils import logging as dl

    dl.enable_progress_bar()
    quiet_diffusers()
    assert not dl.is_progress_bar_enabled()


def test_root_quiet_flag_reaches_commands(monkeypatch, tmp_path):
    monkeypatch.delenv("YONOS_QUIET", raising=False)
    from yonos_bench.core import quiet

    seen = {}
    import yonos_bench.protocols.pairs as pairs

    real = pairs.prepare

    def spy(spec, data_root=None, *, progress=True, **kw):
        seen["progress"] = progress
        return real(spec, data_root, progress=progress, **kw)

    monkeypatch.setattr(pairs, "prepare", spy)
    level = logging.getLogger().level
    r = runner.invoke(app, ["-q", "protocols", "prepare", "sample", "--data-root", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert seen["progress"] is False and quiet.is_quiet()
    assert "prepared" in r.output  # the result line stays
    assert runner.invoke(app, ["protocols", "list"]).exit_code == 0  # no -q: undone
    assert not quiet.is_quiet() and logging.getLogger().level == level
    shutil.rmtree(tmp_path / "prepared")


def test_file_and_missing_paths_are_named_plainly(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    r = runner.invoke(app, ["metrics", "compute", "--sr", str(f)])
    assert r.exit_code == 1 and "is a file, not a folder" in r.output
    r = runner.invoke(app, ["models", "show", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 1 and "nope.yaml not found" in r.output
    for cmd in (["table"], ["results", "list"], ["plot", "--metric", "psnr-y"]):
        r = runner.invoke(app, [*cmd, "--results", str(f)])
        assert r.exit_code == 1 and "is a file, not a folder" in r.output and "Traceback" not in r.output


def test_torchscript_deprecation_warnings_of_libraries_are_silenced():
    """kornia's import-time torch.jit.script and TorchScript weight files warn once each under
    torch 2.14; after the CLI's silence_third_party they print nothing."""
    import warnings

    from yonos_bench.core.quiet import silence_third_party

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_third_party()
        warnings.warn("`torch.jit.script` is deprecated. Please switch to `torch.compile`.", FutureWarning, stacklevel=1)
        warnings.warn("`torch.jit.load` is deprecated. Please switch to `torch.export`.", FutureWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]
