"""Derivation pages: a formula in, a Markdown page (LaTeX) and a Figure-2 style plot out.

``derivation_page(f, h, range=..., output_range=...)`` writes out, step by
step, what Theorem 4.1 (eq. 8-9) and Theorem 4.3 (eq. 13-14) give for one
neuron: the target function, its derivative or inverse, the substitution
``u = s/tau + a`` with ``tau = delta/(b - a)``, the integral identity
(eq. 30, 32), the constant C and the threshold theta, how the identity was
verified (the :class:`~ttfs_symbolic.symbolic.derive.ProofRecord`), and a
plot of the membrane potential through the receiving and the emitting stage
(as in the paper's Figure 2), simulated from the compiled kernels eta and
psi of :mod:`ttfs_symbolic.numeric.kernels`.

``ttfs derive`` (:mod:`ttfs_symbolic.cli.derive`) and ``scripts/gen_docs.py``
both call this module, so the command line, Python and the documentation site
show the same text. Pages are deterministic: the same input gives
byte-identical Markdown (the PNG need not be).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy
from sympy.printing.latex import LatexPrinter

from .symbolic.derive import InputTransform, OutputTransform, derive_input, derive_output, kinks
from .symbolic.parse import S, X

__all__ = [
    "tex",
    "derivation_page",
    "neuron_page",
    "derivation_summary",
    "derive_pair",
    "Trace",
    "simulate",
    "plot_dynamics",
    "slug",
]

# --------------------------------------------------------------------------
# LaTeX
# --------------------------------------------------------------------------


class _Printer(LatexPrinter):
    """SymPy's LaTeX printer with the paper's names kept free.

    SymPy prints Heaviside as ``\\theta``, which is the paper's threshold: print
    it as H (the paper's eq. 3 writes a calligraphic H). The unevaluated
    ``h_inv`` of a numeric inverse prints as ``h^{-1}``.
    """

    def _print_Heaviside(self, expr, exp=None):
        out = r"\mathcal{H}\left(%s\right)" % self._print(expr.args[0])
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)

    def _print_h_inv(self, expr, exp=None):
        out = r"h^{-1}\left(%s\right)" % self._print(expr.args[0])
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)


def tex(expr) -> str:
    """LaTeX of a SymPy expression, safe inside a Markdown table (no ``|``)."""
    return _Printer().doprint(sympy.sympify(expr)).replace("|", r"\vert ")


def _num(value) -> str:
    """A float with 6 significant digits, deterministic."""
    v = float(value)
    if v == 0:
        return "0"
    return f"{v:.6g}"


def _value(expr) -> str:
    """Exact LaTeX, followed by ``\\approx`` the float when that adds anything."""
    expr = sympy.sympify(expr)
    out = tex(expr)
    if expr.is_number and not (expr.is_Integer or expr.is_infinite):
        try:
            approx = _num(sympy.N(expr, 20))
        except (TypeError, ValueError):
            return out
        if approx != out:
            out += r" \approx " + approx
    return out


def _paren(expr) -> str:
    """LaTeX of expr, in parentheses when it is a sum (an integrand)."""
    expr = sympy.sympify(expr)
    return rf"\left({tex(expr)}\right)" if expr.is_Add else tex(expr)


def _plain(expr) -> str:
    return str(sympy.sympify(expr))


def _approx(expr) -> str:
    """Plain text of a number, with ``~ float`` unless it is an integer."""
    expr = sympy.sympify(expr)
    if expr.is_Integer or not expr.is_number:
        return str(expr)
    return f"{expr} ~ {_num(sympy.N(expr, 20))}"


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe name from a formula: ``x*tanh(softplus(x))`` -> ``x_tanh_softplus_x``."""
    out = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit].strip("_")
    return out or "neuron"


# --------------------------------------------------------------------------
# derivations
# --------------------------------------------------------------------------

def _pair(value, what):
    if value is None:
        return None
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair [a, b], got {value!r}") from None
    return a, b


def derive_pair(f=None, h=None, range=None, output_range=None, delta=1, params=None):
    """(InputTransform or None, OutputTransform or None) as the page shows them.

    ``range`` is the sender's range of f (Theorem 4.1); ``output_range`` the
    emitting range of h (Theorem 4.3). With h alone, ``range`` may stand for
    the emitting range.
    """
    if f is None and h is None:
        raise ValueError("give an input transform f, an output transform h, or both")
    range = _pair(range, "range")
    output_range = _pair(output_range, "output_range")
    if h is not None and f is None and output_range is None:
        output_range, range = range, None
    it = ot = None
    if f is not None:
        if range is None:
            raise ValueError("the input transform f needs the sender's range [a, b]")
        it = derive_input(f, range[0], range[1], delta, params=params)
    if h is not None:
        if output_range is None:
            raise ValueError("the output transform h needs the emitting range [a, b] (output_range)")
        ot = derive_output(h, output_range[0], output_range[1], delta, params=params)
    return it, ot


def derivation_summary(it: InputTransform | None, ot: OutputTransform | None) -> str:
    """Plain-text kernels, constants and proof status (what ``ttfs derive`` prints)."""
    lines = []
    if it is not None:
        lines += [
            f"input transform (Theorem 4.1) f(x) = {_plain(it.f)} on the sender's range "
            f"[a, b] = [{_plain(it.a)}, {_plain(it.b)}], delta = {_plain(it.delta)}, "
            f"tau = delta/(b - a) = {_plain(it.tau)}",
            f"  eta(s) = {_plain(it.eta)}   for s >= 0 (0 before the input spike)",
            f"  C term per synapse (times w): f(a)/d = {_approx(it.const)}",
            f"  proof: {it.proof.summary()}",
        ]
    if ot is not None:
        inverse = (f"h^-1(y) = {_plain(ot.inverse)}" if ot.inverse is not None
                   else f"h^-1 by a monotone root finder on [{_num(ot.bracket[0])}, {_num(ot.bracket[1])}]")
        lines += [
            f"output transform (Theorem 4.3) h(x) = {_plain(ot.h)} on the emitting range "
            f"[a, b] = [{_plain(ot.a)}, {_plain(ot.b)}], delta = {_plain(ot.delta)}, "
            f"tau = delta/(b - a) = {_plain(ot.tau)}",
            f"  {inverse} ({ot.inverse_method}); h increasing ({ot.monotonicity} check)",
            f"  psi(s) = {_plain(ot.psi)}   for s in [0, delta)",
            f"  theta = h^-1(b) = {_approx(ot.theta)}",
            f"  proof: {ot.proof.summary()}",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# simulation (Figure 2)
# --------------------------------------------------------------------------

_GL_X = np.array([-math.sqrt(3 / 5), 0.0, math.sqrt(3 / 5)])
_GL_W = np.array([5 / 9, 8 / 9, 5 / 9])


def _graded(length: float, n: int = 400) -> np.ndarray:
    """Grid of [0, length], uniform plus geometric towards both ends.

    Kernels may be singular at an end of the window (eta of rsqrt at s = 0,
    psi of exp at s = delta when a = 0); the geometric part resolves them.
    """
    if length <= 0:
        return np.array([0.0])
    g = np.geomspace(1e-9, 1.0, n // 2)
    u = np.unique(np.clip(np.concatenate([np.linspace(0.0, 1.0, n), g, 1.0 - g]), 0.0, 1.0))
    return u * length


def _cumulative(fn, grid: np.ndarray) -> np.ndarray:
    """int_0^{grid[k]} fn, 3-node Gauss-Legendre per cell (nodes strictly inside)."""
    if grid.size < 2:
        return np.zeros_like(grid)
    lo, hi = grid[:-1], grid[1:]
    half = (hi - lo) / 2
    nodes = (lo + half)[:, None] + half[:, None] * _GL_X[None, :]
    with np.errstate(all="ignore"):
        vals = np.asarray(fn(nodes.reshape(-1)), dtype=np.float64)
    if vals.shape == ():
        vals = np.full(nodes.size, float(vals))
    cells = half * (vals.reshape(-1, 3) @ _GL_W)
    return np.concatenate([[0.0], np.cumsum(cells)])


def _output_kernel(ot: OutputTransform):
    """OutputKernel of a derivation; the root finder for h^-1 when its closed form does not compile
    (e.g. Lambert W, which has no NumPy implementation)."""
    from .numeric.compile import compile_expr
    from .numeric.kernels import OutputKernel
    from .symbolic.derive import Y

    if ot.inverse is not None:
        try:
            compile_expr(ot.inverse, (Y,), "numpy")
        except ValueError:
            return OutputKernel(ot.h, inverse=None, bracket=ot.bracket)
    return OutputKernel.from_transform(ot)


@dataclass
class Trace:
    """One input's run through a neuron: receiving stage, emitting stage, output spike.

    Times are absolute: the receiving stage is the sender's window
    ``[T_recv, T_emit) = [0, delta)``, the emitting stage ``[T_emit, T_end) =
    [delta, 2 delta)``. ``t_out`` is ``inf`` when the neuron stays silent
    (value a); ``x_out`` is the value the output spike encodes (eq. 7) and
    ``expected`` the closed form ``clip(h(f(x)), a, b)`` (eq. 9, 14).
    """

    x_in: float
    t_in: float
    t_recv: np.ndarray
    V_recv: np.ndarray
    t_emit: np.ndarray
    V_emit: np.ndarray
    V_at_emit: float
    theta: float
    t_out: float
    x_out: float
    expected: float


def simulate(it: InputTransform, ot: OutputTransform, inputs, n_grid: int = 400) -> list[Trace]:
    """Membrane potential of one neuron for single inputs (weight 1), from the kernels.

    Receiving stage (eq. 6): ``V(t) = (1/tau_s) (int_0^{t - t_j} eta(s) ds +
    C (t - T_recv))`` with the sender's ``tau_s`` and ``C = f(a_s)/d_s``
    (eq. 8); eta is the compiled range-generic kernel of
    :class:`~ttfs_symbolic.numeric.kernels.InputKernel`. Emitting stage:
    ``V(T_emit) + int_0^{t - T_emit} psi(s) ds`` with psi from
    :class:`~ttfs_symbolic.numeric.kernels.OutputKernel`, until it reaches
    ``theta`` (eq. 13); the crossing is interpolated between grid points.
    """
    from .numeric.dynamics import LayerTiming
    from .numeric.kernels import InputKernel

    delta = float(it.delta)
    if float(ot.delta) != delta:
        raise ValueError("the input and output transforms must share the time step delta")
    sender = LayerTiming(float(it.a), float(it.b), delta, T_emit=0.0)
    receiver = LayerTiming(float(ot.a), float(ot.b), delta, T_emit=delta)
    kin = InputKernel(it.f)
    kout = _output_kernel(ot)
    eta = kin.eta_fn("numpy")
    a_s, tau_s = sender.a, sender.tau
    const = float(sympy.N(it.const, 20))
    theta = kout.theta(receiver.b)
    f_num = kin.f_fn("numpy")
    # kinks of eta (a ReLU's step) become grid points, so no Gauss-Legendre cell straddles one
    breaks = [float(p) for p in kinks(it.eta, S, 0, it.delta)]

    # emitting stage: one cumulative psi table for all inputs
    s_emit = _graded(delta, n_grid)
    P = _cumulative(lambda s: kout.psi(s, receiver.b, receiver.tau), s_emit)
    traces = []
    for x in inputs:
        x = float(x)
        t_in = float(sender.encode(np.array([x]))[0])
        fired_in = math.isfinite(t_in)
        if fired_in:
            sig = _graded(delta - t_in, n_grid)
            sig = np.unique(np.concatenate([sig, [p for p in breaks if p < delta - t_in]]))
            Q = _cumulative(lambda s: eta(s, a_s, tau_s), sig)
            t_r = np.concatenate([[0.0], t_in + sig])
            q = np.concatenate([[0.0], Q])
        else:
            t_r = np.array([0.0, delta])
            q = np.zeros(2)
        V_r = (q + const * t_r) / tau_s
        V0 = float(V_r[-1])
        V_e = V0 + P
        if V0 >= theta:
            t_out, k = delta, 0
        else:
            above = np.nonzero(V_e >= theta)[0]
            if above.size == 0:
                t_out, k = math.inf, len(s_emit) - 1
            else:
                k = int(above[0])
                s0, s1, v0, v1 = s_emit[k - 1], s_emit[k], V_e[k - 1], V_e[k]
                t_out = delta + s0 + (s1 - s0) * (theta - v0) / (v1 - v0)
        x_out = float(receiver.decode(np.array([t_out if t_out < receiver.T_end else math.inf]))[0])
        fx = float(np.asarray(f_num(np.array([min(max(x, sender.a), sender.b)])))[0])
        expected = float(np.asarray(kout.apply(np.array([fx]), receiver.a, receiver.b))[0])
        traces.append(Trace(x, t_in, t_r, V_r, delta + s_emit[:k + 1], V_e[:k + 1], V0, theta, t_out,
                            x_out, expected))
    return traces


def _default_inputs(a: float, b: float) -> list[float]:
    return [a + (b - a) * q for q in (0.15, 0.35, 0.55, 0.75, 0.95)]


def _round_out(lo: float, hi: float) -> tuple[float, float]:
    """A tidy range holding [lo, hi] (2 significant decimals outwards)."""
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    return math.floor((lo - pad) * 100) / 100, math.ceil((hi + pad) * 100) / 100


def companion_transforms(it: InputTransform | None, ot: OutputTransform | None):
    """Fill in the missing half of a neuron for the plot: identity transforms.

    f alone: identity output transform (Corollary 4.4) on a range holding f on
    [a, b]. h alone: identity input transform (Corollary 4.2) from a sender
    whose range holds the potentials h^-1 maps into the emitting range.
    Returns (it, ot, note) where note says what was added.
    """
    from .numeric.kernels import InputKernel

    if it is not None and ot is not None:
        return it, ot, ""
    if it is not None:
        xs = np.linspace(float(it.a), float(it.b), 257)
        with np.errstate(all="ignore"):
            fx = np.asarray(InputKernel(it.f).f_fn("numpy")(xs), dtype=float) * np.ones_like(xs)
        lo, hi = _round_out(float(np.nanmin(fx)), float(np.nanmax(fx)))
        ot = derive_output("x", lo, hi, it.delta)
        return it, ot, (f"The emitting stage uses the identity output transform (Corollary 4.4) on "
                        f"[{_num(lo)}, {_num(hi)}], a range that holds f on [a, b].")
    kout = _output_kernel(ot)
    a, b = float(ot.a), float(ot.b)
    v_hi = kout.theta(b)
    v_lo = kout.theta_low(a)
    if not math.isfinite(v_lo):
        v_lo = kout.theta(a + (b - a) / 50)
    lo, hi = _round_out(v_lo, v_hi)
    it = derive_input("x", lo, hi, ot.delta)
    return it, ot, (f"The receiving stage uses the identity input transform (Corollary 4.2) from a sender "
                    f"with range [{_num(lo)}, {_num(hi)}], which holds the potentials h^-1 maps onto "
                    "the emitting range.")


def plot_dynamics(it: InputTransform | None, ot: OutputTransform | None, path, inputs=None,
                  title: str = "", aggregate: str = "sum") -> Path:
    """Figure 2: potential through the receiving and emitting stages, PNG at ``path``.

    Missing transforms are replaced by identity ones (see
    :func:`companion_transforms`). ``aggregate="max"`` (the softmax layer-0
    neuron) draws spikes only: the neuron fires at its earliest input.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it, ot, _ = companion_transforms(it, ot)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no folder {path.parent} for the plot {path.name}")
    delta = float(it.delta)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if aggregate == "max":
        from .numeric.dynamics import LayerTiming

        sender = LayerTiming(float(it.a), float(it.b), delta, 0.0)
        xs = inputs if inputs is not None else _default_inputs(sender.a, sender.b)[1:4]
        ts = [float(sender.encode(np.array([x]))[0]) for x in xs]
        for i, (x, t) in enumerate(zip(xs, ts)):
            ax.vlines(t, i, i + 0.8, color=colors[i % len(colors)], lw=2, label=f"input x = {x:.3g}")
        first = min(ts)
        ax.vlines(first + delta, len(xs), len(xs) + 0.8, color="k", lw=3, label="output: max")
        ax.set_yticks([])
        ax.set_ylabel("spikes")
    else:
        traces = simulate(it, ot, inputs if inputs is not None else _default_inputs(float(it.a), float(it.b)))
        for i, tr in enumerate(traces):
            c = colors[i % len(colors)]
            ax.plot(tr.t_recv, tr.V_recv, color=c, lw=1.5, label=f"x = {tr.x_in:.3g} -> {round(tr.x_out, 9):.3g}")
            ax.plot(tr.t_emit, tr.V_emit, color=c, lw=1.5)
            if math.isfinite(tr.t_in):
                ax.plot([tr.t_in], [np.interp(tr.t_in, tr.t_recv, tr.V_recv)], "|", color=c, ms=12)
            if math.isfinite(tr.t_out):
                ax.plot([tr.t_out], [tr.theta], "*", color=c, ms=12, mec="k")
        theta = traces[0].theta
        ax.hlines(theta, delta, 2 * delta, colors="k", linestyles="--", lw=1, label=r"threshold $\theta$")
        ax.set_ylabel("membrane potential V")
    ax.axvline(delta, color="0.6", lw=1)
    ax.set_xlim(0, 2 * delta)
    ax.set_xlabel(r"time t   (receiving stage $[T_{recv}, T_{emit})$ | emitting stage $[T_{emit}, T_{end})$)")
    ax.set_title(title or "membrane potential")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------

def _input_section(it: InputTransform) -> list[str]:
    a, b, delta, tau, d = it.a, it.b, it.delta, it.tau, it.d
    u = sympy.Symbol("u", real=True)
    eta_u = it.derivative.subs(X, u)
    integral = sympy.Integral(it.eta, (S, 0, tau * (X - a)))
    f_a = it.f_a
    out = [
        "## Input transform (Theorem 4.1)",
        "",
        "Target function on the sender's range "
        f"$[a, b] = [{tex(a)}, {tex(b)}]$, $d = b - a = {tex(d)}$:",
        "",
        f"$$f(x) = {tex(it.f)}$$",
        "",
        "Its derivative:",
        "",
        f"$$f'(x) = {tex(it.derivative)}$$",
        "",
        "An input spike at $t_j$ in the sender's window stands for "
        r"$x_j = (T_{ref} - t_j)/\tau$ (eq. 7). The kernel is a function of the time since that "
        r"spike, $s = t - t_j$, and substitutes $u = \frac{s}{\tau} + a$ into $f'$, with the "
        r"**sender's** time constant",
        "",
        rf"$$\tau = \frac{{\delta}}{{b - a}} = {_value(tau)}\qquad(\delta = {tex(delta)})$$",
        "",
        "so that (eq. 8)",
        "",
        r"$$\eta(s) = \begin{cases} f'\left(\frac{s}{\tau} + a\right) = " + tex(it.eta)
        + r" & s \ge 0 \\ 0 & s < 0 \end{cases}$$",
        "",
        "### The integral identity",
        "",
        r"The receiving stage ends at the end of the sender's window, $T_{end} = T_{ref} - a\tau$, "
        r"so the kernel of an input $x$ acts for $T_{end} - t_j = \tau(x - a)$. With "
        r"$u = \frac{s}{\tau} + a$, $\mathrm{d}s = \tau\,\mathrm{d}u$, the limits $s = 0$ and "
        r"$s = \tau(x - a)$ become $u = a$ and $u = x$:",
        "",
        r"$$\frac{1}{\tau}\int_0^{\tau(x - a)} \eta(s)\,\mathrm{d}s"
        r" = \frac{1}{\tau}\int_0^{\tau(x - a)} f'\left(\frac{s}{\tau} + a\right)\mathrm{d}s"
        r" = \int_a^x f'(u)\,\mathrm{d}u = f(x) - f(a)$$",
        "",
        "Here, with the derived kernel:",
        "",
        f"$$\\frac{{1}}{{\\tau}}\\int_0^{{\\tau(x - a)}} \\eta(s)\\,\\mathrm{{d}}s = {tex(integral / tau)}"
        f" = \\int_{{{tex(a)}}}^{{x}} {_paren(eta_u)}\\,\\mathrm{{d}}u = {tex(it.f)} - \\left({_value(f_a)}\\right)$$",
        "",
        "### The constant C",
        "",
        "Each synapse adds $w_j f(a)/d$ to C (eq. 8):",
        "",
        rf"$$C = \sum_j w_j \frac{{f(a)}}{{d}},\qquad \frac{{f(a)}}{{d}} = {_value(it.const)}$$",
        "",
        r"Over the receiving stage the constant adds $\frac{1}{\tau}\int_{T_{recv}}^{T_{emit}} C\,"
        r"\mathrm{d}t = \frac{\delta}{\tau} C = d\,C = \sum_j w_j f(a)$, so the accumulated potential is",
        "",
        r"$$V(T_{emit}) = \sum_j w_j \left(f(x_j) - f(a)\right) + \sum_j w_j f(a) = \sum_j w_j f(x_j)"
        r"\qquad\text{(eq. 9)}$$",
        "",
        "and a silent input (value $a$, no spike) contributes exactly $w_j f(a)$, through C alone.",
        "",
    ]
    return out


def _output_section(ot: OutputTransform) -> list[str]:
    a, b, tau, d = ot.a, ot.b, ot.tau, ot.d
    hprime = sympy.diff(ot.h, X)
    out = [
        "## Output transform (Theorem 4.3)",
        "",
        f"Target function on the emitting range $[a, b] = [{tex(a)}, {tex(b)}]$, $d = {tex(d)}$:",
        "",
        f"$$h(x) = {tex(ot.h)},\\qquad h'(x) = {tex(hprime)}$$",
        "",
        f"h is increasing where the theorem needs it ({ot.monotonicity} check on "
        f"$[{_num(ot.bracket[0])}, {_num(ot.bracket[1])}]$, the preimage of $[a, b]$ widened on both sides).",
        "",
    ]
    if ot.inverse is not None:
        out += [
            "Its inverse, found **symbolically** (SymPy's real, increasing branch, checked on $(a, b]$):",
            "",
            f"$$h^{{-1}}(y) = {tex(ot.inverse)}$$",
            "",
        ]
    else:
        out += [
            "SymPy found no closed-form real, increasing branch of the inverse: $h^{-1}$ is computed "
            "**numerically**, by a monotone root finder on "
            f"$[{_num(ot.bracket[0])}, {_num(ot.bracket[1])}]$, and psi below is written with it.",
            "",
        ]
    theta_low = ot.theta_low
    low_txt = (r"$-\infty$ (h never reaches a)" if theta_low == -sympy.oo
               else f"${_value(theta_low)}$")
    out += [
        "With the **receiver's** time constant "
        rf"$\tau = \frac{{\delta}}{{b - a}} = {_value(tau)}$ (eq. 13):",
        "",
        r"$$\psi(s) = \frac{1}{\tau\,h'\left(h^{-1}\left(b - \frac{s}{\tau}\right)\right)} = "
        + tex(ot.psi) + r",\qquad s \in [0, \delta)$$",
        "",
        rf"$$\theta = h^{{-1}}(b) = {_value(ot.theta)}$$",
        "",
        "### The integral identity",
        "",
        r"A spike at $t = T_{emit} + \tau(b - x)$ stands for $x$ (eq. 7). Between $T_{emit}$ and $t$ the "
        r"potential rises by (substituting $y = b - \frac{s}{\tau}$ and using "
        r"$g'(y)\,h'(g(y)) = 1$ for $g = h^{-1}$, eq. 31-32)",
        "",
        r"$$\int_0^{\tau(b - x)} \psi(s)\,\mathrm{d}s = \int_x^b \frac{\mathrm{d}y}{h'(h^{-1}(y))}"
        r" = h^{-1}(b) - h^{-1}(x) = \theta - h^{-1}(x)$$",
        "",
        r"so the potential reaches $\theta$ exactly when $h^{-1}(x) = V(T_{emit})$: the spike encodes "
        r"$x = h(V(T_{emit}))$ (eq. 33-34). If $V(T_{emit}) \ge \theta$ the neuron fires at $T_{emit}$ "
        r"(value $b$); if $V(T_{emit}) < h^{-1}(a)$ = " + low_txt + r" the potential is still below "
        r"$\theta$ at $T_{end}$ and the neuron stays silent (value $a$), eq. 35. Altogether",
        "",
        r"$$x = \mathrm{clip}\left(h(V(T_{emit})), a, b\right)\qquad\text{(eq. 14)}$$",
        "",
    ]
    return out


def _proof_lines(record) -> list[str]:
    verdict = "holds" if record.holds else "FAILS"
    out = [f"- **{record.theorem}**, {record.method}: `{record.identity}` {verdict}."]
    if not getattr(record, "parts", ()):
        out.append(f"    - how: {record.detail}")
    for part in getattr(record, "parts", ()):
        out.append(f"    - `{part.statement}`: {'holds' if part.holds else 'FAILS'}, {part.method} ({part.how})")
    if record.method == "numeric":
        out.append(f"    - mpmath at {record.dps} digits on {record.points} points; largest relative error "
                   f"{record.max_error:.1e}, required below {record.tolerance:.0e}")
    return out


def derivation_page(f=None, h=None, range=None, output_range=None, delta=1, params=None, title=None,
                    plot_path=None, *, plot_link=None, paper: str = "", description: str = "",
                    aggregate: str = "sum", name: str | None = None) -> str:
    """Markdown (with LaTeX) of the derivation of one neuron; optionally the plot.

    ``f`` (Theorem 4.1) is derived on ``range`` (the sender's range), ``h``
    (Theorem 4.3) on ``output_range`` (with h alone, ``range`` may stand for
    it). ``params`` names constants of the formulas. When ``plot_path`` is
    given, the Figure-2 plot is written there and linked from the page as
    ``plot_link`` (default: its file name, i.e. the PNG sits next to the
    page). Errors of the derivations (FormulaError, RangeError, DomainError,
    MonotonicityError, all ValueError) propagate.
    """
    it, ot = derive_pair(f, h, range, output_range, delta, params)
    return _page(it, ot, title=title, plot_path=plot_path, plot_link=plot_link, paper=paper,
                 description=description, aggregate=aggregate, params=params, name=name)


def _page(it, ot, *, title=None, plot_path=None, plot_link=None, paper="", description="",
          aggregate="sum", params=None, name=None, draw=True) -> str:
    if title is None:
        parts = []
        if it is not None:
            parts.append(f"f(x) = {_plain(it.f)}")
        if ot is not None:
            parts.append(f"h(x) = {_plain(ot.h)}")
        title = "Neuron " + ", ".join(parts)
    lines = [f"# {title}", ""]
    if name:
        lines += [f"Catalogue name: `{name}`", ""]
    if description:
        lines += [description, ""]
    if paper:
        lines += [f"**Paper:** {paper}", ""]
    lines += ["| | |", "|---|---|"]
    if it is not None:
        lines.append(f"| input transform | $f(x) = {tex(it.f)}$ on the sender's range "
                     f"$[{tex(it.a)}, {tex(it.b)}]$ |")
    if ot is not None:
        lines.append(f"| output transform | $h(x) = {tex(ot.h)}$ on the emitting range "
                     f"$[{tex(ot.a)}, {tex(ot.b)}]$ |")
    delta = (it or ot).delta
    lines.append(rf"| time step | $\delta = {tex(delta)}$ |")
    if params:
        shown = ", ".join(f"`{k} = {v!r}`" if not isinstance(v, str) else f"`{k} = {v}`"
                          for k, v in sorted(params.items()))
        lines.append(f"| parameters | {shown} |")
    if it is not None:
        lines.append(rf"| kernel | $\eta(s) = {tex(it.eta)}$ for $s \ge 0$ |")
        lines.append(f"| C per synapse | $w\\,f(a)/d = w \\cdot \\left({_value(it.const)}\\right)$ |")
    if ot is not None:
        lines.append(rf"| kernel | $\psi(s) = {tex(ot.psi)}$ on $[0, \delta)$ |")
        lines.append(rf"| threshold | $\theta = {_value(ot.theta)}$ |")
    proofs = [t.proof for t in (it, ot) if t is not None]
    lines.append("| proof | " + "; ".join(f"{p.theorem}: {p.method}" for p in proofs) + " |")
    lines.append("")
    if aggregate == "max":
        lines += [
            "!!! note \"Not a sum of kernels\"",
            "    This neuron's aggregate is the earliest input spike, not a sum of kernels: it fires at "
            "its first input, so it emits $\\max_j x_j$ (Appendix C.2, layer 0). The transforms below "
            "are the identity ones of its definition.",
            "",
        ]
    if it is not None:
        lines += _input_section(it)
    if ot is not None:
        lines += _output_section(ot)
    if it is not None and ot is not None and aggregate == "sum":
        lines += [
            "## The whole neuron",
            "",
            r"$$x_{out} = \mathrm{clip}\left(h(V), a', b'\right) = "
            r"\mathrm{clip}\left(" + tex(ot.h.subs(X, sympy.Symbol("V", real=True)))
            + rf", {tex(ot.a)}, {tex(ot.b)}\right),\qquad V = \sum_j w_j f(x_j)$$",
            "",
            "with $[a', b']$ the emitting range and $f$ derived on the sender's range.",
            "",
        ]
    lines += ["## How it was verified", ""]
    for p in proofs:
        lines += _proof_lines(p)
    lines.append("")
    if plot_path is not None:
        _, _, note = companion_transforms(it, ot)
        if draw:
            plot_dynamics(it, ot, plot_path, title=title, aggregate=aggregate)
        link = plot_link or Path(plot_path).name
        lines += [
            "## Membrane potential",
            "",
            f"![membrane potential]({link})",
            "",
        ]
        if aggregate == "max":
            lines += ["Input spikes in the sender's window and the output spike one window later, at the "
                      "earliest input's position: the maximum.", ""]
        else:
            lines += [
                "As in the paper's Figure 2: one input of weight 1 at a time (values listed in the legend "
                "with the value the output spike encodes), simulated from the compiled kernels. "
                r"Receiving stage $[T_{recv}, T_{emit})$: $V(t) = \frac{1}{\tau}\left(\int_0^{t - t_j}"
                r"\eta(s)\,\mathrm{d}s + C\,(t - T_{recv})\right)$; emitting stage $[T_{emit}, T_{end})$: "
                r"$V(T_{emit}) + \int_0^{t - T_{emit}} \psi(s)\,\mathrm{d}s$ up to the threshold $\theta$ "
                "(dashed); a star marks the output spike, a bar the input spike.",
                "",
            ]
            if note:
                lines += [note, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def neuron_page(neuron, plot_path=None, plot_link=None, draw: bool = True) -> str:
    """The derivation page of a catalogue :class:`~ttfs_symbolic.catalogue.NeuronDef`.

    With ``plot_path`` the page links the plot (``plot_link``, default its
    file name) and, unless ``draw=False``, draws it there; the Markdown is the
    same either way.
    """
    it = neuron.input_transform()
    ot = neuron.output_transform()
    return _page(it, ot, title=neuron.title or neuron.name, plot_path=plot_path, plot_link=plot_link,
                 paper=neuron.paper, description=neuron.description, aggregate=neuron.aggregate,
                 params=neuron.params or None, name=neuron.name, draw=draw)


def proof_methods(neuron) -> str:
    """'symbolic' / 'numeric' per transform of a catalogue neuron, e.g. ``f: symbolic, h: numeric``."""
    return f"f: {neuron.input_transform().proof.method}, h: {neuron.output_transform().proof.method}"


def neuron_index(neurons) -> str:
    """``docs/neurons/index.md``: the catalogue as a table (name, title, f, h, paper, proof method)."""
    lines = ["# Neuron catalogue", "",
             "<!-- generated by scripts/gen_docs.py: do not edit -->", "",
             "Every definition in `neurons/` (TOML, one formula each), derived with Theorem 4.1 (f) on its "
             "`range` and Theorem 4.3 (h) on its `output_range`. Each page shows the derivation step by "
             "step, how it was verified, and the membrane potential (Figure 2). Add a neuron by adding a "
             "file; see [Define a neuron](../guide/define.md).", "",
             "| neuron | title | f | h | paper | proof |", "|---|---|---|---|---|---|"]
    for nd in neurons:
        lines.append(f"| [`{nd.name}`]({nd.name}.md) | {nd.title} | `{nd.f}` | `{nd.h}` | {nd.paper or '—'} | "
                     f"{proof_methods(nd)} |")
    return "\n".join(lines) + "\n"


def write_derivation(page_path, f=None, h=None, range=None, output_range=None, delta=1, params=None,
                     title=None, plot_path=None, plot: bool = True):
    """Write the page (and its PNG next to it, or at ``plot_path``); returns (page, png or None, it, ot)."""
    page_path = Path(page_path)
    it, ot = derive_pair(f, h, range, output_range, delta, params)
    png = None
    link = None
    if plot:
        png = Path(plot_path) if plot_path is not None else page_path.with_suffix(".png")
        link = os.path.relpath(png.resolve(), page_path.resolve().parent).replace(os.sep, "/")
    text = _page(it, ot, title=title, plot_path=png, plot_link=link, params=params)
    page_path.write_text(text)
    return page_path, png, it, ot


# --------------------------------------------------------------------------
# constructions (Section 4.3.2-4.3.4, Appendix C)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Synapse:
    """Synapses from population ``src`` to every neuron of ``dst``: ``count`` per target neuron."""

    src: str
    dst: str
    count: sympy.Expr
    weight: str
    f: str


@dataclass(frozen=True)
class Population:
    """A layer of a construction: ``count`` neurons emitting in window ``window``."""

    name: str
    count: sympy.Expr
    window: int
    neuron: str
    role: str


def _delay(pops: dict, syn: Synapse) -> int:
    """Whole windows a spike waits: the target receives in the window before its own."""
    return pops[syn.dst].window - 1 - pops[syn.src].window


def _network_tables(pops: list[Population], syns: list[Synapse], inputs: set[str]) -> tuple[list[str], sympy.Expr,
                                                                                               sympy.Expr]:
    """Markdown tables of layers and synapses (with delays); totals of neurons and synaptic operations."""
    by = {p.name: p for p in pops}
    lines = ["| layer | neurons | window | neuron | role |", "|---|---|---|---|---|"]
    neurons = sympy.Integer(0)
    for p in pops:
        counted = p.name not in inputs
        if counted:
            neurons += p.count
        link = f"[`{p.neuron}`](../neurons/{p.neuron}.md)" if p.neuron and counted else (p.neuron or "—")
        lines.append(f"| {p.name} | ${tex(p.count)}${'' if counted else ' (input)'} | n + {p.window} | "
                     f"{link} | {p.role} |")
    lines += ["", "| from | to | synapses per target | weight | f | delay (windows) | operations |",
              "|---|---|---|---|---|---|---|"]
    ops = sympy.Integer(0)
    for sy in syns:
        per = sy.count * by[sy.dst].count
        ops += per
        lines.append(f"| {sy.src} | {sy.dst} | ${tex(sy.count)}$ | {sy.weight} | {sy.f} | {_delay(by, sy)} | "
                     f"${tex(per)}$ |")
    lines.append("")
    return lines, sympy.expand(neurons), sympy.expand(ops)


_DELAYS = ("Inputs from an earlier window than the previous layer reach their target through **synaptic "
           "delays of whole windows** ([design](../design.md)): a spike sent in window m arrives, shifted by k whole "
           "windows, at the same position in window m + k, so it still stands for the same value on its "
           "sender's range. No relay neurons are added, and a delayed spike costs one synaptic operation, "
           "as any other; the delay column of the synapse table says how many windows each synapse waits. With relay "
           "neurons instead, every delayed value would cost one identity neuron per window waited and one "
           "more synaptic operation each.")


def _counts_lines(kind: str, neurons, ops, table_neurons, table_ops) -> list[str]:
    dn, do = sympy.expand(neurons - table_neurons), sympy.expand(ops - table_ops)
    verdict = ("the enumeration above equals Table 3" if dn == 0 and do == 0 else
               f"the enumeration above differs from Table 3 by ${tex(dn)}$ neurons and ${tex(do)}$ operations")
    return [
        f"## Counts (Table 3, {kind})",
        "",
        "| | neurons | synaptic operations |",
        "|---|---|---|",
        f"| this construction (sum of the tables above) | ${tex(neurons)}$ | ${tex(ops)}$ |",
        f"| Table 3 (`ttfs_symbolic.energy`) | ${tex(table_neurons)}$ | ${tex(table_ops)}$ |",
        "",
        f"SymPy: {verdict}.",
        "",
    ]


def _check_line(err: float, tol: float, what: str) -> str:
    ok = err <= tol
    exponent = round(math.log10(tol))
    return (f"Numeric check (exact mode, float64, the derived transforms in closed form): {what} "
            f"{'agrees' if ok else 'DOES NOT agree'} with the reference to within 1e{exponent}.")


def _neuron_row(label: str, it: InputTransform | None, ot: OutputTransform | None, weight: str = "") -> list[str]:
    """Rows of the kernels table: one per synapse kind (f), one for the emitting stage (h)."""
    out = []
    if it is not None:
        out.append(f"| {label} | $f(x) = {tex(it.f)}$ on $[{tex(it.a)}, {tex(it.b)}]$ | "
                   rf"$\eta(s) = {tex(it.eta)}$ | $f(a)/d = {_value(it.const)}$ | {weight} |")
    if ot is not None:
        out.append(f"| {label.split(' (')[0]} (emitting) | $h(x) = {tex(ot.h)}$ on $[{tex(ot.a)}, {tex(ot.b)}]$ | "
                   rf"$\psi(s) = {tex(ot.psi)}$ | $\theta = {_value(ot.theta)}$ | |")
    return out


_ROW_HEAD = ["| neuron | transform | kernel | constant | weight |", "|---|---|---|---|---|"]


def _apply_out(ot: OutputTransform, V):
    return _output_kernel(ot).apply(np.asarray(V, dtype=float), float(ot.a), float(ot.b))


def _f(it: InputTransform, x):
    from .numeric.kernels import InputKernel

    return np.asarray(InputKernel(it.f).f_fn("numpy")(np.asarray(x, dtype=float)), dtype=float) * np.ones_like(
        np.asarray(x, dtype=float))


def softmax_page() -> str:
    """``docs/constructions/softmax.md``: Section 4.3.2, Figure 3, Theorem 4.6, Appendix C.2."""
    from .energy import softmax_counts

    Nn = 4
    a, b = -4, 4
    za, zb = a - b, 0
    lse_b = sympy.log(Nn)
    id_x = derive_input("x", a, b)
    lse_in = derive_input("exp(x)", za, zb)
    lse_out = derive_output("log(x)", 0, lse_b)
    id_z = derive_input("x", za, zb)
    id_lse = derive_input("x", 0, lse_b)
    exp_out = derive_output("exp(x)", 0, 1)
    N = sympy.Symbol("N", positive=True, integer=True)
    pops = [Population("x", N, 0, "", "inputs x_1..x_N"),
            Population("max", sympy.Integer(1), 1, "max", "layer 0: fires at its first input, emits max_j x_j"),
            Population("z", N, 2, "identity", "layer 0: z_i = x_i - max"),
            Population("lse", sympy.Integer(1), 3, "logsumexp", "layer I: log sum_j exp(z_j) (Theorem 4.6)"),
            Population("out", N, 4, "exp", "layer II: exp(z_i - lse) (eq. 36-37)")]
    syns = [Synapse("x", "max", N, "1", "max aggregate"),
            Synapse("x", "z", sympy.Integer(1), "1", "x"),
            Synapse("max", "z", sympy.Integer(1), "-1", "x"),
            Synapse("z", "lse", N, "1", "exp(x)"),
            Synapse("z", "out", sympy.Integer(1), "1", "x"),
            Synapse("lse", "out", sympy.Integer(1), "-1", "x")]
    tables, neurons, ops = _network_tables(pops, syns, {"x"})
    tn, to = softmax_counts(N)
    C_z = 1 * id_x.const + (-1) * id_x.const
    C_lse = Nn * lse_in.const
    C_out = 1 * id_z.const + (-1) * id_lse.const
    # numeric check with the derived transforms (closed forms)
    x = np.array([-3.1, 0.4, 2.2, -0.7])
    m = x.max()
    z = np.clip(x - m, za, zb)
    lse = _apply_out(lse_out, np.array([_f(lse_in, z).sum()]))[0]
    out = _apply_out(exp_out, z - lse)
    ref = np.exp(x - m) / np.exp(x - m).sum()
    err = float(np.abs(out - ref).max())
    lines = [
        "# Softmax",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Section 4.3.2, Figure 3, Theorem 4.6 and Appendix C.2: softmax of a row $(x_1, \\dots, x_N)$ "
        "(eq. 18) from three catalogue neurons, "
        "$\\mathrm{softmax}_i = \\exp\\left(x_i - \\log\\sum_j e^{x_j}\\right)$ (eq. 20, 37).",
        "",
        "* **Layer 0** (optional, used by the converter): a [`max`](../neurons/max.md) neuron fires at the "
        "first input spike (the largest value fires first), then $z_i = x_i - \\max_j x_j$ by identity "
        "neurons. This does not change the result and bounds the ranges: $z_i \\in [a - b, 0]$, with one "
        "$z_i = 0$.",
        "* **Layer I**: one [`logsumexp`](../neurons/logsumexp.md) neuron, $f = \\exp$ (Theorem 4.1) and "
        "$h = \\log$ (Theorem 4.3), on the range $[0, \\log N]$, which holds $\\log\\sum_j e^{z_j}$ because "
        "$1 \\le \\sum_j e^{z_j} \\le N$.",
        "* **Layer II**: $N$ [`exp`](../neurons/exp.md) neurons, identity input transform with weights "
        "$1$ on $z_i$ and $-1$ on the log-sum-exp, $h = \\exp$ on $[0, 1]$.",
        "",
        "## Wiring",
        "",
    ] + tables + [
        _DELAYS,
        "",
        f"## Derived kernels and constants (example: N = {Nn}, inputs on $[{a}, {b}]$)",
        "",
    ] + _ROW_HEAD + _neuron_row("z (from x)", id_x, None, "1") + _neuron_row("z (from max)", id_x, None, "-1") + \
        _neuron_row("lse", lse_in, lse_out, "1") + _neuron_row("out (from z)", id_z, None, "1") + \
        _neuron_row("out (from lse)", id_lse, exp_out, "-1") + [
        "",
        "Constants C (eq. 8: $\\sum_j w_j f_j(a_j)/d_j$ over the synapses, each with its sender's range):",
        "",
        f"$$C_z = 1\\cdot\\left({tex(id_x.const)}\\right) - 1\\cdot\\left({tex(id_x.const)}\\right) = "
        f"{_value(C_z)}$$",
        "",
        f"$$C_{{lse}} = N\\,\\frac{{e^{{a_z}}}}{{d_z}} = {_value(C_lse)}\\qquad\\text{{(Theorem 4.6, eq. 19)}}$$",
        "",
        f"$$C_{{out}} = 1\\cdot\\left({tex(id_z.const)}\\right) - 1\\cdot\\left({tex(id_lse.const)}\\right) "
        f"= {_value(C_out)}$$",
        "",
        "The exp neuron's kernel is $\\psi(s) = 1/(\\tau b - s) = 1/(T_{ref} - T_{emit} - s)$ and "
        f"$\\theta = \\log b$ (eq. 36); here $\\psi(s) = {tex(exp_out.psi)}$, $\\theta = {_value(exp_out.theta)}$. "
        "A potential below $\\log a$ never reaches $\\theta$ (for $a = 0$: never), so the value $a$ is a "
        "silent neuron.",
        "",
        _check_line(err, 1e-12, f"softmax of x = {x.tolist()}"),
        "",
    ] + _counts_lines("one row of N", neurons, ops, tn, to)
    return "\n".join(lines).rstrip("\n") + "\n"


def layernorm_page() -> str:
    """``docs/constructions/layernorm.md``: Section 4.3.3 (eq. 21-23)."""
    from .energy import layernorm_counts

    Nn = 4
    a, b = -2, 2
    ca, cb = a - b, b - a
    va, vb = 0, cb ** 2
    eps = sympy.Rational(1, 100000)
    ra, rb = 0, 400
    oa, ob = -2, 2
    id_x = derive_input("x", a, b)
    sq = derive_input("x**2", ca, cb)
    id_c = derive_input("x", ca, cb)
    rs = derive_input("1/sqrt(x + eps)", va, vb, params={"eps": eps})
    log_c = derive_input("log(x + c)", ca, cb, params={"c": "1 - a"})
    log_r = derive_input("log(x + c)", ra, rb, params={"c": "1 - a"})
    c1, c2 = 1 - sympy.Integer(ca), 1 - sympy.Integer(ra)
    y_b = sympy.log(1 + (cb - ca)) + sympy.log(1 + (rb - ra))
    exp_y = derive_input("exp(x)", 0, y_b)
    id_r = derive_input("x", ra, rb)
    out_t = derive_output("x", oa, ob)
    N = sympy.Symbol("N", positive=True, integer=True)
    pops = [Population("x", N, 0, "", "inputs"),
            Population("mean", sympy.Integer(1), 1, "identity", "mean, weights 1/N"),
            Population("centred", N, 2, "identity", "x_i - mean"),
            Population("var", sympy.Integer(1), 3, "square", "Var = (1/N) sum_i (x_i - mean)^2 (eq. 22)"),
            Population("rsqrt", sympy.Integer(1), 4, "rsqrt", "1/sqrt(Var + eps) (eq. 23)"),
            Population("product I", N, 5, "log_shift", "log(centred_i + c1) + log(rsqrt + c2) (eq. 24)"),
            Population("product II", N, 6, "exp_input", "gamma_i centred_i rsqrt + beta_i (eq. 26-27)")]
    syns = [Synapse("x", "mean", N, "1/N", "x"),
            Synapse("x", "centred", sympy.Integer(1), "1", "x"),
            Synapse("mean", "centred", sympy.Integer(1), "-1", "x"),
            Synapse("centred", "var", N, "1/N", "x**2"),
            Synapse("var", "rsqrt", sympy.Integer(1), "1", "1/sqrt(x + eps)"),
            Synapse("centred", "product I", sympy.Integer(1), "1", "log(x + c1)"),
            Synapse("rsqrt", "product I", sympy.Integer(1), "1", "log(x + c2)"),
            Synapse("product I", "product II", sympy.Integer(1), "gamma_i", "exp(x)"),
            Synapse("centred", "product II", sympy.Integer(1), "-gamma_i c2", "x"),
            Synapse("rsqrt", "product II", sympy.Integer(1), "-gamma_i c1", "x")]
    tables, neurons, ops = _network_tables(pops, syns, {"x"})
    tn, to = layernorm_counts(N)
    # numeric check
    x = np.array([-1.3, 0.2, 1.7, 0.5])
    mean = _apply_out(derive_output("x", a, b), np.array([(x / Nn).sum()]))[0]
    cen = x - mean
    var = (_f(sq, cen) / Nn).sum()
    r = float(_f(rs, np.array([var]))[0])
    y = _f(log_c, cen) + _f(log_r, np.array([r]))
    V2 = _f(exp_y, y) - float(c2) * cen - float(c1) * r - float(c1 * c2)
    out = _apply_out(out_t, V2)
    ref = (x - x.mean()) / np.sqrt(x.var() + float(eps))
    err = float(np.abs(out - ref).max())
    lines = [
        "# LayerNorm",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Section 4.3.3: $\\mathrm{LayerNorm}(x) = \\frac{x - \\mathbb{E}(x)}{\\sqrt{\\mathrm{Var}(x) + "
        "\\varepsilon}}\\cdot\\gamma + \\beta$ (eq. 21) from a mean neuron, subtraction neurons, the "
        "[`square`](../neurons/square.md) neuron (eq. 22), the [`rsqrt`](../neurons/rsqrt.md) neuron "
        "(eq. 23) and the multiplication network of Section 4.3.4 "
        "([`log_shift`](../neurons/log_shift.md), [`exp_input`](../neurons/exp_input.md); see "
        "[Multiplication](multiplication.md)). $\\gamma$ and $\\beta$ are folded into the weights and the "
        "constant of the product's layer II.",
        "",
        "## Wiring",
        "",
    ] + tables + [
        _DELAYS,
        "",
        f"## Derived kernels and constants (example: N = {Nn}, inputs on $[{a}, {b}]$, "
        f"$\\varepsilon = {tex(eps)}$)",
        "",
        f"Ranges: centred values on $[{ca}, {cb}]$, variance on $[{va}, {vb}]$, rsqrt on $[{ra}, {rb}]$, "
        f"product layer I on $[0, {tex(y_b)}]$ (with $c_i = 1 - a_i$ each logarithm lies in "
        "$[0, \\log(1 + d_i)]$: layer I never clips), output on "
        f"$[{oa}, {ob}]$.",
        "",
    ] + _ROW_HEAD + _neuron_row("mean (from x)", id_x, None, "1/N") + \
        _neuron_row("var (from centred)", sq, None, "1/N") + _neuron_row("rsqrt (from var)", rs, None, "1") + \
        _neuron_row("product I (from centred)", log_c, None, "1") + \
        _neuron_row("product I (from rsqrt)", log_r, None, "1") + \
        _neuron_row("product II (from product I)", exp_y, None, "γ_i") + \
        _neuron_row("product II (from centred)", id_c, None, "−γ_i c2") + \
        _neuron_row("product II (from rsqrt)", id_r, out_t, "−γ_i c1") + [
        "",
        f"Constants: $C_{{mean}} = N\\cdot\\frac{{1}}{{N}}\\,\\frac{{a}}{{d}} = {_value(id_x.const)}$; "
        f"$C_{{centred}} = {_value(id_x.const - id_x.const)}$; "
        f"$C_{{var}} = N\\cdot\\frac{{1}}{{N}}\\,\\frac{{a_c^2}}{{d_c}} = {_value(sq.const)}$ (eq. 22 prints "
        "$\\frac{(a^{(0)})^2}{n d^{(0)}}$, one synapse's share: see the [paper check](../paper_check.md)); "
        f"$C_{{rsqrt}} = \\frac{{1}}{{d_v\\sqrt{{a_v + \\varepsilon}}}} = {_value(rs.const)}$ (eq. 23); "
        f"$C_{{I}} = 0$ ($\\log(a + c) = \\log 1$); $c_1 = {tex(c1)}$, $c_2 = {tex(c2)}$.",
        "",
        "Note that $\\eta$ of the rsqrt neuron is $f'(u) = -\\frac{1}{2}(u + \\varepsilon)^{-3/2}$: negative, "
        "and with $\\varepsilon$; eq. 23 prints $+\\frac{1}{2}u^{-3/2}$.",
        "",
        "Layer II of the product: $V = \\gamma_i\\left(e^{y} - c_2\\,x_c - c_1\\,r\\right) - \\gamma_i c_1 c_2 "
        "+ \\beta_i = \\gamma_i x_c r + \\beta_i$, the constant $-\\gamma_i c_1 c_2 + \\beta_i$ entering C "
        "as a bias.",
        "",
        _check_line(err, 1e-9, f"LayerNorm (γ = 1, β = 0) of x = {x.tolist()}"),
        "",
    ] + _counts_lines("one row of N", neurons, ops, tn, to)
    return "\n".join(lines).rstrip("\n") + "\n"


def multiplication_page() -> str:
    """``docs/constructions/multiplication.md``: Section 4.3.4 (eq. 24-27) and Appendix C.1."""
    from .energy import matmul_counts

    a1_, b1_ = -2, 2
    a2_, b2_ = -1, 3
    l1 = derive_input("log(x + c)", a1_, b1_, params={"c": "1 - a"})
    l2 = derive_input("log(x + c)", a2_, b2_, params={"c": "1 - a"})
    c1, c2 = 1 - sympy.Integer(a1_), 1 - sympy.Integer(a2_)
    y_b = sympy.log(1 + (b1_ - a1_)) + sympy.log(1 + (b2_ - a2_))
    y_out = derive_output("x", 0, y_b)
    ex = derive_input("exp(x)", 0, y_b)
    id1 = derive_input("x", a1_, b1_)
    id2 = derive_input("x", a2_, b2_)
    oa, ob = -6, 6
    out_t = derive_output("x", oa, ob)
    out_thr = derive_output("x - k", oa, ob, params={"k": c1 * c2})
    Kk = 3
    out_thr_K = derive_output("x - k", oa * Kk, ob * Kk, params={"k": Kk * c1 * c2})
    C2 = 1 * ex.const + (-c2) * id1.const + (-c1) * id2.const
    M, N, K = sympy.symbols("M N K", positive=True, integer=True)
    pops = [Population("A", M * K, 0, "", "factor A (M x K)"), Population("B", K * N, 0, "", "factor B (K x N)"),
            Population("layer I", M * N * K, 1, "log_shift", "y_ikj = log(A_ik + c1) + log(B_kj + c2)"),
            Population("layer II", M * N, 2, "exp_input", "sum_k A_ik B_kj")]
    syns = [Synapse("A", "layer I", sympy.Integer(1), "1", "log(x + c1)"),
            Synapse("B", "layer I", sympy.Integer(1), "1", "log(x + c2)"),
            Synapse("layer I", "layer II", K, "1", "exp(x)"),
            Synapse("A", "layer II", K, "-c2", "x"),
            Synapse("B", "layer II", K, "-c1", "x")]
    tables, neurons, ops = _network_tables(pops, syns, {"A", "B"})
    tn, to = matmul_counts(M, K, N)
    sums_neurons = sympy.expand(neurons + M + N)
    sums_ops = sympy.expand(2 * M * N * K + M * N * (K + 2) + (M + N) * K)
    # numeric checks: elementwise and matrix
    rng = np.random.default_rng(0)
    A = rng.uniform(a1_, b1_, size=(3, Kk))
    B = rng.uniform(a2_, b2_, size=(Kk, 2))
    y = _f(l1, A)[:, :, None] + _f(l2, B)[None, :, :]
    y = _apply_out(y_out, y)
    V = _f(ex, y).sum(1) - float(c2) * A.sum(1)[:, None] - float(c1) * B.sum(0)[None, :] - Kk * float(c1 * c2)
    err = float(np.abs(V - A @ B).max())
    lines = [
        "# Multiplication",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Section 4.3.4 and Appendix C.1: the product $x_1 x_2$ by a two-layer network, and from it the "
        "matrix product $AB$ of attention.",
        "",
        "* **Layer I**: a [`log_shift`](../neurons/log_shift.md) neuron per pair, input transforms "
        "$f_i(x) = \\log(x + c_i)$ with $c_i = 1 - a_i$ (each factor on its own range $[a_i, b_i]$; the paper "
        "uses one range and one $c = 1 - a^{(0)}$), weights 1, identity output: "
        "$y = \\log(x_1 + c_1) + \\log(x_2 + c_2)$ (eq. 24-25). With $c_i = 1 - a_i$ each logarithm "
        "lies in $[0, \\log(1 + d_i)]$, so layer I's range $[0, \\log(1 + d_1) + \\log(1 + d_2)]$ holds "
        "every $y$ and layer I never clips.",
        "* **Layer II**: an [`exp_input`](../neurons/exp_input.md) neuron, $f = \\exp$ on $y$ (eq. 26) "
        "and the identity on $x_1$, $x_2$ with weights $-c_2$ and $-c_1$ (eq. 27 with $c_1 = c_2 = c$): "
        "$V_2 = (x_1 + c_1)(x_2 + c_2) - c_2 x_1 - c_1 x_2 = x_1 x_2 + c_1 c_2$.",
        "* The offset $c_1 c_2$ is removed either by the constant C (a bias $-c_1 c_2$; this is what the "
        "converter does) or, as the paper does, by the output transform $h(V) = V - c_1 c_2$: Theorem 4.3 "
        "then gives $\\psi = 1/\\tau$ and $\\theta = h^{-1}(b) = b + c_1 c_2$ (the paper prints "
        "$b - c^2$; see the [paper check](../paper_check.md)).",
        "* **Matrix product** (Appendix C.1): $MNK$ layer-I neurons $y_{ikj}$ and $MN$ layer-II neurons, "
        "each summing its K products: $V = \\sum_k A_{ik} B_{kj} + K c_1 c_2$; the threshold form is "
        "$\\theta = b + K c_1 c_2$ (printed $b - Kc^2$).",
        "",
        "## Wiring (matrix product, M x K times K x N)",
        "",
    ] + tables + [
        _DELAYS,
        "",
        f"## Derived kernels and constants (example: $x_1 \\in [{a1_}, {b1_}]$, $x_2 \\in [{a2_}, {b2_}]$)",
        "",
        f"$c_1 = 1 - a_1 = {tex(c1)}$, $c_2 = 1 - a_2 = {tex(c2)}$; layer I on $[0, {tex(y_b)}]$; "
        f"layer II on $[{oa}, {ob}]$.",
        "",
    ] + _ROW_HEAD + _neuron_row("layer I (from x1)", l1, None, "1") + \
        _neuron_row("layer I (from x2)", l2, y_out, "1") + \
        _neuron_row("layer II (from y)", ex, None, "1") + _neuron_row("layer II (from x1)", id1, None, "−c2") + \
        _neuron_row("layer II (from x2)", id2, out_t, "−c1") + [
        "",
        f"Constants: $C_I = \\log(a_1 + c_1)/d_1 + \\log(a_2 + c_2)/d_2 = {_value(l1.const + l2.const)}$ (eq. 24); "
        f"layer II, one synapse each: $C_{{II}} = \\frac{{e^{{a_y}}}}{{d_y}} - c_2\\frac{{a_1}}{{d_1}} - "
        f"c_1\\frac{{a_2}}{{d_2}} = {_value(C2)}$, plus the bias $-c_1 c_2 = {tex(-c1 * c2)}$ when the "
        "offset is removed through C.",
        "",
        f"Threshold form: $h(V) = V - c_1 c_2$ gives $\\psi(s) = {tex(out_thr.psi)}$ and "
        f"$\\theta = {_value(out_thr.theta)} = b + c_1 c_2$; for K = {Kk} products on "
        f"$[{oa * Kk}, {ob * Kk}]$, $h(V) = V - K c_1 c_2$ gives $\\theta = {_value(out_thr_K.theta)}$.",
        "",
        _check_line(err, 1e-12, f"the product of a random 3 x {Kk} matrix on [{a1_}, {b1_}] and a {Kk} x 2 "
                    f"matrix on [{a2_}, {b2_}] (seed 0)"),
        "",
    ] + _counts_lines("MatMul(A, B)", neurons, ops, tn, to) + [
        "For $K = 1$ (the elementwise product of LayerNorm) the two agree: 5 operations per product. For "
        "$K > 1$ Table 3's $MN(3K + 2)$ corresponds to a layer II that receives $\\sum_k A_{ik}$ and "
        "$\\sum_k B_{kj}$ as **one** input each ($K + 2$ synapses per neuron); those sums need $M + N$ more "
        "neurons with $(M + N)K$ synapses, which Table 3 does not list:",
        "",
        "| | neurons | synaptic operations |",
        "|---|---|---|",
        f"| layer II fed by row and column sums | ${tex(sums_neurons)}$ | ${tex(sums_ops)}$ |",
        "",
        "`ttfs energy` and the conversion report count MatMul as built, $5MNK$ operations "
        "(`ttfs_symbolic.energy.matmul_counts`), and print the total with Table 3's formula beside it "
        "(`EnergyReport.op_snn_table3`).",
        "",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def construction_pages() -> dict[str, str]:
    """File name -> Markdown of the three construction pages."""
    return {"softmax.md": softmax_page(), "layernorm.md": layernorm_page(),
            "multiplication.md": multiplication_page(), "signed_product.md": signed_product_page()}


def _signed_error_table(ps=(64, 256, 1024)) -> list[str]:
    """Measured layer-I error of both constructions on one seeded matrix product (float64, quantized)."""
    import torch

    from .spiking import Ctx, Population, Product

    g = torch.Generator().manual_seed(0)
    x1 = 3 * torch.randn(16, 32, generator=g, dtype=torch.float64)
    x2 = 3 * torch.randn(32, 16, generator=g, dtype=torch.float64)
    rows = ["| p | paper: relative error | signed: relative error | ratio |", "|---|---|---|---|"]
    errs = {}
    for cons in ("paper", "signed"):
        p1 = Population("x1", fixed_range=(float(x1.min()), float(x1.max())))
        p2 = Population("x2", fixed_range=(float(x2.min()), float(x2.max())))
        prod = Product("prod", p1, p2, Population("out"), matmul=True, construction=cons)
        with torch.no_grad():
            prod(x1, x2, Ctx(mode="calibrate"))
            for i, pop in enumerate((p1, p2, prod.y, prod.out)):
                pop.finalize()
                pop.window = i + 1
            ref = x1 @ x2
            for p in ps:
                out = prod(x1, x2, Ctx(mode="quantized", precision=p))
                errs[cons, p] = float((out - ref).norm() / ref.norm())
    for p in ps:
        rows.append(f"| {p} | {errs['paper', p]:.3g} | {errs['signed', p]:.3g} | "
                    f"{errs['paper', p] / errs['signed', p]:.1f}x |")
    return rows


def signed_product_page() -> str:
    """``docs/constructions/signed_product.md``: the library's low-error product network (beyond the paper)."""
    from .energy import product_counts

    a_, b_, r_ = -2, 3, sympy.Rational(1, 50)
    e_ = r_ * 3
    lp = derive_input(f"log(relu(x) + {e_})", a_, b_)
    lm = derive_input(f"log(relu(-x) + {e_})", a_, b_)
    lpos = derive_input(f"log(x + {e_})", 0, b_)
    M, N, K = sympy.symbols("M N K", positive=True, integer=True)
    counts = [("paper (eq. 24-27)", product_counts(M, K, N, "paper")),
              ("signed, both factors of both signs (q k^T)", product_counts(M, K, N, "signed", 4, 0)),
              ("signed, one factor one-signed (softmax V, LayerNorm)", product_counts(M, K, N, "signed", 2, 1))]
    lines = [
        "# Signed multiplication network",
        "",
        "<!-- generated by scripts/gen_docs.py from the derivations: do not edit -->",
        "",
        "Beyond the paper. In the [paper's network](multiplication.md) a layer-I neuron holds "
        "$y = \\log(x_1 + c_1) + \\log(x_2 + c_2)$ with $c_i = 1 - a_i$. At time precision $p$ its spike is "
        "off by up to $d_y/(2p)$, so its layer-II term $e^y$ is off by a factor $e^{\\pm d_y/(2p)}$: an error "
        "relative to $(x_1 + c_1)(x_2 + c_2) \\approx c_1 c_2$, however small $x_1 x_2$ is; layer II then "
        "subtracts the shifts and leaves that error on a small result. In a trained ViT this is the largest "
        "share of the error at finite precision (the error budget, `ttfs budget`).",
        "",
        "The signed network (`ttfs_symbolic.spiking.Product`, `construction=\"signed\"`, the "
        "converter's default) splits each factor into its parts $u^{s} = \\mathrm{relu}(s\\,x)$, "
        "$s = \\pm 1$, so that $x = u^{+} - u^{-}$ (only the part of its sign when a factor's range has one "
        "sign), and uses small shifts $e_i = r\\max|x_i|$:",
        "",
        "* **Layer I**: one neuron per pair of parts $(s_1, s_2)$ and per term, input transforms "
        "$f(x) = \\log(\\mathrm{relu}(s\\,x) + e)$ (Theorem 4.1; $\\eta$ vanishes on the silent side of the "
        "kink), weights 1, identity output: $y = \\log(u_1^{s_1} + e_1) + \\log(u_2^{s_2} + e_2)$. Its range "
        "$[\\log(\\ell_1 + e_1) + \\log(\\ell_2 + e_2),\\ \\log(M_1 + e_1) + \\log(M_2 + e_2)]$ "
        "($\\ell$ the least $|x|$, 0 when the range holds 0; $M = \\max|x|$) holds every $y$: no layer-I "
        "neuron clips, and the neuron of two silent parts does not fire.",
        "* **Layer II**: $f = \\exp$ on each layer-I neuron with weight $s_1 s_2$. Since "
        "$\\sum_{s_1, s_2} s_1 s_2 (u_1^{s_1} + e_1)(u_2^{s_2} + e_2) = "
        "(\\sum_{s} s(u_1^{s} + e_1))(\\sum_{s} s(u_2^{s} + e_2))$ and $\\sum_s s(u^s + e) = x$ for a "
        "split factor, the shifts cancel and $V_2 = x_1 x_2$ with no correction synapse. For a one-signed "
        "factor (sign $c$) the sum is $x + c e$, and delayed identity synapses remove "
        "$c_2 e_2 x_1 + c_1 e_1 x_2 + c_1 c_2 e_1 e_2$ as in the paper.",
        "* **Error**: the neuron that carries the product has $e^y = (|x_1| + e_1)(|x_2| + e_2)$, so its "
        "rounding error is relative to about $|x_1 x_2|$; the neurons with one silent part carry "
        "$(|x_1| + e_1)e_2$ and $e_1(|x_2| + e_2)$, small when $r$ is. A smaller $r$ widens layer I's range "
        "($d_y$ grows like $2\\log(1/r)$): calibration picks $r$ from "
        f"{{1e-3, ..., 0.5}} to minimise the expected squared error on the calibration samples "
        "(`spiking.signed_error_proxy`); conversion files record it.",
        "",
        "Proof: `python -m proofs.signed_product` (the split, the factorisation of the pair sum, the four "
        "one-signedness cases of the corrections, symbolic K, the error statement, and the library's own "
        "Theorem 4.1 derivations of the layer-I kernels).",
        "",
        f"## Derived layer-I kernels (example: $x \\in [{a_}, {b_}]$, $r = {tex(r_)}$, $e = {tex(e_)}$)",
        "",
    ] + _ROW_HEAD + _neuron_row("part +: log(relu(x) + e)", lp, None, "1") + \
        _neuron_row("part −: log(relu(−x) + e)", lm, None, "1") + \
        _neuron_row(f"one-signed, x in [0, {b_}]: log(x + e)", lpos, None, "1") + [
        "",
        f"Proof records: part + {lp.proof.summary()}; part − {lm.proof.summary()}.",
        "",
        "## Neurons and operations",
        "",
        "| construction | neurons | synaptic operations |",
        "|---|---|---|",
    ] + [f"| {label} | ${tex(sympy.expand(n))}$ | ${tex(sympy.expand(o))}$ |" for label, (n, o) in counts] + [
        "",
        "`ttfs energy MODEL --product signed` counts a whole ViT with it (`--product paper`, the default, "
        "reproduces Table 2's accounting); the conversion report counts the construction the model was "
        "converted with. Only the products change: the linear layers, which hold almost all of a ViT's "
        "operations, are the same.",
        "",
        "## Measured: one matrix product, both constructions",
        "",
        "A 16 x 32 times 32 x 16 product of factors drawn from N(0, 9) (seed 0), exact operands, quantized "
        "mode, relative Frobenius error of the result (the output neuron's own rounding included):",
        "",
    ] + _signed_error_table() + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
