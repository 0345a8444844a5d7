"""The log code's spike count and tick grid (the fourth blind mutation audit's survivors in the numeric layer,
docs/mutation.md): a value at its part's least magnitude is silent, and a one-signed range that does not
reach 0 spreads its p ticks over log(least + e) .. log(M + e), so the rounding error stays within the
documented (|x| + e)(exp(du/2p) - 1), du = log((M + e)/(least + e))."""
from __future__ import annotations

import math

import pytest
import torch

from ttfs_symbolic.numeric.dynamics import log_code_spikes, quantize_log_values

D = torch.float64


@pytest.mark.parametrize("values, a, b, spikes", [
    ([0.0, 0.0, 1.0, -1.5, 2.5], -2.0, 3.0, 3),   # both signs: 0 fires in neither part
    ([0.5, 0.5, 1.0, 3.0], 0.5, 3.0, 2),          # positive, from 0.5: the least magnitude is silent
    ([-3.0, -0.5, -0.5], -3.0, -0.5, 1),          # negative, to -0.5
    ([0.0, 0.2, 0.0], 0.0, 1.0, 1),
])
def test_a_value_at_its_parts_least_magnitude_is_silent(values, a, b, spikes):
    assert log_code_spikes(torch.tensor(values, dtype=D), a, b) == spikes


@pytest.mark.parametrize("a, b", [(1.0, 2.0), (-2.0, -1.0), (0.01, 50.0)])
@pytest.mark.parametrize("p", [16, 1024])
def test_a_range_away_from_zero_spends_its_ticks_between_its_ends(a, b, p):
    r = 0.01
    x = torch.linspace(a, b, 4001, dtype=D)
    q = quantize_log_values(x, a, b, r, p)
    M, least = max(abs(a), abs(b)), min(abs(a), abs(b))
    e = r * M
    du = math.log((M + e) / (least + e))
    bound = (x.abs() + e) * math.expm1(du / (2 * p)) * (1 + 1e-9) + 1e-15
    assert bool(((q - x).abs() <= bound).all())
    # the grid is that fine, not coarser: the largest error reaches most of the bound somewhere
    assert float(((q - x).abs() / bound).max()) > 0.9
    assert q[0] == pytest.approx(a, rel=1e-12) and q[-1] == pytest.approx(b, rel=1e-12)
