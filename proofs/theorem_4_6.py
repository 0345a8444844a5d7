"""Theorem 4.6 (eq. 19): the log-sum-exp neuron.

Input transform f = exp (Theorem 4.1, sender = layer 0): eta(s) =
exp(s/tau0 + a0), C = n e^{a0}/d0 (weights 1), so V = sum_i exp(x_i).
Output transform h = log (Theorem 4.3, receiver = layer 1, g = exp):
psi(s) = exp(b1 - s/tau1)/tau1, theta = e^{b1}; the spike stands for
log V = log sum_i exp(x_i) (no clipping). Checked for n = 3 symbolic
inputs and for general n (a SymPy ``Sum``), with the library's eta, C, psi
and theta (``ttfs_symbolic.symbolic.derive.input_formulas`` / ``output_formulas``), and compared with the
printed eq. 19.

Run: ``python -m proofs.theorem_4_6``.
"""
from __future__ import annotations

import sympy as sp

from ._common import (
    S,
    ProofResult,
    Synapse,
    _Steps,
    accumulated_potential,
    check_output_transform,
    compare,
    derive_C,
    derive_eta,
    derive_psi_printed,
    derive_theta,
    simplify_diff,
    window,
)

NAME = "theorem_4_6"
STATEMENT = (
    "Theorem 4.6 (eq. 19): f = exp (Theorem 4.1) and h = log (Theorem 4.3) in one neuron "
    "give the spike value log(sum_i exp(x_i))."
)


def lse_neuron(win0, win1, n: int):
    """Derived ingredients (eta, per-synapse C, psi, theta) of the log-sum-exp neuron."""
    eta = derive_eta(sp.exp, win0)
    C = derive_C(sp.exp, 1, win0)
    psi = derive_psi_printed(sp.log, sp.exp, win1)
    theta = derive_theta(sp.exp, win1)
    return eta, C, psi, theta


def lse_value(xs, win0, win1, eta=None, C=None, psi=None, theta=None):
    """Accumulated potential and the value the neuron's spike stands for (checked to fire)."""
    d_eta, d_C, d_psi, d_theta = lse_neuron(win0, win1, len(xs))
    eta = d_eta if eta is None else eta
    C = d_C if C is None else C
    psi = d_psi if psi is None else psi
    theta = d_theta if theta is None else theta
    V = accumulated_potential([Synapse(win0, 1, eta, C, x) for x in xs])
    return V, psi, theta


def check_lse(xs, win0, win1, **ingredients) -> tuple[bool, sp.Expr, sp.Expr]:
    """(holds, V - sum exp, firing residual) for the log-sum-exp neuron."""
    V, psi, theta = lse_value(xs, win0, win1, **ingredients)
    target = sum(sp.exp(x) for x in xs)
    dV = simplify_diff(V - target)
    ok_fire, dfire = check_output_transform(psi, theta, win1, V, sp.log(target))
    return dV == 0 and ok_fire, dV, dfire


def general_n_inputs():
    """(i, n, x): index i in 1..n of symbolic n and the indexed inputs x[i]."""
    i = sp.Symbol("i", integer=True, positive=True)
    n = sp.Symbol("n", integer=True, positive=True)
    return i, n, sp.IndexedBase("x", real=True)


def check_lse_general(win0, win1, **ingredients) -> tuple[bool, sp.Expr, sp.Expr]:
    """(fires right, V - Sum exp(x_i), firing residual) for n symbolic inputs (SymPy Sum)."""
    d_eta, d_C, d_psi, d_theta = lse_neuron(win0, win1, 0)
    eta = ingredients.get("eta", d_eta)
    C = ingredients.get("C", d_C)
    psi = ingredients.get("psi", d_psi)
    theta = ingredients.get("theta", d_theta)
    i, n, x = general_n_inputs()
    Xg = sp.Symbol("X_generic", real=True)
    one = accumulated_potential([Synapse(win0, 1, eta, C, Xg)])
    V = sp.Sum(one.subs(Xg, x[i]), (i, 1, n))
    target = sp.Sum(sp.exp(x[i]), (i, 1, n))
    dV = simplify_diff(V - target)
    ok_fire, dfire = check_output_transform(psi, theta, win1, V, sp.log(target))
    return dV == 0 and ok_fire, dV, dfire


def prove() -> ProofResult:
    st = _Steps()
    win0, win1 = window("0"), window("1")
    n = 3
    xs = list(sp.symbols("x1:4", real=True))
    eta, C, psi, theta = lse_neuron(win0, win1, n)
    st.note(f"Theorem 4.1, f = exp: eta(s) = {sp.sstr(eta(S))}, per-synapse C = {sp.sstr(C)}, "
            f"n synapses: C = {sp.sstr(n * C)}")
    st.note(f"Theorem 4.3, h = log, g = exp: psi(s) = {sp.sstr(sp.simplify(psi(S)))}, theta = {sp.sstr(theta)}")
    ok, dV, dfire = check_lse(xs, win0, win1)
    st.check("n = 3: V(T_emit) - sum_i exp(x_i)", dV)
    st.check("n = 3: the potential reaches theta exactly at t = T_ref1 - tau1*log(sum_i exp(x_i)), so the spike "
             "stands for log(sum_i exp(x_i)): V + Integral(psi, (s, 0, tau1(b1 - log V))) - theta", dfire)

    # x_3 silent: stands for a0
    V, psi_, theta_ = lse_value([xs[0], xs[1], None], win0, win1)
    st.check("x_3 silent: V = exp(x1) + exp(x2) + exp(a0)", V - (sp.exp(xs[0]) + sp.exp(xs[1]) + sp.exp(win0.a)))

    # general n (SymPy Sum over indexed inputs)
    ok_n, dV_n, dfire_n = check_lse_general(win0, win1)
    st.check("general n: V(T_emit) = Sum(contribution of input i, (i, 1, n)) = Sum(exp(x_i), (i, 1, n))", dV_n)
    st.check("general n: the potential reaches theta exactly at the spike time of log Sum(exp(x_i)): "
             "V + Integral(psi, (s, 0, tau1(b1 - log V))) - theta", dfire_n)

    nn = sp.Symbol("n", positive=True, integer=True)
    comparisons = [
        compare("19", "eta(s)", sp.exp(S / win0.tau + win0.a), eta(S)),
        compare("19", "C (neuron total, n inputs)", nn * sp.exp(win0.a) / win0.d, nn * C),
        compare("19", "psi(s)", sp.exp(win1.b - S / win1.tau) / win1.tau, psi(S)),
    ]
    st.note(f"theta is not printed in eq. 19; derived theta = h^-1(b1) = exp(b1) = {sp.sstr(theta)}. "
            "Eq. 19 writes eta^(1)(x) for eta^(1)(s) and b for b^(1) (typesetting only)")
    return ProofResult(NAME, STATEMENT, st.lines, st.ok, comparisons)


if __name__ == "__main__":
    from ._common import main

    main(prove)
