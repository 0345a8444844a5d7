"""Corollary 4.2 (eq. 10-11): the identity input transform.

Theorem 4.1 with f(x) = x gives eta(s) = f'(s/tau + a) = 1 for s >= 0 (0
before: eta(s) = Heaviside(s)) and C = sum_j a w_j/d, hence
V(T_emit) = sum_j w_j x_j.

The printed eq. 10 writes eta(s) = H(s/tau + a). Under the causal
convention of eq. 6 (eta = 0 for s < 0) that equals 1 on s >= 0 only when
a >= 0; for a < 0 it is 0 on [0, -a*tau). This module integrates the printed
kernel for a concrete a < 0 (a = -1, b = 1) and reports the difference
from x - a; it also integrates the literal (non-causal) reading for a > 0.

Run: ``python -m proofs.corollary_4_2``.
"""
from __future__ import annotations

import sympy as sp

from ._common import (
    S,
    ProofResult,
    Synapse,
    _Steps,
    compare,
    derive_C,
    derive_eta,
    simplify_diff,
    synapse_potential,
    window,
    T,
)
from .theorem_4_1 import check_accumulated, check_accumulated_general

NAME = "corollary_4_2"
STATEMENT = (
    "Corollary 4.2 (eq. 10-11): f(x) = x in Theorem 4.1 gives eta(s) = 1 for s >= 0, "
    "C = sum_j a w_j/d and V(T_emit) = sum_j w_j x_j."
)


def identity(v):
    return v


def printed_eta(win):
    """eta(s) = H(s/tau + a) as printed in eq. 10."""
    return sp.Lambda(S, sp.Heaviside(S / win.tau + win.a))


def prove() -> ProofResult:
    st = _Steps()
    win = window("s")
    eta = derive_eta(identity, win)
    st.check("f(x) = x: eta(s) = f'(s/tau + a) = 1 for s >= 0 (eta = Heaviside(s) with eta(s<0) = 0)",
             eta(S) - 1)
    C_one = derive_C(identity, sp.Symbol("w", real=True), win)
    st.check("per-synapse constant w f(a)/d = a w/d", C_one - win.a * sp.Symbol("w", real=True) / win.d)

    ws = list(sp.symbols("w1:4", real=True))
    xs = list(sp.symbols("x1:4", real=True))
    fs = [identity] * 3   # the library's eta (= 1, causal: only evaluated for s >= 0) and C = a w_j/d
    ok, diff = check_accumulated(win, fs, ws, xs)
    st.check("V(T_emit) - sum_j w_j x_j with the library's eta and C = sum_j a w_j/d", diff)
    ok, diff = check_accumulated(win, fs, ws, [xs[0], None, xs[2]])
    st.check("x_2 silent: V(T_emit) - (w1 x1 + w2 a + w3 x3)", diff)
    ok, diff = check_accumulated_general(win, f=identity)
    st.check("general n: V(T_emit) - Sum(w_j x_j, (j, 1, n))", diff)

    comparisons = [compare(
        "10", "eta(s) for s >= 0 (general a)", printed_eta(win)(S), eta(S),
        "H(s/tau + a) = 1 on s >= 0 iff a >= 0; for a < 0 it is 0 on [0, -a*tau)")]
    # a value in (a, b] written x = a + d*p with p > 0 (x = a is the silent input)
    p = sp.Symbol("p", positive=True)

    # --- printed eq. 10 kernel, causal reading (eta(s<0) = 0), a = -1, b = 1
    neg = window("n", a=-1, d=2)
    x = neg.a + neg.d * p
    part = simplify_diff(synapse_potential(Synapse(neg, 1, printed_eta(neg), 0, x)))
    gap = simplify_diff(part - (x - neg.a))
    samples = [gap.subs(p, v) for v in (sp.Rational(1, 4), sp.Rational(1, 2), sp.Rational(3, 4))]
    st.note(f"printed eta = H(s/tau + a), a = -1, b = 1, x = -1 + 2p (causal reading): "
            f"(1/tau) Integral(eta(t - t_j), (t, t_j, T_end)) = {sp.sstr(part)}; "
            f"Theorem 4.1 needs x - a = {sp.sstr(x - neg.a)}; difference = {sp.sstr(gap)}, "
            f"at x = -1/2, 0, 1/2: {sp.sstr(samples)}")
    st.require("the printed kernel of eq. 10 violates Theorem 4.1 for a = -1 (difference at x = 1/2 nonzero)",
               sp.Ne(samples[2], 0))
    comparisons.append(compare(
        "10", "(1/tau) int eta(t - t_j) dt with the printed kernel, a = -1, b = 1, x = -1 + 2p", part, x - neg.a,
        "the printed kernel reads x < 0 as 0 and x >= 0 as x, instead of x - a"))

    # --- printed kernel, causal reading, a = 1/2 >= 0: equal
    pos = window("p", a=sp.Rational(1, 2), d=sp.Rational(1, 2))
    x = pos.a + pos.d * p
    part_pos = simplify_diff(synapse_potential(Synapse(pos, 1, printed_eta(pos), 0, x)))
    st.check(f"a = 1/2, b = 1, x = 1/2 + p/2, causal reading: integral = {sp.sstr(part_pos)} = x - a",
             part_pos - (x - pos.a))
    comparisons.append(compare(
        "10", "(1/tau) int eta(t - t_j) dt with the printed kernel, a = 1/2, b = 1, causal reading",
        part_pos, x - pos.a, "equal: for a >= 0 the printed kernel is 1 on s >= 0"))

    # --- literal reading for a > 0: H(s/tau + a) is 1 on (-a*tau, 0) too
    u = sp.Symbol("u", real=True)
    t_j = pos.spike_time(x)
    literal = sp.Integral(printed_eta(pos)(T - t_j), (T, pos.T_emit, pos.T_end))
    lit_val = simplify_diff(literal.transform(T, (t_j + pos.tau * (u - pos.a), u)).doit() / pos.tau)
    st.note(f"literal reading (kernel not cut at s < 0), a = 1/2, b = 1, x = 1/2 + p/2: "
            f"(1/tau) Integral over [T_emit, T_end] = {sp.sstr(lit_val)} for every x (value lost)")
    comparisons.append(compare(
        "10", "(1/tau) int eta dt with the printed kernel, a = 1/2, b = 1, literal reading (active before the spike)",
        lit_val, x - pos.a, "the literal kernel adds min(a, b - x)"))
    comparisons.append(compare("10", "C (per synapse)", win.a * sp.Symbol("w", real=True) / win.d, C_one))
    return ProofResult(NAME, STATEMENT, st.lines, st.ok, comparisons)


if __name__ == "__main__":
    from ._common import main

    main(prove)
