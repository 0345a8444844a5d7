"""Neuron dynamics (eq. 6) in three modes: exact, quantized, kernel.

Timing (Algorithm 1, eq. 7, eq. 29; docs/design.md): layer n emits in
``[T_emit, T_end)``, ``T_end = T_emit + delta``; its range is ``[a, b]``,
``tau = delta/(b - a)``, ``T_ref = T_emit + b*tau``. A spike at ``t`` stands
for ``x = (T_ref - t)/tau``; value ``b`` fires at ``T_emit``; no spike
(``t = inf``) stands for ``a``.

Modes (docs/design.md, "Three ways to run a converted network"):

``exact``
    The closed form of the dynamics, ``clip(h(sum_j w_j f(x_j) + bias), a, b)``
    (eq. 9 and 14).
``quantized``
    As exact, then the spike time is moved to the nearest tick of a clock
    with ``p`` ticks per window (``T_emit + k*delta/p``, ``k = 0..p-1``; a
    spike nearer to ``T_end`` than to the last tick is not emitted). The
    largest time error is ``delta/(2p)`` <= ``delta/p``: time precision ``p``
    (Section 5.3). Nearest, not next: rounding always up would bias every
    spike late by half a tick on average, and the multiplication network's
    layer II sums K such errors.
``kernel``
    The potential is integrated from the compiled eta kernels on the same
    grid (adaptive Gauss-Kronrod per tick, split at kinks), and the threshold crossing is
    sampled half-way between ticks: the spike is at the first tick m with
    ``V(T_emit) + int_0^{(m + 1/2) delta/p} psi >= theta``, i.e. at the tick
    nearest to the crossing. Input spikes must lie on the sender's grid
    (they do when the sender runs in kernel mode).
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ..symbolic.theorem_4_1 import derive_input
from ..symbolic.theorem_4_3 import derive_output
from . import native
from .kernels import InputKernel, OutputKernel, check_real

MODES = ("exact", "quantized", "kernel")
#: largest time precision of quantized mode: spike ticks are exact in float32 up to 2**24, and the tick
#: tables and per-layer buffers grow with p (2**30 fills 24 GiB before the first layer is done)
MAX_PRECISION = 1 << 24
#: largest time precision of kernel mode: its tables integrate eta and psi on p ticks per layer
#: (scipy's quad_vec keeps up to 2000 subdivisions of a p-vector: memory grows with p)
MAX_KERNEL_PRECISION = 1 << 16


def check_mode(mode: str | None, precision) -> str:
    """``mode`` checked against ``precision``, returned; ``None`` (the default of every call that takes a
    mode) is exact mode, and refused with a precision, which exact mode would ignore: a call that asks for
    a time precision and forgets the mode gets an error, not exact outputs."""
    if mode is None:
        if precision is not None:
            raise ValueError(f"precision={precision!r} given without a mode: exact mode, the default, has no time "
                             f"precision; pass mode='quantized' or mode='kernel' to run at that precision, "
                             f"or leave precision out for exact outputs")
        return "exact"
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode != "exact":
        ok = (not isinstance(precision, bool) and isinstance(precision, numbers.Real)
              and math.isfinite(precision) and int(precision) == precision and precision >= 1)
        if not ok:   # None, NaN, inf, 2.5, 0, "8", True: refused before int() can fail or round
            raise ValueError(f"mode {mode!r} needs a time precision p (a positive integer), got {precision!r}")
        top = MAX_KERNEL_PRECISION if mode == "kernel" else MAX_PRECISION
        if precision > top:
            raise ValueError(f"mode {mode!r} takes a time precision of at most {top} (2**{top.bit_length() - 1}), "
                             f"got {int(precision)}: " + ("its tables integrate the kernels on p ticks per layer"
                                                          if mode == "kernel" else "ticks are exact in float32 up to "
                                                          "2**24, and memory grows with p"))
    return mode


@dataclass(frozen=True)
class LayerTiming:
    """One layer's window and range (eq. 7, eq. 29)."""

    a: float
    b: float
    delta: float = 1.0
    T_emit: float = 0.0

    def __post_init__(self):
        for name in ("a", "b", "delta", "T_emit"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"LayerTiming.{name} must be a finite number, got {v!r}")
        if not self.a < self.b:
            raise ValueError(f"empty range: need a < b, got [a, b] = [{self.a}, {self.b}]")
        if not self.delta > 0:
            raise ValueError(f"the time step delta must be positive, got {self.delta}")

    @classmethod
    def for_layer(cls, n: int, a: float, b: float, delta: float = 1.0, T_emit0: float = 0.0) -> "LayerTiming":
        """Layer n of Algorithm 1: ``T_emit(n) = T_emit(0) + n*delta``."""
        return cls(float(a), float(b), float(delta), float(T_emit0 + n * delta))

    @property
    def d(self) -> float:
        return self.b - self.a

    @property
    def tau(self) -> float:
        return self.delta / self.d

    @property
    def T_ref(self) -> float:
        return self.T_emit + self.b * self.tau

    @property
    def T_end(self) -> float:
        return self.T_emit + self.delta

    def encode(self, x, p: int | None = None):
        """Spike times of values x (eq. 7): clip to [a, b]; value a -> no spike (inf).

        ``p``: x are values of quantized or kernel mode at time precision p (the ticks ``b - k d/p``), and
        each gets its tick's time ``T_emit + k delta/p`` exactly, tick p none (inf). (Without p, the value
        of tick p, which is a only up to a few ulps of ``b - p (d/p)``, would fire an ulp before T_end.)"""
        return encode_times(x, self.a, self.b, self.T_emit, self.delta, p)

    def decode(self, t):
        """Values of spike times (eq. 7); no spike (+inf) -> a. NaN, -inf or spikes outside the window raise.

        ``x = b - (t - T_emit)/tau``, the inverse of :meth:`encode`'s form (not ``(T_ref - t)/tau``, which
        loses float32 digits where T_emit is large), clamped to [a, b] against rounding."""
        t = _as_tensor(t)
        if torch.isnan(t).any():
            raise ValueError("spike times contain NaN: a silent neuron is t = inf, not NaN")
        if (t == -math.inf).any():
            raise ValueError("spike times contain -inf: a silent neuron is t = +inf, and a spike lies in the "
                             f"emitting window [{self.T_emit}, {self.T_end})")
        fired = torch.isfinite(t)
        tol = 1e-9 * max(1.0, abs(self.T_end))
        outside = fired & ((t < self.T_emit - tol) | (t >= self.T_end - tol * 0))
        if outside.any():
            bad = t[outside].flatten()[0].item()
            raise ValueError(
                f"spike at t = {bad} is outside this layer's emitting window [{self.T_emit}, {self.T_end})")
        x = (self.b - (torch.where(fired, t, torch.full_like(t, self.T_emit)) - self.T_emit) / self.tau).clamp(
            self.a, self.b)
        return torch.where(fired, x, torch.full_like(x, self.a))

    def quantize_values(self, x, p: int):
        """Values moved to the nearest clock tick (quantized mode); see module doc."""
        check_mode("quantized", p)
        return quantize_values(x, self.a, self.b, int(p))

    def ticks(self, x, p: int):
        """Tick index k = 0..p of the nearest tick of each value (k = p: no spike)."""
        check_mode("quantized", p)
        p = int(p)
        x = _as_tensor(x)
        _check_finite(x, "values")
        return native.ticks(x, self.b, p / self.d, p).long()


def encode_times(x, a, b, T_emit: float, delta: float, p: int | None = None) -> torch.Tensor:
    """Spike times of values x (eq. 7) on the range [a, b] of a layer emitting from ``T_emit`` for
    ``delta``: :meth:`LayerTiming.encode`. ``a``, ``b``: floats, or one range per neuron (tensors of x's
    dtype that broadcast to x: per-channel or per-head ranges, :meth:`Population.spike_times`)."""
    x = _as_tensor(x)
    _check_finite(x, "values")
    d = b - a
    if p is not None:
        check_mode("quantized", p)
        p = int(p)
        k = native.ticks(x, b, p / d, p)
        t = T_emit + k * (delta / p)
        return torch.where(k < p, t, torch.full_like(t, math.inf))
    xc = x.clamp(a, b)
    # T_emit + (b - x) tau, not T_ref - tau x: b lands exactly on T_emit, and a
    # value within an ulp of a that rounds onto T_end stays silent (it is a).
    t = T_emit + (b - xc) * (delta / d)
    fires = (xc > a) & (t < T_emit + delta)
    return torch.where(fires, t, torch.full_like(t, math.inf))


def quantize_values(x, a: float, b: float, p: int, out: torch.Tensor | None = None):
    """Round spike times to the nearest of p ticks per window, in value units.

    A value x fires at ``T_emit + (b - x)*tau``; on the clock it fires at tick
    ``k = clamp(round((b - x) p / d), 0, p)`` and stands for ``b - k d / p``;
    ``k = p`` means no spike (value a). Error in value, for x in [a, b]: at
    most ``d/(2p)``; values outside [a, b] land on b or a. NaN raises.
    ``out`` (may be x itself): where to write the result.
    """
    d = b - a
    return native.tick_lookup(_as_tensor(x), b, p / d, p, step=d / p, out=out)[0]


#: the codes of a layer's spikes: ``linear`` (eq. 7: the spike time is linear in the value, the paper)
#: or ``log`` (the spike time is linear in log(|x| + e), one neuron per sign part: :func:`quantize_log_values`)
CODES = ("linear", "log")


def quantize_log_values(x, a, b, r, p: int):
    """Values clipped to [a, b] and rounded to the nearest of p ticks of the log code (Theorem 4.3).

    The log code carries a value x of a layer with range [a, b] by one
    neuron per sign part sigma (one neuron where the range has one sign):
    the part's neuron emits ``u = log(|x| + e)`` with the output transform
    ``h(V) = log(sigma V + e)`` (increasing on the part's range; Theorem 4.3
    on the range ``[log(lo + e), log(M + e)]``), so its spike time is linear
    in u, and a receiver recovers ``sigma (exp(u) - e)`` through the input
    transform ``f(u) = sigma (exp(u) - e)`` (Theorem 4.1; a silent part
    contributes ``f(log e) = 0`` when lo = 0). At time precision p the
    rounding error of u is at most ``du/(2p)``, ``du = log((M + e)/(lo + e))``,
    so the value's error is at most about ``(|x| + e) du/(2p)``: relative to
    the value itself rather than to the range. ``r``: the shift ratio
    ``e = r M`` (float or a tensor broadcasting against x). NaN raises.
    """
    xt = _as_tensor(x)
    _check_finite(xt, "values")
    a_t = torch.as_tensor(a, dtype=torch.float64)
    b_t = torch.as_tensor(b, dtype=torch.float64)
    if a_t.dim() == 0 and b_t.dim() == 0:
        pack = native.log_pack(a_t, b_t, r, p, dtype=xt.dtype, device=xt.device)
        return native.log_ticks(xt, pack, p)[0]
    # per-neuron ranges: one range per value of x's trailing dimensions (or of all of x)
    trail = tuple(xt.shape[1:])
    try:
        shape = trail if torch.broadcast_shapes(a_t.shape, b_t.shape, trail) == torch.Size(trail) else tuple(xt.shape)
    except RuntimeError:
        shape = tuple(xt.shape)
    a_t, b_t = (torch.broadcast_to(t, shape) for t in (a_t, b_t))
    rr = torch.broadcast_to(torch.as_tensor(r, dtype=torch.float64), shape)
    pack = native.log_pack(a_t, b_t, rr.reshape(-1), p, dtype=xt.dtype, device=xt.device)
    return native.log_ticks(xt, pack, p)[0]


def log_code_spikes(values: torch.Tensor, a, b, r: float | None = None, p: int | None = None) -> int:
    """Spikes of a log-coded layer: the values whose part fires (|x| above its part's least magnitude).

    With ``p`` (and the shift ratio ``r``): ``values`` are on the code's ticks at precision p (quantized
    and kernel mode), and a value fires when its tick is before p. The value of tick p is the part's least
    magnitude only up to the rounding of ``exp(log(M + e) - du) - e`` (a few ulps either side, or a tiny
    value of either sign where the least magnitude is 0), so the comparison is made half a tick of u above
    the least magnitude, ``log(|x| + e) > log(lo + e) + du/(2p)``, not at the least magnitude itself."""
    a_t = torch.as_tensor(a, dtype=values.dtype, device=values.device)
    b_t = torch.as_tensor(b, dtype=values.dtype, device=values.device)
    if p is None:
        return int(((values > a_t.clamp(min=0)) | (values < b_t.clamp(max=0))).sum())
    v = values.to(torch.float64)
    fired = torch.zeros_like(v, dtype=torch.bool)
    for sign, e, uhi, du in native.log_parts(a_t.to(torch.float64), b_t.to(torch.float64), r):
        mag = sign * v   # fires: u = log(|x| + e) more than half a tick above the least, uhi - du
        fired |= (mag > 0) & (torch.log(mag.clamp(min=0) + e) - (uhi - du) > du / (2 * p))
    return int(fired.sum())


def log_code_neurons(shape, a, b) -> int:
    """Neurons of a log-coded layer of values of ``shape``: two per value whose range holds both signs."""
    a_t, b_t = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    two = ((a_t < 0) & (b_t > 0)).to(torch.float64)
    return int(torch.broadcast_to(1.0 + two, torch.Size(shape)).sum()) if two.dim() else \
        int(math.prod(shape) * (1 + int(two)))


def log_code_sq_errors(x: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Squared rounding error of the log code with shift ratio r, per sample x, in units of 1/(12 p^2).

    To first order a tick of u moves the value by ``(|x| + e) du / p``; the
    rounding is uniform over a tick (variance 1/12 of a tick squared). The
    linear code's counterpart is ``mean((b - a)^2)``; both scale as 1/p^2, so
    the comparison does not depend on p. ``a``, ``b``: each sample's range.
    """
    neg = x < 0
    M = np.where(neg, np.maximum(-a, 0), np.maximum(b, 0))
    lo = np.where(neg, np.maximum(-b, 0), np.maximum(a, 0))
    M = np.where(M > 0, M, 1.0)
    e = r * M
    du = np.log((M + e) / (lo + e))
    return ((np.abs(x) + e) * du) ** 2


def _as_tensor(x):
    """x as a tensor (array-likes as float64), complex numbers and meta tensors refused (:func:`check_real`)."""
    check_real(x)
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _check_finite(x, what):
    if torch.isnan(x).any():
        raise ValueError(f"{what} contain NaN")


# --------------------------------------------------------------------------
# kernel-mode tables
# --------------------------------------------------------------------------

#: quadrature tolerance of the kernel tables (relative to the largest cell, and absolute)
TABLE_EPSREL = 1e-12
TABLE_EPSABS = 1e-14


def _integrals_to(fn, points, breaks=()) -> np.ndarray:
    """[int_0^{t} fn(s) ds for t in points] (points increasing, points[0] = 0).

    Each interval between consecutive points, split further at ``breaks``
    (kinks of the kernel), is integrated with adaptive Gauss-Kronrod (21
    nodes, :func:`scipy.integrate.quad_vec`, all intervals at once as one
    vector). Nodes lie strictly inside each interval, so a kernel singular at
    an end point is never evaluated there, and a kink inside a tick or a
    kernel that varies on a small fraction of a tick (rsqrt near 0) is
    resolved to ``TABLE_EPSREL``.
    """
    # scipy.integrate takes a moment to import: only the kernel tables need it
    from scipy.integrate import quad_vec

    points = np.asarray(points, dtype=np.float64)
    cuts = np.union1d(points, [t for t in breaks if points[0] < t < points[-1]])
    lo, hi = cuts[:-1], cuts[1:]
    width = hi - lo
    cell = np.searchsorted(points, lo, side="right") - 1   # which [points[i], points[i+1]) each piece is in

    def integrand(u):
        with np.errstate(all="ignore"):
            v = np.asarray(fn(lo + u * width), dtype=np.float64)
        return np.broadcast_to(v, lo.shape) * width

    pieces, _err = quad_vec(integrand, 0.0, 1.0, epsabs=TABLE_EPSABS, epsrel=TABLE_EPSREL,
                            norm="max", quadrature="gk21", limit=2000)
    cells = np.zeros(len(points) - 1)
    np.add.at(cells, cell, pieces)
    return np.concatenate([[0.0], np.cumsum(cells)])


@functools.lru_cache(maxsize=4096)
def input_table(kernel: InputKernel, a: float, b: float, delta: float, p: int) -> np.ndarray:
    """Q[m] = (1/tau) int_0^{m delta/p} eta(s) ds, m = 0..p (Theorem 4.1, eq. 30).

    An input spike at tick k of the sender's window contributes
    ``w * Q[p - k]`` (about ``w*(f(x) - f(a))``); a silent input contributes 0.
    """
    tau = delta / (b - a)
    eta = kernel.eta_fn("numpy")
    breaks = [(x - a) * tau for x in kernel.kink_points() if a < x < b]   # x = a + s/tau
    ends = np.arange(p + 1) * (delta / p)
    q = _integrals_to(lambda s: eta(s, a, tau), ends, breaks) / tau
    if not np.all(np.isfinite(q)):
        raise ValueError(f"eta of f = {kernel.f} is not integrable on the range [{a}, {b}]")
    with np.errstate(all="ignore"):
        want = np.asarray(kernel(a + ends / tau), dtype=np.float64) - kernel.f_at(a)
    check_table(q, want, f"input table (eta of f = {kernel.f})", "f(a + m d/p) - f(a)", a, b, p)
    return q


@functools.lru_cache(maxsize=4096)
def output_table(kernel: OutputKernel, a: float, b: float, delta: float, p: int) -> np.ndarray:
    """P[m] = int_0^{(m + 1/2) delta/p} psi(s) ds, m = 0..p-1 (Theorem 4.3, eq. 32).

    The cumulative psi sampled half-way between ticks, so the first m with
    ``V + P[m] >= theta`` is the tick nearest to the threshold crossing.
    """
    tau = delta / (b - a)
    at = np.concatenate([[0.0], (np.arange(p) + 0.5) * (delta / p)])   # never reaches the window's end
    table = _integrals_to(lambda s: kernel.psi(s, b, tau), at)[1:]
    with np.errstate(all="ignore"):
        want = kernel.theta(b) - np.asarray(kernel.g(b - at[1:] / tau), dtype=np.float64)
    check_table(table, want, f"psi table (h = {kernel.h})", "theta - h^-1(b - (m + 1/2) d/p)", a, b, p)
    return table


#: how far a kernel table may be from the closed form it integrates (relative to max(1, its largest value)):
#: the quadrature's own tolerance is TABLE_EPSREL per cell, so p cells stay far below this
TABLE_CHECK = 1e-6


def check_table(got, want, kernel: str, closed_form: str, a: float, b: float, p: int) -> None:
    """A kernel table checked against the closed form its integral equals (eq. 30, eq. 32): ValueError naming
    the tick where float64 quadrature missed it (a kernel that is a narrow peak, ``x**(10**10)``'s eta of
    width 1e-10, integrates to 0 although the derivation holds)."""
    ok = np.isfinite(want)
    scale = max(1.0, float(np.max(np.abs(want[ok]), initial=0.0)))
    err = np.where(ok, np.abs(got - want), 0.0) / scale
    m = int(np.argmax(err))
    if err[m] > TABLE_CHECK:
        raise ValueError(f"the kernel-mode {kernel} on [{a}, {b}] at p = {p} misses {closed_form} by {err[m]:.1e} "
                         f"(relative) at m = {m}: a kernel float64 quadrature cannot resolve there (too narrow a "
                         "peak), or a wrong kernel; use exact or quantized mode, or another range")


@functools.lru_cache(maxsize=1024)
def term_table(kernel: InputKernel, a: float, b: float, delta: float, p: int, dtype, device) -> torch.Tensor:
    """``T[k] = Q[p - k] + f(a)``: the input term of a spike at tick k (k = p: silent input)."""
    q = torch.as_tensor(input_table(kernel, a, b, delta, p), dtype=dtype, device=device)
    return q.flip(0) + kernel.f_at(a)


#: the old private name, until the model layer reads :func:`term_table` (issue 20)
_term_table = term_table


def kernel_potential_terms(kernel: InputKernel, sender: LayerTiming, x_on_grid, p: int):
    """Per-input terms of the kernel-mode potential: Q[p - k] + f(a).

    ``x_on_grid`` are the sender's values (on its p-tick grid), k their
    ticks. The f(a) part is the per-synapse share of C times d (eq. 8), so a
    silent input gives f(a).
    """
    x = _as_tensor(x_on_grid)
    table = term_table(kernel, sender.a, sender.b, sender.delta, p, x.dtype, x.device)
    return native.tick_lookup(x, sender.b, p / sender.d, p, table)[0]


@functools.lru_cache(maxsize=1024)
def _emit_tables(kernel: OutputKernel, a: float, b: float, delta: float, p: int, dtype, device):
    """``(P, values)`` of :func:`kernel_emit`: P in float64, ``values[m] = b - m d/p`` and ``values[p] = a``."""
    P = torch.as_tensor(output_table(kernel, a, b, delta, p), dtype=torch.float64, device=device)
    values = b - torch.arange(p + 1, dtype=dtype, device=device) * ((b - a) / p)
    values[p] = a
    return P, values


def kernel_emit(kernel: OutputKernel, receiver: LayerTiming, V, p: int):
    """Kernel-mode emission: first tick m with V + P[m] >= theta (P at half ticks); value b - m d/p (a if none)."""
    V = _as_tensor(V)
    a, b = receiver.a, receiver.b
    P, values = _emit_tables(kernel, a, b, receiver.delta, p, V.dtype, V.device)
    # h(V) on V clamped to [h^-1(a), h^-1(b)] (the closed form up to its clip, which the tick
    # clamp does) is where the C search starts (the torch one, for other devices, does not use
    # it); the tick comes from P alone
    guess = None
    if V.device.type == "cpu":
        low = kernel.theta_low(a)
        inside = V.clamp(min=None if math.isinf(low) else low, max=kernel.theta(b))
        guess = (kernel.h_fn("torch")(inside), b, p / receiver.d)
    return native.threshold_lookup(V, P, kernel.theta(b), values, guess=guess)[0]


def _check_layer_shapes(x, w, bias) -> None:
    """NeuronLayer.potential's shapes and NaNs, named: a torch matmul error or a bias that broadcasts V to
    another shape would not say which argument is wrong."""
    if w.dim() != 2:
        raise ValueError(f"weight must be (n_out, n_in), got shape {tuple(w.shape)}")
    if x.dim() == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"times of shape {tuple(x.shape)} have {x.shape[-1] if x.dim() else 0} inputs per row, "
                         f"weight of shape {tuple(w.shape)} takes n_in = {w.shape[1]}")
    if torch.isnan(w).any():
        raise ValueError("weight contains NaN")
    if bias is not None:
        bt = _as_tensor(bias)
        v_shape = tuple(x.shape[:-1]) + (w.shape[0],)
        try:
            fits = tuple(torch.broadcast_shapes(v_shape, bt.shape)) == v_shape
        except RuntimeError:
            fits = False
        if not fits:   # (a bias that broadcasts V to another shape would add neurons silently)
            raise ValueError(f"bias must be a number or of shape ({w.shape[0]},) (n_out), or broadcast to the "
                             f"potentials' shape {v_shape}; got shape {tuple(bt.shape)}")
        if torch.isnan(bt).any():
            raise ValueError("bias contains NaN")


# --------------------------------------------------------------------------
# a layer of identical neurons
# --------------------------------------------------------------------------

class NeuronLayer:
    """A layer of TTFS neurons with input transform f and output transform h.

    Built from formulas: ``f`` is derived for the *sender's* range (Theorem
    4.1) and ``h`` for this layer's range (Theorem 4.3); construction fails
    with the derivation's error when a hypothesis does not hold. Call it with
    input spike times ``(..., n_in)`` (``inf`` for silent inputs) and weights
    ``(n_out, n_in)``; it returns output spike times ``(..., n_out)``, at most
    one spike per neuron.
    """

    def __init__(self, f: str = "x", h: str = "x", *, sender: LayerTiming, receiver: LayerTiming,
                 params: dict | None = None, derive: bool = True):
        self.sender, self.receiver = sender, receiver
        if derive:
            self.input = derive_input(f, sender.a, sender.b, sender.delta, params=params)
            self.output = derive_output(h, receiver.a, receiver.b, receiver.delta, params=params)
            self.in_kernel = InputKernel(self.input.f)
            self.out_kernel = OutputKernel.from_transform(self.output)
        else:
            self.input = self.output = None
            self.in_kernel = InputKernel(f, params=params)
            self.out_kernel = OutputKernel.for_formula(h, receiver.a, receiver.b)

    def potential(self, times, weight, bias=None, mode: str | None = None, precision: int | None = None):
        """Accumulated potential V(T_emit) = sum_j w_j f(x_j) + bias (eq. 9).

        ``times`` ``(..., n_in)``, ``weight`` ``(n_out, n_in)``, ``bias`` ``(n_out,)`` (or a number); other
        shapes, NaN weights or biases raise, naming which."""
        mode = check_mode(mode, precision)
        precision = None if precision is None else int(precision)
        t = _as_tensor(times)
        x = self.sender.decode(t)
        w = _as_tensor(weight)
        w = (w if w.is_floating_point() else w.to(torch.float64)).to(x.dtype)
        _check_layer_shapes(x, w, bias)
        if mode == "kernel":
            xg = self.sender.quantize_values(x, precision)
            terms = kernel_potential_terms(self.in_kernel, self.sender, xg, precision)
        else:
            terms = self.in_kernel(x)
        V = terms @ w.T
        if bias is not None:
            V = V + _as_tensor(bias).to(V.dtype)
        return V


    def emit(self, V, mode: str | None = None, precision: int | None = None):
        """Output values of the emitting stage: clip(h(V), a, b) (eq. 14), per mode. NaN potentials raise."""
        mode = check_mode(mode, precision)
        precision = None if precision is None else int(precision)
        if mode == "kernel":
            V = _as_tensor(V)
            _check_finite(V, "potentials V")   # (OutputKernel.apply checks the other modes' V)
            return kernel_emit(self.out_kernel, self.receiver, V, precision)
        out = self.out_kernel.apply(V, self.receiver.a, self.receiver.b)
        if mode == "quantized":
            out = self.receiver.quantize_values(out, precision)
        return out

    def __call__(self, times, weight, bias=None, mode: str | None = None, precision: int | None = None):
        V = self.potential(times, weight, bias, mode, precision)
        return self.receiver.encode(self.emit(V, mode, precision))
