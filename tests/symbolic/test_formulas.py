"""derive.input_formulas / output_formulas: the one place derive_input and derive_output write eta, C, psi, theta.

They must take undefined functions and symbolic ranges (``proofs/`` proves
the theorems for them), and derive_input / derive_output must return what
they give (so the proofs prove the library's own output).
"""
from __future__ import annotations

import pytest
import sympy as sp

from ttfs_symbolic.symbolic import derive, refusals, theorem_4_1
from ttfs_symbolic.symbolic.parse import S, X
from ttfs_symbolic.symbolic.records import ProofPart, make_record

Y = derive.Y


def test_formulas_take_undefined_functions_and_symbolic_ranges():
    f, h, g = sp.Function("f"), sp.Function("h"), sp.Function("g")
    a, b = sp.Symbol("a", real=True), sp.Symbol("b", real=True)
    d, tau = sp.Symbol("d", positive=True), sp.Symbol("tau", positive=True)
    eta, const = derive.input_formulas(f(X), a, d, tau)
    # eq. 8: eta(s) = f'(s/tau + a), so eta(tau (x - a)) = f'(x); C term f(a)/d
    assert sp.simplify(eta.subs(S, tau * (X - a)) - sp.diff(f(X), X)) == 0
    assert const == f(a) / d
    psi, theta, theta_low = derive.output_formulas(h(X), g(Y), a, b, tau)
    # eq. 13: tau psi(s) h'(g(b - s/tau)) = 1; theta = g(b); eq. 35: silent below g(a)
    hprime = sp.diff(h(X), X).subs(X, g(b - S / tau))
    assert sp.simplify(tau * psi * hprime - 1) == 0
    assert theta == g(b) and theta_low == g(a)
    with pytest.raises(ValueError, match="closed-form inverse"):
        derive.output_formulas(h(X), None, a, b, tau)


def test_derive_input_returns_the_formulas():
    it = derive.derive_input("x**2 + sin(x)", -1.5, 2.25)
    eta, const = derive.input_formulas(it.f, it.a, it.d, it.tau)
    assert sp.simplify(it.eta - eta) == 0
    assert it.const == const


def test_derive_output_returns_the_formulas():
    ot = derive.derive_output("exp(x)", 0.25, 1.5)
    assert ot.inverse is not None
    psi, theta, theta_low = derive.output_formulas(ot.h, ot.inverse, ot.a, ot.b, ot.tau)
    assert sp.simplify(ot.psi - psi) == 0
    assert sp.simplify(ot.theta - theta) == 0
    assert sp.simplify(ot.theta_low - theta_low) == 0


def test_input_kernel_writes_the_same_eta():
    from ttfs_symbolic.numeric.kernels import A_SYM, TAU_SYM, InputKernel

    k = InputKernel("log(x + 2) * x")
    d = sp.Symbol("d", positive=True)
    assert k.eta_general == derive.input_formulas(k.f, A_SYM, d, TAU_SYM)[0]


def test_derive_input_goes_through_the_formulas(monkeypatch):
    """A fault in the formula reaches derive_input, whose own proof record then refuses it."""
    right = derive.input_formulas

    def wrong(f, a, d, tau):
        eta, const = right(f, a, d, tau)
        return eta, const * (1 + sp.Rational(1, 10**9))

    monkeypatch.setattr(theorem_4_1, "input_formulas", wrong)
    theorem_4_1._derive_input_cached.cache_clear()
    try:
        with pytest.raises(ArithmeticError, match="derivation check failed") as info:
            derive.derive_input("x**2", -3.125, 3.375)
    finally:
        theorem_4_1._derive_input_cached.cache_clear()
    msg = str(info.value)
    # a wrong C names the failing part; the steepness hint is only for a quadrature of an exact kernel
    assert "C's share" in msg and "FAILS" in msg and "too steep" not in msg, msg


def test_a_kernel_too_steep_for_the_check_is_named():
    """tanh(1e4 x) on [-1, 1]: eta is right but mpmath's quadrature on 33 points cannot resolve it. The
    refusal says so in one line under the message limit, with the error found and what to do."""
    with pytest.raises(ArithmeticError) as info:
        derive.derive_input("tanh(1e4*x)", -1, 1)
    msg = str(info.value)
    assert "the quadrature of eta misses the identity by" in msg, msg
    assert msg.endswith("rescale x or narrow the range") and len(msg) <= refusals.MAX_MESSAGE, msg


def test_a_refusal_names_what_failed():
    """ProofRecord.refusal: the quadrature hint only where every failing part is the kernel's integral;
    otherwise each failing part with its error (Theorem 4.3's psi and theta parts)."""
    psi_part = ProofPart("eq. 32: h^-1(y) + Integral(psi, (s, 0, tau*(b - y))) = theta", "numeric", False, "q", 3e-5)
    theta_part = ProofPart("theta = h^-1(b)", "numeric", False, "root finder", 2e-3)
    ok = ProofPart("psi >= 0", "numeric", True, "sampled", 0.0)
    quad_only = make_record("T", "I", [psi_part, ok], 30, 33, 1e-20)
    assert quad_only.refusal("psi", "eq. 13").startswith("the quadrature of psi misses the identity by 3.0e-05")
    both = make_record("T", "I", [psi_part, theta_part, ok], 30, 33, 1e-20).refusal("psi", "eq. 13")
    assert "too steep" not in both and "theta = h^-1(b) FAILS (largest relative error 2.0e-03" in both, both
    assert "psi >= 0" not in both and both.count("FAILS") == 2, both
