"""One check of every command-line argument of ``ttfs convert / evaluate / budget``, before any work (issue 21).

Numbers must be finite and inside the bounds below; files must be existing
regular files (:mod:`ttfs_symbolic.userfiles`: never a FIFO or a device);
data must be a folder or a regular tensor file; ``convert --out`` must not
be one of the command's inputs and, when it exists, needs ``--overwrite``.
Each refusal is a ``ValueError`` of one line naming the flag.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

# the largest time precisions of quantized and kernel mode are the library's own bounds
from ..numeric.dynamics import MAX_KERNEL_PRECISION, MAX_PRECISION
from ..userfiles import MAX_JSON_BYTES, check_regular_file

#: interpolations timm's transforms know
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
#: bounds of the numeric options: (smallest, largest), both included
BOUNDS = {
    "--batch-size": (1, 1 << 20), "--limit": (1, 1 << 40), "--img-size": (1, 16384), "--threads": (1, 4096),
    "--mean": (-1e6, 1e6), "--std": (1e-6, 1e6), "--crop-pct": (0.01, 4.0), "--margin": (0.0, 100.0),
    "--sigmas": (0.0, 1000.0), "--calib": (1, 1 << 20), "--inputs": (1, 1 << 20),
    "--precision": (1, MAX_PRECISION), "--holdout": (0.0, 0.5), "--headroom": (1.0, 1000.0),
}


def max_workers() -> int:
    """Most image-decoding processes: two per CPU core, at most 64."""
    return min(64, 2 * (os.cpu_count() or 1))


def check_int(value, flag: str) -> int | None:
    """``value`` (None passes) as an integer inside ``BOUNDS[flag]``; ValueError naming the flag otherwise."""
    if value is None:
        return None
    lo, hi = BOUNDS[flag]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{flag} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def check_number(value, flag: str, above: float | None = None) -> float | None:
    """``value`` (None passes) as a finite number inside ``BOUNDS[flag]`` (and > ``above``); ValueError otherwise."""
    if value is None:
        return None
    lo, hi = BOUNDS[flag]
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and lo <= value <= hi and (above is None or value > above)
    if not ok:
        where = f"({above}, {hi}]" if above is not None else f"[{lo}, {hi}]"
        raise ValueError(f"{flag} must be a finite number in {where}, got {value!r}")
    return float(value)


def check_numbers(text, flag: str) -> None:
    """A comma-separated list (``--mean``, ``--std``): every value a finite number inside ``BOUNDS[flag]``."""
    if text is None:
        return
    parts = [v for v in str(text).split(",") if v.strip()]
    if not parts:
        raise ValueError(f"{flag} needs comma-separated numbers, got {text!r}")
    for v in parts:
        try:
            x = float(v)
        except ValueError:
            raise ValueError(f"{flag} must be comma-separated numbers, got {text!r}") from None
        lo, hi = BOUNDS[flag]
        if not (math.isfinite(x) and lo <= x <= hi):
            raise ValueError(f"{flag}: each value must be a finite number in [{lo}, {hi}], got {v.strip()!r}")


def check_unique(values, flag: str) -> None:
    """ValueError naming the first value given twice (it would run twice and one report file hold both)."""
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{flag} names {v!r} twice; give each once")
        seen.add(v)


def check_precisions(values, modes, flag: str = "--precision") -> None:
    """Every time precision once, within the stated maximum of each mode that uses it."""
    check_unique(values, flag)
    for p in values:
        if "kernel" in modes and p > MAX_KERNEL_PRECISION:
            raise ValueError(f"{flag} {p}: kernel mode takes a time precision of at most {MAX_KERNEL_PRECISION} "
                             "(its tables integrate the kernels on p ticks per layer)")
        if not 1 <= p <= MAX_PRECISION:
            raise ValueError(f"{flag}: a time precision is an integer in [1, {MAX_PRECISION}], got {p}")


def check_data(path, flag: str, tensor_extensions) -> Path:
    """An existing folder, or an existing regular file with one of ``tensor_extensions``."""
    p = Path(path)
    if p.is_dir():
        return p
    check_regular_file(p, flag)
    if p.suffix.lower() not in tensor_extensions:
        raise ValueError(f"{flag} {p}: expected an image folder or a {', '.join(tensor_extensions)} file")
    return p


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_out_file(out, inputs: dict, overwrite: bool, flag: str = "--out") -> Path:
    """``out`` may be written: not one of ``inputs`` (flag -> path; a folder holds its files) and, when
    it exists, a regular file the user allows to be replaced with ``--overwrite``."""
    out = Path(out)
    resolved = out.resolve()
    for in_flag, path in inputs.items():
        if path is None:
            continue
        p = Path(path)
        inside = p.is_dir() and resolved.is_relative_to(p.resolve())
        if _same(out, p) or inside or resolved == p.resolve():
            raise ValueError(f"{flag} {out} is {'inside ' if inside else ''}the input {in_flag} {path}: "
                             "an input is never written; write elsewhere")
    if out.exists() or out.is_symlink():
        if out.is_dir():
            raise ValueError(f"{flag} {out} is a folder, not a file")
        if not overwrite:
            raise ValueError(f"{flag} {out} exists; pass --overwrite to replace it")
        check_regular_file(out, flag)
    _check_writable_parent(out, flag)
    return out


def _check_writable_parent(out: Path, flag: str) -> None:
    """The folder ``out`` will be written in (made where missing) can be: no file where a folder of its path
    should be, and the nearest existing folder takes a file (checked before any work, not after it)."""
    # start-up time: only the commands that write a file need it
    import tempfile

    for q in out.parents:
        if q.exists() and not q.is_dir():
            raise ValueError(f"{flag} {out}: {q} is a file, not a folder")
    base = next((q for q in out.parents if q.is_dir()), None)
    if base is None:
        return
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise ValueError(f"{flag} {out}: cannot write in {base} ({exc.strerror or exc})") from None


def check_out_folder_files(out, names, inputs: dict, flag: str = "--out") -> None:
    """None of the files ``out/name`` that a command writes is one of ``inputs``."""
    out = Path(out)
    for name in names:
        for in_flag, path in inputs.items():
            if path is not None and (_same(out / name, Path(path)) or (out / name).resolve() == Path(path).resolve()):
                raise ValueError(f"{flag} {out} would overwrite the input {in_flag} {path} ({name}); write elsewhere")


__all__ = ["MAX_PRECISION", "MAX_KERNEL_PRECISION", "INTERPOLATIONS", "BOUNDS", "max_workers", "check_int",
           "check_number", "check_numbers", "check_precisions", "check_data", "check_out_file",
           "check_out_folder_files", "MAX_JSON_BYTES"]
