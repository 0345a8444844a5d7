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
    "input_formulas",
    "output_formulas",
    "prove_input",
    "prove_output",
    "ProofPart",
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
    """How a derivation's theorem identity was established, part by part.

    ``method`` is ``"symbolic"`` when SymPy reduced every part to 0, else
    ``"numeric"`` (the parts SymPy could not close were checked with mpmath at
    ``dps`` digits on ``points`` points, largest relative error
    ``max_error``, required below ``tolerance``). ``parts`` lists each
    statement that was checked, how, and whether it held, in words a reader
    can verify (:meth:`explain`). ``holds`` is True only when every part holds.
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
    parts: tuple = ()

    def summary(self) -> str:
        verdict = "holds" if self.holds else "FAILS"
        if self.method == "symbolic":
            how = "symbolically (SymPy)"
        else:
            err = "n/a" if self.max_error is None else f"{self.max_error:.1e}"
            how = f"numerically (mpmath, {self.dps} digits, {self.points} points, max rel. error {err})"
        return f"{self.theorem}: {self.identity} {verdict} {how}"

    def explain(self) -> str:
        """One line per checked part: statement, how it was checked, verdict."""
        lines = [self.summary()]
        for part in self.parts:
            lines.append(f"  - {part.statement}: {'holds' if part.holds else 'FAILS'} ({part.how})")
        return "\n".join(lines)


@dataclass(frozen=True)
class ProofPart:
    """One checked statement of a :class:`ProofRecord`."""

    statement: str
    method: str          # "symbolic" or "numeric"
    holds: bool
    how: str
    max_error: float | None = None


def _record(theorem, identity, parts, dps, points, tol) -> ProofRecord:
    holds = all(p.holds for p in parts)
    symbolic = all(p.method == "symbolic" for p in parts)
    errs = [p.max_error for p in parts if p.max_error is not None]
    detail = "; ".join(f"{p.statement} [{p.method}: {p.how}]" for p in parts)
    if symbolic:
        return ProofRecord(theorem, identity, "symbolic", holds, detail, parts=tuple(parts))
    return ProofRecord(theorem, identity, "numeric", holds, detail, dps=dps, points=points,
                       max_error=float(max(errs)) if errs else 0.0, tolerance=float(tol), parts=tuple(parts))


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


_T41 = "Theorem 4.1 (eq. 8-9, 30)"
_ID41 = ("(1/tau) * Integral(eta(s), (s, 0, tau*(x - a))) + (1/tau) * Integral(C, (s, 0, delta)) = f(x) "
         "for x in [a, b]; a silent input (x = a) contributes d*C = f(a)")
_C_SHARE = "C's share (1/tau) * Integral(C, (s, 0, delta)) = d*C equals f(a) (a silent input contributes w f(a))"
_POTENTIAL = "(1/tau) * Integral(eta, (s, 0, tau*(x - a))) + d*C = f(x) for x in [a, b]"


@limits.limited("the proof of Theorem 4.1 (SymPy, mpmath quadrature)")
def prove_input(f, eta, const, a, b, delta) -> ProofRecord:
    """Check Theorem 4.1's identity (eq. 9, proof eq. 30) for the kernel ``eta`` and constant ``const`` given.

    With the sender's ``tau = delta/d`` a spike for x arrives ``tau*(x - a)``
    before the end of the sender's window, so the synapse adds
    ``(1/tau) int_0^{tau(x - a)} eta`` and the constant term
    ``(1/tau) int_0^delta C = d*C`` to the potential. Two parts are checked:

    * C's share: ``d*C = f(a)`` (exactly what a silent input, x = a, must contribute);
    * the identity: ``(1/tau) int_0^{tau(x - a)} eta + d*C = f(x)`` for every x on [a, b].

    Symbolic route: SymPy reduces ``d*C - f(a)`` to 0, and
    ``d/ds [tau f(s/tau + a)] - eta(s)`` to 0 (so ``tau f(s/tau + a)`` is an
    antiderivative of eta) and then the whole left side minus f(x) to 0.
    Whatever SymPy cannot reduce is checked with mpmath
    (:func:`prove_input_numeric`): quadrature of eta alone, split at its kinks,
    on ``PROOF_POINTS`` points at ``PROOF_DPS`` digits. A wrong eta or C
    gives a record with ``holds = False``.
    """
    d, tau = _range_symbols(a, b, delta)
    f_a = f.subs(X, a)
    c_sym = _is_zero(d * const - f_a)
    F = tau * f.subs(X, S / tau + a)
    anti = _is_zero(sympy.diff(F, S) - eta)
    whole = None
    how_whole = ""
    if anti is True:
        lhs = (F.subs(S, tau * (X - a)) - F.subs(S, 0)) / tau + d * const
        whole = _is_zero(lhs - f)
    if whole is not True and anti is not True:
        integral = _integral_closed_form(eta, tau * (X - a), tau)
        if integral is not None:
            whole = _is_zero(integral + d * const - f)
            how_whole = ("SymPy found an antiderivative of eta (checked by differentiation) and reduced "
                         "the left side minus f(x) to 0")
    else:
        how_whole = ("SymPy reduced d/ds [tau f(s/tau + a)] - eta(s) to 0 (an antiderivative of eta) and "
                     "(1/tau)[tau f(s/tau + a)]_0^(tau(x - a)) + d*C - f(x) to 0")
    if c_sym is True and whole is True:
        return _record(_T41, _ID41, [
            ProofPart(_C_SHARE, "symbolic", True, "SymPy reduced d*C - f(a) to 0"),
            ProofPart(_POTENTIAL, "symbolic", True, how_whole)], None, None, None)
    return prove_input_numeric(f, eta, a, b, delta, const, symbolic_c=c_sym is True)


def prove_input_numeric(f, eta, a, b, delta, const=None, dps: int = PROOF_DPS, n: int = PROOF_POINTS, *,
                        symbolic_c: bool = False) -> ProofRecord:
    """The numeric route of Theorem 4.1 (eq. 9, 30): quadrature of eta (independent of f) plus d*C against f(x).

    ``const`` is the per-synapse C term (None: the theorem's ``f(a)/d``, to
    check eta alone). Both parts of :func:`prove_input` are checked at ``dps``
    digits: ``|d*C - f(a)|`` and, on ``n`` points of [a, b],
    ``|(1/tau) int_0^{tau(x - a)} eta + d*C - f(x)|``, each relative to
    ``max(1, |f|)`` on the range, against ``PROOF_TOL``.
    """
    d, tau = _range_symbols(a, b, delta)
    if const is None:
        const = f.subs(X, a) / d
    breaks_s = kinks(eta, S, 0, delta)
    with mpmath.workdps(dps):
        eta_fn = mp_function(eta, S)
        f_fn = mp_function(f, X)
        tau_mp = mpmath.mpf(str(sympy.N(tau, dps + 5)))
        a_mp = mpmath.mpf(str(sympy.N(a, dps + 5)))
        dC = mpmath.mpf(str(sympy.N(d * const, dps + 5)))
        breaks = [mpmath.mpf(str(sympy.N(p, dps + 5))) for p in breaks_s]
        fa = f_fn(a_mp)
        scale = max(mpmath.mpf(1), max(abs(f_fn(p)) for p in checks.sample_points(a, b, 9)))
        err_c = abs(dC - fa) / scale
        worst = mpmath.mpf(0)
        for p in checks.sample_points(a, b, n):
            sigma = tau_mp * (p - a_mp)
            q = _quad(eta_fn, mpmath.mpf(0), sigma, breaks) / tau_mp
            worst = max(worst, abs(q + dC - f_fn(p)) / scale)
    c_part = (ProofPart(_C_SHARE, "symbolic", True, "SymPy reduced d*C - f(a) to 0") if symbolic_c else
              ProofPart(_C_SHARE, "numeric", bool(err_c <= PROOF_TOL),
                        f"mpmath at {dps} digits: |d*C - f(a)| / max(1, |f|) = {mpmath.nstr(err_c, 3)}",
                        float(err_c)))
    pot = ProofPart(_POTENTIAL, "numeric", bool(worst <= PROOF_TOL),
                    f"mpmath quadrature of the kernel eta (independent of f), split at its kinks, plus d*C, "
                    f"against f(x) on {n} evenly spaced points of [a, b] at {dps} digits (largest error relative "
                    f"to max(1, |f|): {mpmath.nstr(worst, 3)}, required <= {mpmath.nstr(PROOF_TOL, 1)})",
                    float(worst))
    return _record(_T41, _ID41, [c_part, pot], dps, n, PROOF_TOL)


def input_formulas(f: sympy.Expr, a, d, tau) -> tuple[sympy.Expr, sympy.Expr]:
    """Theorem 4.1 (eq. 8): (eta, C term), eta(s) = f'(s/tau + a) for s >= 0 and C term f(a)/d per unit weight.

    The one place the derivation writes eta and C (:func:`derive_input` calls
    it for its numeric range; the model's range-generic ``InputKernel`` writes
    the same eta with symbolic a and tau, checked equal by
    ``tests/test_formulas.py`` and proved in ``proofs/library.py``). No hypothesis is checked and nothing is
    evaluated, so ``f`` may hold an undefined SymPy function
    (``sympy.Function("f")(X)``) and ``a``, ``d``, ``tau`` may be symbols:
    ``proofs/`` proves Theorems 4.1-4.6 and the constructions for exactly
    this output (``python -m proofs``). ``a``, ``d = b - a`` and
    ``tau = delta/d`` are the sender's.
    """
    fprime = sympy.diff(f, X)
    eta = fprime.subs(X, S / tau + a)
    f_a = f.subs(X, a)
    const = sympy.nsimplify(f_a / d) if f_a.is_Rational else f_a / d
    return eta, const


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


@functools.lru_cache(maxsize=512)
def _derive_input_cached(f: sympy.Expr, a, b, delta, text: str) -> InputTransform:
    checks.check_defined(f, a, b, what="f")
    d, tau = _range_symbols(a, b, delta)
    fprime = sympy.diff(f, X)
    eta, const = input_formulas(f, a, d, tau)   # eq. 8
    try:
        with time_limit(SYMPY_SECONDS):
            simpler = sympy.simplify(eta)
            if sympy.count_ops(simpler) <= sympy.count_ops(eta):
                eta = simpler
    except (_Timeout, RecursionError):
        pass
    f_a = f.subs(X, a)
    proof = prove_input(f, eta, const, a, b, delta)
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
    so ``tau = delta/(b - a)`` is the sender's time constant (docs/design.md).
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
        if not isinstance(sol, sympy.Expr):
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


_T43 = "Theorem 4.3 (eq. 13-14, 32-35)"
_ID43 = ("V + Integral(psi(s), (s, 0, tau*(b - y))) = theta for V = h^-1(y), y in (a, b), with theta = h^-1(b); "
         "V > theta fires at T_emit (value b); V < h^-1(a) never reaches theta (value a)")


def _numeric_inverse(h_fn):
    with mpmath.workdps(PROOF_DPS):
        start = checks.defined_start(h_fn)

    def g_fn(y):
        with mpmath.workdps(PROOF_DPS):
            return checks.solve_increasing(h_fn, y, start)
    return g_fn


def _never_negative(expr, delta) -> bool:
    """True when SymPy proves expr(s) < 0 has no solution on [0, delta) (within the time limit)."""
    try:
        with time_limit(SYMPY_SECONDS):
            return sympy.solveset(expr < 0, S, sympy.Interval.Ropen(0, delta)) is sympy.S.EmptySet
    except (_Timeout, NotImplementedError, TypeError, ValueError, AttributeError, RecursionError):
        return False


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
    d, tau = _range_symbols(a, b, delta)
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
        g_fn = _numeric_inverse(h_fn) if numeric_inverse else mp_function(g, Y)
        psi_fn = sympy.lambdify(S, psi, modules=[{"h_inv": g_fn}, *checks._mp_modules()])
        breaks = [mpmath.mpf(str(sympy.N(p, PROOF_DPS + 5))) for p in kinks(psi, S, 0, delta)]
        ys = checks.sample_points(a, b, PROOF_POINTS)[1:]
    # 1. g inverts h
    statement = "g = h^-1 on (a, b]: h(g(y)) = y"
    if not numeric_inverse and _is_zero(h.subs(X, g) - Y) is True:
        parts.append(ProofPart(statement, "symbolic", True, "SymPy reduced h(g(y)) - y to 0"))
    else:
        with mpmath.workdps(PROOF_DPS):
            err = max(abs(h_fn(g_fn(y)) - y) / max(1, abs(y)) for y in ys)
        how = "monotone root finder" if numeric_inverse else "SymPy's inverse"
        parts.append(ProofPart(statement, "numeric", bool(err <= tol),
                               f"{how}, mpmath at {PROOF_DPS} digits on {len(ys)} points (largest relative "
                               f"error {mpmath.nstr(err, 3)})", float(err)))
    # 2. theta = g(b)
    statement = "upper clip: theta = h^-1(b), so V > theta fires at T_emit (value b)"
    if not numeric_inverse and _is_zero(theta - g.subs(Y, b)) is True:
        parts.append(ProofPart(statement, "symbolic", True, "SymPy reduced theta - g(b) to 0"))
    else:
        with mpmath.workdps(PROOF_DPS):
            gb = g_fn(b_mp)
            err = abs(theta_mp - gb) / max(1, abs(gb)) if gb is not None else mpmath.inf
        parts.append(ProofPart(statement, "numeric", bool(err <= tol),
                               f"mpmath at {PROOF_DPS} digits: |theta - g(b)| / max(1, |g(b)|) = {mpmath.nstr(err, 3)}",
                               float(err)))
    # 3. eq. 32
    statement = "eq. 32: h^-1(y) + Integral(psi, (s, 0, tau*(b - y))) = theta for y in (a, b]"
    sym3 = False
    if not numeric_inverse:
        G = -g.subs(Y, b - S / tau)
        if _is_zero(sympy.diff(G, S) - psi) is True:
            ident = g + G.subs(S, tau * (b - Y)) - G.subs(S, 0) - theta
            if _is_zero(ident) is True:
                sym3 = True
                parts.append(ProofPart(statement, "symbolic", True,
                                       "SymPy reduced d/ds[-g(b - s/tau)] - psi(s) to 0 (an antiderivative of psi, "
                                       "eq. 31) and g(y) + [-g(b - s/tau)]_0^(tau(b - y)) - theta to 0"))
    if not sym3:
        with mpmath.workdps(PROOF_DPS):
            worst = mpmath.mpf(0)
            for y in ys:
                sigma = tau_mp * (b_mp - y)
                integral = _quad(psi_fn, mpmath.mpf(0), sigma, breaks) if sigma > 0 else mpmath.mpf(0)
                gy = g_fn(y)
                worst = max(worst, abs(gy + integral - theta_mp) / max(1, abs(theta_mp), abs(gy)))
        parts.append(ProofPart(statement, "numeric", bool(worst <= tol),
                               f"mpmath quadrature of the kernel psi (as derived) from 0 to tau*(b - y) on "
                               f"{len(ys)} points of (a, b] at {PROOF_DPS} digits, g(y) by "
                               f"{'a monotone root finder' if numeric_inverse else 'SymPy inverse'} (largest "
                               f"relative error {mpmath.nstr(worst, 3)}, required <= {mpmath.nstr(tol, 1)})",
                               float(worst)))
    # 4. lower clip
    statement = "lower clip (eq. 35): Integral(psi, (s, 0, delta)) = theta - h^-1(a), so V < h^-1(a) stays below theta"
    if theta_low is None or theta_low == -sympy.oo:
        p3 = parts[-1]
        parts.append(ProofPart(statement.split(":")[0] + ": h never reaches a (h^-1(a) = -oo), every potential "
                               "fires inside the window", p3.method, p3.holds,
                               "follows from eq. 32 (part above) as y -> a: Integral(psi) = theta - g(y) -> oo"))
    else:
        done = False
        if sym3:
            G = -g.subs(Y, b - S / tau)
            if _is_zero(G.subs(S, delta) - G.subs(S, 0) - (theta - theta_low)) is True:
                done = True
                parts.append(ProofPart(statement, "symbolic", True,
                                       "SymPy reduced [-g(b - s/tau)]_0^delta - (theta - theta_low) to 0"))
        if not done:
            with mpmath.workdps(PROOF_DPS):
                low_mp = mpmath.mpf(str(sympy.N(theta_low, PROOF_DPS + 5)))
                integral = _quad(psi_fn, mpmath.mpf(0), delta_mp, breaks)
                err = abs(integral - (theta_mp - low_mp)) / max(1, abs(theta_mp), abs(low_mp))
                ga = g_fn(mpmath.mpf(str(sympy.N(a, PROOF_DPS + 5))))
                if ga is None:
                    err = mpmath.inf
                else:
                    err = max(err, abs(low_mp - ga) / max(1, abs(ga)))
            parts.append(ProofPart(statement, "numeric", bool(err <= tol),
                                   f"mpmath quadrature of psi over [0, delta] against theta - theta_low, and "
                                   f"theta_low against g(a), at {PROOF_DPS} digits (largest relative error "
                                   f"{mpmath.nstr(err, 3)})", float(err)))
    # 5. psi >= 0
    statement = "psi >= 0 on [0, delta): the potential only rises while emitting, one crossing of theta"
    with mpmath.workdps(PROOF_DPS):
        neg = None
        for k in range(PROOF_POINTS):
            sv = delta_mp * k / PROOF_POINTS
            try:
                val = checks._real_value(psi_fn, sv)
            except Exception:  # noqa: BLE001
                val = None
            if val is not None and val < 0:
                neg = sv
                break
    if neg is not None:
        parts.append(ProofPart(statement, "numeric", False, f"psi({mpmath.nstr(neg, 8)}) < 0"))
    elif sym3 and monotonicity == "symbolic":
        parts.append(ProofPart(statement, "symbolic", True,
                               "psi = (1/tau) g'(b - s/tau) (eq. 32 part) and g = h^-1 is increasing because h is "
                               f"(SymPy); also sampled at {PROOF_POINTS} points"))
    elif sym3 and _never_negative(psi, delta):
        parts.append(ProofPart(statement, "symbolic", True,
                               "SymPy found no s in [0, delta) with psi(s) < 0 (solveset); also sampled at "
                               f"{PROOF_POINTS} points"))
    else:
        parts.append(ProofPart(statement, "numeric", True,
                               f"sampled at {PROOF_POINTS} points of [0, delta) with mpmath (h increasing: "
                               f"{monotonicity} check)", 0.0))
    return _record(_T43, _ID43, parts, PROOF_DPS, PROOF_POINTS - 1, tol)


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
        psi, theta, theta_low = output_formulas(h, g, a, b, tau)   # eq. 13, 35
        theta_low = theta_low if v_a is not None else -sympy.oo
        try:
            with time_limit(SYMPY_SECONDS):
                psi = sympy.simplify(psi)
                theta = sympy.simplify(theta)
        except (_Timeout, RecursionError):
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
        raise ArithmeticError(f"derivation check failed for h(x) = {h}: {proof.summary()}")
    return OutputTransform(h=h, a=a, b=b, delta=delta, psi=psi, theta=theta, inverse=g,
                           inverse_method=inverse_method, monotonicity=monotonicity,
                           bracket=(float(left), float(right)), theta_low=theta_low, proof=proof, text=text)
