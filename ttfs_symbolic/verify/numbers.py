"""Float and mpmath helpers of the property checks (precision, quadrature, time tolerances)."""
from __future__ import annotations

import warnings

import mpmath
import numpy as np
import scipy.integrate
import sympy

from ..numeric.dynamics import LayerTiming


EPS = float(np.finfo(np.float64).eps)
DPS = 30


def mpf_of(expr) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        return mpmath.mpf(str(sympy.N(expr, DPS + 5)))


def real_or_none(fn, v):
    """fn(v) in mpmath as a real number, or None where fn is undefined."""
    with mpmath.workdps(DPS):
        try:
            out = fn(mpmath.mpf(v))
        except (ZeroDivisionError, ValueError, OverflowError, TypeError):
            return None
        if isinstance(out, mpmath.mpc):
            if abs(out.imag) > mpmath.mpf(10) ** (5 - DPS) * max(1, abs(out.real)):
                return None
            out = out.real
        return out if mpmath.isfinite(out) else None


def scalar_fn(fn, *extra):
    """A scalar float function of s from a compiled numpy kernel fn(s, *extra).

    Quadrature calls it a million times per check: where the kernel exposes its lambdified function
    (``fn.raw``, :func:`ttfs_symbolic.numeric.compile.compile_expr`), that is called on 0-d float64 arrays,
    which is what the wrapper passes it for float inputs (the same values, without its per-call casts
    and broadcasts: about 6x less time per call)."""
    raw = getattr(fn, "raw", None)
    if raw is None:
        def call(s):
            with np.errstate(all="ignore"):
                return float(np.asarray(fn(np.float64(s), *extra)).reshape(-1)[0])
        return call
    fixed = [np.asarray(e, dtype=np.float64) for e in extra]

    def call_raw(s):
        with np.errstate(all="ignore"):
            return float(np.asarray(raw(np.asarray(s, dtype=np.float64), *fixed)).reshape(-1)[0])
    return call_raw


def quad_float(fn, lo: float, hi: float, breaks) -> float:
    """int_lo^hi fn, split at the breaks inside (lo, hi): QUADPACK, epsrel 1e-12."""
    if not hi > lo:
        return 0.0
    pts = [lo] + sorted(p for p in breaks if lo < p < hi) + [hi]
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.integrate.IntegrationWarning)
        for x0, x1 in zip(pts[:-1], pts[1:]):
            total += scipy.integrate.quad(fn, x0, x1, epsabs=1e-13, epsrel=1e-12, limit=500)[0]
    return total


def float_down(v: mpmath.mpf) -> float:
    """The largest float <= v."""
    f = float(v)
    return float(np.nextafter(f, -np.inf)) if mpmath.mpf(f) > v else f


def float_up(v: mpmath.mpf) -> float:
    """The smallest float >= v."""
    f = float(v)
    return float(np.nextafter(f, np.inf)) if mpmath.mpf(f) < v else f


def time_margin(timing: LayerTiming) -> float:
    """Values closer to a than this fire within a few ulps of T_end: the float64 time resolution."""
    scale = max(1.0, abs(timing.T_emit), abs(timing.T_end), abs(timing.T_ref))
    return 64 * EPS * scale / timing.tau


def roundtrip_tol(timing: LayerTiming) -> float:
    """|decode(encode(x)) - clip(x)|: two roundings of times of size T_ref, divided by tau."""
    scale = max(1.0, abs(timing.T_emit), abs(timing.T_end), abs(timing.T_ref))
    return 16 * EPS * scale / timing.tau + 8 * EPS * max(abs(timing.a), abs(timing.b), 1.0)
