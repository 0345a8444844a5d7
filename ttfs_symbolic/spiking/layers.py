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
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..catalogue import get as catalogue_neuron
from ..numeric import dynamics, native
from ..numeric.kernels import InputKernel, OutputKernel

#: how a forward call counts the neurons driven outside their range (``check_clipping=``):
#: ``full`` every neuron; ``sample`` every neuron where the count is free (the C loops count in
#: the pass that clips and rounds), every SAMPLE_EVERY-th row of each layer where it is not (the
#: torch loops: GPU, TTFS_NATIVE=0); ``off`` none (no count, no warning). The neurons clip in
#: every setting: only the count differs (docs/guide/precision.md, "Clipping checks").
CHECK_MODES = ("full", "sample", "off")
DEFAULT_CHECK = "full"
SAMPLE_EVERY = 8


@dataclass
class Ctx:
    """What one forward pass does: mode, time precision, and what it records.

    ``order`` (set for the calibration pass) collects the populations in the
    order in which they first emit: a layer emits only once the values of
    every layer it receives from exist, so this order is causal and Algorithm
    1 numbers the emitting windows by it (:func:`ttfs_symbolic.conversion.convert.calibrate`).
    ``check``: how out-of-range neurons are counted (:data:`CHECK_MODES`).
    """

    mode: str = "exact"
    precision: int | None = None
    calibrating: bool = False
    record: bool = False
    order: list | None = None
    #: ids of the populations that run in ``mode``; the others run exact (the error budget)
    only: frozenset | None = None
    check: str = DEFAULT_CHECK

    def __post_init__(self):
        if self.check not in CHECK_MODES:
            raise ValueError(f"check_clipping must be one of {', '.join(CHECK_MODES)}, got {self.check!r}")
        if self.mode == "calibrate":
            # precision set: the precision-aware pass (convert.calibrate(..., precision=p)), in which every
            # calibrated layer passes on its values at time precision p as well as recording them
            self.calibrating = True
            if self.order is None:
                self.order = []
            if self.precision is not None:
                dynamics.check_mode("quantized", self.precision)
                self.precision = int(self.precision)
        else:
            dynamics.check_mode(self.mode, self.precision)
            if self.precision is not None:
                self.precision = int(self.precision)
        self._noted: set[int] = set()
        #: populations driven outside their range in this call: name -> (clipped, neurons)
        self.clipped: dict[str, tuple[int, int]] = {}
        #: neurons whose range was checked in this call
        self.checked = 0
        #: whether some counts were made on a sample (check="sample" where counting is not free)
        self.sampled = False

    def add_check(self, name: str, clipped: int, neurons: int, checked: int | None = None):
        """Note that ``checked`` (default: all ``neurons``) neurons of layer ``name`` were checked and
        ``clipped`` of them were out of range; nothing when the check is off."""
        if self.check == "off":
            return
        self.checked += neurons if checked is None else checked
        if clipped:
            old = self.clipped.get(name, (0, 0))
            self.clipped[name] = (old[0] + clipped, old[1] + (neurons if checked is None else checked))

    def mode_for(self, pop: "Population") -> str:
        """The mode ``pop`` runs in: ``mode``, or ``exact`` when ``only`` leaves it out."""
        if self.only is None or id(pop) in self.only:
            return self.mode
        return "exact"

    def note(self, pop: "Population"):
        """Record that ``pop`` emits now (first emission only; no-op unless ``order`` is set)."""
        if self.order is not None and id(pop) not in self._noted:
            self._noted.add(id(pop))
            self.order.append(pop)


#: lower-tail (and upper-tail) shares the error-optimal range may clip, per side
OPTIMAL_TRIMS = (0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)


def optimal_range(samples: np.ndarray, p: int, lo: float, hi: float) -> tuple[float, float]:
    """The range [a, b] of least expected squared error at time precision p on ``samples``.

    The error of a value x is its clipping, ``clip(x, a, b) - x``, plus the rounding to the nearest
    of p ticks, uniform with variance ``((b - a)/p)^2 / 12``. Candidates: [q_lo, q_hi] with q the
    sample quantiles at each pair of :data:`OPTIMAL_TRIMS` (0 keeps the observed extreme ``lo`` or
    ``hi``). A few far outliers are clipped when the ticks they would cost everyone else are worth
    more; a range without outliers stays [min, max].
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    if x.size == 0:
        return lo, hi
    def q(t, upper):
        if t == 0:
            return hi if upper else lo
        return float(np.quantile(x, 1.0 - t if upper else t))
    best, best_err = (lo, hi), math.inf
    for tl in OPTIMAL_TRIMS:
        a = q(tl, False)
        for tu in OPTIMAL_TRIMS:
            b = q(tu, True)
            if not b > a:
                continue
            clip = np.clip(x, a, b) - x
            err = float(np.mean(clip * clip)) + ((b - a) / p) ** 2 / 12.0
            if err < best_err:
                best, best_err = (a, b), err
    return best


class ClippingWarning(UserWarning):
    """Inputs drove neurons outside their calibrated range: those neurons clipped (to a or b)."""


def make_ctx(model: nn.Module, mode: str, precision, record: bool = False, only=None,
             check: str = DEFAULT_CHECK) -> Ctx:
    """The context of one forward call; ``only``: names of the layers that run in ``mode`` (others exact);
    ``check``: how out-of-range neurons are counted (:data:`CHECK_MODES`)."""
    ids = None
    if only is not None:
        names = set(only)
        pops = {p.pname: p for p in model.modules() if isinstance(p, Population)}
        unknown = sorted(names - set(pops))
        if unknown:
            raise ValueError(f"unknown layer name(s) in only=: {', '.join(unknown[:5])}")
        ids = frozenset(id(pops[n]) for n in names)
    return Ctx(mode=mode, precision=precision, record=record, only=ids, check=check)


def warn_clipping(clipped: int, checked: int, layers: dict, where: str, stacklevel: int = 7):
    """One :class:`ClippingWarning`: how many neurons clipped, the rate, the three worst layers."""
    worst = sorted(layers.items(), key=lambda kv: -kv[1])[:3]
    warnings.warn(
        f"{clipped} of {checked} neurons ({100 * clipped / max(checked, 1):.3g}%) were driven outside their "
        f"calibrated range and clipped in {where}; worst layers: "
        + ", ".join(f"{n} ({100 * r:.3g}%)" for n, r in worst)
        + ". Inputs unlike the calibration data, or rounding at finite p, moved values past the ranges: "
          "calibrate on more (or more typical) data or widen the ranges (convert(..., margin=0.1)).",
        ClippingWarning, stacklevel=stacklevel)


def finish_call(model: nn.Module, ctx: Ctx, warn: bool = True) -> dict:
    """Record (``model.last_clipping``) and warn once about the neurons this call drove out of range.

    Returns ``{"rate", "clipped", "checked", "layers": {name: rate}, "check", "sampled"}``;
    the warning (:class:`ClippingWarning`) names the rate and the worst layers. ``check`` is the
    call's ``check_clipping``; ``sampled``: whether some layers were counted on a sample only
    (``check_clipping="sample"`` where counting is not free): ``clipped`` and ``checked`` are then
    counts over the neurons checked, and ``rate`` an estimate. With ``"off"`` nothing is counted.
    """
    clipped = sum(c for c, _ in ctx.clipped.values())
    layers = {name: c / n for name, (c, n) in ctx.clipped.items()}
    info = {"rate": clipped / ctx.checked if ctx.checked else 0.0, "clipped": clipped, "checked": ctx.checked,
            "layers": layers, "check": ctx.check, "sampled": ctx.sampled}
    model.last_clipping = info
    if warn and clipped:
        warn_clipping(clipped, ctx.checked, layers, f"this {ctx.mode} call")
    return info


@dataclass
class PopStats:
    """Calibration statistics and run-time counters of one population."""

    lo: float = math.inf
    hi: float = -math.inf
    samples: list = field(default_factory=list)
    #: for each batch of ``samples``, the index of each sample's neuron within one input (the values
    #: without their batch dimension, flattened): which per-channel or per-neuron range it has
    sample_idx: list = field(default_factory=list)
    n_seen: int = 0
    # elementwise extremes over the batch (per-neuron and per-channel ranges)
    lo_t: torch.Tensor | None = None
    hi_t: torch.Tensor | None = None
    sum_t: torch.Tensor | None = None      # elementwise sums over the batch (mean and spread per neuron)
    m2_t: torch.Tensor | None = None       # elementwise sums of squared deviations from the mean (Chan et al.)
    rows: int = 0
    # run-time counters (reset by SpikingModel.reset_counters)
    neurons: int = 0
    spikes: int = 0
    clipped: int = 0

    def merge(self, other: "PopStats"):
        """Add ``other``'s calibration statistics (another part of the same data) to these."""
        self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        self.samples += other.samples
        self.sample_idx += other.sample_idx
        self.n_seen += other.n_seen
        if other.lo_t is None:
            return
        self.add_moments(other.lo_t, other.hi_t, other.sum_t, other.m2_t, other.rows)

    def add_moments(self, lo_t, hi_t, sum_t, m2_t, rows: int):
        """Add elementwise extremes, sums and sums of squared deviations of ``rows`` more rows (Chan et
        al.'s parallel combination: every term >= 0, so a nearly constant neuron's spread does not cancel
        as sum(x^2)/n - mean^2 would)."""
        if self.lo_t is None:
            self.lo_t, self.hi_t, self.sum_t, self.m2_t, self.rows = lo_t, hi_t, sum_t, m2_t, rows
            return
        self.lo_t, self.hi_t = torch.minimum(self.lo_t, lo_t), torch.maximum(self.hi_t, hi_t)
        na = self.rows
        delta = sum_t / rows - self.sum_t / na
        self.m2_t = self.m2_t + m2_t + delta.square() * (na * rows / (na + rows))
        self.sum_t = self.sum_t + sum_t
        self.rows = na + rows


@dataclass(frozen=True)
class _Kernels:
    f: InputKernel | None
    h: OutputKernel | None


#: how calibration sets the ranges of data-calibrated identity layers: one range per layer
#: (the paper's Algorithm 1), per channel (last dimension) or per neuron (every element but the batch)
RANGE_KINDS = ("layer", "channel", "neuron")
#: how a residual sum x + y is carried: ``neuron`` (the paper: an identity neuron re-encodes the sum in
#: one spike) or ``synapses`` (no neuron: every consumer receives the summands' spikes through identity
#: synapses and forms the sum in its own potential, Theorem 4.1 with f = identity being linear)
RESIDUAL_MODES = ("neuron", "synapses")
DEFAULT_RESIDUAL = "neuron"
#: the kinds of layer that may have per-channel or per-neuron ranges (their h is the identity and
#: no construction derives their range from another layer's)
FINE_KINDS = frozenset({"patch_embed", "residual", "ln_mean", "ln_centred", "ln_var", "ln_rsqrt", "ln_out",
                        "linear", "head", "pool", "activation", "embed", "matmul_qk", "matmul_av",
                        "l2_sumsq", "l2_rsqrt", "l2_out"})
#: kinds whose finer ranges are per attention head (dimension 1 of (batch, heads, tokens, tokens)), never per
#: token: their values are attention scores, whose positions mean nothing across inputs
HEAD_KINDS = frozenset({"matmul_qk"})
#: the dimensions of the values (batch first) that a per-channel range follows, by kind: attention scores
#: per head; attention outputs (batch, heads, tokens, head_dim) per head and feature; the rest per feature
CHANNEL_DIMS = {"matmul_qk": (1,), "matmul_av": (1, -1)}
#: the kinds of layer whose code calibration may choose (``codes="auto"``): the log code
#: (:func:`ttfs_symbolic.numeric.dynamics.quantize_log_values`) where its rounding error is the smaller. Not
#: the layers of the softmax before its exp (scores, max, x - max, log-sum-exp): their values are
#: exponents, whose absolute error is what the probabilities feel; not the pixels (the input encoders)
CODE_KINDS = frozenset({"patch_embed", "residual", "ln_mean", "ln_centred", "ln_var", "ln_rsqrt", "ln_out",
                        "linear", "head", "pool", "activation", "embed", "matmul_av", "softmax_exp",
                        "l2_sumsq", "l2_rsqrt", "l2_out"})
#: candidate shift ratios r (e = r M) of the log code; calibration picks the one of least rounding error
LOG_SHIFTS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
#: the codes calibration may give layers: ``auto`` (per layer, the one of least rounding error) or ``linear``
CODE_CHOICES = ("auto", "linear")

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


#: largest |a|, |b| of a layer's range: the float32 modes must hold the values and the width b - a
MAX_RANGE_ABS = 1e30


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
                 upper_bound: float | None = None, pin_low: float | None = None):
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
        #: a lower end that calibration does not move (e.g. 0 for probabilities: no spike is 0)
        self.pin_low = pin_low
        #: a positive quantity whose least value matters on a relative scale (a variance, whose
        #: (v + eps)^(-1/2) follows): its lower end is the least value seen divided by (1 + margin),
        #: never widened by sigmas nor down to 0
        self.scale_low = False
        #: a bound the network proves for the upper end (a callable giving a float): the calibrated upper
        #: end never exceeds it (LayerNorm's variance: the mean of its centred inputs' squared extremes)
        self.upper_fn = None
        self.a = math.nan
        self.b = math.nan
        #: per-channel / per-neuron ranges (float64 tensors broadcasting against the values without the
        #: batch), or None: one range. ``a``, ``b`` then hold the envelope (least a, greatest b)
        self.fine_a = None
        self.fine_b = None
        self._fine_cache = None
        self._count_cache = None   # (key, (lo, hi)) of _count_bounds
        self._ticks_cache = None   # (key, [b, p/d, d/p, lo, hi]) of _fine_ticks
        self._pack_cache = None    # (key, [lo, hi, a, b]) of clip_pack
        self.range_kind = "layer"
        #: (sender, input kernel) when this layer's values are f(sender's values), one input each: with
        #: fine ranges its range is the image of the sender's ranges under f (:meth:`image_range`)
        self.image_of = None
        self.window = 0
        #: residual="synapses": no neuron; the value is the sum its consumers form in their potentials
        #: from the summands' spikes (:meth:`emit` passes it through, unrounded and unclipped)
        self.relay = False
        #: the dimensions of the values that per-channel ranges follow (:data:`CHANNEL_DIMS`)
        self.channel_dims = CHANNEL_DIMS.get(kind, (-1,))
        #: how the spikes carry the values (:data:`dynamics.CODES`): ``linear`` (eq. 7) or ``log``, whose
        #: shift ratio r (e = r M) is ``log_r`` (:func:`ttfs_symbolic.numeric.dynamics.quantize_log_values`)
        self.code = "linear"
        self.log_r = None
        self.stats = PopStats()
        if fixed_range is not None:
            self.set_range(*fixed_range)

    # ---- range and timing -------------------------------------------------
    @property
    def fine_ok(self) -> bool:
        """Whether calibration may give this layer per-channel or per-neuron ranges."""
        return self.h is None and self.fixed_range is None and self.range_fn is None and self.kind in FINE_KINDS

    @property
    def fine(self) -> bool:
        return self.fine_a is not None

    @property
    def on_linear_grid(self) -> bool:
        """Whether this layer's spikes lie on one linear grid of p ticks over [a, b] (kernel-mode tables apply)."""
        return self.fine_a is None and not self.relay and self.code == "linear"

    def set_range(self, a, b):
        """One range ``[a, b]`` (floats), or one per neuron (tensors or nested lists of equal shapes).

        ``|a|`` and ``|b|`` at most :data:`MAX_RANGE_ABS`: ValueError naming the layer otherwise.
        """
        self._check_magnitude(a, b)
        if isinstance(a, (torch.Tensor, list, np.ndarray)) or isinstance(b, (torch.Tensor, list, np.ndarray)):
            ta = torch.as_tensor(a, dtype=torch.float64).clone()
            tb = torch.as_tensor(b, dtype=torch.float64).clone()
            if ta.shape != tb.shape:
                raise ValueError(f"layer {self.pname}: range shapes differ, a {tuple(ta.shape)}, b {tuple(tb.shape)}")
            if not (torch.isfinite(ta).all() and torch.isfinite(tb).all()):
                raise ValueError(f"layer {self.pname}: per-neuron range is not finite")
            if not bool((ta < tb).all()):
                raise ValueError(f"layer {self.pname}: per-neuron range has a >= b at "
                                 f"{int((ta >= tb).sum())} neuron(s)")
            self.fine_a, self.fine_b, self._fine_cache = ta, tb, None
            self._count_cache = self._ticks_cache = self._pack_cache = self._log_cache = None
            self.a, self.b = float(ta.min()), float(tb.max())
            return
        self.fine_a = self.fine_b = self._fine_cache = None
        self._count_cache = self._ticks_cache = self._pack_cache = self._log_cache = None
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"layer {self.pname}: range [{a}, {b}] is not finite")
        if not a < b:
            b = a + max(1e-6, abs(a) * 1e-6)  # a constant layer: give it a sliver of range
        self.a, self.b = a, b

    def _check_magnitude(self, a, b) -> None:
        big = max(float(torch.as_tensor(v, dtype=torch.float64).abs().max()) for v in (a, b))
        if big > MAX_RANGE_ABS:   # NaN passes here and is refused below
            raise ValueError(f"layer {self.pname}: its range reaches {big:.3g}, beyond the +-{MAX_RANGE_ABS:g} "
                             "the float32 modes can run (weights or inputs far off their usual scale?)")

    #: what calibration changes in a population (:meth:`state` / :meth:`restore`)
    _STATE = ("a", "b", "fine_a", "fine_b", "code", "log_r", "range_kind", "window", "stats")

    def state(self) -> dict:
        """The calibrated state (range, code, window, statistics), to put back after a failed calibration."""
        return {k: getattr(self, k, None) for k in self._STATE}

    def restore(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._fine_cache = self._count_cache = self._ticks_cache = self._pack_cache = self._log_cache = None

    def set_code(self, code: str, log_r: float | None = None):
        """Carry the values by ``code`` (``linear`` or ``log`` with shift ratio ``log_r`` > 0)."""
        if code not in dynamics.CODES:
            raise ValueError(f"layer {self.pname}: unknown code {code!r}; choose one of {', '.join(dynamics.CODES)}")
        if code == "log":
            if isinstance(log_r, bool) or not isinstance(log_r, (int, float)) or not (0 < log_r < math.inf):
                raise ValueError(f"layer {self.pname}: the log code needs a shift ratio r > 0, got {log_r!r}")
            self.code, self.log_r = "log", float(log_r)
        else:
            self.code, self.log_r = "linear", None

    @property
    def calibrated(self) -> bool:
        return math.isfinite(self.a) and math.isfinite(self.b)

    def require_range(self):
        """Raise unless this layer has its range (from calibration or a loaded conversion)."""
        if not self.calibrated:
            raise RuntimeError(f"layer {self.pname} has no range: calibrate the model first")

    @property
    def d(self) -> float:
        """b - a of the layer's range (the envelope, for per-neuron ranges)."""
        return self.b - self.a

    def range_pair(self):
        """``(a, b)``: the per-channel / per-neuron range tensors, or the floats of one range."""
        return (self.fine_a, self.fine_b) if self.fine_a is not None else (self.a, self.b)

    def bounds(self, like: torch.Tensor | None = None, check_shape: bool = True):
        """``(a, b)``: floats, or for per-neuron ranges tensors in ``like``'s dtype and device (``like`` of
        this layer's values' shape unless ``check_shape=False``: only its dtype and device count)."""
        if self.fine_a is None:
            return self.a, self.b
        if check_shape:
            self._check_fine_shape(tuple(like.shape))
        key = (like.dtype, like.device)
        if self._fine_cache is None or self._fine_cache[0] != key:
            self._fine_cache = (key, self.fine_a.to(device=key[1], dtype=key[0]), self.fine_b.to(device=key[1], dtype=key[0]))
        return self._fine_cache[1], self._fine_cache[2]

    def fine_shape(self, values_shape: tuple) -> tuple:
        """The shape per-channel / per-neuron ranges must have for values of ``values_shape`` (batch first)."""
        if not self._per_channel_kind:
            return tuple(values_shape[1:])
        keep = self._channel_axes(len(values_shape))   # (the reduced dimensions after the first kept one: 1)
        return tuple(values_shape[d] if d in keep else 1 for d in range(keep[0], len(values_shape)))

    def _check_fine_shape(self, values_shape: tuple) -> None:
        """ValueError naming the layer and both shapes when the per-neuron ranges do not fit the values.

        Equal shapes only, never broadcasting: a range list of length 1 (or of
        another length) loaded from a file would otherwise stand for every
        neuron, or fail deep inside a forward pass.
        """
        want = self.fine_shape(values_shape)
        have = tuple(self.fine_a.shape)
        if self.range_fn is not None:
            # a range a construction derives from another layer's (softmax's max and x - max from the
            # scores' per-head ranges) has that layer's shape, which broadcasts over this one's values
            want = tuple(values_shape[1:])
            try:
                fits = len(have) <= len(want) and torch.broadcast_shapes(have, want) == torch.Size(want)
            except RuntimeError:
                fits = False
            if fits:
                return
        if have != want:
            raise ValueError(f"layer {self.pname}: its {self.range_kind} ranges have shape {have}, but the layer "
                             f"has {self.range_kind} shape {want} (values {tuple(values_shape)}): the ranges "
                             "were made for another model or input size")

    def range_dict(self) -> dict:
        """``a`` and ``b`` as saved in a conversion file (numbers, or nested lists for per-neuron ranges)."""
        code = {} if self.code == "linear" else {"code": self.code, "log_r": self.log_r}
        if self.fine_a is None:
            return {"a": self.a, "b": self.b, **code}
        return {"a": self.fine_a.tolist(), "b": self.fine_b.tolist(), "range_kind": self.range_kind, **code}

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
        """Record the range of ``values``, a random sample of them (for percentiles and the code), and, for
        per-channel and per-neuron ranges, each channel's (neuron's) extremes, sum and sum of squares."""
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
        st.sample_idx.append(self._range_index(idx.numpy(), tuple(values.shape)))
        st.n_seen += v.numel()
        if self.fine_ok and values.dim() >= 2 and self.range_kind != "layer":
            self._observe_fine(values.detach().to(torch.float64))

    def _channel_axes(self, nd: int) -> list[int]:
        """The dimensions (of values with ``nd`` dimensions, batch first) a per-channel range keeps."""
        return sorted({d if d >= 0 else nd + d for d in self.channel_dims})

    @property
    def _per_channel_kind(self) -> bool:
        return self.range_kind == "channel" or self.kind in HEAD_KINDS

    def _range_index(self, idx: np.ndarray, shape: tuple) -> np.ndarray:
        """Flat index of each sampled element's per-channel / per-neuron range (0 for one range)."""
        if len(shape) < 2 or self.range_kind == "layer" or not self.fine_ok:
            return np.zeros_like(idx)
        if not self._per_channel_kind:
            return idx % math.prod(shape[1:])
        keep = self._channel_axes(len(shape))
        coords = np.unravel_index(idx, shape)
        return np.ravel_multi_index([coords[d] for d in keep], [shape[d] for d in keep])

    def _observe_fine(self, v64: torch.Tensor):
        """Accumulate per-channel (reduced over every other dimension, the batch included) or per-neuron
        (reduced over the batch) extremes and moments. Per-channel statistics do not depend on the number
        of tokens, so batches of different lengths (text) all count."""
        st = self.stats
        if self._per_channel_kind:
            keep = self._channel_axes(v64.dim())
            red = tuple(d for d in range(v64.dim()) if d not in keep)
            first = keep[0]

            def cut(t):
                return t[(0,) * first] if first else t

            lo_t, hi_t = cut(v64.amin(red, keepdim=True)), cut(v64.amax(red, keepdim=True))
            rows = math.prod(v64.shape[d] for d in red)
            s1 = v64.sum(red, keepdim=True)
            m2 = cut((v64 - s1 / rows).square_().sum(red, keepdim=True))
            s1 = cut(s1)
        else:
            lo_t, hi_t = torch.aminmax(v64, dim=0)
            s1, rows = v64.sum(0), v64.shape[0]
            m2 = (v64 - s1 / rows).square_().sum(0)
        if st.lo_t is not None and st.lo_t.shape != lo_t.shape:
            raise ValueError(f"layer {self.pname}: per-neuron ranges need inputs of one shape, got "
                             f"{tuple(st.lo_t.shape)} and then {tuple(lo_t.shape)} (use range_kind='channel' "
                             "for inputs of different lengths)")
        st.add_moments(lo_t, hi_t, s1, m2, rows)

    def finalize(self, percentile: float = 100.0, margin: float = 0.0, sigmas: float = 6.0,
                 optimize_for: int | None = None, codes: str = "linear", headroom: float = 1.0):
        """Range from calibration: [lo, hi] at the percentile, widened by margin*(hi - lo).

        Per-channel and per-neuron ranges (``range_kind``) hold each neuron's (channel's) observed
        extremes and its mean +- ``sigmas`` standard deviations over the calibration data: a few
        calibration inputs see a neuron's extremes only roughly (the chance that a new input falls
        outside the extremes of n is about 2/(n + 1)), while the spread is estimated well from few.
        ``optimize_for=p``: a layer-wide range of least clipping plus rounding error at precision p on
        the calibration samples (:func:`optimal_range`), instead of min/max or the percentile.
        ``codes="auto"``: afterwards the layer's code is the one of least rounding error
        (:meth:`choose_code`). ``headroom``: then :meth:`apply_headroom`.
        """
        self.code, self.log_r = "linear", None
        if self.range_fn is not None:
            self.set_range(*self.range_fn())
        elif self.fixed_range is None:
            if codes == "auto" and self.kind == "softmax_exp":
                # probabilities lie in [0, 1]: with a code that may be logarithmic the proven range costs
                # few ticks, and no probability ever clips (docs/guide/precision.md)
                self.set_range(0.0, 1.0)
            else:
                self._finalize_range(percentile, margin, sigmas, optimize_for)
        if codes == "auto":
            self.choose_code()
        if self.scale_low and self.code == "linear" and self.lower_bound is not None and self.calibrated \
                and self.range_fn is None and self.fixed_range is None:
            # a scale (variance) on the linear code: down to its bound 0, which costs a few ticks of the
            # p and no value below the calibration's least can clip (its rsqrt would be cut)
            a, b = self.range_pair()
            self.set_range(torch.full_like(a, self.lower_bound) if isinstance(a, torch.Tensor) else self.lower_bound,
                           b)
        self.apply_headroom(headroom)

    def _finalize_range(self, percentile, margin, sigmas, optimize_for):
        st = self.stats
        if st.n_seen == 0:
            raise RuntimeError(f"layer {self.pname} saw no data during calibration")
        if self.range_kind != "layer" and self.fine_ok and self.image_of is not None and self.image_of[0].fine:
            lo, hi = self.image_range()
            self.set_range(lo, hi)
            return
        if self.range_kind != "layer" and self.fine_ok and st.lo_t is not None:
            lo, hi, s1, m2, n = st.lo_t, st.hi_t, st.sum_t, st.m2_t, st.rows
            lo_seen = lo
            if sigmas > 0:
                mean = s1 / n
                std = torch.clamp(m2 / n, min=0.0).sqrt()
                lo = torch.minimum(lo, mean - sigmas * std)
                hi = torch.maximum(hi, mean + sigmas * std)
            width = torch.maximum(hi - lo, 1e-6 * torch.clamp(hi.abs(), min=1.0))
            lo, hi = lo - margin * width, hi + margin * width
            if self.scale_low:
                lo = lo_seen / (1.0 + margin)
            if self.upper_fn is not None:
                hi = torch.clamp(hi, max=float(self.upper_fn()))
            if self.lower_bound is not None:
                lo = torch.clamp(lo, min=self.lower_bound)
            if self.upper_bound is not None:
                hi = torch.clamp(hi, max=self.upper_bound)
            hi = torch.maximum(hi, lo + torch.clamp(lo.abs() * 1e-6, min=1e-6))
            self.set_range(lo, hi)
            return
        if optimize_for is not None:
            lo, hi = optimal_range(np.concatenate(st.samples), int(optimize_for), st.lo, st.hi)
        elif percentile >= 100.0:
            lo, hi = st.lo, st.hi
        else:
            allv = np.concatenate(st.samples)
            lo = float(np.percentile(allv, 100.0 - percentile))
            hi = float(np.percentile(allv, percentile))
        width = max(hi - lo, 1e-6 * max(1.0, abs(hi)))
        lo, hi = (lo / (1.0 + margin) if self.scale_low else lo - margin * width), hi + margin * width
        if self.pin_low is not None:
            lo = self.pin_low
        if self.lower_bound is not None:
            lo = max(lo, self.lower_bound)
        if self.upper_bound is not None:
            hi = min(hi, self.upper_bound)
        if self.upper_fn is not None:
            hi = max(min(hi, float(self.upper_fn())), lo + max(1e-12, abs(lo) * 1e-6))
        self.set_range(lo, hi)

    def margin_needed(self, held: PopStats) -> float:
        """The margin (a fraction of each range's width) this layer's range needs so that no held-out value clips.

        ``held``: statistics of calibration data the range was not fitted on.
        Per-channel / per-neuron ranges compare each channel's held-out
        extremes with its own range and take the largest need. Ends that a
        bound pins (a probability's 0, a variance's 0) and ranges that a
        construction derives (fixed, computed from another layer, images) need
        none.
        """
        if (held.n_seen == 0 or self.fixed_range is not None or self.range_fn is not None or not self.calibrated
                or (self.range_kind != "layer" and self.image_of is not None and self.image_of[0].fine)):
            return 0.0
        if self.fine_a is not None and held.lo_t is not None and held.lo_t.shape == self.fine_a.shape:
            a, b, lo, hi = self.fine_a, self.fine_b, held.lo_t, held.hi_t
        else:
            a, b = torch.tensor(self.a, dtype=torch.float64), torch.tensor(self.b, dtype=torch.float64)
            lo, hi = torch.tensor(held.lo, dtype=torch.float64), torch.tensor(held.hi, dtype=torch.float64)
        w = (b - a).clamp(min=1e-300)
        low = (a / lo.clamp(min=1e-300) - 1.0) if self.scale_low else (a - lo) / w
        if self.pin_low is not None or (self.lower_bound is not None and bool((a <= self.lower_bound).all())):
            low = torch.zeros_like(low)
        high = (hi - b) / w
        if self.upper_bound is not None and bool((b >= self.upper_bound).all()):
            high = torch.zeros_like(high)
        need = float(torch.maximum(low, high).max())
        return max(0.0, need) if math.isfinite(need) else 0.0

    def sample_ranges(self, idx: np.ndarray) -> tuple:
        """The range ``(a, b)`` of each calibration sample's neuron (arrays; floats for one range)."""
        if self.fine_a is None:
            return self.a, self.b
        return self.fine_a.reshape(-1).numpy()[idx], self.fine_b.reshape(-1).numpy()[idx]

    def choose_code(self):
        """Give the layer the log code where its rounding error on the calibration samples is less than linear's.

        The comparison (:func:`ttfs_symbolic.numeric.dynamics.log_code_sq_errors`)
        is in squared value error per neuron, both codes scaling as 1/p^2, so
        it holds at every time precision; the shift ratio r of the log code is
        the best of :data:`LOG_SHIFTS` for the layer (one per channel was
        measured no better on MiniLM-L6). Only layers of :data:`CODE_KINDS` with
        an identity (or the softmax's exp) output transform and a calibrated
        range take part; a relay (residual synapses) has no neuron to code.
        """
        errs = self._code_errors(LOG_SHIFTS)
        if errs is None:
            return
        linear, logs = errs
        best = int(np.argmin(logs))
        if float(logs[best]) < linear:
            self.code, self.log_r = "log", float(LOG_SHIFTS[best])

    def _code_errors(self, shifts):
        """``(linear, [log code with each r of shifts])``: the summed squared rounding errors of the two codes
        on the calibration samples in this layer's range(s) (:meth:`choose_code`); None where no code is chosen."""
        st = self.stats
        if (self.kind not in CODE_KINDS or self.relay or not st.samples or self.range_fn is not None
                or (self.h is not None and self.kind != "softmax_exp")):
            return None
        x = np.concatenate(st.samples)
        idx = np.concatenate(st.sample_idx) if len(st.sample_idx) == len(st.samples) else None
        if self.fine_a is not None and idx is None:
            return None
        a, b = self.sample_ranges(idx) if self.fine_a is not None else (self.a, self.b)
        a = np.broadcast_to(np.asarray(a, dtype=np.float64), x.shape)
        b = np.broadcast_to(np.asarray(b, dtype=np.float64), x.shape)
        x = np.clip(x, a, b)
        # a variance's error matters relative to it ((v + eps)^(-1/2) follows); other values' in absolute terms
        w = 1.0 / np.maximum(np.abs(x), 1e-300) ** 2 if self.scale_low else np.ones_like(x)
        linear = float(np.sum((b - a) ** 2 * w))
        return linear, [float(np.sum(dynamics.log_code_sq_errors(x, a, b, r) * w)) for r in shifts]

    def apply_headroom(self, factor: float):
        """Widen the range by ``factor`` where it costs the log code little: a log-coded layer's far ends
        (the largest |x| of each sign part, times factor: the part's code range grows by log(factor)) and a
        positive scale's least value (divided by factor). Ends that a bound or construction fixes stay.
        A log-coded layer's shift ratio r is then chosen again for the widened range (its shift e = r M
        would otherwise grow by factor with M, and every value's rounding error, (|x| + e) du / 2p, with it)."""
        if factor == 1.0 or self.relay or self.range_fn is not None or self.fixed_range is not None \
                or not self.calibrated or self.kind == "softmax_exp":
            return
        a, b = self.range_pair()
        a = torch.as_tensor(a, dtype=torch.float64)
        b = torch.as_tensor(b, dtype=torch.float64)
        if self.scale_low:
            a = torch.where(a > 0, a / factor, a)
        if self.code == "log":
            wide = torch.where(b > 0, b * factor, b)
            if self.upper_bound is not None:
                wide = torch.clamp(wide, max=self.upper_bound)
            if self.upper_fn is not None:   # (not past the proven bound, which b itself respects)
                wide = torch.minimum(wide, torch.clamp(torch.full_like(b, float(self.upper_fn())), min=b))
            b = torch.maximum(wide, b)
        if self.code == "log" and self.lower_bound is None and self.pin_low is None:
            a = torch.where(a < 0, a * factor, a)
        if self.fine:
            self.set_range(a, b)
        else:
            self.set_range(float(a), float(b))
        if self.code == "log":
            # the shift e = r M grew with the far end M: the r of least error on the widened range, r / factor
            # (the shift it had) among the candidates
            shifts = sorted(set(LOG_SHIFTS) | {self.log_r / factor})
            errs = self._code_errors(shifts)
            if errs is not None:
                self.log_r = float(shifts[int(np.argmin(errs[1]))])

    def image_range(self, points: int = 1025):
        """Per-neuron range that holds f(x) for every x in the sender's per-neuron range (f its kernel).

        f is evaluated on ``points`` equally spaced points of each sender neuron's range, both ends
        included, and the extremes are widened by 1e-3 of their distance (a non-monotone f, GELU's
        minimum, can dip between two points by far less): nothing the sender can emit clips here.
        """
        src, kernel = self.image_of
        a, b = src.fine_a, src.fine_b
        t = torch.linspace(0.0, 1.0, points, dtype=torch.float64).reshape(-1, *([1] * a.dim()))
        y = kernel.f_fn("torch")(a + (b - a) * t)
        lo, hi = y.amin(0), y.amax(0)
        w = torch.clamp(hi - lo, min=1e-9 * torch.clamp(hi.abs(), min=1.0))
        lo, hi = lo - 1e-3 * w, hi + 1e-3 * w
        if self.lower_bound is not None:
            lo = torch.clamp(lo, min=self.lower_bound)
        return lo, hi

    # ---- emitting stage -----------------------------------------------------
    def emit(self, V: torch.Tensor, ctx: Ctx, fresh: bool = False) -> torch.Tensor:
        """Output values of the emitting stage (Theorem 4.3) in the context's mode.

        ``fresh=True``: V is a temporary of the caller's that nothing else
        reads, so the output may be written over it (one pass and one
        allocation fewer per layer). Not when recording: the clip count reads V.

        The neurons V drives outside the range are counted (``ctx.check``) in
        the same pass that clips (exact mode) or rounds (quantized, kernel)
        them, and noted in ``ctx.clipped``: clipping is never silent (the
        model warns once per call).
        """
        if self.relay:
            # residual="synapses": no neuron here, so no spike, no window, no rounding and no clipping;
            # each consumer's potential receives the summands (each already a spike of its own layer)
            # through identity synapses, and sum_j w (x_j + y_j) = sum_j w x_j + sum_j w y_j (eq. 9, f = x)
            if ctx.calibrating:
                self.observe(V)
            return V
        ctx.note(self)
        if ctx.calibrating:
            out = V if self.h is None else self.h.h_fn("torch")(V)
            self.observe(out)
            if ctx.precision is None or not self.calibrated:
                return out
            return self.round_values(out, ctx.precision)   # what reaches the next layers at p
        self.require_range()
        mode = ctx.mode_for(self)
        reuse = fresh and not ctx.record
        if self.code == "log" and mode != "exact":
            # the log code (dynamics.quantize_log_values): the spike time is linear in log(|x| + e) of the
            # part that carries x; in kernel mode too in its closed form (the code's psi and eta, one per
            # part and range, integrate to the same ticks: docs/guide/precision.md)
            if self.h is None:
                counted, lims = self._count_plan(V, ctx)
                out, n = native.log_ticks(V, self._log_pack(V, ctx.precision, lims), ctx.precision,
                                          out=V if reuse else None)   # clipped, counted and rounded in one pass
                if lims is not None:
                    ctx.add_check(self.pname, n, V.numel())
                elif counted:
                    self._sample_check(V, ctx)
            else:
                self._check_clip(V, ctx)
                out = self._apply_h(V)
                out = native.log_ticks(out, self._log_pack(out, ctx.precision, None), ctx.precision, out=out)[0]
        elif self.h is None:
            out = self._emit_identity(V, ctx, mode, reuse)
        else:
            self._check_clip(V, ctx)
            if mode == "kernel":
                out = dynamics.kernel_emit(self.h, self.timing(), V, ctx.precision)
            else:
                out = self._apply_h(V)
                if mode == "quantized":
                    # out is this call's own tensor: rounded in place
                    out = self._quantize(out, self.a, self.b, ctx.precision, out=out)
        if ctx.record:
            self._count(V, out)
        return out

    @property
    def proven(self) -> bool:
        """Whether a construction proves the range (softmax's max, x - max, log-sum-exp): it holds every
        value its (already clipped) senders can give, up to an ulp of float rounding, which the clip or
        the quantized and kernel modes' tick clamp absorbs, so there is nothing to count."""
        return self.fixed_range is not None or self.range_fn is not None

    def _emit_identity(self, V: torch.Tensor, ctx: Ctx, mode: str, reuse: bool) -> torch.Tensor:
        """Identity neurons (h = x): ``clip(V, a, b)`` (eq. 14), the nearest of p ticks in quantized and
        kernel mode, and the clipping count, in one pass (C: :func:`native.clip`, :func:`native.tick_values`).

        Kernel mode needs no table here: psi = 1/tau, so the cumulative table is linear, P[m] =
        (m + 1/2) d/p, and the crossing tick is read by division, round((b - V) p / d).
        """
        counted, lims = self._count_plan(V, ctx)
        n = 0
        if mode == "exact":
            a, b = self.bounds(V)
            if self.proven and reuse:
                out = V           # the range holds every value: the clip changes nothing
            elif lims is None and not native.available_for(V):
                out = V.clamp_(a, b) if reuse else V.clamp(a, b)
            else:
                if not V.is_contiguous():   # (a transposed view: the C loop reads rows) a copy of its own
                    V, reuse = V.contiguous(), True
                dest = V if reuse else torch.empty_like(V)
                if self.fine_a is not None:   # (ranges that do not fit the C loop's indexing: broadcast)
                    trail = None if self.fits(V.shape) else tuple(V.shape[1:])
                    out, n, _ = native.clip_packed(V, self.clip_pack(V, lims is not None, trail), out=dest)
                else:
                    lo, hi = (-math.inf, math.inf) if lims is None else lims
                    out, n, _ = native.clip(V, lo, hi, a, b, out=dest)
        else:
            out, n = self._quantize_counted(V, ctx.precision, reuse, lims)
        if lims is not None:
            ctx.add_check(self.pname, n, V.numel())
        elif counted:
            self._sample_check(V, ctx)
        elif self.proven:
            ctx.add_check(self.pname, 0, V.numel())
        return out

    def _count_plan(self, V: torch.Tensor, ctx: Ctx):
        """``(counted, lims)``: whether V's clipping is counted at all, and the bounds of the count when
        every neuron is counted in the emitting pass (None: no count there; a sample, or nothing)."""
        if self.proven or ctx.check == "off":
            return False, None
        if ctx.check == "sample" and not native.available_for(V):
            return True, None
        return True, self._count_bounds(V)

    def _count_bounds(self, V: torch.Tensor):
        """``(lo, hi)``: a neuron clips when its potential lies below lo or above hi: the range [a, b]
        (identity h) or [h^-1(a), h^-1(b)] widened by a relative slack of float rounding (the
        calibrated extremes themselves are in range). Floats, or tensors in V's dtype; cached."""
        key = (V.dtype, V.device, self.a, self.b)
        hit = getattr(self, "_count_cache", None)
        if hit is not None and hit[0] == key:
            return hit[1]
        low, high = self.bounds(V, check_shape=False) if self.h is None else self._thresholds()
        # (a threshold h^-1(a) = -inf, as exp's for a = 0, adds no slack: the slack is finite)
        scale = max(1.0, abs(self.a), abs(self.b)) if self.h is None else \
            max([1.0] + [abs(t) for t in (low, high) if math.isfinite(t)])
        tol = (1e-9 if V.dtype == torch.float64 else 1e-5) * scale
        lims = (low - tol, high + tol)
        self._count_cache = (key, lims)
        return lims

    def clip_pack(self, like: torch.Tensor, counted: bool, trail: tuple | None = None) -> torch.Tensor:
        """``[lo, hi, a, b]`` as one contiguous tensor in ``like``'s dtype, S values each (S = 1 for one
        range): the bounds of the count (-inf, inf when not counted) and of the clip, for C loops that
        clip and count this layer's neurons (:func:`native.layernorm`); cached. ``trail``: the ranges
        broadcast to that trailing shape (per-head ranges over a head's rows and columns)."""
        key = (like.dtype, like.device, counted and not self.proven, self.a, self.b, trail)
        hit = getattr(self, "_pack_cache", None)
        if hit is not None and hit[0] == key:
            return hit[1]
        a, b = self.bounds(like, check_shape=False)
        lo, hi = self._count_bounds(like) if key[2] else (-math.inf, math.inf)
        if trail is not None:
            lo, hi, a, b = (torch.broadcast_to(t, trail) if isinstance(t, torch.Tensor) else t for t in (lo, hi, a, b))
        S = a.numel() if isinstance(a, torch.Tensor) else 1
        parts = [t.reshape(-1) if isinstance(t, torch.Tensor)
                 else torch.full((S,), float(t), dtype=like.dtype, device=like.device) for t in (lo, hi, a, b)]
        pack = torch.cat(parts).contiguous()
        self._pack_cache = (key, pack)
        return pack

    def fits(self, shape) -> bool:
        """Whether this layer's range (one, or one per neuron of trailing dimensions) indexes a tensor of
        ``shape`` by its flat index modulo the number of ranges (as the C loops do)."""
        t = self.fine_a
        return t is None or (t.dim() <= len(shape) and tuple(shape[len(shape) - t.dim():]) == tuple(t.shape))

    def _sample_check(self, V: torch.Tensor, ctx: Ctx):
        """check="sample" where counting is not free (torch loops): count every SAMPLE_EVERY-th row."""
        lo, hi = self._count_bounds(V)
        S = lo.numel() if isinstance(lo, torch.Tensor) else 1
        rows = V.reshape(-1, S)[::SAMPLE_EVERY]
        if isinstance(lo, torch.Tensor):
            lo, hi = lo.reshape(-1), hi.reshape(-1)
        n = int(((rows < lo) | (rows > hi)).sum())
        ctx.sampled = True
        ctx.add_check(self.pname, n, V.numel(), checked=rows.numel())

    def _quantize_counted(self, V: torch.Tensor, p: int, reuse: bool, lims):
        """``(out, clipped)``: V on the nearest of p ticks of its range (one range, or one per neuron),
        and the number of V outside ``lims`` (0 when None), in one pass."""
        if self.fine_a is None:
            d = self.b - self.a
            out, _, n = native.tick_values(V, self.b, p / d, d / p, p, out=V if reuse else None, count=lims)
        else:   # (ranges that do not fit the C loop's indexing, per head: broadcast to V's trailing shape)
            trail = None if self.fits(V.shape) else tuple(V.shape[1:])
            out, _, n = native.ticks_packed(V, self._fine_ticks(V, p, lims, trail), p, out=V if reuse else None)
        return out, n

    def _fine_ticks(self, V: torch.Tensor, p: int, lims, trail: tuple | None = None) -> torch.Tensor:
        """``[b, p/d, d/p, lo, hi]`` of per-channel or per-neuron ranges, packed in V's dtype for
        :func:`native.ticks_packed` (lims None: lo, hi = -inf, inf), broadcast to ``trail`` if given;
        cached per dtype, device, p."""
        key = (V.dtype, V.device, p, lims is not None, self.a, self.b, trail)
        hit = getattr(self, "_ticks_cache", None)
        if hit is None or hit[0] != key:
            a, b = self.bounds(V)
            lo, hi = lims if lims is not None else (torch.full_like(a, -math.inf), torch.full_like(a, math.inf))
            if trail is not None:
                a, b, lo, hi = (torch.broadcast_to(torch.as_tensor(t, dtype=V.dtype, device=V.device), trail)
                                for t in (a, b, lo, hi))
            d = b - a
            pack = torch.cat([t.reshape(-1) for t in (b, p / d, d / p, lo, hi)]).contiguous()
            hit = self._ticks_cache = (key, pack)
        return hit[1]

    def _log_pack(self, V: torch.Tensor, p: int, lims) -> torch.Tensor:
        """The log code's constants for values like V (:func:`native.log_pack`: one range per value of V's
        trailing dimensions, or one for all) with the count bounds ``lims``; cached."""
        key = (V.dtype, V.device, p, lims is not None, self.a, self.b, self.log_r,
               tuple(V.shape[1:]) if self.fine_a is not None else None)
        hit = getattr(self, "_log_cache", None)
        if hit is not None and hit[0] == key:
            return hit[1]
        a, b = self.range_pair()
        if self.fine_a is not None:
            trail = tuple(V.shape[1:])
            a, b = (torch.broadcast_to(t.to(torch.float64), trail) for t in (a, b))
            if lims is not None:
                lims = tuple(torch.broadcast_to(torch.as_tensor(t, dtype=torch.float64), trail) for t in lims)
        pack = native.log_pack(a, b, self.log_r, p, lims, dtype=V.dtype, device=V.device)
        self._log_cache = (key, pack)
        return pack

    def round_values(self, values: torch.Tensor, p: int) -> torch.Tensor:
        """``values`` (of the output transform) clipped to the range and rounded at time precision p in this
        layer's code: what quantized mode emits for them (the precision-aware calibration pass)."""
        a, b = self.bounds(values)
        if self.code == "log":
            return dynamics.quantize_log_values(values, a, b, self.log_r, p)
        return self._quantize(values.clamp(a, b) if not isinstance(a, torch.Tensor) else
                              torch.minimum(torch.maximum(values, a), b), a, b, p)

    @staticmethod
    def _quantize(x, a, b, p: int, out=None):
        """Nearest of p ticks (:func:`dynamics.quantize_values`); per-neuron ranges: :func:`native.tick_values`."""
        if not isinstance(a, torch.Tensor):
            return dynamics.quantize_values(x, a, b, p, out=out)
        d = b - a
        return native.tick_values(x, b, p / d, d / p, p, out=out)[0]

    def _clip_bounds(self, V=None):
        """The potentials outside which the neuron clips: [a, b] for identity h, else [h^-1(a), h^-1(b)]."""
        return self.bounds(V) if self.h is None else self._thresholds()

    def _check_clip(self, V: torch.Tensor, ctx: Ctx) -> None:
        """Count the neurons V drives outside the range (beyond float rounding) into ``ctx.clipped``
        (one counting pass, :func:`native.clip`). For a non-identity h the clip itself is part of h's
        closed form (eq. 14) or of the kernel-mode threshold search."""
        if V.numel() == 0:
            return
        counted, lims = self._count_plan(V, ctx)
        if lims is not None:
            low, high = self._clip_bounds(V)
            _, n, _ = native.clip(V.contiguous(), lims[0], lims[1], low, high)
            ctx.add_check(self.pname, n, V.numel())
        elif counted:
            self._sample_check(V, ctx)
        elif self.proven:
            ctx.add_check(self.pname, 0, V.numel())

    def _apply_h(self, V: torch.Tensor) -> torch.Tensor:
        """``clip(h(V), a, b)`` (eq. 14) on this layer's range: :meth:`OutputKernel.apply`."""
        return self.h.apply(V, self.a, self.b)

    def _count(self, V, out):
        st = self.stats
        a, b = self.bounds(out)
        if self.code == "log":
            st.neurons += dynamics.log_code_neurons(out.shape, a, b)
            st.spikes += dynamics.log_code_spikes(out, a, b)
        else:
            st.neurons += out.numel()
            st.spikes += int((out > a).sum())
        if self.h is None:
            st.clipped += int(((V < a) | (V > b)).sum())
        else:
            low, high = self._thresholds()
            st.clipped += int(((V < low) | (V > high)).sum())

    def extra_repr(self) -> str:
        if self.relay:
            what = "residual sum" if self.kind == "residual" else "value"
            return f"{self.pname}: no neuron ({what} carried by synapses into its consumers)"
        fine = f" ({self.range_kind} ranges)" if self.fine else ""
        code = f", log code (r = {self.log_r:g})" if self.code == "log" else ""
        return (f"{self.pname}: {self.neuron}, [a, b] = [{self.a:.4g}, {self.b:.4g}]{fine}{code}, "
                f"window {self.window}")


_GEN = torch.Generator().manual_seed(0)


def seed_samples(seed: int) -> None:
    """Seed the generator of the calibration sample reservoirs (percentiles, product shifts)."""
    _GEN.manual_seed(seed)


def terms(x: torch.Tensor, src: Population, kernel: InputKernel | None, ctx: Ctx,
          dst: Population | None = None) -> torch.Tensor:
    """Per-synapse terms f(x_j) of the receiving stage (Theorem 4.1, eq. 9).

    ``kernel`` is None for the identity transform. In kernel mode the term of
    a spike at tick k of the sender's window is ``Q[p - k] + f(a)``, Q being
    the cumulative integral of eta over the sender's window. ``dst``, the
    receiving population, decides the mode (:meth:`Ctx.mode_for`).
    """
    if kernel is None:
        return x
    if (ctx.mode if dst is None else ctx.mode_for(dst)) == "kernel" and src.on_linear_grid:
        return dynamics.kernel_potential_terms(kernel, src.timing(), x, ctx.precision)
    # (a sender with per-neuron ranges, the log code or no neuron of its own: the integral of eta over
    # the sender's window is taken in its closed form f(x) - f(a_n), Theorem 4.1, instead of one table
    # per neuron, part or composed kernel)
    return kernel.f_fn("torch")(x)


# --------------------------------------------------------------------------
# the multiplication network (Section 4.3.4, Appendix C.1)
# --------------------------------------------------------------------------

def shift_for(pop: Population) -> float:
    """c = 1 - a: log(x + c) >= 0 on the factor's range [a, b] (eq. 24, the paper's construction)."""
    return 1.0 - pop.a


def layer1_range(p1: Population, p2: Population) -> tuple[float, float]:
    """Range of layer I that provably holds every log(x1 + c1) + log(x2 + c2) (paper's construction).

    With c_i = 1 - a_i each log lies in [0, log(1 + d_i)], so no layer-I
    neuron ever clips and layer II's potential in exact mode is one product
    of the shifted factors.
    """
    return (0.0, math.log1p(p1.d) + math.log1p(p2.d))


#: the product constructions: ``paper`` (eq. 24-27, one layer-I neuron per term,
#: shifts c = 1 - a) and ``signed`` (sign-split operands with small shifts, this
#: library's; see :class:`Product` and proofs/multiplication.py)
PRODUCT_CONSTRUCTIONS = ("paper", "signed")
DEFAULT_PRODUCT = "signed"
#: candidate relative shifts r (e = r * max|x|) of the signed construction;
#: calibration picks the one of least expected layer-I rounding error
SHIFT_CANDIDATES = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5)
DEFAULT_SHIFT = 0.02


@dataclass(frozen=True)
class SignedOperand:
    """How the signed construction splits one factor x with range [a, b].

    ``parts``: the signs sigma of the parts u = relu(sigma x) that can be
    non-zero (both when a < 0 < b). ``M = max|x|``, ``low`` = the least |x|
    (0 when the range holds 0), ``e = r*M`` the shift of log(u + e), ``c``:
    the layer-II correction sign (0 for a split factor, whose shifts cancel;
    +1 or -1 for a one-signed factor, x = c*(u + e) - c*e).
    """

    parts: tuple
    M: float
    low: float
    e: float

    @classmethod
    def of(cls, a: float, b: float, r: float) -> "SignedOperand":
        if a >= 0:
            parts, low = (1,), a
        elif b <= 0:
            parts, low = (-1,), -b
        else:
            parts, low = (1, -1), 0.0
        M = max(abs(a), abs(b))
        return cls(parts, M, low, r * M)

    @property
    def split(self) -> bool:
        return len(self.parts) == 2

    @property
    def c(self) -> int:
        return 0 if self.split else self.parts[0]

    def sign(self, x: torch.Tensor) -> torch.Tensor:
        """s(x): the sign of the part that carries x (+1 for x = 0 of a split factor)."""
        if not self.split:
            return torch.full_like(x, float(self.parts[0]))
        return 1.0 - 2.0 * (x < 0).to(x.dtype)

    def log_kernel(self, sigma: int) -> InputKernel:
        """Layer I's input kernel on part sigma: f(x) = log(relu(sigma*x) + e) (Theorem 4.1)."""
        return signed_log_kernel(sigma, self.e, self.split)


@functools.lru_cache(maxsize=4096)
def signed_log_kernel(sigma: int, e: float, split: bool) -> InputKernel:
    """``log(relu(sigma x) + e)`` (a split factor) or ``log(sigma x + e)`` (a one-signed one), one object per key."""
    inner = "x" if sigma > 0 else "-x"
    arg = f"relu({inner})" if split else inner
    return InputKernel(f"log({arg} + {float(e)!r})")


def signed_layer1_range(o1: SignedOperand, o2: SignedOperand) -> tuple[float, float]:
    """Layer I's range in the signed construction: every log(u1 + e1) + log(u2 + e2) lies in it.

    The least potential (both parts at their least |x|) is the value of no
    spike, so no layer-I neuron clips and silent ones stand for exactly
    (low1 + e1)(low2 + e2).
    """
    return (math.log(o1.low + o1.e) + math.log(o2.low + o2.e), math.log(o1.M + o1.e) + math.log(o2.M + o2.e))


def signed_error_proxy(r: float, x1: np.ndarray, x2: np.ndarray, a1, b1, a2, b2) -> float:
    """Expected squared layer-I rounding error of the signed construction with shift r, up to a factor 1/(12 p^2).

    Each layer-I neuron's potential is off by up to d_y/(2p) (uniform), so its
    exp-term E is off by about E * d_y/(2p). Per term of the product: the main
    neuron (m1 + e1)(m2 + e2), and where a factor is split, the neurons with
    one silent part, (m1 + e1) e2 and e1 (m2 + e2). ``x1``, ``x2``: samples of
    the two factors (pairs drawn independently).
    """
    o1, o2 = SignedOperand.of(a1, b1, r), SignedOperand.of(a2, b2, r)
    lo, hi = signed_layer1_range(o1, o2)
    m1, m2 = np.abs(x1) + o1.e, np.abs(x2) + o2.e
    sq = (m1 * m2) ** 2
    if o2.split:
        sq = sq + (m1 * o2.e) ** 2
    if o1.split:
        sq = sq + (o1.e * m2) ** 2
    return float(np.mean(sq)) * (hi - lo) ** 2


def _matmul(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``x1 @ x2``. Attention's heads are strided views (batch, head, tokens, dim) of the linear layers'
    outputs, which ``@`` copies into contiguous operands first; each head's slice is already a strided
    matrix batch a BLAS product reads as it is, so one ``bmm`` per head writes into one output instead."""
    if x1.dim() != 4 or x2.dim() != 4 or x1.shape[:2] != x2.shape[:2] or x1.device.type != "cpu" \
            or (x1.is_contiguous() and x2.is_contiguous()) or x1.shape[1] > 64:
        return x1 @ x2
    out = torch.empty(*x1.shape[:3], x2.shape[-1], dtype=torch.result_type(x1, x2), device=x1.device)
    for i in range(x1.shape[1]):
        torch.bmm(x1[:, i], x2[:, i], out=out[:, i])
    return out


def _sub_matmul(V: torch.Tensor, A, B) -> torch.Tensor:
    """``V - A @ B`` (``A`` (..., M, K), ``B`` (..., K, N); either may be a float, a constant matrix of
    that sign), in place on V (``baddbmm``) where V is a contiguous batch of matrices."""
    if not isinstance(A, torch.Tensor):   # a constant sign: A @ B = c * (column sums of B), per row
        return V.sub_(B.sum(-2, keepdim=True), alpha=A)
    if not isinstance(B, torch.Tensor):
        return V.sub_(A.sum(-1, keepdim=True), alpha=B)
    M, N, K = V.shape[-2], V.shape[-1], A.shape[-1]
    lead = V.shape[:-2]
    if V.is_contiguous() and A.shape[:-2] == lead and B.shape[:-2] == lead:
        V.view(-1, M, N).baddbmm_(A.reshape(-1, M, K), B.reshape(-1, K, N), alpha=-1)
        return V
    return V - A @ B


class Product(nn.Module):
    """x1 * x2 by a two-layer log/exp network, elementwise or as a matrix product.

    Two constructions (``construction``):

    ``paper`` (Section 4.3.4, eq. 24-27): layer I (``y``) has ``f_i = log(x + c_i)``
    with c_i = 1 - a_i on both inputs and identity output; layer II (``out``)
    has ``f = exp`` on y and identity on x1 and x2 (delayed), weights
    ``scale``, ``-scale*c2``, ``-scale*c1`` and constant ``bias - scale*K*c1*c2``,
    so ``V = scale * sum_k x1 x2 + bias``. A layer-I rounding error is relative
    to (x1 + c1)(x2 + c2), about c1 c2, however small x1 x2 is.

    ``signed`` (this library's, proofs/multiplication.py): each factor is split
    into its parts u = relu(sigma x), sigma = +1, -1 (only one part where the
    range has one sign), and layer I has one neuron per pair of parts with
    ``f = log(relu(sigma x) + e)``, e = r*max|x| small (r chosen at
    calibration, :func:`signed_error_proxy`). Layer II sums
    ``sigma1 sigma2 exp(y)`` over the pairs: for a split factor the shifts
    cancel exactly (sum_sigma sigma (u_sigma + e) = x), for a one-signed one
    a delayed identity synapse corrects as in the paper. The neuron that
    carries x1 x2 has exp(y) = (|x1| + e1)(|x2| + e2), so its rounding error
    is relative to about |x1 x2|; the neurons with a silent part carry
    (|x1| + e1) e2 and e1 (|x2| + e2), small when r is. Neurons: up to 4 per
    term (2 when one factor is one-signed), 2 synapses each; layer II has one
    synapse per layer-I neuron.
    """

    def __init__(self, name: str, p1: Population, p2: Population, out: Population, matmul: bool,
                 construction: str = DEFAULT_PRODUCT):
        super().__init__()
        self.p1, self.p2, self.matmul = p1, p2, matmul
        self.pname = f"{name}.layer1"
        self.set_construction(construction)
        self.y = Population(f"{name}.layer1", "identity", kind="product_layer1", fan_in=2,
                            range_fn=self._layer1_range)
        self.out = out
        self._table = None  # (key, layer II's tick table): see _layer2_table
        self._pair_table = None  # kernel mode: the summed tables of a split factor's two synapses
        self._fine_cache = None  # (key, constants) of _fine_constants

    # ---- construction and shifts ------------------------------------------
    def set_construction(self, construction: str, r: float | None = None):
        if construction not in PRODUCT_CONSTRUCTIONS:
            raise ValueError(f"unknown product construction {construction!r}; choose one of "
                             f"{', '.join(PRODUCT_CONSTRUCTIONS)}")
        self.construction = construction
        self.r = DEFAULT_SHIFT if r is None else float(r)

    def operands(self) -> tuple[SignedOperand, SignedOperand]:
        return (SignedOperand.of(self.p1.a, self.p1.b, self.r), SignedOperand.of(self.p2.a, self.p2.b, self.r))

    def choose_shift(self):
        """The r of least :func:`signed_error_proxy` on the factors' calibration samples (default if none)."""
        s1, s2 = self.p1.stats.samples, self.p2.stats.samples
        if not s1 or not s2:
            return
        x1, x2 = np.concatenate(s1), np.concatenate(s2)
        rng = np.random.default_rng(0)
        n = min(20000, max(x1.size, x2.size))
        x1, x2 = rng.choice(x1, n), rng.choice(x2, n)
        a1, b1, a2, b2 = self.p1.a, self.p1.b, self.p2.a, self.p2.b
        self.r = min(SHIFT_CANDIDATES, key=lambda r: signed_error_proxy(r, x1, x2, a1, b1, a2, b2))

    def _layer1_range(self):
        if self.construction == "paper":
            return layer1_range(self.p1, self.p2)
        self.choose_shift()
        return signed_layer1_range(*self.operands())

    def neurons_per_term(self) -> int:
        """Layer-I neurons per term x1_k x2_k: 1 (paper), or the number of part pairs (signed)."""
        if self.construction == "paper":
            return 1
        o1, o2 = self.operands()
        return len(o1.parts) * len(o2.parts)

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
        if (ctx.calibrating and (ctx.precision is None or not self.y.calibrated)) or \
                (not ctx.calibrating and ctx.mode_for(self.y) == "exact"):
            # Layer I provably does not clip (its range holds every potential), so its
            # spikes stand for y exactly and layer II's potential is x1 x2 in both
            # constructions (proofs/multiplication.py): the closed form is evaluated as
            # the product itself, without the cancellation of the shifted terms.
            if ctx.record:
                self._count_layer1(x1, x2)
            V = _matmul(x1, x2) if self.matmul else x1 * x2
        elif self.construction == "paper":
            V = self._layer1_by_neuron(x1, x2, shift_for(self.p1), shift_for(self.p2), ctx)
        else:
            V = (self._signed_elementwise_fine(x1, x2, ctx) if not self.matmul and (self.p1.fine or self.p2.fine)
                 else self._signed_by_neuron(x1, x2, ctx))
        if scale is not None and bias is not None:
            V = torch.addcmul(bias, V, scale)
        elif scale is not None:
            V = V * scale
        elif bias is not None:
            V = V + bias
        return self.out.emit(V, ctx, fresh=True)

    def _count_layer1(self, x1, x2):
        """Exact mode: layer-I neurons and spikes (a neuron is silent when both its parts are at their least)."""
        st = self.y.stats
        if self.construction == "paper":
            q1, q2 = (x1 <= self.p1.a).to(x1.dtype), (x2 <= self.p2.a).to(x2.dtype)
            per = 1
        else:
            o1, o2 = self.operands()
            per = len(o1.parts) * len(o2.parts)
            # silent: both parts at their least; for a split factor a part is at its
            # least (0) in the other sign's part, so per pair of parts count the silent
            q1, q2 = None, None
        if self.matmul:
            M, K = x1.shape[-2], x1.shape[-1]
            N = x2.shape[-1]
            batch = math.prod(torch.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]))
            total = batch * M * N * K * per
        else:
            total = int(np.prod(torch.broadcast_shapes(x1.shape, x2.shape))) * per
        if q1 is not None:
            silent = int((q1 @ q2).sum()) if self.matmul else int((q1.bool() & q2.bool()).sum())
        else:
            silent = 0
            for s1 in o1.parts:
                z1 = (torch.relu(s1 * x1) <= o1.low).to(x1.dtype)
                for s2 in o2.parts:
                    z2 = (torch.relu(s2 * x2) <= o2.low).to(x2.dtype)
                    silent += int((z1 @ z2).sum()) if self.matmul else int((z1.bool() & z2.bool()).sum())
        st.neurons += total
        st.spikes += total - silent

    def _layer1_by_neuron(self, x1, x2, c1, c2, ctx: Ctx):
        """Quantized and kernel modes, paper's construction: every layer-I spike on its own.

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
        l1 = terms(x1, self.p1, k1, ctx, self.y)
        l2 = terms(x2, self.p2, k2, ctx, self.y)
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

    def _signed_terms(self, x, pop: Population, o: SignedOperand, ctx: Ctx):
        """l: the layer-I term log(|x| + e) of x's carrying part (kernel mode: from eta)."""
        if ctx.mode_for(self.y) == "kernel" and pop.on_linear_grid:
            if not o.split:
                l = terms(x, pop, o.log_kernel(o.parts[0]), ctx, self.y)
            else:
                # the carrying part's term: log(relu(x) + e) for x >= 0, log(relu(-x) + e) for x < 0;
                # the other synapse's table holds log(e) there (its eta is 0), so the carrying term is
                # the sum of the two synapses' terms minus log(e): one lookup in the summed tables
                timing = pop.timing()
                tabs = [dynamics.term_table(o.log_kernel(sig), timing.a, timing.b, timing.delta, ctx.precision,
                                             x.dtype, x.device) for sig in o.parts]
                key = (id(tabs[0]), id(tabs[1]), o.e)
                if self._pair_table is None or self._pair_table[0] != key:
                    self._pair_table = (key, (tabs[0] + tabs[1] - math.log(o.e)).contiguous(), tabs)
                l = native.tick_lookup(x, timing.b, ctx.precision / timing.d, ctx.precision,
                                       self._pair_table[1])[0]
        elif ctx.mode_for(self.y) == "kernel":
            l = torch.log(x.abs() + o.e)   # per-neuron ranges: the closed form of the integral (see terms)
        else:
            l = torch.log(x.abs() + o.e)
        return l

    def _signed_elementwise_fine(self, x1, x2, ctx: Ctx):
        """Elementwise signed product of factors with per-neuron ranges: per-element shifts and layer I.

        Each element's layer-I neurons get the shifts ``e_n = r max|x_n|`` of
        their own factors' ranges and the range that follows from them (the
        same construction and proof, element by element), so a neuron whose
        factors are small (LayerNorm of a token with a small spread) is not
        rounded on the grid of the largest. The per-element potentials and
        terms are evaluated in closed form (Theorem 4.1: the integral of eta
        over a sender's window is f(x) - f(a_n)), in kernel mode too.
        """
        o1, o2 = self.operands()     # parts and the shift ratio r (from the envelope)
        p = ctx.precision
        c = self._fine_constants(x1, x2, o1, o2, p)
        fired = 0

        def E(y):   # layer II's term of a layer-I neuron at the nearest of p ticks of its own range
            nonlocal fired
            val, f, _ = native.tick_values(y, c["hi_y"], c["scale"], c["step"], p)
            fired += f
            return val.exp_()

        l1, l2 = torch.log(x1.abs() + c["e1"]), torch.log(x2.abs() + c["e2"])
        V = E(l1 + l2)
        if o2.split:
            V = V.sub_(E(l1 + c["le2"]))
        if o1.split:
            V = V.sub_(E(c["le1"] + l2))
        if o1.split and o2.split:
            V = V.add_(c["E00"])
        V = V.mul_(o1.sign(x1) * o2.sign(x2))
        if o1.c or o2.c:
            V = V - (o2.c * c["e2"]) * x1 - (o1.c * c["e1"]) * x2 - o1.c * o2.c * c["e1"] * c["e2"]
        if ctx.record:
            st = self.y.stats
            st.neurons += V.numel() * len(o1.parts) * len(o2.parts)
            st.spikes += fired
        return V

    def _fine_constants(self, x1, x2, o1: SignedOperand, o2: SignedOperand, p: int) -> dict:
        """The per-element shifts e = r max|x|, layer I's range [lo_y, hi_y] and its tick scale of
        :meth:`_signed_elementwise_fine`, in x1's dtype; cached per dtype, device, p, r and ranges."""
        key = (x1.dtype, x1.device, p, self.r, self.p1.fine_a, self.p1.fine_b, self.p2.fine_a, self.p2.fine_b,
               self.p1.a, self.p1.b, self.p2.a, self.p2.b)
        hit = getattr(self, "_fine_cache", None)
        if hit is not None and len(hit[0]) == len(key) and all(u is v or (not isinstance(u, torch.Tensor) and u == v)
                                                                 for u, v in zip(hit[0], key)):
            return hit[1]

        def per_element(pop, o):
            a, b = pop.bounds(x1, check_shape=False)   # (x1: for the dtype and device)
            a = torch.as_tensor(a, dtype=x1.dtype, device=x1.device)
            b = torch.as_tensor(b, dtype=x1.dtype, device=x1.device)
            M = torch.maximum(a.abs(), b.abs())
            low = torch.zeros_like(M) if o.split else torch.minimum(a.abs(), b.abs())
            return M, low, self.r * M

        M1, low1, e1 = per_element(self.p1, o1)
        M2, low2, e2 = per_element(self.p2, o2)
        lo_y = torch.log(low1 + e1) + torch.log(low2 + e2)
        hi_y = torch.log(M1 + e1) + torch.log(M2 + e2)
        d_y = hi_y - lo_y
        c = {"e1": e1, "e2": e2, "le1": torch.log(e1), "le2": torch.log(e2), "hi_y": hi_y, "scale": p / d_y,
             "step": d_y / p, "E00": torch.exp(lo_y)}
        self._fine_cache = (key, c)
        return c

    def _signed_by_neuron(self, x1, x2, ctx: Ctx):
        """Quantized and kernel modes, signed construction: every layer-I spike on its own.

        Per term k the pairs of parts give (s = sign of the carrying part, E =
        layer II's exp-term of a layer-I neuron, read from the tick table T):
        ``s1 s2 [E(m1, m2) - E(m1, 0) - E(0, m2) + E(0, 0)]`` for two split
        factors (the pairs with a silent part carry E(m, 0) or E(0, m); the
        pair of two silent parts does not fire and stands for T[p]), fewer terms
        when a factor is one-signed, plus the delayed corrections of a
        one-signed factor. The neuron E(m1, m2) of every (i, j, k) is rounded
        on its own in one pass of :func:`native.product_matmul`, times its
        parts' signs; the neurons with a silent part depend on (i, k) or
        (k, j) only: their terms are made once and subtracted in the same
        pass (elementwise: the same terms in torch).
        """
        o1, o2 = self.operands()
        y_pop, p = self.y, ctx.precision
        if self.matmul:   # (heads: transposed views) one copy each, then every pass reads rows
            x1, x2 = x1.contiguous(), x2.contiguous()
        l1 = self._signed_terms(x1, self.p1, o1, ctx)
        l2 = self._signed_terms(x2, self.p2, o2, ctx)
        T = self._layer2_table(ctx.mode_for(self.y), p, x1.dtype, x1.device)
        per_tick = p / y_pop.d
        b = y_pop.b
        le1, le2 = math.log(o1.e), math.log(o2.e)
        E00 = T[p]   # no spike: exp(a_y) (exactly (low1 + e1)(low2 + e2))
        fired = 0
        if self.matmul:
            K = x1.shape[-1]
            # the neuron carrying x1 x2, its sign from the values (split) or constant (one-signed)
            signed = {"x1": x1} if o1.split else {"s1": o1.parts[0]}
            signed.update({"x2": x2} if o2.split else {"s2": o2.parts[0]})
            V, f_main = native.product_matmul(l1, l2, T, b, per_tick, p, count=ctx.record, signed=signed)
            fired += f_main
            # pairs (s1, -s2): the x2 part silent, E(m1, 0) per (i, k); pairs (-s1, s2): E(0, m2) per
            # (k, j); pairs (-s1, -s2): silent, E(0, 0): matrix products with the signs, subtracted in place
            s1 = o1.sign(x1) if o1.split else float(o1.parts[0])
            s2 = o2.sign(x2) if o2.split else float(o2.parts[0])
            if o2.split:
                E10, f10 = native.tick_lookup(l1 + le2, b, per_tick, p, T)
                V = _sub_matmul(V, E10.mul_(s1), s2)
                fired += f10 * x2.shape[-1]
            if o1.split:
                E01, f01 = native.tick_lookup(le1 + l2, b, per_tick, p, T)
                V = _sub_matmul(V, s1, (E01.sub_(E00) if o2.split else E01).mul_(s2))
                fired += f01 * x1.shape[-2]
            if o1.c or o2.c:   # delayed corrections of one-signed factors (as in the paper)
                V = V - (o2.c * o2.e) * x1.sum(-1, keepdim=True) - (o1.c * o1.e) * x2.sum(-2, keepdim=True) \
                    - K * o1.c * o2.c * o1.e * o2.e
            total = math.prod(V.shape) * K * len(o1.parts) * len(o2.parts)
        else:
            s1, s2 = o1.sign(x1), o2.sign(x2)
            Em, f_main = native.tick_lookup(l1 + l2, b, per_tick, p, T)
            V = s1 * s2 * Em
            fired += f_main
            if o2.split:
                E10, f10 = native.tick_lookup(l1 + le2, b, per_tick, p, T)
                V = V - (s1 * s2) * E10
                fired += f10
            if o1.split:
                E01, f01 = native.tick_lookup(le1 + l2, b, per_tick, p, T)
                V = V - (s1 * s2) * E01
                fired += f01
            if o1.split and o2.split:
                V = V + (s1 * s2) * E00
            if o1.c or o2.c:
                V = V - (o2.c * o2.e) * x1 - (o1.c * o1.e) * x2 - o1.c * o2.c * o1.e * o2.e
            total = V.numel() * len(o1.parts) * len(o2.parts)
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
    :class:`~ttfs_symbolic.conversion.activations.ActivationNeuron` from the
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
        if self.kernel is not None:
            self.out.image_of = (src, self.kernel)

    def forward(self, x, ctx: Ctx):
        # terms() returns x itself only for the identity kernel
        return self.out.emit(terms(x, self.src, self.kernel, ctx, self.out), ctx, fresh=self.kernel is not None)


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
        self.var.scale_low = True
        self.rsqrt = Population(f"{name}.rsqrt", "identity", kind="ln_rsqrt", fan_in=1, lower_bound=0.0)
        self.out = Population(name, "identity", kind="ln_out", fan_in=3)
        self.product = Product(f"{name}.product", self.centred, self.rsqrt, self.out, matmul=False)
        self.k_square = input_kernel("square")
        self.k_rsqrt = input_kernel("rsqrt", (("eps", self.eps),))
        self.set_rsqrt(DEFAULT_RSQRT)
        # (no image range for a neuron rsqrt: the variance's fine range often reaches down to 0, whose image
        # (v + eps)^-1/2 would spend the ticks of rsqrt on values no token has)

    def set_rsqrt(self, mode: str):
        """``neuron`` (the paper) or ``folded`` (:func:`fold_rsqrt`).

        Folded, the variance's upper end is the calibrated one (its largest
        value, sigmas, held-out margin and headroom) capped at the bound the
        network proves, the mean over the channels of the larger square of each
        centred channel's range ends (:meth:`variance_bound`). That bound alone
        is one to two decades above any variance of real text or images (the
        channels' extremes never meet in one token), and the product's layer I
        would spend log(sqrt(bound / v_max)) of its code range on values no
        token has; a variance past the calibrated end clips and is counted.
        """
        fold_rsqrt(self.rsqrt, self.var, self.k_rsqrt, mode == "folded", self.variance_bound)

    def variance_bound(self) -> float:
        """The largest variance the centred layer's range(s) allow: mean over channels of max(a_c^2, b_c^2)."""
        return float(channel_squares(self.centred, self.n).mean(-1).max())

    def forward(self, x, ctx: Ctx):
        if self._closed_form_native(x, ctx):
            return self._exact_native(x, ctx)
        mean = self.mean.emit(x.mean(-1, keepdim=True), ctx, fresh=True)
        centred = self.centred.emit(x - mean, ctx, fresh=True)
        var = self.var.emit(terms(centred, self.centred, self.k_square, ctx, self.var).mean(-1, keepdim=True), ctx,
                           fresh=True)
        r = self.rsqrt.emit(terms(var, self.var, self.k_rsqrt, ctx, self.rsqrt), ctx, fresh=True)
        w = None if self.weight is None else self.weight.to(x.dtype)
        b = None if self.bias is None else self.bias.to(x.dtype)
        return self.product(centred, r, ctx, scale=w, bias=b)

    def _populations(self):
        return (self.mean, self.centred, self.var, self.rsqrt, self.out)

    def _closed_form_native(self, x, ctx: Ctx) -> bool:
        """Whether the whole LayerNorm runs in exact mode's closed form in one C pass (:meth:`_exact_native`)."""
        if ctx.calibrating or ctx.record or not x.numel() or x.shape[-1] != self.n or not native.available_for(x):
            return False
        pops = self._populations()
        if any(ctx.mode_for(p) != "exact" for p in pops + (self.product.y,)):
            return False
        row = tuple(x.shape[:-1]) + (1,)
        return all(p.fits(sh) for p, sh in zip(pops, (row, x.shape, row, row, x.shape)))

    def _exact_native(self, x, ctx: Ctx):
        """Exact mode: mean, centred, var, rsqrt and the product with the folded affine (eq. 9, 14 and
        the multiplication network's closed form x1 x2, Section 4.3.3-4.3.4), each population clipped
        and counted, in one C pass (:func:`native.layernorm`): the same values as the layer-by-layer
        path up to float rounding (the sums' order, rsqrt as 1/sqrt)."""
        pops = self._populations()
        for pop in pops[:4] + (self.product.y, self.out):   # the emission order of the layer-by-layer path
            if not pop.relay:   # (a folded rsqrt is no neuron: it numbers no window)
                ctx.note(pop)
            pop.require_range()
        xc = x.contiguous()
        counted = ctx.check != "off"
        w = None if self.weight is None else self.weight.to(xc.dtype).contiguous()
        b = None if self.bias is None else self.bias.to(xc.dtype).contiguous()
        out, counts = native.layernorm(xc, self.eps, w, b, [p.clip_pack(xc, counted) for p in pops])
        rows = xc.numel() // self.n
        for pop, n, neurons in zip(pops, counts, (rows, xc.numel(), rows, rows, xc.numel())):
            if not pop.relay:   # a folded rsqrt: its range is the image of the variance's, nothing to count
                ctx.add_check(pop.pname, n, neurons)
        return out


#: how LayerNorm (and the L2 normalisation of sentence embeddings) forms (v + eps)^(-1/2): ``neuron`` (the
#: paper: an rsqrt neuron between the variance and the product) or ``folded`` (no rsqrt neuron: layer I of the
#: product receives the variance's spike through f(v) = log((v + eps)^(-1/2) + e), Theorem 4.1)
RSQRT_MODES = ("neuron", "folded")
DEFAULT_RSQRT = "neuron"


def monotone_image(src: Population, kernel: InputKernel):
    """The range of f(x) for x in ``src``'s range(s), f monotone (``kernel.f``): its values at both ends."""
    a, b = src.range_pair()
    fa, fb = (kernel.f_fn("torch")(torch.as_tensor(v, dtype=torch.float64)) for v in (a, b))
    lo, hi = torch.minimum(fa, fb), torch.maximum(fa, fb)
    if lo.dim() == 0:
        return float(lo), float(hi)
    return lo, hi


def fold_rsqrt(pop: Population, var: Population, kernel: InputKernel, folded: bool, bound):
    """Make ``pop`` (an rsqrt layer fed by ``var`` through ``kernel``) a fold (no neuron) or a neuron again.

    Folded, its value (v + eps)^(-1/2) is formed inside the synapses of the
    product's layer I, which receive the variance's spike through the composed
    input transform f(v) = log((v + eps)^(-1/2) + e) (Theorem 4.1 holds for any
    differentiable f): no neuron, no rounding, and its range is the image of
    the variance's, so it never clips. ``var``'s calibrated upper end is then
    capped at ``bound()``, the largest value the network proves it can take.
    """
    pop.relay = folded
    pop.range_fn = (lambda: monotone_image(var, kernel)) if folded else None
    var.upper_fn = bound if folded else None


def channel_squares(pop: Population, n: int) -> torch.Tensor:
    """max(a_c^2, b_c^2) of each of ``pop``'s n channels (its range(s) broadcast to n channels): the largest
    square a value of each channel can have, whose mean (a variance) or sum (a squared norm) bounds."""
    a, b = (torch.as_tensor(v, dtype=torch.float64) for v in pop.range_pair())
    sq = torch.maximum(a * a, b * b)
    return torch.broadcast_to(sq, (sq.shape[:-1] if sq.dim() else ()) + (n,))


def _difference_range(a, b):
    """The range [a - b, 0] of x - max(row) for x in [a, b] (tensors per head, or floats)."""
    if isinstance(a, torch.Tensor):
        return torch.clamp(a - b, max=-1e-6), torch.zeros_like(a)
    return min(a - b, -1e-6), 0.0


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
            # the max of a row lies in its scores' range, and x - max in [a - b, 0] (per head when the
            # scores have per-head ranges): on the scores' grid both are exact at any p
            self.max = Population(f"{name}.max", "max", kind="softmax_max", fan_in=n,
                                  range_fn=lambda: src.range_pair())
            self.z = Population(f"{name}.z", "identity", kind="softmax_sub", fan_in=2,
                                range_fn=lambda: _difference_range(*src.range_pair()))
            lse_range = (0.0, math.log(n))
        else:
            self.max = self.z = None
            lse_range = None
        self.lse = Population(f"{name}.lse", "logsumexp", kind="softmax_lse", fan_in=n,
                              fixed_range=lse_range,
                              range_fn=None if use_max else (lambda: (src.a, src.b + math.log(n))))
        # layer II's range is [0, b]: a = 0 (no spike: probability 0) and b the largest probability
        # seen in calibration (at most 1, eq. 36's clip), so its p ticks are spent where the
        # probabilities are (a long sequence has none near 1)
        self.out = Population(name, "exp", kind="softmax_exp", fan_in=2, lower_bound=0.0, upper_bound=1.0,
                              pin_low=0.0)
        self.k_exp = input_kernel("logsumexp")

    def forward(self, s, ctx: Ctx):
        if not (ctx.calibrating or ctx.record) and all(ctx.mode_for(p) == "exact" for p in self._populations()):
            return self._exact(s, ctx)
        if self.use_max:
            m = self.max.emit(s.amax(-1, keepdim=True), ctx, fresh=True)
            z = self.z.emit(s - m, ctx, fresh=True)
            zsrc = self.z
        else:
            z, zsrc = s, self.src
        e = terms(z, zsrc, self.k_exp, ctx, self.lse)   # exp(z), the input terms of the log-sum-exp neuron
        lse = self.lse.emit(e.sum(-1, keepdim=True), ctx, fresh=True)
        if ctx.mode_for(self.out) == "exact" and not (ctx.calibrating or ctx.record) and e is not z:
            # Layer II in closed form, clip(exp(z - lse), 0, b) (eq. 36), evaluated as
            # exp(z) * exp(-lse): the same value to a few ulps, reusing layer I's terms
            # exp(z) instead of a second pass of exp. Its clip check is on the values
            # (exp is increasing: a value above b is a potential above theta = log b).
            ctx.note(self.out)
            self.out.require_range()
            e = e.mul_(torch.exp(-lse))
            if not e.numel():
                hi = 0.0
            elif self.use_max:   # each row's largest z is 0, so its largest output is exp(-lse): no pass over e
                hi = float(torch.exp(-lse.min()))
            else:
                hi = float(e.max())
            n = 0
            if ctx.check != "off" and hi > self.out.b * (1 + (1e-9 if e.dtype == torch.float64 else 1e-5)):
                n = int((e > self.out.b * (1 + 1e-9)).sum())
            ctx.add_check(self.out.pname, n, e.numel())
            # e >= 0 = a always (a product of exps); above b only where hi says so: no pass otherwise
            return e.clamp_(max=self.out.b) if hi > self.out.b else e
        return self.out.emit(z - lse, ctx, fresh=True)

    def _populations(self):
        return tuple(p for p in (self.max, self.z, self.lse, self.out) if p is not None)

    def _exact(self, s, ctx: Ctx):
        """Exact mode, every layer in closed form: the max and z = s - max (layer 0, ranges proven),
        the log-sum-exp (layer I, Theorem 4.6, range proven) and clip(exp(z - lse), 0, b) (layer II,
        eq. 36) are together softmax(s) clipped at b: one fused ``torch.softmax``, equal to
        exp(z) exp(-lse) to a few ulps. Layer II's clip check is on the largest probability (exp is
        increasing: a probability above b is a potential above theta = log b)."""
        for pop in self._populations():
            ctx.note(pop)
            pop.require_range()
        rows = s.numel() // s.shape[-1] if s.dim() and s.shape[-1] else 0
        if self.use_max:
            ctx.add_check(self.max.pname, 0, rows)
            ctx.add_check(self.z.pname, 0, s.numel())
        ctx.add_check(self.lse.pname, 0, rows)
        e = torch.softmax(s, dim=-1)
        b = self.out.b
        if native.available_for(e) and e.is_contiguous():
            # the count (above b beyond float rounding) and the clip at b in one C pass that writes
            # only where a probability exceeds b (e >= 0 = a always: a product of exps)
            tol = 1e-9 if e.dtype == torch.float64 else 1e-5
            _, n, _ = native.clip(e, -math.inf, b * (1 + tol), -math.inf, b, out=e)
        else:
            hi = float(e.amax()) if e.numel() else 0.0
            n = 0
            if ctx.check != "off" and hi > b * (1 + (1e-9 if e.dtype == torch.float64 else 1e-5)):
                n = int((e > b * (1 + 1e-9)).sum())
            if hi > b:
                e.clamp_(max=b)
        ctx.add_check(self.out.pname, n, e.numel())
        return e
