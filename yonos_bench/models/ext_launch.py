"""Run an author's inference script the way the ``command`` adapter needs (stdlib only).

This file is executed by the *authors'* Python (their conda env), never imported by
yonos-bench: command cards name it as ``{launcher}``. It changes nothing in their code; it
only supplies what their command line cannot take:

``run [--seed N] [--stub MODULE:ATTR]... -- SCRIPT ARGS...``
    Seeds Python's, NumPy's and torch's generators (CPU and CUDA) with N before the script
    runs (OSEDiff's ``test_osediff.py`` parses ``--seed`` but never uses it, and samples the
    VAE posterior), replaces each ``MODULE.ATTR`` by a no-op (SinSR's ``inference.py`` ends
    with ``evaluate.evaluate``, which downloads pyiqa metric weights), then runs SCRIPT as
    ``__main__`` with ``sys.argv = [SCRIPT, *ARGS]`` and its folder first on ``sys.path``,
    exactly as ``python SCRIPT ARGS...`` would.

``basicsr --opt YML --input DIR --output DIR --suffix S [--seed N] -- SCRIPT``
    BasicSR test scripts (DASR's ``basicsr/test.py -opt options/test/DASR/test_DASR.yml``)
    read their inputs from datasets listed in a YAML file and write to
    ``<checkout>/results/<name>/visualization/<dataset>/<image>_<suffix>.png``. This writes a
    copy of YML whose only dataset is DIR (``SingleImageDataset``), with a unique ``name``,
    ``val.suffix`` S and ``manual_seed`` N, runs SCRIPT on it, and moves the images the script
    wrote into OUTPUT under the script's own names (``<image>_<suffix>.png``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import runpy
import shutil
import sys
import tempfile
import uuid


class _SeedTorchOnImport:
    """A meta-path finder that seeds torch right after the script imports it (the same
    state as seeding before, without importing torch for scripts that never use it)."""

    def __init__(self, seed: int):
        self.seed = seed

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.loader is None:
            return spec
        exec_module, seed = spec.loader.exec_module, self.seed

        def exec_and_seed(module):
            exec_module(module)
            module.manual_seed(seed)  # every device, CUDA included

        spec.loader.exec_module = exec_and_seed
        return spec


def _seed(seed: int) -> None:
    import random

    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    else:
        sys.meta_path.insert(0, _SeedTorchOnImport(seed))


def _run_script(script: str, args: list[str]) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


def _stub(spec: str) -> None:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise SystemExit(f"ext_launch: --stub takes MODULE:ATTR, got {spec!r}")
    mod = importlib.import_module(module)
    if not hasattr(mod, attr):
        raise SystemExit(f"ext_launch: {module} has no attribute {attr!r} to stub")
    setattr(mod, attr, lambda *a, **k: None)


def run(ns: argparse.Namespace, rest: list[str]) -> None:
    if not rest:
        raise SystemExit("ext_launch run: give the script after --")
    script, args = rest[0], rest[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # for --stub imports
    for spec in ns.stub:
        _stub(spec)
    if ns.seed is not None:
        _seed(ns.seed)
    _run_script(script, args)


def basicsr(ns: argparse.Namespace, rest: list[str]) -> None:
    import yaml  # BasicSR's own dependency: present in the authors' environment

    if len(rest) != 1:
        raise SystemExit("ext_launch basicsr: give exactly the test script after --")
    script = rest[0]
    with open(ns.opt, encoding="utf-8") as f:
        opt = yaml.safe_load(f)
    name = f"yonos-{uuid.uuid4().hex[:12]}"
    dataset = "yonos"
    opt["name"] = name
    opt["datasets"] = {
        "test_1": {
            "name": dataset,
            "type": "SingleImageDataset",
            "dataroot_lq": os.path.abspath(ns.input),
            "io_backend": {"type": "disk"},
        }
    }
    opt.setdefault("val", {})["suffix"] = ns.suffix
    opt["val"].pop("metrics", None)  # no ground truth here
    if ns.seed is not None:
        opt["manual_seed"] = ns.seed
    # BasicSR's test.py: root_path = the script's grandparent; results under root/results/<name>
    root = os.path.abspath(os.path.join(script, os.pardir, os.pardir))
    results = os.path.join(root, "results", name)
    with tempfile.TemporaryDirectory(prefix="yonos-basicsr-") as tmp:
        yml = os.path.join(tmp, "test.yml")
        with open(yml, "w", encoding="utf-8") as f:
            yaml.safe_dump(opt, f, sort_keys=False)
        sys.path.insert(0, root)  # the README's PYTHONPATH="./:${PYTHONPATH}"
        try:
            _run_script(script, ["-opt", yml])
            vis = os.path.join(results, "visualization", dataset)
            if not os.path.isdir(vis):
                raise SystemExit(f"ext_launch basicsr: the script wrote no images to {vis}")
            os.makedirs(ns.output, exist_ok=True)
            for fname in sorted(os.listdir(vis)):
                shutil.move(os.path.join(vis, fname), os.path.join(ns.output, fname))
        finally:
            shutil.rmtree(results, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(prog="ext_launch")
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seed", type=int)
    r.add_argument("--stub", action="append", default=[])
    b = sub.add_parser("basicsr")
    b.add_argument("--opt", required=True)
    b.add_argument("--input", required=True)
    b.add_argument("--output", required=True)
    b.add_argument("--suffix", required=True)
    b.add_argument("--seed", type=int)
    ns = p.parse_args(argv)
    {"run": run, "basicsr": basicsr}[ns.mode](ns, rest)


if __name__ == "__main__":
    main()
