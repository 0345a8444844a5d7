"""The numeric layer's spike codes and counts against a hand computation in numpy / plain Python, at their
boundaries (the blind mutation audits' survivors, docs/mutation.md: silent ends counted as spikes, the log
code's packing of the least magnitude, the clipping slack of the wrong dtype, tick rounding at the window's
ends).

The references here are written from the documented formulas, not from the library's code:

* linear code (ttfs_symbolic/numeric/native.py, dynamics.quantize_values): the tick of x is
  ``k = clamp(rint((b - x) * scale), 0, p)`` (rint: half to even), ``scale = p/(b - a)``; its value
  ``b - k * step``, ``step = (b - a)/p``; tick p is no spike; a neuron is counted as clipped when x < lo or
  x > hi. Each operation is done in the tensor's dtype (numpy float32 / float64 here), the bounds and
  constants rounded to that dtype as the C loops take them (REAL): the library promises its C and torch
  loops equal bit for bit, so the hand values are compared bit for bit too.
* exact code (native.clip): ``clamp(x, a, b)``; clipped: x < lo or x > hi; outside: x < a or x > b; NaN
  passes through and is in neither count.
* log code (docs/guide/precision.md, "The log code"; dynamics.quantize_log_values): per sign part sigma,
  M its largest and l its least magnitude, ``e = r M``, ``u = log(|x| + e)`` rounded to the nearest of p
  ticks spread over [log(l + e), log(M + e)] (``du = log((M + e)/(l + e))``), the value
  ``sigma (exp(u_k) - e)``; 0 stays 0; a value at its part's least magnitude is silent.
* the clipping count of a layer (spiking/emission.py, _count_bounds; docs/guide/precision.md, "Clipping is
  never silent"): beyond [a, b] by more than float rounding, the slack being
  ``(1e-9 in float64, 1e-5 in float32) * max(1, |a|, |b|)``.

Both the C loops and the torch reference run (``backend=`` or ``TTFS_NATIVE=0``); the C runs are skipped
only when the machine has no C compiler (the library's own check).
"""
from __future__ import annotations

import math
import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from ttfs_symbolic.numeric import native, native_build
from ttfs_symbolic.numeric.dynamics import LayerTiming, log_code_spikes, quantize_log_values, quantize_values
from ttfs_symbolic.spiking import Ctx, Population

DTYPES = [torch.float32, torch.float64]
NP = {torch.float32: np.float32, torch.float64: np.float64}
#: the clipping count's float slack per dtype (documented in emission._count_bounds), relative to max(1, |a|, |b|)
SLACK = {torch.float32: 1e-5, torch.float64: 1e-9}

#: ranges of one sign, across 0, away from 0, and non-dyadic ones whose tick p is not exactly a
RANGES = [(0.0, 1.0), (1.0, 2.0), (-3.0, -1.0), (-2.0, 5.0), (-1000.0, 5.0), (0.047, 1.463), (1.294, 4.915),
          (-0.951, 2.97)]
PRECISIONS = [1, 2, 7, 16, 255]


def _c_ok():
    return native_build._compiler() is not None


def _backend_or_skip(backend):
    """'native' needs the C loops: skipped only where the library's own check says no compiler exists (with a
    compiler they must build: a failure then is a bug, not a skip)."""
    if backend == "native":
        if os.environ.get("TTFS_NATIVE", "1") == "0":
            pytest.skip("TTFS_NATIVE=0: the C loops are switched off for this run")
        if not _c_ok():
            pytest.skip("no C compiler on this machine: only the torch reference runs")
        assert native.available(), native.build_info()["error"]


@pytest.fixture(params=["native", "torch"])
def env_backend(request, monkeypatch):
    """For functions without a backend argument (ticks_packed, clip_packed, Population.emit): TTFS_NATIVE=0
    forces the torch reference (the env var is read on every call)."""
    _backend_or_skip(request.param)
    if request.param == "torch":
        monkeypatch.setenv("TTFS_NATIVE", "0")
        assert not native.available()
    return request.param


# ---------------------------------------------------------------------------------------------- hand formulas

def hand_ticks(x, b, scale, p, nd):
    """k = clamp(rint((b - x) * scale), 0, p), each operation in dtype nd (numpy rint: half to even)."""
    with np.errstate(invalid="ignore"):
        u = (np.asarray(b, dtype=nd) - x) * np.asarray(scale, dtype=nd)
        return np.clip(np.rint(u), 0, p).astype(nd)


def hand_tick_values(x, b, scale, step, p, nd):
    k = hand_ticks(x, b, scale, p, nd)
    return np.asarray(b, dtype=nd) - k * np.asarray(step, dtype=nd), k


def hand_outside(x, lo, hi, nd):
    """x < lo or x > hi, compared in x's dtype (the bounds rounded to it; NaN is neither)."""
    return int(((x < np.asarray(lo, dtype=nd)) | (x > np.asarray(hi, dtype=nd))).sum())


def boundary_values(a, b, p, nd):
    """The hard cases of one range in dtype nd: its ends, one ulp either side of each, the tick midpoints next
    to each end, a + half a tick, 0, and values well outside."""
    a_, b_ = nd(a), nd(b)
    d = b - a
    step = d / p
    vals = [a_, b_, np.nextafter(a_, nd(-np.inf)), np.nextafter(a_, nd(np.inf)), np.nextafter(b_, nd(-np.inf)),
            np.nextafter(b_, nd(np.inf)), nd(a + step / 2), nd(b - step / 2), nd(b - 1.5 * step), nd(a + 1.5 * step),
            nd(b + step / 2), nd(a - step / 2), nd(0.0), nd(a - d), nd(b + d), nd((a + b) / 2)]
    return np.array(vals, dtype=nd)


def random_values(seed, n, a, b, p, nd):
    """Values in and 30% around [a, b], a third exactly on tick midpoints (as computed in float64)."""
    rng = np.random.default_rng(seed)
    d = b - a
    x = a - 0.3 * d + 1.6 * d * rng.random(n)
    half = b - (rng.integers(0, p, n) + 0.5) * (d / p)
    x = np.where(rng.random(n) < 1 / 3, half, x)
    return x.astype(nd)


# ---------------------------------------------------------------------------------------------- linear code

@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_linear_ticks_values_spikes_and_clips_by_hand(dtype, backend):
    """tick_values and tick_lookup (one range): value, spike count (ticks < p) and clip count against the hand
    formula, bit for bit (the library promises its two loops equal bit for bit; the hand loop does the same
    float operations in the same dtype), on random values and every boundary value of each range."""
    _backend_or_skip(backend)
    nd = NP[dtype]
    for i, (a, b) in enumerate(RANGES):
        for p in PRECISIONS:
            x = np.concatenate([boundary_values(a, b, p, nd), random_values(100 * i + p, 600, a, b, p, nd)])
            d = b - a
            scale, step = p / d, d / p
            want, k = hand_tick_values(x, b, scale, step, p, nd)
            xt = torch.from_numpy(x.copy())
            # count bounds = the range itself: one ulp outside counts, the ends do not
            out, fired, clipped = native.tick_values(xt, b, scale, step, p, count=(a, b), backend=backend)
            assert out.dtype == dtype
            assert np.array_equal(out.numpy(), want), (a, b, p)
            assert fired == int((k < p).sum()), (a, b, p)
            assert clipped == hand_outside(x, a, b, nd), (a, b, p)
            assert clipped >= 4   # a - d, b + d and the two ulps outside
            out2, fired2 = native.tick_lookup(xt, b, scale, p, step=step, backend=backend)
            assert np.array_equal(out2.numpy(), want) and fired2 == fired
            # the documented ends: b and above fire at tick 0 (value b); a and below are silent (tick p)
            assert k[1] == 0 and k[5] == 0 and k[14] == 0 and want[1] == nd(b)
            assert k[0] == p and k[2] == p and k[13] == p


@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("a, b, p", [(-2.0, 2.0, 16), (0.0, 5.0, 5), (0.0, 1.0, 8), (1.0, 2.0, 4), (-3.0, -1.0, 2),
                                     (0.0, 3.0, 3), (-8.0, 0.0, 1)])
def test_exact_midpoints_round_half_to_even_at_both_ends(a, b, p, dtype, backend):
    """Dyadic ranges, so every midpoint b - (k + 1/2) step is exact in both dtypes: the tick is Python's
    round() of the exact rational (half to even: documented), clamped to [0, p]. At the window's end
    a + step/2 is silent when p is even (p - 1/2 rounds to p) and fires on tick p - 1 when p is odd; at its
    start b - step/2 rounds to tick 0 (value b). Exact: no tolerance."""
    _backend_or_skip(backend)
    nd = NP[dtype]
    A, B = Fraction(a), Fraction(b)
    step = (B - A) / p
    ks = list(range(-2, p + 2))
    xs = [B - (k + Fraction(1, 2)) * step for k in ks] + [A, B, B - step, A + step]
    want_k = [min(max(round((B - x) / step), 0), p) for x in xs]
    want_v = [float(B - k * step) for k in want_k]
    x = torch.tensor([float(v) for v in xs], dtype=dtype)
    assert all(Fraction(float(v)) == v for v in xs)   # exactly representable: the test is exact
    out, fired, clipped = native.tick_values(x, b, p / (b - a), (b - a) / p, p, count=(a, b), backend=backend)
    assert out.tolist() == want_v
    assert fired == sum(k < p for k in want_k)
    assert clipped == sum(v < A or v > B for v in xs)
    end = ks.index(p - 1)   # x = a + step/2
    assert want_k[end] == (p if p % 2 == 0 else p - 1)
    assert want_k[ks.index(0)] == 0 and want_v[ks.index(0)] == b   # b - step/2: tick 0
    assert quantize_values(x, a, b, p).tolist() == want_v


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_packed_per_neuron_ticks_of_different_widths_by_hand(dtype, env_backend):
    """ticks_packed and tick_values with one range per neuron (widths 1e-3 to 1005, one-signed, across 0, away
    from 0): each column on its own neuron's grid, its own count bounds; bit for bit (as above)."""
    nd = NP[dtype]
    p = 7
    ranges = RANGES + [(0.25, 0.251)]
    S = len(ranges)
    a = np.array([r[0] for r in ranges], dtype=nd)
    b = np.array([r[1] for r in ranges], dtype=nd)
    d = b - a                                 # in the dtype, as a layer packs it (emission._fine_ticks)
    scale, step = (nd(p) / d).astype(nd), (d / nd(p)).astype(nd)
    lo = a - nd(1e-3)                         # count bounds of different slack than the clip
    hi = b + nd(1e-3)
    cols = []
    for s, (ra, rb) in enumerate(ranges):
        col = np.concatenate([boundary_values(ra, rb, p, nd), np.array([lo[s], hi[s]], dtype=nd),
                              np.nextafter(lo[s], nd(-np.inf), dtype=nd)[None],
                              np.nextafter(hi[s], nd(np.inf), dtype=nd)[None],
                              random_values(s, 40, ra, rb, p, nd)])
        cols.append(col)
    x = np.stack(cols, axis=1)                # (rows, S): neuron s in column s
    want, k = hand_tick_values(x, b, scale, step, p, nd)
    fired_want = int((k < p).sum())
    clip_want = int(((x < lo) | (x > hi)).sum())
    assert clip_want >= 2 * S
    pack = torch.from_numpy(np.concatenate([b, scale, step, lo, hi]).astype(nd))
    xt = torch.from_numpy(x.copy())
    out, fired, clipped = native.ticks_packed(xt, pack, p)
    assert np.array_equal(out.numpy(), want) and fired == fired_want and clipped == clip_want
    t = lambda v: torch.from_numpy(v)   # noqa: E731
    out, fired, clipped = native.tick_values(xt, t(b), t(scale), t(step), p, count=(t(lo), t(hi)))
    assert np.array_equal(out.numpy(), want) and fired == fired_want and clipped == clip_want
    # a 3-d batch of the same rows: the neuron of a value is its flat index modulo S
    assert x.shape[0] % 2 == 0
    out, fired, clipped = native.ticks_packed(xt.reshape(-1, 2, S).contiguous(), pack, p)
    assert np.array_equal(out.reshape(x.shape).numpy(), want) and (fired, clipped) == (fired_want, clip_want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_clip_scalar_and_packed_by_hand(dtype, env_backend):
    """clip (one range) and clip_packed (one per neuron): clamp(x, a, b) bit for bit, clipped = x < lo or
    x > hi, outside = x < a or x > b, both compared in x's dtype; NaN passes through and counts in neither
    (documented). The values at lo and hi themselves and one ulp inside them do not count. 40000 values, so
    the C loop's blocks (2048) and chunks (16384) are crossed, with the outside values only in a late block."""
    nd = NP[dtype]
    a, b = -1.5, 2.25
    lo, hi = a - 0.125, b + 0.125
    rng = np.random.default_rng(7)
    x = (a + (b - a) * rng.random(40000)).astype(nd)
    special = np.array([a, b, lo, hi, np.nextafter(nd(lo), nd(np.inf)), np.nextafter(nd(hi), nd(-np.inf)),
                        np.nextafter(nd(lo), nd(-np.inf)), np.nextafter(nd(hi), nd(np.inf)),
                        np.nextafter(nd(a), nd(-np.inf)), np.nextafter(nd(b), nd(np.inf)), -7.0, 9.0, np.nan, 0.0],
                       dtype=nd)
    x[-len(special) - 100:-100] = special
    xt = torch.from_numpy(x.copy())
    clipped_want = hand_outside(x, lo, hi, nd)
    outside_want = hand_outside(x, a, b, nd)
    assert (clipped_want, outside_want) == (4, 10)
    want = np.where(np.isnan(x), x, np.minimum(np.maximum(x, nd(a)), nd(b)))
    for where in ("new", "inplace", "none"):
        xb = xt.clone()
        dest = {"new": torch.empty_like(xb), "inplace": xb, "none": None}[where]
        out, clipped, outside = native.clip(xb, lo, hi, a, b, out=dest)
        assert (clipped, outside) == (clipped_want, outside_want), where
        if where != "none":
            assert np.array_equal(out.numpy(), want, equal_nan=True), where
    # only inside values: nothing counts, nothing changes
    inside = torch.from_numpy(x[:1000].copy())
    assert native.clip(inside, lo, hi, a, b, out=inside)[1:] == (0, 0)
    # one value beyond hi (or lo) alone among inside values, in a few places: each counts, wherever it lies
    lone = x[:30000].copy()
    lone = np.where(np.isnan(lone) | (lone < a) | (lone > b), nd(0.0), lone)
    lone[[5, 4100, 20000, 29999]] = np.array([9.0, -7.0, nd(hi) * 2, np.nextafter(nd(b), nd(np.inf))], dtype=nd)
    assert native.clip(torch.from_numpy(lone), lo, hi, a, b)[1:] == (3, 4)
    # per neuron (S = 5 columns of different ranges), packed [lo, hi, a, b]
    S = 5
    ra = np.array([-1.5, 0.0, 1.0, -3.0, 0.25], dtype=nd)
    rb = np.array([2.25, 1.0, 2.0, -1.0, 0.251], dtype=nd)
    rlo, rhi = ra - nd(0.0625), rb + nd(0.0625)
    xs = (np.stack([ra - 1, ra, rb, rb + 1, rlo, rhi, np.nextafter(rlo, nd(-np.inf)), np.nextafter(rhi, nd(np.inf)),
                    np.nextafter(ra, nd(-np.inf)), np.nextafter(rb, nd(np.inf)), (ra + rb) / 2]).astype(nd))
    xs = np.concatenate([xs, rng.normal(size=(4000, S)).astype(nd) * 3])
    xs[5, 2] = np.nan
    pack = torch.from_numpy(np.concatenate([rlo, rhi, ra, rb]).astype(nd))
    out, clipped, outside = native.clip_packed(torch.from_numpy(xs.copy()), pack,
                                               out=torch.empty(xs.shape, dtype=dtype))
    with np.errstate(invalid="ignore"):
        assert clipped == int(((xs < rlo) | (xs > rhi)).sum())
        assert outside == int(((xs < ra) | (xs > rb)).sum())
    want = np.where(np.isnan(xs), xs, np.minimum(np.maximum(xs, ra), rb))
    assert np.array_equal(out.numpy(), want, equal_nan=True)


@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_float_bounds_are_compared_in_the_values_dtype(dtype, backend):
    """Count bounds given as Python floats that the dtype cannot hold (0.1 + 1e-10): both loops round them to
    x's dtype before comparing (the C loops take REAL; the torch reference compares a tensor with a Python
    float in the tensor's dtype), so x = that rounded bound is not counted, in both loops alike."""
    _backend_or_skip(backend)
    nd = NP[dtype]
    # float32 cannot hold 0.1 + 1e-10 (it rounds to float32(0.1)); float64 holds every Python float
    hi = 0.1 + 1e-10 if dtype == torch.float32 else 0.1
    lo = -hi
    x = np.array([nd(hi), nd(lo), np.nextafter(nd(hi), nd(1)), np.nextafter(nd(lo), nd(-1)), 0.0], dtype=nd)
    want = hand_outside(x, lo, hi, nd)
    assert want == 2
    xt = torch.from_numpy(x)
    assert native.clip(xt, lo, hi, -0.05, 0.05, backend=backend)[1] == want
    assert native.tick_values(xt, 0.05, 8 / 0.1, 0.1 / 8, 8, count=(lo, hi), backend=backend)[2] == want


@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_nan_is_refused_by_the_tick_loops_and_the_log_code(dtype, backend):
    """NaN raises ValueError in tick_values (one range and per neuron), ticks_packed and log_ticks (documented:
    no spike time stands for NaN), in both loops."""
    _backend_or_skip(backend)
    x = torch.tensor([[0.25, float("nan"), 0.5]], dtype=dtype)
    v = torch.tensor([1.0, 1.0, 1.0], dtype=dtype)
    with pytest.raises(ValueError, match="NaN"):
        native.tick_values(x, 1.0, 8.0, 0.125, 8, count=(0.0, 1.0), backend=backend)
    with pytest.raises(ValueError, match="NaN"):
        native.tick_values(x, v, v * 8, v / 8, 8, count=(v * 0, v), backend=backend)
    with pytest.raises(ValueError, match="NaN"):
        native.log_ticks(x, native.log_pack(-1.0, 1.0, 0.1, 8, dtype=dtype), 8, backend=backend)
    with pytest.raises(ValueError, match="NaN"):
        native.log_ticks(x, native.log_pack(torch.zeros(3), torch.ones(3), 0.1, 8, dtype=dtype), 8, backend=backend)


def test_nan_is_refused_by_ticks_packed(env_backend):
    for dtype in DTYPES:
        x = torch.tensor([[0.25, float("nan"), 0.5]], dtype=dtype)
        pack = torch.tensor([1.0] * 3 + [8.0] * 3 + [0.125] * 3 + [0.0] * 3 + [1.0] * 3, dtype=dtype)
        with pytest.raises(ValueError, match="NaN"):
            native.ticks_packed(x, pack, 8)


# ---------------------------------------------------------------------------------------------- spike times

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [0, 1, 3])
def test_the_ticks_values_fire_on_the_ticks_of_their_window(n, dtype):
    """A dyadic window (delta 1/2, layer n, T_emit0 = 0.25, [a, b] = [-2, 2], p = 16): the quantized value of
    tick k fires at exactly T_emit + k delta/p for k < p, and tick p (the value a) is silent (inf); decoding
    gives the value back exactly. Every number here is a dyadic rational: exact."""
    p, a, b, delta = 16, -2.0, 2.0, 0.5
    T = LayerTiming.for_layer(n, a, b, delta, 0.25)
    x = torch.tensor([b - (k + 0.25) * (b - a) / p for k in range(-1, p + 1)], dtype=dtype)
    q = quantize_values(x, a, b, p)
    t = T.encode(q).tolist()
    k_hand = [min(max(round(k + 0.25), 0), p) for k in range(-1, p + 1)]
    want = [math.inf if k == p else T.T_emit + k * delta / p for k in k_hand]
    assert t == want
    assert T.decode(torch.tensor(t, dtype=torch.float64)).tolist() == [b - k * (b - a) / p for k in k_hand]


# ---------------------------------------------------------------------------------------------- the log code

def hand_log_parts(a, b):
    """Per sign part (+, -): (M, least) of each range, the documented magnitudes of the part."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return {+1: (np.maximum(b, 0), np.maximum(a, 0)), -1: (np.maximum(-a, 0), np.maximum(-b, 0))}


def hand_log_quantize(x, a, b, r, p):
    """(value, tick, distance of u*scale from a midpoint) of the log code, in float64, from the docs:
    v = clip(x, a, b); sigma its sign; M, l its part's magnitudes; e = r M; du = log((M + e)/(l + e));
    k = clamp(rint((log(M + e) - log(|v| + e)) p/du), 0, p); value sigma (exp(log(M + e) - k du/p) - e);
    0 stays 0 (its tick: p, silent)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), x.shape)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), x.shape)
    v = np.minimum(np.maximum(x, a), b)
    sig = np.where(v < 0, -1.0, 1.0)
    parts = hand_log_parts(a, b)
    M = np.where(v < 0, parts[-1][0], parts[1][0])
    least = np.where(v < 0, parts[-1][1], parts[1][1])
    M = np.where(M > 0, M, 1.0)
    e = r * M
    du = np.log((M + e) / (least + e))
    u = (np.log(M + e) - np.log(np.abs(v) + e)) * (p / du)
    k = np.clip(np.rint(u), 0, p)
    q = sig * (np.exp(np.log(M + e) - k * du / p) - e)
    k = np.where(v == 0, p, k)
    return np.where(v == 0, 0.0, q), k, np.abs(np.abs(u - np.floor(u)) - 0.5), e, du


LOG_RANGES = [(0.0, 1.0), (0.5, 3.0), (1.0, 2.0), (-3.0, -1.0), (-2.0, 0.0), (-2.0, 3.0), (-1000.0, 5.0),
              (0.207, 1.832), (-0.25, 7.5)]


@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_log_code_values_by_hand(dtype, backend):
    """log_ticks (one range, and S ranges of different widths packed) against the documented log code.
    Tolerances: float64, 1e-12 of |x| + e (float rounding of log and exp; a tick is >= 1e-4 of it here);
    float32, 2e-5 of |x| + e (float32 log/exp, the C loop's vectorized libm: still far below a tick, du/p >=
    1e-3 of it). Where u*scale lies within the dtype's rounding of a midpoint (1e-9 / 1e-3 of a tick) the
    two neighbouring ticks are both right: there one tick, (|x| + e)(exp(du/p) - 1), is allowed. The clip
    count is exact (x < lo or x > hi in the dtype)."""
    _backend_or_skip(backend)
    nd = NP[dtype]
    tol, near = (1e-12, 1e-9) if dtype == torch.float64 else (2e-5, 1e-3)
    r = 0.05
    for i, (a, b) in enumerate(LOG_RANGES):
        for p in (3, 16, 256):
            d = b - a
            lo_b, hi_b = a - 0.01 * d, b + 0.01 * d
            parts = hand_log_parts(a, b)
            specials = [a, b, 0.0, parts[1][1], -parts[-1][1], lo_b, hi_b, a - d, b + d, (a + b) / 2,
                        np.nextafter(a, np.inf), np.nextafter(b, -np.inf)]
            x = np.concatenate([np.array(specials), random_values(i * 7 + p, 500, a, b, p, np.float64)]).astype(nd)
            pack = native.log_pack(a, b, r, p, (lo_b, hi_b), dtype=dtype)
            out, clipped = native.log_ticks(torch.from_numpy(x.copy()), pack, p, backend=backend)
            assert clipped == hand_outside(x, lo_b, hi_b, nd) >= 2
            # the hand code sees what the library sees: the values and the range in the dtype
            q, k, mid, e, du = hand_log_quantize(x.astype(np.float64), float(nd(a)), float(nd(b)), r, p)
            err = np.abs(out.numpy().astype(np.float64) - q)
            scale = np.abs(q) + e
            one_tick = scale * np.expm1(du / p) * 1.01 + 1e-300
            ok = (err <= tol * scale) | ((mid < near) & (err <= one_tick))
            assert ok.all(), (a, b, p, x[~ok][:4], out.numpy()[~ok][:4], q[~ok][:4])
            assert (mid >= near).mean() > 0.9   # the hand ticks decide almost everywhere
            # 0 stays exactly 0
            assert out.numpy()[2] == 0.0 or not (a <= 0 <= b)
    # S ranges of different widths in one pack: each value on its own range's ticks
    a = np.array([lr[0] for lr in LOG_RANGES])
    b = np.array([lr[1] for lr in LOG_RANGES])
    p = 64
    x = np.concatenate([np.stack([a, b, (a + b) / 2, np.maximum(a, 0), np.minimum(b, 0), a - 1, b + 1]),
                        random_values(3, 200 * len(a), 0, 1, p, np.float64).reshape(-1, len(a)) * (b - a) + a])
    x = x.astype(nd)
    pack = native.log_pack(torch.from_numpy(a), torch.from_numpy(b), r, p, (torch.from_numpy(a), torch.from_numpy(b)),
                           dtype=dtype)
    out, clipped = native.log_ticks(torch.from_numpy(x.copy()), pack, p, backend=backend)
    assert clipped == hand_outside(x, a.astype(nd), b.astype(nd), nd) >= 2 * len(a)
    q, k, mid, e, du = hand_log_quantize(x.astype(np.float64), a.astype(nd).astype(np.float64),
                                         b.astype(nd).astype(np.float64), r, p)
    err = np.abs(out.numpy().astype(np.float64) - q)
    scale = np.abs(q) + e
    ok = (err <= tol * scale) | ((mid < near) & (err <= scale * np.expm1(du / p) * 1.01))
    assert ok.all(), (x[~ok][:4], out.numpy()[~ok][:4], q[~ok][:4])
    zero = np.minimum(np.maximum(x, a.astype(nd)), b.astype(nd)) == 0
    assert zero.sum() >= 4 and (out.numpy()[zero] == 0).all()   # 0 stays exactly 0 (documented)
    # dynamics.quantize_log_values is the same code with per-neuron ranges
    qv = quantize_log_values(torch.from_numpy(x.copy()), torch.from_numpy(a), torch.from_numpy(b), r, p)
    err = np.abs(qv.numpy().astype(np.float64) - q)
    assert ((err <= tol * scale) | ((mid < near) & (err <= scale * np.expm1(du / p) * 1.01))).all()


@pytest.mark.parametrize("a, b", [(0.5, 3.0), (1.0, 2.0), (-3.0, -1.0), (-2.0, 3.0), (0.0, 1.0), (-7.5, 0.25)])
def test_log_pack_spreads_p_ticks_from_the_least_to_the_largest_magnitude(a, b):
    """log_pack's fields against the documented constants: for each part that holds values, uhi = log(M + e),
    e = r M, scale = p/du and step = du/p with du = log((M + e)/(least + e)) (least = the part's smallest
    magnitude, not 0, for a range away from 0). 1e-14 relative: the same float64 formulas, libm's log
    against torch's."""
    r, p = 0.02, 100
    pack = native.log_pack(a, b, r, p, (a - 1, b + 1)).numpy()
    assert pack[:4].tolist() == [a, b, a - 1, b + 1]
    for sign, at in ((1, 4), (-1, 8)):
        M, least = max(sign * b, sign * a, 0.0), max(min(sign * a, sign * b), 0.0)
        if M == 0:
            continue   # no value in this part
        e = r * M
        du = math.log((M + e) / (least + e))
        want = [math.log(M + e), e, p / du, du / p]
        np.testing.assert_allclose(pack[at:at + 4], want, rtol=1e-14, atol=0)
        # a value of least magnitude is the last tick (p), the largest one the first (0)
        q = quantize_log_values(torch.tensor([sign * least, sign * M], dtype=torch.float64), a, b, r, p)
        np.testing.assert_allclose(q.numpy(), [sign * least, sign * M], rtol=1e-12, atol=1e-14)


def test_log_code_spikes_with_per_neuron_ranges_by_hand():
    """log_code_spikes (exact values) with one range per neuron: a value fires iff its magnitude is above its
    part's least magnitude (|x| > max(a, 0) for x > 0, |x| > max(-b, 0) for x < 0); 0 never fires. Exact."""
    a = torch.tensor([0.5, -3.0, -2.0, 0.0, -1.0], dtype=torch.float64)
    b = torch.tensor([3.0, -1.0, 3.0, 1.0, 0.0], dtype=torch.float64)
    rng = np.random.default_rng(4)
    an, bn = a.numpy(), b.numpy()
    x = np.concatenate([np.stack([an, bn, np.zeros(5), np.maximum(an, 0), np.minimum(bn, 0),
                                  np.nextafter(np.maximum(an, 0), np.inf), np.nextafter(np.minimum(bn, 0), -np.inf)]),
                        rng.uniform(an, bn, size=(50, 5))])
    x[10, 3] = 0.0
    fires = ((x > 0) & (x > np.maximum(an, 0))) | ((x < 0) & (-x > np.maximum(-bn, 0)))
    assert log_code_spikes(torch.from_numpy(x), a, b) == int(fires.sum())
    for s in range(5):
        assert log_code_spikes(torch.from_numpy(x[:, s].copy()), float(an[s]), float(bn[s])) == int(fires[:, s].sum())


# ---------------------------------------------------------------------------------------------- a layer's counts

def _pop(a, b, code="linear"):
    pop = Population("x")
    pop.set_range(a, b)
    if code == "log":
        pop.set_code("log", 0.05)
    return pop


@pytest.mark.parametrize("code", ["linear", "log"])
@pytest.mark.parametrize("mode", ["exact", "quantized", "kernel"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_a_layers_clipping_count_allows_the_float_rounding_of_its_dtype(dtype, mode, code, env_backend):
    """A layer counts (ctx.clipped, and stats.clipped when recording) the neurons beyond [a, b] by more than tol = slack(dtype) * max(1, |a|, |b|),
    slack 1e-9 in float64 and 1e-5 in float32, on both sides, in every mode and code, in the C loops and the
    torch ones. Values at 0.5 tol beyond an end are float rounding (not counted); at 2 tol they clip. The
    range [-1000, 5] makes the slack scale with |a| (0.01 in float32), not with |b|."""
    nd = NP[dtype]
    for a, b in [(-1000.0, 5.0), (0.25, 0.5), (-3.0, -1.0)]:
        tol = SLACK[dtype] * max(1.0, abs(a), abs(b))
        V = np.array([[b + 0.5 * tol, b + 2 * tol, a - 0.5 * tol, a - 2 * tol, a, b, (a + b) / 2, b + 100 * tol]],
                     dtype=nd)
        want = int(((V.astype(np.float64) < a - tol) | (V.astype(np.float64) > b + tol)).sum())
        assert want == 3
        pop = _pop(a, b, code)
        ctx = Ctx(mode=mode, precision=None if mode == "exact" else 64, record=True)
        with torch.no_grad():
            pop.emit(torch.from_numpy(V.copy()), ctx)
        assert ctx.clipped.get("x", (0, 0))[0] == want, (a, b, ctx.clipped)
        # the report's count (recording: stats.clipped, the conversion report's clip rate) uses the same slack
        assert pop.stats.clipped == want, (a, b, pop.stats.clipped)
    # per-neuron ranges (envelope scale 1: each neuron's slack is tol = slack(dtype)), one column each
    ra = np.array([0.0, 0.25, -1.0, -0.5])
    rb = np.array([1.0, 0.5, -0.5, 0.75])
    tol = SLACK[dtype]
    V = np.stack([rb + 0.5 * tol, rb + 2 * tol, ra - 0.5 * tol, ra - 2 * tol, ra, rb]).astype(nd)
    pop = _pop(torch.from_numpy(ra), torch.from_numpy(rb), code)
    ctx = Ctx(mode=mode, precision=None if mode == "exact" else 64)
    with torch.no_grad():
        pop.emit(torch.from_numpy(V.copy()), ctx)
    assert ctx.clipped.get("x", (0, 0))[0] == 2 * len(ra)


# ---------------------------------------------------------------------------------------------- found bugs

# A neuron at tick p is silent (documented: tick p is no spike, the loop's own count says so), but its
# quantized value b - p*step (log code: exp(log(M + e) - du) - e) is a few ulps off a (the part's least
# magnitude). The layer's spike count compared that value with a and counted silent neurons as spikes, and
# LayerTiming.encode gave it a time an ulp before T_end (found by this file; fixed: the count compares half a
# tick above a, and encode(values, p) reads each quantized value's tick).


@pytest.mark.parametrize("mode", ["quantized", "kernel"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_a_layers_spike_count_leaves_out_the_neurons_at_tick_p(dtype, mode):
    """Quantized mode, range [1.294, 4.915], p = 7: V = a and V below a are at tick p (silent); b and the
    middle fire. The recorded spikes (stats.spikes, the firing rate of the report and of count_ops) must be
    the hand count of ticks < p, which is also tick_values' own spike count."""
    a, b, p = 1.294, 4.915, 7
    nd = NP[dtype]
    V = np.array([[a, a - 1.0, b, (a + b) / 2]], dtype=nd)
    _, k = hand_tick_values(V, b, p / (b - a), (b - a) / p, p, nd)
    want = int((k < p).sum())
    assert want == 2
    assert native.tick_values(torch.from_numpy(V.copy()), b, p / (b - a), (b - a) / p, p)[1] == want
    pop = _pop(a, b)
    ctx = Ctx(mode=mode, precision=p, record=True)
    with torch.no_grad():
        pop.emit(torch.from_numpy(V.copy()), ctx)
    assert pop.stats.spikes == want


@pytest.mark.parametrize("dtype, a, b, p, values, want", [
    (torch.float64, 0.207, 1.832, 3, [0.207, 0.1, 1.0], 1),                    # one-signed: least 0.207 silent
    (torch.float64, -2.0, 3.0, 16, [1e-12, -1e-12, 0.0, 2.0], 1),             # both signs: tiny values at tick p
    (torch.float32, -2.0, 3.0, 16, [1e-12, -1e-12, 0.0, 2.0], 1),
    # a range from 0: tick p of the + part comes out as -3e-8 in float32, a value its empty - part must not fire
    (torch.float32, 0.0, 3.0, 16, [1e-12, 1e-6, 0.0, 2.0], 1),
    (torch.float64, 0.0, 3.0, 16, [1e-12, 1e-6, 0.0, 2.0], 1),
], ids=["f64-least", "f64-tiny", "f32-tiny", "f32-from-0", "f64-from-0"])
def test_a_log_coded_layers_spike_count_leaves_out_the_neurons_at_tick_p(dtype, a, b, p, values, want):
    """Quantized mode, log code (r = 0.05): the hand count of values whose tick is < p (0 and tick p silent)."""
    q, k, *_ = hand_log_quantize(np.array(values), a, b, 0.05, p)
    assert int((k < p).sum()) == want
    pop = _pop(a, b, "log")
    ctx = Ctx(mode="quantized", precision=p, record=True)
    with torch.no_grad():
        pop.emit(torch.tensor([values], dtype=dtype), ctx)
    assert pop.stats.spikes == want


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_quantized_values_get_their_ticks_times_and_tick_p_none(dtype):
    """quantize_values(a) is tick p (documented: k = p means no spike), though its value is a few ulps off a.
    LayerTiming.encode(values, p) (and Population.spike_times(..., p=p)) gives each quantized value its tick's
    time T_emit + k delta/p exactly (hand: k from the hand rounding), tick p inf, on a non-dyadic range."""
    a, b, p = 1.294, 4.915, 7
    timing = LayerTiming(a, b, delta=1.0, T_emit=3.0)
    x = torch.tensor([a, a - 1.0, b, b + 1.0, 2.0, 3.3, 4.0], dtype=dtype)
    q = quantize_values(x, a, b, p)
    nd = NP[dtype]
    _, k = hand_tick_values(x.numpy()[None, :], b, p / (b - a), (b - a) / p, p, nd)
    k = k[0].astype(np.int64)
    want = np.where(k < p, 3.0 + k * (1.0 / p), np.inf)
    got = timing.encode(q, p)
    assert np.array_equal(got.numpy().astype(np.float64), want.astype(nd).astype(np.float64)), (got, want)
    assert torch.isinf(got[:2]).all() and got[2] == 3.0          # a and below: silent; b: at T_emit
    pop = _pop(a, b)
    pop.window = 3
    assert torch.equal(pop.spike_times(q, p=p), got)
    with pytest.raises(ValueError, match="precision p"):
        timing.encode(q, 0)
