"""Hostile cache states of the native library (issue 12): planted, symlinked, damaged, left over.

Each scenario runs :func:`ttfs_symbolic.numeric.native_build.library` in this
process on a fresh state, with the quick flag set ``-O0`` (the cache logic
does not depend on the flags). A planted library has a constructor that
writes a marker file when it is loaded: the marker must never appear.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import torch

from ttfs_symbolic.numeric import native, native_build

CC = native_build._compiler()
pytestmark = pytest.mark.skipif(CC is None or not hasattr(os, "getuid"), reason="needs a C compiler and POSIX")
FLAGS = ["-O0"]

PLANT_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void plant(void) {
    const char *p = getenv("TTFS_TEST_MARKER");
    FILE *f = p ? fopen(p, "w") : NULL;
    if (f) { fputs("planted code ran", f); fclose(f); }
}
long long ttfs_native_version(void) { return 2; }
"""


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A shared library whose constructor writes $TTFS_TEST_MARKER; checked to work once."""
    d = tmp_path_factory.mktemp("plant")
    (d / "plant.c").write_text(PLANT_C)
    lib = d / "plant.so"
    subprocess.run([CC, "-shared", "-fPIC", str(d / "plant.c"), "-o", str(lib)], check=True)
    marker = d / "control_marker"
    env = {**os.environ, "TTFS_TEST_MARKER": str(marker)}
    # positive control: loading it does run the constructor
    subprocess.run([os.sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(lib)!r})"], env=env, check=True)
    assert marker.read_text() == "planted code ran"
    return lib


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A clean native state (no library loaded, no cache folder chosen), quick flags, and a marker path."""
    monkeypatch.setattr(native_build, "_STATE", {})
    monkeypatch.setattr(native_build, "FLAG_SETS", (FLAGS,))
    monkeypatch.delenv("TTFS_NATIVE", raising=False)
    marker = tmp_path / "marker"
    monkeypatch.setenv("TTFS_TEST_MARKER", str(marker))
    return marker


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plant(folder: Path, lib: Path, manifest: str | None = "right") -> Path:
    """Put lib where the cache would look in folder, with a manifest naming its true hash (or another)."""
    target = folder / native_build._lib_name(CC, FLAGS)
    shutil.copy(lib, target)
    if manifest == "right":
        (folder / (target.name + ".sha256")).write_text(_sha(target))
    elif manifest is not None:
        (folder / (target.name + ".sha256")).write_text(manifest)
    return target


def _run_and_check_works():
    """Load through the cache (recording warnings), and run one C loop against the torch reference."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = native.library()
    assert lib is not None, native_build._STATE.get("error")
    x = torch.tensor([0.5, 2.0, -1.0], dtype=torch.float64)
    got = native.tick_lookup(x, 1.0, 4.0, 4, step=0.25, backend="native")
    want = native.tick_lookup(x, 1.0, 4.0, 4, step=0.25, backend="torch")
    assert torch.equal(got[0], want[0]) and got[1] == want[1]
    messages = [str(w.message) for w in caught]
    assert all("\n" not in m for m in messages)   # one line each
    return Path(native_build._STATE["path"]), messages


def _private(path: Path) -> Path:
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
    return path


# ------------------------------------------------------------- planted libraries: never loaded

@pytest.mark.parametrize("mode", [0o777, 0o770, 0o757])
def test_a_library_planted_in_a_folder_others_can_write_is_never_loaded(fresh, planted, tmp_path, monkeypatch, mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    _plant(folder, planted)
    os.chmod(folder, mode)
    monkeypatch.setenv("TTFS_CACHE_DIR", str(folder))
    path, messages = _run_and_check_works()
    assert not fresh.exists()
    assert not str(path).startswith(str(folder))
    assert any("not using the cache folder" in m and "writable by group or others" in m for m in messages)
    assert os.stat(path.parent).st_mode & 0o777 == 0o700   # the fresh mkdtemp folder is private


def test_a_library_planted_behind_a_symlinked_folder_is_never_loaded(fresh, planted, tmp_path, monkeypatch):
    real = _private(tmp_path / "real")
    _plant(real, planted)
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.setenv("TTFS_CACHE_DIR", str(link))
    path, messages = _run_and_check_works()
    assert not fresh.exists()
    assert not str(path).startswith(str(real)) and not str(path).startswith(str(link))
    assert any("symbolic link" in m for m in messages)


def test_a_folder_below_a_world_writable_non_sticky_folder_is_refused(fresh, planted, tmp_path, monkeypatch):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    cache = _private(open_dir / "cache")
    _plant(cache, planted)
    os.chmod(open_dir, 0o777)   # anyone could rename cache and put their own in its place
    monkeypatch.setenv("TTFS_CACHE_DIR", str(cache))
    path, messages = _run_and_check_works()
    assert not fresh.exists() and not str(path).startswith(str(open_dir))
    assert any("on its path is writable by others" in m for m in messages)


@pytest.mark.parametrize("manifest", ["0" * 64, None, "symlink"])
def test_a_library_that_fails_its_check_in_a_private_folder_is_rebuilt_not_loaded(fresh, planted, tmp_path,
                                                                                  monkeypatch, manifest):
    cache = _private(tmp_path / "cache")
    if manifest == "symlink":   # the library a symlink to the planted one, with a manifest that matches it
        target = cache / native_build._lib_name(CC, FLAGS)
        target.symlink_to(planted)
        (cache / (target.name + ".sha256")).write_text(_sha(planted))
    else:
        _plant(cache, planted, manifest=manifest)
    monkeypatch.setenv("TTFS_CACHE_DIR", str(cache))
    path, messages = _run_and_check_works()
    assert not fresh.exists()
    assert path.parent == cache and not path.is_symlink()
    assert _sha(path) == (cache / (path.name + ".sha256")).read_text().strip() != _sha(planted)
    assert any("failed its check" in m and "not loading it" in m for m in messages)


# ------------------------------------------------------------- damaged caches: rebuilt, the run succeeds

@pytest.fixture
def good_cache(fresh, tmp_path, monkeypatch):
    """A private cache folder holding a good library and manifest (built once here)."""
    cache = _private(tmp_path / "cache")
    monkeypatch.setenv("TTFS_CACHE_DIR", str(cache))
    path, messages = _run_and_check_works()
    assert messages == [] and path.parent == cache
    monkeypatch.setattr(native_build, "_STATE", {})
    return path


@pytest.mark.parametrize("damage", ["truncated", "zero-length", "random-bytes", "no-manifest"])
def test_a_damaged_cached_library_is_rebuilt_and_the_run_succeeds(good_cache, damage):
    good = good_cache.read_bytes()
    if damage == "truncated":
        good_cache.write_bytes(good[:4096])
    elif damage == "zero-length":
        good_cache.write_bytes(b"")
    elif damage == "random-bytes":
        good_cache.write_bytes(os.urandom(len(good)))
    else:
        Path(str(good_cache) + ".sha256").unlink()
    path, messages = _run_and_check_works()
    assert path == good_cache
    assert _sha(path) == Path(str(path) + ".sha256").read_text().strip()
    assert len(path.read_bytes()) > 4096
    assert any("failed its check" in m for m in messages)


def test_a_damaged_cache_in_a_fresh_process_does_not_crash(good_cache, tmp_path):
    """The SIGBUS of the issue: a truncated library, then a whole quantized forward in a new process."""
    good_cache.write_bytes(good_cache.read_bytes()[:8192])
    code = ("import torch, warnings\nfrom ttfs_symbolic.numeric import native, native_build\n"
            f"native_build.FLAG_SETS = ({FLAGS!r},)\n"
            "x = torch.linspace(-1, 2, 50, dtype=torch.float64)\n"
            "print(native.tick_lookup(x, 1.0, 4.0, 4, step=0.25, backend='native')[1])\n")
    r = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TTFS_CACHE_DIR": str(good_cache.parent)})
    assert r.returncode == 0, r.stderr
    assert "failed its check" in r.stderr and "Traceback" not in r.stderr


def test_leftovers_of_killed_builds_are_removed_and_a_running_build_is_kept(good_cache):
    cache = good_cache.parent
    old = time.time() - 2 * native_build.STALE_BUILD_SECONDS
    leftovers = [cache / ".build-abc123.so", cache / "tmpk1ll3d.so", cache / ".build-xyz.tmp"]
    for p in leftovers:
        p.write_bytes(b"")
        os.utime(p, (old, old))
    running = cache / ".build-running.so"
    running.write_bytes(b"")
    good_cache.unlink()   # force a build
    _run_and_check_works()
    assert not any(p.exists() for p in leftovers)
    assert running.exists()
    assert not [p for p in cache.iterdir() if p.name.startswith(".build-") and p != running]


def test_folders_made_under_umask_002_are_private(fresh, tmp_path, monkeypatch):
    cache = tmp_path / "made" / "here" / "cache"
    monkeypatch.setenv("TTFS_CACHE_DIR", str(cache))
    old = os.umask(0o002)
    try:
        path, messages = _run_and_check_works()
    finally:
        os.umask(old)
    assert messages == [] and path.parent == cache
    for folder in (cache, cache.parent, cache.parent.parent):
        assert os.stat(folder).st_mode & 0o777 == 0o700
