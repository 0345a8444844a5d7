"""Refusals a derivation makes before it can go wrong (issue 12).

* :func:`check_float_range`: ranges whose width or time constant is not a
  float64 (``[-1e308, 1e308]``: ``b - a`` overflows) are refused up front,
  instead of failing later with a misleading NaN.
* :func:`without_jumps`: Heaviside and sign are steps whose derivative is a
  Dirac delta, which no kernel can hold. In f (Theorem 4.1) a step whose
  argument keeps one sign on [a, b] is replaced by its constant value there
  (so ``Heaviside(x - 5)`` on [-1, 1] derives as 0); one that changes inside
  [a, b] where f stays continuous (``x*Heaviside(x)``, a kink) becomes a
  Piecewise, and one where f jumps is refused naming the point. In h (Theorem 4.3) they are
  refused: h^-1 and h' of a jump do not exist.
* :func:`check_input_overflow` / :func:`check_output_overflow`: the compiled
  kernels compute in float64; where f, f' (eta), h^-1 (theta) or psi exceed
  its largest value on the range (``exp(x)`` on [0, 800]) the derivation is
  refused, naming the largest range from a (or to b) that works.
* :func:`short_messages`: long numbers in error messages (``10**600*x``) are
  shortened to their first digits and length, and a message is kept under
  :data:`MAX_MESSAGE` characters.

Pure SymPy and mpmath (symbolic layer).
"""
from __future__ import annotations

import functools
import re
import sys

import mpmath
import sympy

from . import limits
from .hypotheses import DomainError, RangeError
from .limits import SympyTimeout, time_limit
from .mpeval import mp_function, real_value, sample_points
from .parse import S, X

__all__ = ["check_float_range", "without_jumps", "refuse_jumps", "refuse_piecewise_jumps", "check_input_overflow",
           "check_output_overflow", "short_messages", "shorten", "FLOAT64_MAX", "MAX_MESSAGE"]

FLOAT64_MAX = mpmath.mpf(sys.float_info.max)
#: longest error message of a derivation, in characters
MAX_MESSAGE = 300
#: points of the range on which the float64 overflow check samples f, f', h^-1 and psi
OVERFLOW_POINTS = 129
_STEPS = (sympy.Heaviside, sympy.sign)


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with digit runs over 24 digits written as ``1000...000 (601 digits)``, cut to ``limit``."""
    text = re.sub(r"\d{25,}", lambda m: f"{m.group()[:6]}...{m.group()[-3:]} ({len(m.group())} digits)", text)
    if len(text) > limit:
        head = limit * 2 // 3
        text = text[:head] + " ... " + text[-(limit - head - 5):]
    return text


def short_messages(fn):
    """Decorator: exceptions leave ``fn`` with their message shortened by :func:`shorten` (same type)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if exc.args and isinstance(exc.args[0], str) and len(exc.args[0]) > MAX_MESSAGE:
                exc.args = (shorten(exc.args[0]), *exc.args[1:])
            raise
    return wrapper


def check_float_range(a, b, delta) -> None:
    """RangeError unless a, b, b - a, delta and tau = delta/(b - a) are finite, non-zero float64 numbers."""
    d = b - a
    for name, value in (("a", a), ("b", b), ("the width b - a", d), ("delta", delta), ("tau = delta/(b - a)",
                                                                                       delta / d)):
        v = float(value)
        if abs(v) == float("inf"):
            raise RangeError(f"the range [a, b] = [{float(a):.3g}, {float(b):.3g}] cannot be computed in float64: "
                             f"{name} = {sympy.N(value, 3)} exceeds the largest float64 ({sys.float_info.max:.3g})")
        if name in ("the width b - a", "tau = delta/(b - a)") and v == 0.0:
            raise RangeError(f"the range [a, b] = [{float(a):.17g}, {float(b):.17g}]: {name} underflows to 0 in "
                             "float64")


def _roots_in(arg: sympy.Expr, a, b) -> list:
    """Points of [a, b] where arg is 0 or changes sign (solve, then sampling): empty when it keeps one sign."""
    points = []
    try:
        with time_limit(limits.SYMPY_SECONDS):
            sols = sympy.solve(sympy.Eq(arg, 0), X)
        for sol in sols if isinstance(sols, list) else []:
            if sol.is_real and sol.is_number and bool(a <= sol) and bool(sol <= b):
                points.append(sol)
    except (SympyTimeout, NotImplementedError, TypeError, ValueError):
        pass
    if points:
        return points
    fn = mp_function(arg, X)
    values = []
    with mpmath.workdps(30):
        for p in sample_points(a, b, 257):
            v = real_value(fn, p)
            if v is None or v == 0:
                return [sympy.Float(str(p), 6)]
            values.append((p, v))
    for (p, u), (_, v) in zip(values, values[1:]):
        if (u > 0) != (v > 0):
            return [sympy.Float(str(p), 6)]
    return []


def _piecewise_breaks(expr: sympy.Expr, interval) -> list:
    """The points of ``interval`` where a condition of a Piecewise in expr changes (x = c of x < c), sorted."""
    points = set()
    for pw in expr.atoms(sympy.Piecewise):
        for _, cond in pw.args:
            for rel in cond.atoms(sympy.core.relational.Relational):
                try:
                    with time_limit(limits.SYMPY_SECONDS):
                        sol = sympy.solveset(rel.lhs - rel.rhs, X, interval)
                except (SympyTimeout, NotImplementedError, TypeError, ValueError, AttributeError, RecursionError):
                    continue
                if isinstance(sol, sympy.FiniteSet):
                    points |= {p for p in sol if p.is_real}
    return sorted(points, key=lambda p: float(p))


def _sides(fn, c):
    """``(left, right)``: fn's values at c -+ 1e-20 (1 + |c|) (mpmath, 30 digits); None where one side is
    undefined."""
    with mpmath.workdps(30):
        c_mp = mpmath.mpf(str(sympy.N(c, 30)))
        eps = mpmath.mpf("1e-20") * (1 + abs(c_mp))
        left, right = real_value(fn, c_mp - eps), real_value(fn, c_mp + eps)
    return None if left is None or right is None else (left, right)


def _jumps(left, right) -> bool:
    """Whether the two sides of a point differ by more than 1e-10 (1 + |value|)."""
    return abs(right - left) > mpmath.mpf("1e-10") * (1 + max(abs(left), abs(right)))


def refuse_piecewise_jumps(expr: sympy.Expr, interval, what: str) -> None:
    """DomainError where a Piecewise in expr jumps at one of its breakpoints in ``interval``.

    Each breakpoint c is checked with mpmath at 30 digits: the values at c -+ 1e-20 (1 + |c|) must agree
    to 1e-10 (1 + |value|). (The derivation's proof differentiates f piece by piece and cannot see a
    jump: f = x below 0 and x + 5 above derived as eta = 1, V = x, 5 short above 0.)"""
    breaks = _piecewise_breaks(expr, interval)
    if not breaks:
        return
    fn = mp_function(expr, X)
    for c in breaks:
        sides = _sides(fn, c)   # (undefined on one side: the definedness checks name it)
        if sides is not None and _jumps(*sides):
            left, right = sides
            raise DomainError(
                f"{what}(x) = {expr} jumps at x = {c} (from {mpmath.nstr(left, 8)} to {mpmath.nstr(right, 8)}): "
                f"Theorems 4.1 and 4.3 need {what} continuous (its kernel holds {what}'); make the pieces meet "
                "there, or use a range on one side of the jump")


def without_jumps(f: sympy.Expr, a, b, what: str = "f") -> sympy.Expr:
    """f with every Heaviside/sign that keeps one value on [a, b] replaced by it, and every one that changes
    inside [a, b] where f stays continuous (``x*Heaviside(x)``, ``x*sign(x)``: a kink, as relu's and abs's)
    written as a Piecewise; DomainError at a jump (of f at a step inside [a, b], or of a Piecewise whose
    pieces do not meet there)."""
    refuse_piecewise_jumps(f, sympy.Interval(a, b), what)
    steps = sorted(f.atoms(*_STEPS), key=sympy.default_sort_key)
    kinks, fn = {}, (mp_function(f, X) if steps else None)
    for atom in steps:
        arg = atom.args[0]
        roots = _roots_in(arg, a, b)
        if roots and all((sides := _sides(fn, c)) is not None and not _jumps(*sides) for c in roots):
            kinks[atom] = atom.rewrite(sympy.Piecewise)
            continue
        if roots:
            raise DomainError(
                f"{what}(x) = {f} jumps at x = {roots[0]} in [a, b] = [{a}, {b}] ({type(atom).__name__}): "
                f"Theorem 4.1 needs {what} differentiable on [a, b] (eta = {what}'), and a step's derivative is a "
                "Dirac delta; use a range on one side of the jump, or a continuous form (relu, Max/Min, abs)")
        mid = mp_function(arg, X)((sample_points(a, b, 3)[1]))
        positive = bool(mpmath.re(mid) > 0)
        value = (1 if positive else 0) if isinstance(atom, sympy.Heaviside) else (1 if positive else -1)
        f = f.xreplace({atom: sympy.Integer(value)})
    return sympy.piecewise_fold(f.xreplace(kinks)) if kinks else f


def refuse_jumps(h: sympy.Expr, what: str = "h") -> None:
    """DomainError when h uses Heaviside or sign (Theorem 4.3 needs h' and a continuous inverse)."""
    refuse_piecewise_jumps(h, sympy.Reals, what)   # h acts on any potential: a jump anywhere is refused
    steps = sorted({type(t).__name__ for t in h.atoms(*_STEPS)})
    if steps:
        raise DomainError(f"{what}(x) = {h} uses {' and '.join(steps)}, a step: Theorem 4.3 needs {what} "
                          f"continuous and increasing with a derivative {what}' (psi = 1/(tau {what}'(h^-1))); "
                          "use a continuous form (relu, Max/Min, abs, sigmoid)")


def _too_big(fn, p) -> bool:
    try:
        v = fn(p)
    except (ZeroDivisionError, ValueError, OverflowError, TypeError):
        return False   # undefined points are the definedness check's business, not this one's
    if isinstance(v, mpmath.mpc):
        v = v.real
    try:
        v = mpmath.mpf(v)
    except (TypeError, ValueError):
        return False
    return bool(mpmath.isinf(v) or abs(v) > FLOAT64_MAX)


def _boundary(bad, good, is_bad) -> mpmath.mpf:
    """Bisect between a bad and a good point to the edge of the good side (the good side's end)."""
    for _ in range(80):
        mid = (bad + good) / 2
        if is_bad(mid):
            bad = mid
        else:
            good = mid
    return good


def _working_range(a_mp, b_mp, is_bad, points) -> tuple | None:
    """(lo, hi): the part of [a, b] on the good side of the overflow, rounded inwards, or None."""
    flags = [is_bad(p) for p in points]
    if not flags[0]:
        i = flags.index(True)
        edge = _boundary(points[i], points[i - 1], is_bad)
        cand = mpmath.mpf(mpmath.nstr(edge - (edge - a_mp) * mpmath.mpf("1e-4"), 4))
        while cand > a_mp and is_bad(cand):
            cand -= (cand - a_mp) / 100
        return (a_mp, cand) if cand > a_mp else None
    if not flags[-1]:
        j = len(flags) - 1 - flags[::-1].index(True)
        edge = _boundary(points[j], points[j + 1], is_bad)
        cand = mpmath.mpf(mpmath.nstr(edge + (b_mp - edge) * mpmath.mpf("1e-4"), 4))
        while cand < b_mp and is_bad(cand):
            cand += (b_mp - cand) / 100
        return (cand, b_mp) if cand < b_mp else None
    return None


def _refuse(what: str, text: str, a, b, worst: str, fix) -> None:
    where = (f"; a range that works: [{float(fix[0]):.6g}, {float(fix[1]):.6g}]" if fix
             else "; narrow the range")
    raise DomainError(f"{what}(x) = {text} overflows float64 on [a, b] = [{a}, {b}]: {worst} exceeds the largest "
                      f"float64 ({sys.float_info.max:.3g}), so the compiled kernels would give inf{where}")


def check_input_overflow(it) -> None:
    """DomainError when f or eta = f'(s/tau + a) of an InputTransform exceed float64 on its range."""
    with mpmath.workdps(20):
        fns = [("f", mp_function(it.f, X)), ("f'", mp_function(it.derivative, X))]

        def is_bad(p):
            return any(_too_big(fn, p) for _, fn in fns)

        points = sample_points(it.a, it.b, OVERFLOW_POINTS)
        bad = [p for p in points if is_bad(p)]
        if not bad:
            return
        p = bad[0]
        name = next(n for n, fn in fns if _too_big(fn, p))
        worst = f"{name}(x) at x = {float(p):.6g}"
        fix = _working_range(points[0], points[-1], is_bad, points)
    _refuse("f", it.text or str(it.f), it.a, it.b, worst, fix)


def check_output_overflow(ot) -> None:
    """DomainError when theta = h^-1(b), h^-1 or psi of an OutputTransform exceed float64."""
    with mpmath.workdps(20):
        values = [("theta = h^-1(b)", ot.theta)]
        if ot.theta_low is not None and ot.theta_low != -sympy.oo:
            values.append(("h^-1(a)", ot.theta_low))
        for name, v in values:
            try:
                big = abs(sympy.N(v, 20)) > sympy.Float(sys.float_info.max)
            except TypeError:
                big = False
            if bool(big):
                fix = None
                if ot.inverse is not None:
                    g = mp_function(ot.inverse, sympy.Symbol("y", real=True))
                    points = sample_points(ot.a, ot.b, OVERFLOW_POINTS)
                    fix = _working_range(points[0], points[-1], lambda y: _too_big(g, y), points)
                _refuse("h", ot.text or str(ot.h), ot.a, ot.b, f"{name} = {sympy.N(v, 3)}", fix)
        if ot.inverse is None or ot.psi.has(sympy.Function("h_inv")):
            return
        psi = mp_function(ot.psi, S)
        delta = mpmath.mpf(str(sympy.N(ot.delta, 20)))
        for k in range(OVERFLOW_POINTS - 1):   # [0, delta): psi may be singular at the window's end
            s = delta * k / (OVERFLOW_POINTS - 1)
            if _too_big(psi, s):
                _refuse("h", ot.text or str(ot.h), ot.a, ot.b, f"psi(s) near s = {mpmath.nstr(s, 6)}", None)
