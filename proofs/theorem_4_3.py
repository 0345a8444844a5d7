"""Theorem 4.3 (eq. 13-14): the output transform kernel psi realises any monotone h.

With g = h^-1, psi(s) = 1/(tau h'(g(b - s/tau))) = g'(b - s/tau)/tau
(inverse-function rule g'(y) = 1/h'(g(y)), eq. 31) and theta = g(b):
int_0^sigma psi = g(b) - g(b - sigma/tau), so the potential V + int psi
reaches theta when g(b - sigma/tau) = V, i.e. the spike at T_emit + sigma
stands for x = b - sigma/tau = h(V) (eq. 32-34). Clipping (eq. 35): V >= g(b)
fires at T_emit (value b); V < g(a) stays below theta up to T_end (value a).

g (and h) are undefined SymPy functions in the general proof; psi, theta and
the silent bound h^-1(a) are the library's own
(``ttfs_symbolic.symbolic.derive.input_formulas`` / ``output_formulas``, what ``derive_output`` returns for a
closed-form inverse). The library's psi is also checked against the g' form
for h = exp, h = log and h = x**3 + x (explicit Cardano inverse, positive
range).

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
    apply_inverse_rule,
    derivative,
    check_output_transform,
    derive_psi_inverse,
    derive_psi_printed,
    derive_theta,
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
    u = win.b - S / win.tau
    hprime_at_g = derivative(h)(g(u))
    st.check(f"h = {label}: the library's psi is eq. 13's: tau psi(s) h'(g(b - s/tau)) = 1",
             win.tau * printed * hprime_at_g - 1)
    st.check(f"h = {label}: inverse rule: 1/(tau h'(g(b - s/tau))) = g'(b - s/tau)/tau",
             1 / (win.tau * hprime_at_g) - derive_psi_inverse(g, win)(S))
    theta = derive_theta(g, win)
    st.check(f"h = {label}: h(the library's theta) = b", h(theta) - win.b)
    if not direct:
        st.note(f"h = {label}: firing follows from the general case (g undefined) and the psi equality above")
        return
    xs = sp.Symbol("x_star", positive=True) if kind == "positive" else sp.Symbol("x_star", real=True)
    ok, diff = check_output_transform(sp.Lambda(S, printed), theta, win, g(xs), xs)
    st.check(f"h = {label}: with the library's psi and theta, V = g(x*) fires at T_emit + tau(b - x*): "
             "V + Integral(psi, (s, 0, tau(b - x*))) - theta", diff)


def library_kernels(win: Window, h: Callable, g: Callable):
    """The library's (psi, theta, theta_low) for h with inverse g on ``win`` (eq. 13, 35).

    psi is the library's (``derive.output_formulas``) 1/(tau h'(g(b - s/tau)))
    with h'(g(u)) rewritten as 1/g'(u) (eq. 31, checked in :func:`prove`),
    so that it can be integrated for an undefined g.
    """
    psi = derive_psi_printed(h, g, win)
    psi = sp.Lambda(S, apply_inverse_rule(psi(S), h, g))
    return psi, derive_theta(g, win), derive_theta(g, win, low=True)


def prove() -> ProofResult:
    st = _Steps()
    win = window("r")  # the receiver's window
    g = sp.Function("g")
    h = sp.Function("h")

    # inverse-function rule, general
    rule = inverse_rule(h, g)
    st.note(f"d/dy h(g(y)) = 1 => g'(y) = {sp.sstr(rule)} (eq. 31)")
    lib_psi = derive_psi_printed(h, g, win)
    st.note(f"the library's psi (derive.output_formulas, what derive_output returns): "
            f"psi(s) = {sp.sstr(lib_psi(S))}")
    via_rule = rule.subs(Y, win.b - S / win.tau) / win.tau
    st.check("the library's psi(s) = 1/(tau h'(g(b - s/tau))) equals g'(b - s/tau)/tau by the inverse rule",
             lib_psi(S) - via_rule)
    psi, theta, theta_low = library_kernels(win, h, g)
    st.check("the library's psi with h'(g(u)) rewritten as 1/g'(u) (eq. 31) is g'(b - s/tau)/tau",
             psi(S) - derive_psi_inverse(g, win)(S))
    st.note(f"the library's theta = {sp.sstr(theta)}, silent bound theta_low = {sp.sstr(theta_low)}")
    st.check("theta is h^-1(b): h(theta) = b whenever h(g(y)) = y (theta = g(b_r))",
             h(theta).subs(h(g(win.b)), win.b) - win.b)

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
    ok, diff = check_general(psi, theta, win, g)
    st.check("theta, V = g(x*): V + Integral(psi, (s, 0, tau(b - x*))) - theta (so g(b - sigma*/tau) = V, "
             "b - sigma*/tau = h(V))", diff)
    xs = sp.Symbol("x_star", real=True)
    t_spike = win.spike_time(xs)
    st.check("the spike at T_emit + sigma*, sigma* = tau(b - x*), stands for (T_ref - t)/tau = x* = h(g(x*)) = h(V)",
             win.value(t_spike) - xs)
    st.check("T_end - (T_emit + sigma*) = tau(x* - a): inside [T_emit, T_end) iff x* in (a, b]",
             win.T_end - t_spike - win.tau * (xs - win.a))

    # clipping
    eps = sp.Symbol("epsilon", nonnegative=True)
    at_emit = (g(win.b) + eps) + psi_integral(psi, win, 0) - theta
    st.check("V = g(b) + eps (h(V) >= b): potential at T_emit - theta = eps >= 0, fires at T_emit",
             at_emit - eps)
    st.check("a spike at T_emit stands for (T_ref - T_emit)/tau = b", win.value(win.T_emit) - win.b)
    eps_pos = sp.Symbol("epsilon", positive=True)
    at_end = (theta_low - eps_pos) + psi_integral(psi, win, win.delta) - theta
    st.check("V = theta_low - eps (the library's theta_low; h(V) < a): potential at T_end - theta = -eps < 0; "
             "the potential increases, so it stays below theta: no spike, value a", at_end + eps_pos)
    st.check("theta_low is h^-1(a): h(theta_low) = a whenever h(g(y)) = y",
             h(theta_low).subs(h(g(win.a)), win.a) - win.a)

    # concrete h
    for label in EXAMPLES:
        check_concrete(label, st)
    return ProofResult(NAME, STATEMENT, st.lines, st.ok)


if __name__ == "__main__":
    from ._common import main

    main(prove)
