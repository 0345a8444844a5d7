"""The hypotheses of Theorems 4.1 and 4.3, checked: ranges, definedness, monotonicity.

Everything here evaluates SymPy expressions with mpmath (no numpy, no
torch), so that a refusal can name the exact point or interval where a
formula breaks the hypotheses of Theorem 4.1 or Theorem 4.3.
"""
from __future__ import annotations

import math

import mpmath
import sympy

from . import limits
from .limits import SympyTimeout, limited, time_limit
from .mpeval import mp_function, real_value, sample_points
from .parse import X

__all__ = ["RangeError", "DomainError", "MonotonicityError", "as_number", "check_range", "check_defined",
           "solve_increasing", "defined_start", "check_increasing", "defined_extent", "check_clip_tails"]


class RangeError(ValueError):
    """A range [a, b] that is empty, reversed or not finite."""


class DomainError(ValueError):
    """f is undefined or not finite somewhere on the sender's range (Theorem 4.1)."""


class MonotonicityError(ValueError):
    """h is not increasing where Theorem 4.3 needs it to be."""


def as_number(value, name: str) -> sympy.Expr:
    """A finite real SymPy number from an int, float, str or SymPy number.

    Decimal literals become exact rationals (``0.1 -> 1/10``) so that the
    derivations stay exact.
    """
    if isinstance(value, bool):
        raise RangeError(f"{name} must be a number, got {value!r}")
    if isinstance(value, sympy.Basic):
        num = value
    elif isinstance(value, (int,)):
        num = sympy.Integer(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RangeError(f"{name} must be finite, got {value!r}")
        # the float's shortest decimal, exactly (3.0000000000000004 stays); float() first: NumPy 2's float64
        # is a float whose repr is 'np.float64(-1.0)'
        num = sympy.Rational(repr(float(value)))
    elif isinstance(value, str):
        try:
            fval = float(value)
        except ValueError:
            raise RangeError(f"{name} must be a number, got {value!r}") from None
        return as_number(fval, name)
    else:
        try:
            fval = float(value)
        except (TypeError, ValueError):
            raise RangeError(f"{name} must be a number, got {value!r}") from None
        return as_number(fval, name)
    if not (num.is_real and num.is_finite) or num.free_symbols:
        raise RangeError(f"{name} must be a finite real number, got {value!r}")
    return num


def check_range(a, b, delta=1) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """Exact (a, b, delta) with a < b and delta > 0, or a RangeError."""
    a_, b_, delta_ = as_number(a, "a"), as_number(b, "b"), as_number(delta, "delta")
    if not bool(a_ < b_):
        raise RangeError(f"empty range: need a < b, got [a, b] = [{a}, {b}]")
    if not bool(delta_ > 0):
        raise RangeError(f"the time step delta must be positive, got {delta}")
    return a_, b_, delta_


@limited("checking that the formula is defined and differentiable on the range (mpmath)")
def check_defined(f: sympy.Expr, a, b, what: str = "f", n: int = 129, derivative: bool = True):
    """Refuse f when it, or f', is undefined or not finite on [a, b].

    Theorem 4.1 needs f differentiable on the sender's range [a, b].
    Checks SymPy's singularities first, then evaluates f and f' with mpmath
    at n points and names the first failing point.
    """
    interval = sympy.Interval(a, b)
    try:
        sing = sympy.singularities(f, X, interval)
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        sing = sympy.S.EmptySet
    if isinstance(sing, sympy.FiniteSet) and len(sing) > 0:
        point = sorted(sing, key=lambda v: float(v))[0]
        raise DomainError(f"{what}(x) = {f} is undefined at x = {point}, inside the range [{a}, {b}]")
    with mpmath.workdps(30):
        fn = mp_function(f)
        dfn = mp_function(sympy.diff(f, X)) if derivative else None
        checks = [(fn, "is undefined or not finite", "")]
        if dfn is not None:
            checks.append((dfn, "is not differentiable", " (Theorem 4.1 needs f' there)"))
        points = sample_points(a, b, n)
        for check, words, why in checks:
            bad = [real_value(check, p) is None for p in points]
            if any(bad):
                where = failing_run(lambda v: real_value(check, v) is None, points, bad)
                raise DomainError(f"{what}(x) = {f} {words} {where}, inside the range [{a}, {b}]{why}")


def failing_run(fails, points, bad) -> str:
    """Where the first run of failing sample points lies: ``"at x = p"`` for one point, else
    ``"for x between lo and hi"``, each end found by bisection between a failing and a passing sample (the kink
    of ``sqrt(relu(x))`` is named 0, not the first sample -1). ``fails(x)``: whether x fails;
    ``bad[i]``: whether ``points[i]`` did."""
    i = bad.index(True)
    j = bad.index(False, i) if False in bad[i:] else len(points)

    def edge(good, failing):
        for _ in range(60):
            mid = (good + failing) / 2
            good, failing = (good, mid) if fails(mid) else (mid, failing)
        return failing

    tick = (points[-1] - points[0]) * mpmath.mpf("1e-12")   # the edges to 12 digits of the range's width

    def snap(v):
        return mpmath.nint(v / tick) * tick

    lo = points[i] if i == 0 else snap(edge(points[i - 1], points[i]))
    hi = points[j - 1] if j == len(points) else snap(edge(points[j], points[j - 1]))
    if mpmath.almosteq(lo, hi, 1e-12, 1e-15):
        return f"at x = {mpmath.nstr(lo, 8)}"
    return f"for x between {mpmath.nstr(lo, 8)} and {mpmath.nstr(hi, 8)}"


#: how far from its start :func:`solve_increasing` follows h: the largest range end a layer may have (the
#: conversion file's and the populations' MAX_RANGE_ABS), reached by doubling in about 100 steps
SEARCH_SPAN = 1e30


@limited("solving h(x) = y for x (mpmath root finding)")
def solve_increasing(fn, target, start, span: float = SEARCH_SPAN, iters: int = 300):
    """v with fn(v) = target for an increasing fn, by outward bracketing then bisection.

    Starts at ``start`` (a point where fn is defined) and doubles its step
    outward; where fn becomes undefined on the way (the edge of its domain,
    as for log below 0) it bisects toward that edge. Returns None when fn
    never reaches the target within ``span`` (exp never reaches 0).
    """
    target = mpmath.mpf(target)
    v0 = real_value(fn, start)
    if v0 is None:
        return None
    if v0 == target:
        return mpmath.mpf(start)
    direction = 1 if v0 < target else -1
    inner, step = mpmath.mpf(start), mpmath.mpf(1)
    outer = None
    while step <= span:
        cand = inner + direction * step
        val = real_value(fn, cand)
        if val is None:
            # approach the domain edge between inner and cand
            good, bad = inner, cand
            for _ in range(iters):
                mid = (good + bad) / 2
                mval = real_value(fn, mid)
                if mval is None:
                    bad = mid
                else:
                    good = mid
                    if (mval - target) * direction >= 0:
                        outer = mid
                        break
            if outer is None:
                return None
            break
        if (val - target) * direction >= 0:
            outer = cand
            break
        inner, step = cand, step * 2
    if outer is None:
        return None
    lo, hi = (inner, outer) if direction == 1 else (outer, inner)
    for _ in range(iters):
        mid = (lo + hi) / 2
        val = real_value(fn, mid)
        if val is None:
            return None
        if val < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@limited("locating where h is defined (mpmath)")
def defined_start(fn, lo=-10, hi=10, n=201):
    """A point where fn is defined, preferring 0, 1, -1, then a scan of [lo, hi]."""
    for p in [mpmath.mpf(0), mpmath.mpf(1), mpmath.mpf(-1)] + sample_points(lo, hi, n):
        if real_value(fn, p) is not None:
            return p
    return None


@limited("the monotonicity check of h (SymPy, mpmath)")
def check_increasing(h: sympy.Expr, lo, hi, n: int = 257, what: str = "h", skip_undefined: bool = False,
                     extra=()):
    """Refuse h unless it is strictly increasing on [lo, hi].

    SymPy's ``is_increasing`` is asked first; ``None`` (unproven, as for GELU)
    falls back to a numeric check of h' > 0 at n points with mpmath, and at the
    ``extra`` points inside [lo, hi] (the caller's: a piecewise h's kinks and the
    midpoints between them, so that a piece narrower than the grid is seen),
    which names the first interval where h fails to increase.
    Returns "symbolic" or "numeric": how monotonicity was established.
    """
    interval = sympy.Interval(lo, hi)
    try:
        with time_limit(limits.SYMPY_SECONDS):   # (the numeric check below decides when SymPy cannot)
            verdict = sympy.is_strictly_increasing(h, interval, X)
    except (SympyTimeout, NotImplementedError, TypeError, ValueError, AttributeError, RecursionError):
        verdict = None
    if verdict is True:
        return "symbolic"
    # SymPy's test compares [lo, hi] with solveset(h' > 0, Reals) and answers False
    # when it cannot match the two sets (sin on [-1/2, 1/2]). h' <= 0 having no
    # solution on [lo, hi] is a proof as well.
    if _no_solution(sympy.diff(h, X) <= 0, interval):
        return "symbolic"
    with mpmath.workdps(30):
        fn = mp_function(h)
        dfn = mp_function(sympy.diff(h, X))
        points = sample_points(lo, hi, n)
        if extra:   # (a point closer than 1e-6 of the width to another would read as flat)
            gap = (points[-1] - points[0]) * mpmath.mpf(10) ** -6
            for e in sorted(mpmath.mpf(str(sympy.N(v, 25))) for v in extra):
                if points[0] < e < points[-1] and min(abs(e - q) for q in points) > gap:
                    points.append(e)
            points.sort()
        prev = None
        for p in points:
            val = real_value(fn, p)
            der = real_value(dfn, p)
            if val is None and skip_undefined:
                prev = None  # outside h's domain: no value to clip there
                continue
            if val is None:
                raise MonotonicityError(
                    f"{what}(x) = {h} is undefined at x = {mpmath.nstr(p, 8)} inside "
                    f"[{mpmath.nstr(points[0], 8)}, {mpmath.nstr(points[-1], 8)}], where it must be increasing"
                )
            if prev is not None and abs(val - prev[1]) <= mpmath.mpf(10) ** (5 - mpmath.mp.dps) * max(1, abs(val)):
                raise MonotonicityError(
                    f"{what}(x) = {h} is flat (numerically constant) on [{mpmath.nstr(prev[0], 8)}, "
                    f"{mpmath.nstr(p, 8)}]: it is not strictly increasing there, or it never reaches the end "
                    "of the range (Theorem 4.3 needs h^-1 defined on (a, b])"
                )
            if prev is not None and val >= prev[1] and der is not None and der <= 0:
                raise MonotonicityError(
                    f"{what}'(x) = {mpmath.nstr(der, 8)} at x = {mpmath.nstr(p, 8)}: {what}(x) = {h} must increase "
                    f"with {what}' > 0 on [{mpmath.nstr(points[0], 8)}, {mpmath.nstr(points[-1], 8)}] (Theorem 4.3: "
                    f"the inverse's slope 1/{what}' is infinite where {what}' = 0, and so is psi)"
                )
            if prev is not None and (val < prev[1] or (der is not None and der <= 0)):
                raise MonotonicityError(
                    f"{what}(x) = {h} is not increasing on [{mpmath.nstr(prev[0], 8)}, {mpmath.nstr(p, 8)}] "
                    f"({what} goes from {mpmath.nstr(prev[1], 8)} to {mpmath.nstr(val, 8)}); Theorem 4.3 needs "
                    f"{what} increasing on [{mpmath.nstr(points[0], 8)}, {mpmath.nstr(points[-1], 8)}]"
                )
            prev = (p, val)
    # SymPy's False is not a proof of decrease (see above); sampling found h' > 0
    # and h increasing at every point, so the verdict is numeric.
    return "numeric"


def _no_solution(relation, interval) -> bool:
    """True when SymPy proves ``relation`` has no solution on ``interval`` (within a time limit)."""
    try:
        with time_limit(limits.SYMPY_SECONDS):
            return sympy.solveset(relation, X, interval) is sympy.S.EmptySet
    except (SympyTimeout, NotImplementedError, TypeError, ValueError, AttributeError, RecursionError):
        return False


@limited("locating where h is defined (mpmath)")
def defined_extent(fn, start, stop, n: int = 129):
    """The farthest point from ``start`` toward ``stop`` before fn becomes undefined.

    Scans n points; where fn fails, bisects to the edge of its domain.
    """
    points = sample_points(start, stop, n)
    last = points[0]
    for p in points[1:]:
        if real_value(fn, p) is None:
            good, bad = last, p
            for _ in range(80):
                mid = (good + bad) / 2
                if real_value(fn, mid) is None:
                    bad = mid
                else:
                    good = mid
            return good
        last = p
    return last


#: the tails of h checked by :func:`check_clip_tails`: points per side, geometrically spaced from
#: TAIL_NEAR to TAIL_FAR times the width of h's preimage of [a, b] away from its ends
TAIL_POINTS, TAIL_NEAR, TAIL_FAR = 2000, 1e-6, 1e12


@limited("checking h beyond the preimage of [a, b] (mpmath)")
def check_clip_tails(h: sympy.Expr, fn, low, high, a, b, what: str = "h") -> None:
    """Refuse h unless the neuron's clip is ``clip(h(V), a, b)`` for every potential V outside [low, high].

    The neuron emits a for V below ``low`` = h^-1(a) and b above ``high`` = h^-1(b) (Theorem 4.3's
    spike at T_emit or at the window's end): that is ``clip(h(V), a, b)`` only where h stays at most
    a below ``low`` and at least b above ``high``, as it does for an h increasing everywhere. An h
    increasing only near [low, high] (x**2 on [4, 9], sin on [-1/2, 1/2]) would otherwise give a
    silently wrong value (4 for V = -3 where clip(9) = 9). Checked with mpmath at
    :data:`TAIL_POINTS` points per side, geometrically spaced from :data:`TAIL_NEAR` to
    :data:`TAIL_FAR` widths of [low, high] away (points where h is undefined are skipped: the
    potential there has no value of h to clip). A grid: a bump narrower than its spacing (2% of its
    distance from the range) can pass.
    """
    low, high = mpmath.mpf(low), mpmath.mpf(high)
    width = max(high - low, mpmath.mpf(1))
    a_, b_ = mpmath.mpf(str(sympy.N(a, 30))), mpmath.mpf(str(sympy.N(b, 30)))
    at_low, at_high = real_value(fn, low), real_value(fn, high)
    scale = max(abs(a_), abs(b_), mpmath.mpf(1))
    slack = mpmath.mpf(10) ** -12 * scale
    # where h^-1(a) is not reached (sigmoid on [0, 1)), low is h^-1(a + d/1e9): values down to h(low)
    # are emitted as a, an error of at most h(low) - a, which the neuron already accepts
    top_below = max(a_, at_low if at_low is not None else a_) + slack
    least_above = min(b_, at_high if at_high is not None else b_) - slack
    ratio = (mpmath.mpf(TAIL_FAR) / TAIL_NEAR) ** (mpmath.mpf(1) / (TAIL_POINTS - 1))
    off = width * TAIL_NEAR
    for _ in range(TAIL_POINTS):
        for v, below in ((low - off, True), (high + off, False)):
            val = real_value(fn, v)
            if val is None:
                continue
            if below and val > top_below:
                _tail_error(h, what, v, val, "above a", a, "below", low, "a")
            if not below and val < least_above:
                _tail_error(h, what, v, val, "below b", b, "above", high, "b")
        off *= ratio


def _tail_error(h, what, v, val, side, end, where, edge, emitted):
    raise MonotonicityError(
        f"{what}(x) = {h} is not increasing beyond the range: {what}({mpmath.nstr(v, 5)}) = {mpmath.nstr(val, 5)} "
        f"is {side} = {end} {where} {what}^-1({emitted}) = {mpmath.nstr(edge, 5)}, where the neuron emits {emitted} "
        f"(Theorem 4.3); use {what}'s increasing branch, e.g. Max(x, 0)**2 for x**2")
