"""Theorem 4.1 (eq. 8-9): the input transform kernel eta realises any f.

With eta(s) = f'(s/tau + a) for s >= 0 (0 before) and the per-synapse
constant w*f(a)/d, all in the sender's window, one input spike at
t_j = T_ref - tau*x contributes (1/tau) int_{t_j}^{T_end} eta(t - t_j) dt
= f(x) - f(a), and the accumulated potential is sum_j w_j f_j(x_j); a
silent input (no spike) contributes w f(a), i.e. stands for a.

f is an undefined SymPy function: the statement is proved for every
differentiable f, not for examples. eta and C are the library's own
(``ttfs_symbolic.symbolic.derive.input_formulas``, what ``derive_input``
computes; the model's ``InputKernel`` is proved in ``proofs.library``), for
n = 1, 2, 3 and for general n (a SymPy ``Sum`` over inputs j with their own
undefined f_j).

Run: ``python -m proofs.theorem_4_1``.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import sympy as sp

from ._common import (
    ProofResult,
    Synapse,
    Window,
    _Steps,
    derive_C,
    derive_eta,
    simplify_diff,
    synapse_potential,
    window,
)

NAME = "theorem_4_1"
STATEMENT = (
    "Theorem 4.1 (eq. 8-9): eta(s) = f'(s/tau + a) (s >= 0), C = sum_j w_j f_j(a)/d, "
    "sender's window => (1/tau) int_{t_j}^{T_end} eta(t - t_j) dt = f(x_j) - f(a) and "
    "V(T_emit) = sum_j w_j f_j(x_j); a silent input contributes w f(a)."
)


def check_accumulated(
    win: Window,
    fs: Sequence[Callable],
    ws: Sequence[sp.Expr],
    xs: Sequence[Optional[sp.Expr]],
    etas: Optional[Sequence[Callable]] = None,
    Cs: Optional[Sequence[sp.Expr]] = None,
) -> tuple[bool, sp.Expr]:
    """V(T_emit) - sum_j w_j f_j(x_j or a) == 0 for the given ingredients.

    ``etas``/``Cs`` default to the derived kernels/constants of eq. 8; pass
    others to see the check fail.
    """
    etas = [derive_eta(f, win) for f in fs] if etas is None else etas
    Cs = [derive_C(f, w, win) for f, w in zip(fs, ws)] if Cs is None else Cs
    synapses = [Synapse(win, w, eta, C, x, f) for f, w, eta, C, x in zip(fs, ws, etas, Cs, xs)]
    V = sum(synapse_potential(syn) for syn in synapses)
    target = sum(w * f(win.a if x is None else x) for f, w, x in zip(fs, ws, xs))
    diff = simplify_diff(V - target)
    return diff == 0, diff


def check_accumulated_general(win: Window, silent_from: bool = False, f: Optional[Callable] = None,
                              **ingredients) -> tuple[bool, sp.Expr]:
    """General n (SymPy Sum): V(T_emit) - Sum(w_j f_j(x_j), (j, 1, n)), with f_j(x) = F(j, x) undefined.

    ``silent_from``: inputs m+1..n (m <= n symbolic) are silent and stand for
    a. ``f`` (one f for every input) replaces the undefined f_j.
    ``ingredients`` may replace ``eta`` (a callable of j) or ``C`` (of j) to
    see the check fail.
    """
    F = sp.Function("F") if f is None else (lambda jj, v: f(v))
    j = sp.Symbol("j", integer=True, positive=True)
    n, m = sp.Symbol("n", integer=True, positive=True), sp.Symbol("m", integer=True, positive=True)
    w, x = sp.IndexedBase("w", real=True), sp.IndexedBase("x", real=True)

    def f_j(v):
        return F(j, v)

    eta = ingredients.get("eta", lambda jj: derive_eta(f_j, win))(j)
    C = ingredients.get("C", lambda jj: derive_C(f_j, w[j], win))(j)
    spiking = synapse_potential(Synapse(win, w[j], eta, C, x[j]))
    if not silent_from:
        diff = simplify_diff(sp.Sum(spiking, (j, 1, n)) - sp.Sum(w[j] * F(j, x[j]), (j, 1, n)))
        return diff == 0, diff
    silent = synapse_potential(Synapse(win, w[j], eta, C, None))
    V = sp.Sum(spiking, (j, 1, m)) + sp.Sum(silent, (j, m + 1, n))
    target = sp.Sum(w[j] * F(j, x[j]), (j, 1, m)) + sp.Sum(w[j] * F(j, win.a), (j, m + 1, n))
    diff = simplify_diff(V - target)
    return diff == 0, diff


def prove() -> ProofResult:
    st = _Steps()
    win = window("s")  # the sender's window
    f = sp.Function("f")
    x = sp.Symbol("x", real=True)
    st.note(f"sender window: a, d = b - a > 0, tau = delta/d = {sp.sstr(win.tau)}, "
            f"T_ref = T_emit + b*tau, T_end = T_emit + delta")

    # where the spike lies in the window
    t_j = win.spike_time(x)
    st.check("t_j - T_emit = tau*(b - x) >= 0 for x <= b", t_j - win.T_emit - win.tau * (win.b - x))
    st.check("T_end - t_j = tau*(x - a) >= 0 for x >= a, so eta(t - t_j) vanishes on [T_emit, t_j)",
             win.T_end - t_j - win.tau * (x - win.a))

    # one synapse, undefined f
    eta = derive_eta(f, win)
    st.note(f"eta(s) = f'(s/tau + a) = {sp.sstr(eta(sp.Symbol('s')))}")
    single = Synapse(win, sp.Integer(1), eta, sp.Integer(0), x, f)
    part = synapse_potential(single, st)
    st.check("(1/tau) Integral(eta(t - t_j), (t, t_j, T_end)) = f(x) - f(a)", part - (f(x) - f(win.a)))

    C1 = derive_C(f, 1, win)
    const = synapse_potential(Synapse(win, 1, eta, C1, None, f))
    st.check("(1/tau) Integral(f(a)/d, (t, T_emit, T_end)) = (delta/tau) f(a)/d = f(a)", const - f(win.a))

    # n = 3 generic inputs, different f_j, weight symbols
    fs = [sp.Function(f"f{j}") for j in (1, 2, 3)]
    ws = list(sp.symbols("w1:4", real=True))
    xs = list(sp.symbols("x1:4", real=True))
    ok, diff = check_accumulated(win, fs, ws, xs)
    st.check("n = 3 spiking inputs: V(T_emit) - sum_j w_j f_j(x_j)", diff)

    # a silent third input: only C_3 = w_3 f_3(a)/d, value a
    ok, diff = check_accumulated(win, fs, ws, [xs[0], xs[1], None])
    st.check("x_3 silent (no spike): V(T_emit) - (w1 f1(x1) + w2 f2(x2) + w3 f3(a))", diff)

    # general n: input j has its own undefined f_j(x) = F(j, x), weight w_j, value x_j (SymPy Sum)
    ok, diff = check_accumulated_general(win)
    st.check("general n: V(T_emit) - Sum(w_j f_j(x_j), (j, 1, n)) (f_j(x) = F(j, x) undefined; the library's "
             "eta and C of each f_j)", diff)
    ok, diff = check_accumulated_general(win, silent_from=True)
    st.check("general n, inputs m+1..n silent: V(T_emit) - (Sum(w_j f_j(x_j), (j, 1, m)) + "
             "Sum(w_j f_j(a), (j, m + 1, n)))", diff)

    C_total = sum(derive_C(fj, wj, win) for fj, wj in zip(fs, ws))
    st.note(f"neuron constant of eq. 8 (the library's f(a)/d per synapse): C = sum_j w_j f_j(a)/d = "
            f"{sp.sstr(C_total)}")
    return ProofResult(NAME, STATEMENT, st.lines, st.ok)


if __name__ == "__main__":
    from ._common import main

    main(prove)
