"""The per-spike loops of the ``quantized`` and ``kernel`` modes, in C.

In these modes every spike is rounded to its own tick, and the time goes
into loops over every neuron. Each is written here twice:

* as C (``csrc/ticks.c`` and ``csrc/ticks_body.h``), compiled on first
  use with the system's C compiler (``$CC``, else ``cc``, ``gcc`` or
  ``clang``: the compiler that ``torch.compile`` on CPU needs too), cached
  on disk and loaded with :mod:`ctypes`; and
* as the torch reference it must equal, used for tensors that are not on the
  CPU, for dtypes other than float32/float64, when no compiler works, and
  when ``TTFS_NATIVE=0``. ``tests/test_native.py`` checks that the two agree.

The loops, with ``tick(x) = clamp(round((b - x) * scale), 0, p)`` (the
nearest of ``p`` ticks to the spike time of value ``x`` in a window whose
range ends at ``b``; ``scale = p/(b - a)``; tick ``p`` is no spike):

:func:`tick_lookup`
    ``table[tick(x)]`` (a kernel table, eq. 30) or the value of the tick,
    ``b - tick(x) * step`` (the quantized value, identity psi).
:func:`tick_values`
    the value of the tick with one range per layer or one per neuron
    (``b``, ``scale``, ``step`` per neuron), and in the same pass the count
    of the values outside the range (the neurons that clip).
:func:`clip`
    exact mode's emitting stage of identity neurons, ``clamp(x, a, b)``
    (eq. 14 with h = x), and the count of the neurons outside the range, in
    one pass (only the values that change are written back).
:func:`product_matmul`
    layer I and II of the multiplication network as a matrix product
    (Section 4.3.4): ``sum_k table[tick(l1[..., i, k] + l2[..., k, j])]``,
    without ever holding the M*N*K layer-I neurons (the tick formed as
    ``round((b - l1)*scale - l2*scale)``, each factor's part once); for the
    signed construction each term times the signs of its parts.
:func:`threshold_lookup`
    the kernel-mode emitting stage (eq. 32): the first tick ``m`` with
    ``P[m] >= theta - V``, and the value ``values[m]`` it stands for.

Each returns its result and the number of spikes (ticks ``< p``). NaN
inputs raise ``ValueError`` in both implementations (the C loops count
them; :func:`clip` passes NaN through, as ``torch.clamp`` does). Rounding is
half to even in both (``torch.round``, C ``rint``).
The sums of :func:`product_matmul` add the K terms in increasing ``k`` in C
and in torch's reduction order in the reference, so the two agree to the
float rounding of a K-term sum, not bit for bit; everything else is bit
for bit.

Environment: ``TTFS_NATIVE=0`` uses the torch reference everywhere;
``TTFS_CACHE_DIR`` is where the compiled library is kept (default
``~/.cache/ttfs_symbolic``); ``CC`` picks the compiler.

The cache is guarded (docs/design.md, "The native library cache"): the
folder must be private (owned by this user, not writable by others, no
symbolic link on the way), else a fresh ``tempfile.mkdtemp`` folder is used
with one warning; the library is built under a temporary name and renamed
into place, its SHA-256 is written beside it (``.sha256``) and checked
before every load, and a file that fails the check is built again, never
loaded. The bytes that passed the check must also be a whole ELF library
(every segment the loader maps inside the file: a truncated library whose
manifest was rewritten to match would end in SIGBUS), and it is those bytes
that are loaded, from a private in-memory copy (``memfd_create``), so that
nothing can truncate or change the library between the check and the load
or while it is in use.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import math
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

import torch

SOURCE_DIR = Path(__file__).resolve().parent / "csrc"
SOURCES = ("ticks.c", "ticks_body.h")
INTERFACE_VERSION = 4
#: ticks are held as float and int32 in C: precisions up to 2**24 are exact in float32
MAX_NATIVE_PRECISION = 1 << 24
#: layer-I neurons per chunk of the torch reference of product_matmul (the M*N*K tensor is never whole)
CHUNK_ELEMENTS = 1 << 24

_LOCK = threading.Lock()
_STATE: dict = {}
_REAL = {torch.float32: ("f32", ctypes.c_float), torch.float64: ("f64", ctypes.c_double)}


# ---------------------------------------------------------------- building


#: a temporary build file older than this (seconds) is a leftover of a killed build and is removed
STALE_BUILD_SECONDS = 600
_BUILD_PREFIX = ".build-"


def _folder_problem(path: Path) -> str | None:
    """Why ``path`` is not a private cache folder (None: it is).

    Private: a real folder (not a symlink), owned by this user, not writable
    by group or others; and every folder above it is not a symlink (unless
    owned by root, as ``/var -> /private/var`` on macOS) and is owned by
    root or this user, and writable by nobody else unless it has the sticky
    bit (as ``/tmp``), so that no other user can rename or replace a folder
    on the way. See docs/design.md, "The native library cache".
    """
    if not hasattr(os, "getuid"):   # no POSIX owners (Windows): nothing to check
        return None
    uid = os.getuid()
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot stat it ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if st.st_uid != uid:
        return f"it is owned by uid {st.st_uid}, not by this user (uid {uid})"
    if st.st_mode & 0o022:
        return f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    for parent in Path(os.path.abspath(path)).parents:
        try:
            pst = os.lstat(parent)
        except OSError as exc:
            return f"cannot stat {parent} ({exc.strerror})"
        if stat.S_ISLNK(pst.st_mode):
            if pst.st_uid != 0:
                return f"{parent} on its path is a symbolic link owned by uid {pst.st_uid}"
            continue
        if pst.st_uid not in (0, uid):
            return f"{parent} on its path is owned by uid {pst.st_uid}"
        if pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
            return f"{parent} on its path is writable by others without the sticky bit"
    return None


def _cache_dir() -> Path:
    """The private folder the library is built in and loaded from (one per process, checked once).

    ``$TTFS_CACHE_DIR``, else ``~/.cache/ttfs_symbolic``, created with mode
    0700. A folder that cannot be made or written, or that is not private
    (:func:`_folder_problem`), is refused with one warning, and the library
    is built in a fresh private folder from :func:`tempfile.mkdtemp` instead
    (unpredictable name, mode 0700, removed at exit).
    """
    if "cache_dir" in _STATE:
        return _STATE["cache_dir"]
    root = os.environ.get("TTFS_CACHE_DIR")
    problem = None
    try:
        path = Path(root) if root else Path.home() / ".cache" / "ttfs_symbolic"
    except RuntimeError as exc:   # no home folder
        path, problem = Path("~/.cache/ttfs_symbolic"), str(exc)
    try:
        missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
        for folder in reversed(missing):   # every folder made here is private (0700), whatever the umask
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:   # made by a concurrent process: checked below like any other
                pass
        problem = problem or _folder_problem(path)
        if problem is None and not os.access(path, os.W_OK):
            problem = "it is not writable"
    except OSError as exc:
        problem = f"it cannot be made ({exc.strerror or exc})"
    if problem is not None:
        fresh = Path(tempfile.mkdtemp(prefix="ttfs_symbolic-"))
        atexit.register(shutil.rmtree, fresh, True)
        warnings.warn(f"ttfs_symbolic: not using the cache folder {path} for the native library: {problem}; "
                      f"building in the private temporary folder {fresh}", RuntimeWarning, stacklevel=4)
        path = fresh
    _STATE["cache_dir"] = path
    return path


def _sha256_fd(fd: int) -> str:
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        block = os.read(fd, 1 << 20)
        if not block:
            return h.hexdigest()
        h.update(block)


def _manifest(lib_path: Path) -> Path:
    return lib_path.with_name(lib_path.name + ".sha256")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_BUILD_PREFIX, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _open_checked(lib_path: Path) -> tuple[int | None, str | None]:
    """``(fd, None)``: lib_path opened, a regular file of this user whose SHA-256 is its manifest's;
    ``(None, why)`` otherwise. Symbolic links are not followed."""
    try:
        want = _manifest(lib_path).read_text().strip()
    except OSError:
        want = None
    try:
        fd = os.open(lib_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return None, ("it is a symbolic link" if os.path.islink(lib_path) else (exc.strerror or str(exc)))
    try:
        st = os.fstat(fd)
        why = None
        if not stat.S_ISREG(st.st_mode):
            why = "it is not a regular file"
        elif hasattr(os, "getuid") and st.st_uid != os.getuid():
            why = f"it is owned by uid {st.st_uid}"
        elif st.st_mode & 0o022:
            why = f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
        elif want is None:
            why = "it has no manifest (SHA-256) beside it"
        else:
            data = _read_fd(fd, st.st_size)
            if hashlib.sha256(data).hexdigest() != want:
                why = "its SHA-256 differs from its manifest's (damaged or replaced)"
            else:
                why = _elf_problem(data)
                if why is None:   # the checked bytes, in a copy no one else can truncate or change
                    private = _private_copy(data)
                    if private is not None:
                        os.close(fd)
                        return private, None
                    return fd, None
    except OSError as exc:
        why = exc.strerror or str(exc)
    os.close(fd)
    return None, why


def _read_fd(fd: int, size: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        block = os.read(fd, 1 << 20)
        if not block:
            return b"".join(chunks)
        chunks.append(block)


def _elf_problem(data: bytes) -> str | None:
    """Why ``data`` is not a whole ELF shared library (None if it is): every segment the loader maps,
    and the header tables, must lie inside the file. A truncated library whose manifest was rewritten to
    match would otherwise be mapped past its end, and the first access there is a SIGBUS."""
    import struct

    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return "it is not an ELF file"
    bits64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if bits64:
        phoff, shoff = struct.unpack_from(end + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", data, 54)
        ph_fmt, ph_min = end + "IIQQQQQQ", 56
    else:
        phoff, shoff = struct.unpack_from(end + "II", data, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", data, 42)
        ph_fmt, ph_min = end + "IIIIIIII", 32
    size = len(data)
    if phnum == 0 or phentsize < ph_min or phoff + phnum * phentsize > size or shoff + shnum * shentsize > size:
        return f"it is truncated or damaged: its header tables reach past its {size} bytes"
    for i in range(phnum):
        fields = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
        p_type = fields[0]
        p_offset, p_filesz = (fields[2], fields[5]) if bits64 else (fields[1], fields[4])
        if p_type in (1, 2) and p_offset + p_filesz > size:   # PT_LOAD, PT_DYNAMIC
            return f"it is truncated: segment {i} ends at byte {p_offset + p_filesz} of a {size}-byte file"
    return None


def _private_copy(data: bytes) -> int | None:
    """A file descriptor of an anonymous in-memory file (``memfd_create``) holding ``data``, or None."""
    create = getattr(os, "memfd_create", None)
    if create is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        fd = create("ttfs_native", getattr(os, "MFD_CLOEXEC", 0))
    except OSError:
        return None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return fd
    except OSError:
        os.close(fd)
        return None


def _load_fd(fd: int, lib_path: Path) -> ctypes.CDLL:
    """dlopen the very file that was checked: through /proc/self/fd where there is one (no race)."""
    proc = f"/proc/self/fd/{fd}"
    return ctypes.CDLL(proc if os.path.exists(proc) else str(lib_path))


def _clean_leftovers(folder: Path) -> None:
    """Remove temporary files of killed builds (older than STALE_BUILD_SECONDS: a running build is younger)."""
    now = time.time()
    for leftover in [*folder.glob(_BUILD_PREFIX + "*"), *folder.glob("tmp*.so")]:
        try:
            st = os.lstat(leftover)
            if now - st.st_mtime > STALE_BUILD_SECONDS and not stat.S_ISDIR(st.st_mode):
                os.unlink(leftover)
        except OSError:
            pass


def _cpu_id() -> str:
    """What ``-march=native`` compiles for: the CPU model and its flags."""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [ln for ln in fh if ln.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return cc
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


#: flag sets tried in order: the first one that compiles is kept
FLAG_SETS = (
    ["-O3", "-march=native", "-fopenmp"],
    ["-O3", "-march=native"],
    ["-O3"],
)
COMMON_FLAGS = ["-shared", "-fPIC", "-std=c99", "-ffp-contract=off", "-fno-math-errno"]


def _lib_name(cc: str, flags: list[str]) -> str:
    """File name of the library for these sources, compiler, flags and CPU."""
    text = b"".join((SOURCE_DIR / s).read_bytes() for s in SOURCES)
    key = hashlib.sha256(text + repr((cc, flags, COMMON_FLAGS, _cpu_id(), platform.machine())).encode())
    return f"libttfs_ticks_{key.hexdigest()[:16]}.so"


def _lib_path(cc: str, flags: list[str]) -> Path:
    return _cache_dir() / _lib_name(cc, flags)


def _compile(cc: str, flags: list[str], lib_path: Path) -> str | None:
    """Build lib_path atomically (temporary name, manifest, rename); None, or the compiler's complaint."""
    fd, tmp = tempfile.mkstemp(prefix=_BUILD_PREFIX, suffix=".so", dir=lib_path.parent)
    os.close(fd)
    try:
        cmd = [cc, *flags, *COMMON_FLAGS, f"-I{SOURCE_DIR}", str(SOURCE_DIR / "ticks.c"), "-o", tmp, "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return f"{' '.join(cmd)}:\n{proc.stderr.strip()[-2000:]}"
        os.chmod(tmp, 0o700)
        with open(tmp, "rb") as fh:
            digest = _sha256_fd(fh.fileno())
        # the library first, then its manifest: a concurrent process that sees the new library with
        # the old manifest finds a mismatch and builds again; it never loads an unchecked file
        os.replace(tmp, lib_path)
        _write_atomic(_manifest(lib_path), digest.encode() + b"\n")
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _build() -> ctypes.CDLL:
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set CC, or install cc/gcc/clang)")
    errors = []
    _clean_leftovers(_cache_dir())
    for flags in FLAG_SETS:
        lib_path = _lib_path(cc, flags)
        fd, why = _open_checked(lib_path)
        if fd is None:
            if os.path.lexists(lib_path) or os.path.lexists(_manifest(lib_path)):
                warnings.warn(f"ttfs_symbolic: the cached native library {lib_path} failed its check ({why}); "
                              "not loading it, building it again", RuntimeWarning, stacklevel=4)
            failure = _compile(cc, flags, lib_path)
            if failure is not None:
                errors.append(failure)
                continue
            fd, why = _open_checked(lib_path)
            if fd is None:
                errors.append(f"{lib_path} fails its check right after the build: {why}")
                continue
        try:
            lib = _load_fd(fd, lib_path)
        except OSError as exc:  # e.g. built with OpenMP, but its runtime library is missing
            errors.append(f"loading {lib_path}: {exc}")
            continue
        finally:
            os.close(fd)
        lib.ttfs_native_version.restype = ctypes.c_int64
        if lib.ttfs_native_version() != INTERFACE_VERSION:
            raise RuntimeError(f"{lib_path} has interface {lib.ttfs_native_version()}, expected {INTERFACE_VERSION}")
        _declare(lib)
        _STATE["flags"] = flags
        _STATE["path"] = str(lib_path)
        return lib
    raise RuntimeError("the C loops could not be built:\n" + "\n".join(errors))


def _declare(lib: ctypes.CDLL) -> None:
    P, I64, INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix, real in _REAL.values():
        fn = getattr(lib, f"ttfs_tick_lookup_{suffix}")
        fn.argtypes = [P, I64, real, real, I64, P, real, P, P, INT, real, real, P, I64, P, P, P, P, P]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_layernorm_{suffix}")
        fn.argtypes = [P, I64, I64, ctypes.c_double, P, P, P, P, P, P, P, P, P, P, INT]
        fn.restype = None
        fn = getattr(lib, f"ttfs_clip_{suffix}")
        fn.argtypes = [P, I64, I64, P, P, P, P, real, real, real, real, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_product_matmul_{suffix}")
        fn.argtypes = [P, P, I64, I64, I64, I64, I64, P, P, INT, P, INT, INT, P, P, ctypes.c_int32,
                       ctypes.c_int32]
        fn.restype = None
        fn = getattr(lib, f"ttfs_log_ticks_{suffix}")
        fn.argtypes = [P, I64, I64, P, I64, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_threshold_lookup_{suffix}")
        fn.argtypes = [P, I64, ctypes.c_double, P, I64, P, P, real, real, P, P, INT]
        fn.restype = I64


def library() -> ctypes.CDLL | None:
    """The compiled loops, built on first use; None (with one warning) where they cannot be built."""
    if os.environ.get("TTFS_NATIVE", "1") == "0":
        return None
    if "lib" not in _STATE:
        with _LOCK:
            if "lib" not in _STATE:
                try:
                    _STATE["lib"] = _build()
                except Exception as exc:  # no compiler, or it failed: the torch reference instead
                    _STATE["lib"] = None
                    _STATE["error"] = str(exc)
                    warnings.warn(f"ttfs_symbolic: the native per-spike loops are not available, "
                                  f"using torch (slower): {exc}", RuntimeWarning, stacklevel=3)
    return _STATE["lib"]


def available() -> bool:
    """Whether the compiled loops are in use."""
    return library() is not None


def build_info() -> dict:
    """What was built: library path and flags, or why nothing was."""
    library()
    return {k: _STATE.get(k) for k in ("path", "flags", "error")}


def available_for(t: torch.Tensor) -> bool:
    """Whether the C loops run for ``t`` (float32/float64 on the CPU, library built, not switched off)."""
    return _use_native(t, p=1)


def _use_native(*tensors, p: int) -> bool:
    if p > MAX_NATIVE_PRECISION:
        return False
    dtype = tensors[0].dtype
    if dtype not in _REAL or any(t.device.type != "cpu" or t.dtype != dtype for t in tensors):
        return False
    return library() is not None


def _overlaps(out: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether out shares x's storage: writing it could clobber elements of x not read yet."""
    return out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _raise_nan(what: str, count: int) -> None:
    raise ValueError(f"{what} contain NaN ({count} of them): no spike time can stand for NaN")


def _check_nan(t: torch.Tensor, what: str) -> None:
    """Raise on NaN. One summing pass: a NaN makes the sum NaN (so can inf - inf; then count)."""
    if t.is_floating_point() and t.numel() and bool(torch.isnan(t.sum())):
        count = int(torch.isnan(t).sum())
        if count:
            _raise_nan(what, count)


# ---------------------------------------------------------------- the loops


def tick_of(u: torch.Tensor, p: int) -> torch.Tensor:
    """Torch: ``clamp(round(u), 0, p)`` as float: the tick of a spike ``u`` ticks into the window."""
    return torch.round(u).clamp(0, p)


def ticks(x: torch.Tensor, b: float, scale: float, p: int) -> torch.Tensor:
    """Torch: ``clamp(round((b - x) * scale), 0, p)`` as float, in x's dtype."""
    return tick_of((b - x) * scale, p)


def tick_lookup(x: torch.Tensor, b: float, scale: float, p: int, table: torch.Tensor | None = None,
                step: float | None = None, out: torch.Tensor | None = None, backend: str | None = None):
    """``(out, spikes)``: ``out = table[tick(x)]``, or ``b - tick(x)*step`` when ``table`` is None.

    ``table`` has ``p + 1`` entries in x's dtype and device; ``spikes`` is
    the number of x whose tick is ``< p``. ``out``: a tensor of x's shape
    and dtype to write the result into (x itself is allowed: each element
    is read before it is written); a new tensor is returned instead when
    ``out`` is not contiguous. ``backend``: None (C where it can),
    ``"native"`` (C or raise) or ``"torch"``.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype or out.device != x.device):
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(out.shape)} {out.dtype} {out.device}, "
                         f"x is {tuple(x.shape)} {x.dtype} {x.device}")
    if (table is None) == (step is None):
        raise ValueError("give exactly one of table and step")
    if table is not None and table.numel() != p + 1:
        raise ValueError(f"the tick table needs p + 1 = {p + 1} entries, got {table.numel()}")
    if _pick(backend, x, *(() if table is None else (table,)), p=p):
        suffix, _ = _REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        fired = ctypes.c_int64(0)
        tab = table.contiguous() if table is not None else None
        nan = getattr(_STATE["lib"], f"ttfs_tick_lookup_{suffix}")(
            _ptr(xc), xc.numel(), b, scale, p, None if tab is None else _ptr(tab),
            0.0 if step is None else step, _ptr(out), ctypes.byref(fired), torch.get_num_threads(),
            -math.inf, math.inf, ctypes.byref(ctypes.c_int64(0)), 1, None, None, None, None, None)
        if nan:
            _raise_nan("values", nan)
        return out, fired.value
    _check_nan(x, "values")
    k = ticks(x, b, scale, p)
    res = table[k.long()] if table is not None else b - k * step
    fired = int((k < p).sum())
    if out is not None:
        return out.copy_(res), fired
    return res, fired


def _per_neuron(x: torch.Tensor, *params) -> int | None:
    """S, the number of neurons of a row, when every tensor of ``params`` holds one value per neuron of
    x's trailing dimensions (floats: one for all, S = 1); None when the C loops cannot index them."""
    S = None
    for t in params:
        if not isinstance(t, torch.Tensor):
            continue
        if t.dim() > x.dim() or tuple(x.shape[x.dim() - t.dim():]) != tuple(t.shape) or t.dtype != x.dtype \
                or t.device != x.device:
            return None
        if S is not None and t.numel() != S:
            return None
        S = t.numel()
    return 1 if S is None else S


def _rows(t, S: int, dtype, keep=None):
    """A float or a tensor of S values as a contiguous C array (kept alive by ``keep``)."""
    arr = (torch.full((S,), float(t), dtype=dtype) if not isinstance(t, torch.Tensor)
           else t.contiguous().reshape(-1))
    if keep is not None:
        keep.append(arr)
    return arr


def tick_values(x: torch.Tensor, b, scale, step, p: int, out: torch.Tensor | None = None, count=None,
                backend: str | None = None):
    """``(out, spikes, clipped)``: ``out = b - tick(x) * step``, with one range per layer or per neuron.

    ``b``, ``scale`` (= p/(b - a)) and ``step`` (= (b - a)/p) are floats (one
    range) or tensors of x's dtype holding one value per neuron of x's
    trailing dimensions (per-channel and per-neuron ranges). ``count = (lo,
    hi)`` (floats or such tensors): ``clipped`` is the number of x below lo
    or above hi, counted in the same pass (0 when ``count`` is None).
    ``spikes`` counts the ticks ``< p``; ``out`` may be x itself. NaN raises.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype or out.device != x.device):
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(out.shape)} {out.dtype} {out.device}, "
                         f"x is {tuple(x.shape)} {x.dtype} {x.device}")
    lo, hi = (None, None) if count is None else count
    fine = any(isinstance(t, torch.Tensor) for t in (b, scale, step))
    S = _per_neuron(x, b, scale, step, lo, hi)
    if S is not None and _pick(backend, x, p=p):
        suffix, _ = _REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        fired, clipped, keep = ctypes.c_int64(0), ctypes.c_int64(0), []
        if fine:
            arrs = [_ptr(_rows(t, S, x.dtype, keep)) for t in (b, scale, step)]
            lims = [_ptr(_rows(t, S, x.dtype, keep)) for t in ((-math.inf, math.inf) if count is None else (lo, hi))]
            scalars = (0.0, 0.0, 0.0, -math.inf, math.inf)
        elif S == 1:
            arrs, lims = [None, None, None], [None, None]
            scalars = (b, scale, step, -math.inf if lo is None else lo, math.inf if hi is None else hi)
        else:   # one range, per-neuron count bounds: count separately
            return _tick_values_split(x, b, scale, step, p, out, lo, hi, backend)
        nan = getattr(_STATE["lib"], f"ttfs_tick_lookup_{suffix}")(
            _ptr(xc), xc.numel(), scalars[0], scalars[1], p, None, scalars[2], _ptr(out), ctypes.byref(fired),
            torch.get_num_threads(), scalars[3], scalars[4], ctypes.byref(clipped), S, *arrs, *lims)
        if nan:
            _raise_nan("values", nan)
        return out, fired.value, clipped.value
    _check_nan(x, "values")
    k = ticks(x, b, scale, p)
    res = b - k * step
    fired = int((k < p).sum())
    clipped = 0 if count is None else int(((x < lo) | (x > hi)).sum())
    if out is not None:
        return out.copy_(res), fired, clipped
    return res, fired, clipped


def _tick_values_split(x, b, scale, step, p, out, lo, hi, backend):
    _, clipped, _ = clip(x, lo, hi, lo, hi, backend=backend)
    res, fired, _ = tick_values(x, b, scale, step, p, out=out, backend=backend)
    return res, fired, clipped


def clip(x: torch.Tensor, lo, hi, a, b, out: torch.Tensor | None = None, backend: str | None = None):
    """``(out, clipped, outside)``: the clamp of exact mode's identity neurons and their clipping count.

    ``clipped``: the number of x below ``lo`` or above ``hi`` (the range
    widened by the float rounding slack: ``lo <= a``, ``hi >= b``, so that
    only values outside the range can count; the C loop counts only in
    blocks with a value outside); ``outside``: the number below ``a`` or
    above ``b`` (the range itself). ``out``: ``clamp(x, a, b)`` written
    into ``out`` (which may be x itself: then only the values that change
    are written), or None: nothing is written and the first result is None.
    The bounds are floats (one range) or tensors of x's dtype with one value
    per neuron of x's trailing dimensions. NaN passes through (as in
    ``torch.clamp``); one pass over x in C.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype or out.device != x.device):
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(out.shape)} {out.dtype} {out.device}, "
                         f"x is {tuple(x.shape)} {x.dtype} {x.device}")
    if not any(isinstance(t, torch.Tensor) for t in (lo, hi, a, b)) and not (lo <= a and hi >= b):
        raise ValueError(f"the count bounds must hold the range: need lo <= a and hi >= b, got lo={lo}, a={a}, "
                         f"b={b}, hi={hi}")
    S = _per_neuron(x, lo, hi, a, b)
    if S is not None and x.numel() and x.is_contiguous() and (out is None or out.is_contiguous()) \
            and _pick(backend, x, p=1):
        suffix, _ = _REAL[x.dtype]
        if out is not None and out is not x and _overlaps(out, x):
            out = torch.empty_like(x)
        keep = []
        fine = any(isinstance(t, torch.Tensor) for t in (lo, hi, a, b))
        ptrs = [_ptr(_rows(t, S, x.dtype, keep)) for t in (lo, hi, a, b)] if fine else [None] * 4
        scalars = (0.0,) * 4 if fine else (lo, hi, a, b)
        outside = ctypes.c_int64(0)
        n = getattr(_STATE["lib"], f"ttfs_clip_{suffix}")(
            _ptr(x), x.numel(), S if fine else 1, *ptrs, *scalars, None if out is None else _ptr(out),
            ctypes.byref(outside), torch.get_num_threads())
        return out, int(n), outside.value
    clipped, outside = _clip_counts_torch(x, lo, hi, a, b)
    if out is None:
        return None, clipped, outside
    if out is x:
        return (x.clamp_(a, b) if outside else x), clipped, outside
    return out.copy_(torch.clamp(x, a, b)), clipped, outside


def layernorm(x: torch.Tensor, eps: float, w, bias, packs, out: torch.Tensor | None = None):
    """``(out, counts)``: exact mode's LayerNorm over x's last dimension, its five populations'
    clips and counts fused in one C pass (``csrc/ticks_body.h``, ``ttfs_layernorm``).

    ``packs``: per population (mean, centred, var, rsqrt, out) a contiguous tensor of x's dtype
    holding ``[lo, hi, a, b]``, S values each (the count bounds and the range, for the neuron index
    mod S: the row for mean, var, rsqrt; the element for centred and out). ``w``, ``bias``: C
    values or None. ``counts``: the five populations' out-of-range neurons. The torch path is
    :class:`~ttfs_symbolic.spiking.SpikingLayerNorm`'s own (the caller's): this needs C
    (:func:`available_for`), x contiguous.
    """
    suffix, _ = _REAL[x.dtype]
    C = x.shape[-1]
    R = x.numel() // C if C else 0
    out = torch.empty_like(x) if out is None else out
    S = (ctypes.c_int64 * 5)(*(t.numel() // 4 for t in packs))
    counts = (ctypes.c_int64 * 5)()
    getattr(_STATE["lib"], f"ttfs_layernorm_{suffix}")(
        _ptr(x), R, C, float(eps), None if w is None else _ptr(w), None if bias is None else _ptr(bias),
        *(_ptr(t) for t in packs), S, _ptr(out), counts, torch.get_num_threads())
    return out, list(counts)


def clip_packed(x: torch.Tensor, pack: torch.Tensor, out: torch.Tensor | None = None):
    """:func:`clip` with per-neuron bounds packed in one contiguous tensor ``[lo, hi, a, b]`` of 4*S values
    (S: the neurons of x's trailing dimensions; as a layer keeps them, so that no call repacks them)."""
    S = pack.numel() // 4
    if S > 1 and x.is_contiguous() and x.numel() % S == 0 and pack.dtype == x.dtype and (
            out is None or out.is_contiguous()) and _pick(None, x, pack, p=1):
        suffix, _ = _REAL[x.dtype]
        if out is not None and out is not x and _overlaps(out, x):
            out = torch.empty_like(x)
        outside = ctypes.c_int64(0)
        ptr, step = _ptr(pack), S * pack.element_size()
        n = getattr(_STATE["lib"], f"ttfs_clip_{suffix}")(
            _ptr(x), x.numel(), S, ptr, ptr + step, ptr + 2 * step, ptr + 3 * step, 0.0, 0.0, 0.0, 0.0,
            None if out is None else _ptr(out), ctypes.byref(outside), torch.get_num_threads())
        return out, int(n), outside.value
    if S == 1:   # one range (a layer of one channel): the scalar loop
        return clip(x, *pack.tolist(), out=out)
    rows = x.reshape(-1, S)
    lo, hi, a, b = pack.reshape(4, S)
    clipped, outside = _clip_counts_torch(rows, lo, hi, a, b)
    if out is None:
        return None, clipped, outside
    return out.copy_(torch.clamp(rows, a, b).reshape(x.shape)), clipped, outside


def ticks_packed(x: torch.Tensor, pack: torch.Tensor, p: int, out: torch.Tensor | None = None):
    """:func:`tick_values` with per-neuron ranges packed in one contiguous tensor ``[b, scale, step, lo, hi]``
    of 5*S values (the range of each of the S neurons of x's trailing dimensions and its count bounds)."""
    S = pack.numel() // 5
    if x.numel() % S == 0 and pack.dtype == x.dtype and _pick(None, x, pack, p=p):
        suffix, _ = _REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        fired, clipped = ctypes.c_int64(0), ctypes.c_int64(0)
        ptr, step = _ptr(pack), S * pack.element_size()
        nan = getattr(_STATE["lib"], f"ttfs_tick_lookup_{suffix}")(
            _ptr(xc), xc.numel(), 0.0, 0.0, p, None, 0.0, _ptr(out), ctypes.byref(fired), torch.get_num_threads(),
            -math.inf, math.inf, ctypes.byref(clipped), S, *(ptr + k * step for k in range(5)))
        if nan:
            _raise_nan("values", nan)
        return out, fired.value, clipped.value
    b, scale, step, lo, hi = pack.reshape(5, S)
    res, fired, clipped = tick_values(x.reshape(-1, S), b, scale, step, p, count=(lo, hi))
    res = res.reshape(x.shape)
    return (out.copy_(res) if out is not None else res), fired, clipped


#: the arrays of a log-code pack (:func:`log_pack`), S values each
LOG_PACK_FIELDS = ("a", "b", "lo", "hi", "uhi+", "e+", "scale+", "step+", "uhi-", "e-", "scale-", "step-")


def log_pack(a, b, r, p: int, lims=None, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The constants of the log code (:func:`ttfs_symbolic.numeric.dynamics.quantize_log_values`) for ranges
    ``[a, b]`` (floats, or tensors of S ranges, flattened) at precision p: :data:`LOG_PACK_FIELDS`, one
    contiguous tensor of 12 S values. ``lims = (lo, hi)``: the count bounds (None: count nothing)."""
    a = torch.as_tensor(a, dtype=torch.float64).reshape(-1)
    b = torch.as_tensor(b, dtype=torch.float64).reshape(-1)
    a, b = torch.broadcast_tensors(a, b)
    lo, hi = (-math.inf, math.inf) if lims is None else lims
    lo = torch.broadcast_to(torch.as_tensor(lo, dtype=torch.float64).reshape(-1), a.shape)
    hi = torch.broadcast_to(torch.as_tensor(hi, dtype=torch.float64).reshape(-1), a.shape)
    parts = []
    for M, least in ((b.clamp(min=0), a.clamp(min=0)), ((-a).clamp(min=0), (-b).clamp(min=0))):
        M = torch.where(M > 0, M, torch.ones_like(M))   # (a part that holds no value: its values are 0)
        e = r * M
        uhi = torch.log(M + e)
        du = uhi - torch.log(least + e)
        parts += [uhi, e, p / du, du / p]
    return torch.cat([a, b, lo, hi, *parts]).to(dtype=dtype, device=device).contiguous()


def log_ticks(x: torch.Tensor, pack: torch.Tensor, p: int, out: torch.Tensor | None = None,
              backend: str | None = None):
    """``(out, clipped)``: x on the log code's ticks (:func:`log_pack`: S ranges over x's trailing values,
    flat index modulo S) and the number of x outside the count bounds, in one pass (C; torch otherwise:
    :func:`ttfs_symbolic.numeric.dynamics.quantize_log_values`). NaN raises."""
    S = pack.numel() // 12
    if x.numel() % S == 0 and pack.dtype == x.dtype and _pick(backend, x, pack, p=p):
        suffix, _ = _REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        clipped = ctypes.c_int64(0)
        nan = getattr(_STATE["lib"], f"ttfs_log_ticks_{suffix}")(_ptr(xc), xc.numel(), S, _ptr(pack), p, _ptr(out),
                                                                 ctypes.byref(clipped), torch.get_num_threads())
        if nan:
            _raise_nan("values", nan)
        return out, clipped.value
    _check_nan(x, "values")
    a, b, lo, hi, uhp, ep, scp, stp, uhn, en, scn, stn = pack.reshape(12, S)
    rows = x.reshape(-1, S)
    clipped = int(((rows < lo) | (rows > hi)).sum())
    v = torch.minimum(torch.maximum(rows, a), b)
    neg = v < 0
    uhi, e, scale, step = (torch.where(neg, n_, p_) for n_, p_ in ((uhn, uhp), (en, ep), (scn, scp), (stn, stp)))
    k = torch.round((uhi - torch.log(v.abs() + e)) * scale).clamp_(0, p)
    q = torch.exp(uhi - k * step) - e
    res = torch.where(v == 0, v, torch.where(neg, -q, q)).reshape(x.shape)
    return (out.copy_(res) if out is not None else res), clipped


def _dest(x: torch.Tensor, xc: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """Where a C loop over ``xc`` (``x`` made contiguous) writes: ``out`` when it is contiguous and not a
    view that overlaps x in another layout, else a new tensor."""
    if out is None or not out.is_contiguous() or (out is not x and xc is x and _overlaps(out, x)):
        return torch.empty_like(xc)
    return out


def _clip_counts_torch(x, lo, hi, a, b):
    """:func:`clip`'s two counts in torch: with one range, one ``aminmax`` pass and the counting passes
    only where some value lies outside [a, b] (lo <= a and hi >= b), as a GPU prefers."""
    if not x.numel():
        return 0, 0
    if not any(isinstance(t, torch.Tensor) for t in (lo, hi, a, b)) and lo <= a and hi >= b:
        mn, mx = (float(v) for v in torch.aminmax(x))
        if a <= mn and mx <= b:   # (a NaN makes both false: the counts below, which pass over NaN, as C does)
            return 0, 0
    outside = int(((x < a) | (x > b)).sum())
    none = not isinstance(lo, torch.Tensor) and not isinstance(hi, torch.Tensor) and lo == -math.inf and hi == math.inf
    clipped = 0 if none or not outside else int(((x < lo) | (x > hi)).sum())
    return clipped, outside


def product_matmul(l1: torch.Tensor, l2: torch.Tensor, table: torch.Tensor, b: float, scale: float, p: int,
                   count: bool = True, backend: str | None = None, signed: dict | None = None):
    """``(s, spikes)``: ``s[..., i, j] = sum_k table[clamp(round(u1[..., i, k] - v2[..., k, j]), 0, p)]``.

    Layer I of the multiplication network as a matrix product. ``l1`` is
    ``(..., M, K)``, ``l2`` is ``(..., K, N)`` (leading dimensions
    broadcast): the two input terms of each layer-I neuron, whose potential
    ``l1 + l2`` spikes at tick ``(b - l1 - l2)*scale``; it is formed as
    ``u1 - v2`` with ``u1 = (b - l1)*scale`` and ``v2 = l2*scale``, computed
    once per factor. ``spikes`` counts the ticks ``< p`` of all M*N*K
    neurons when ``count`` (else 0). Memory: the C loops add each term as it
    is made; the torch reference works in row chunks of ``CHUNK_ELEMENTS``.

    ``signed`` (the signed construction, Product._signed_by_neuron): a dict
    with ``x1`` (shaped like l1) or the constant sign ``s1`` (+1 or -1), and
    ``x2`` (like l2) or ``s2``. Each term is then ``s1 s2 table[tick]``, s1 =
    -1 where x1 < 0 and +1 elsewhere (s2 likewise): the neurons that carry
    x1 x2 with the signs of their parts. In C the sign picks the half of a
    table ``[T, -T]`` by an integer offset (exact).
    """
    for name, t in (("l1", l1), ("l2", l2)):
        _check_nan(t, f"the terms {name} of layer I")
    lead = torch.broadcast_shapes(l1.shape[:-2], l2.shape[:-2])
    M, K, N = l1.shape[-2], l1.shape[-1], l2.shape[-1]
    if l2.shape[-2] != K:
        raise ValueError(f"matrix product of shapes {tuple(l1.shape)} and {tuple(l2.shape)}: inner sizes differ")
    sg = _signed_parts(signed, l1, l2)
    u1 = (b - l1) * scale
    v2 = l2 * scale
    extra = [t for t in (sg["x1"], sg["x2"]) if t is not None] if sg else []
    if _pick(backend, l1, l2, table, *extra, p=p):
        suffix, _ = _REAL[l1.dtype]

        def rows(t, last2):   # (..., r, c) broadcast to the batch, as contiguous (B, r, c)
            return None if t is None else t.expand(*lead, *last2).reshape(-1, *last2).contiguous()

        a, c = rows(u1, (M, K)), rows(v2, (K, N))
        tab, offs, consts = table.contiguous(), [None, None], [0, 0]
        if sg:   # the sign picks the half of [T, -T]: offset p + 1 where a part is negative
            tab = torch.cat([tab, -tab])
            offs = [None if sg[n] is None else rows(torch.where(sg[n] < 0, p + 1, 0).to(torch.int32), last2)
                    for n, last2 in (("x1", (M, K)), ("x2", (K, N)))]
            consts = [(p + 1) if sg[f"s{i}"] < 0 else 0 for i in (1, 2)]
        B = a.shape[0]
        out = torch.empty(B, M, N, dtype=l1.dtype)
        fired = ctypes.c_int64(0)
        getattr(_STATE["lib"], f"ttfs_product_matmul_{suffix}")(
            _ptr(a), _ptr(c), B, M, K, N, p, _ptr(tab), _ptr(out), int(count), ctypes.byref(fired),
            torch.get_num_threads(), int(sg is not None), *(None if o is None else _ptr(o) for o in offs), *consts)
        return out.reshape(*lead, M, N), fired.value
    return _product_matmul_torch(u1, v2, table, p, count, sg, lead, M, K, N)


def _signed_parts(signed, l1, l2):
    """The ``signed`` argument of :func:`product_matmul` checked, with x1, x2, s1, s2 all present."""
    if signed is None:
        return None
    unknown = set(signed) - {"x1", "x2", "s1", "s2"}
    if unknown:
        raise ValueError(f"unknown key(s) of signed: {', '.join(sorted(unknown))}")
    sg = {}
    for i, like in ((1, l1), (2, l2)):
        x, c = signed.get(f"x{i}"), signed.get(f"s{i}")
        if (x is None) == (c is None):
            raise ValueError(f"signed needs exactly one of x{i} (the values) and s{i} (a constant sign)")
        if c is not None and c not in (1, -1):
            raise ValueError(f"signed s{i} must be +1 or -1, got {c!r}")
        if x is not None and (x.shape[-2:] != like.shape[-2:] or x.dtype != like.dtype or x.device != like.device):
            raise ValueError(f"signed x{i} must have the last two dimensions, dtype and device of l{i}")
        sg[f"x{i}"], sg[f"s{i}"] = x, (1 if c is None else c)
    return sg


def _product_matmul_torch(u1, v2, table, p, count, sg, lead, M, K, N):
    """The torch reference of :func:`product_matmul`, in row chunks (the M*N*K tensor is never whole)."""
    batch = math.prod(lead)
    rows = max(1, CHUNK_ELEMENTS // max(batch * K * N, 1))
    if sg:
        s1 = sg["s1"] if sg["x1"] is None else 1.0 - 2.0 * (sg["x1"] < 0).to(u1.dtype)
        s2 = sg["s2"] if sg["x2"] is None else 1.0 - 2.0 * (sg["x2"] < 0).to(u1.dtype)
    parts, fired = [], 0
    for i0 in range(0, M, rows):
        u = u1[..., i0:i0 + rows, :].unsqueeze(-1) - v2.unsqueeze(-3)   # (..., rows, K, N)
        k = tick_of(u, p).long()
        terms = table[k]
        if sg:
            a = s1[..., i0:i0 + rows, :].unsqueeze(-1) if isinstance(s1, torch.Tensor) else s1
            c = s2.unsqueeze(-3) if isinstance(s2, torch.Tensor) else s2
            terms = terms * (a * c)
        parts.append(terms.sum(-2))
        if count:
            fired += int((k < p).sum())
    return torch.cat(parts, dim=-2), fired


def threshold_lookup(V: torch.Tensor, P: torch.Tensor, theta: float, values: torch.Tensor,
                     guess: tuple | None = None, backend: str | None = None):
    """``(out, spikes)``: ``m`` = the first index with ``P[m] >= theta - V`` (``p`` if none), ``out = values[m]``.

    ``P`` (float64, non-decreasing, ``p`` entries) is the cumulative psi at
    half ticks (eq. 32); ``values`` (``p + 1`` entries, V's dtype) the value
    each tick stands for, ``values[p]`` the value of no spike. ``theta - V``
    is formed in float64. ``spikes`` counts ``m < p``.

    ``guess = (x, b, scale)``: values x near the outputs (the closed form
    ``clip(h(V), a, b)``); the C search starts at their ticks and walks to
    m. It changes the time, never the result (the torch reference ignores it).
    """
    p = P.numel()
    if values.numel() != p + 1:
        raise ValueError(f"values needs p + 1 = {p + 1} entries, got {values.numel()}")
    if P.dtype != torch.float64:
        raise ValueError("P must be float64")
    if guess is not None and guess[0].shape != V.shape:
        raise ValueError(f"guess has shape {tuple(guess[0].shape)}, V has {tuple(V.shape)}")
    extra = () if guess is None else (guess[0],)
    if _pick(backend, V, values, *extra, p=p) and P.device.type == "cpu":
        suffix, _ = _REAL[V.dtype]
        Vc = V.contiguous()
        out = torch.empty_like(Vc)
        fired = ctypes.c_int64(0)
        g, gb, gscale = (None, 0.0, 0.0) if guess is None else (_ptr(guess[0].contiguous()), guess[1], guess[2])
        nan = getattr(_STATE["lib"], f"ttfs_threshold_lookup_{suffix}")(
            _ptr(Vc), Vc.numel(), theta, _ptr(P.contiguous()), p, _ptr(values.contiguous()), g, gb, gscale,
            _ptr(out), ctypes.byref(fired), torch.get_num_threads())
        if nan:
            _raise_nan("potentials", nan)
        return out, fired.value
    _check_nan(V, "potentials")
    need = (theta - V.to(torch.float64)).contiguous()
    m = torch.searchsorted(P.contiguous(), need.reshape(-1), side="left").reshape(V.shape)
    return values[m], int((m < p).sum())


def _pick(backend: str | None, *tensors, p: int) -> bool:
    """True: run the C loop. ``backend``: None (C where it can), "native" (C or raise), "torch"."""
    if backend == "torch":
        return False
    if backend not in (None, "native"):
        raise ValueError(f"backend must be None, 'native' or 'torch', got {backend!r}")
    ok = _use_native(*tensors, p=p)
    if backend == "native" and not ok:
        why = _STATE.get("error") or "the tensors are not float32/float64 on the CPU, or p is too large"
        raise RuntimeError(f"the native loops cannot run here: {why}")
    return ok
