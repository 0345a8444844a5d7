"""Tests of ttfs_symbolic.numeric.dynamics: timing (eq. 7, 29), the three modes, kernel tables.

References are independent of the code under test: closed forms evaluated
with mpmath at 30 digits, or exact grid values. Tolerances are justified
where they are set.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ttfs_symbolic.catalogue import get
from ttfs_symbolic.numeric.dynamics import (
    LayerTiming,
    NeuronLayer,
    check_mode,
    input_table,
    output_table,
    quantize_values,
)
from ttfs_symbolic.numeric.kernels import InputKernel, OutputKernel
from ttfs_symbolic.symbolic.mpeval import mp_function
from ttfs_symbolic.symbolic.derive import derive_output
from ttfs_symbolic.verify import values_in

EPS = float(np.finfo(np.float64).eps)
TIMINGS = [LayerTiming(-3.0, 3.0), LayerTiming(0.0, 1.0), LayerTiming(-8.0, 0.0, 2.0),
           LayerTiming(-0.5, 4.0, 0.7), LayerTiming(0.0, 400.0)]


def rt_tol(t: LayerTiming) -> float:
    """decode(encode(x)) error: two roundings of times of size max(|T_ref|, |T_end|), over tau."""
    scale = max(1.0, abs(t.T_emit), abs(t.T_end), abs(t.T_ref))
    return 16 * EPS * scale / t.tau + 8 * EPS * max(abs(t.a), abs(t.b), 1.0)


# --------------------------------------------------------------------------
# LayerTiming (eq. 7, 29)
# --------------------------------------------------------------------------

def test_timing_constants_eq_29():
    t = LayerTiming.for_layer(3, -1.0, 3.0, 0.5, 0.25)
    assert t.T_emit == 0.25 + 3 * 0.5
    assert t.d == 4.0 and t.tau == 0.5 / 4.0
    assert t.T_ref == pytest.approx(t.T_emit + 3.0 * t.tau, abs=1e-15)
    assert t.T_end == t.T_emit + 0.5
    # a = (T_ref - T_end)/tau and b = (T_ref - T_emit)/tau (eq. 29)
    assert (t.T_ref - t.T_end) / t.tau == pytest.approx(-1.0, abs=1e-12)
    assert (t.T_ref - t.T_emit) / t.tau == pytest.approx(3.0, abs=1e-12)


@pytest.mark.parametrize("timing", TIMINGS, ids=lambda t: f"[{t.a},{t.b}]")
def test_encode_conventions(timing):
    a, b, d = timing.a, timing.b, timing.d
    x = np.array([b, b + d, a, a - d, a + d / 2])
    t = timing.encode(x).numpy()
    assert t[0] == timing.T_emit and t[1] == timing.T_emit        # b (and above) fire at T_emit
    assert t[2] == math.inf and t[3] == math.inf                   # a (and below) do not fire
    assert timing.T_emit < t[4] < timing.T_end
    back = timing.decode(t).numpy()
    assert np.all(np.abs(back - np.clip(x, a, b)) <= rt_tol(timing))   # values clipped to [a, b]


@pytest.mark.parametrize("timing", TIMINGS, ids=lambda t: f"[{t.a},{t.b}]")
@settings(deadline=None)
@given(data=st.data())
def test_encode_decode_round_trip(timing, data):
    margin = 64 * EPS * max(1.0, abs(timing.T_end), abs(timing.T_ref)) / timing.tau
    xs = np.array(data.draw(st.lists(st.one_of(values_in(timing.a, timing.b),
                                               st.floats(timing.a + margin, timing.b)), min_size=1, max_size=10)))
    xs = xs[(xs <= timing.a) | (xs >= timing.a + margin)]   # the T_end edge is tested below
    t = timing.encode(xs).numpy()
    order = np.argsort(xs)
    ts = t[order]
    assert np.all(ts[1:] <= ts[:-1])                         # larger values never fire later
    fired = np.isfinite(t)
    assert np.all((t[fired] >= timing.T_emit) & (t[fired] < timing.T_end))
    back = timing.decode(t).numpy()
    assert np.all(np.abs(back - np.clip(xs, timing.a, timing.b)) <= rt_tol(timing))


@pytest.mark.parametrize("timing", [LayerTiming(0.0, 1.0), LayerTiming.for_layer(1, -3.0, 3.0)],
                         ids=["[0,1]", "layer1[-3,3]"])
def test_value_just_above_a_round_trips(timing):
    x = np.array([np.nextafter(timing.a, np.inf)])
    t = timing.encode(x)
    back = timing.decode(t).numpy()          # raises today: the spike is at T_end
    assert abs(back[0] - x[0]) <= rt_tol(timing)


def test_b_fires_exactly_at_T_emit_in_later_windows():
    bad = []
    for n in range(7):
        for a, b in [(-3.0, 3.0), (0.0, 1.0), (-0.5, 4.0), (-4.0, 8.0)]:
            for delta in (1.0, 0.7, 2.5):
                t = LayerTiming.for_layer(n, a, b, delta, 0.3)
                if float(t.encode(np.array([b]))[0]) != t.T_emit:
                    bad.append((n, a, b, delta))
    assert not bad


def test_nan_values_and_times_rejected():
    t = LayerTiming(-1.0, 2.0)
    with pytest.raises(ValueError, match="NaN"):
        t.encode([0.5, math.nan])
    with pytest.raises(ValueError, match="NaN"):
        t.decode([0.5, math.nan])


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.25, -1e9])
def test_spikes_outside_the_window_rejected(bad):
    t = LayerTiming(-1.0, 2.0)              # window [0, 1)
    with pytest.raises(ValueError, match="outside this layer's emitting window"):
        t.decode([0.5, bad])


@pytest.mark.parametrize("args,match", [((1.0, 1.0), "a < b"), ((2.0, 1.0), "a < b"),
                                        ((math.nan, 1.0), "finite"), ((0.0, math.inf), "finite"),
                                        ((0.0, 1.0, 0.0), "delta"), ((0.0, 1.0, -1.0), "delta")])
def test_bad_timing_rejected(args, match):
    with pytest.raises(ValueError, match=match):
        LayerTiming(*args)


# --------------------------------------------------------------------------
# quantized mode: nearest tick (Section 5.3)
# --------------------------------------------------------------------------

@settings(deadline=None)
@given(ab=st.sampled_from([(-3.0, 3.0), (0.0, 1.0), (-8.0, 0.0), (0.0, 400.0)]),
       p=st.sampled_from([1, 2, 7, 64, 256, 4096]), data=st.data())
def test_quantize_values_nearest_tick(ab, p, data):
    a, b = ab
    d = b - a
    x = np.array(data.draw(st.lists(values_in(a, b), min_size=1, max_size=10)))
    q = quantize_values(torch.as_tensor(x), a, b, p).numpy()
    xc = np.clip(x, a, b)
    k = (b - q) * p / d
    # on the grid b - k d/p, k = 0..p (k = p: no spike), to rounding of k*d/p
    assert np.all(np.abs(k - np.round(k)) <= 1e-9) and np.all((np.round(k) >= 0) & (np.round(k) <= p))
    # nearest tick: error at most half a tick, d/(2p) (< d/p, time precision p), plus rounding
    err = np.abs(q - xc)
    assert np.all(err <= d / (2 * p) + 8 * EPS * max(abs(a), abs(b), 1.0))
    # monotone
    order = np.argsort(xc)
    assert np.all(np.diff(q[order]) >= 0)
    # the ends are on the grid
    assert quantize_values(torch.tensor([a, b], dtype=torch.float64), a, b, p).tolist() == [a, b]


# --------------------------------------------------------------------------
# NeuronLayer against the closed form (eq. 9, 14)
# --------------------------------------------------------------------------

EXACT_NEURONS = ["identity", "gelu", "silu", "exp", "logsumexp", "square", "log_shift", "sigmoid_out", "tanh"]


def _layer(name):
    nd = get(name)
    sender = LayerTiming(*nd.range)
    receiver = LayerTiming.for_layer(1, *nd.output_range)
    return nd, NeuronLayer(nd.f, nd.h, sender=sender, receiver=receiver, params=nd.params or None)


def _closed_form(layer: NeuronLayer, x, w, bias):
    """clip(h(sum_j w_j f(clip x_j) + bias), a, b) with f, h in mpmath at 30 digits."""
    f = mp_function(layer.input.f)
    h = mp_function(layer.output.h)
    a, b = layer.receiver.a, layer.receiver.b
    out = np.empty((x.shape[0], w.shape[0]))
    with mpmath.workdps(30):
        for i in range(x.shape[0]):
            fx = [f(mpmath.mpf(float(min(max(v, layer.sender.a), layer.sender.b)))) for v in x[i]]
            for o in range(w.shape[0]):
                V = sum(mpmath.mpf(float(w[o, j])) * fx[j] for j in range(x.shape[1])) + mpmath.mpf(float(bias[o]))
                # V below h's domain (log) is below g(a): value a (Theorem 4.3, eq. 35)
                try:
                    hv = h(V)
                    hv = hv.real if isinstance(hv, mpmath.mpc) and hv.imag == 0 else hv
                    val = a if isinstance(hv, mpmath.mpc) else min(max(hv, mpmath.mpf(a)), mpmath.mpf(b))
                except (ValueError, ZeroDivisionError):
                    val = a
                out[i, o] = float(val)
    return out


def _inputs(layer, rng, n_batch=24, n_in=4, n_out=3, grid_p=None):
    s = layer.sender
    x = rng.uniform(s.a - 0.1 * s.d, s.b + 0.1 * s.d, size=(n_batch, n_in))
    if grid_p is not None:
        x = s.b - rng.integers(0, grid_p + 1, size=(n_batch, n_in)) * (s.d / grid_p)
    # positive weights: no cancellation in V, so float64 V is good to ~1e-15 relative
    w = rng.uniform(0.1, 1.0, size=(n_out, n_in)) / n_in
    bias = rng.uniform(-0.5, 0.5, size=n_out)
    return x, w, bias


@pytest.mark.parametrize("name", EXACT_NEURONS)
def test_exact_mode_equals_closed_form(name):
    nd, layer = _layer(name)
    x, w, bias = _inputs(layer, np.random.default_rng(1))
    t = layer.sender.encode(x)
    out = layer(t, torch.as_tensor(w), torch.as_tensor(bias), mode="exact")
    assert out.shape == (x.shape[0], w.shape[0])
    got = layer.receiver.decode(out).numpy()
    ref = _closed_form(layer, x, w, bias)
    # f, sum and h in float64 on O(1..10) values, a few ulps each, plus the time round trip;
    # 1e-12 relative leaves >100x margin
    assert np.all(np.abs(got - ref) <= 1e-12 * np.maximum(1.0, np.abs(ref)) + rt_tol(layer.receiver))


@pytest.mark.parametrize("name", EXACT_NEURONS)
@pytest.mark.parametrize("p", [16, 256])
def test_quantized_within_half_a_tick_of_exact(name, p):
    nd, layer = _layer(name)
    x, w, bias = _inputs(layer, np.random.default_rng(2))
    t = layer.sender.encode(x)
    W, B = torch.as_tensor(w), torch.as_tensor(bias)
    exact = layer.receiver.decode(layer(t, W, B, mode="exact")).numpy()
    quant = layer.receiver.decode(layer(t, W, B, mode="quantized", precision=p)).numpy()
    d = layer.receiver.d
    assert np.all(np.abs(quant - exact) <= d / (2 * p) + rt_tol(layer.receiver) * 2)
    assert np.all(np.abs(quant - exact) < d / p)


KERNEL_NEURONS = ["identity", "gelu", "exp", "logsumexp", "square", "sigmoid_out", "sin"]


@pytest.mark.parametrize("name", KERNEL_NEURONS)
@pytest.mark.parametrize("p", [64, 1024])
def test_kernel_mode_within_one_tick(name, p):
    """Inputs on the sender's p-grid: kernel mode is within d/p of exact (verify.check_kernel_convergence)."""
    nd, layer = _layer(name)
    x, w, bias = _inputs(layer, np.random.default_rng(3), grid_p=p)
    t = layer.sender.encode(x)
    W, B = torch.as_tensor(w), torch.as_tensor(bias)
    exact = layer.emit(layer.potential(t, W, B), "exact").numpy()
    kern = layer.emit(layer.potential(t, W, B, "kernel", p), "kernel", p).numpy()
    d = layer.receiver.d
    # one tick; the Gauss-Legendre table error of smooth kernels is ~1e-12 of a tick here
    assert np.all(np.abs(kern - exact) <= d / p * (1 + 1e-9))
    # and on the grid b - k d/p
    k = (layer.receiver.b - kern) * p / d
    assert np.all(np.abs(k - np.round(k)) <= 1e-9)


BELOW_ABOVE = ["identity", "exp", "logsumexp", "sigmoid_out", "relu",
               "cubic_out"]


@pytest.mark.parametrize("name", BELOW_ABOVE)
def test_emit_below_g_a_is_silent_and_above_theta_fires_at_T_emit(name):
    nd, layer = _layer(name)
    r = layer.receiver
    ok = layer.out_kernel
    theta, low = ok.theta(r.b), ok.theta_low(r.a)
    below = [low - 1.0, low - 1e-9 * max(1.0, abs(low)), np.nextafter(low, -np.inf)] if math.isfinite(low) else []
    above = [theta + 1.0, np.nextafter(theta, np.inf)]
    V = torch.tensor(below + above, dtype=torch.float64)
    vals = layer.emit(V, "exact").numpy()
    r0 = LayerTiming(r.a, r.b, r.delta)    # T_emit = 0: the later-window rounding of encode is tested above
    t = r0.encode(vals).numpy()
    nb = len(below)
    assert np.all(vals[:nb] == r.a) and np.all(t[:nb] == math.inf)
    assert np.all(vals[nb:] == r.b) and np.all(t[nb:] == r0.T_emit)


def test_apply_below_rounded_g_a():
    a, b = 0.1, 3.0
    k = OutputKernel.from_transform(derive_output("softplus(x)", a, b))   # closed-form g = log(e^y - 1)
    g_a = mpmath.log(mpmath.expm1(mpmath.mpf(a)))     # softplus^-1(a) = log(e^a - 1), 30 digits
    V = float(g_a)
    V = V if mpmath.mpf(V) < g_a else float(np.nextafter(V, -np.inf))   # the largest float below g(a)
    assert k.apply(np.array([V, V - 1.0]), a, b).tolist() == [a, a]


def test_lambertw_output_neuron_runs():
    nd, layer = _layer("x_plus_exp_out")
    V = torch.tensor([-1.0, 0.5, 1.0, 5.0], dtype=torch.float64)
    vals = layer.emit(V, "exact").numpy()
    ref = np.clip(V.numpy() + np.exp(V.numpy()), layer.receiver.a, layer.receiver.b)
    assert np.all(np.abs(vals - ref) <= 1e-12 * np.maximum(1.0, ref))


# --------------------------------------------------------------------------
# kernel tables
# --------------------------------------------------------------------------

@pytest.mark.parametrize("p", [16, 64, 1024])
@pytest.mark.parametrize("ab", [(-3.0, 3.0), (0.0, 1.0), (-8.0, 0.0)])
def test_input_table_identity(p, ab):
    a, b = ab
    Q = input_table(InputKernel("x"), a, b, 1.0, p)
    ref = np.arange(p + 1) * ((b - a) / p)
    # eta = 1: each tick's Gauss-Legendre sum is exact to 1 ulp, the cumulative sum of
    # p <= 1024 terms adds <= p ulps: 1024 * 2.2e-16 ~ 2.3e-13 relative
    assert Q.shape == (p + 1,)
    assert np.all(np.abs(Q - ref) <= 1e-12 * (1 + np.abs(ref)))


@pytest.mark.parametrize("p", [64, 256, 1024])
@pytest.mark.parametrize("ab", [(0.0, 3.0), (-4.0, 4.0)])
def test_input_table_exp(p, ab):
    a, b = ab
    Q = input_table(InputKernel("exp(x)"), a, b, 1.0, p)
    m = np.arange(p + 1)
    with mpmath.workdps(30):
        ref = np.array([float(mpmath.exp(a + mpmath.mpf(int(k)) * (b - a) / p) - mpmath.exp(a)) for k in m])
    # 3-node Gauss-Legendre per tick: error ~ (d/p)^7 e^b / 2016000 per tick, < 1e-13 in total
    # for d/p <= 1/8; 1e-10 relative leaves room for the cumulative sum's rounding
    assert np.all(np.abs(Q - ref) <= 1e-10 * (1 + np.abs(ref)))


@pytest.mark.parametrize("p", [16, 64, 1024])
def test_output_table_identity_is_linear(p):
    a, b = -1.0, 3.0
    P = output_table(OutputKernel("x"), a, b, 1.0, p)
    ref = (np.arange(p) + 0.5) * ((b - a) / p)   # psi = 1/tau: int_0^{(m + 1/2) delta/p} psi = (m + 1/2) d/p
    assert P.shape == (p,)
    assert np.all(np.abs(P - ref) <= 1e-12 * (1 + np.abs(ref)))


def test_input_table_relu_kink_inside_a_tick():
    a, b, p = -2.0, 3.0, 64
    Q = input_table(InputKernel("relu(x)"), a, b, 1.0, p)
    ref = np.maximum(0.0, a + np.arange(p + 1) * ((b - a) / p))   # f(a + m d/p) - f(a), f(a) = 0
    assert np.all(np.abs(Q - ref) <= 1e-10 * (1 + np.abs(ref)))


def test_input_table_rsqrt_steep_kernel():
    a, b, p = 0.0, 4.0, 64
    Q = input_table(InputKernel("1/sqrt(x + 1/100000)"), a, b, 1.0, p)
    x = a + np.arange(p + 1) * ((b - a) / p)
    ref = 1 / np.sqrt(x + 1e-5) - 1 / np.sqrt(1e-5)
    assert np.all(np.abs(Q - ref) <= 1e-9 * (1 + np.abs(ref)))


# --------------------------------------------------------------------------
# mode validation
# --------------------------------------------------------------------------

def test_mode_validation():
    check_mode("exact", None)
    check_mode("kernel", 64)
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        check_mode("fast", None)
    for mode in ("quantized", "kernel"):
        for bad in (None, 0, -3, 2.5):
            with pytest.raises(ValueError, match="needs a time precision"):
                check_mode(mode, bad)
    nd, layer = _layer("identity")
    t = layer.sender.encode(np.zeros((2, 3)))
    W = torch.ones(1, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown mode"):
        layer(t, W, mode="fast")
    with pytest.raises(ValueError, match="needs a time precision"):
        layer(t, W, mode="kernel")
    with pytest.raises(ValueError, match="needs a time precision"):
        layer.emit(torch.zeros(2, 1, dtype=torch.float64), "quantized")
