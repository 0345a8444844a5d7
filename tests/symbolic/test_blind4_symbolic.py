"""Ranges float64 cannot time (the fourth blind mutation audit's survivor, docs/mutation.md): a time constant
tau = delta/(b - a) that underflows to 0 is refused up front, naming tau, by both theorems."""
from __future__ import annotations

import pytest
import sympy

from ttfs_symbolic.symbolic.hypotheses import RangeError
from ttfs_symbolic.symbolic.theorem_4_1 import derive_input
from ttfs_symbolic.symbolic.theorem_4_3 import derive_output


@pytest.mark.parametrize("derive, formula", [(derive_input, "x"), (derive_output, "x")])
def test_a_time_constant_that_underflows_is_refused_naming_it(derive, formula):
    with pytest.raises(RangeError, match=r"tau = delta/\(b - a\) underflows to 0 in float64"):
        derive(formula, 0, "1e100", "1e-300")
    # a width that underflows is named as the width
    with pytest.raises(RangeError, match=r"the width b - a underflows to 0 in float64"):
        derive(formula, 1, 1 + sympy.Rational(1, 10 ** 400), 1)
    # representable: derived (tau = 1e-106)
    assert float(derive(formula, 0, "1e6", "1e-100").tau) == pytest.approx(1e-106, rel=1e-12)
