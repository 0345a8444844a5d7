"""Corollary 4.4 (eq. 15): the identity output transform.

Theorem 4.3 with h(v) = v (g = h^-1 = identity) gives psi(s) = 1/tau and
theta = b; the spike stands for clip(V(T_emit), a, b): V in (a, b] fires at
T_emit + tau(b - V), V >= b fires at T_emit (b), V < a never fires (a).

Run: ``python -m proofs.corollary_4_4``.
"""
from __future__ import annotations

import sympy as sp

from ._common import (
    S,
    ProofResult,
    _Steps,
    check_output_transform,
    compare,
    derive_psi_printed,
    derive_theta,
    psi_integral,
    window,
)

NAME = "corollary_4_4"
STATEMENT = "Corollary 4.4 (eq. 15): psi(s) = 1/tau, theta = b => x = clip(V(T_emit), a, b)."


def identity(v):
    return v


def clip(v, a, b):
    """eq. 12."""
    return sp.Piecewise((a, v < a), (v, v <= b), (b, True))


def emitted_value(psi, theta, win, V):
    """Value of the output spike for a concrete V (exact arithmetic): a if silent.

    Solves V + int_0^sigma psi = theta for sigma in [0, delta); value
    (T_ref - T_emit - sigma)/tau; a when there is no crossing.
    """
    sigma = sp.Symbol("sigma", real=True)
    potential = V + psi_integral(psi, win, sigma)
    if sp.simplify(potential.subs(sigma, 0) - theta) >= 0:
        return win.b
    roots = [r for r in sp.solve(sp.Eq(potential, theta), sigma) if r.is_real and 0 <= r < win.delta]
    if not roots:
        return win.a
    return win.value(win.T_emit + min(roots))


def prove() -> ProofResult:
    st = _Steps()
    win = window("r")
    psi_derived = derive_psi_printed(identity, identity, win)
    st.check("h(v) = v: the library's psi(s) = 1/(tau h'(h^-1(b - s/tau))) = 1/tau", psi_derived(S) - 1 / win.tau)
    theta = derive_theta(identity, win)
    st.check("h(v) = v: the library's theta = h^-1(b) = b", theta - win.b)
    theta_low = derive_theta(identity, win, low=True)
    st.check("h(v) = v: the library's silent bound h^-1(a) = a", theta_low - win.a)
    psi = psi_derived

    xs = sp.Symbol("x_star", real=True)
    ok, diff = check_output_transform(psi, theta, win, xs, xs)
    st.check("V = x* in (a, b]: V + Integral(psi, (s, 0, tau(b - x*))) - theta: the spike stands for x* = V", diff)
    eps = sp.Symbol("epsilon", nonnegative=True)
    st.check("V = b + eps: potential at T_emit - theta = eps >= 0: fires at T_emit, value b",
             win.b + eps + psi_integral(psi, win, 0) - theta - eps)
    eps_pos = sp.Symbol("epsilon", positive=True)
    end = theta_low - eps_pos + psi_integral(psi, win, win.delta) - theta
    st.check("V = a - eps: potential at T_end - theta = -eps < 0: no spike, value a", end + eps_pos)

    # exact spot checks of all three regimes against eq. 12, a = -1, b = 2, delta = 3
    num = window("num", a=-1, d=3, delta=sp.Integer(3))
    for V in (sp.Rational(-3, 2), sp.Integer(-1), sp.Rational(-1, 3), sp.Integer(0), sp.Rational(7, 4),
              sp.Integer(2), sp.Rational(5, 2)):
        got = emitted_value(derive_psi_printed(identity, identity, num), derive_theta(identity, num), num, V)
        st.check(f"a = -1, b = 2: V = {V} -> spike value {got} = clip(V, a, b)", got - clip(V, num.a, num.b))
    comparisons = [
        compare("15", "psi(s)", 1 / win.tau, psi_derived(S)),
        compare("15", "theta", win.b, theta),
    ]
    return ProofResult(NAME, STATEMENT, st.lines, st.ok, comparisons)


if __name__ == "__main__":
    from ._common import main

    main(prove)
