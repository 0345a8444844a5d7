"""Theorem 4.3 (eq. 13-14, proof eq. 32-35): the output transform, derived and proved.

``derive_output(h, a, b, delta)`` gives the output transform kernel psi(s)
and the threshold theta such that the spike encodes ``clip(h(V), a, b)``. It
checks the hypotheses first (a < b, h increasing where it matters), checks
its own result (:func:`prove_output`: symbolically where SymPy can close the
identity, otherwise with mpmath at a stated precision) and returns a frozen
:class:`~.transforms.OutputTransform` that says which.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import mpmath
import sympy

from . import calculus, limits, refusals
from .calculus import is_zero, kinks, never_negative, quad, symbolic_inverse
from .hypotheses import (DomainError, MonotonicityError, check_clip_tails, check_increasing, check_range,
                         defined_extent, defined_start, solve_increasing, SEARCH_SPAN)
from .limits import SympyTimeout, time_limit
from .mpeval import mp_function, mp_modules, real_value, sample_points
from .parse import S, X, Y, bind_params, parse_formula
from .records import PROOF_DPS, PROOF_POINTS, PROOF_TOL, ProofPart, ProofRecord, make_record
from .transforms import OutputTransform, range_symbols

__all__ = ["derive_output", "output_formulas", "prove_output"]


_T43 = "Theorem 4.3 (eq. 13-14, 32-35)"
_ID43 = ("V + Integral(psi(s), (s, 0, tau*(b - y))) = theta for V = h^-1(y), y in (a, b), with theta = h^-1(b); "
         "V > theta fires at T_emit (value b); V < h^-1(a) never reaches theta (value a)")


def output_formulas(h: sympy.Expr, g: sympy.Expr, a, b, tau) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """Theorem 4.3 (eq. 13, 35): (psi, theta, theta_low) for h with the closed-form inverse g = h^-1 (in :data:`Y`).

    psi(s) = 1/(tau h'(g(b - s/tau))) on [0, delta), theta = g(b), and the
    silent bound theta_low = g(a) (a potential below it never fires). The one
    place the library writes them for a closed-form inverse
    (:func:`derive_output` calls it for its numeric range); as
    :func:`input_formulas`, it takes undefined functions and symbolic ``a``,
    ``b``, ``tau`` (the neuron's own), for ``proofs/``.
    """
    hprime = sympy.diff(h, X)
    if g is not None:
        psi = 1 / (tau * hprime.subs(X, g.subs(Y, b - S / tau)))
        theta = g.subs(Y, b)
        return psi, theta, g.subs(Y, a)
    raise ValueError("output_formulas needs the closed-form inverse g = h^-1 (an expression in y)")


class _Setting(NamedTuple):
    """What every part of :func:`prove_output` reads: the statement's terms and their mpmath forms."""

    h: sympy.Expr
    psi: sympy.Expr
    theta: sympy.Expr
    theta_low: sympy.Expr | None
    a: sympy.Expr
    b: sympy.Expr
    delta: sympy.Expr
    g: sympy.Expr | None
    tau: sympy.Expr
    numeric_inverse: bool
    tol: mpmath.mpf
    h_fn: object
    g_fn: object
    psi_fn: object
    breaks: list
    ys: list
    tau_mp: mpmath.mpf
    b_mp: mpmath.mpf
    delta_mp: mpmath.mpf
    theta_mp: mpmath.mpf


@limits.limited("the proof of Theorem 4.3 (SymPy, mpmath quadrature)")
def prove_output(h, psi, theta, theta_low, a, b, delta, inverse=None, monotonicity: str = "numeric") -> ProofRecord:
    """Check Theorem 4.3's identity (eq. 13-14, proof eq. 32-35) for the ``psi``, ``theta`` and ``theta_low`` given.

    ``inverse`` is g = h^-1 as a SymPy expression in ``Y`` (None: a monotone
    root finder, and ``psi`` may contain the unevaluated ``h_inv``). With
    ``tau = delta/(b - a)`` the value y fires ``tau*(b - y)`` after T_emit.
    The parts checked:

    1. g inverts h on (a, b]: ``h(g(y)) = y``;
    2. upper clip: ``theta = g(b)``, so a potential above theta is already
       above threshold at T_emit and fires there (value b, eq. 34 ff.);
    3. eq. 32: ``g(y) + int_0^{tau(b - y)} psi = theta`` for y in (a, b):
       the potential V = g(y) reaches theta exactly at the spike time of y;
    4. lower clip (eq. 35): ``int_0^delta psi = theta - g(a)`` (theta_low),
       so ``V < g(a)`` never reaches theta (value a); when h never reaches a
       (theta_low = -oo) every potential fires and this is part 3 as y -> a;
    5. ``psi >= 0`` on [0, delta): the potential only rises while emitting, so
       it crosses theta once.

    Symbolic where SymPy reduces the difference of both sides to 0 (part 3 by
    ``d/ds[-g(b - s/tau)] - psi = 0``, an antiderivative, then the identity);
    otherwise mpmath quadrature of psi at ``PROOF_DPS`` digits on
    ``PROOF_POINTS - 1`` points of (a, b]. Part 5 is always also sampled at
    ``PROOF_POINTS`` points. A wrong psi, theta or theta_low gives a record
    with ``holds = False``.
    """
    d, tau = range_symbols(a, b, delta)
    g = inverse
    h_fn = mp_function(h, X)
    parts = []
    numeric_inverse = g is None
    tol = mpmath.mpf("1e-15") if numeric_inverse else PROOF_TOL
    with mpmath.workdps(PROOF_DPS):
        tau_mp = mpmath.mpf(str(sympy.N(tau, PROOF_DPS + 5)))
        b_mp = mpmath.mpf(str(sympy.N(b, PROOF_DPS + 5)))
        delta_mp = mpmath.mpf(str(sympy.N(delta, PROOF_DPS + 5)))
        theta_mp = mpmath.mpf(str(sympy.N(theta, PROOF_DPS + 5)))
        g_fn = calculus.numeric_inverse(h_fn) if numeric_inverse else mp_function(g, Y)
        psi_fn = sympy.lambdify(S, psi, modules=[{"h_inv": g_fn}, *mp_modules()])
        breaks = [mpmath.mpf(str(sympy.N(p, PROOF_DPS + 5))) for p in kinks(psi, S, 0, delta)]
        if numeric_inverse:   # (kinks() cannot solve for s through the numeric h_inv)
            breaks = sorted(breaks + psi_kinks(h, a, b, delta))
        ys = sample_points(a, b, PROOF_POINTS)[1:]
    c = _Setting(h, psi, theta, theta_low, a, b, delta, g, tau, numeric_inverse, tol, h_fn, g_fn, psi_fn, breaks, ys,
                 tau_mp, b_mp, delta_mp, theta_mp)
    parts.append(_inverse_part(c))
    parts.append(_upper_clip_part(c))
    sym3, part3 = _eq32_part(c)
    parts.append(part3)
    parts.append(_lower_clip_part(c, sym3, part3))
    parts.append(_psi_nonnegative_part(c, sym3, monotonicity))
    return make_record(_T43, _ID43, parts, PROOF_DPS, PROOF_POINTS - 1, tol)


def _inverse_part(c: _Setting) -> ProofPart:
    """Part 1: g inverts h on (a, b]: h(g(y)) = y."""
    h, g, numeric_inverse = c.h, c.g, c.numeric_inverse
    tol, h_fn, g_fn, ys = c.tol, c.h_fn, c.g_fn, c.ys
    statement = "g = h^-1 on (a, b]: h(g(y)) = y"
    if not numeric_inverse and is_zero(h.subs(X, g) - Y) is True:
        part = ProofPart(statement, "symbolic", True, "SymPy reduced h(g(y)) - y to 0")
    else:
        with mpmath.workdps(PROOF_DPS):
            err = max(abs(h_fn(g_fn(y)) - y) / max(1, abs(y)) for y in ys)
        how = "monotone root finder" if numeric_inverse else "SymPy's inverse"
        part = ProofPart(statement, "numeric", bool(err <= tol),
                         f"{how}, mpmath at {PROOF_DPS} digits on {len(ys)} points (largest relative "
                         f"error {mpmath.nstr(err, 3)})", float(err))
    return part


def _upper_clip_part(c: _Setting) -> ProofPart:
    """Part 2, the upper clip: theta = g(b)."""
    theta, b, g, numeric_inverse = c.theta, c.b, c.g, c.numeric_inverse
    tol, g_fn, b_mp, theta_mp = c.tol, c.g_fn, c.b_mp, c.theta_mp
    statement = "upper clip: theta = h^-1(b), so V > theta fires at T_emit (value b)"
    if not numeric_inverse and is_zero(theta - g.subs(Y, b)) is True:
        part = ProofPart(statement, "symbolic", True, "SymPy reduced theta - g(b) to 0")
    else:
        with mpmath.workdps(PROOF_DPS):
            gb = g_fn(b_mp)
            err = abs(theta_mp - gb) / max(1, abs(gb)) if gb is not None else mpmath.inf
        part = ProofPart(statement, "numeric", bool(err <= tol),
                         f"mpmath at {PROOF_DPS} digits: |theta - g(b)| / max(1, |g(b)|) = {mpmath.nstr(err, 3)}",
                         float(err))
    return part


def _eq32_part(c: _Setting) -> tuple[bool, ProofPart]:
    """Part 3, eq. 32: g(y) + Integral(psi, (s, 0, tau*(b - y))) = theta; (symbolic?, part)."""
    psi, theta, b, g, tau, numeric_inverse = c.psi, c.theta, c.b, c.g, c.tau, c.numeric_inverse
    tol, g_fn, psi_fn, breaks, ys = c.tol, c.g_fn, c.psi_fn, c.breaks, c.ys
    tau_mp, b_mp, theta_mp = c.tau_mp, c.b_mp, c.theta_mp
    statement = "eq. 32: h^-1(y) + Integral(psi, (s, 0, tau*(b - y))) = theta for y in (a, b]"
    sym3 = False
    if not numeric_inverse:
        G = -g.subs(Y, b - S / tau)
        if is_zero(sympy.diff(G, S) - psi) is True:
            ident = g + G.subs(S, tau * (b - Y)) - G.subs(S, 0) - theta
            if is_zero(ident) is True:
                sym3 = True
                part = ProofPart(statement, "symbolic", True,
                                 "SymPy reduced d/ds[-g(b - s/tau)] - psi(s) to 0 (an antiderivative of psi, "
                                 "eq. 31) and g(y) + [-g(b - s/tau)]_0^(tau(b - y)) - theta to 0")
    if not sym3:
        with mpmath.workdps(PROOF_DPS):
            worst = mpmath.mpf(0)
            for y in ys:
                sigma = tau_mp * (b_mp - y)
                integral = quad(psi_fn, mpmath.mpf(0), sigma, breaks) if sigma > 0 else mpmath.mpf(0)
                gy = g_fn(y)
                worst = max(worst, abs(gy + integral - theta_mp) / max(1, abs(theta_mp), abs(gy)))
        part = ProofPart(statement, "numeric", bool(worst <= tol),
                         f"mpmath quadrature of the kernel psi (as derived) from 0 to tau*(b - y) on "
                         f"{len(ys)} points of (a, b] at {PROOF_DPS} digits, g(y) by "
                         f"{'a monotone root finder' if numeric_inverse else 'SymPy inverse'} (largest "
                         f"relative error {mpmath.nstr(worst, 3)}, required <= {mpmath.nstr(tol, 1)})",
                         float(worst))
    return sym3, part


def _lower_clip_part(c: _Setting, sym3: bool, p3: ProofPart) -> ProofPart:
    """Part 4, the lower clip (eq. 35), after part 3 (``p3``)."""
    theta, theta_low, a, b, delta, g, tau = c.theta, c.theta_low, c.a, c.b, c.delta, c.g, c.tau
    tol, g_fn, psi_fn, breaks, delta_mp, theta_mp = c.tol, c.g_fn, c.psi_fn, c.breaks, c.delta_mp, c.theta_mp
    statement = "lower clip (eq. 35): Integral(psi, (s, 0, delta)) = theta - h^-1(a), so V < h^-1(a) stays below theta"
    if theta_low is None or theta_low == -sympy.oo:
        part = ProofPart(statement.split(":")[0] + ": h never reaches a (h^-1(a) = -oo), every potential "
                         "fires inside the window", p3.method, p3.holds,
                         "follows from eq. 32 (part above) as y -> a: Integral(psi) = theta - g(y) -> oo")
    else:
        done = False
        if sym3:
            G = -g.subs(Y, b - S / tau)
            if is_zero(G.subs(S, delta) - G.subs(S, 0) - (theta - theta_low)) is True:
                done = True
                part = ProofPart(statement, "symbolic", True,
                                 "SymPy reduced [-g(b - s/tau)]_0^delta - (theta - theta_low) to 0")
        if not done:
            with mpmath.workdps(PROOF_DPS):
                low_mp = mpmath.mpf(str(sympy.N(theta_low, PROOF_DPS + 5)))
                integral = quad(psi_fn, mpmath.mpf(0), delta_mp, breaks)
                err = abs(integral - (theta_mp - low_mp)) / max(1, abs(theta_mp), abs(low_mp))
                ga = g_fn(mpmath.mpf(str(sympy.N(a, PROOF_DPS + 5))))
                if ga is None:
                    err = mpmath.inf
                else:
                    err = max(err, abs(low_mp - ga) / max(1, abs(ga)))
            part = ProofPart(statement, "numeric", bool(err <= tol),
                             f"mpmath quadrature of psi over [0, delta] against theta - theta_low, and "
                             f"theta_low against g(a), at {PROOF_DPS} digits (largest relative error "
                             f"{mpmath.nstr(err, 3)})", float(err))
    return part


def _psi_nonnegative_part(c: _Setting, sym3: bool, monotonicity: str) -> ProofPart:
    """Part 5: psi >= 0 on [0, delta), sampled (and proved where SymPy can)."""
    psi, delta = c.psi, c.delta
    psi_fn, delta_mp = c.psi_fn, c.delta_mp
    statement = "psi >= 0 on [0, delta): the potential only rises while emitting, one crossing of theta"
    with mpmath.workdps(PROOF_DPS):
        neg = None
        for k in range(PROOF_POINTS):
            sv = delta_mp * k / PROOF_POINTS
            try:
                val = real_value(psi_fn, sv)
            except Exception:  # noqa: BLE001
                val = None
            if val is not None and val < 0:
                neg = sv
                break
    if neg is not None:
        part = ProofPart(statement, "numeric", False, f"psi({mpmath.nstr(neg, 8)}) < 0")
    elif sym3 and monotonicity == "symbolic":
        part = ProofPart(statement, "symbolic", True,
                         "psi = (1/tau) g'(b - s/tau) (eq. 32 part) and g = h^-1 is increasing because h is "
                         f"(SymPy); also sampled at {PROOF_POINTS} points")
    elif sym3 and never_negative(psi, delta):
        part = ProofPart(statement, "symbolic", True,
                         "SymPy found no s in [0, delta) with psi(s) < 0 (solveset); also sampled at "
                         f"{PROOF_POINTS} points")
    else:
        part = ProofPart(statement, "numeric", True,
                         f"sampled at {PROOF_POINTS} points of [0, delta) with mpmath (h increasing: "
                         f"{monotonicity} check)", 0.0)
    return part


@refusals.short_messages
@limits.limited("the derivation of h (Theorem 4.3)", factor=4)
def derive_output(h, a, b, delta=1, params: dict | None = None) -> OutputTransform:
    """Theorem 4.3 (eq. 13-14): psi(s) = 1/(tau h'(h^-1(b - s/tau))), theta = h^-1(b).

    ``[a, b]`` is the neuron's own emitting range and ``tau = delta/(b - a)``
    its time constant. The spike then encodes ``clip(h(V), a, b)``.

    h must be increasing: SymPy's ``is_strictly_increasing`` is asked on the
    preimage h^-1([a, b]) (its ends moved to where h leaves a and reaches b,
    for a ReLU or clamp flat outside its range); when it cannot decide,
    h' > 0 is checked with mpmath on 257 points there. A failure raises MonotonicityError naming the interval.
    Beyond that preimage the neuron emits a (below h^-1(a)) or b (above h^-1(b)), which is
    clip(h(V), a, b) only where h stays at most a below and at least b above: checked on a grid
    out to 1e12 widths (:func:`~ttfs_symbolic.symbolic.hypotheses.check_clip_tails`), so that
    x**2 on [4, 9] is refused instead of giving 4 for V = -3. A Piecewise h that jumps is refused.
    h^-1 is found with ``sympy.solve`` (the real, increasing branch, checked
    numerically on (a, b]) or, failing that, by a monotone root finder.
    """
    a_, b_, delta_ = check_range(a, b, delta)
    refusals.check_float_range(a_, b_, delta_)
    text = h if isinstance(h, str) else str(h)
    expr = parse_formula(h, variables=("x",), params=bind_params(params, a_, b_))
    refusals.refuse_jumps(expr, "h")
    result = _derive_output_cached(expr, a_, b_, delta_, text)
    refusals.check_output_overflow(result)
    return result


def _refuse_rounded_ends(h, v_a, v_b, a, b) -> None:
    """MonotonicityError where h reaches an end of [a, b] only by rounding at PROOF_DPS digits.

    tanh "reaches" 1 at x = 36.4 to 30 digits, where 1 - tanh = 5e-32 and h' = 1e-31: the end is a limit,
    h^-1 of it is not finite (the derivation ran 80 s and ended in a bare ZeroDivisionError). At twice
    the digits the residual |h(v) - end| of a root v found to PROOF_DPS digits is at most about
    |h'(v)| 10^-(PROOF_DPS - 2) (1 + |v|); a residual a million times that is rounding, not a root (x**3
    at its end 0, where h' = 0, has residual 0 and is kept)."""
    hi = 2 * PROOF_DPS
    with mpmath.workdps(hi):
        fn, dfn = mp_function(h, X), mp_function(sympy.diff(h, X), X)
        for v, end, name in ((v_b, b, "b"), (v_a, a, "a")):
            if v is None:
                continue
            value, slope = real_value(fn, v), real_value(dfn, v)
            if value is None or slope is None:
                continue
            end_mp = mpmath.mpf(str(sympy.N(end, hi)))
            allowed = (mpmath.mpf(10) ** 6 * abs(slope) * mpmath.mpf(10) ** (2 - PROOF_DPS) * (1 + abs(v))
                       + mpmath.mpf(10) ** (10 - hi) * max(1, abs(end_mp)))
            if abs(value - end_mp) > allowed:
                _limit_error(h, name, end, f"at x = {mpmath.nstr(v, 6)} h rounds to {name} at {PROOF_DPS} digits, "
                                           f"h' = {mpmath.nstr(slope, 3)}")


def _inner_ends(fn, v_a, v_b, a, b):
    """``(v_a, v_b)`` moved to the inner edges of any flat part of h at a or b: the largest x with
    h(x) <= a and the least x with h(x) >= b (bisection at PROOF_DPS digits). A root finder may stop
    anywhere on ReLU's flat 0, where h' = 0; the neuron's thresholds are where h leaves a and reaches b.
    An h that is not flat there keeps its roots as they are."""
    lo = v_a if v_a is not None else v_b
    step = (v_b - lo) * mpmath.mpf(10) ** -9
    if not step > 0:
        return v_a, v_b
    a_mp, b_mp = (mpmath.mpf(str(sympy.N(v, PROOF_DPS + 5))) for v in (a, b))

    def edge(lo, hi, below):   # below(lo) holds, below(hi) does not: the boundary between them
        for _ in range(4 * PROOF_DPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if below(mid) else (lo, mid)
        return lo, hi

    if v_a is not None and _value_or(fn, v_a + step, mpmath.inf) <= a_mp:
        v_a = lo = edge(v_a, v_b, lambda x: _value_or(fn, x, a_mp) <= a_mp)[0]
    if _value_or(fn, v_b - step, -mpmath.inf) >= b_mp:
        v_b = edge(lo, v_b, lambda x: _value_or(fn, x, b_mp) < b_mp)[1]
    return v_a, v_b


def _value_or(fn, x, default):
    v = real_value(fn, x)
    return default if v is None else v


def _increasing_leftward(fn, start) -> bool:
    """Whether fn decreases at every step of start, start - 1, start - 2, start - 4, ... (to 2^20) where it is
    defined: an h that never comes down to a although it is increasing there (exp), not one that turns (x**2)."""
    points = [start] + [start - mpmath.mpf(2) ** k for k in range(21)]
    values = [v for v in (real_value(fn, x) for x in points) if v is not None]
    return all(lo < hi for lo, hi in zip(values[1:], values))


def psi_kinks(h: sympy.Expr, a, b, delta) -> list:
    """The times s in (0, delta) where psi(s) = 1/(tau h'(h^-1(b - s/tau))) (eq. 13) may have a kink: the
    kinks x_k of h' (Max, Piecewise, Abs, Heaviside; leaky ReLU's 0) with a < h(x_k) < b, at
    s = tau (b - h(x_k)), as mpmath numbers at PROOF_DPS digits. Quadrature of psi is split there also
    where h^-1 is numeric, so that SymPy cannot locate them in psi itself."""
    out = []
    with mpmath.workdps(PROOF_DPS):
        h_fn = mp_function(h, X)
        tau = mpmath.mpf(str(sympy.N(sympy.sympify(delta) / (sympy.sympify(b) - sympy.sympify(a)), PROOF_DPS + 5)))
        b_mp, delta_mp = (mpmath.mpf(str(sympy.N(v, PROOF_DPS + 5))) for v in (b, delta))
        for xk in kinks(sympy.diff(h, X), X, -sympy.oo, sympy.oo):
            hv = real_value(h_fn, mpmath.mpf(str(sympy.N(xk, PROOF_DPS + 5))))
            if hv is not None and 0 < tau * (b_mp - hv) < delta_mp:
                out.append(tau * (b_mp - hv))
    return sorted(out)


def _limit_error(h, name: str, end, why: str):
    raise MonotonicityError(f"h(x) = {h} never reaches {name} = {end}, only in the limit: h^-1({name}) is not finite "
                            f"({why}); choose {name} {'below' if name == 'b' else 'above'} what h approaches")


@functools.lru_cache(maxsize=512)
def _derive_output_cached(h: sympy.Expr, a, b, delta, text: str) -> OutputTransform:
    d, tau = range_symbols(a, b, delta)
    if not h.has(X):
        raise MonotonicityError(f"h(x) = {h} is constant, not increasing: it cannot encode a value in a spike time")
    h_fn = mp_function(h, X)
    with mpmath.workdps(PROOF_DPS):
        start = defined_start(h_fn)
        if start is None:
            raise DomainError(f"h(x) = {h} is undefined everywhere on [-10, 10]")
        v_b = solve_increasing(h_fn, sympy.N(b, PROOF_DPS), start)
        if v_b is None:
            far = real_value(h_fn, mpmath.mpf(SEARCH_SPAN))
            reached = "" if far is None else f"; h({SEARCH_SPAN:g}) = {mpmath.nstr(far, 6)}"
            raise MonotonicityError(
                f"h(x) = {h} does not reach b = {b} when followed upward from x = {mpmath.nstr(start, 6)} "
                f"(searched to |x| = {SEARCH_SPAN:g}{reached}): h^-1 is not defined on (a, b] = ({a}, {b}], or h "
                "is not increasing "
                "(Theorem 4.3)")
        v_a = solve_increasing(h_fn, sympy.N(a, PROOF_DPS), start)
        tiny = solve_increasing(h_fn, sympy.N(a + d * sympy.Rational(1, 10**9), PROOF_DPS), start)
        low = v_a if v_a is not None else tiny
        if low is None and _increasing_leftward(h_fn, start):   # (exp on [-1, 1]: never comes down to -1)
            raise MonotonicityError(
                f"h(x) = {h} does not come down to a = {a} when followed downward from x = "
                f"{mpmath.nstr(start, 6)} (searched to |x| = {SEARCH_SPAN:g}): h^-1 is not defined on (a, b] = "
                f"({a}, {b}] near a; choose a at or above the least value h approaches (Theorem 4.3)")
        if low is None or low >= v_b:
            raise MonotonicityError(
                f"h(x) = {h} is not increasing from a = {a} to b = {b}: h^-1 is not defined on ({a}, {b}] "
                "(Theorem 4.3)")
        _refuse_rounded_ends(h, v_a, v_b, a, b)   # (v_a None: a is never reached, low stands in)
        v_a, v_b = _inner_ends(h_fn, v_a, v_b, a, b)   # ReLU on [0, 2]: h^-1(0) = 0, not a point where h is flat
        low = v_a if v_a is not None else tiny
        width = max(v_b - low, mpmath.mpf(1))
        left = defined_extent(h_fn, low, low - width)
        right = defined_extent(h_fn, v_b, v_b + width)
        # strictly increasing inside h^-1([a, b]) (its ends excluded: x**3 may end at its flat 0); beyond
        # it h need only stay at most a below and at least b above (check_clip_tails), so a ReLU or a
        # clamp, flat outside its range, is a valid h
        inner = [low + (v_b - low) * mpmath.mpf(10) ** -12, v_b - (v_b - low) * mpmath.mpf(10) ** -12]
    lo_s, hi_s = (sympy.Float(str(mpmath.nstr(v, 20)), 20) for v in inner)
    pieces = kinks(sympy.diff(h, X), X, lo_s, hi_s)   # a piece narrower than the grid (a dip 1e-3 wide) is seen
    monotonicity = check_increasing(h, lo_s, hi_s, what="h",
                                    extra=pieces + [(u + v) / 2 for u, v in zip(pieces, pieces[1:])])
    with mpmath.workdps(PROOF_DPS):
        check_clip_tails(h, h_fn, low, v_b, a, b, what="h")   # below h^-1(a) at most a, above h^-1(b) at least b

    hprime = sympy.diff(h, X)
    g = symbolic_inverse(h, a, b)
    if g is not None:
        inverse_method = "symbolic"
        psi, theta, theta_low = output_formulas(h, g, a, b, tau)   # eq. 13, 35
        for value, end, name in ((theta, b, "b"), (theta_low if v_a is not None else 0, a, "a")):
            if sympy.sympify(value).has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):   # atanh(-1): a limit
                _limit_error(h, name, end, f"h^-1({name}) = {value}")
        theta_low = theta_low if v_a is not None else -sympy.oo
        try:
            with time_limit(limits.SYMPY_SECONDS):
                psi = sympy.simplify(psi)
                theta = sympy.simplify(theta)
        except (SympyTimeout, RecursionError):
            pass
    else:
        inverse_method = "numeric"
        h_inv = sympy.Function("h_inv")
        psi = 1 / (tau * hprime.subs(X, h_inv(b - S / tau)))
        with mpmath.workdps(PROOF_DPS):
            theta = sympy.Float(str(mpmath.nstr(v_b, 25)), 25)
            theta_low = sympy.Float(str(mpmath.nstr(v_a, 25)), 25) if v_a is not None else -sympy.oo

    proof = prove_output(h, psi, theta, theta_low, a, b, delta, inverse=g, monotonicity=monotonicity)
    if not proof.holds:
        raise ArithmeticError(f"derivation check failed for h(x) = {h} on [{a}, {b}]: "
                              + proof.refusal("psi", "eq. 13"))
    return OutputTransform(h=h, a=a, b=b, delta=delta, psi=psi, theta=theta, inverse=g,
                           inverse_method=inverse_method, monotonicity=monotonicity,
                           bracket=(float(left), float(right)), theta_low=theta_low, proof=proof, text=text)
