"""Proof records check the theorem identities themselves (issue 11, item 1).

Each mutation here is one a maintainer could make in derive.py; the record
built from the mutated kernel/constant must say FAILS (and derive_* must
raise, since they refuse a failing record).
"""
import sympy
import pytest

from ttfs_symbolic import derive_input, derive_output
from ttfs_symbolic.symbolic.derive import ProofRecord, Y, prove_input, prove_output

R = sympy.Rational


def test_input_record_checks_C_share_and_identity():
    it = derive_input("x**2", -3, 3)
    rec = it.proof
    assert rec.holds and rec.method == "symbolic"
    statements = [p.statement for p in rec.parts]
    assert any("silent input" in s and "f(a)" in s for s in statements)
    assert any("d*C = f(x)" in s for s in statements)
    assert "holds" in rec.explain()


@pytest.mark.parametrize("mutate, part", [
    (lambda it: (it.eta, it.f_a * it.d), "C's share"),               # C = f(a) d instead of f(a)/d
    (lambda it: (it.eta, it.const * (1 + R(1, 10**9))), "C's share"),  # C off by 1e-9 relative
    (lambda it: (it.eta * (1 + R(1, 10**6)), it.const), "d*C = f(x)"),  # eta off by 1e-6 relative
    (lambda it: (2 * it.eta, it.const), "d*C = f(x)"),
])
def test_input_record_fails_for_a_wrong_eta_or_C(mutate, part):
    it = derive_input("x**2", -3, 3)
    eta, const = mutate(it)
    rec = prove_input(it.f, eta, const, it.a, it.b, it.delta)
    assert rec.holds is False and "FAILS" in rec.summary()
    failing = [p for p in rec.parts if not p.holds]
    assert any(part in p.statement for p in failing), rec.explain()


def test_input_record_with_C_equal_f_a_times_d_gives_the_issue_counterexample():
    # the issue's mutation: C = f(a)*d gives const = 54 for x**2 on [-3, 3]; the record must fail
    it = derive_input("x**2", -3, 3)
    wrong = it.f_a * it.d
    assert wrong == 54
    assert not prove_input(it.f, it.eta, wrong, it.a, it.b, it.delta).holds


def test_output_record_checks_theta_eq32_and_both_clips():
    ot = derive_output("exp(x)", R(1, 2), 2)
    rec = ot.proof
    assert rec.holds and rec.method == "symbolic"
    text = " ".join(p.statement for p in rec.parts)
    for phrase in ("theta = h^-1(b)", "eq. 32", "lower clip", "psi >= 0", "h(g(y)) = y"):
        assert phrase in text


def test_output_record_fails_for_psi_without_1_over_tau_and_theta_at_a():
    # the issue's mutation: psi missing 1/tau and theta = h^-1(a); theta came out as -log 2 and the old record held
    ot = derive_output("exp(x)", R(1, 2), 2)
    wrong_theta = ot.inverse.subs(Y, ot.a)
    assert sympy.simplify(wrong_theta + sympy.log(2)) == 0
    rec = prove_output(ot.h, ot.psi * ot.tau, wrong_theta, ot.theta_low, ot.a, ot.b, ot.delta,
                       inverse=ot.inverse, monotonicity=ot.monotonicity)
    assert rec.holds is False
    failing = " ".join(p.statement for p in rec.parts if not p.holds)
    assert "upper clip" in failing and "eq. 32" in failing


@pytest.mark.parametrize("which", ["psi", "theta", "theta_low"])
def test_output_record_fails_for_small_errors(which):
    ot = derive_output("exp(x)", R(1, 2), 2)
    psi, theta, low = ot.psi, ot.theta, ot.theta_low
    if which == "psi":
        psi = psi * (1 + R(1, 10**6))      # psi off by a factor 1 + 1e-6
    elif which == "theta":
        theta = theta + R(1, 10**9)
    else:
        low = low - R(1, 10**9)
    rec = prove_output(ot.h, psi, theta, low, ot.a, ot.b, ot.delta, inverse=ot.inverse,
                       monotonicity=ot.monotonicity)
    assert rec.holds is False, rec.explain()


def test_output_record_numeric_inverse_fails_for_a_wrong_psi():
    # no SymPy inverse: psi contains h_inv, evaluated with a monotone root finder
    ot = derive_output("x + exp(x)", 0, 3)
    assert ot.proof.holds
    rec = prove_output(ot.h, 2 * ot.psi, ot.theta, ot.theta_low, ot.a, ot.b, ot.delta, inverse=None)
    assert rec.holds is False and rec.method == "numeric"


def test_negative_psi_is_refused():
    ot = derive_output("x", -1, 1)
    rec = prove_output(ot.h, -ot.psi, ot.theta, ot.theta_low, ot.a, ot.b, ot.delta, inverse=ot.inverse)
    assert not rec.holds
    assert any("psi >= 0" in p.statement and not p.holds for p in rec.parts)


def test_record_type():
    assert isinstance(derive_output("x", 0, 1).proof, ProofRecord)
