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


@pytest.mark.parametrize("text, bits", [("1000**3000", 11 * 3000), ("x + 3**13000", 3 * 13000),
                                        ("(7/5)**4000", 6 * 4000)])
def test_a_power_of_more_bits_than_the_limit_is_refused_by_its_size(text, bits):
    """The guard on exact numeric powers estimates the result's size as (bits of the base's numerator and
    denominator: 1000 -> 10 + 1) x exponent: 1000**3000 is about 33,000 bits, over the 20,000-bit limit,
    though neither the base nor the exponent is large alone."""
    from ttfs_symbolic.symbolic.parse import MAX_POWER_BITS, FormulaError, parse_formula

    assert bits > MAX_POWER_BITS
    with pytest.raises(FormulaError, match=rf"too large to compute exactly \(about {bits} bits > {MAX_POWER_BITS}\)"):
        parse_formula(text)
    assert parse_formula("1000**1800") == sympy.Integer(1000) ** 1800   # 19,800 bits: under the limit, computed
