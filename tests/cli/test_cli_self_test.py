"""``ttfs verify --self-test``: the corpus of broken neurons (ttfs_symbolic.verify.broken) run through the checker.

Exit 0 and, per broken neuron, its fault and the check that rejected it; exit 1, naming the check, when a
check of verify is disabled (so a broken neuron gets through).
"""
from __future__ import annotations

import pytest

from helpers import run_cli

from ttfs_symbolic import verify
from ttfs_symbolic.verify import broken, transforms

N = "10"   # examples per check: the corpus is rejected from 3 on (the edges and an inside point always run)


def test_self_test_passes_and_names_fault_and_check(capsys):
    rc, out, err = run_cli(capsys, "verify", "--self-test", "--max-examples", N)
    assert rc == 0, out + err
    assert f"{N} examples per check, seed 0" in out
    n = len(broken.NAMES)
    assert f"PASSED: {n} of {n} broken neurons rejected by the check that names their fault" in out
    lines = out.splitlines()
    for entry in broken.CORPUS:
        i = lines.index(f"ok   {entry.name}: {entry.fault}")
        assert lines[i + 1].startswith(f"     rejected by '{entry.check}': "), lines[i + 1]
        if entry.proof is not None:
            assert lines[i + 2] == "     proof record of the broken derivation: FAILS, as it must"
    assert "ACCEPTED" not in out and "FAIL " not in out and err == ""


def _disabled(name):
    def check(*args, max_examples=50, seed=None, **kwargs):
        return verify.CheckResult(name, True, max_examples, "disabled")
    return check


@pytest.mark.parametrize("function, check", [
    ("check_order", verify.ORDER),
    ("check_output_transform", verify.CLIPPING),
])
def test_a_disabled_check_fails_the_self_test_naming_it(capsys, monkeypatch, function, check):
    monkeypatch.setattr(verify, function, _disabled(check))
    rc, out, err = run_cli(capsys, "verify", "--self-test", "--max-examples", N)
    assert rc == 1, out
    victims = [e for e in broken.CORPUS if e.check == check]
    assert victims
    for entry in victims:
        assert f"FAIL {entry.name}: {entry.fault}" in out
        assert f"(check '{check}')" in err and entry.name in err
    assert f"ACCEPTED by '{check}'" in out
    assert "FAILED:" in out
    others = [e for e in broken.CORPUS if e.check != check]
    for entry in others:   # the other checks still reject theirs
        assert f"ok   {entry.name}: " in out


def test_a_loosened_tolerance_fails_the_self_test(capsys, monkeypatch):
    # the silent-input share d*C = f(a): loosened from 1e-14 to 1e-8, C off by 1e-9 gets through it
    monkeypatch.setattr(transforms, "SILENT_RTOL", 1e-8)
    rc, out, err = run_cli(capsys, "verify", "--self-test", "--max-examples", N)
    assert rc == 1
    assert "FAIL C_off_1e-9: C off by 1e-9 relative" in out
    assert f"C_off_1e-9 (check '{verify.POTENTIAL}')" in err
    assert "ok   C_times_d: " in out


def test_a_crashing_check_is_not_a_rejection(capsys, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(verify, "check_max_aggregate", crash)
    rc, out, err = run_cli(capsys, "verify", "--self-test", "--max-examples", N)
    assert rc == 1
    assert "FAIL max_other_range" in out
    assert f"rejected by 'error in {verify.MAX}', expected '{verify.MAX}': RuntimeError: boom" in out


@pytest.mark.parametrize("argv, words", [
    (("verify", "--self-test", "gelu"), "do not give a definition"),
    (("verify",), "give a definition"),
    (("verify", "--self-test", "--max-examples", "0"), "--max-examples must be at least 1"),
])
def test_self_test_bad_input_one_line_exit_2(capsys, argv, words):
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err, err
