"""Theorems 4.1 and 4.3 as derivations: a formula in, kernels and constants out.

``derive_input(f, a, b, delta)`` (Theorem 4.1, eq. 8-9) gives the input
transform kernel eta(s) and the per-synapse constant of C such that the
potential at the end of the receiving stage is ``sum_j w_j f(x_j)``.

``derive_output(h, a, b, delta)`` (Theorem 4.3, eq. 13-14) gives the output
transform kernel psi(s) and the threshold theta such that the spike encodes
``clip(h(V), a, b)``.

Both check the hypotheses first (a < b, f defined and differentiable on
[a, b], h increasing where it matters), check their own result (symbolically
where SymPy can close the identity, otherwise with mpmath at a stated
precision) and return a frozen record that says which. Pure SymPy + mpmath:
the compiled kernels live in :mod:`ttfs_symbolic.numeric`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import mpmath
import sympy

from . import checks, guards, limits
from .checks import DomainError, MonotonicityError, RangeError, check_range, mp_function
from .limits import _Timeout, time_limit  # wall-clock limits that work in any thread (issue 12)
from .parse import S, X, parse_formula

__all__ = [
    "ProofRecord",
    "InputTransform",
    "OutputTransform",
    "derive_input",
    "derive_output",
    "RangeError",
    "DomainError",
    "MonotonicityError",
    "Y",
]

#: the variable of h's inverse g = h^-1 (a value in the emitting range)
Y = sympy.Symbol("y", real=True)
#: the potential at T_emit
V = sympy.Symbol("V", real=True)

#: how long one SymPy step (integrate, solve, simplify) may run before the
#: derivation falls back to a numeric route
SYMPY_SECONDS = 8.0
#: mpmath working precision and sample size of the numeric proofs
PROOF_DPS = 30
PROOF_POINTS = 33
#: relative error a numeric proof must reach at PROOF_DPS digits: quadrature
#: of a smooth kernel at 30 digits is good to ~1e-25; 1e-20 leaves margin
PROOF_TOL = mpmath.mpf("1e-20")


def _is_zero(expr: sympy.Expr) -> bool | None:
    """True if SymPy proves expr == 0 within the time limit, else None."""
    try:
        with time_limit(SYMPY_SECONDS):
            if expr == 0:
                return True
            simp = sympy.simplify(expr)
            if simp == 0:
                return True
            simp = sympy.simplify(expr.rewrite(sympy.exp))
            return True if simp == 0 else None
    except (_Timeout, NotImplementedError, TypeError, ValueError, RecursionError):
        return None


@dataclass(frozen=True)
class ProofRecord:
    """How a derivation's identity was established.

    ``method`` is ``"symbolic"`` (SymPy reduced the difference of both sides
    to 0) or ``"numeric"`` (mpmath at ``dps`` digits on ``points`` points,
    largest relative error ``max_error``, required below ``tolerance``).
    """

    theorem: str
    identity: str
    method: str
    holds: bool
    detail: str
    dps: int | None = None
    points: int | None = None
    max_error: float | None = None
    tolerance: float | None = None

    def summary(self) -> str:
        verdict = "holds" if self.holds else "FAILS"
        if self.method == "symbolic":
            how = "symbolically (SymPy)"
        else:
            how = f"numerically (mpmath, {self.dps} digits, {self.points} points, max rel. error {self.max_error:.1e})"
        return f"{self.theorem}: {self.identity} {verdict} {how}"


def _range_symbols(a, b, delta):
    d = b - a
    tau = delta / d
    return d, tau


class _Window:
    """Range width and time constant of a derivation: d = b - a, tau = delta/d (eq. 7)."""

    @property
    def d(self):
        return self.b - self.a

    @property
    def tau(self):
        return self.delta / self.d


@dataclass(frozen=True)
class InputTransform(_Window):
    """Theorem 4.1 (eq. 8): input transform kernel for f on the sender's range [a, b].

    ``eta`` is the kernel for s >= 0 (it is 0 for s < 0), ``const`` the
    per-synapse term of C, ``w * f(a) / d``, divided by w: ``f(a)/d``. With
    the sender's ``tau = delta/d`` the accumulated potential is
    ``sum_j w_j f(x_j)`` (eq. 9).
    """

    f: sympy.Expr
    a: sympy.Expr
    b: sympy.Expr
    delta: sympy.Expr
    eta: sympy.Expr
    const: sympy.Expr
    f_a: sympy.Expr
    derivative: sympy.Expr
    proof: ProofRecord
    text: str = ""

    @property
    def kernel(self) -> sympy.Expr:
        """The full kernel, 0 before the input spike (eq. 8)."""
        return sympy.Piecewise((self.eta, S >= 0), (0, True))

    def compiled(self, backend: str = "numpy"):
        """Compiled (eta(s), f(x)) for a backend (numpy, torch, mpmath); cached."""
        from ..numeric.kernels import compiled_input

        return compiled_input(self, backend)


@dataclass(frozen=True)
class OutputTransform(_Window):
    """Theorem 4.3 (eq. 13): output transform kernel for h on the receiver's range [a, b].

    ``psi`` is the kernel on s in [0, delta), ``theta = h^-1(b)``. ``inverse``
    is g = h^-1 as a SymPy expression in ``Y`` when SymPy found the real,
    increasing branch (``inverse_method == "symbolic"``); otherwise None and
    g is computed by a monotone root finder on ``bracket``
    (``inverse_method == "numeric"``), and ``psi`` is written with an
    unevaluated ``h_inv``.
    """

    h: sympy.Expr
    a: sympy.Expr
    b: sympy.Expr
    delta: sympy.Expr
    psi: sympy.Expr
    theta: sympy.Expr
    inverse: sympy.Expr | None
    inverse_method: str
    monotonicity: str
    bracket: tuple[float, float]
    theta_low: sympy.Expr | float
    proof: ProofRecord
    text: str = ""

    @property
    def is_identity(self) -> bool:
        return sympy.simplify(self.h - X) == 0

    def compiled(self, backend: str = "numpy"):
        """Compiled (psi(s), h(V), g(y)) for a backend; cached."""
        from ..numeric.kernels import compiled_output

        return compiled_output(self, backend)


# --------------------------------------------------------------------------
# Theorem 4.1
# --------------------------------------------------------------------------

def _integral_closed_form(eta, sigma, tau):
    """(1/tau) * Integral(eta, (s, 0, sigma)) in closed form, or None."""
    try:
        with time_limit(SYMPY_SECONDS):
            anti = sympy.integrate(eta, S, manual=True)
            if anti.has(sympy.Integral):
                anti = sympy.integrate(eta, S)
            if anti.has(sympy.Integral):
                return None
            # an antiderivative must differentiate back to eta
            if _is_zero(sympy.diff(anti, S) - eta) is not True:
                return None
            return (anti.subs(S, sigma) - anti.subs(S, 0)) / tau
    except (_Timeout, NotImplementedError, TypeError, ValueError, RecursionError):
        return None


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
    for arg in args:
        try:
            with time_limit(SYMPY_SECONDS):
                sols = sympy.solve(sympy.Eq(arg, 0), var)
        except (_Timeout, NotImplementedError, TypeError, ValueError):
            continue
        for sol in sols if isinstance(sols, list) else []:
            if sol.is_real and sol.is_number and bool(lo < sol) and bool(sol < hi):
                points.add(sol)
    return sorted(points, key=float)


def _quad(fn, lo, hi, breaks):
    pts = [lo] + [p for p in breaks if lo < p < hi] + [hi]
    if hi <= lo:
        return mpmath.mpf(0)
    return mpmath.quad(fn, pts)


@limits.limited("the proof of eq. 30 (SymPy, mpmath quadrature)")
def _prove_input(f, eta, a, b, delta) -> ProofRecord:
    """Check eq. 30 for one derivation: symbolically, else by mpmath quadrature.

    Symbolic route: F(s) = tau f(s/tau + a) is an antiderivative of eta iff
    dF/ds - eta reduces to 0 (checked by SymPy); then by the fundamental
    theorem of calculus (1/tau) int_0^{tau(x - a)} eta = f(x) - f(a).
    Numeric route (SymPy cannot reduce it): quadrature of the kernel eta
    alone, split at its kinks, compared with f(x) - f(a) on PROOF_POINTS
    points at PROOF_DPS digits.
    """
    d, tau = _range_symbols(a, b, delta)
    identity = "(1/tau) * Integral(eta(s), (s, 0, tau*(x - a))) = f(x) - f(a)"
    theorem = "Theorem 4.1 (eq. 8-9, 30)"
    F = tau * f.subs(X, S / tau + a)
    if _is_zero(sympy.diff(F, S) - eta) is True:
        return ProofRecord(theorem, identity, "symbolic", True,
                           "SymPy reduced d/ds [tau f(s/tau + a)] - eta(s) to 0, so tau f(s/tau + a) is an "
                           "antiderivative of eta and the integral is tau (f(x) - f(a)) (fundamental theorem "
                           "of calculus)")
    integral = _integral_closed_form(eta, tau * (X - a), tau)
    if integral is not None and _is_zero(integral - (f - f.subs(X, a))) is True:
        return ProofRecord(theorem, identity, "symbolic", True,
                           "SymPy found an antiderivative of eta, checked it by differentiation, "
                           "and reduced the difference of both sides to 0")
    return prove_input_numeric(f, eta, a, b, delta)


def prove_input_numeric(f, eta, a, b, delta, dps: int = PROOF_DPS, n: int = PROOF_POINTS) -> ProofRecord:
    """The numeric route of eq. 30: quadrature of eta (independent of f) against f(x) - f(a)."""
    d, tau = _range_symbols(a, b, delta)
    breaks_s = kinks(eta, S, 0, delta)
    with mpmath.workdps(dps):
        eta_fn = mp_function(eta, S)
        f_fn = mp_function(f, X)
        tau_mp = mpmath.mpf(str(sympy.N(tau, dps + 5)))
        a_mp = mpmath.mpf(str(sympy.N(a, dps + 5)))
        breaks = [mpmath.mpf(str(sympy.N(p, dps + 5))) for p in breaks_s]
        fa = f_fn(a_mp)
        scale = max(mpmath.mpf(1), max(abs(f_fn(p)) for p in checks.sample_points(a, b, 9)))
        worst = mpmath.mpf(0)
        for p in checks.sample_points(a, b, n):
            sigma = tau_mp * (p - a_mp)
            q = _quad(eta_fn, mpmath.mpf(0), sigma, breaks) / tau_mp
            worst = max(worst, abs(q - (f_fn(p) - fa)) / scale)
        holds = bool(worst <= PROOF_TOL)
    return ProofRecord("Theorem 4.1 (eq. 8-9, 30)",
                       "(1/tau) * Integral(eta(s), (s, 0, tau*(x - a))) = f(x) - f(a)", "numeric", holds,
                       "mpmath quadrature of the kernel eta (independent of f), split at its kinks, "
                       "compared with f(x) - f(a)",
                       dps=dps, points=n, max_error=float(worst), tolerance=float(PROOF_TOL))


@functools.lru_cache(maxsize=512)
def _derive_input_cached(f: sympy.Expr, a, b, delta, text: str) -> InputTransform:
    checks.check_defined(f, a, b, what="f")
    d, tau = _range_symbols(a, b, delta)
    fprime = sympy.diff(f, X)
    eta = fprime.subs(X, S / tau + a)
    try:
        with time_limit(SYMPY_SECONDS):
            simpler = sympy.simplify(eta)
            if sympy.count_ops(simpler) <= sympy.count_ops(eta):
                eta = simpler
    except (_Timeout, RecursionError):
        pass
    f_a = f.subs(X, a)
    const = sympy.nsimplify(f_a / d) if f_a.is_Rational else f_a / d
    proof = _prove_input(f, eta, a, b, delta)
    if not proof.holds:
        raise ArithmeticError(f"derivation check failed for f(x) = {f}: {proof.summary()}")
    return InputTransform(f=f, a=a, b=b, delta=delta, eta=eta, const=const, f_a=f_a,
                          derivative=fprime, proof=proof, text=text)


@guards.short_messages
@limits.limited("the derivation of f (Theorem 4.1)", factor=4)
def derive_input(f, a, b, delta=1, params: dict | None = None) -> InputTransform:
    """Theorem 4.1 (eq. 8-9): eta(s) = f'(s/tau + a) for s >= 0, C term f(a)/d.

    ``f`` is a formula string in ``x`` (parsed through the whitelist of
    :mod:`ttfs_symbolic.symbolic.parse`, never ``eval``) or a SymPy
    expression; ``[a, b]`` is the *sender's* range and ``delta`` its time step,
    so ``tau = delta/(b - a)`` is the sender's time constant (NOTES.md).
    ``params`` may name constants used in f; a string value may use ``a`` and
    ``b`` (``{"c": "1 - a"}``).

    Raises RangeError (a >= b), DomainError (f undefined or not
    differentiable on [a, b], naming the point), FormulaError (unsafe or
    malformed formula).
    """
    a_, b_, delta_ = check_range(a, b, delta)
    guards.check_float_range(a_, b_, delta_)
    text = f if isinstance(f, str) else str(f)
    expr = parse_formula(f, variables=("x",), params=_bind_params(params, a_, b_))
    expr = guards.without_jumps(expr, a_, b_, "f")   # Heaviside/sign: constant on [a, b], or refused
    result = _derive_input_cached(expr, a_, b_, delta_, text)
    guards.check_input_overflow(result)   # f, eta in float64 on [a, b], or refused with a range that works
    return result


def _bind_params(params, a, b):
    if not params:
        return None
    bound = {}
    for name, value in params.items():
        if isinstance(value, str):
            val = parse_formula(value, variables=("a", "b"))
            val = val.subs({sympy.Symbol("a", real=True): a, sympy.Symbol("b", real=True): b})
            bound[name] = val
        else:
            bound[name] = value
    return bound


# --------------------------------------------------------------------------
# Theorem 4.3
# --------------------------------------------------------------------------

@limits.limited("inverting h (SymPy solve, mpmath check)")
def _symbolic_inverse(h, a, b):
    """The real, increasing branch g of h^-1 on (a, b], or None."""
    try:
        with time_limit(SYMPY_SECONDS):
            sols = sympy.solve(sympy.Eq(h, Y), X)
    except (_Timeout, NotImplementedError, TypeError, ValueError, RecursionError):
        return None
    if not isinstance(sols, list):
        return None
    h_fn = mp_function(h, X)
    ys = checks.sample_points(a, b, 17)[1:]  # (a, b]
    for sol in sols:
        if not isinstance(sol, sympy.Expr) or sol.has(sympy.I) and False:
            continue
        g_fn = mp_function(sol, Y)
        ok, prev = True, None
        with mpmath.workdps(PROOF_DPS):
            for y in ys:
                gv = checks._real_value(g_fn, y)
                if gv is None:
                    ok = False
                    break
                hv = checks._real_value(h_fn, gv)
                if hv is None or abs(hv - y) > mpmath.mpf("1e-20") * max(1, abs(y)):
                    ok = False
                    break
                if prev is not None and gv <= prev:
                    ok = False
                    break
                prev = gv
        if ok:
            try:
                with time_limit(SYMPY_SECONDS):
                    sol = sympy.simplify(sol)
            except (_Timeout, RecursionError):
                pass
            return sol
    return None


@limits.limited("the proof of eq. 32 (mpmath quadrature)")
def _prove_output(h, psi_fn, g_fn, a, b, delta) -> ProofRecord:
    """Numeric check of eq. 32: theta - Integral(psi, (s, 0, tau*(b - x))) = g(x).

    Evaluated with mpmath: the integral of the compiled psi from the start of
    the emitting window to the firing time of value x must bring the
    potential from g(x) to theta = g(b).
    """
    d, tau = _range_symbols(a, b, delta)
    with mpmath.workdps(PROOF_DPS):
        tau_mp = mpmath.mpf(str(sympy.N(tau, PROOF_DPS + 5)))
        b_mp = mpmath.mpf(str(sympy.N(b, PROOF_DPS + 5)))
        theta = g_fn(b_mp)
        points = checks.sample_points(a, b, PROOF_POINTS)[1:]
        worst = mpmath.mpf(0)
        scale = max(mpmath.mpf(1), abs(theta))
        for x in points:
            sigma = tau_mp * (b_mp - x)
            integral = mpmath.quad(psi_fn, [0, sigma / 2, sigma]) if sigma > 0 else mpmath.mpf(0)
            err = abs((theta - integral) - g_fn(x)) / max(scale, abs(g_fn(x)))
            worst = max(worst, err)
    return worst


@guards.short_messages
@limits.limited("the derivation of h (Theorem 4.3)", factor=4)
def derive_output(h, a, b, delta=1, params: dict | None = None) -> OutputTransform:
    """Theorem 4.3 (eq. 13-14): psi(s) = 1/(tau h'(h^-1(b - s/tau))), theta = h^-1(b).

    ``[a, b]`` is the neuron's own emitting range and ``tau = delta/(b - a)``
    its time constant. The spike then encodes ``clip(h(V), a, b)``.

    h must be increasing: SymPy's ``is_strictly_increasing`` is asked on the
    preimage of [a, b] widened by its own width on each side (up to the edge
    of h's domain); when it cannot decide, h' > 0 is checked with mpmath on
    257 points there. A failure raises MonotonicityError naming the interval.
    h^-1 is found with ``sympy.solve`` (the real, increasing branch, checked
    numerically on (a, b]) or, failing that, by a monotone root finder.
    """
    a_, b_, delta_ = check_range(a, b, delta)
    guards.check_float_range(a_, b_, delta_)
    text = h if isinstance(h, str) else str(h)
    expr = parse_formula(h, variables=("x",), params=_bind_params(params, a_, b_))
    guards.refuse_jumps(expr, "h")
    result = _derive_output_cached(expr, a_, b_, delta_, text)
    guards.check_output_overflow(result)
    return result


@functools.lru_cache(maxsize=512)
def _derive_output_cached(h: sympy.Expr, a, b, delta, text: str) -> OutputTransform:
    d, tau = _range_symbols(a, b, delta)
    if not h.has(X):
        raise MonotonicityError(f"h(x) = {h} is constant, not increasing: it cannot encode a value in a spike time")
    h_fn = mp_function(h, X)
    with mpmath.workdps(PROOF_DPS):
        start = checks.defined_start(h_fn)
        if start is None:
            raise DomainError(f"h(x) = {h} is undefined everywhere on [-10, 10]")
        v_b = checks.solve_increasing(h_fn, sympy.N(b, PROOF_DPS), start)
        if v_b is None:
            raise MonotonicityError(
                f"h(x) = {h} does not reach b = {b} when followed upward from x = {mpmath.nstr(start, 6)} "
                f"(searched to |x| = 1e8): h^-1 is not defined on (a, b] = ({a}, {b}], or h is not increasing "
                "(Theorem 4.3)")
        v_a = checks.solve_increasing(h_fn, sympy.N(a, PROOF_DPS), start)
        tiny = checks.solve_increasing(h_fn, sympy.N(a + d * sympy.Rational(1, 10**9), PROOF_DPS), start)
        low = v_a if v_a is not None else tiny
        if low is None or low >= v_b:
            raise MonotonicityError(
                f"h(x) = {h} is not increasing from a = {a} to b = {b}: h^-1 is not defined on ({a}, {b}] "
                "(Theorem 4.3)")
        width = max(v_b - low, mpmath.mpf(1))
        left = checks.defined_extent(h_fn, low, low - width)
        right = checks.defined_extent(h_fn, v_b, v_b + width)
    lo_s = sympy.Float(str(mpmath.nstr(left, 20)), 20)
    hi_s = sympy.Float(str(mpmath.nstr(right, 20)), 20)
    monotonicity = checks.check_increasing(h, lo_s, hi_s, what="h")

    hprime = sympy.diff(h, X)
    g = _symbolic_inverse(h, a, b)
    if g is not None:
        inverse_method = "symbolic"
        psi = 1 / (tau * hprime.subs(X, g.subs(Y, b - S / tau)))
        theta = g.subs(Y, b)
        theta_low = g.subs(Y, a) if v_a is not None else -sympy.oo
        try:
            with time_limit(SYMPY_SECONDS):
                psi = sympy.simplify(psi)
                theta = sympy.simplify(theta)
        except (_Timeout, RecursionError):
            pass
        g_fn = mp_function(g, Y)
    else:
        inverse_method = "numeric"
        h_inv = sympy.Function("h_inv")
        psi = 1 / (tau * hprime.subs(X, h_inv(b - S / tau)))
        with mpmath.workdps(PROOF_DPS):
            theta = sympy.Float(str(mpmath.nstr(v_b, 25)), 25)
            theta_low = sympy.Float(str(mpmath.nstr(v_a, 25)), 25) if v_a is not None else -sympy.oo

        def g_fn(y, _h=h_fn, _start=start):
            return checks.solve_increasing(_h, y, _start)

    hp_fn = mp_function(hprime, X)
    tau_mp_s = sympy.N(tau, PROOF_DPS + 5)

    def psi_fn(s, _g=g_fn, _hp=hp_fn):
        with mpmath.workdps(PROOF_DPS):
            tau_mp = mpmath.mpf(str(tau_mp_s))
            b_mp = mpmath.mpf(str(sympy.N(b, PROOF_DPS + 5)))
            return 1 / (tau_mp * _hp(_g(b_mp - s / tau_mp)))

    identity = "theta - Integral(psi(s), (s, 0, tau*(b - x))) = h^-1(x) for x in (a, b]"
    theorem = "Theorem 4.3 (eq. 13, 32-34)"
    worst = None
    if g is not None:
        # symbolic: d/dy g(y) * h'(g(y)) = 1 is the inverse-function rule eq. 31
        rule = _is_zero(sympy.diff(g, Y) * hprime.subs(X, g) - 1)
        back = _is_zero(h.subs(X, g) - Y)
        if rule is True and back is True:
            proof = ProofRecord(theorem, identity, "symbolic", True,
                                "SymPy proved h(g(y)) = y and g'(y) h'(g(y)) = 1 (eq. 31), so "
                                "Integral(psi, (s, 0, tau*(b - x))) = g(b) - g(x) (eq. 32)")
        else:
            worst = _prove_output(h, psi_fn, g_fn, a, b, delta)
    else:
        worst = _prove_output(h, psi_fn, g_fn, a, b, delta)
    if worst is not None:
        tol = mpmath.mpf("1e-15") if inverse_method == "numeric" else PROOF_TOL
        proof = ProofRecord(theorem, identity, "numeric", bool(worst <= tol),
                            "mpmath quadrature of psi over the emitting window compared with h^-1 "
                            f"({inverse_method} inverse)",
                            dps=PROOF_DPS, points=PROOF_POINTS - 1, max_error=float(worst), tolerance=float(tol))
    if not proof.holds:
        raise ArithmeticError(f"derivation check failed for h(x) = {h}: {proof.summary()}")
    return OutputTransform(h=h, a=a, b=b, delta=delta, psi=psi, theta=theta, inverse=g,
                           inverse_method=inverse_method, monotonicity=monotonicity,
                           bracket=(float(left), float(right)), theta_low=theta_low, proof=proof, text=text)
