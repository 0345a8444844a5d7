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

import math

import numpy as np
import torch
from torch import nn

from ..numeric import dynamics
from ..numeric.kernels import InputKernel
from .calibration import PopulationCalibration
from .context import Ctx
from .emission import PopulationEmission
from .kernels import CHANNEL_DIMS, FINE_KINDS, MAX_RANGE_ABS, output_kernel
from .stats import PopStats


class Population(PopulationCalibration, PopulationEmission, nn.Module):
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
        #: a bound the network proves for the upper end (a callable giving a float), used instead of the
        #: calibrated one when set (LayerNorm's variance: the mean of its centred inputs' squared extremes)
        self.upper_fn = None
        #: whether the upper end is the calibrated one capped at ``upper_fn``'s bound (finalize's variance_end)
        self.upper_calibrated = False
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

    def spike_times(self, values, delta: float = 1.0, T_emit0: float = 0.0, p: int | None = None):
        """Spike times of this layer's output values (eq. 7; inf: no spike); ``p``: values of quantized or
        kernel mode at precision p, each at its tick's time (:meth:`LayerTiming.encode`).

        Per-channel, per-head or per-neuron ranges: each neuron's time on its own range ``[a_n, b_n]``
        (tau_n = delta / (b_n - a_n)); ``values`` then of the layer's shape, batch first. A layer without
        neurons (a relay) and a log-coded layer (whose times are linear in log(|x| + e), one neuron per
        sign part) have no times of eq. 7: ValueError naming the layer."""
        if self.relay:
            raise ValueError(f"layer {self.pname} has no neuron (its values are carried by synapses into its "
                             "consumers): it has no spike times")
        if self.code == "log":
            raise ValueError(f"layer {self.pname} is log-coded: each value is the spike of its sign part's "
                             "neuron at a time linear in log(|x| + e) (docs/guide/precision.md, the log code), "
                             "not eq. 7's time; spike_times gives linear-coded layers' times")
        timing = self.timing(delta, T_emit0)
        if self.fine_a is None:
            return timing.encode(values, p)
        x = values if isinstance(values, torch.Tensor) else torch.as_tensor(values, dtype=torch.float64)
        a, b = self.bounds(x)   # (each neuron's range, in x's dtype; the shape checked, naming the layer)
        return dynamics.encode_times(x, a, b, timing.T_emit, timing.delta, p)

    def _thresholds(self):
        """``(theta_low, theta) = (h^-1(a), h^-1(b))`` (eq. 13) of this range (cached by the kernel)."""
        return self.h.theta_low(self.a), self.h.theta(self.b)

    def extra_repr(self) -> str:
        if self.relay:
            what = "residual sum" if self.kind == "residual" else "value"
            return f"{self.pname}: no neuron ({what} carried by synapses into its consumers)"
        fine = f" ({self.range_kind} ranges)" if self.fine else ""
        code = f", log code (r = {self.log_r:g})" if self.code == "log" else ""
        return (f"{self.pname}: {self.neuron}, [a, b] = [{self.a:.4g}, {self.b:.4g}]{fine}{code}, "
                f"window {self.window}")


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
