"""Symbolic refusals and proof tolerances a user relies on (the blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import pytest
import sympy

from ttfs_symbolic import RangeError
from ttfs_symbolic.symbolic.derive import derive_input, derive_output, prove_output


@pytest.mark.parametrize("derive, formula", [(derive_input, "x"), (derive_output, "x")])
def test_delta_zero_is_refused_as_a_time_step_that_is_not_positive(derive, formula):
    # tau = delta/(b - a) = 0 would make every spike time the same: refused by the range check, naming delta
    with pytest.raises(RangeError, match="the time step delta must be positive, got 0"):
        derive(formula, 0, 1, delta=0)
    with pytest.raises(RangeError, match="the time step delta must be positive, got -1"):
        derive(formula, 0, 1, delta=-1)


def test_numeric_inverse_proof_refuses_theta_off_by_1e_8():
    # inverse=None: the proof finds h^-1 with a monotone root finder (as for an h SymPy cannot invert), whose
    # tolerance is 1e-15; theta = h^-1(b) off by 1e-8 must then fail (upper clip and eq. 32)
    ot = derive_output("exp(x)", sympy.Rational(1, 2), 2)
    assert ot.proof.holds
    rec = prove_output(ot.h, ot.psi, ot.theta, ot.theta_low, ot.a, ot.b, ot.delta, inverse=None)
    assert rec.holds is True and rec.method == "numeric"
    assert rec.tolerance == pytest.approx(1e-15, rel=1e-12)
    wrong = ot.theta + sympy.Rational(1, 10 ** 8)
    rec = prove_output(ot.h, ot.psi, wrong, ot.theta_low, ot.a, ot.b, ot.delta, inverse=None)
    assert rec.holds is False, rec.explain()
    # theta - g(b) = 1e-8 exactly (g(b) = theta), relative to max(1, |g(b)|)
    upper = next(p for p in rec.parts if "upper clip" in p.statement)
    gb = float(ot.theta)
    assert upper.holds is False and upper.max_error == pytest.approx(1e-8 / max(1.0, abs(gb)), rel=1e-6)
