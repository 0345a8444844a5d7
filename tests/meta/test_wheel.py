"""A regular (non-editable) install works away from the checkout (issue 20).

The package is built as a wheel from a copy of the source tree and installed
``--no-deps`` into a fresh virtual environment. The dependencies (torch,
timm, ...) are not installed again: a ``.pth`` file after the wheel makes the
running interpreter's site-packages visible. Lines of a ``.pth`` file only
extend ``sys.path`` (the ``.pth`` files of the folders they add are not
run), so the editable install of the project that may sit there (its
``__editable__*.pth`` finder) stays inactive, and ``ttfs_symbolic`` is
imported from the fresh environment, which the test checks. Then ``ttfs demo
--no-deep`` (with a one-point precision sweep) runs from an unrelated folder:
it needs the neuron catalogue, which the wheel carries as
``ttfs_symbolic/neurons_data/`` (setup.py).

Skipped when the build cannot run offline here (no setuptools, pip or venv).
About 10 s on an idle machine (2 s to build and install, the rest is the demo); a
minute or two when other jobs share the 2 cores.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: what a build does not need from the checkout (and what it must not find there)
IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                ".hypothesis", ".pytest_cache", "site", "out", "*.pyc")


#: the demo's precision sweep cut to one point: the full sweep (10 precisions, two modes) is most of the
#: demo's time (4 to 5 minutes on 2 busy cores) and tests nothing more about the install
DEMO_PRECISIONS = "1024"


def _version(dist: str) -> tuple[int, ...]:
    try:
        text = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ()
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def _cannot_build() -> str | None:
    """Why the wheel cannot be built and installed offline here, or None."""
    if importlib.util.find_spec("setuptools") is None or _version("setuptools") < (77,):
        return "setuptools>=77 (the build backend, SPDX license field) is not installed; the wheel is built without network"
    if importlib.util.find_spec("pip") is None or _version("pip") < (22, 3):
        return "pip>=22.3 (pip --python) is not installed"
    if importlib.util.find_spec("venv") is None:
        return "the venv module is not available"
    if not (ROOT / "pyproject.toml").is_file() or not (ROOT / "neurons").is_dir():
        return f"not a source checkout: {ROOT} has no pyproject.toml and neurons/"
    return None


pytestmark = pytest.mark.skipif(_cannot_build() is not None, reason=str(_cannot_build()))


def _env() -> dict[str, str]:
    """The environment without what would point Python or the catalogue back at the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "TTFS_NEURONS")
           and not k.startswith("PIP_")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd, timeout, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=_env(), **kw)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, ttfs script, purelib) of a fresh venv with the wheel installed, dependencies borrowed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, wheels, env_dir = tmp / "src", tmp / "wheels", tmp / "venv"
    shutil.copytree(ROOT, src, ignore=IGNORE)           # the build writes build/ and egg-info beside the code
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", wheels, src], timeout=300)
    (wheel,) = wheels.glob("ttfs_symbolic-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir], timeout=120)
    paths = json.loads(_run([env_dir / "bin" / "python" if os.name != "nt" else env_dir / "Scripts" / "python.exe",
                             "-c", "import json, sys, sysconfig; "
                             "print(json.dumps([sys.executable, sysconfig.get_path('purelib'), "
                             "sysconfig.get_path('scripts')]))"], timeout=60).stdout)
    python, purelib, scripts = Path(paths[0]), Path(paths[1]), Path(paths[2])
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], timeout=300)
    # the dependencies: the running interpreter's site-packages, after the wheel's (a .pth appends to sys.path)
    deps = [p for p in site.getsitepackages() if os.path.isdir(p) and Path(p).resolve() != purelib.resolve()]
    (purelib / "zz_ttfs_test_dependencies.pth").write_text("".join(f"{p}\n" for p in deps))
    script = scripts / ("ttfs.exe" if os.name == "nt" else "ttfs")
    assert script.exists(), f"the wheel installed no ttfs script in {scripts}"
    return python, script, purelib


def test_installed_package_has_the_catalogue(installed, tmp_path):
    python, _, purelib = installed
    probe = ("import json, ttfs_symbolic, ttfs_symbolic.catalogue as c; "
             "print(json.dumps([ttfs_symbolic.__file__, str(c.catalogue_dir()), sorted(c.load_catalogue())]))")
    out = _run([python, "-c", probe], timeout=300, cwd=tmp_path).stdout
    module, folder, names = json.loads(out.strip().splitlines()[-1])
    package = purelib.resolve() / "ttfs_symbolic"
    assert Path(module).resolve().is_relative_to(package), f"imported {module}, not the wheel's copy in {package}"
    assert Path(folder).resolve() == package / "neurons_data"
    sources = sorted((ROOT / "neurons").glob("*.toml"))
    assert names == sorted(p.stem for p in sources)
    for path in sources:                                  # the packaged copy is the catalogue, byte for byte
        assert (package / "neurons_data" / path.name).read_bytes() == path.read_bytes(), path.name


def test_wheel_carries_its_license(installed):
    """pyproject's SPDX ``license`` and ``license-files`` reach the installed metadata (PEP 639)."""
    _, _, purelib = installed
    (info,) = purelib.glob("ttfs_symbolic-*.dist-info")
    meta = (info / "METADATA").read_text()
    assert "License-Expression: MIT" in meta.splitlines(), meta[:1000]
    assert (info / "licenses" / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_demo_runs_from_another_folder(installed, tmp_path):
    _, script, _ = installed
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "report"
    elsewhere.mkdir()
    res = _run([script, "demo", "--no-deep", "--no-progress", "--precisions", DEMO_PRECISIONS, "--out", out],
               timeout=600, cwd=elsewhere)
    assert (out / "report.json").is_file(), res.stdout[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert {"exact", "quantized", "kernel", "precision_sweep"} <= set(report)
