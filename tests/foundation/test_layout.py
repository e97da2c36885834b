"""The layout is the data flow: each folder of ``yonos_bench`` is one stage, imports run one
way (a later stage imports earlier ones, never back), there is no import cycle, and the
top-level ``protocols/`` and ``baselines/`` registries ship inside the wheel."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]

#: The stages in flow order. A module may import from its own stage or an earlier one.
#: ``yonos_train`` (the method) needs only the infrastructure and the degradations, and is
#: itself loaded by the model adapters and the speed benchmark.
STAGES = [
    ("yonos_bench.core", "infrastructure: errors, paths, atomic writes, image I/O, strict YAML, weight store"),
    ("yonos_bench.degradations", "bicubic / pooling / Real-ESRGAN degradations (protocols and training)"),
    ("yonos_train", "the paper's method: schedule, pipeline, data, losses, training stages"),
    ("yonos_bench.protocols", "protocol specs, dataset sources, pair rules, prepare"),
    ("yonos_bench.metrics", "metric presets, one-pass engine, statistics"),
    ("yonos_bench.models", "model cards and SR adapters"),
    ("yonos_bench.runs", "benchmark runs: SR generation, cell cache, result files, speed"),
    ("yonos_bench.report", "tables, rendering, plots, regression check, ablation"),
    ("yonos_bench.catalog", "everything registered that needs weights (metrics + cards)"),
    ("yonos_bench.demo", "the embedded end-to-end demo"),
    ("yonos_bench.cli", "thin Typer layer"),
    ("yonos_bench.__main__", "python -m yonos_bench"),
]


def stage_of(module: str) -> int:
    best = None
    for i, (prefix, _) in enumerate(STAGES):
        if module == prefix or module.startswith(prefix + "."):
            best = i
    if best is None and module == "yonos_bench":
        return -1  # the bare package __init__ (empty)
    if best is None:
        raise AssertionError(f"module {module} belongs to no stage: add its folder to STAGES")
    return best


def iter_modules():
    for top in ("yonos_bench", "yonos_train"):
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).with_suffix("")
            parts = list(rel.parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts.pop()
            yield ".".join(parts), is_pkg, path


def imports_of(module: str, is_pkg: bool, path: Path) -> list[tuple[str, bool]]:
    """(imported project module, imported at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if is_pkg else module.rpartition(".")[0]
    top_level = {id(n) for n in tree.body}
    # imports nested in `if TYPE_CHECKING:` or try at module level also count as module level
    for n in tree.body:
        if isinstance(n, (ast.If, ast.Try)):
            top_level.update(id(c) for c in ast.walk(n))
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg_parts = package.split(".")
                pkg_parts = pkg_parts[: len(pkg_parts) - (node.level - 1)]
                base = ".".join(pkg_parts + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in ("yonos_bench", "yonos_train"):
                out.append((name, id(node) in top_level))
    return out


def project_graph():
    modules = {m: (pkg, p) for m, pkg, p in iter_modules()}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in modules}
    all_edges: dict[str, set[str]] = {m: set() for m in modules}
    for m, (pkg, p) in modules.items():
        for name, at_top in imports_of(m, pkg, p):
            target = resolve(name)
            if target is None or target == m:
                continue
            all_edges[m].add(target)
            if at_top:
                edges[m].add(target)
    return edges, all_edges


def test_imports_run_one_way():
    _, all_edges = project_graph()
    backwards = []
    for src, targets in all_edges.items():
        for dst in targets:
            if dst == "yonos_bench":
                continue
            if stage_of(dst) > stage_of(src):
                backwards.append(f"{src} ({STAGES[stage_of(src)][0]}) imports {dst} ({STAGES[stage_of(dst)][0]})")
    assert not backwards, "imports against the flow:\n" + "\n".join(sorted(backwards))


def test_no_import_cycle():
    """No cycle among module-level imports, nor between stage folders counting every import."""
    edges, all_edges = project_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in edges:
        if v not in index:
            strongconnect(v)
    assert not cycles, f"module-level import cycles: {cycles}"


def test_the_checker_sees_a_backward_import(tmp_path):
    """The rule above can fail: a core module importing a model adapter is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from yonos_bench.models.registry import load_card\n")
    found = imports_of("yonos_bench.core.bad", False, bad)
    assert found == [("yonos_bench.models.registry", False), ("yonos_bench.models.registry.load_card", False)]
    assert stage_of("yonos_bench.models.registry") > stage_of("yonos_bench.core.bad")


def test_top_level_is_the_design_card():
    for name in ("yonos_bench", "baselines", "protocols", "yonos_train", "tests", "pyproject.toml", "README.md"):
        assert (REPO / name).exists(), name
    assert sorted(p.name for p in (REPO / "protocols").glob("*.yaml"))
    assert sorted(p.name for p in (REPO / "baselines").glob("*.yaml"))
    # the registries are data: no Python in them, and nothing left behind in the package
    assert not list((REPO / "protocols").glob("*.py")) and not list((REPO / "baselines").glob("*.py"))
    assert not list((REPO / "yonos_bench").glob("*/*.yaml"))
    # every stage folder is a listed package, and every package folder a stage
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {m for m, pkg, _ in iter_modules() if pkg}
    assert on_disk <= listed, f"package folders missing from pyproject packages: {sorted(on_disk - listed)}"
    for m in on_disk:
        stage_of(m)


def test_registry_dir_prefers_the_wheel_copy(tmp_path, monkeypatch):
    from yonos_bench.core import paths

    assert paths.registry_dir("protocols") == REPO / "protocols"
    assert paths.registry_dir("baselines") == REPO / "baselines"
    fake_pkg = tmp_path / "site" / "yonos_bench"
    (fake_pkg / "_registry" / "protocols").mkdir(parents=True)
    monkeypatch.setattr(paths, "package_dir", lambda: fake_pkg)
    assert paths.registry_dir("protocols") == fake_pkg / "_registry" / "protocols"
    with pytest.raises(ValueError, match="registry kind"):
        paths.registry_dir("models")


@pytest.mark.slow
def test_wheel_installs_non_editable_and_lists_the_registries(tmp_path):
    """Build the wheel, install it (no deps) into a fresh venv, and list protocols and cards
    from there, with this environment's dependencies on PYTHONPATH (.pth files there, e.g. the
    editable install's finder, are not processed, so only the wheel's yonos_bench is seen)."""
    import sysconfig
    import zipfile

    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (wheel,) = dist.glob("yonos_bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "yonos_bench/_registry/protocols/sample.yaml" in names
    assert "yonos_bench/_registry/baselines/bicubic.yaml" in names
    assert not any(n.startswith(("protocols/", "baselines/")) for n in names), "generic top-level names"
    assert "yonos_bench/assets/tiny/yonos-tiny-x4/model_index.json" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    vpy = venv / "bin" / "python"
    site = subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    cwd = tmp_path  # not the repository: nothing may be found through the working directory

    def run(*args):
        return subprocess.run([str(vpy), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    where = run("-c", "import yonos_bench, yonos_bench.core.paths as p; print(yonos_bench.__file__); "
                "print(p.registry_dir('protocols'))")  # fmt: skip
    assert where.returncode == 0, where.stderr
    pkg_file, reg = where.stdout.split()
    assert pkg_file.startswith(site) and reg.startswith(site), where.stdout
    protos = run("-m", "yonos_bench", "protocols", "list")
    assert protos.returncode == 0, protos.stderr
    assert "div2k-real" in protos.stdout and "sample" in protos.stdout
    cards = run("-m", "yonos_bench", "models", "list")
    assert cards.returncode == 0, cards.stderr
    assert "real-esrgan-x4plus" in cards.stdout and "yonos-tiny-x4" in cards.stdout
    tiny = run("-c", "from yonos_bench.models.registry import load_card; "
               "print(load_card('yonos-tiny-x4').pipeline.is_present())")  # fmt: skip
    assert tiny.stdout.strip() == "True", tiny.stderr
