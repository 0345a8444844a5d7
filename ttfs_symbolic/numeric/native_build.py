"""Building, caching and loading the C library of the per-spike loops (:mod:`.native`).

The loops (``csrc/ticks.c`` and ``csrc/ticks_body.h``) are compiled on first
use with the system's C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``),
cached on disk and loaded with :mod:`ctypes`. ``TTFS_NATIVE=0`` switches them
off; ``TTFS_CACHE_DIR`` is where the compiled library is kept (default
``~/.cache/ttfs_symbolic``).

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
import os
import platform
import shutil
import stat
import struct
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

import torch


SOURCE_DIR = Path(__file__).resolve().parent / "csrc"
SOURCES = ("ticks.c", "ticks_body.h", "geometric_body.h", "signed_body.h", "softmax_body.h", "vecmath_avx512.h")
INTERFACE_VERSION = 14
#: ticks are held as float and int32 in C: precisions up to 2**24 are exact in float32
MAX_NATIVE_PRECISION = 1 << 24

_LOCK = threading.Lock()
_STATE: dict = {}
REAL = {torch.float32: ("f32", ctypes.c_float), torch.float64: ("f64", ctypes.c_double)}




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
    for suffix, real in REAL.values():
        fn = getattr(lib, f"ttfs_tick_lookup_{suffix}")
        fn.argtypes = [P, I64, real, real, I64, P, real, P, P, INT, real, real, P, I64, P, P, P, P, P]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_layernorm_{suffix}")
        fn.argtypes = [P, I64, I64, ctypes.c_double, P, P, P, P, P, P, P, P, P, P, INT]
        fn.restype = None
        fn = getattr(lib, f"ttfs_clip_blocks_{suffix}")
        fn.argtypes = [P, I64, I64, I64, I64, P, P, P, P, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_bias_clip_{suffix}")
        fn.argtypes = [P, I64, I64, I64, P, P, P, I64, I64, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_clip_{suffix}")
        fn.argtypes = [P, I64, I64, P, P, P, P, real, real, real, real, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_product_matmul_{suffix}")
        fn.argtypes = [P, P, I64, I64, I64, I64, I64, P, P, INT, P, INT, INT, P, P, ctypes.c_int32,
                       ctypes.c_int32]
        fn.restype = None
        fn = getattr(lib, f"ttfs_product_geo_{suffix}")
        fn.argtypes = [P, P, real, real, I64, I64, I64, I64, I64, ctypes.c_double, ctypes.c_double, P, P,
                       ctypes.c_int32, ctypes.c_int32, P, INT, P, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_signed_mul_{suffix}")
        fn.argtypes = [P, P, I64, I64, INT, P, INT, INT, INT, INT, I64, P, P, INT]
        fn.restype = None
        fn = getattr(lib, f"ttfs_log_ticks_{suffix}")
        fn.argtypes = [P, I64, I64, P, I64, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_gelu_clip_{suffix}")
        fn.argtypes = [P, I64, I64, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_softmax_{suffix}")
        fn.argtypes = [P, I64, I64, real, real, P, P, I64, I64, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_signed_factor_{suffix}")
        fn.argtypes = [P, I64, real, real, real, real, I64, P, real, real, P, P, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_softmax_terms_{suffix}")
        fn.argtypes = [P, P, I64, I64, P, P, P, I64, P, real, real, P, P, INT]
        fn.restype = I64
        fn = getattr(lib, f"ttfs_softmax_out_{suffix}")
        fn.argtypes = [P, P, I64, I64, real, real, real, real, P, I64, P, INT]
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
    return use_native(t, p=1)


def use_native(*tensors, p: int) -> bool:
    if p > MAX_NATIVE_PRECISION:
        return False
    dtype = tensors[0].dtype
    if dtype not in REAL or any(t.device.type != "cpu" or t.dtype != dtype for t in tensors):
        return False
    return library() is not None


def overlaps(out: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether out shares x's storage: writing it could clobber elements of x not read yet."""
    return out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()


def data_ptr(t: torch.Tensor) -> int:
    """The address of t's first element, for a C loop."""
    return t.data_ptr()


def raise_nan(what: str, count: int) -> None:
    raise ValueError(f"{what} contain NaN ({count} of them): no spike time can stand for NaN")


def check_nan(t: torch.Tensor, what: str) -> None:
    """Raise on NaN. One summing pass: a NaN makes the sum NaN (so can inf - inf; then count)."""
    if t.is_floating_point() and t.numel() and bool(torch.isnan(t.sum())):
        count = int(torch.isnan(t).sum())
        if count:
            raise_nan(what, count)


def built() -> ctypes.CDLL:
    """The library :func:`library` built (for a loop, once :func:`use_native` said yes)."""
    return _STATE["lib"]
