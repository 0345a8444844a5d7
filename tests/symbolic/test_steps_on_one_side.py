"""Heaviside and sign on a range that lies on one side of their jump: each is replaced by the constant it
keeps there (1, 0 or -1), so f, eta and the C term are those of the step-free formula (refusals.without_jumps)."""
from __future__ import annotations

import pytest
import sympy

from ttfs_symbolic.symbolic.parse import X
from ttfs_symbolic.symbolic.refusals import without_jumps
from ttfs_symbolic.symbolic.theorem_4_1 import derive_input


@pytest.mark.parametrize("formula,expected", [
    ("x*sign(x - 5)", -X),          # negative on [-1, 1]: -1
    ("x*sign(x + 5)", X),           # positive: +1
    ("x*Heaviside(x - 5)", 0),      # below the jump: 0
    ("x*Heaviside(x + 5)", X),      # above: 1
    ("exp(x)*sign(-x - 2)", -sympy.exp(X)),
])
def test_a_step_keeps_its_value_on_the_range(formula, expected):
    from ttfs_symbolic.symbolic.parse import parse_formula

    f = parse_formula(formula, variables=("x",))
    assert sympy.simplify(without_jumps(f, -1, 1) - expected) == 0


def test_derivation_of_a_negative_sign_is_that_of_minus_f():
    """x*sign(x - 5) on [-1, 1] is -x: eta = -1 (eq. 8) and the C term f(a)/d = 1/2 (d = b - a = 2)."""
    step = derive_input("x*sign(x - 5)", -1, 1)
    plain = derive_input("-x", -1, 1)
    assert sympy.simplify(step.f - plain.f) == 0 and step.f == -X
    assert sympy.simplify(step.eta - plain.eta) == 0 and step.eta == -1
    assert step.const == plain.const == sympy.Rational(1, 2)
