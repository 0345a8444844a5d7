"""Tests of ttfs_symbolic.symbolic.derive: Theorem 4.1 and 4.3 against hand derivations.

Every expected kernel below is written by hand from the paper's statements
(eq. 8, 13) with the sender's or receiver's tau = delta/(b - a), and compared
with the derived one *symbolically* (``simplify(derived - expected) == 0``),
so no tolerance is involved there.
"""
from __future__ import annotations

import dataclasses
import math
import re

import pytest
import sympy

from ttfs_symbolic.symbolic.hypotheses import check_increasing

from ttfs_symbolic.symbolic.derive import (
    DomainError,
    MonotonicityError,
    RangeError,
    derive_input,
    derive_output,
    prove_input_numeric,
)
from ttfs_symbolic.symbolic.parse import S, X, FormulaError

R = sympy.Rational


def same(a, b) -> bool:
    """a and b are the same expression (SymPy reduces the difference to 0)."""
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


RANGES = [(-3, 3, 1), (R(-1, 2), 2, 1), (0, 4, R(1, 2)), (-8, 0, 2)]


# --------------------------------------------------------------------------
# Theorem 4.1: eta(s) = f'(s/tau + a), C per synapse f(a)/d (eq. 8)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("a,b,delta", RANGES)
def test_square_eta_and_const(a, b, delta):
    it = derive_input("x**2", a, b, delta)
    tau = R(delta) / (R(b) - R(a))
    assert same(it.eta, 2 * (S / tau + a))
    assert same(it.const, R(a) ** 2 / (R(b) - R(a)))
    assert it.proof.holds and it.proof.method == "symbolic"


@pytest.mark.parametrize("a,b,delta", RANGES)
def test_exp_eta_and_const(a, b, delta):
    it = derive_input("exp(x)", a, b, delta)
    d = R(b) - R(a)
    tau = R(delta) / d
    assert same(it.eta, sympy.exp(S / tau + a))
    assert same(it.const, sympy.exp(a) / d)          # eq. 19: C = n e^a / d for n inputs
    assert it.proof.holds and it.proof.method == "symbolic"


@pytest.mark.parametrize("a,b,delta", RANGES)
def test_identity_input_corollary_4_2(a, b, delta):
    it = derive_input("x", a, b, delta)
    assert same(it.eta, 1)                           # eq. 10: the kernel is a step, 1 for s >= 0
    assert same(it.const, R(a) / (R(b) - R(a)))      # eq. 10: C = sum_j a w_j / d
    assert it.proof.method == "symbolic"


def test_silu_matches_eq_16():
    a, b, delta = -3, 3, 1
    it = derive_input("x * sigmoid(x)", a, b, delta)
    # eq. 16 prints u = a + (delta/(b - a)) s, i.e. a + tau*s; eq. 8 (and its proof,
    # B.1) put the argument at s/tau + a, which is what the derivation uses
    # (docs/design.md: derive, never copy). With u = s/tau + a the printed form holds:
    u = a + S / R(delta, b - a)
    sig = 1 / (1 + sympy.exp(-u))
    printed = sig * (u + 1 - u * sig)                # eq. 16 (for s >= 0)
    # simplify() on sigmoid expressions can run for minutes: compare at 11 points
    # with 30-digit arithmetic instead; both sides are a few exact operations, so
    # they agree to ~1e-29 if they are the same function, and a different one
    # (e.g. a factor or a shift of u) differs by far more than 1e-25.
    diff = (it.eta.rewrite(sympy.exp) - printed)
    for k in range(11):
        assert abs(sympy.N(diff.subs(S, R(k, 10)), 30)) < 1e-25


def test_kernel_is_zero_before_the_input_spike():
    it = derive_input("x**2", -1, 1)
    assert it.kernel.subs(S, -R(1, 3)) == 0
    assert it.kernel.subs(S, R(1, 3)) == it.eta.subs(S, R(1, 3))


# --------------------------------------------------------------------------
# Theorem 4.3: psi(s) = 1/(tau h'(h^-1(b - s/tau))), theta = h^-1(b) (eq. 13)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("a,b,delta", [(R(1, 2), 2, 1), (0, 1, 1), (R(1, 10), 3, R(3, 2))])
def test_exp_output_eq_36(a, b, delta):
    ot = derive_output("exp(x)", a, b, delta)
    tau = R(delta) / (R(b) - R(a))
    T_ref_minus_T_emit = R(b) * tau                  # eq. 29
    assert same(ot.psi, 1 / (T_ref_minus_T_emit - S))  # eq. 36
    assert same(ot.theta, sympy.log(b))              # eq. 36
    assert ot.proof.holds and ot.proof.method == "symbolic"


@pytest.mark.parametrize("a,b,delta", [(-4, 8, 1), (-1, 2, R(1, 2))])
def test_log_output_eq_19(a, b, delta):
    ot = derive_output("log(x)", a, b, delta)
    tau = R(delta) / (R(b) - R(a))
    assert same(ot.psi, sympy.exp(b - S / tau) / tau)  # eq. 19
    assert same(ot.theta, sympy.exp(b))
    assert ot.proof.holds and ot.proof.method == "symbolic"


@pytest.mark.parametrize("a,b,delta", RANGES)
def test_identity_output_corollary_4_4(a, b, delta):
    ot = derive_output("x", a, b, delta)
    tau = R(delta) / (R(b) - R(a))
    assert same(ot.psi, 1 / tau)                     # eq. 15
    assert same(ot.theta, b)
    assert ot.is_identity and ot.proof.method == "symbolic"


def test_numeric_proof_where_sympy_cannot_close():
    # h = x + exp(x): h^-1 needs LambertW; SymPy does not reduce g'(y) h'(g(y)) - 1
    # to 0, so eq. 32 is checked with mpmath (30 digits, 32 points).
    ot = derive_output("x + exp(x)", 0, 3)
    assert ot.proof.method == "numeric"
    assert ot.proof.holds
    assert ot.proof.max_error <= ot.proof.tolerance
    assert ot.proof.dps == 30 and ot.proof.points > 10
    # theta = h^-1(3): h(theta) = 3 to 25 digits
    th = sympy.N(ot.theta, 30)
    assert abs(sympy.N(th + sympy.exp(th), 30) - 3) < 1e-25


# --------------------------------------------------------------------------
# the numeric proof route of Theorem 4.1 can hold and can fail
# --------------------------------------------------------------------------

def test_prove_input_numeric_holds_for_the_derived_eta():
    for f, a, b in [("x**2", -3, 3), ("exp(x)", -4, 4), ("relu(x)", -2, 3), ("sin(x)", -3, 3)]:
        it = derive_input(f, a, b)
        rec = prove_input_numeric(it.f, it.eta, it.a, it.b, it.delta)
        assert rec.method == "numeric"
        assert rec.holds, (f, rec.summary())
        # quadrature at 30 digits of a smooth (piecewise, split at kinks) kernel: ~1e-25 or better
        assert rec.max_error <= 1e-20


@pytest.mark.parametrize("wrong", [lambda e: 2 * e, lambda e: e + 1, lambda e: e.subs(S, S / 2)])
def test_prove_input_numeric_fails_for_a_wrong_eta(wrong):
    it = derive_input("x**2", -3, 3)
    rec = prove_input_numeric(it.f, wrong(it.eta), it.a, it.b, it.delta)
    assert rec.holds is False
    assert rec.max_error > 1e-3
    assert "FAILS" in rec.summary()


def test_relu_kernel_is_a_step():
    it = derive_input("relu(x)", -2, 3)
    # eta = H(s/tau + a): 0 before s = tau*(0 - a) = 2/5, 1 after
    assert it.eta.subs(S, R(1, 5)) == 0
    assert it.eta.subs(S, R(3, 5)) == 1


# --------------------------------------------------------------------------
# bad input: clear errors that name the problem
# --------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [(1, 1), (2, 1), (0.5, -0.5)])
def test_empty_range_refused(a, b):
    with pytest.raises(RangeError, match="a < b"):
        derive_input("x", a, b)
    with pytest.raises(RangeError, match="a < b"):
        derive_output("x", a, b)


@pytest.mark.parametrize("a,b", [(math.nan, 1), (0, math.inf), (-math.inf, 0), (0, math.nan)])
def test_non_finite_range_refused(a, b):
    with pytest.raises(RangeError, match="finite"):
        derive_input("x", a, b)


def test_delta_must_be_positive():
    with pytest.raises(RangeError, match="delta"):
        derive_input("x", 0, 1, 0)


def test_log_on_a_range_through_zero_names_the_point():
    with pytest.raises(DomainError, match=r"x = 0"):
        derive_input("log(x)", -1, 1)


def test_reciprocal_on_a_range_through_zero_names_the_point():
    with pytest.raises(DomainError, match=r"undefined at x = 0"):
        derive_input("1/x", -1, 1)


def test_sqrt_not_differentiable_at_the_edge():
    with pytest.raises(DomainError, match=r"not differentiable at x = 0\.0, inside"):
        derive_input("sqrt(x)", 0, 1)


@pytest.mark.parametrize("f, a, b, where", [
    ("sqrt(relu(x))", -1, 1, "not differentiable for x between -1.0 and 0.0"),   # the kink, not the sample -1
    ("sqrt(0.3 - x)", -1, 1, "undefined or not finite for x between 0.3 and 1.0"),   # 0.3: between two samples
    ("sqrt(x**2 - 0.25)", -1, 1, "undefined or not finite for x between -0.5 and 0.5"),
])
def test_where_f_fails_is_named_by_its_edges(f, a, b, where):
    """The failing part of the range is named by its ends, found by bisection between samples."""
    with pytest.raises(DomainError, match=f"{re.escape(where)}, inside the range"):
        derive_input(f, a, b)


def test_square_output_refused_naming_a_potential_beyond_its_range():
    """x**2 on [0, 4] is increasing on h^-1([0, 4]) = [0, 2] (checked there only: a ReLU, flat outside
    its range, is valid), but rises again below 0, where the neuron would emit a = 0."""
    with pytest.raises(MonotonicityError, match=r"x\*\*2 is not increasing beyond the range: h\(-[0-9.e-]+\) = .* is "
                                                r"above a = 0 below h\^-1\(a\) = 0"):
        derive_output("x**2", 0, 4)


def test_sin_output_not_increasing_names_an_interval():
    with pytest.raises(MonotonicityError, match=r"sin\(x\).*\[.*\]"):
        derive_output("sin(x)", -0.9, 0.9)


def test_sin_is_proved_increasing_on_its_increasing_part_but_refused_as_an_output():
    # SymPy's is_strictly_increasing answers False for sin on [-1/2, 1/2] (it cannot match the
    # interval with solveset(cos(x) > 0)); solveset(cos(x) <= 0) on the interval is empty: a proof.
    x = sympy.Symbol("x", real=True)
    assert check_increasing(sympy.sin(x), sympy.Rational(-1, 2), sympy.Rational(1, 2)) == "symbolic"
    # as an output transform it is still refused: a potential V = 3 lies above h^-1(1/2) = pi/6, where
    # the neuron emits b = 1/2, but clip(sin(3), -1/2, 1/2) = 0.141
    with pytest.raises(MonotonicityError, match="not increasing beyond the range"):
        derive_output("sin(x)", -0.5, 0.5)


@pytest.mark.parametrize("h, a, b", [("x**2", 4, 9), ("cosh(x)", 2, 3), ("-1/x", -2, -0.5),
                                     ("x + 30*exp(-(x + 20)**2)", -1, 1)])
def test_h_increasing_only_near_the_range_is_refused(h, a, b):
    """The neuron emits a below h^-1(a) and b above h^-1(b): right only where h stays <= a below and >= b
    above (x**2 on [4, 9] would give 4 for V = -3, where clip(9) = 9)."""
    with pytest.raises(MonotonicityError, match="not increasing beyond the range"):
        derive_output(h, a, b)


def test_sigmoid_never_reaching_b():
    with pytest.raises(MonotonicityError, match=r"never reaches|does not reach"):
        derive_output("sigmoid(x)", 0, 1)


def test_constant_output_refused():
    with pytest.raises(MonotonicityError, match="constant"):
        derive_output("3", 0, 1)


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')",
    "x.__class__",
    "().__class__.__bases__",
    "lambda: 1",
    "exec('x')",
    "eval('1')",
    "open('/etc/passwd')",
    "[x]",
    "x if x else 1",
    "x ^ 2",
])
def test_unsafe_formula_refused(text):
    with pytest.raises(FormulaError):
        derive_input(text, 0, 1)
    with pytest.raises(FormulaError):
        derive_output(text, 0, 1)


def test_derivations_are_frozen_records():
    it = derive_input("x**2", -1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        it.eta = S  # type: ignore[misc]
    assert isinstance(X, sympy.Symbol) and X.is_real


@pytest.mark.parametrize("b", [1e10, 1e20, 1e29])
def test_output_transform_for_a_range_end_far_beyond_1e8(b):
    """h = x on [0, b] up to the largest range a layer may have (1e30): h^-1(b) = b is found (the inverse
    search once stopped at |x| = 1e8 and called x 'not reaching' 1e10); psi is the constant 1/tau."""
    out = derive_output(X, 0, b)
    assert float(out.theta) == pytest.approx(b, rel=1e-12)


def test_output_transform_refuses_a_flat_point_naming_the_derivative():
    """x**3 increases, but h'(0) = 0 makes psi infinite there (Theorem 4.3): the refusal says so, with the
    point, instead of calling an increasing h 'not increasing'."""
    with pytest.raises(MonotonicityError, match=r"h'\(x\) = 0(\.0)? at x = 0(\.0)?: .*h' > 0"):
        derive_output(X ** 3, -8, 8)


@pytest.mark.parametrize("h, a, b, cause", [
    ("exp(x)", -1, 1, "does not come down to a = -1"),        # increasing, but never below 0
    ("sigmoid(x)", -0.5, 1, "does not come down to a = -1/2"),
    ("x**2", -1, 1, "is not increasing from a = -1"),          # turns at 0
    ("Max(x, 0)", -1, 1, "is not increasing from a = -1"),     # flat below 0
])
def test_an_end_below_what_h_reaches_is_named_as_such(h, a, b, cause):
    """An increasing h that never comes down to a (exp on [-1, 1]) is refused for that reason, not called
    'not increasing'; an h that turns or is flat keeps the 'not increasing' refusal."""
    with pytest.raises(MonotonicityError, match=re.escape(cause)):
        derive_output(h, a, b)


def test_an_end_beyond_the_search_names_what_h_reached_there():
    """log reaches 70 only at x = e^70 = 2.5e30, past the 1e30 search: the refusal says how far h got
    (69.08), so the user sees that b is merely far, not unreachable."""
    with pytest.raises(MonotonicityError, match=re.escape("searched to |x| = 1e+30; h(1e+30) = 69.0776")):
        derive_output("log(x)", -1, 70)
