"""The settings that shape a population (range kinds, codes, residual modes) and its catalogue kernels.

:func:`input_kernel` and :func:`output_kernel` compile a catalogue neuron's
Theorem 4.1 / 4.3 kernels once (None for the identity); :func:`log_kernel`
is the input transform of the log code.
"""
from __future__ import annotations

import functools

from ..catalogue import get as catalogue_neuron
from ..numeric.kernels import InputKernel, OutputKernel

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
#: the upper end of a variance whose rsqrt is folded: the bound the network proves, or the calibrated end
VARIANCE_ENDS = ("bound", "calibrated")

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
