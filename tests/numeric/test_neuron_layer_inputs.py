"""The standalone neuron layer (NeuronLayer, LayerTiming) refuses what it cannot compute, naming it, and
decodes within [a, b] (a probe of the numeric layer found NaN potentials passed through exact mode, -inf
read as no spike, a float precision crashing in ctypes, shapes broadcast or failing in torch's matmul,
and float32 decodes above b at a late T_emit)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ttfs_symbolic import LayerTiming, NeuronLayer
from ttfs_symbolic.numeric.kernels import InputKernel

D = torch.float64


@pytest.fixture(scope="module")
def layer():
    return NeuronLayer("x", "x", sender=LayerTiming.for_layer(0, -1, 1), receiver=LayerTiming.for_layer(1, -1, 1))


def test_minus_infinity_is_no_spike_time(layer):
    with pytest.raises(ValueError, match=r"spike times contain -inf: a silent neuron is t = \+inf"):
        layer.sender.decode(torch.tensor([-math.inf]))
    with pytest.raises(ValueError, match="-inf"):
        layer(torch.tensor([-math.inf, 0.5], dtype=D), torch.ones(1, 2, dtype=D))
    assert float(layer.sender.decode(torch.tensor([math.inf]))[0]) == -1.0   # +inf: silent, value a


@pytest.mark.parametrize("V", [torch.tensor([math.nan, 1.0]), np.array([math.nan])])
def test_nan_potentials_are_refused_in_every_mode(layer, V):
    for mode, p in (("exact", None), ("quantized", 8), ("kernel", 8)):
        with pytest.raises(ValueError, match="contain NaN"):
            layer.emit(V, mode=mode, precision=p)
    with pytest.raises(ValueError, match="potentials V contain NaN"):
        layer.out_kernel.apply(V, -1.0, 1.0)


def test_nan_weight_or_bias_is_named(layer):
    T = layer.sender.encode(torch.tensor([0.3, -0.2], dtype=D))
    with pytest.raises(ValueError, match="weight contains NaN"):
        layer.potential(T, torch.tensor([[math.nan, 1.0]], dtype=D))
    with pytest.raises(ValueError, match="bias contains NaN"):
        layer.potential(T, torch.ones(1, 2, dtype=D), bias=torch.tensor([math.nan], dtype=D))


def test_shapes_are_checked_naming_the_argument(layer):
    T = layer.sender.encode(torch.tensor([0.3, 0.2, 0.1], dtype=D))
    with pytest.raises(ValueError, match=r"bias must be a number or of shape \(1,\) \(n_out\), or broadcast to the potentials' shape \(1,\); got shape \(5,\)"):
        layer(T, torch.ones(1, 3, dtype=D), bias=torch.zeros(5, dtype=D))
    with pytest.raises(ValueError, match=r"weight of shape \(1, 4\) takes n_in = 4"):
        layer(T, torch.ones(1, 4, dtype=D))
    with pytest.raises(ValueError, match=r"weight must be \(n_out, n_in\), got shape \(3,\)"):
        layer(T, torch.ones(3, dtype=D))
    # the right shapes: sum_j w_j x_j + bias, a number bias too
    V = layer.potential(T, torch.ones(2, 3, dtype=D), bias=0.25)
    assert V.shape == (2,) and torch.allclose(V, torch.full((2,), 0.85, dtype=D), atol=1e-12)


def test_a_whole_float_precision_is_taken_as_its_integer(layer):
    T = layer.sender.encode(torch.tensor([0.3], dtype=D))
    W = torch.tensor([[1.0]], dtype=D)
    for mode in ("quantized", "kernel"):
        assert torch.equal(layer(T, W, mode=mode, precision=8.0), layer(T, W, mode=mode, precision=8))
    with pytest.raises(ValueError, match="needs a time precision p"):
        layer(T, W, mode="quantized", precision=8.5)


@pytest.mark.parametrize("p", [0, -3, 2.5])
def test_the_timings_own_rounding_checks_p(layer, p):
    for fn in (layer.receiver.quantize_values, layer.receiver.ticks):
        with pytest.raises(ValueError, match="time precision p"):
            fn(torch.tensor([0.3]), p)


def test_float32_decode_stays_in_the_range_at_a_late_emitting_time():
    r = LayerTiming(-4.0, 8.0, 1.0, 1000.0)
    x = r.decode(torch.tensor([1000.0, 1000.5, 1000.999], dtype=torch.float32))
    assert float(x.max()) <= 8.0 and float(x.min()) >= -4.0
    assert float(x[0]) == 8.0   # a spike at T_emit is b exactly
    x64 = r.decode(torch.tensor([1000.25], dtype=D))
    assert float(x64[0]) == pytest.approx(8.0 - 0.25 * 12, abs=1e-12)


def test_a_bool_is_not_a_range_end():
    with pytest.raises(ValueError, match="LayerTiming.a must be a finite number, got True"):
        LayerTiming(True, 2.0)


def test_integer_tensors_are_taken_as_floats_by_the_input_kernel():
    gelu = InputKernel("x*(1 + erf(x/sqrt(2)))/2")
    got = gelu(torch.tensor([1, 2]))
    assert got.dtype == torch.get_default_dtype()
    assert torch.allclose(got, gelu(torch.tensor([1.0, 2.0])))
    assert InputKernel("Max(0, x)")(torch.tensor([-1, 2])).is_floating_point()


@pytest.mark.parametrize("x, words", [
    (torch.zeros(2, 3, dtype=torch.complex128), "complex tensor"),
    (np.zeros((2, 3), dtype=complex), "complex numbers"),
    (torch.zeros(2, 3, device="meta"), "meta device"),
])
def test_complex_and_meta_inputs_are_refused_by_every_entry(layer, x, words):
    """Times, weights, biases, potentials and the kernels' inputs: each refuses a complex or meta array by
    name (a complex weight lost its imaginary part with only torch's warning; the rest failed deep inside)."""
    real = torch.zeros(2, 3, dtype=D)
    calls = [lambda: layer.sender.encode(x), lambda: layer.sender.decode(x),
             lambda: layer(x, torch.ones(4, 3, dtype=D)),
             lambda: layer(real, x[:1].repeat(4, 1) if not isinstance(x, np.ndarray) else np.zeros((4, 3), complex)),
             lambda: layer(real, torch.ones(4, 3, dtype=D), x[0]), lambda: layer.out_kernel.apply(x, -1.0, 1.0),
             lambda: InputKernel("x**2")(x)]
    calls += [lambda m=m, p=p: layer.emit(x, mode=m, precision=p) for m, p in (("exact", None), ("quantized", 8),
                                                                                ("kernel", 8))]
    for call in calls:
        with pytest.raises(ValueError, match=words):
            call()


def test_a_kernel_table_quadrature_cannot_resolve_is_refused():
    """f = x**(10**10) on [0, 1]: the derivation holds symbolically, but eta = 1e10 s**(1e10 - 1) is a peak of
    width 1e-10 that float64 quadrature integrates to 0; kernel mode refused it instead of giving 0 for
    every input. Exact and quantized mode (the closed form) still compute it."""
    steep = NeuronLayer("x**(10**10)", "x", sender=LayerTiming.for_layer(0, 0.0, 1.0),
                        receiver=LayerTiming.for_layer(1, -1.0, 1.0))
    t = steep.sender.encode(torch.tensor([[0.5, 1.0]], dtype=D))
    w = torch.ones(1, 2, dtype=D)
    with pytest.raises(ValueError, match=r"kernel-mode input table \(eta of f = x\*\*10000000000\) on \[0.0, 1.0\] "
                                         r"at p = 64 misses f\(a \+ m d/p\) - f\(a\) by 1.0e\+00"):
        steep(t, w, mode="kernel", precision=64)
    assert float(steep.potential(t, w, mode="exact")[0, 0]) == pytest.approx(1.0)
