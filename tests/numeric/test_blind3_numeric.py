"""The native library's cache guard: a symbolic link on the cache folder's path owned by this (non-root)
user (the third blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from ttfs_symbolic.numeric import native_build

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners")

#: the uid this test plays when it runs as root (a root-owned link on the path is allowed, as /var on macOS)
OTHER_UID = 4242


def test_a_cache_dir_below_a_symlink_owned_by_this_user_is_refused(monkeypatch, tmp_path):
    """TTFS_CACHE_DIR=<link>/cache, where <link> is a symbolic link owned by this user (not root): whoever can
    re-point the link can swap the folder, so the cache is not used. One RuntimeWarning names the link
    ('<link> on its path is a symbolic link owned by uid N') and the library goes to a fresh private
    temporary folder instead."""
    uid = os.getuid()
    if uid == 0:   # as root: play a non-root user, who owns the link and the cache folder
        uid = OTHER_UID
        monkeypatch.setattr(os, "getuid", lambda: OTHER_UID)
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    cache = real / "cache"
    cache.mkdir(mode=0o700)
    os.chmod(real, 0o700)
    os.chmod(cache, 0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    if os.lstat(link).st_uid != uid:
        os.lchown(link, uid, -1)
        os.chown(cache, uid, -1)
    assert os.lstat(link).st_uid == uid != 0 and os.lstat(cache).st_uid == uid
    # the folder itself is private, seen through the link: only the link on its path is wrong
    assert native_build._folder_problem(real / "cache") is None

    monkeypatch.setattr(native_build, "_STATE", {})
    monkeypatch.setenv("TTFS_CACHE_DIR", str(link / "cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = native_build._cache_dir()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert f"not using the cache folder {link / 'cache'}" in messages[0]
    assert f"{link} on its path is a symbolic link owned by uid {uid}" in messages[0]
    assert f"building in the private temporary folder {chosen}" in messages[0]
    assert not str(chosen).startswith(str(real)) and not str(chosen).startswith(str(link))
    assert Path(chosen).is_dir() and os.stat(chosen).st_mode & 0o777 == 0o700
