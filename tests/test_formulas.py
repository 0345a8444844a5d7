"""ttfs_symbolic.symbolic.formulas: the one place eta, C, psi and theta are written.

derive_input, derive_output and the model's range-generic InputKernel must
use these formulas (so that proofs/, which proves them for undefined f, h and
symbolic ranges, proves what the library computes); the formulas must take
undefined functions and symbolic ranges.
"""
from __future__ import annotations

import pytest
import sympy as sp

from ttfs_symbolic.symbolic import derive, formulas
from ttfs_symbolic.symbolic.parse import S, X

Y = formulas.Y


def test_formulas_take_undefined_functions_and_symbolic_ranges():
    f, h, g = sp.Function("f"), sp.Function("h"), sp.Function("g")
    a, b = sp.Symbol("a", real=True), sp.Symbol("b", real=True)
    d, tau = sp.Symbol("d", positive=True), sp.Symbol("tau", positive=True)
    eta = formulas.input_eta(f(X), a, tau)
    # eq. 8: eta(s) = f'(s/tau + a); its integral from 0 to tau(x - a), over tau, is f(x) - f(a)
    assert sp.simplify(eta.subs(S, tau * (X - a)) - sp.diff(f(X), X)) == 0
    assert formulas.input_const(f(X), a, d) == f(a) / d
    psi = formulas.output_psi(h(X), g(Y), b, tau)
    # eq. 13: tau psi(s) h'(g(b - s/tau)) = 1
    hprime = sp.diff(h(X), X).subs(X, g(b - S / tau))
    assert sp.simplify(tau * psi * hprime - 1) == 0
    assert formulas.output_theta(g(Y), b) == g(b)


def test_derive_input_returns_the_formulas():
    it = derive.derive_input("x**2 + sin(x)", -1.5, 2.25)
    assert sp.simplify(it.eta - formulas.input_eta(it.f, it.a, it.tau)) == 0
    assert sp.simplify(it.const - formulas.input_const(it.f, it.a, it.d)) == 0


def test_derive_output_returns_the_formulas():
    ot = derive.derive_output("exp(x)", 0.25, 1.5)
    assert ot.inverse is not None
    assert sp.simplify(ot.psi - formulas.output_psi(ot.h, ot.inverse, ot.b, ot.tau)) == 0
    assert sp.simplify(ot.theta - formulas.output_theta(ot.inverse, ot.b)) == 0
    assert sp.simplify(ot.theta_low - formulas.output_theta(ot.inverse, ot.a)) == 0


def test_input_kernel_compiles_the_formula():
    from ttfs_symbolic.numeric.kernels import A_SYM, TAU_SYM, InputKernel

    k = InputKernel("log(x + 2) * x")
    assert k.eta_general == formulas.input_eta(k.f, A_SYM, TAU_SYM)


def test_derive_input_goes_through_the_formulas(monkeypatch):
    """A fault in the formula reaches derive_input, whose own proof record then refuses it."""
    broken = formulas.input_const
    monkeypatch.setattr(formulas, "input_const", lambda f, a, d: broken(f, a, d) * (1 + sp.Rational(1, 10**9)))
    derive._derive_input_cached.cache_clear()
    try:
        with pytest.raises(ArithmeticError, match="derivation check failed"):
            derive.derive_input("x**2", -3.125, 3.375)
    finally:
        derive._derive_input_cached.cache_clear()
