"""Files a user names: regular files only, read with a size limit (issue 21).

A FIFO given as a conversion file or a data file blocks ``open`` until a
writer appears (forever); ``/dev/zero`` or ``/dev/urandom`` read without
end. Every file the command line and the file readers take is therefore
checked first with ``os.stat`` (:func:`check_regular_file`), before it is
opened, and read through :func:`read_regular_file`, which opens it without
blocking (``O_NONBLOCK``), checks the open file again with ``fstat`` (a
file swapped after the first check is caught) and refuses one larger than
its limit before reading a byte. Every refusal is a ``ValueError`` of one
line that names the file.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["check_regular_file", "read_regular_file", "MAX_JSON_BYTES", "MAX_CONFIG_BYTES"]

#: largest conversion file read (per-neuron ranges of a large ViT run to hundreds of MB)
MAX_JSON_BYTES = 2 << 30
#: largest model configuration (config.json) read
MAX_CONFIG_BYTES = 16 << 20


def _what(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _check_stat(st: os.stat_result, path, what: str, max_bytes: int | None) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{what} {path} is {_what(st.st_mode)}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise ValueError(f"{what} {path} has {st.st_size} bytes, more than the {max_bytes} read at most")


def check_regular_file(path, what: str = "file", max_bytes: int | None = None) -> Path:
    """``path`` as a Path when it is an existing regular file (symbolic links followed) of at most
    ``max_bytes``; ValueError naming it otherwise. Nothing is opened."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    _check_stat(st, path, what, max_bytes)
    return path


def read_regular_file(path, what: str = "file", max_bytes: int | None = MAX_JSON_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, opened without blocking; ValueError otherwise."""
    path = check_regular_file(path, what, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        _check_stat(st, path, what, max_bytes)
        chunks, left = [], (max_bytes + 1) if max_bytes is not None else float("inf")
        while left > 0:
            block = os.read(fd, min(left, 1 << 24))
            if not block:
                break
            chunks.append(block)
            left -= len(block)
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"{what} {path} has more than the {max_bytes} bytes read at most")
    return data
