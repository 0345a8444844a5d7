"""The library's own derivations, proved (Theorems 4.1 and 4.3 for what ttfs_symbolic returns).

The other modules prove the theorems for kernels written here; this one
imports :mod:`ttfs_symbolic` and proves the identities for the kernels and
constants the library itself returns, so a bug in the library's derivation
(a wrong eta, C, psi or theta) fails a proof:

* Theorem 4.1, general f: the range-generic kernel ``eta(s, a, tau)`` that the
  model layer compiles (:class:`ttfs_symbolic.numeric.kernels.InputKernel`),
  built from an *undefined* SymPy function f with symbolic a and tau, must
  satisfy ``(1/tau) Integral(eta, (s, 0, tau(x - a))) = f(x) - f(a)``; its
  silent-input share ``f(a)`` (``InputKernel.f_at``) is checked against f on
  sample ranges.
* Theorem 4.1, every catalogue neuron: ``derive_input``'s ``eta`` and
  ``const`` on the neuron's range: one check for C's share ``d*const = f(a)``
  and one for ``(1/tau) Integral(eta, (s, 0, tau(x - a))) + d*const = f(x)``.
* Theorem 4.3, every catalogue neuron with a closed-form inverse:
  ``derive_output``'s ``psi``, ``theta``, ``theta_low`` and ``inverse`` g:
  ``h(g(y)) = y``; ``theta = g(b)``; ``g(y) + Integral(psi, (s, 0, tau(b - y)))
  = theta`` for symbolic y; ``Integral(psi, (s, 0, delta)) = theta - theta_low``.

Each integral is closed by an antiderivative: ``tau f(s/tau + a)``
(Theorem 4.1) or ``-g(b - s/tau)`` (Theorem 4.3) is checked to
differentiate to the library's kernel, then the fundamental theorem of
calculus gives the integral. One residual per check.

Run: ``python -m proofs.library``.
"""
from __future__ import annotations

import sympy as sp

from ._common import ProofResult, _Steps

NAME = "library"
STATEMENT = (
    "ttfs_symbolic's derive_input / InputKernel / derive_output return kernels and constants for which "
    "Theorem 4.1 (eq. 9, with C's share) and Theorem 4.3 (eq. 32-35) hold."
)

def check_general_input_kernel(st: _Steps) -> None:
    from ttfs_symbolic.numeric.kernels import A_SYM, TAU_SYM, InputKernel
    from ttfs_symbolic.symbolic.parse import S, X

    f = sp.Function("f")
    kernel = InputKernel(f(X))
    eta = kernel.eta_general
    st.note(f"InputKernel(f(x)) for an undefined f: eta(s, a, tau) = {sp.sstr(eta)}")
    F = TAU_SYM * f(S / TAU_SYM + A_SYM)
    st.check("InputKernel: d/ds [tau f(s/tau + a)] = eta(s, a, tau) (an antiderivative)",
             sp.diff(F, S) - eta)
    st.check("InputKernel: (1/tau)[tau f(s/tau + a)]_0^(tau(x - a)) = f(x) - f(a)",
             (F.subs(S, TAU_SYM * (X - A_SYM)) - F.subs(S, 0)) / TAU_SYM - (f(X) - f(A_SYM)))
    for text in ("x**2", "exp(x)", "sin(x)"):
        k = InputKernel(text)
        for a in (-3.0, -0.5, 2.0):
            st.check(f"InputKernel({text}).f_at({a}) = f({a}) (a silent input's share)",
                     sp.Float(k.f_at(a), 15) - sp.N(k.f.subs(X, a), 15))


def check_catalogue_input(st: _Steps, nd) -> None:
    from ttfs_symbolic.symbolic.parse import S, X

    it = nd.input_transform()
    d, tau = it.d, it.tau
    st.check(f"{nd.name}: derive_input's C share d*const = f(a) (silent input contributes w f(a))",
             d * it.const - it.f.subs(X, it.a))
    F = tau * it.f.subs(X, S / tau + it.a)
    st.check(f"{nd.name}: d/ds [tau f(s/tau + a)] = derive_input's eta (an antiderivative)", sp.diff(F, S) - it.eta)
    st.check(f"{nd.name}: (1/tau)[tau f(s/tau + a)]_0^(tau(x - a)) + d*const = f(x)",
                 (F.subs(S, tau * (X - it.a)) - F.subs(S, 0)) / tau + d * it.const - it.f)


def check_catalogue_output(st: _Steps, nd) -> None:
    from ttfs_symbolic.symbolic.derive import Y
    from ttfs_symbolic.symbolic.parse import S, X

    ot = nd.output_transform()
    if ot.inverse is None:
        st.note(f"{nd.name}: h^-1 has no closed form; Theorem 4.3 is checked numerically by the derivation's "
                "proof record (mpmath) and by verify")
        return
    g, tau, a, b = ot.inverse, ot.tau, ot.a, ot.b
    yy = sp.Symbol("y_in", real=True)
    st.check(f"{nd.name}: derive_output's inverse g: h(g(y)) = y", ot.h.subs(X, g) - Y)
    st.check(f"{nd.name}: theta = g(b)", ot.theta - g.subs(Y, b))
    G = -g.subs(Y, b - S / tau)
    st.check(f"{nd.name}: d/ds[-g(b - s/tau)] = derive_output's psi (an antiderivative, eq. 31)",
             sp.diff(G, S) - ot.psi)
    st.check(f"{nd.name}: g(y) + [-g(b - s/tau)]_0^(tau(b - y)) = theta (eq. 32, fundamental theorem of calculus)",
             g.subs(Y, yy) + G.subs(S, tau * (b - yy)) - G.subs(S, 0) - ot.theta)
    if ot.theta_low == -sp.oo:
        st.note(f"{nd.name}: h never reaches a (theta_low = -oo): every potential fires")
    else:
        st.check(f"{nd.name}: theta_low = g(a)", ot.theta_low - g.subs(Y, a))
        st.check(f"{nd.name}: Integral(psi, (s, 0, delta)) = [-g(b - s/tau)]_0^delta = theta - theta_low "
                 "(eq. 35: V < g(a) stays below theta)", G.subs(S, ot.delta) - G.subs(S, 0) - (ot.theta - ot.theta_low))


#: catalogue neurons proved here (cheap SymPy work; the rest are covered by their proof records)
INPUT_NEURONS = ("identity", "relu", "square", "exp_input", "log_shift", "rsqrt", "sin", "elu", "softplus")
OUTPUT_NEURONS = ("identity", "exp", "cubic_out", "sigmoid_out", "logsumexp")


def prove() -> ProofResult:
    from ttfs_symbolic.catalogue import load_catalogue

    st = _Steps()
    check_general_input_kernel(st)
    cat = load_catalogue()
    for name in INPUT_NEURONS:
        if name in cat and cat[name].aggregate != "max":
            check_catalogue_input(st, cat[name])
    for name in OUTPUT_NEURONS:
        if name in cat:
            check_catalogue_output(st, cat[name])
    return ProofResult(NAME, STATEMENT, st.lines, st.ok)


if __name__ == "__main__":
    from ._common import main

    main(prove)
