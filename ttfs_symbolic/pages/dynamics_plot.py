"""The membrane potential through the receiving and the emitting stage (the paper's Figure 2), simulated
from the compiled kernels eta and psi, and its plot."""
from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path

import numpy as np
import sympy

from ..symbolic.derive import InputTransform, OutputTransform, derive_input, derive_output, kinks
from ..symbolic.parse import S, Y
from .latex import tex_num


__all__ = ["Trace", "simulate", "plot_dynamics", "companion_transforms", "output_kernel"]

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


def output_kernel(ot: OutputTransform):
    """OutputKernel of a derivation; the root finder for h^-1 when its closed form does not compile
    (e.g. Lambert W, which has no NumPy implementation)."""
    # numeric loads torch: imported when a page needs a kernel (``ttfs derive`` starts without torch)
    from ..numeric.compile import compile_expr
    from ..numeric.kernels import OutputKernel

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
    # numeric loads torch: imported when a page needs a kernel (``ttfs derive`` starts without torch)
    from ..numeric.dynamics import LayerTiming
    from ..numeric.kernels import InputKernel

    delta = float(it.delta)
    if float(ot.delta) != delta:
        raise ValueError("the input and output transforms must share the time step delta")
    sender = LayerTiming(float(it.a), float(it.b), delta, T_emit=0.0)
    receiver = LayerTiming(float(ot.a), float(ot.b), delta, T_emit=delta)
    kin = InputKernel(it.f)
    kout = output_kernel(ot)
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
    # numeric loads torch: imported when a page needs a kernel (``ttfs derive`` starts without torch)
    from ..numeric.kernels import InputKernel

    if it is not None and ot is not None:
        return it, ot, ""
    if it is not None:
        xs = np.linspace(float(it.a), float(it.b), 257)
        with np.errstate(all="ignore"):
            fx = np.asarray(InputKernel(it.f).f_fn("numpy")(xs), dtype=float) * np.ones_like(xs)
        lo, hi = _round_out(float(np.nanmin(fx)), float(np.nanmax(fx)))
        ot = derive_output("x", lo, hi, it.delta)
        return it, ot, (f"The emitting stage uses the identity output transform (Corollary 4.4) on "
                        f"[{tex_num(lo)}, {tex_num(hi)}], a range that holds f on [a, b].")
    kout = output_kernel(ot)
    a, b = float(ot.a), float(ot.b)
    v_hi = kout.theta(b)
    v_lo = kout.theta_low(a)
    if not math.isfinite(v_lo):
        v_lo = kout.theta(a + (b - a) / 50)
    lo, hi = _round_out(v_lo, v_hi)
    it = derive_input("x", lo, hi, ot.delta)
    return it, ot, (f"The receiving stage uses the identity input transform (Corollary 4.2) from a sender "
                    f"with range [{tex_num(lo)}, {tex_num(hi)}], which holds the potentials h^-1 maps onto "
                    "the emitting range.")


def plot_dynamics(it: InputTransform | None, ot: OutputTransform | None, path, inputs=None,
                  title: str = "", aggregate: str = "sum") -> Path:
    """Figure 2: potential through the receiving and emitting stages, PNG at ``path``.

    Missing transforms are replaced by identity ones (see
    :func:`companion_transforms`). ``aggregate="max"`` (the softmax layer-0
    neuron) draws spikes only: the neuron fires at its earliest input.
    """
    # matplotlib is optional: imported when a plot is drawn
    import matplotlib

    matplotlib.use("Agg")
    # matplotlib is optional: imported when a plot is drawn
    import matplotlib.pyplot as plt

    it, ot, _ = companion_transforms(it, ot)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no folder {path.parent} for the plot {path.name}")
    delta = float(it.delta)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if aggregate == "max":
        # numeric loads torch: imported when a page needs a kernel (``ttfs derive`` starts without torch)
        from ..numeric.dynamics import LayerTiming

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
