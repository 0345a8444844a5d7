"""The paper check's readings: each printed neuron equation of the paper, transcribed by hand as SymPy code
(with the paper's symbols), beside the library's derivation it is compared with (:mod:`.papercheck`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy

from ..symbolic.derive import derive_input, derive_output
from ..symbolic.parse import S, X, parse_formula


s = S  # time since the input spike / since T_emit (the library's s)
a, b, delta, tau, d = sympy.symbols("a b delta tau d", real=True)
a0, b0, tau0, d0 = sympy.symbols("a0 b0 tau0 d0", real=True)
a1, b1, tau1, d1 = sympy.symbols("a1 b1 tau1 d1", real=True)
a2, b2, tau2, d2 = sympy.symbols("a2 b2 tau2 d2", real=True)
u, c, n, eps, K = sympy.symbols("u c n epsilon K", real=True)
x1, x2 = sympy.symbols("x1 x2", real=True)
T_ref, T_emit = sympy.symbols("T_ref T_emit", real=True)
_t = sympy.Symbol("t", real=True)
#: sigma as the paper defines it under eq. 16
sigma = sympy.Lambda(_t, 1 / (1 + sympy.exp(-_t)))
#: the indicator I[s >= 0] of eq. 16-17
def _indicator(expr):
    return sympy.Piecewise((expr, s >= 0), (0, True))


def case_values(case: dict) -> dict:
    """Symbol values of a case: the ranges given, tau = delta/(b - a), d = b - a per layer (eq. 29)."""
    out = {}
    dl = sympy.sympify(case.get("delta", 1))
    out[delta] = dl
    for sa, sb, st, sd in ((a, b, tau, d), (a0, b0, tau0, d0), (a1, b1, tau1, d1), (a2, b2, tau2, d2)):
        if sa.name in case:
            va, vb = sympy.sympify(case[sa.name]), sympy.sympify(case[sb.name])
            out[sa], out[sb], out[st], out[sd] = va, vb, dl / (vb - va), vb - va
    for sym in (c, n, eps, K):
        if sym.name in case:
            out[sym] = sympy.sympify(case[sym.name])
    if c not in out and a0 in out:
        out[c] = 1 - out[a0]  # c = -a^(0) + 1 (Section 4.3.4)
    return out


def case_label(case: dict) -> str:
    parts = []
    for key, value in case.items():
        parts.append(f"{key} = {value}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Reading:
    """One printed quantity of one equation, read with one stated convention.

    ``printed`` builds the hand transcription (paper symbols; ``defs`` are
    the printed auxiliary definitions such as ``u``); ``derived(values)``
    calls the library for one case (``values`` from :func:`case_values`);
    ``general()`` optionally gives the derived form with symbolic ranges
    (the library's range-generic kernel) for display and a symbolic verdict.
    """

    key: str
    equation: str
    quantity: str
    printed_tex: str
    printed: Callable[[], sympy.Expr]
    derived: Callable[[dict], sympy.Expr]
    cases: tuple
    mapping: str
    domain: Callable[[dict], dict]
    defs: Callable[[], dict] = lambda: {}
    general: Callable[[], sympy.Expr] | None = None
    general_domain: dict = field(default_factory=dict)
    note: str = ""
    extra: bool = False


def _window(v):
    return {s: (0, v[delta])}


def _eta_general(f: str, a_sym, tau_sym, symbols: dict | None = None):
    """The library's range-generic kernel eta(s, a, tau) = f'(s/tau + a) (numeric.kernels.InputKernel).

    ``symbols`` names constants of f kept symbolic (``{"eps": eps}``).
    """
    # numeric loads torch: imported when a page needs a kernel (``ttfs derive`` starts without torch)
    from ..numeric.kernels import A_SYM, TAU_SYM, InputKernel

    symbols = symbols or {}
    expr = parse_formula(f, variables=("x",) + tuple(symbols))
    expr = expr.subs({sympy.Symbol(k, real=True): v for k, v in symbols.items()})
    return InputKernel(expr).eta_general.subs({A_SYM: a_sym, TAU_SYM: tau_sym})


def _kernel(f, lo, hi, dl, params=None):
    return derive_input(f, lo, hi, dl, params=params).kernel


def _eta(f, lo, hi, dl, params=None):
    return derive_input(f, lo, hi, dl, params=params).eta


def _const(f, lo, hi, dl, params=None):
    return derive_input(f, lo, hi, dl, params=params).const


_U_PRINTED = a + delta / (b - a) * s
_U_TAU = s / (delta / (b - a)) + a
_FIG2 = ({"a": -3, "b": 3, "delta": 1}, {"a": -1, "b": 2, "delta": 1}, {"a": -2, "b": 2, "delta": 4})

_SILU_PRINTED = lambda uu: _indicator(sigma(uu) * (uu + 1 - uu * sigma(uu)))  # noqa: E731
_GELU_PRINTED = lambda uu: _indicator(sympy.Rational(1, 2) + sympy.erf(uu / sympy.sqrt(2)) / 2  # noqa: E731
                                      + uu / sympy.sqrt(2 * sympy.pi) * sympy.exp(-uu ** 2 / 2))
_GELU_F = "x * (1 + erf(x / sqrt(2))) / 2"

_MUL_CASES = ({"a0": -2, "b0": 2, "a1": 0, "b1": 4, "delta": 1},
              {"a0": -1, "b0": 3, "a1": "1/2", "b1": 4, "delta": 1})


def _layer2_potential(v):
    """V^(2) from the library's f's: 1*exp(y) - c*x1 - c*x2 with y = log(x1 + c) + log(x2 + c) (eq. 9)."""
    f_log = derive_input("log(x + c)", v[a0], v[b0], v[delta], params={"c": "1 - a"}).f
    f_exp = derive_input("exp(x)", v[a1], v[b1], v[delta]).f
    f_id = derive_input("x", v[a0], v[b0], v[delta]).f
    y = f_log.subs(X, x1) + f_log.subs(X, x2)
    cc = 1 - v[a0]
    return 1 * f_exp.subs(X, y) + (-cc) * f_id.subs(X, x1) + (-cc) * f_id.subs(X, x2)


def _x_domain(v):
    return {x1: (v[a0], v[b0]), x2: (v[a0], v[b0])}


READINGS: tuple[Reading, ...] = (
    # ---- eq. 16: SiLU
    Reading("16", "16", r"$\eta(s)$ of SiLU (Corollary 4.5)",
            r"\eta(s) = \mathbb{I}[s \ge 0] \cdot \sigma(u) \cdot (u+1-u \cdot \sigma(u)),\quad "
            r"u = a + \frac{\delta}{b-a}s,\quad \sigma(x) = \frac{1}{1+e^{-x}}",
            lambda: _SILU_PRINTED(u), lambda v: _kernel("x*sigmoid(x)", v[a], v[b], v[delta]), _FIG2,
            "u as printed, u = a + δ s/(b − a); the derived kernel is f'(s/τ + a) with τ = δ/(b − a) "
            "(Algorithm 1), i.e. u = a + (b − a) s/δ. The two agree exactly when b − a = δ (the third case).",
            _window, defs=lambda: {u: _U_PRINTED},
            general=lambda: _indicator(_eta_general("x*sigmoid(x)", a, delta / (b - a)))),
    Reading("16/u", "16", r"$\eta(s)$ of SiLU, with $u$ read as $a + s/\tau$",
            r"\eta(s) = \mathbb{I}[s \ge 0] \cdot \sigma(u) \cdot (u+1-u \cdot \sigma(u)),\quad u = a + s/\tau",
            lambda: _SILU_PRINTED(u), lambda v: _kernel("x*sigmoid(x)", v[a], v[b], v[delta]), _FIG2,
            "the printed function of u, with u replaced by a + s/τ, τ = δ/(b − a): checks the shape "
            "of the printed kernel apart from the substitution",
            _window, defs=lambda: {u: _U_TAU},
            general=lambda: _indicator(_eta_general("x*sigmoid(x)", a, delta / (b - a)))),
    # ---- eq. 17: GELU
    Reading("17", "17", r"$\eta(s)$ of GELU (Corollary 4.5)",
            r"\eta(s) = \mathbb{I}[s \ge 0] \cdot \left[\frac{1}{2} + \frac{\operatorname{erf}(\frac{u}{\sqrt{2}})}{2}"
            r" + \frac{u}{\sqrt{2\pi}}e^{-\frac{u^2}{2}}\right],\quad u = a + \frac{\delta}{b-a}s",
            lambda: _GELU_PRINTED(u), lambda v: _kernel(_GELU_F, v[a], v[b], v[delta]), _FIG2,
            "u as printed (see eq. 16); derived with τ = δ/(b − a)",
            _window, defs=lambda: {u: _U_PRINTED},
            general=lambda: _indicator(_eta_general(_GELU_F, a, delta / (b - a)))),
    Reading("17/u", "17", r"$\eta(s)$ of GELU, with $u$ read as $a + s/\tau$",
            r"\eta(s) = \mathbb{I}[s \ge 0] \cdot \left[\frac{1}{2} + \frac{\operatorname{erf}(\frac{u}{\sqrt{2}})}{2}"
            r" + \frac{u}{\sqrt{2\pi}}e^{-\frac{u^2}{2}}\right],\quad u = a + s/\tau",
            lambda: _GELU_PRINTED(u), lambda v: _kernel(_GELU_F, v[a], v[b], v[delta]), _FIG2,
            "the printed function of u, with u replaced by a + s/τ", _window, defs=lambda: {u: _U_TAU},
            general=lambda: _indicator(_eta_general(_GELU_F, a, delta / (b - a)))),
    # ---- eq. 19: log-sum-exp (Theorem 4.6)
    Reading("19/eta", "19", r"$\eta^{(1)}$ of the log-sum-exp neuron (Theorem 4.6)",
            r"\eta^{(1)}(x) = \exp\left(\frac{s}{\tau^{(0)}} + a^{(0)}\right)",
            lambda: sympy.exp(s / tau0 + a0), lambda v: _eta("exp(x)", v[a0], v[b0], v[delta]),
            ({"a0": -4, "b0": 4, "delta": 1}, {"a0": -8, "b0": 0, "delta": 1}),
            "f = exp on the sender's range [a⁽⁰⁾, b⁽⁰⁾], τ⁽⁰⁾ = δ/d⁽⁰⁾; the printed left side names the "
            "argument x, the right side is a function of s (read as η⁽¹⁾(s), s ≥ 0)",
            _window, general=lambda: _eta_general("exp(x)", a0, tau0)),
    Reading("19/C", "19", r"$C^{(1)}$ of the log-sum-exp neuron",
            r"C^{(1)} = \frac{n}{d^{(0)}}e^{a^{(0)}}",
            lambda: n / d0 * sympy.exp(a0), lambda v: n * 1 * _const("exp(x)", v[a0], v[b0], v[delta]),
            ({"a0": -4, "b0": 4, "delta": 1}, {"a0": -8, "b0": 0, "delta": 1}),
            "C = Σ_j w_j f(a⁽⁰⁾)/d⁽⁰⁾ (eq. 8) over n inputs of weight 1: n times the derived per-synapse term",
            lambda v: {n: (1, 64)}),
    Reading("19/psi", "19", r"$\psi^{(1)}$ of the log-sum-exp neuron",
            r"\psi^{(1)}(s) = \frac{1}{\tau^{(1)}}\exp\left(b - \frac{s}{\tau^{(1)}}\right)",
            lambda: 1 / tau1 * sympy.exp(b1 - s / tau1), lambda v: derive_output("log(x)", v[a1], v[b1], v[delta]).psi,
            ({"a1": -4, "b1": 8, "delta": 1}, {"a1": 1, "b1": 3, "delta": 2}),
            "h = log on the emitting range [a⁽¹⁾, b⁽¹⁾]; the printed b (no superscript) read as b⁽¹⁾",
            _window),
    # ---- eq. 22: variance
    Reading("22/eta", "22", r"$\eta^{(1)}$ of the variance neuron (LayerNorm)",
            r"\eta^{(1)}(s) = 2\left(\frac{s}{\tau^{(0)}} + a^{(0)}\right)",
            lambda: 2 * (s / tau0 + a0), lambda v: _eta("x**2", v[a0], v[b0], v[delta]),
            ({"a0": -3, "b0": 3, "delta": 1}, {"a0": -1, "b0": 2, "delta": 1}),
            "f = x² on the sender's range", _window, general=lambda: _eta_general("x**2", a0, tau0)),
    Reading("22/C", "22", r"$C^{(1)}$ of the variance neuron, as the whole constant of eq. 8",
            r"C^{(1)} = \frac{(a^{(0)})^2}{nd^{(0)}} \quad w_i^{(1)} = \frac{1}{n}",
            lambda: a0 ** 2 / (n * d0), lambda v: n * (1 / n) * _const("x**2", v[a0], v[b0], v[delta]),
            ({"a0": -3, "b0": 3, "delta": 1}, {"a0": -1, "b0": 2, "delta": 1}),
            "C = Σ_j w_j f(a⁽⁰⁾)/d⁽⁰⁾ (eq. 8) over the n inputs of weight 1/n",
            lambda v: {n: (1, 64)}),
    Reading("22/C1", "22", r"$C^{(1)}$ of the variance neuron, as one synapse's share",
            r"C^{(1)} = \frac{(a^{(0)})^2}{nd^{(0)}} \quad w_i^{(1)} = \frac{1}{n}",
            lambda: a0 ** 2 / (n * d0), lambda v: (1 / n) * _const("x**2", v[a0], v[b0], v[delta]),
            ({"a0": -3, "b0": 3, "delta": 1}, {"a0": -1, "b0": 2, "delta": 1}),
            "the printed C compared with ONE synapse's term w f(a⁽⁰⁾)/d⁽⁰⁾, w = 1/n",
            lambda v: {n: (1, 64)}),
    # ---- eq. 23: rsqrt
    Reading("23/eta", "23", r"$\eta^{(2)}$ of the $1/\sqrt{\mathrm{Var}+\varepsilon}$ neuron (LayerNorm)",
            r"\eta^{(2)}(s) = \frac{1}{2} \left(\frac{s}{\tau^{(1)}} + a^{(1)}\right)^{-\frac{3}{2}}",
            lambda: sympy.Rational(1, 2) * (s / tau1 + a1) ** sympy.Rational(-3, 2),
            lambda v: _eta("1/sqrt(x + eps)", v[a1], v[b1], v[delta], params={"eps": v[eps]}),
            ({"a1": 0, "b1": 4, "delta": 1, "epsilon": "1/100000"},
             {"a1": "1/4", "b1": 2, "delta": 1, "epsilon": "1/100000"}),
            "f = (x + ε)^(-1/2) on the variance's range [a⁽¹⁾, b⁽¹⁾], ε = 10⁻⁵",
            _window, general=lambda: _eta_general("1/sqrt(x + eps)", a1, tau1, {"eps": eps}),
            general_domain={a1: ("1/10", 1)}),
    Reading("23/C", "23", r"$C^{(2)}$ of the $1/\sqrt{\mathrm{Var}+\varepsilon}$ neuron",
            r"C^{(2)} = \frac{1}{d^{(1)}\sqrt{a^{(1)} + \varepsilon}} \quad w^{(2)} = 1",
            lambda: 1 / (d1 * sympy.sqrt(a1 + eps)),
            lambda v: 1 * _const("1/sqrt(x + eps)", v[a1], v[b1], v[delta], params={"eps": v[eps]}),
            ({"a1": 0, "b1": 4, "delta": 1, "epsilon": "1/100000"},
             {"a1": "1/4", "b1": 2, "delta": 1, "epsilon": "1/100000"}),
            "one input of weight 1: C = w f(a⁽¹⁾)/d⁽¹⁾", lambda v: {}),
    # ---- eq. 24-25: multiplication, layer I
    Reading("24/eta", "24", r"$\eta_i^{(1)}$ of the multiplication network, layer I (first form)",
            r"\eta_i^{(1)}(s) = \frac{1}{\frac{s}{\tau^{(0)}} + a^{(0)} + c}",
            lambda: 1 / (s / tau0 + a0 + c),
            lambda v: _eta("log(x + c)", v[a0], v[b0], v[delta], params={"c": "1 - a"}),
            ({"a0": -2, "b0": 2, "delta": 1}, {"a0": -1, "b0": 3, "delta": 1}, {"a0": "1/2", "b0": 2, "delta": 2}),
            "f = log(x + c), c = 1 − a⁽⁰⁾ (the catalogue's log_shift)", _window,
            general=lambda: _eta_general("log(x + c)", a0, tau0, {"c": c})),
    Reading("24/eta2", "24", r"$\eta_i^{(1)}$ of the multiplication network, layer I (second form)",
            r"\eta_i^{(1)}(s) = \frac{1}{1 + \frac{s}{\tau^{(0)}}}",
            lambda: 1 / (1 + s / tau0),
            lambda v: _eta("log(x + c)", v[a0], v[b0], v[delta], params={"c": "1 - a"}),
            ({"a0": -2, "b0": 2, "delta": 1}, {"a0": -1, "b0": 3, "delta": 1}, {"a0": "1/2", "b0": 2, "delta": 2}),
            "as the first form, with c = 1 − a⁽⁰⁾", _window),
    Reading("24/C", "24", r"$C_i^{(1)}$ of layer I",
            r"C_i^{(1)} = 0 \quad w_i^{(1)} = 1",
            lambda: sympy.Integer(0),
            lambda v: 2 * 1 * _const("log(x + c)", v[a0], v[b0], v[delta], params={"c": "1 - a"}),
            ({"a0": -2, "b0": 2, "delta": 1}, {"a0": -1, "b0": 3, "delta": 1}),
            "two inputs x₁, x₂ of weight 1, both on [a⁽⁰⁾, b⁽⁰⁾]: C = Σ_j w_j f(a⁽⁰⁾)/d⁽⁰⁾", lambda v: {}),
    Reading("25", "25", r"accumulated potential of layer I",
            r"V^{(1)}(T^{(1)}_{\text{emit}}) = \log(x_1 + c) + \log(x_2 + c)",
            lambda: sympy.log(x1 + c) + sympy.log(x2 + c),
            lambda v: sum(derive_input("log(x + c)", v[a0], v[b0], v[delta], params={"c": "1 - a"}).f.subs(X, z)
                          for z in (x1, x2)),
            ({"a0": -2, "b0": 2, "delta": 1}, {"a0": -1, "b0": 3, "delta": 1}),
            "Σ_j w_j f(x_j) (eq. 9) with the derived f", _x_domain, extra=True),
    Reading("25/2", "25", r"accumulated potential of layer I (second form)",
            r"V^{(1)}(T^{(1)}_{\text{emit}}) = \log(x_1x_2 + cx_1 + cx_2 + c^2)",
            lambda: sympy.log(x1 * x2 + c * x1 + c * x2 + c ** 2),
            lambda v: sum(derive_input("log(x + c)", v[a0], v[b0], v[delta], params={"c": "1 - a"}).f.subs(X, z)
                          for z in (x1, x2)),
            ({"a0": -2, "b0": 2, "delta": 1}, {"a0": -1, "b0": 3, "delta": 1}),
            "Σ_j w_j f(x_j) (eq. 9) with the derived f", _x_domain, extra=True),
    # ---- eq. 26-27: multiplication, layer II
    Reading("26", "26", r"$\eta_0^{(2)}$ of layer II (input y)",
            r"\eta_0^{(2)}(s) = \exp\left(\frac{s}{\tau^{(1)}} + a^{(1)}\right)",
            lambda: sympy.exp(s / tau1 + a1), lambda v: _eta("exp(x)", v[a1], v[b1], v[delta]),
            ({"a1": 0, "b1": 4, "delta": 1}, {"a1": "1/2", "b1": 2, "delta": 1}),
            "f = exp on layer I's range [a⁽¹⁾, b⁽¹⁾] (the catalogue's exp_input)", _window,
            general=lambda: _eta_general("exp(x)", a1, tau1)),
    Reading("27/C", "27", r"$C_0^{(2)}$ of layer II, x₁ and x₂ delayed from layer 0",
            r"C_0^{(2)} = \frac{1}{d^{(1)}} e^{a^{(1)}} + \frac{2ca^{(1)}}{d^{(1)}},\quad "
            r"w_0^{(2)} = 1 \quad w_1^{(2)} = w_2^{(2)} = -c",
            lambda: sympy.exp(a1) / d1 + 2 * c * a1 / d1,
            lambda v: (1 * _const("exp(x)", v[a1], v[b1], v[delta])
                       + 2 * (-v[c]) * _const("x", v[a0], v[b0], v[delta])),
            _MUL_CASES,
            "the library's convention (docs/design.md): each synapse adds w f(a_s)/d_s with its sender's "
            "range; y comes from layer I ([a⁽¹⁾, b⁽¹⁾], f = exp, w = 1), x₁ and x₂ from layer 0 through "
            "synaptic delays ([a⁽⁰⁾, b⁽⁰⁾], identity f, w = −c), c = 1 − a⁽⁰⁾",
            lambda v: {}),
    Reading("27/C1", "27", r"$C_0^{(2)}$ of layer II, x₁ and x₂ read on layer I's range",
            r"C_0^{(2)} = \frac{1}{d^{(1)}} e^{a^{(1)}} + \frac{2ca^{(1)}}{d^{(1)}},\quad "
            r"w_0^{(2)} = 1 \quad w_1^{(2)} = w_2^{(2)} = -c",
            lambda: sympy.exp(a1) / d1 + 2 * c * a1 / d1,
            lambda v: (1 * _const("exp(x)", v[a1], v[b1], v[delta])
                       + 2 * (-v[c]) * _const("x", v[a1], v[b1], v[delta])),
            _MUL_CASES,
            "as the printed indices suggest: all three synapses with layer I's a⁽¹⁾, d⁽¹⁾ (x₁, x₂ relayed "
            "into layer I's window); c = 1 − a⁽⁰⁾",
            lambda v: {}),
    Reading("27/V", "27", r"accumulated potential of layer II",
            r"V^{(2)}(T^{(2)}_{\text{emit}}) = x_1x_2 + c^2",
            lambda: x1 * x2 + c ** 2, _layer2_potential, _MUL_CASES,
            "Σ_j w_j f_j(x_j) (eq. 9) with the derived f's: exp on y = log(x₁ + c) + log(x₂ + c) "
            "(layer I unclipped: its range holds y), identity on x₁, x₂ with w = −c",
            _x_domain),
    Reading("27/psi", "27", r"$\psi^{(2)}$ of layer II",
            r"\psi^{(2)}(s) = \frac{1}{\tau^{(2)}}",
            lambda: 1 / tau2,
            lambda v: derive_output("x - k", v[a2], v[b2], v[delta], params={"k": v[c] ** 2}).psi,
            ({"a0": -2, "b0": 2, "a2": -4, "b2": 4, "delta": 1}, {"a0": -1, "b0": 3, "a2": -1, "b2": 9, "delta": 1}),
            "output x₁x₂ = V − c²: Theorem 4.3 with h(V) = V − c² on the emitting range [a⁽²⁾, b⁽²⁾]",
            _window),
    Reading("27/theta", "27", r"$\theta^{(2)}$ of layer II",
            r"\theta^{(2)} = b^{(2)} - c^2",
            lambda: b2 - c ** 2,
            lambda v: derive_output("x - k", v[a2], v[b2], v[delta], params={"k": v[c] ** 2}).theta,
            ({"a0": -2, "b0": 2, "a2": -4, "b2": 4, "delta": 1}, {"a0": -1, "b0": 3, "a2": -1, "b2": 9, "delta": 1}),
            "output x₁x₂ = V − c²: θ = h⁻¹(b⁽²⁾) with h(V) = V − c² (Theorem 4.3)", lambda v: {}),
    Reading("C.1/theta", "27", r"$\theta^{(2)}$ of the matrix product (Appendix C.1)",
            r"\theta^{(2)} = b^{(2)} - Kc^2",
            lambda: b2 - K * c ** 2,
            lambda v: derive_output("x - k", v[a2], v[b2], v[delta], params={"k": v[K] * v[c] ** 2}).theta,
            ({"a0": -2, "b0": 2, "a2": -4, "b2": 4, "delta": 1, "K": 4},
             {"a0": -1, "b0": 3, "a2": -1, "b2": 9, "delta": 1, "K": 16}),
            "K products in one layer-II neuron, output Σ_k x₁x₂ = V − Kc²: θ = h⁻¹(b⁽²⁾) with "
            "h(V) = V − Kc²", lambda v: {}),
    # ---- eq. 36: softmax layer II
    Reading("36/psi", "36", r"$\psi^{(2)}$ of the exp neuron (softmax layer II)",
            r"h^{(2)}(x) = e^{x},\quad \psi^{(2)}(s) = \frac{1}{T_{\text{ref}} - T_{\text{emit}} - s}",
            lambda: 1 / (T_ref - T_emit - s),
            lambda v: derive_output("exp(x)", v[a2], v[b2], v[delta]).psi,
            ({"a2": 0, "b2": 1, "delta": 1}, {"a2": "1/10", "b2": "4/5", "delta": 2}),
            "T_ref − T_emit = b⁽²⁾τ⁽²⁾ (eq. 29), τ⁽²⁾ = δ/(b⁽²⁾ − a⁽²⁾); h = exp on [a⁽²⁾, b⁽²⁾]",
            _window, defs=lambda: {T_ref: T_emit + b2 * tau2}),
    Reading("36/theta", "36", r"$\theta^{(2)}$ of the exp neuron",
            r"\theta^{(2)} = \log b^{(2)}",
            lambda: sympy.log(b2), lambda v: derive_output("exp(x)", v[a2], v[b2], v[delta]).theta,
            ({"a2": 0, "b2": 1, "delta": 1}, {"a2": "1/10", "b2": "4/5", "delta": 2}),
            "θ = h⁻¹(b⁽²⁾) with h = exp", lambda v: {}),
    # ---- extras: the corollaries
    Reading("10/eta", "10", r"$\eta_{ij}$ of the identity input transform (Corollary 4.2)",
            r"\eta_{ij}(s) = \mathcal{H}\left(\frac{s}{\tau^{(n-1)}} + a^{(n-1)}\right)",
            lambda: sympy.Heaviside(s / tau0 + a0), lambda v: _eta("x", v[a0], v[b0], v[delta]),
            ({"a0": -3, "b0": 3, "delta": 1}, {"a0": "1/2", "b0": 2, "delta": 1}),
            "f = x; compared on s in (0, δ) (both kernels are 0 for s < 0 only in the derived form); "
            "layer n − 1 written as layer 0", _window, extra=True),
    Reading("10/C", "10", r"$C_i^{(n)}$ of the identity input transform (Corollary 4.2)",
            r"C_i^{(n)} = \sum_j \frac{a^{(n-1)}}{d^{(n-1)}} w_{ij}",
            lambda: a0 / d0, lambda v: _const("x", v[a0], v[b0], v[delta]),
            ({"a0": -3, "b0": 3, "delta": 1}, {"a0": "1/2", "b0": 2, "delta": 1}),
            "per synapse, per unit weight", lambda v: {}, extra=True),
    Reading("15/psi", "15", r"$\psi$ of the identity output transform (Corollary 4.4)",
            r"\psi(s) = \frac{1}{\tau}",
            lambda: 1 / tau, lambda v: derive_output("x", v[a], v[b], v[delta]).psi,
            ({"a": -3, "b": 3, "delta": 1}, {"a": "1/2", "b": 2, "delta": 3}),
            "h = x on the emitting range [a, b], τ = δ/(b − a)", _window, extra=True),
    Reading("15/theta", "15", r"$\theta$ of the identity output transform (Corollary 4.4)",
            r"\theta = b",
            lambda: b, lambda v: derive_output("x", v[a], v[b], v[delta]).theta,
            ({"a": -3, "b": 3, "delta": 1}, {"a": "1/2", "b": 2, "delta": 3}),
            "h = x", lambda v: {}, extra=True),
)
