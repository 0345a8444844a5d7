"""Multiplication network (Section 4.3.4, eq. 24-27; Appendix C.1).

Two factors x1 in [a1, b1], x2 in [a2, b2], c_i = 1 - a_i (so x_i + c_i >= 1).

Layer I (one neuron): f_i(x) = log(x + c_i), weights 1. Theorem 4.1 gives
eta_i(s) = 1/(s/tau_i + a_i + c_i) = 1/(1 + s/tau_i) and per-synapse
constants log(a_i + c_i)/d_i = log(1)/d_i = 0; with the identity output
(no clipping assumed) y = log(x1 + c1) + log(x2 + c2).

Layer II (one neuron): y with f = exp (weight 1), x1 and x2 with the
identity transform (weights -c2 and -c1), reaching layer II through a
synaptic delay of whole windows. Theorem 4.1 gives the per-synapse
constants e^{a_y}/d_y, -c2 a1/d1, -c1 a2/d2, and V2 = x1 x2 + c1 c2. With
psi = 1/tau and theta derived from Theorem 4.3 for h(v) = v - c1 c2
(theta = b + c1 c2) the spike stands for x1 x2.

Matrix form (Appendix C.1): y_k for k = 1..K, one layer-II neuron sums the
K triples: V2 = sum_k A_ik B_kj + K c1 c2, theta = b + K c1 c2. Checked for
K = 3 and for symbolic K (IndexedBase, Sum).

Run: ``python -m proofs.multiplication``.
"""
from __future__ import annotations

import functools
from dataclasses import replace
from typing import Optional

import sympy as sp

from ._common import (
    S,
    Y,
    ProofResult,
    Synapse,
    Window,
    _Steps,
    _formulas,
    accumulated_potential,
    check_output_transform,
    compare,
    derive_C,
    derive_eta,
    derive_psi_printed,
    derive_theta,
    simplify_diff,
    synapse_potential,
    window,
)

NAME = "multiplication"
STATEMENT = (
    "Section 4.3.4 / Appendix C.1: layer I (f_i = log(x + c_i)) and layer II (exp of y, "
    "identity x1, x2 with weights -c2, -c1) give V2 = x1 x2 + c1 c2; identity output with "
    "theta = b + c1 c2 gives x1 x2; the K-term sum gives sum_k A_ik B_kj."
)


def log_shift(c):
    return lambda v: sp.log(v + c)


def identity(v):
    return v


def delayed(win: Window, windows: int = 2) -> Window:
    """The sender's window seen through a synaptic delay of whole windows."""
    return replace(win, T_emit=win.T_emit + windows * win.delta)


def layer_one_synapses(w1: Window, w2: Window, x1, x2, etas=None, Cs=None):
    c1, c2 = 1 - w1.a, 1 - w2.a
    fs = [log_shift(c1), log_shift(c2)]
    wins = [w1, w2]
    etas = [derive_eta(f, w) for f, w in zip(fs, wins)] if etas is None else etas
    Cs = [derive_C(f, 1, w) for f, w in zip(fs, wins)] if Cs is None else Cs
    return [Synapse(w, 1, e, C, x) for w, e, C, x in zip(wins, etas, Cs, (x1, x2))]


def layer_two_synapses(wy: Window, w1: Window, w2: Window, y, x1, x2, Cs=None):
    """y (f = exp, w = 1), x1 (identity, w = -c2), x2 (identity, w = -c1); x delayed."""
    c1, c2 = 1 - w1.a, 1 - w2.a
    ws = [sp.Integer(1), -c2, -c1]
    fs = [sp.exp, identity, identity]
    wins = [wy, delayed(w1), delayed(w2)]
    Cs = [derive_C(f, w, win) for f, w, win in zip(fs, ws, wins)] if Cs is None else Cs
    return [Synapse(win, w, derive_eta(f, win), C, x) for win, w, f, C, x in zip(wins, ws, fs, Cs, (y, x1, x2))]


def product_network(w1: Window, w2: Window, wy: Window, layer_two_C: Optional[tuple] = None):
    """Layer I value y and layer II potential V2 for in-range factors.

    Factors are written x_i = a_i + q_i with q_i >= 0 (x_i in [a_i, b_i]);
    layer I's identity output does not clip (y = V1). Returns
    (x1, x2, y, V2). ``layer_two_C`` (three per-synapse constants) replaces
    the derived constants of layer II. Cached per library formula functions,
    so a patched library (tests) is never answered from an earlier result.
    """
    return _product_network(w1, w2, wy, layer_two_C, _formulas().input_formulas)


@functools.lru_cache(maxsize=None)
def _product_network(w1: Window, w2: Window, wy: Window, layer_two_C, _input_formulas):
    q1, q2 = sp.Symbol("q1", nonnegative=True), sp.Symbol("q2", nonnegative=True)
    x1, x2 = w1.a + q1, w2.a + q2
    y = accumulated_potential(layer_one_synapses(w1, w2, x1, x2))
    Cs = None if layer_two_C is None else list(layer_two_C)
    V2 = accumulated_potential(layer_two_synapses(wy, w1, w2, y, x1, x2, Cs))
    return x1, x2, y, V2


def identity_output(win: Window):
    """The library's (psi, theta) for the identity output h(v) = v (Corollary 4.4)."""
    return derive_psi_printed(identity, identity, win), derive_theta(identity, win)


def shifted_output(win: Window, shift):
    """The library's (psi, theta) for h(v) = v - shift, g(y) = y + shift (Theorem 4.3, eq. 13)."""
    h = lambda v: v - shift  # noqa: E731
    g = lambda y: y + shift  # noqa: E731
    return derive_psi_printed(h, g, win), derive_theta(g, win)


def check_product(w1, w2, wy, wo, layer_two_C=None, theta=None) -> tuple[bool, sp.Expr, sp.Expr]:
    """(holds, V2 - (x1 x2 + c1 c2), firing residual for the value x1 x2).

    Pass ``layer_two_C`` (three per-synapse constants) or ``theta`` to test
    other ingredients.
    """
    x1, x2, _, V2 = product_network(w1, w2, wy, None if layer_two_C is None else tuple(layer_two_C))
    c1, c2 = 1 - w1.a, 1 - w2.a
    dV = simplify_diff(V2 - (x1 * x2 + c1 * c2))
    psi, lib_theta = shifted_output(wo, c1 * c2)
    theta = lib_theta if theta is None else theta
    ok_fire, dfire = check_output_transform(psi, theta, wo, V2, x1 * x2)
    return dV == 0 and ok_fire, dV, dfire


def prove() -> ProofResult:
    st = _Steps()
    w1, w2, wy, wo = window("1"), window("2"), window("y"), window("o")
    c1, c2 = 1 - w1.a, 1 - w2.a
    x1, x2, y, V2 = product_network(w1, w2, wy)
    q1, q2 = x1 - w1.a, x2 - w2.a
    st.note("factors x_i = a_i + q_i, q_i >= 0 (x_i in [a_i, b_i]), c_i = 1 - a_i so x_i + c_i = 1 + q_i > 0")

    # layer I
    syn1 = layer_one_synapses(w1, w2, x1, x2)
    for i, (syn, w) in enumerate(zip(syn1, (w1, w2)), start=1):
        st.check(f"layer I, input {i}: eta(s) = f'(s/tau + a) = 1/(1 + s/tau)", syn.eta(S) - 1 / (1 + S / w.tau))
        st.check(f"layer I, input {i}: per-synapse C = log(a + c)/d = 0", syn.C)
    st.check("layer I: the network's y is this neuron's potential", y - accumulated_potential(syn1))
    st.check("layer I: V1(T_emit) = log(x1 + c1) + log(x2 + c2)", y - (sp.log(x1 + c1) + sp.log(x2 + c2)))
    ok, dy = check_output_transform(*identity_output(wy), wy, y, y)
    st.check("layer I, the library's identity output (psi = 1/tau, theta = b), no clipping: the spike stands for "
             "y = V1 (firing residual)", dy)

    # layer II
    syn2 = layer_two_synapses(wy, w1, w2, y, x1, x2)
    st.note("layer II per-synapse constants (Theorem 4.1, sender's a and d): "
            + ", ".join(sp.sstr(s.C) for s in syn2))
    st.check("a synaptic delay of whole windows leaves an input's contribution unchanged",
             synapse_potential(syn2[1]) - synapse_potential(Synapse(w1, -c2, syn2[1].eta, syn2[1].C, x1)))
    ok, dV, dfire = check_product(w1, w2, wy, wo)
    st.check("layer II: V2 - (x1 x2 + c1 c2)", dV)
    st.check("layer II, the library's output kernels for h(v) = v - c1 c2: the spike stands for x1 x2 "
             "(firing residual)", dfire)
    K0 = sp.Symbol("K0", real=True)
    h = lambda v: v - K0  # noqa: E731
    g = lambda v: v + K0  # noqa: E731
    psi_K0, theta_K0 = shifted_output(wo, K0)
    st.check("Theorem 4.3 with h(v) = v - K0 and g(y) = y + K0: h(g(y)) = y", h(g(Y)) - Y)
    st.check("h(v) = v - K0: the library's psi = 1/(tau h'(g(b - s/tau))) = 1/tau", psi_K0(S) - 1 / wo.tau)
    st.check("h(v) = v - K0: h(the library's theta) = b, so theta = h^-1(b) = b + K0", h(theta_K0) - wo.b)

    # matrix form: one layer-II neuron sums K triples (y_k, A_k, B_k)
    X1, X2, Yg = sp.Symbol("X1", real=True), sp.Symbol("X2", real=True), sp.Symbol("Y", real=True)
    triple = accumulated_potential(layer_two_synapses(wy, w1, w2, Yg, X1, X2))
    st.check("one triple (y, x1, x2) of layer II contributes exp(y) - c2 x1 - c1 x2 (generic values)",
             triple - (sp.exp(Yg) - c2 * X1 - c1 * X2))
    y_of = sp.Lambda((X1, X2), y.subs({q1: X1 - w1.a, q2: X2 - w2.a}))
    st.note(f"layer I value of a pair (X1, X2): y = {sp.sstr(sp.simplify(y_of(X1, X2)))}")

    # K = 3, factors in range: A_k = a1 + p_k, B_k = a2 + r_k
    K = 3
    As = [w1.a + sp.Symbol(f"p{k}", nonnegative=True) for k in range(1, K + 1)]
    Bs = [w2.a + sp.Symbol(f"r{k}", nonnegative=True) for k in range(1, K + 1)]
    V2K = sum(triple.subs({Yg: y_of(A, B), X1: A, X2: B}) for A, B in zip(As, Bs))
    dot = sum(A * B for A, B in zip(As, Bs))
    st.check("K = 3: V2 = sum_k A_ik B_kj + K c1 c2", V2K - (dot + K * c1 * c2))
    ok, dfire = check_output_transform(*shifted_output(wo, K * c1 * c2), wo, V2K, dot)
    st.check("K = 3: the library's output kernels for h(v) = v - K c1 c2 give the spike value sum_k A_ik B_kj "
             "(firing residual)", dfire)

    # symbolic K
    k, Ks = sp.Symbol("k", integer=True, positive=True), sp.Symbol("K", integer=True, positive=True)
    Ai, Bi = sp.IndexedBase("A", real=True), sp.IndexedBase("B", real=True)
    summand = triple.subs({Yg: y_of(Ai[k], Bi[k]), X1: Ai[k], X2: Bi[k]})
    V2_Ks = sp.Sum(summand, (k, 1, Ks))
    dot_Ks = sp.Sum(Ai[k] * Bi[k], (k, 1, Ks))
    st.check("symbolic K: Sum(contribution of triple k, (k, 1, K)) = Sum(A_k B_k, (k, 1, K)) + K c1 c2",
             V2_Ks - (dot_Ks + Ks * c1 * c2))
    ok, dfire = check_output_transform(*shifted_output(wo, Ks * c1 * c2), wo, V2_Ks, dot_Ks)
    st.check("symbolic K: the library's output kernels for h(v) = v - K c1 c2 give the spike value "
             "Sum(A_k B_k, (k, 1, K)) (firing residual)", dfire)

    # --- printed equations 24-27 and C.1 (one factor range [a0, b0], c = 1 - a0)
    w0, w1p, w2p = window("0"), window("1"), window("2")
    c = 1 - w0.a
    comparisons = []
    eta_I = derive_eta(log_shift(c), w0)(S)
    comparisons.append(compare("24", "eta^(1)(s), first form", 1 / (S / w0.tau + w0.a + c), eta_I))
    comparisons.append(compare("24", "eta^(1)(s), second form", 1 / (1 + S / w0.tau), eta_I))
    comparisons.append(compare("24", "C^(1) (two synapses)", 0, 2 * derive_C(log_shift(c), 1, w0),
                               "0 because log(a0 + c) = log 1 = 0"))
    comparisons.append(compare("26", "eta_0^(2)(s)", sp.exp(S / w1p.tau + w1p.a), derive_eta(sp.exp, w1p)(S)))
    C2_derived = derive_C(sp.exp, 1, w1p) + 2 * derive_C(identity, -c, w0)
    C2_printed = sp.exp(w1p.a) / w1p.d + 2 * c * w1p.a / w1p.d
    cmp27 = compare("27", "C^(2)", C2_printed, C2_derived,
                    "x1, x2 come from layer 0: their constants are -c a0/d0 each; printed has the opposite "
                    "sign and layer 1's a, d")
    comparisons.append(cmp27)
    dd = sp.Symbol("d", positive=True)
    shift = simplify_diff(dd * cmp27.difference.subs({w0.d: dd, w1p.d: dd}))
    st.note(f"eq. 27: printed C2 - derived C2 = {sp.sstr(cmp27.difference)}; with one d for all windows the "
            f"printed C2 shifts V2 by d*(difference) = {sp.sstr(shift)} (zero only if a0 = -a1 or c = 0)")
    for i, printed_w in enumerate((1, -c, -c)):
        comparisons.append(compare("27", f"w_{i}^(2)", printed_w, syn2[i].w.subs({w1.a: w0.a, w2.a: w0.a})))
    theta_derived = w2p.b + c**2
    theta_printed = w2p.b - c**2
    comparisons.append(compare("Sec. 4.3.4", "theta^(2)", theta_printed, theta_derived,
                               "with the printed theta the spike stands for V2 + b - theta = x1 x2 + 2c^2"))
    # what the printed threshold makes the neuron emit
    ok_p, _, dfire_p = check_product(w1, w2, wy, wo, theta=wo.b - c1 * c2)
    st.check("the printed theta^(2) = b - c1 c2 does NOT give x1 x2: at the spike time of x1 x2 the potential "
             "exceeds it by exactly 2 c1 c2 (> 0: the spike stands for x1 x2 + 2 c1 c2 or clips at b)",
             dfire_p - 2 * c1 * c2)
    Kc = sp.Symbol("K", integer=True, positive=True)
    comparisons.append(compare("C.1", "theta^(2), K terms", w2p.b - Kc * c**2, w2p.b + Kc * c**2))
    return ProofResult(NAME, STATEMENT, st.lines, st.ok, comparisons)


if __name__ == "__main__":
    from ._common import main

    main(prove)
