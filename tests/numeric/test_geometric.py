"""numeric.geometric: layer I of the multiplication network read from a geometric tick table.

The factorized C loop (``csrc/geometric_body.h``) against the gather of :func:`native.product_matmul`
(C and its torch reference): in float64 the same sums (the ticks are the same except at exact ties of
the rounding, which random data does not hit) and the same spike counts; in float32 a tick may differ
where ``u1 - v2`` lies within float rounding of a half tick (the two paths round the same potential
differently), so a few outputs differ by a tick's worth of one term and the rest by rounding.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ttfs_symbolic.numeric import dynamics, geometric, native
from ttfs_symbolic.spiking.kernels import input_kernel

needs_c = pytest.mark.skipif(not native.available_for(torch.zeros(1)), reason="no C compiler: no factorized loop")


def _layer(seed, batch, m, k, n, p, dtype, l2_batch=None, M1=3.0, M2=2.0):
    """Layer I's terms of a signed product: l = log(|x| + e) of two factors with ranges [-M1, M1], [-M2, M2]
    (u1 = (b - l1) scale lies within [0, p] only where log(M2 + e2) >= 0 >= log(e2): other M put it, and
    v2, anywhere)."""
    g = torch.Generator().manual_seed(seed)
    r = 0.02
    e1, e2 = r * M1, r * M2
    x1 = (torch.rand(*batch, m, k, generator=g, dtype=torch.float64) * 2 - 1) * M1
    x2 = (torch.rand(*(batch if l2_batch is None else l2_batch), k, n, generator=g, dtype=torch.float64) * 2 - 1) * M2
    l1, l2 = torch.log(x1.abs() + e1), torch.log(x2.abs() + e2)
    hi = math.log(M1 + e1) + math.log(M2 + e2)
    d = hi - math.log(e1) - math.log(e2)
    T64 = torch.exp(hi - torch.arange(p + 1, dtype=torch.float64) * (d / p))
    return x1.to(dtype), x2.to(dtype), l1.to(dtype), l2.to(dtype), T64, hi, p / d


def test_ratio_of_the_exp_tables():
    """Both of layer II's tables are geometric: the closed form (quantized) and the kernel integral
    (kernel mode, eq. 30); a table that is not, or has an entry <= 0, is not taken for one."""
    a, b, p = -7.8, 0.4, 1024
    closed = torch.exp(b - torch.arange(p + 1, dtype=torch.float64) * ((b - a) / p))
    kexp = input_kernel("exp_input")
    kernel = torch.as_tensor(dynamics.input_table(kexp, a, b, 1.0, p), dtype=torch.float64).flip(0) + kexp.f_at(a)
    for T in (closed, kernel):
        T0, lng = geometric.ratio(T)
        assert T0 == pytest.approx(math.exp(b), rel=1e-14)
        assert lng == pytest.approx(-(b - a) / p, rel=1e-12)
    assert geometric.ratio(torch.linspace(2.0, 1.0, p + 1, dtype=torch.float64)) is None
    bent = closed.clone()
    bent[p // 2] *= 1 + 1e-9
    assert geometric.ratio(bent) is None
    assert geometric.ratio(closed.float()) is not None   # float32's rounding is allowed for
    assert geometric.ratio(torch.cat([closed[:-1], torch.zeros(1, dtype=torch.float64)])) is None
    assert geometric.ratio(closed[:1]) is None


def _both(l1, l2, T64, hi, scale, p, dtype, signed, count=True):
    T = T64.to(dtype)
    s, f = geometric.product_matmul(l1, l2, T, hi, scale, p, count=count, signed=signed, geo=geometric.ratio(T64))
    ref, f_ref = native.product_matmul(l1, l2, T, hi, scale, p, count=count, signed=signed)
    return s, f, ref, f_ref


@needs_c
@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 31), batch=st.sampled_from([(), (1,), (3,), (2, 2)]), m=st.integers(1, 11),
       k=st.integers(1, 40), n=st.integers(1, 75), p=st.sampled_from([16, 256, 1024]),
       signs=st.sampled_from(["x", "x1", "x2", "const", None]), broadcast=st.booleans(), count=st.booleans(),
       M1=st.sampled_from([3.0, 0.05, 40.0]), M2=st.sampled_from([2.0, 0.02, 60.0]))
def test_float64_sums_and_counts_equal_the_gather(seed, batch, m, k, n, p, signs, broadcast, count, M1, M2):
    """float64: the factorized sums equal the gathered ones to rounding, the counts exactly; every row
    count (the four-row blocks and their remainder) and column count (the 32-column blocks, masked)."""
    x1, x2, l1, l2, T64, hi, scale = _layer(seed, batch, m, k, n, p, torch.float64,
                                            l2_batch=(1,) * len(batch) if broadcast else None, M1=M1, M2=M2)
    signed = {"x": {"x1": x1, "x2": x2}, "x1": {"x1": x1, "s2": -1}, "x2": {"s1": -1, "x2": x2},
              "const": {"s1": -1, "s2": 1}, None: None}[signs]
    s, f, ref, f_ref = _both(l1, l2, T64, hi, scale, p, torch.float64, signed, count)
    assert s.shape == ref.shape
    assert f == f_ref and (f > 0 or not count)
    bound = k * float(T64.max()) * 1e-12
    assert float((s - ref).abs().max()) <= bound


@needs_c
@pytest.mark.parametrize("shape,M", [((24, 197, 64, 197), (3.0, 2.0)), ((24, 197, 197, 64), (3.0, 2.0)),
                                     ((2, 5, 33, 70), (3.0, 2.0)), ((3, 21, 40, 50), (0.05, 0.3)),
                                     ((3, 21, 40, 50), (40.0, 0.02))])
def test_float32_differs_only_by_ticks_at_rounding_ties(shape, M):
    """float32: the factorized and the gathered sums agree to rounding except where a term's potential
    lies within float rounding of a half tick: few outputs, each by about one tick of one term."""
    B, m, k, n = shape
    x1, x2, l1, l2, T64, hi, scale = _layer(7, (B,), m, k, n, 1024, torch.float32, M1=M[0], M2=M[1])
    s, f, ref, f_ref = _both(l1, l2, T64, hi, scale, 1024, torch.float32, {"x1": x1, "x2": x2})
    tick = float(T64.max()) * (1 - math.exp(-1 / scale))   # the largest change of a term by one tick
    diff = (s - ref).abs()
    rounding = k * 4 * torch.finfo(torch.float32).eps * float(T64.max())
    assert float(diff.max()) <= 2 * tick + rounding
    assert float((diff > rounding).float().mean()) < 0.02
    assert abs(f - f_ref) <= 1e-4 * B * m * k * n


@needs_c
def test_a_tick_outside_the_table_falls_back_to_the_gather():
    """Where some u1 - v2 leaves [0, p] (a term outside layer I's range, which the clamp must catch),
    the factorization does not apply: the result is the gather's, exactly."""
    x1, x2, l1, l2, T64, hi, scale = _layer(3, (2,), 5, 6, 7, 256, torch.float32)
    l1 = l1.clone()
    l1[0, 0, 0] = hi + 1.0   # far above the range: its ticks would be negative
    s, f, ref, f_ref = _both(l1, l2, T64, hi, scale, 256, torch.float32, {"x1": x1, "x2": x2})
    assert torch.equal(s, ref) and f == f_ref


@needs_c
def test_no_ratio_is_the_gather_and_nan_is_refused():
    x1, x2, l1, l2, T64, hi, scale = _layer(4, (2,), 5, 6, 7, 64, torch.float32)
    T = T64.float()
    s, f = geometric.product_matmul(l1, l2, T, hi, scale, 64, geo=None)
    ref, f_ref = native.product_matmul(l1, l2, T, hi, scale, 64)
    assert torch.equal(s, ref) and f == f_ref
    l1[1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        geometric.product_matmul(l1, l2, T, hi, scale, 64, geo=geometric.ratio(T64))
