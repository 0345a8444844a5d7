"""Theorem 4.1 (eq. 8-9, proof eq. 30): the input transform, derived and proved.

``derive_input(f, a, b, delta)`` gives the input transform kernel eta(s) and
the per-synapse constant of C such that the potential at the end of the
receiving stage is ``sum_j w_j f(x_j)``. It checks the hypotheses first (a < b,
f defined and differentiable on [a, b]), checks its own result
(:func:`prove_input`: symbolically where SymPy can close the identity,
otherwise with mpmath at a stated precision) and returns a frozen
:class:`~.transforms.InputTransform` that says which.
"""
from __future__ import annotations

import functools

import mpmath
import sympy

from . import limits, refusals
from .calculus import integral_closed_form, is_zero, kinks, quad
from .hypotheses import check_defined, check_range
from .limits import SympyTimeout, time_limit
from .mpeval import mp_function, sample_points
from .parse import S, X, bind_params, parse_formula
from .records import PROOF_DPS, PROOF_POINTS, PROOF_TOL, ProofPart, ProofRecord, make_record
from .transforms import InputTransform, range_symbols

__all__ = ["derive_input", "input_formulas", "prove_input", "prove_input_numeric"]


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
    d, tau = range_symbols(a, b, delta)
    f_a = f.subs(X, a)
    c_sym = is_zero(d * const - f_a)
    F = tau * f.subs(X, S / tau + a)
    anti = is_zero(sympy.diff(F, S) - eta)
    whole = None
    how_whole = ""
    if anti is True:
        lhs = (F.subs(S, tau * (X - a)) - F.subs(S, 0)) / tau + d * const
        whole = is_zero(lhs - f)
    if whole is not True and anti is not True:
        integral = integral_closed_form(eta, tau * (X - a), tau)
        if integral is not None:
            whole = is_zero(integral + d * const - f)
            how_whole = ("SymPy found an antiderivative of eta (checked by differentiation) and reduced "
                         "the left side minus f(x) to 0")
    else:
        how_whole = ("SymPy reduced d/ds [tau f(s/tau + a)] - eta(s) to 0 (an antiderivative of eta) and "
                     "(1/tau)[tau f(s/tau + a)]_0^(tau(x - a)) + d*C - f(x) to 0")
    if c_sym is True and whole is True:
        return make_record(_T41, _ID41, [
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
    d, tau = range_symbols(a, b, delta)
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
        scale = max(mpmath.mpf(1), max(abs(f_fn(p)) for p in sample_points(a, b, 9)))
        err_c = abs(dC - fa) / scale
        worst = mpmath.mpf(0)
        for p in sample_points(a, b, n):
            sigma = tau_mp * (p - a_mp)
            q = quad(eta_fn, mpmath.mpf(0), sigma, breaks) / tau_mp
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
    return make_record(_T41, _ID41, [c_part, pot], dps, n, PROOF_TOL)


def input_formulas(f: sympy.Expr, a, d, tau) -> tuple[sympy.Expr, sympy.Expr]:
    """Theorem 4.1 (eq. 8): (eta, C term), eta(s) = f'(s/tau + a) for s >= 0 and C term f(a)/d per unit weight.

    The one place the derivation writes eta and C (:func:`derive_input` calls
    it for its numeric range; the model's range-generic ``InputKernel`` writes
    the same eta with symbolic a and tau, checked equal by
    ``tests/symbolic/test_formulas.py`` and proved in ``proofs/library.py``). No hypothesis is checked and nothing is
    evaluated, so ``f`` may hold an undefined SymPy function
    (``sympy.Function("f")(X)``) and ``a``, ``d``, ``tau`` may be symbols:
    ``proofs/`` proves Theorems 4.1-4.6 and the constructions for exactly
    this output (``python -m proofs``). ``a``, ``d = b - a`` and
    ``tau = delta/d`` are the sender's.
    """
    fprime = sympy.diff(f, X)
    eta = fprime.subs(X, S / tau + a)
    f_a = f.subs(X, a)
    const = f_a / d   # exact (nsimplify would round -3333333333333333/13333333333333333 to -1/4)
    return eta, const


@functools.lru_cache(maxsize=512)
def _derive_input_cached(f: sympy.Expr, a, b, delta, text: str) -> InputTransform:
    check_defined(f, a, b, what="f")
    d, tau = range_symbols(a, b, delta)
    fprime = sympy.diff(f, X)
    eta, const = input_formulas(f, a, d, tau)   # eq. 8
    try:
        with time_limit(limits.SYMPY_SECONDS):
            simpler = sympy.simplify(eta)
            if sympy.count_ops(simpler) <= sympy.count_ops(eta):
                eta = simpler
    except (SympyTimeout, RecursionError):
        pass
    f_a = f.subs(X, a)
    proof = prove_input(f, eta, const, a, b, delta)
    if not proof.holds:
        raise ArithmeticError(f"derivation check failed for f(x) = {f} on [{a}, {b}]: "
                              + proof.refusal("eta", "eq. 8"))
    return InputTransform(f=f, a=a, b=b, delta=delta, eta=eta, const=const, f_a=f_a,
                          derivative=fprime, proof=proof, text=text)


@refusals.short_messages
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
    refusals.check_float_range(a_, b_, delta_)
    text = f if isinstance(f, str) else str(f)
    expr = parse_formula(f, variables=("x",), params=bind_params(params, a_, b_))
    expr = refusals.without_jumps(expr, a_, b_, "f")   # Heaviside/sign: constant on [a, b], or refused
    result = _derive_input_cached(expr, a_, b_, delta_, text)
    refusals.check_input_overflow(result)   # f, eta in float64 on [a, b], or refused with a range that works
    return result


@functools.lru_cache(maxsize=1024)
def check_input_hypotheses(f: sympy.Expr, a: float, b: float) -> None:
    """Theorem 4.1's hypotheses of ``f`` on the sender's range [a, b], checked as :func:`derive_input` checks
    them, without the derivation: no jump in [a, b], f and f' defined there (DomainError naming the point)."""
    a_, b_, _ = check_range(a, b, 1)
    check_defined(refusals.without_jumps(f, a_, b_, "f"), a_, b_, what="f")
