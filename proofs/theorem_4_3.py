"""Theorem 4.3 (eq. 13-14): the output transform kernel psi realises any monotone h.

With g = h^-1, psi(s) = 1/(tau h'(g(b - s/tau))) = g'(b - s/tau)/tau
(inverse-function rule g'(y) = 1/h'(g(y)), eq. 31) and theta = g(b):
int_0^sigma psi = g(b) - g(b - sigma/tau), so the potential V + int psi
reaches theta when g(b - sigma/tau) = V, i.e. the spike at T_emit + sigma
stands for x = b - sigma/tau = h(V) (eq. 32-34). Clipping (eq. 35): V >= g(b)
fires at T_emit (value b); V < g(a) stays below theta up to T_end (value a).

g (and h) are undefined SymPy functions in the general proof; the equality
of the printed psi with the g' form is also checked for h = exp, h = log and
h = x**3 + x (explicit Cardano inverse, positive range).

Run: ``python -m proofs.theorem_4_3``.
"""
from __future__ import annotations

from typing import Callable

import sympy as sp

from ._common import (
    S,
    SIGMA,
    Y,
    ProofResult,
    Window,
    _Steps,
    check_output_transform,
    derive_psi_inverse,
    derive_psi_printed,
    psi_integral,
    window,
)

NAME = "theorem_4_3"
STATEMENT = (
    "Theorem 4.3 (eq. 13-14): psi(s) = 1/(tau h'(h^-1(b - s/tau))), theta = h^-1(b) => "
    "the output spike stands for clip(h(V(T_emit)), a, b)."
)


def check_general(psi: Callable, theta, win: Window, g: Callable) -> tuple[bool, sp.Expr]:
    """Firing check for an undefined g: V = g(x*) must fire exactly at the time of x*.

    Every V in g((a, b]) is g(x*) for one x* in (a, b] (g is a bijection), and
    then h(V) = h(g(x*)) = x*; so the theorem's middle case is: the potential
    V + int_0^sigma psi reaches theta at sigma* = tau*(b - x*).
    """
    xs = sp.Symbol("x_star", real=True)
    return check_output_transform(psi, theta, win, g(xs), xs)


def inverse_rule(h: Callable, g: Callable) -> sp.Expr:
    """g'(y) solved from d/dy h(g(y)) = 1 (eq. 31)."""
    dg = sp.Derivative(g(Y), Y)
    chain = sp.diff(h(g(Y)), Y)
    sol = sp.solve(sp.Eq(chain, 1), dg)
    if len(sol) != 1:
        raise ValueError(f"inverse rule: expected one solution for g'(y), got {sol}")
    return sol[0]


def cubic_inverse(y):
    """Real inverse of h(x) = x**3 + x (Cardano, one real root): A - 1/(3A)."""
    A = sp.cbrt(y / 2 + sp.sqrt(y**2 / 4 + sp.Rational(1, 27)))
    return A - 1 / (3 * A)


#: concrete (h, g, range, integrate printed psi directly?) rows: g = h^-1 on the range.
#: For x**3 + x SymPy cannot integrate the printed psi in closed form; its
#: firing check is the general one (g undefined) plus the equality of the
#: printed psi with g'(b - s/tau)/tau proved here.
EXAMPLES = {
    "exp": (sp.exp, sp.log, "positive", True),
    "log": (sp.log, sp.exp, "real", True),
    "x**3 + x": (lambda v: v**3 + v, cubic_inverse, "positive", False),
}


def check_concrete(label: str, st: _Steps) -> None:
    h, g, kind, direct = EXAMPLES[label]
    a = sp.Symbol(f"a_{kind}", positive=True) if kind == "positive" else None
    win = window("h", a=a)
    ys = sp.Symbol("y", positive=True) if kind == "positive" else Y
    st.check(f"h = {label}: h(g(y)) = y on the range", h(g(ys)) - ys)
    printed = derive_psi_printed(h, g, win)(S)
    inverse = derive_psi_inverse(g, win)(S)
    st.check(f"h = {label}: printed psi {sp.sstr(sp.simplify(printed))} = g'(b - s/tau)/tau",
             printed - inverse)
    if not direct:
        st.note(f"h = {label}: firing follows from the general case (g undefined) and the psi equality above")
        return
    xs = sp.Symbol("x_star", positive=True) if kind == "positive" else sp.Symbol("x_star", real=True)
    ok, diff = check_output_transform(sp.Lambda(S, printed), g(win.b), win, g(xs), xs)
    st.require(f"h = {label}: with the printed psi and theta = g(b), V = g(x*) fires at T_emit + tau(b - x*) "
               f"(residual {sp.sstr(diff)})", ok)


def prove() -> ProofResult:
    st = _Steps()
    win = window("r")  # the receiver's window
    g = sp.Function("g")
    h = sp.Function("h")

    # inverse-function rule, general
    rule = inverse_rule(h, g)
    st.note(f"d/dy h(g(y)) = 1 => g'(y) = {sp.sstr(rule)} (eq. 31)")
    psi = derive_psi_inverse(g, win)
    printed = derive_psi_printed(h, g, win)
    via_rule = rule.subs(Y, win.b - S / win.tau) / win.tau
    st.check("printed psi(s) = 1/(tau h'(g(b - s/tau))) equals g'(b - s/tau)/tau by the inverse rule",
             printed(S) - via_rule)

    # integral of psi
    sigma = SIGMA
    integral = psi_integral(psi, win, sigma, st)
    st.check("Integral(psi, (s, 0, sigma)) = g(b) - g(b - sigma/tau)",
             integral - (g(win.b) - g(win.b - sigma / win.tau)))
    V = sp.Symbol("V", real=True)
    potential = V + integral
    st.check("d/dsigma [V + Integral(psi, (s, 0, sigma))] = psi(sigma) (> 0 as g is increasing: "
             "the potential crosses theta at most once)", sp.diff(potential, sigma) - psi(sigma))

    # firing case
    theta = g(win.b)
    ok, diff = check_general(psi, theta, win, g)
    st.require(f"theta = g(b), V = g(x*): V + Integral(psi, (s, 0, tau(b - x*))) - theta = {sp.sstr(diff)}; "
               f"so g(b - sigma*/tau) = V, b - sigma*/tau = h(V)", ok)
    xs = sp.Symbol("x_star", real=True)
    t_spike = win.spike_time(xs)
    st.check("the spike at T_emit + sigma*, sigma* = tau(b - x*), stands for (T_ref - t)/tau = x* = h(g(x*)) = h(V)",
             win.value(t_spike) - xs)
    st.check("T_end - (T_emit + sigma*) = tau(x* - a): inside [T_emit, T_end) iff x* in (a, b]",
             win.T_end - t_spike - win.tau * (xs - win.a))

    # clipping
    eps = sp.Symbol("epsilon", nonnegative=True)
    at_emit = (g(win.b) + eps) + psi_integral(psi, win, 0) - theta
    st.require(f"V = g(b) + eps (h(V) >= b): potential at T_emit - theta = {sp.sstr(sp.simplify(at_emit))} >= 0, "
               "fires at T_emit", sp.simplify(at_emit).is_nonnegative)
    st.check("a spike at T_emit stands for (T_ref - T_emit)/tau = b", win.value(win.T_emit) - win.b)
    eps_pos = sp.Symbol("epsilon", positive=True)
    at_end = (g(win.a) - eps_pos) + psi_integral(psi, win, win.delta) - theta
    st.require(f"V = g(a) - eps (h(V) < a): potential at T_end - theta = {sp.sstr(sp.simplify(at_end))} < 0; "
               "the potential increases, so it stays below theta: no spike, value a",
               sp.simplify(at_end).is_negative)

    # concrete h
    for label in EXAMPLES:
        check_concrete(label, st)
    return ProofResult(NAME, STATEMENT, st.lines, st.ok)


if __name__ == "__main__":
    from ._common import main

    main(prove)
