"""Calculus for the derivations: zero tests, antiderivatives, kinks, split quadrature, inverses.

SymPy attempts run under :func:`~.limits.time_limit` (:data:`~.limits.SYMPY_SECONDS`)
and give up (None, False) rather than fail, so that the caller can take its
numeric route; the numeric pieces are mpmath at :data:`~.records.PROOF_DPS` digits.
"""
from __future__ import annotations

import mpmath
import sympy

from . import limits
from .hypotheses import defined_start, solve_increasing
from .limits import SympyTimeout, time_limit
from .mpeval import mp_function, real_value, sample_points
from .parse import S, X, Y
from .records import PROOF_DPS

__all__ = ["is_zero", "integral_closed_form", "kinks", "quad", "symbolic_inverse", "numeric_inverse",
           "never_negative"]


def is_zero(expr: sympy.Expr) -> bool | None:
    """True if SymPy proves expr == 0 within the time limit, else None."""
    try:
        with time_limit(limits.SYMPY_SECONDS):
            if expr == 0:
                return True
            simp = sympy.simplify(expr)
            if simp == 0:
                return True
            simp = sympy.simplify(expr.rewrite(sympy.exp))
            return True if simp == 0 else None
    except (SympyTimeout, NotImplementedError, TypeError, ValueError, RecursionError):
        return None


def integral_closed_form(eta, sigma, tau):
    """(1/tau) * Integral(eta, (s, 0, sigma)) in closed form, or None."""
    try:
        with time_limit(limits.SYMPY_SECONDS):
            anti = sympy.integrate(eta, S, manual=True)
            if anti.has(sympy.Integral):
                anti = sympy.integrate(eta, S)
            if anti.has(sympy.Integral):
                return None
            # an antiderivative must differentiate back to eta
            if is_zero(sympy.diff(anti, S) - eta) is not True:
                return None
            return (anti.subs(S, sigma) - anti.subs(S, 0)) / tau
    except (SympyTimeout, NotImplementedError, TypeError, ValueError, RecursionError):
        return None


def _branches(args: list, limit: int = 64) -> list:
    """Each argument, and for one that holds Max/Min, each branch (every Max/Min replaced by one of its
    items): SymPy cannot solve ``1 - Max(0, 4s/3 - 1/6) = 0``, but it solves each branch, and the
    zeros of all branches hold the kinks (extra points only split a quadrature once more)."""
    out = []
    for arg in args:
        out.append(arg)
        mm = list(arg.atoms(sympy.Max, sympy.Min))
        if not mm:
            continue
        variants = [arg]
        for atom in mm:
            variants = [v.xreplace({atom: item}) for v in variants for item in atom.args][:limit]
        out.extend(v for v in variants if v != arg)
    return out


@limits.limited("locating the kinks of the kernel (SymPy solve)")
def kinks(expr: sympy.Expr, var: sympy.Symbol, lo, hi) -> list:
    """Points of (lo, hi) where expr may be non-smooth: zeros of the arguments
    of Heaviside, Max, Min, Abs, sign and of Piecewise conditions.

    Quadrature is split there, so a ReLU's step kernel is integrated exactly.
    """
    args = []
    for atom in expr.atoms(sympy.Heaviside, sympy.Abs, sympy.sign):
        args.append(atom.args[0])
    for atom in expr.atoms(sympy.Max, sympy.Min):
        items = list(atom.args)
        args.extend(items[i] - items[j] for i in range(len(items)) for j in range(i + 1, len(items)))
    for pw in expr.atoms(sympy.Piecewise):
        for _, cond in pw.args:
            if isinstance(cond, sympy.core.relational.Relational):
                args.append(cond.lhs - cond.rhs)
    points = set()
    for arg in _branches(args):
        for sol in _real_zeros(arg, var):
            if bool(lo < sol) and bool(sol < hi):
                points.add(sol)
    return sorted(points, key=float)


#: the real zeros of each kink argument, by (argument, variable): the property checks ask for the kinks of
#: the same kernel on hundreds of sub-ranges, and SymPy's solve is the same on each
_ZEROS: dict = {}


def _real_zeros(arg: sympy.Expr, var: sympy.Symbol) -> tuple:
    """The real numbers x with arg(x) = 0 that SymPy's solve finds (cached; () where it gives up, not
    cached when the time limit stopped it, so a later call tries again)."""
    key = (arg, var)
    if key in _ZEROS:
        return _ZEROS[key]
    try:
        with time_limit(limits.SYMPY_SECONDS):
            sols = sympy.solve(sympy.Eq(arg, 0), var)
    except SympyTimeout:
        return ()
    except (NotImplementedError, TypeError, ValueError):
        sols = []
    out = tuple(sol for sol in (sols if isinstance(sols, list) else []) if sol.is_real and sol.is_number)
    if len(_ZEROS) > 4096:
        _ZEROS.clear()
    _ZEROS[key] = out
    return out


def quad(fn, lo, hi, breaks):
    """mpmath quadrature of fn over [lo, hi], split at the ``breaks`` inside it (0 when hi <= lo)."""
    pts = [lo] + [p for p in breaks if lo < p < hi] + [hi]
    if hi <= lo:
        return mpmath.mpf(0)
    return mpmath.quad(fn, pts)


@limits.limited("inverting h (SymPy solve, mpmath check)")
def symbolic_inverse(h, a, b):
    """The real, increasing branch g of h^-1 on (a, b], or None."""
    try:
        with time_limit(limits.SYMPY_SECONDS):
            sols = sympy.solve(sympy.Eq(h, Y), X)
    except (SympyTimeout, NotImplementedError, TypeError, ValueError, RecursionError):
        return None
    if not isinstance(sols, list):
        return None
    h_fn = mp_function(h, X)
    ys = sample_points(a, b, 17)[1:]  # (a, b]
    for sol in sols:
        if not isinstance(sol, sympy.Expr):
            continue
        g_fn = mp_function(sol, Y)
        ok, prev = True, None
        with mpmath.workdps(PROOF_DPS):
            for y in ys:
                gv = real_value(g_fn, y)
                if gv is None:
                    ok = False
                    break
                hv = real_value(h_fn, gv)
                if hv is None or abs(hv - y) > mpmath.mpf("1e-20") * max(1, abs(y)):
                    ok = False
                    break
                if prev is not None and gv <= prev:
                    ok = False
                    break
                prev = gv
        if ok:
            try:
                with time_limit(limits.SYMPY_SECONDS):
                    sol = sympy.simplify(sol)
            except (SympyTimeout, RecursionError):
                pass
            return sol
    return None


def numeric_inverse(h_fn):
    """g = h^-1 as a monotone root finder on the mpmath callable ``h_fn`` (at PROOF_DPS digits)."""
    with mpmath.workdps(PROOF_DPS):
        start = defined_start(h_fn)

    def g_fn(y):
        with mpmath.workdps(PROOF_DPS):
            return solve_increasing(h_fn, y, start)
    return g_fn


def never_negative(expr, delta) -> bool:
    """True when SymPy proves expr(s) < 0 has no solution on [0, delta) (within the time limit)."""
    try:
        with time_limit(limits.SYMPY_SECONDS):
            return sympy.solveset(expr < 0, S, sympy.Interval.Ropen(0, delta)) is sympy.S.EmptySet
    except (SympyTimeout, NotImplementedError, TypeError, ValueError, AttributeError, RecursionError):
        return False
