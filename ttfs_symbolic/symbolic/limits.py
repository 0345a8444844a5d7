"""Wall-clock limits on SymPy and mpmath steps, in any thread (issue 12).

A derivation runs SymPy (simplify, integrate, solve) and mpmath (definedness,
monotonicity, quadrature) on user formulas; some of them (``exp(exp(exp(
exp(exp(exp(x))))))``) would run for many minutes. Every such step runs
under a limit:

* :func:`time_limit` (``seconds``, usually :data:`SYMPY_SECONDS`): a SymPy
  attempt that has a fallback; on expiry it raises :class:`SympyTimeout`
  that its caller catches, and the derivation takes its numeric route;
* :func:`step` (``name``): a step without a fallback; on expiry it raises
  :class:`StepTimeout`, a ``ValueError`` that names the step and the limit
  (``STEP_SECONDS``, from ``$TTFS_STEP_SECONDS``, default 300 s: a numeric-inverse proof
  takes about a minute on a loaded 2-core machine, so 5 minutes leave a margin).

The limit works off the main thread too (a web server's worker, a thread
pool), unlike ``signal.alarm``: a watchdog thread raises the exception in
the limited thread with ``PyThreadState_SetAsyncExc``, which Python checks
between bytecodes. Pure-Python work (SymPy, mpmath) stops within
milliseconds; a single long call into C (one huge gmpy multiplication) stops
when it returns. The watchdog raises again every ``REPEAT_SECONDS`` until the
block is left, so code that catches broad exceptions cannot swallow it.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading

import mpmath

__all__ = ["StepTimeout", "SympyTimeout", "step", "limited", "time_limit", "active_steps", "STEP_SECONDS",
           "SYMPY_SECONDS"]


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


#: the wall-clock limit of one derivation step, in seconds
STEP_SECONDS = _env_seconds("TTFS_STEP_SECONDS", 300.0)
#: how long one SymPy step (integrate, solve, simplify) may run before the
#: derivation falls back to a numeric route
SYMPY_SECONDS = 8.0
#: how often an expired limit raises again while its block has not been left
REPEAT_SECONDS = 0.25

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
#: thread id -> the names of the steps running in it, outermost first (read by progress displays)
_ACTIVE: dict[int, list[str]] = {}


def active_steps(thread_id: int | None = None) -> tuple[str, ...]:
    """The names of the :func:`step` blocks running in a thread (this one by default), outermost first:
    what a progress display shows while a derivation runs (``ttfs derive`` on a terminal)."""
    return tuple(_ACTIVE.get(threading.get_ident() if thread_id is None else thread_id, ()))


class StepTimeout(ValueError):
    """A derivation step ran past its wall-clock limit; the message names the step."""


class SympyTimeout(Exception):
    """A SymPy attempt with a fallback ran past its :func:`time_limit` (caught by its caller)."""


class _Expired(BaseException):
    """Raised into a thread by the watchdog of :func:`step` (a BaseException: ``except Exception`` lets it pass)."""


@contextlib.contextmanager
def _deadline(seconds: float, exc_type: type):
    """Raise ``exc_type`` in this thread once ``seconds`` have passed, until the block is left."""
    tid = threading.get_ident()
    lock = threading.Lock()
    left = threading.Event()
    state = {"fired": False}

    def watchdog():
        if left.wait(seconds):
            return
        while True:
            with lock:
                if left.is_set():
                    return
                state["fired"] = True
                _set_async_exc(ctypes.c_ulong(tid), ctypes.py_object(exc_type))
            if left.wait(REPEAT_SECONDS):
                return

    thread = threading.Thread(target=watchdog, name="ttfs-time-limit", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with lock:
            left.set()
            if state["fired"]:   # an exception raised just as the block ended may still be pending: drop it
                _set_async_exc(ctypes.c_ulong(tid), None)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`SympyTimeout` (an ``Exception``) when the block runs longer than ``seconds``; any thread."""
    exc_type = type("_Timeout", (SympyTimeout,), {})
    try:
        with _deadline(seconds, exc_type):
            yield
    except exc_type:
        raise SympyTimeout() from None


@contextlib.contextmanager
def step(name: str, seconds: float | None = None):
    """Raise :class:`StepTimeout` naming ``name`` when the block runs longer than ``seconds`` (``STEP_SECONDS``)."""
    limit = STEP_SECONDS if seconds is None else seconds
    exc_type = type("_Expired", (_Expired,), {})
    prec = mpmath.mp.prec
    names = _ACTIVE.setdefault(threading.get_ident(), [])
    names.append(name)
    try:
        with _deadline(limit, exc_type):
            yield
    except exc_type:
        mpmath.mp.prec = prec   # the exception may have cut through an mpmath.workdps block's exit
        raise StepTimeout(f"the derivation step '{name}' did not finish within its wall-clock limit of "
                          f"{limit:g} s: the formula or range is too hard for it (set TTFS_STEP_SECONDS to "
                          "allow longer)") from None
    finally:
        names.pop()
        if not names:
            _ACTIVE.pop(threading.get_ident(), None)


def limited(name: str, factor: float = 1.0):
    """Decorator: run the function as one :func:`step` called ``name``, limit ``factor * STEP_SECONDS``
    (read at call time)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with step(name, factor * STEP_SECONDS):
                return fn(*args, **kwargs)
        return wrapper
    return deco
