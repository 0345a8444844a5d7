"""The package's import graph (issue 20): no circles, no private names across modules, short files and functions.

``scripts/import_graph.py`` reads every module of ``ttfs_symbolic`` (imports inside functions included); the
assertions cover the whole package. :data:`LAYERS` is the order of docs/design.md's package table: an import
arrow never points up it.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "import_graph.py"
PARTS = None   # the whole package

#: each top-level module or package of ttfs_symbolic and its layer (docs/design.md): imports point down only
LAYERS = {
    "symbolic": 0, "userfiles": 0,
    "catalogue": 1, "numeric": 1, "data": 1, "progress": 1,
    "verify": 2, "spiking": 2,
    "conversion": 3,
    "energy": 4,
    "families": 5, "zoo": 5,
    "evaluation": 6, "pages": 6,
    "cli": 7, "__main__": 7,
}


def _load():
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod   # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def found():
    return _load().report(ROOT / "ttfs_symbolic", PARTS, with_sizes=True)[0]


def test_no_import_circles(found):
    assert found["cycles"] == []


def test_no_private_names_across_modules(found):
    assert found["private"] == []


def test_imports_inside_functions_say_why(found):
    assert found["uncommented"] == []


def test_no_file_over_600_lines(found):
    assert found["files"] == []


def test_no_function_over_100_lines(found):
    assert found["functions"] == []


def test_imports_point_down_the_layers():
    graph = _load()
    mods = graph.load(ROOT / "ttfs_symbolic")
    graph.analyse(mods)
    up = []
    for name, mod in mods.items():
        if name == "ttfs_symbolic":
            continue   # the package's public API re-exports from every layer (lazily)
        src = name.split(".")[1]
        assert src in LAYERS, f"{name}: add its package to LAYERS (and to docs/design.md's table)"
        for target in mod.imports:
            dst = target.split(".")[1] if target.count(".") else None
            if dst and dst != src and LAYERS[dst] > LAYERS[src]:
                up.append(f"{name} -> {target}")
    assert up == []


def test_the_script_finds_a_circle_and_a_private_import(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import _hidden\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n_hidden = 1\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(pkg)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout
    assert "cycles: 1" in proc.stdout and "pkg.a <-> pkg.b" in proc.stdout
    assert "imports of private names across modules: 1" in proc.stdout
    assert "imports inside functions without a comment: 1" in proc.stdout


def test_the_symbolic_layer_does_not_load_torch_or_hypothesis():
    code = ("import sys, ttfs_symbolic.symbolic.derive, ttfs_symbolic.verify.report, ttfs_symbolic.verify\n"
            "print('torch' in sys.modules, 'hypothesis' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert proc.stdout.split() == ["False", "False"], proc.stderr
