"""The kernel check's one-tick bound and the self-test's "names the fault" rule
(the third blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import ttfs_symbolic.numeric.dynamics as dynamics
from ttfs_symbolic import verify
from ttfs_symbolic.catalogue import get
from ttfs_symbolic.numeric.dynamics import LayerTiming, NeuronLayer
from ttfs_symbolic.verify import KERNEL, ORDER, CheckResult, check_kernel_convergence
from ttfs_symbolic.verify import broken

#: examples when a broken neuron must be rejected (as tests/verify/test_verify.py)
N = 15


def test_kernel_mode_off_by_one_and_a_half_ticks_breaks_the_one_tick_bound(monkeypatch):
    """Kernel mode whose spike is read 1.5 ticks (1.5 d/p) late is off by 1 to 2 ticks from exact mode
    (the nearest-tick reading adds at most half a tick either way): more than the documented bound of one
    tick d/p, so the kernel check must fail, naming the bound, with a counterexample between 1 and 2 ticks."""
    original = dynamics.kernel_emit

    def late(kernel, receiver, V, p):
        return original(kernel, receiver, V, p) - 1.5 * receiver.d / p

    nd = get("identity")
    layer = NeuronLayer(nd.f, nd.h, sender=LayerTiming(*nd.range), receiver=LayerTiming.for_layer(1, *nd.output_range))
    monkeypatch.setattr(dynamics, "kernel_emit", late)
    r = check_kernel_convergence(layer, precisions=(64, 256), max_examples=N, seed=0)
    assert r.name == KERNEL
    assert not r.holds, r.detail
    assert "d/p + table allowance" in r.detail
    ce = r.counterexample
    ticks = ce["error"] / ce["bound d/p"]
    assert 1.0 < ticks <= 2.0 + 1e-9, ce


def test_self_test_does_not_count_a_rejection_for_another_fault(monkeypatch):
    """A broken neuron rejected by the right check but for a reason that is not its fault (the detail does
    not name it) is NOT counted as rejected: the self-test report says NO and FAILED for it."""
    entry = broken.CORPUS["fires_twice"]
    assert entry.check == ORDER and entry.words == "one time per neuron"
    other = CheckResult(ORDER, False, 3, "decode(encode(x)) != x at x = 0.5 (a different fault)")
    assert not broken.rejected(entry, other)
    # the right check and the right words: rejected (control)
    assert broken.rejected(entry, CheckResult(ORDER, False, 3, "a neuron must spike at most one time per neuron"))

    # through the self-test: the order check (looked up on the package at call time) fails for another reason
    monkeypatch.setattr(verify, "check_order", lambda *a, **kw: other)
    report = broken.self_test(max_examples=5, names={"fires_twice"})
    assert len(report.rows) == 1
    _, result, ok, _ = report.rows[0]
    assert result is other and ok is False
    assert not report.passed
    assert "FAILED: 0 of 1" in str(report)
