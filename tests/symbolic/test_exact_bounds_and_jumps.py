"""Ranges as users pass them (thirds, NumPy scalars) derive exactly, and a Piecewise that jumps is refused.

Each case here used to go wrong: -1/3 was rounded to -1/4 by nsimplify (the self-check then failed),
NumPy 2's float64 reached SymPy as the string 'np.float64(-1.0)', and a Piecewise with a jump was
derived and "proved" with the jump dropped (the proof differentiates f piece by piece).
"""
import mpmath
import numpy as np
import pytest
import sympy

from ttfs_symbolic import derive_input, derive_output
from ttfs_symbolic.symbolic.hypotheses import DomainError

x = sympy.Symbol("x", real=True)


@pytest.mark.parametrize("f, a", [("x", -1 / 3), ("x**2", -2 / 3), ("x", 1 / 7), ("x", -0.3333)])
def test_float_ends_stay_exact(f, a):
    it = derive_input(f, a, 1)
    a_exact = sympy.Rational(repr(a))
    assert it.const == sympy.sympify(f, locals={"x": x}).subs(x, a_exact) / (1 - a_exact)


def test_numpy_scalars_are_numbers():
    assert derive_input("x", np.float64(-1), 1).const == sympy.Rational(-1, 2)
    assert derive_output("x", np.float64(-1), np.float64(1)).theta == 1
    assert derive_input("c*x", -1, 1, params={"c": np.float64(0.5)}).eta == sympy.Rational(1, 2)
    assert derive_input("x", -1, 1, delta=np.float64(0.5)).tau == sympy.Rational(1, 4)


def _potential(it, value):
    """(1/tau) int_0^{tau (x - a)} eta + d C (eq. 9, 30), by quadrature split at the kernel's kink."""
    tau, a = it.tau, it.a
    eta = sympy.lambdify(sympy.Symbol("s", real=True), it.eta, "mpmath")
    s_x = float(tau * (value - a))
    kink = float(tau * (sympy.Rational(1, 2) - a))
    pts = [0, kink, s_x] if 0 < kink < s_x else [0, s_x]
    return float(mpmath.quad(eta, pts)) / float(tau) + float(it.const * (it.b - it.a))


def test_a_continuous_piecewise_derives_and_computes_f():
    f = sympy.Piecewise((x**2, x <= sympy.Rational(1, 2)), (x - sympy.Rational(1, 4), True))
    it = derive_input(f, -1, 1)
    for v in (-0.8, 0.3, 0.5, 0.9):
        assert abs(_potential(it, v) - float(f.subs(x, v))) < 1e-12


@pytest.mark.parametrize("derive", [derive_input, derive_output])
def test_a_piecewise_that_jumps_is_refused_naming_the_point(derive):
    f = sympy.Piecewise((x, x < 0), (x + 5, True))
    with pytest.raises(DomainError, match="jumps at x = 0"):
        derive(f, -1, 1)


def test_a_jump_outside_the_range_of_f_does_not_matter_but_h_acts_everywhere():
    f = sympy.Piecewise((x, x < 2), (x + 5, True))
    assert derive_input(f, -1, 1).eta == 1
    with pytest.raises(DomainError, match="jumps at x = 2"):
        derive_output(f, -1, 1)


@pytest.mark.parametrize("a, b, end", [(-1, 1, "b = 1"), (-0.5, 1, "b = 1"), (-1, 0.5, "a = -1")])
def test_an_end_reached_only_in_the_limit_is_refused(a, b, end):
    """tanh "reaches" 1 at x = 36.4 only by rounding at 30 digits: it used to run 80 s and end in a bare
    ZeroDivisionError."""
    from ttfs_symbolic.symbolic.hypotheses import MonotonicityError

    with pytest.raises(MonotonicityError, match=f"never reaches {end}, only in the limit"):
        derive_output("tanh(x)", a, b)


@pytest.mark.parametrize("h, a, b", [("x**3", 0, 8), ("x**3", -8, 0), ("sigmoid(x)", 0, 0.99), ("tanh(x)", -0.9, 0.9)])
def test_ends_reached_where_h_is_flat_or_never_reached_below_stay_accepted(h, a, b):
    assert derive_output(h, a, b).proof.holds


@pytest.mark.parametrize("f, same", [("x*Heaviside(x)", "relu(x)"), ("x*sign(x)", "abs(x)"),
                                     ("(x - 0.5)*sign(x - 0.5)", "abs(x - 0.5)"),
                                     ("Heaviside(x)*sin(x)", "Max(0, sin(x))")])
def test_a_step_times_a_factor_that_vanishes_there_is_a_kink_not_a_jump(f, same):
    """x*Heaviside(x) is relu: continuous, with a kink at 0. It used to be refused as "jumps at x = 0"."""
    it, ref = derive_input(f, -1, 1), derive_input(same, -1, 1)
    assert it.proof.holds and it.const == ref.const
    for v in (-0.8, -0.2, 0.0, 0.3, 0.5, 0.9):
        assert abs(_potential_at(it, v) - _potential_at(ref, v)) < 1e-12


@pytest.mark.parametrize("f, point", [("Heaviside(x)", "0"), ("x + sign(x)", "0"), ("x**2*sign(x - 0.5)", "1/2")])
def test_a_step_where_f_jumps_is_still_refused(f, point):
    with pytest.raises(DomainError, match=f"jumps at x = {point} in"):
        derive_input(f, -1, 1)


def _potential_at(it, value):
    """(1/tau) int_0^{tau (x - a)} eta + d C by quadrature split at every point where eta may change."""
    tau, a = float(it.tau), float(it.a)
    eta = sympy.lambdify(sympy.Symbol("s", real=True), it.eta, "mpmath")
    s_x = tau * (value - a)
    pts = sorted({0.0, s_x, *(tau * (k - a) for k in (0.0, 0.5) if 0 < tau * (k - a) < s_x)})
    return float(mpmath.quad(eta, pts)) / tau + float(it.const * (it.b - it.a))
