"""Calibration statistics a user's ranges come from: sigma ranges per channel, margins from held-out data,
the least-error range, merged moments (the blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ttfs_symbolic.spiking.population import Population
from ttfs_symbolic.spiking.stats import OPTIMAL_TRIMS, PopStats, optimal_range

D = torch.float64
# two channels over 4 rows: channel 0 = 0, 4, 0, 4 (mean 2, std 2), channel 1 = 10, 14, 10, 14 (mean 12, std 2)
ROWS = torch.tensor([[0.0, 10.0], [4.0, 14.0], [0.0, 10.0], [4.0, 14.0]], dtype=D)


def _per_channel(values, sigmas, margin=0.0):
    p = Population("x")
    p.range_kind = "channel"
    p.observe(values)
    p.finalize(sigmas=sigmas, margin=margin)
    return p


@pytest.mark.parametrize("sigmas, a, b", [
    (2.0, [2 - 4, 12 - 4], [2 + 4, 12 + 4]),   # mean -+ 2 std lies outside the observed [0, 4], [10, 14]
    (1.0, [0, 10], [4, 14]),                   # mean -+ 1 std = the observed extremes
    (0.5, [0, 10], [4, 14]),                   # inside them: the observed extremes stay
    (0.0, [0, 10], [4, 14]),
])
def test_per_channel_range_is_observed_extremes_widened_by_sigmas_at_both_ends(sigmas, a, b):
    p = _per_channel(ROWS, sigmas)
    assert p.fine_a.reshape(-1).tolist() == pytest.approx(a, abs=1e-12)
    assert p.fine_b.reshape(-1).tolist() == pytest.approx(b, abs=1e-12)


def test_margin_needed_is_the_channel_that_needs_most():
    p = _per_channel(ROWS, sigmas=0.0)   # channel ranges [0, 4] and [10, 14], widths 4
    held = Population("x")
    held.range_kind = "channel"
    # held-out data: channel 0 within [1, 3] (needs nothing), channel 1 up to 16: (16 - 14) / 4 = 0.5
    held.observe(torch.tensor([[1.0, 11.0], [3.0, 16.0]], dtype=D))
    assert p.margin_needed(held.stats) == pytest.approx(0.5, abs=1e-12)
    # below channel 0's low end by 3: 3 / 4 = 0.75 beats channel 1's 0.5
    held.observe(torch.tensor([[-3.0, 12.0]], dtype=D))
    assert p.margin_needed(held.stats) == pytest.approx(0.75, abs=1e-12)
    # with that margin no held-out value falls outside its channel's range
    q = _per_channel(ROWS, sigmas=0.0, margin=0.75)
    assert q.fine_a.reshape(-1).tolist() == pytest.approx([-3.0, 7.0], abs=1e-12)
    assert q.fine_b.reshape(-1).tolist() == pytest.approx([7.0, 17.0], abs=1e-12)


def _error(x, a, b, p):
    clip = np.clip(x, a, b) - x
    return float(np.mean(clip * clip)) + ((b - a) / p) ** 2 / 12.0


def test_optimal_range_clips_a_far_outlier_when_its_ticks_cost_more():
    # 9999 values in [0, 1] and one at 100, p = 16:
    #   keep it:  rounding ((100 - 0)/16)^2 / 12 = 3.255, no clipping
    #   clip it:  (100 - ~1)^2 / 10000 = 0.98 clipping, rounding (1/16)^2/12 = 3.3e-4
    x = np.concatenate([np.random.default_rng(0).random(9999), [100.0]])
    lo, hi = float(x.min()), float(x.max())
    a, b = optimal_range(x, 16, lo, hi)
    assert _error(x, lo, hi, 16) == pytest.approx(100 ** 2 / 16 ** 2 / 12, rel=1e-3)
    assert 0.0 <= a < 0.1 and 0.9 < b < 1.1   # the outlier clipped (the low end may trim a little too)
    assert _error(x, a, b, 16) == pytest.approx(0.98, abs=0.01)
    # the least error of every candidate range (quantile trims at both ends), computed here
    qs = lambda t, up: (hi if up else lo) if t == 0 else float(np.quantile(x, 1 - t if up else t))  # noqa: E731
    best = min(_error(x, qs(tl, False), qs(tu, True), 16) for tl in OPTIMAL_TRIMS for tu in OPTIMAL_TRIMS)
    assert _error(x, a, b, 16) == pytest.approx(best, rel=1e-12)


def test_merged_moments_equal_the_variance_of_all_rows():
    a = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=D)              # means 1, 2
    b = torch.tensor([[10.0, -5.0], [12.0, -7.0], [14.0, -3.0]], dtype=D)   # means 12, -5
    st = PopStats()
    for rows in (a, b):
        n = rows.shape[0]
        s1 = rows.sum(0)
        st.add_moments(rows.amin(0), rows.amax(0), s1, ((rows - s1 / n) ** 2).sum(0), n)
    both = torch.cat([a, b])
    assert st.rows == 5
    assert torch.allclose(st.sum_t, both.sum(0))
    assert torch.allclose(st.m2_t / 5, both.var(0, unbiased=False), rtol=1e-12, atol=0)
    # by hand, channel 0: values 0, 2, 10, 12, 14, mean 7.6, m2 = 57.76 + 31.36 + 5.76 + 19.36 + 40.96 = 155.2
    assert float(st.m2_t[0]) == pytest.approx(155.2, rel=1e-12)


def test_sigma_ranges_do_not_depend_on_how_calibration_splits_the_batches():
    shift = torch.tensor([0.0, 1.0], dtype=D)
    first, second = ROWS[:2] - shift, ROWS[2:] + shift   # different means in each batch
    two = Population("x")
    two.range_kind = "channel"
    two.observe(first)
    two.observe(second)
    whole = Population("x")
    whole.range_kind = "channel"
    whole.observe(torch.cat([first, second]))
    two.finalize(sigmas=2.0)
    whole.finalize(sigmas=2.0)
    assert torch.allclose(two.fine_a, whole.fine_a, rtol=0, atol=1e-12)
    assert torch.allclose(two.fine_b, whole.fine_b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("end, b, need", [("bound", 100.0, 0.0), ("calibrated", 4.0, 0.25)])
def test_variance_end_bound_or_calibrated(end, b, need):
    """A variance with a proven bound (folded rsqrt): ``variance_end="bound"`` ends it at the bound, which no
    held-out value can pass (margin 0); ``calibrated`` at the calibration's largest value, 4, which a
    held-out 5 passes by a quarter of it: a scale's ends are widened relatively (its least divided by
    1 + margin, its largest times it), so the margin then holds the 5. On the linear code a folded
    variance starts at the calibration's least, 1 (not at its bound 0: the folded rsqrt's range, the image
    of this one, would reach eps^(-1/2); tests/spiking/test_folded_variance_range.py)."""
    def var_pop():
        p = Population("v", kind="ln_var", lower_bound=0.0)
        p.scale_low = True
        p.upper_fn = lambda: 100.0
        p.range_kind = "channel"
        return p

    p = var_pop()
    p.observe(torch.tensor([[1.0], [2.0], [4.0]], dtype=D))
    p.finalize(sigmas=0.0, variance_end=end)
    assert p.code == "linear"
    assert (float(p.fine_a.min()), float(p.fine_b.max())) == pytest.approx((1.0, b))
    held = var_pop()
    held.observe(torch.tensor([[3.0], [5.0]], dtype=D))
    assert p.margin_needed(held.stats) == pytest.approx(need, abs=1e-12)
    p.finalize(sigmas=0.0, margin=need, variance_end=end)
    assert float(p.fine_b.max()) == pytest.approx(100.0 if end == "bound" else 5.0)
