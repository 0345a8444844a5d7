"""Softmax as two TTFS layers (Section 4.3.2, Appendix C.2, eq. 18, 20, 36-37).

Layer I: the log-sum-exp neuron of Theorem 4.6, y = log sum_j exp(x_j).
Layer II, neuron i: identity inputs x_i (weight 1, through a synaptic delay
of whole windows) and y (weight -1) give V = x_i - y (eq. 20); output
transform h = exp on a range [a, b] with a >= 0 (so h^-1 = log is defined on
(a, b]): Theorem 4.3 gives psi(s) = 1/(tau h'(log(b - s/tau))) =
1/(tau b - s) = 1/(T_ref - T_emit - s) and theta = log b, as printed in
eq. 36, and the spike stands for exp(x_i - y) = softmax_i (eq. 37).
Every kernel, constant and threshold is the library's
(``ttfs_symbolic.symbolic.derive.input_formulas`` / ``output_formulas``); proved for n = 3 and for general n
(a SymPy ``Sum`` over k = 1..n).

Run: ``python -m proofs.softmax``.
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
    derive_psi_inverse,
    derive_psi_printed,
    derive_theta,
    window,
)
from .multiplication import delayed
from .theorem_4_6 import check_lse

NAME = "softmax"
STATEMENT = (
    "Section 4.3.2 / Appendix C.2 (eq. 36-37): h = exp, psi(s) = 1/(T_ref - T_emit - s), "
    "theta = log b on layer II after the log-sum-exp neuron gives softmax_i = exp(x_i)/sum_j exp(x_j)."
)


def identity(v):
    return v


def exp_output(win):
    """Theorem 4.3 for h = exp (g = log): psi and theta."""
    return derive_psi_printed(sp.exp, sp.log, win), derive_theta(sp.log, win)


def prove() -> ProofResult:
    st = _Steps()
    w0, w1 = window("0"), window("1")
    w2 = window("2", a=sp.Symbol("a_2", nonnegative=True))  # softmax outputs lie in [0, 1]
    xs = list(sp.symbols("x1:4", real=True))   # n = 3 inputs

    ok, dV, dfire = check_lse(xs, w0, w1)
    st.check("layer I (Theorem 4.6), n = 3: the log-sum-exp neuron's potential V - sum_j exp(x_j)", dV)
    st.check("layer I: its spike stands for y = log sum_j exp(x_j) (firing residual)", dfire)
    y = sp.log(sum(sp.exp(x) for x in xs))

    psi, theta = exp_output(w2)
    st.check("h = exp: h(the library's theta) = b", sp.exp(theta) - w2.b)
    st.check("h = exp: psi(s) = 1/(tau h'(log(b - s/tau))) = 1/(T_ref - T_emit - s)",
             psi(S) - 1 / (w2.T_ref - w2.T_emit - S))
    st.check("psi equals g'(b - s/tau)/tau with g = log (inverse rule)", psi(S) - derive_psi_inverse(sp.log, w2)(S))

    Xg, Yg = sp.Symbol("X", real=True), sp.Symbol("Y", real=True)
    V_gen = accumulated_potential([
        Synapse(delayed(w0, 1), 1, derive_eta(identity, w0), derive_C(identity, 1, w0), Xg),
        Synapse(w1, -1, derive_eta(identity, w1), derive_C(identity, -1, w1), Yg),
    ])
    st.check("layer II: V = x_i - y (identity inputs, weights 1 and -1)", V_gen - (Xg - Yg))

    outs = []
    for i, x in enumerate(xs, start=1):
        V = V_gen.subs({Xg: x, Yg: y})
        value = sp.exp(V)
        ok, diff = check_output_transform(psi, theta, w2, V, value)
        st.check(f"neuron {i}: potential reaches theta exactly at the spike time of exp(x_{i} - y) "
                 "(firing residual)", diff)
        st.check(f"neuron {i}: exp(x_{i} - log sum_j exp(x_j)) = exp(x_{i})/sum_j exp(x_j) (eq. 37)",
                 value - sp.exp(x) / sum(sp.exp(xj) for xj in xs))
        outs.append(value)
    st.check("the n outputs sum to 1", sum(outs) - 1)

    # general n (SymPy Sum): layer I by Theorem 4.6 for n inputs, layer II per output i
    from .theorem_4_6 import check_lse_general, general_n_inputs

    ok, dV_n, dfire_n = check_lse_general(w0, w1)
    st.check("general n: layer I's potential V - Sum(exp(x_k), (k, 1, n))", dV_n)
    st.check("general n: layer I's spike stands for y = log Sum(exp(x_k), (k, 1, n)) (firing residual)", dfire_n)
    i, n, xi = general_n_inputs()
    k = sp.Symbol("k", integer=True, positive=True)
    den = sp.Sum(sp.exp(xi[k]), (k, 1, n))
    V_i = V_gen.subs({Xg: xi[i], Yg: sp.log(den)})
    ok, diff = check_output_transform(psi, theta, w2, V_i, sp.exp(V_i))
    st.check("general n, neuron i: potential reaches theta exactly at the spike time of exp(x_i - y) "
             "(firing residual)", diff)
    st.check("general n, neuron i: exp(x_i - y) = exp(x_i)/Sum(exp(x_k), (k, 1, n)) (eq. 37)",
             sp.exp(V_i) - sp.exp(xi[i]) / den)
    total = sp.simplify(sp.Sum(sp.exp(V_i), (i, 1, n)))
    st.check("general n: Sum(output_i, (i, 1, n)) = 1", total.xreplace({k: i}) - 1)

    comparisons = [
        compare("36", "psi^(2)(s)", 1 / (w2.T_ref - w2.T_emit - S), psi(S)),
        compare("36", "theta^(2)", sp.log(w2.b), theta),
    ]
    return ProofResult(NAME, STATEMENT, st.lines, st.ok, comparisons)


if __name__ == "__main__":
    from ._common import main

    main(prove)
