"""Tests of ttfs_symbolic.verify: the strategies, and that every check passes on a
correct neuron and FAILS, with a counterexample, on a broken one."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy
from hypothesis import Phase, given, settings
from hypothesis import find as _find
from hypothesis import strategies as st

import ttfs_symbolic.numeric.dynamics as dynamics
import ttfs_symbolic.verify.transforms as verify_transforms
from ttfs_symbolic.catalogue import DefinitionError, NeuronDef, get
from ttfs_symbolic.numeric.dynamics import LayerTiming, NeuronLayer
from ttfs_symbolic.numeric.kernels import InputKernel, OutputKernel
from ttfs_symbolic.symbolic.derive import DomainError, MonotonicityError, RangeError
from ttfs_symbolic.symbolic.parse import FormulaError
from ttfs_symbolic.verify import (
    CLIPPING,
    KERNEL,
    MAX,
    ORDER,
    POTENTIAL,
    POTENTIAL_SUBRANGES,
    CheckResult,
    VerifyReport,
    check_input_kernel,
    check_input_transform,
    check_kernel_convergence,
    check_max_aggregate,
    check_neuron,
    check_order,
    check_output_transform,
    ranges,
    subranges,
    values_in,
    weights,
)

#: examples per check when a BROKEN neuron must be rejected: a fault found within 15 examples is a
#: stronger claim about verify than one found within 500 (each check stops at its first failure)
N = 15
#: examples per check when a correct neuron or layer must pass: the profile's count (500 in CI,
#: tests/conftest.py), so every passing check runs at the strength of the other properties
HOLDS = settings.default.max_examples

# A user's own neuron, not in the catalogue: a cubic activation, identity output. (A softplus output
# on [0.1, 3] is caught by the clipping check: tests/numeric/test_dynamics.py::test_apply_below_rounded_g_a.)
USER = NeuronDef(name="user_cubic", f="x**3/3 - x", h="x", range=(-2.0, 2.0), output_range=(-1.0, 1.5))

# --------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------

@settings(deadline=None)
@given(ranges())
def test_ranges_are_wide_enough_and_bounded(ab):
    a, b = ab
    assert b - a >= 0.5 and -8.0 <= a < b <= 8.0


#: find() by generation only: no shrinking (a shrinking find() hung for minutes inside the full suite on
#: a busy machine), no example database; it returns as soon as an example satisfies the condition
_QUICK = settings(max_examples=5000, phases=[Phase.generate], database=None, deadline=None)


def find(strategy, condition, settings=_QUICK):
    return _find(strategy, condition, settings=settings)


@settings(deadline=None)
@given(ranges(min_width=2.0, max_abs=3.0))
def test_ranges_custom_bounds(ab):
    a, b = ab
    assert b - a >= 2.0 and -3.0 <= a < b <= 3.0


@pytest.mark.parametrize("kw", [dict(min_width=0.0), dict(min_width=-1.0), dict(max_abs=math.inf),
                                dict(min_width=4.0, max_abs=1.0)])
def test_ranges_bad_arguments(kw):
    with pytest.raises(ValueError):
        ranges(**kw)


def test_values_in_includes_edges_and_outside():
    a, b = -1.5, 2.0
    s = values_in(a, b)
    def first(cond):
        return find(s, cond)

    for target in (a, b):
        assert first(lambda v, t=target: v == t) == target
    assert first(lambda v: v < a) < a                              # clipped to a
    assert first(lambda v: v > b) > b                              # clipped to b
    assert first(lambda v: v == np.nextafter(a, -np.inf)) < a      # just outside
    assert first(lambda v: v == np.nextafter(b, np.inf)) > b
    assert a < first(lambda v: a < v < b) < b                      # inside


@settings(deadline=None)
@given(values_in(-3.0, 0.5))
def test_values_in_stays_within_one_width(v):
    assert math.isfinite(v) and -6.5 <= v <= 4.0


def test_values_in_bad_range():
    with pytest.raises(ValueError):
        values_in(1.0, 1.0)
    with pytest.raises(ValueError):
        values_in(0.0, math.nan)


@settings(deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.just(n), weights(n))))
def test_weights_shape_and_bounds(nw):
    n, w = nw
    assert isinstance(w, np.ndarray) and w.dtype == np.float64 and w.shape == (n,)
    assert np.all(np.isfinite(w)) and np.all(np.abs(w) <= 2.0)


def test_weights_cover_signs():
    assert find(weights(3), lambda w: np.any(w < 0) and np.any(w > 0)) is not None
    with pytest.raises(ValueError):
        weights(0)


@settings(deadline=None)
@given(subranges(-2.0, 3.0))
def test_subranges_inside(ab):
    a, b = ab
    assert -2.0 <= a < b <= 3.0 and b - a >= 0.25 * 5.0 * (1 - 1e-9)


def test_subranges_include_the_range_and_proper_ones():
    assert find(subranges(-2.0, 3.0), lambda ab: ab == (-2.0, 3.0)) == (-2.0, 3.0)
    a, b = find(subranges(-2.0, 3.0), lambda ab: ab[0] > -2.0 and ab[1] < 3.0)
    assert -2.0 < a < b < 3.0


# --------------------------------------------------------------------------
# a correct neuron passes
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def user_report():
    # the correct neuron at the profile's count (500 in CI, tests/conftest.py)
    return check_neuron(USER, max_examples=settings.default.max_examples, seed=0)


def test_user_neuron_checks_hold(user_report):
    assert isinstance(user_report, VerifyReport)
    assert [r.name for r in user_report.results] == [POTENTIAL, POTENTIAL_SUBRANGES, CLIPPING, ORDER, KERNEL]
    for r in user_report.results:
        assert isinstance(r, CheckResult)
        assert r.holds, f"{r.name}: {r.detail} {r.counterexample}"
        assert r.tried >= settings.default.max_examples and r.counterexample is None
    # measured errors are reported, and are far inside the tolerances
    assert 0 <= user_report[POTENTIAL].measured["rel_error"] <= 1e-12
    m = user_report[KERNEL].measured
    for p in (64, 256, 1024, 4096):
        assert m[f"err_p{p}"] <= 2.5 / p
    assert m["err_p4096"] < m["err_p64"]


def test_user_neuron_passes(user_report):
    assert user_report.passed, str(user_report)


def test_order_holds_in_later_windows():
    layer = NeuronLayer(USER.f, USER.h, sender=LayerTiming.for_layer(1, *USER.range),
                        receiver=LayerTiming.for_layer(2, *USER.output_range))
    r = check_order(layer, max_examples=HOLDS, seed=0)
    assert r.holds, f"{r.detail} {r.counterexample}"
    assert r.tried >= 2 * HOLDS


def test_max_aggregate_holds_in_later_windows():
    r = check_max_aggregate(LayerTiming.for_layer(0, -4.0, 4.0), LayerTiming.for_layer(1, -4.0, 4.0),
                            max_examples=HOLDS, seed=0)
    assert r.holds, f"{r.detail} {r.counterexample}"


def test_report_table(user_report):
    text = str(user_report)
    assert "user_cubic" in text and "x**3/3 - x" in text
    for r in user_report.results:
        assert r.name in text
    assert ("PASSED" if user_report.passed else "FAILED") in text
    assert f"{sum(r.holds for r in user_report.results)} of {len(user_report.results)} checks hold" in text


# --------------------------------------------------------------------------
# a broken neuron FAILS with a counterexample
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def square():
    nd = get("square")
    return nd.input_transform(), nd.output_transform()


@pytest.mark.parametrize("break_it", [
    lambda it: dataclasses.replace(it, eta=2 * it.eta),
    lambda it: dataclasses.replace(it, eta=it.eta + 1),
], ids=["eta doubled", "eta shifted"])
def test_broken_input_transform_fails(square, break_it):
    it, _ = square
    assert check_input_transform(it, max_examples=HOLDS, seed=0).holds
    r = check_input_transform(break_it(it), max_examples=N, seed=0)
    assert not r.holds
    assert "relative error" in r.detail
    ce = r.counterexample
    assert ce is not None and ce["relative error"] > 1e-9
    # the shrunk counterexample has an input that matters: some nonzero weight
    assert any(w != 0 for w in ce["weights"])


def test_C_off_is_named_by_the_silent_input_part(square):
    it, _ = square
    r = check_input_transform(dataclasses.replace(it, const=it.const + sympy.Rational(1, 10)), max_examples=N, seed=0)
    assert not r.holds and "silent input" in r.detail
    assert r.counterexample["d*C"] != r.counterexample["f(a)"]


def test_counterexample_is_reproducible(square):
    it, _ = square
    broken = dataclasses.replace(it, eta=3 * it.eta)
    r1 = check_input_transform(broken, max_examples=N, seed=7)
    r2 = check_input_transform(broken, max_examples=N, seed=7)
    assert not r1.holds and r1.counterexample == r2.counterexample


@pytest.mark.parametrize("break_it", [
    lambda ot: dataclasses.replace(ot, psi=2 * ot.psi),
    lambda ot: dataclasses.replace(ot, theta=ot.theta + 1),
], ids=["psi doubled", "theta off"])
def test_broken_output_transform_fails(break_it):
    ot = get("logsumexp").output_transform()
    assert check_output_transform(ot, max_examples=HOLDS, seed=0).holds
    r = check_output_transform(break_it(ot), max_examples=N, seed=0)
    assert not r.holds and r.counterexample is not None
    assert "V" in r.counterexample


def test_broken_range_generic_kernel_fails(monkeypatch):
    """A wrong compiled eta(s, a, tau) (the model layer's kernel) fails the sub-range and kernel checks,
    while the derivation's own eta still passes."""
    original = InputKernel.eta_fn

    def eta_fn(self, backend):
        fn = original(self, backend)
        return lambda s, a, tau: 1.5 * fn(s, a, tau)

    monkeypatch.setattr(InputKernel, "eta_fn", eta_fn)
    nd = get("tanh")
    r = check_input_kernel(nd.f, *nd.range, max_examples=N, seed=0)
    assert not r.holds and r.counterexample is not None
    assert check_input_transform(nd.input_transform(), max_examples=HOLDS, seed=0).holds
    layer = NeuronLayer(nd.f, nd.h, sender=LayerTiming(*nd.range), receiver=LayerTiming.for_layer(1, *nd.output_range))
    rk = check_kernel_convergence(layer, precisions=(64, 256), max_examples=N, seed=0)
    assert not rk.holds and "input table" in rk.detail


def test_broken_kernel_emission_fails(monkeypatch):
    """Kernel mode that spikes two ticks late breaks the one-tick bound."""
    original = dynamics.kernel_emit

    def late(kernel, receiver, V, p):
        return (original(kernel, receiver, V, p) - 2 * receiver.d / p).clamp(min=receiver.a)

    nd = get("identity")
    layer = NeuronLayer(nd.f, nd.h, sender=LayerTiming(*nd.range), receiver=LayerTiming.for_layer(1, *nd.output_range))
    assert check_kernel_convergence(layer, precisions=(64, 256), max_examples=HOLDS, seed=0).holds
    monkeypatch.setattr(dynamics, "kernel_emit", late)
    r = check_kernel_convergence(layer, precisions=(64, 256), max_examples=N, seed=0)
    assert not r.holds and "d/p" in r.detail
    assert r.counterexample["error"] > r.counterexample["bound d/p"]


def test_broken_order_fails(monkeypatch):
    """An emitting stage that reverses its values makes larger potentials fire later."""
    original = OutputKernel.apply
    monkeypatch.setattr(OutputKernel, "apply", lambda self, V, a, b: a + b - original(self, V, a, b))
    nd = get("identity")
    layer = NeuronLayer(nd.f, nd.h, sender=LayerTiming.for_layer(1, *nd.range),
                        receiver=LayerTiming.for_layer(2, *nd.output_range))
    r = check_order(layer, precisions=(64,), max_examples=N, seed=0)
    assert not r.holds and "fires later" in r.detail
    assert r.counterexample["mode"] in ("exact", "quantized")


def test_max_neuron_with_a_different_output_range_fails(monkeypatch):
    bad = NeuronDef(name="bad_max", aggregate="max", range=(-4.0, 4.0), output_range=(-2.0, 4.0))
    report = check_neuron(bad, max_examples=N, seed=0)
    r = report[MAX]
    assert not r.holds and "max neuron emits" in r.detail
    assert r.counterexample["emitted"] != r.counterexample["expected"]
    assert not report.passed
    text = str(report)
    assert "FAILS" in text and "counterexamples:" in text and "FAILED" in text


def test_numeric_setup_error_is_a_failed_check_not_a_traceback(monkeypatch):
    ot = get("identity").output_transform()

    def broken(ot, backend="numpy"):
        raise ValueError("no numeric implementation of psi")

    monkeypatch.setattr(verify_transforms, "compiled_output", broken)
    r = check_output_transform(ot, max_examples=N, seed=0)
    assert not r.holds and "could not set the check up" in r.detail and "psi" in r.detail


# --------------------------------------------------------------------------
# bad input: the definition's own error, unwrapped
# --------------------------------------------------------------------------

@pytest.mark.parametrize("neuron,error,match", [
    ("/nonexistent/neuron.toml", DefinitionError, "no neuron definition file"),
    ("no_such_neuron", DefinitionError, "no neuron 'no_such_neuron'"),
    (NeuronDef(name="bad_log", f="log(x)", range=(-1.0, 1.0)), DomainError, r"x = 0"),
    (NeuronDef(name="bad_h", h="x**2", output_range=(0.0, 4.0)), MonotonicityError, r"not increasing beyond the range"),
    (NeuronDef(name="bad_f", f="__import__('os').system('true')"), FormulaError, "whitelisted"),
    (NeuronDef(name="bad_range", range=(1.0, 0.0)), RangeError, "a < b"),
    (12, DefinitionError, "expected a NeuronDef"),
])
def test_bad_definitions_raise_their_own_error(neuron, error, match):
    with pytest.raises(error, match=match):
        check_neuron(neuron, max_examples=N)


@pytest.mark.parametrize("kw", [dict(max_examples=0), dict(max_examples=2.5), dict(precisions=()),
                                dict(precisions=(0,)), dict(precisions=(64.5,))])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        check_neuron("identity", **kw)


def test_check_input_kernel_bad_range():
    with pytest.raises(RangeError):
        check_input_kernel("x", 1.0, 0.0, max_examples=N)
    with pytest.raises(DomainError):
        check_input_kernel("log(x)", -1.0, 1.0, max_examples=N)
