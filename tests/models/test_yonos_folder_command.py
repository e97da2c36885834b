"""yonos pipelines, pre-computed output folders, and external commands."""

from __future__ import annotations

import shutil
import sys
import textwrap

import numpy as np
import pytest
import torch

from yonos_bench.core.errors import DataMissingError, ImageError, WeightsMissingError, YonosError
from yonos_bench.core.imageio import to_tensor, to_uint8, write_png
from yonos_bench.models import ScaleMismatchError, load_card, load_model
from yonos_bench.models.registry import parse_card

from .conftest import count_calls


def _x(b, h, w, seed=0):
    # 8-bit levels, like the protocols' LR PNGs (the command adapter writes PNGs)
    return torch.randint(0, 256, (b, 3, h, w), generator=torch.Generator().manual_seed(seed)).float() / 255


# ----------------------------------------------------------------- yonos


def test_yonos_card_from_env_var_steps_and_seeds(tiny_yonos_dir, monkeypatch, tmp_path):
    card = load_card("yonos-x4")
    with pytest.raises(
        WeightsMissingError, match=r"No pipeline folder for model 'yonos-x4' at .*set \$YONOS_X4_PIPELINE"
    ):
        load_model(card, weights_dir=tmp_path)
    monkeypatch.setenv("YONOS_X4_PIPELINE", str(tiny_yonos_dir))
    m = load_model("yonos-x4", scale=4)
    assert m.scale == 4 and m.default_steps == 1 and m.supports_steps and len(m.weights_digest) == 64
    calls = count_calls(m.pipe.unet)
    x = _x(2, 16, 12)
    y = m.upscale(x, seeds=[1, 2])  # default: the card's 1 step
    assert y.shape == (2, 3, 64, 48) and calls[0] >= 1
    n1 = calls[0]
    y3 = m.upscale(x[:1], steps=3, seeds=[1])
    assert calls[0] - n1 == 3 * n1  # three steps = three times the UNet work of one
    torch.testing.assert_close(m.upscale(x[1:], seeds=[2]), y[1:], atol=1e-5, rtol=0)
    assert float((y3 - y[:1]).abs().max()) > 0  # steps change the result
    with pytest.raises(ScaleMismatchError, match="upscales x4 but x8 is needed"):
        load_model("yonos-x4", scale=8)


def test_yonos_card_scale_must_match_the_folder(tiny_yonos_dir, monkeypatch):
    monkeypatch.setenv("YONOS_X8_PIPELINE", str(tiny_yonos_dir))
    with pytest.raises(YonosError, match=r"'yonos-x8' declares x8 but .* is a x4 pipeline"):
        load_model("yonos-x8")


# ----------------------------------------------------------------- folder


def _outputs(folder, ids, lr, scale=4, name="{id}.png", size_of=None):
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i, pid in enumerate(ids):
        h, w = lr.shape[-2:]
        if size_of == pid:
            h += 1
        arr = np.random.default_rng(i).integers(0, 256, (h * scale, w * scale, 3), dtype=np.uint8)
        write_png(folder / name.format(id=pid), arr)
        truth[pid] = to_tensor(arr)
    return truth


def test_folder_adapter_matches_by_pair_id(tmp_path):
    ids = ["a_p00", "a_p01", "b_p00"]
    lr = _x(3, 5, 6)
    truth = _outputs(tmp_path / "out", ids, lr)
    m = load_model("seesr", options={"outputs": str(tmp_path / "out")}, scale=4)
    assert m.needs_names and not m.supports_steps and len(m.weights_digest) == 64
    m.check_names(ids)
    y = m.upscale(lr[[2, 0]], seeds=[0, 0], names=["b_p00", "a_p00"])
    assert torch.equal(y[0], truth["b_p00"]) and torch.equal(y[1], truth["a_p00"])
    with pytest.raises(ValueError, match=r"names: model 'seesr' reads outputs by pair id"):
        m.upscale(lr[:1], seeds=[0])


def test_folder_missing_extra_and_wrong_size_are_named(tmp_path):
    ids = ["a_p00", "a_p01", "b_p00"]
    lr = _x(1, 5, 6)
    _outputs(tmp_path / "out", ["a_p00", "b_p00", "zzz"], lr, size_of="b_p00")
    m = load_model("pasd", options={"outputs": str(tmp_path / "out")})
    with pytest.raises(
        DataMissingError, match=r"lacks 1 of 3 outputs: a_p01 \(e\.g\. looked for a_p01\.<png\|jpg"
    ):
        m.check_names(ids)
    with pytest.raises(YonosError, match=r"holds 1 image\(s\) that match no pair: zzz\.png"):
        m.check_names(["a_p00", "b_p00"])
    load_model("pasd", options={"outputs": str(tmp_path / "out"), "allow_extra": True}).check_names(
        ["a_p00", "b_p00"]
    )
    with pytest.raises(ImageError, match=r"b_p00\.png is 24x24 \(WxH\) but x4 of its 6x5 LR must be 24x20"):
        m.upscale(lr, seeds=[0], names=["b_p00"])
    with pytest.raises(DataMissingError, match=r"has no output for pair 'a_p01'"):
        m.upscale(lr, seeds=[0], names=["a_p01"])


def test_folder_template_map_and_ambiguity(tmp_path):
    lr = _x(1, 4, 4)
    truth = _outputs(tmp_path / "t", ["x1"], lr, name="{id}_out.png")
    m = load_model("diffbir", options={"outputs": str(tmp_path / "t"), "template": "{id}_out.png"})
    assert torch.equal(m.upscale(lr, seeds=[0], names=["x1"])[0], truth["x1"])
    (tmp_path / "m").mkdir()
    truth = _outputs(tmp_path / "m" / "imgs", ["weird name"], lr)
    (tmp_path / "m" / "map.csv").write_text("id,file\nx1,imgs/weird name.png\n")
    m = load_model("diffbir", options={"outputs": str(tmp_path / "m"), "map": "map.csv"})
    assert torch.equal(m.upscale(lr, seeds=[0], names=["x1"])[0], truth["weird name"])
    (tmp_path / "bad.csv").write_text("name,path\nx1,a.png\n")
    with pytest.raises(YonosError, match=r"expected a CSV with exactly the columns id,file"):
        load_model("diffbir", options={"outputs": str(tmp_path / "m"), "map": str(tmp_path / "bad.csv")})
    _outputs(tmp_path / "amb", ["x1"], lr)
    shutil.copy(tmp_path / "amb" / "x1.png", tmp_path / "amb" / "x1.jpg")
    m = load_model("diffbir", options={"outputs": str(tmp_path / "amb")})
    with pytest.raises(YonosError, match=r"pair 'x1' matches 2 files \(x1\.jpg, x1\.png\)"):
        m.upscale(lr, seeds=[0], names=["x1"])
    with pytest.raises(ValueError, match=r"template: must contain '\{id\}' exactly once"):
        load_model("diffbir", options={"outputs": str(tmp_path / "amb"), "template": "{name}.png"})


def test_folder_needs_an_outputs_folder_and_scale(tmp_path, monkeypatch):
    with pytest.raises(
        YonosError, match=r"'tsd-sr' is evaluated from outputs made by its own code.*outputs=DIR"
    ):
        load_model("tsd-sr")
    with pytest.raises(DataMissingError, match=r"Outputs folder not found: .*nope"):
        load_model("tsd-sr", options={"outputs": str(tmp_path / "nope")})
    monkeypatch.delenv("SOME_UNSET_VAR", raising=False)
    with pytest.raises(YonosError, match=r"uses an environment variable that is not set"):
        load_model("tsd-sr", options={"outputs": "$SOME_UNSET_VAR/out"})
    _outputs(tmp_path / "plain", ["p"], _x(1, 3, 3), scale=2)
    with pytest.raises(ValueError, match=r"scale: a folder of outputs .* needs the scale"):
        load_model(tmp_path / "plain")
    m = load_model(tmp_path / "plain", scale=2)
    assert m.scale == 2 and m.upscale(_x(1, 3, 3), seeds=[0], names=["p"]).shape == (1, 3, 6, 6)


# ----------------------------------------------------------------- command

SCRIPT = textwrap.dedent(
    """
    import sys, pathlib
    import numpy as np
    from PIL import Image
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    if args.get("--fail"):
        print("loading model... CUDA out of memory", file=sys.stderr)
        sys.exit(3)
    if args.get("--nothing"):
        print("processed 0 images", file=sys.stderr)
        sys.exit(0)
    s = int(args["--scale"])
    extra = int(args.get("--seed", 0)) + int(args.get("--steps", 0))
    out = pathlib.Path(args["-o"])
    for p in sorted(pathlib.Path(args["-i"]).glob("*.png")):
        a = np.asarray(Image.open(p)).astype(np.int64)
        a = np.repeat(np.repeat(a, s, 0), s, 1)  # nearest-neighbour x s
        a = (a + extra) % 256
        Image.fromarray(a.astype(np.uint8)).save(out / (p.stem + "_sr.png"))
    """
)


def _command_card(tmp_path, extra="", steps="null"):
    script = tmp_path / "infer.py"
    script.write_text(SCRIPT)
    cmd = f"{sys.executable} {script} -i {{input}} -o {{output}} --scale {{scale}}{extra}"
    text = f"""\
name: my-cmd
adapter: command
scale: 4
steps: {steps}
description: test
citation: test
license: test
options: {{command: "{cmd}", outputs_template: "{{id}}_sr", timeout_s: 60}}
"""
    return parse_card(text, "my-cmd.yaml", protocols=set())


def _nearest(x, s):
    return x.repeat_interleave(s, -2).repeat_interleave(s, -1)


def test_command_adapter_runs_a_script_on_a_folder(tmp_path):
    card = _command_card(tmp_path)
    m = load_model(card, scale=2)  # {scale} in the template: any scale
    assert m.scale == 2 and not m.supports_steps
    x = _x(2, 5, 7)
    y = m.upscale(x, seeds=[0, 1], names=["p 0", "p1"])  # a space in a pair id stays one file name
    torch.testing.assert_close(y, _nearest(x, 2), atol=0, rtol=0)


def test_command_per_image_seed_and_steps(tmp_path):
    card = _command_card(tmp_path, extra=" --seed {seed} --steps {steps}", steps="2")
    m = load_model(card)
    assert m.supports_steps and m.default_steps == 2
    x = torch.zeros(2, 3, 3, 3)
    y = m.upscale(x, seeds=[5, 9], names=["a", "b"], steps=3)
    # the script adds seed + steps to every pixel: each image got its own seed
    assert torch.equal(to_tensor(to_uint8(y[0])), torch.full((3, 12, 12), 8 / 255))
    assert torch.equal(to_tensor(to_uint8(y[1])), torch.full((3, 12, 12), 12 / 255))


def test_command_failures_show_the_stderr_tail(tmp_path):
    m = load_model(_command_card(tmp_path, extra=" --fail 1"))
    with pytest.raises(YonosError, match=r"(?s)exited with status 3\..*CUDA out of memory"):
        m.upscale(_x(1, 4, 4), seeds=[0], names=["a"])
    m = load_model(_command_card(tmp_path, extra=" --nothing 1"))
    with pytest.raises(YonosError, match=r"(?s)exited normally but wrote nothing to .*processed 0 images"):
        m.upscale(_x(1, 4, 4), seeds=[0], names=["a"])


def test_command_template_errors(tmp_path):
    card = parse_card(
        "name: c\nadapter: command\nscale: 4\nsteps: null\ndescription: d\ncitation: c\nlicense: l\n"
        'options: {command: "run {input}"}\n',
        "c.yaml",
        protocols=set(),
    )
    with pytest.raises(ValueError, match=r"command: the template must use \{output\}"):
        load_model(card)
    card = parse_card(
        "name: c\nadapter: command\nscale: 4\nsteps: null\ndescription: d\ncitation: c\nlicense: l\n"
        'options: {command: "definitely-not-a-program-xyz {input} {output}"}\n',
        "c.yaml",
        protocols=set(),
    )
    with pytest.raises(ScaleMismatchError, match=r"fixed x4 command \(no \{scale\} in its template\)"):
        load_model(card, scale=8)
    with pytest.raises(YonosError, match=r"command not found: 'definitely-not-a-program-xyz'"):
        load_model(card).upscale(_x(1, 4, 4), seeds=[0], names=["a"])


def test_a_users_card_file_loads_by_path(tmp_path):
    card = _command_card(tmp_path)
    path = tmp_path / "my-cmd.yaml"
    path.write_text(
        f"name: my-cmd\nadapter: command\nscale: 4\nsteps: null\ndescription: d\ncitation: c\nlicense: l\n"
        f"options: {{command: {card.options['command']!r}, outputs_template: '{{id}}_sr'}}\n"
    )
    m = load_model(path)
    assert m.name == "my-cmd" and m.scale == 4
    x = _x(1, 3, 4)
    torch.testing.assert_close(m.upscale(x, seeds=[0], names=["q"]), _nearest(x, 4), atol=0, rtol=0)


def test_outputs_environment_variable_name():
    from yonos_bench.models.folder import outputs_env

    assert outputs_env("stablesr") == "YONOS_OUTPUTS_STABLESR"
    assert outputs_env("tsd-sr") == "YONOS_OUTPUTS_TSD_SR"


def test_a_training_run_folder_loads_its_pipeline_named_after_the_run(tiny_yonos_dir, tmp_path):
    run = tmp_path / "distill-x4-003"
    shutil.copytree(tiny_yonos_dir, run / "pipeline")
    by_run = load_model(run)
    by_pipeline = load_model(run / "pipeline")
    assert by_run.name == by_pipeline.name == "distill-x4-003"
    assert by_run.weights_digest == by_pipeline.weights_digest
