"""A piecewise-linear increasing h (leaky ReLU): h^-1 is found numerically, and psi has a kink at the time
where h' jumps, which SymPy cannot locate through the numeric h^-1. Theorem 4.3's proof and ttfs verify's
clipping check split their quadrature there (:func:`theorem_4_3.psi_kinks`); without the split the
30-digit proof failed at 1e-2 and the float64 check at 4e-6."""
from __future__ import annotations

import mpmath
import pytest

from ttfs_symbolic import derive_output
from ttfs_symbolic.symbolic.parse import parse_formula
from ttfs_symbolic.symbolic.theorem_4_3 import psi_kinks
from ttfs_symbolic.verify import check_output_transform


def test_psi_kink_of_leaky_relu_is_where_h_prime_jumps():
    """h = Max(x, x/100) on [-1, 1], delta = 1: tau = 1/2, h' jumps at x = 0 = h(0), so s = tau (b - 0) = 1/2;
    on [-1, 3], tau = 1/4 and s = 3/4; on [0.5, 1] the kink is outside the range: none."""
    assert psi_kinks(_h(), -1, 1, 1) == [mpmath.mpf("0.5")]
    assert psi_kinks(_h(), -1, 3, 1) == [mpmath.mpf("0.75")]
    assert psi_kinks(_h(), 0.5, 1, 1) == []


def _h():
    return parse_formula("Max(x, x/100)", variables=("x",))


@pytest.mark.parametrize("h, a, b", [("Max(x, x/100)", -1, 1), ("Max(x, 2*x)", -1, 3)])
def test_leaky_relu_output_transform_is_proved_and_verified(h, a, b):
    out = derive_output(h, a, b)
    assert out.proof.holds, out.proof.detail
    assert out.inverse_method == "numeric"
    res = check_output_transform(out, max_examples=25, seed=0)
    assert res.holds, res


@pytest.mark.parametrize("h, a, b, theta, theta_low", [
    ("Max(x, 0)", 0.5, 2, 2, 0.5),          # ReLU, flat below its range
    ("Max(x, 0)", 0, 2, 2, 0),              # ReLU with a = 0: h^-1(0) is where h leaves 0
    ("Min(Max(x, 0), 1)", 0, 1, 1, 0),      # a clamp, flat at both ends
])
def test_an_h_flat_outside_its_range_is_valid(h, a, b, theta, theta_low):
    """h need be strictly increasing only on h^-1([a, b]); beyond it, at most a below and at least b above
    (check_clip_tails). ReLU and clamps were refused as 'flat on [-1, -0.98]', outside their range."""
    out = derive_output(h, a, b)
    assert out.proof.holds, out.proof.detail
    assert float(out.theta) == pytest.approx(theta, abs=1e-20) and float(out.theta_low) == pytest.approx(theta_low, abs=1e-20)
    res = check_output_transform(out, max_examples=25, seed=0)
    assert res.holds, res


def test_a_dip_narrower_than_the_grid_is_refused_at_once_naming_where():
    """h falls on [0.3, 0.301], a piece far narrower than the 257-point grid of [-1, 2]: the grid also
    samples h's kinks and the midpoints between them, so the refusal comes from the monotonicity check at
    once, naming x = 0.3, instead of from a failed proof after 55 s."""
    from ttfs_symbolic.symbolic.hypotheses import MonotonicityError

    with pytest.raises(MonotonicityError, match=r"at x = 0\.3(0*)?: h\(x\) = .* must increase"):
        derive_output("x - 2*Min(Max(x - 3/10, 0), 1/1000)", -1, 2)
