"""Calibration statistics and clipping counts a user relies on (the fourth blind mutation audit's survivors in
the spiking layers, docs/mutation.md): a percentile trims both tails, the signed product's shift is chosen on
the same draw every run, the clipping count's slack is that of the dtype, LayerNorm's variance bound squares
each centred channel's farther end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ttfs_symbolic.spiking.product as product_module
from ttfs_symbolic.spiking import Ctx, Population, Product, SpikingLayerNorm, SpikingLinear
from ttfs_symbolic.spiking.stats import seed_samples

D = torch.float64


def test_a_percentile_trims_the_lower_tail_as_well_as_the_upper():
    """calibrate(percentile=98): 1% of the values far below the rest and 1% far above: the range is the
    2nd to the 98th percentile of the samples, so neither tail's outliers take its ends."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4000, generator=g, dtype=D)
    x[:40] = -1000.0
    x[40:80] = 1000.0
    pop = Population("x")
    pop.observe(x)
    pop.finalize(percentile=98.0)
    samples = np.concatenate(pop.stats.samples)
    assert pop.stats.lo == -1000.0 and pop.stats.hi == 1000.0
    assert pop.a == pytest.approx(float(np.percentile(samples, 2.0)), abs=1e-12)
    assert pop.b == pytest.approx(float(np.percentile(samples, 98.0)), abs=1e-12)
    assert 0.0 <= pop.a < 0.1 and 0.9 < pop.b <= 1.0


def _signed_product():
    seed_samples(0)   # the reservoirs' draw, as convert() seeds it
    g = torch.Generator().manual_seed(5)
    x1 = torch.randn(3, 4, 16, generator=g, dtype=D)
    x2 = torch.randn(3, 16, 4, generator=g, dtype=D) * 0.3 + 0.1
    p1, p2 = Population("x1"), Population("x2")
    for p, x in ((p1, x1), (p2, x2)):
        p.observe(x)
        p.finalize()
    return Product("prod", p1, p2, Population("out", kind="product_out"), matmul=True, construction="signed")


def test_the_signed_shift_is_chosen_on_the_same_draw_every_run(monkeypatch):
    """The shift r is the least of a proxy error on factor samples drawn with replacement: the draw is
    seeded, so the same model and data give the same r (and the same conversion file) every run, and one
    process the r of N (torchrun)."""
    seen = []
    real = product_module.signed_error_proxy

    def spy(r, x1, x2, *rest):
        seen.append((x1.copy(), x2.copy()))
        return real(r, x1, x2, *rest)

    monkeypatch.setattr(product_module, "signed_error_proxy", spy)
    prod = _signed_product()
    prod.choose_shift()
    first, r1 = list(seen), prod.r
    seen.clear()
    _signed_product().choose_shift()
    assert len(first) == len(seen) > 1
    for (a1, a2), (b1, b2) in zip(first, seen):
        assert np.array_equal(a1, b1) and np.array_equal(a2, b2)
    assert prod.r == r1


def _identity_layer(x):
    lin = SpikingLinear("lin", torch.eye(x.shape[-1], dtype=D), None)
    with torch.no_grad():
        lin(x, Ctx(mode="calibrate"))
    lin.out.finalize()
    return lin


@pytest.mark.parametrize("dtype, step, counted", [
    (torch.float64, 1e-7, True),     # float64: 1e-7 of the range's end is a real clip (slack 1e-9)
    (torch.float64, 1e-10, False),   # within float64's slack
    (torch.float32, 2e-6, False),    # float32: a few ulps of rounding are not a clip (slack 1e-5)
    (torch.float32, 1e-4, True),
])
def test_the_clipping_count_allows_the_rounding_of_the_dtype_only(dtype, step, counted):
    x = torch.tensor([[0.5, -2.0, 3.0, 1.0]], dtype=D)
    lin = _identity_layer(x)
    assert (lin.out.a, lin.out.b) == (-2.0, 3.0)
    y = x.clone()
    y[0, 2] = 3.0 * (1 + step)
    ctx = Ctx(mode="exact")
    with torch.no_grad():
        lin(y.to(dtype), ctx)
    assert ctx.clipped.get("lin", (0, 4))[0] == (1 if counted else 0)


def test_the_variance_bound_squares_each_channels_farther_end():
    """Channels that reach further below 0 than above: the proven variance bound (variance_end='bound')
    is the mean over channels of max(a_c^2, b_c^2), here of the low ends."""
    n = 4
    src = Population("src", fixed_range=(-10.0, 10.0))
    ln = SpikingLayerNorm("ln", src, None, None, 1e-6, n)
    ln.centred.range_kind = "channel"
    ln.centred.set_range(torch.tensor([-3.0, -4.0, -1.0, -2.0], dtype=D), torch.tensor([1.0, 0.5, 2.0, 1.0], dtype=D))
    assert ln.variance_bound() == pytest.approx((9.0 + 16.0 + 4.0 + 4.0) / 4, rel=1e-12)
