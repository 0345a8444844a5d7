"""Spiking Transformer building blocks made of catalogue neurons (Section 4.3).

Every spiking layer is a :class:`Population` of neurons that share one
emitting window and one range ``[a, b]`` (so one ``tau`` and ``T_ref``,
Algorithm 1), and one output transform h. Layers exchange spikes; in this
code a spike time ``t`` is carried as the value it stands for,
``x = (T_ref - t)/tau`` (eq. 7), which is the same information: ``a`` means
no spike, ``b`` a spike at ``T_emit``. ``Population.spike_times`` turns
values back into times.

The receiving stage of a neuron is ``sum_j w_j f_j(x_j)`` (Theorem 4.1): in
``exact`` and ``quantized`` modes ``f`` is evaluated in closed form, in
``kernel`` mode each input's term is read from the cumulative integral of
the compiled eta kernel (:func:`ttfs_symbolic.numeric.dynamics.input_table`).
For the identity transform (Corollary 4.2) that table is exactly
``x - a`` (eta = 1), so identity inputs pass their values through in every
mode. The emitting stage is ``clip(h(V), a, b)`` (Theorem 4.3), rounded to
the nearest of ``p`` ticks in ``quantized`` mode, read from the cumulative
psi table in ``kernel`` mode. The per-spike loops of these two modes run in
C where a compiler is available (:mod:`ttfs_symbolic.numeric.native`).

Inputs that come from an earlier window than the previous layer (residual
connections, the x1, x2 of the multiplication network's layer II,
LayerNorm's x - mean) arrive through synaptic delays of whole windows: no
relay neurons, one synaptic operation per delayed spike, as for any spike.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..catalogue import get as catalogue_neuron
from ..numeric import dynamics, native
from ..numeric.kernels import InputKernel, OutputKernel



@dataclass
class Ctx:
    """What one forward pass does: mode, time precision, and what it records.

    ``order`` (set for the calibration pass) collects the populations in the
    order in which they first emit: a layer emits only once the values of
    every layer it receives from exist, so this order is causal and Algorithm
    1 numbers the emitting windows by it (:func:`ttfs_symbolic.model.convert.calibrate`).
    """

    mode: str = "exact"
    precision: int | None = None
    calibrating: bool = False
    record: bool = False
    order: list | None = None

    def __post_init__(self):
        if self.mode == "calibrate":
            self.calibrating = True
            if self.order is None:
                self.order = []
        else:
            dynamics.check_mode(self.mode, self.precision)
            if self.precision is not None:
                self.precision = int(self.precision)
        self._noted: set[int] = set()

    def note(self, pop: "Population"):
        """Record that ``pop`` emits now (first emission only; no-op unless ``order`` is set)."""
        if self.order is not None and id(pop) not in self._noted:
            self._noted.add(id(pop))
            self.order.append(pop)


@dataclass
class PopStats:
    """Calibration statistics and run-time counters of one population."""

    lo: float = math.inf
    hi: float = -math.inf
    samples: list = field(default_factory=list)
    n_seen: int = 0
    # run-time counters (reset by SpikingModel.reset_counters)
    neurons: int = 0
    spikes: int = 0
    clipped: int = 0


@dataclass(frozen=True)
class _Kernels:
    f: InputKernel | None
    h: OutputKernel | None


_INPUT_KERNELS: dict = {}
_OUTPUT_KERNELS: dict = {}


def input_kernel(name: str, params: tuple = ()) -> InputKernel | None:
    """The compiled Theorem 4.1 kernel of a catalogue neuron (None for identity)."""
    key = (name, params)
    if key not in _INPUT_KERNELS:
        neuron = catalogue_neuron(name)
        merged = dict(neuron.params)
        merged.update(dict(params))
        kern = InputKernel(neuron.f, params=merged or None)
        _INPUT_KERNELS[key] = None if kern.is_identity() else kern
    return _INPUT_KERNELS[key]


def output_kernel(name: str) -> OutputKernel | None:
    """The compiled Theorem 4.3 kernel of a catalogue neuron (None for identity)."""
    if name not in _OUTPUT_KERNELS:
        neuron = catalogue_neuron(name)
        if neuron.h.strip() == "x":
            _OUTPUT_KERNELS[name] = None
        else:
            ot = neuron.output_transform()
            _OUTPUT_KERNELS[name] = OutputKernel.from_transform(ot)
    return _OUTPUT_KERNELS[name]


@functools.lru_cache(maxsize=4096)
def log_kernel(c: float) -> InputKernel:
    """The layer-I kernel ``f = log(x + c)`` of the multiplication network (eq. 24), one object per c.

    One object per shift matters beyond the parse: the kernel-mode tables
    (:func:`ttfs_symbolic.numeric.dynamics.input_table`) and ``f(a)`` are
    cached per kernel object, so a fresh kernel per forward pass would
    integrate eta again every time.
    """
    return InputKernel(f"log(x + {float(c)!r})")


class Population(nn.Module):
    """Neurons of one spiking layer: one window, one range [a, b], one h.

    ``neuron`` names the catalogue definition of the output transform (and,
    for documentation, of the neuron). ``fixed_range`` is a range proven to
    contain every value (set by the constructions, not by calibration);
    ``range_fn`` computes such a range from other populations once those are
    calibrated.
    """

    def __init__(self, name: str, neuron: str = "identity", kind: str = "linear", fan_in: int = 1,
                 fixed_range: tuple[float, float] | None = None, range_fn=None, lower_bound: float | None = None,
                 upper_bound: float | None = None):
        super().__init__()
        self.pname = name
        self.neuron = neuron
        self.kind = kind
        self.fan_in = fan_in
        self.h = output_kernel(neuron)
        self.fixed_range = fixed_range
        self.range_fn = range_fn
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound
        self.a = math.nan
        self.b = math.nan
        self.window = 0
        self.stats = PopStats()
        if fixed_range is not None:
            self.set_range(*fixed_range)

    # ---- range and timing -------------------------------------------------
    def set_range(self, a: float, b: float):
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"layer {self.pname}: range [{a}, {b}] is not finite")
        if not a < b:
            b = a + max(1e-6, abs(a) * 1e-6)  # a constant layer: give it a sliver of range
        self.a, self.b = a, b

    @property
    def calibrated(self) -> bool:
        return math.isfinite(self.a) and math.isfinite(self.b)

    def require_range(self):
        """Raise unless this layer has its range (from calibration or a loaded conversion)."""
        if not self.calibrated:
            raise RuntimeError(f"layer {self.pname} has no range: calibrate the model first")

    @property
    def d(self) -> float:
        return self.b - self.a

    def timing(self, delta: float = 1.0, T_emit0: float = 0.0) -> dynamics.LayerTiming:
        return dynamics.LayerTiming.for_layer(self.window, self.a, self.b, delta, T_emit0)

    def spike_times(self, values, delta: float = 1.0, T_emit0: float = 0.0):
        """Spike times of this layer's output values (inf: no spike)."""
        return self.timing(delta, T_emit0).encode(values)

    def _thresholds(self):
        """``(theta_low, theta) = (h^-1(a), h^-1(b))`` (eq. 13) of this range (cached by the kernel)."""
        return self.h.theta_low(self.a), self.h.theta(self.b)

    # ---- calibration --------------------------------------------------------
    def observe(self, values: torch.Tensor, reservoir: int = 20000):
        """Record the range of ``values`` and a random sample of them (for percentiles)."""
        v = values.detach().reshape(-1)
        if v.numel() == 0:
            return
        lo, hi = torch.aminmax(v)  # one pass; NaN propagates into both
        lo, hi = float(lo), float(hi)
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"layer {self.pname}: NaN during calibration (check the inputs)")
        st = self.stats
        st.lo = min(st.lo, lo)
        st.hi = max(st.hi, hi)
        take = min(reservoir // 4, v.numel())
        idx = torch.randint(0, v.numel(), (take,), generator=_GEN)
        st.samples.append(v[idx].to(torch.float64).cpu().numpy())
        st.n_seen += v.numel()

    def finalize(self, percentile: float = 100.0, margin: float = 0.0):
        """Range from calibration: [lo, hi] at the percentile, widened by margin*(hi - lo)."""
        if self.fixed_range is not None:
            return
        if self.range_fn is not None:
            self.set_range(*self.range_fn())
            return
        st = self.stats
        if st.n_seen == 0:
            raise RuntimeError(f"layer {self.pname} saw no data during calibration")
        if percentile >= 100.0:
            lo, hi = st.lo, st.hi
        else:
            allv = np.concatenate(st.samples)
            lo = float(np.percentile(allv, 100.0 - percentile))
            hi = float(np.percentile(allv, percentile))
        width = max(hi - lo, 1e-6 * max(1.0, abs(hi)))
        lo, hi = lo - margin * width, hi + margin * width
        if self.lower_bound is not None:
            lo = max(lo, self.lower_bound)
        if self.upper_bound is not None:
            hi = min(hi, self.upper_bound)
        self.set_range(lo, hi)

    # ---- emitting stage -----------------------------------------------------
    def emit(self, V: torch.Tensor, ctx: Ctx, fresh: bool = False) -> torch.Tensor:
        """Output values of the emitting stage (Theorem 4.3) in the context's mode.

        ``fresh=True``: V is a temporary of the caller's that nothing else
        reads, so the output may be written over it (one pass and one
        allocation fewer per layer). Not when recording: the clip count reads V.
        """
        ctx.note(self)
        if ctx.calibrating:
            out = V if self.h is None else self.h.h_fn("torch")(V)
            self.observe(out)
            return out
        self.require_range()
        reuse = fresh and not ctx.record
        if ctx.mode == "kernel":
            if self.h is None:
                # psi = 1/tau: the cumulative table is linear, P[m] = (m + 1/2) d/p,
                # so the crossing tick is read by division: round((b - V) p / d)
                out = dynamics.quantize_values(V, self.a, self.b, ctx.precision, out=V if reuse else None)
            else:
                out = dynamics.kernel_emit(self.h, self.timing(), V, ctx.precision)
        else:
            if self.h is None:
                out = V.clamp_(self.a, self.b) if reuse else V.clamp(self.a, self.b)
            else:
                out = self._apply_h(V)
            if ctx.mode == "quantized":
                # out is this call's own tensor (or V, when reuse): rounded in place
                out = dynamics.quantize_values(out, self.a, self.b, ctx.precision, out=out)
        if ctx.record:
            self._count(V, out)
        return out

    def _apply_h(self, V: torch.Tensor) -> torch.Tensor:
        """``clip(h(V), a, b)`` (eq. 14) on this layer's range: :meth:`OutputKernel.apply`."""
        return self.h.apply(V, self.a, self.b)

    def _count(self, V, out):
        st = self.stats
        st.neurons += out.numel()
        st.spikes += int((out > self.a).sum())
        if self.h is None:
            st.clipped += int(((V < self.a) | (V > self.b)).sum())
        else:
            low, high = self._thresholds()
            st.clipped += int(((V < low) | (V > high)).sum())

    def extra_repr(self) -> str:
        return f"{self.pname}: {self.neuron}, [a, b] = [{self.a:.4g}, {self.b:.4g}], window {self.window}"


_GEN = torch.Generator().manual_seed(0)


def terms(x: torch.Tensor, src: Population, kernel: InputKernel | None, ctx: Ctx) -> torch.Tensor:
    """Per-synapse terms f(x_j) of the receiving stage (Theorem 4.1, eq. 9).

    ``kernel`` is None for the identity transform. In kernel mode the term of
    a spike at tick k of the sender's window is ``Q[p - k] + f(a)``, Q being
    the cumulative integral of eta over the sender's window.
    """
    if kernel is None:
        return x
    if ctx.mode == "kernel":
        return dynamics.kernel_potential_terms(kernel, src.timing(), x, ctx.precision)
    return kernel.f_fn("torch")(x)


# --------------------------------------------------------------------------
# the multiplication network (Section 4.3.4, Appendix C.1)
# --------------------------------------------------------------------------

def shift_for(pop: Population) -> float:
    """c = 1 - a: log(x + c) >= 0 on the factor's range [a, b] (eq. 24)."""
    return 1.0 - pop.a


def layer1_range(p1: Population, p2: Population) -> tuple[float, float]:
    """Range of layer I that provably holds every log(x1 + c1) + log(x2 + c2).

    With c_i = 1 - a_i each log lies in [0, log(1 + d_i)], so no layer-I
    neuron ever clips and layer II's potential in exact mode is one product
    of the shifted factors.
    """
    return (0.0, math.log1p(p1.d) + math.log1p(p2.d))


class Product(nn.Module):
    """x1 * x2 by the two-layer log/exp network, elementwise or as a matrix product.

    Layer I (``y``): ``f_i = log(x + c_i)`` on both inputs, identity output.
    Layer II (``out``): ``f = exp`` on y, identity on x1 and x2 (delayed),
    weights ``scale``, ``-scale*c2``, ``-scale*c1`` and constant
    ``bias - scale*K*c1*c2``, so ``V = scale * sum_k x1 x2 + bias`` (eq. 25-27
    with the affine folded into the weights and C).
    """

    def __init__(self, name: str, p1: Population, p2: Population, out: Population, matmul: bool):
        super().__init__()
        self.p1, self.p2, self.matmul = p1, p2, matmul
        self.y = Population(f"{name}.layer1", "identity", kind="product_layer1", fan_in=2,
                            range_fn=lambda: layer1_range(p1, p2))
        self.out = out
        self._table = None  # (key, layer II's tick table): see _layer2_table

    def kernels(self):
        """Input kernels ``log(x + c1)``, ``log(x + c2)`` (layer I, eq. 24) and ``exp`` (layer II, eq. 26).

        Built once per pair of shifts (c = 1 - a of each factor, so once per
        calibration), not per forward pass.
        """
        c1, c2 = shift_for(self.p1), shift_for(self.p2)
        return log_kernel(c1), log_kernel(c2), input_kernel("exp_input")

    def forward(self, x1, x2, ctx: Ctx, scale=None, bias=None):
        """Elementwise: x1, x2 broadcastable. Matmul: x1 (..., M, K), x2 (..., K, N)."""
        if not ctx.calibrating:
            self.y.require_range()
        ctx.note(self.y)  # layer I emits after x1, x2 and before layer II (self.out)
        c1 = shift_for(self.p1) if self.p1.calibrated else 1.0
        c2 = shift_for(self.p2) if self.p2.calibrated else 1.0
        if ctx.calibrating or ctx.mode == "exact":
            # Layer I provably does not clip (layer1_range), so its spikes stand for
            # y = log(x1 + c1) + log(x2 + c2) exactly and layer II's potential is
            # exp(y) - c2 x1 - c1 x2 - c1 c2 = x1 x2 (proofs/multiplication.py):
            # the closed form is evaluated as the product itself, without the
            # cancellation of (x1 + c1)(x2 + c2) - ... in float32.
            if ctx.record:
                self._count_layer1(x1, x2, c1, c2)
            V = x1 @ x2 if self.matmul else x1 * x2
        else:
            V = self._layer1_by_neuron(x1, x2, c1, c2, ctx)
        if scale is not None and bias is not None:
            V = torch.addcmul(bias, V, scale)
        elif scale is not None:
            V = V * scale
        elif bias is not None:
            V = V + bias
        return self.out.emit(V, ctx, fresh=True)

    def _count_layer1(self, x1, x2, c1, c2):
        # every layer-I neuron whose y > 0 fires; y = 0 only when both factors sit at a
        st = self.y.stats
        if self.matmul:
            M, K = x1.shape[-2], x1.shape[-1]
            N = x2.shape[-1]
            # one layer-I neuron per (batch element, i, j, k) of the broadcast batch shape
            batch = math.prod(torch.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]))
            total = batch * M * N * K
            silent1 = (x1 <= self.p1.a).to(x1.dtype)
            silent2 = (x2 <= self.p2.a).to(x2.dtype)
            silent = int((silent1 @ silent2).sum())
        else:
            shape = torch.broadcast_shapes(x1.shape, x2.shape)
            total = int(np.prod(shape))
            silent = int(((x1 <= self.p1.a) & (x2 <= self.p2.a)).sum())
        st.neurons += total
        st.spikes += total - silent

    def _layer1_by_neuron(self, x1, x2, c1, c2, ctx: Ctx):
        """Quantized and kernel modes: every layer-I spike on its own.

        Layer I's potential is ``l1 + l2`` (the terms of log(x + c) for each
        factor, computed once per factor); its spike is rounded to the nearest
        of p ticks (identity output, kernel mode reads the linear psi table by
        division). Layer II reads each spike's term from a table ``T`` over
        ticks: the closed form ``exp(b - k d/p)`` (quantized) or the kernel
        integral ``Q[p - k] + exp(a)`` (kernel). The M*N*K layer-I neurons of
        a matrix product are never held: :func:`native.product_matmul` adds
        each term as it is made (C), or works in row chunks (torch).
        """
        k1, k2, _ = self.kernels()
        l1 = terms(x1, self.p1, k1, ctx)
        l2 = terms(x2, self.p2, k2, ctx)
        y_pop = self.y
        p = ctx.precision
        T = self._layer2_table(ctx.mode, p, x1.dtype, x1.device)
        per_tick = p / y_pop.d
        if self.matmul:
            K = x1.shape[-1]
            s, fired = native.product_matmul(l1, l2, T, y_pop.b, per_tick, p, count=ctx.record)
            total = math.prod(s.shape) * K
            V = s - c2 * x1.sum(-1, keepdim=True) - c1 * x2.sum(-2, keepdim=True) - K * c1 * c2
        else:
            t, fired = native.tick_lookup(l1 + l2, y_pop.b, per_tick, p, T)
            total = t.numel()
            V = t - c2 * x1 - c1 * x2 - c1 * c2
        if ctx.record:
            st = y_pop.stats
            st.neurons += total
            st.spikes += int(fired)
        return V

    def _layer2_table(self, mode: str, p: int, dtype, device) -> torch.Tensor:
        """``T``: layer II's exp-term per layer-I tick, cached per range, mode, p, dtype.

        ``T[k]`` is the term of a layer-I spike at tick k: ``exp(b - k d/p)``
        in quantized mode (closed form of eq. 26), ``Q[p - k] + exp(a)`` in
        kernel mode (Q the cumulative integral of eta = exp over layer I's
        window, Theorem 4.1, eq. 30).
        """
        y_pop = self.y
        key = (mode, p, dtype, device, y_pop.a, y_pop.b)
        cached = self._table
        if cached is not None and cached[0] == key:
            return cached[1]
        kexp = input_kernel("exp_input")
        if mode == "kernel":
            q = torch.as_tensor(dynamics.input_table(kexp, y_pop.a, y_pop.b, 1.0, p), dtype=torch.float64)
            T = q.flip(0) + kexp.f_at(y_pop.a)  # T[k] = Q[p - k] + f(a)
        else:
            ticks = torch.arange(p + 1, dtype=torch.float64)
            T = torch.exp(y_pop.b - ticks * (y_pop.d / p))
        T = T.to(dtype=dtype, device=device)
        self._table = (key, T)
        return T


# --------------------------------------------------------------------------
# layers of the Transformer
# --------------------------------------------------------------------------

class SpikingLinear(nn.Module):
    """Linear layer of identity neurons (Corollaries 4.2, 4.4); bias in C."""

    def __init__(self, name: str, weight: torch.Tensor, bias: torch.Tensor | None, kind: str = "linear"):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.out = Population(name, "identity", kind=kind, fan_in=weight.shape[1])

    def forward(self, x, ctx: Ctx):
        V = torch.nn.functional.linear(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))
        return self.out.emit(V, ctx, fresh=True)


class SpikingActivation(nn.Module):
    """Activation neurons (GELU, SiLU, any registered f), one input each (Theorem 4.1, Corollary 4.5).

    ``neuron``: a catalogue name, or an
    :class:`~ttfs_symbolic.model.activations.ActivationNeuron` from the
    activation registry (``activation_neuron(path, module)``), which also
    carries the module it replaces for the check at conversion.
    """

    def __init__(self, name: str, neuron, src: Population):
        super().__init__()
        self.src = src
        if isinstance(neuron, str):
            self.spec = None
            self.neuron_name = neuron
            self.kernel = input_kernel(neuron)
        else:
            self.spec = neuron          # a plain attribute: the source module is not a submodule
            self.neuron_name = neuron.label
            self.kernel = neuron.kernel()
        self.out = Population(name, "identity", kind="activation", fan_in=1)

    def forward(self, x, ctx: Ctx):
        # terms() returns x itself only for the identity kernel
        return self.out.emit(terms(x, self.src, self.kernel, ctx), ctx, fresh=self.kernel is not None)


class SpikingLayerNorm(nn.Module):
    """LayerNorm (Section 4.3.3): mean, x - mean, variance, rsqrt, product, affine.

    mean: identity neurons with weights 1/n. centred: x (delayed) and -mean.
    var: ``square`` neuron (f = x^2, weights 1/n) on the centred values.
    rsqrt: ``rsqrt`` neuron (f = (v + eps)^(-1/2)). The product centred*rsqrt
    by the multiplication network, with gamma and beta folded into layer II.
    """

    def __init__(self, name: str, src: Population, weight, bias, eps: float, n: int):
        super().__init__()
        self.src = src
        self.eps = float(eps)
        self.n = n
        self.weight = None if weight is None else nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.mean = Population(f"{name}.mean", "identity", kind="ln_mean", fan_in=n)
        self.centred = Population(f"{name}.centred", "identity", kind="ln_centred", fan_in=2)
        self.var = Population(f"{name}.var", "identity", kind="ln_var", fan_in=n, lower_bound=0.0)
        self.rsqrt = Population(f"{name}.rsqrt", "identity", kind="ln_rsqrt", fan_in=1, lower_bound=0.0)
        self.out = Population(name, "identity", kind="ln_out", fan_in=3)
        self.product = Product(f"{name}.product", self.centred, self.rsqrt, self.out, matmul=False)
        self.k_square = input_kernel("square")
        self.k_rsqrt = input_kernel("rsqrt", (("eps", self.eps),))

    def forward(self, x, ctx: Ctx):
        mean = self.mean.emit(x.mean(-1, keepdim=True), ctx, fresh=True)
        centred = self.centred.emit(x - mean, ctx, fresh=True)
        var = self.var.emit(terms(centred, self.centred, self.k_square, ctx).mean(-1, keepdim=True), ctx, fresh=True)
        r = self.rsqrt.emit(terms(var, self.var, self.k_rsqrt, ctx), ctx, fresh=True)
        w = None if self.weight is None else self.weight.to(x.dtype)
        b = None if self.bias is None else self.bias.to(x.dtype)
        return self.product(centred, r, ctx, scale=w, bias=b)


class SpikingSoftmax(nn.Module):
    """Softmax over the last dimension (Section 4.3.2, Figure 3, Appendix C.2).

    Layer 0 (optional): a ``max`` neuron and subtraction neurons z = x - max.
    Layer I: the ``logsumexp`` neuron (Theorem 4.6) on z; its range
    [0, log N] holds every value (z <= 0 with one z = 0).
    Layer II: ``exp`` neurons (eq. 36) on z - lse, range [0, 1].
    """

    def __init__(self, name: str, src: Population, n: int, use_max: bool = True):
        super().__init__()
        self.src = src
        self.use_max = use_max
        self.n = n
        if use_max:
            self.max = Population(f"{name}.max", "max", kind="softmax_max", fan_in=n,
                                  range_fn=lambda: (src.a, src.b))
            self.z = Population(f"{name}.z", "identity", kind="softmax_sub", fan_in=2,
                                range_fn=lambda: (min(src.a - src.b, -1e-6), 0.0))
            lse_range = (0.0, math.log(n))
        else:
            self.max = self.z = None
            lse_range = None
        self.lse = Population(f"{name}.lse", "logsumexp", kind="softmax_lse", fan_in=n,
                              fixed_range=lse_range,
                              range_fn=None if use_max else (lambda: (src.a, src.b + math.log(n))))
        self.out = Population(name, "exp", kind="softmax_exp", fan_in=2, fixed_range=(0.0, 1.0))
        self.k_exp = input_kernel("logsumexp")

    def forward(self, s, ctx: Ctx):
        if self.use_max:
            m = self.max.emit(s.amax(-1, keepdim=True), ctx, fresh=True)
            z = self.z.emit(s - m, ctx, fresh=True)
            zsrc = self.z
        else:
            z, zsrc = s, self.src
        e = terms(z, zsrc, self.k_exp, ctx)   # exp(z), the input terms of the log-sum-exp neuron
        lse = self.lse.emit(e.sum(-1, keepdim=True), ctx, fresh=True)
        if ctx.mode == "exact" and not (ctx.calibrating or ctx.record) and e is not z:
            # Layer II in closed form, clip(exp(z - lse), 0, 1) (eq. 36), evaluated as
            # exp(z) * exp(-lse): the same value to a few ulps, reusing layer I's terms
            # exp(z) instead of a second pass of exp (V = z - lse <= 0 always, so h's
            # upper threshold theta = 0 is reached only at V = 0, where both give 1).
            ctx.note(self.out)
            self.out.require_range()
            return e.mul_(torch.exp(-lse)).clamp_(self.out.a, self.out.b)
        return self.out.emit(z - lse, ctx, fresh=True)
