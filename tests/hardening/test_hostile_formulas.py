"""The hostile-input corpus (tests/hardening/hostile_corpus.py) through the formula entry points and the CLI (issue 12).

Entry points: ``derive_input``, ``derive_output``, ``ttfs derive F`` and
``ttfs derive --output H``. A new entry point that takes a formula and a
range is covered by adding it to ``FORMULA_ENTRY_POINTS``.
"""
from __future__ import annotations

import re
import threading
import time

import pytest

from hostile_corpus import BAD_FORMULAS, BAD_RANGES, OVERFLOWING_INPUT
from ttfs_symbolic import cli
from ttfs_symbolic.symbolic import limits
from ttfs_symbolic.symbolic.derive import derive_input, derive_output


def run_cli(capsys, *argv):
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _cli(kind):
    def call(formula, a, b, capsys):
        argv = ["derive", formula] if kind == "f" else ["derive", "--output", formula]
        rc, out, err = run_cli(capsys, *argv, "--range", repr(float(a)), repr(float(b)), "--no-page")
        assert rc == 2, (rc, out, err)
        assert "Traceback" not in err and err.count("\n") == 1, err
        return err
    return call


def _api(fn):
    def call(formula, a, b, capsys):
        with pytest.raises(ValueError) as exc:
            fn(formula, a, b)
        msg = str(exc.value)
        assert "\n" not in msg and len(msg) <= 400, msg
        return msg
    return call


FORMULA_ENTRY_POINTS = {
    "derive_input": _api(derive_input),
    "derive_output": _api(derive_output),
    "cli-derive-f": _cli("f"),
    "cli-derive-output": _cli("h"),
}


@pytest.mark.parametrize("entry", list(FORMULA_ENTRY_POINTS))
@pytest.mark.parametrize("case", BAD_FORMULAS, ids=[c[0] for c in BAD_FORMULAS])
def test_bad_formulas_are_refused_in_one_line(entry, case, capsys):
    _, formula, a, b, pattern = case
    msg = FORMULA_ENTRY_POINTS[entry](formula, a, b, capsys)
    assert re.search(pattern, msg, re.I), msg


@pytest.mark.parametrize("entry", list(FORMULA_ENTRY_POINTS))
@pytest.mark.parametrize("case", BAD_RANGES, ids=[c[0] for c in BAD_RANGES])
def test_bad_ranges_are_refused_in_one_line(entry, case, capsys):
    _, a, b, pattern = case
    msg = FORMULA_ENTRY_POINTS[entry]("x", a, b, capsys)
    assert re.search(pattern, msg, re.I), msg


@pytest.mark.parametrize("entry", ["derive_input", "cli-derive-f"])
@pytest.mark.parametrize("case", OVERFLOWING_INPUT, ids=[c[0] for c in OVERFLOWING_INPUT])
def test_kernels_that_overflow_float64_are_refused_with_a_range_that_works(entry, case, capsys):
    _, formula, a, b, pattern = case
    msg = FORMULA_ENTRY_POINTS[entry](formula, a, b, capsys)
    assert re.search(pattern, msg), msg
    lo, hi = map(float, re.search(r"a range that works: \[([-\d.e+]+), ([-\d.e+]+)\]", msg).groups())
    it = derive_input(formula, lo, hi)   # the suggested range does derive, and its kernel is finite
    import numpy as np

    from ttfs_symbolic.numeric.kernels import compiled_input

    c = compiled_input(it, "numpy")
    eta, f = c.eta, c.f
    s = np.linspace(0, 1, 101)
    assert np.all(np.isfinite(eta(s))) and np.all(np.isfinite(f(np.linspace(lo, hi, 101))))


def test_a_step_that_keeps_one_value_on_the_range_derives():
    assert derive_input("Heaviside(x - 5)", -1, 1).eta == 0
    it = derive_input("x*sign(x + 3)", -1, 1)
    assert it.eta == 1 and it.f_a == -1


def test_a_long_number_in_a_message_is_shortened():
    with pytest.raises(ValueError) as exc:
        derive_output("10**600*x", 0.5, 4)
    msg = str(exc.value)
    assert len(msg) <= 300 and "(601 digits)" in msg


def _slow_derivation():
    return derive_input("exp(exp(exp(exp(exp(exp(x))))))", -1, 1)


def test_a_slow_step_stops_at_its_limit_naming_it(monkeypatch):
    import mpmath

    monkeypatch.setattr(limits, "STEP_SECONDS", 1.5)
    prec = mpmath.mp.prec
    t0 = time.monotonic()
    with pytest.raises(limits.StepTimeout, match=r"derivation step '.*(mpmath|SymPy).*' did not finish.*1\.5 s"):
        _slow_derivation()
    assert time.monotonic() - t0 < 30
    assert mpmath.mp.prec == prec


def test_the_limit_works_off_the_main_thread(monkeypatch):
    monkeypatch.setattr(limits, "STEP_SECONDS", 1.5)
    result = {}

    def work():
        try:
            _slow_derivation()
            result["outcome"] = "finished"
        except limits.StepTimeout as exc:
            result["outcome"] = str(exc)

    th = threading.Thread(target=work)
    t0 = time.monotonic()
    th.start()
    th.join(60)
    assert not th.is_alive() and time.monotonic() - t0 < 30
    assert "did not finish" in result["outcome"]


def test_the_cli_names_the_step_that_ran_out_of_time(monkeypatch, capsys):
    monkeypatch.setattr(limits, "STEP_SECONDS", 1.5)
    rc, _, err = run_cli(capsys, "derive", "exp(exp(exp(exp(exp(exp(x))))))", "--range", "-1", "1", "--no-page")
    assert rc == 2 and "did not finish" in err and "Traceback" not in err and err.count("\n") == 1


def test_a_limit_that_does_not_expire_leaves_no_stray_exception():
    with limits.step("quick", 0.2):
        pass
    with limits.time_limit(0.2):
        pass
    time.sleep(0.5)   # an exception raised after the block would surface here


# ------------------------------------------------------------------ formulas that start with "-"

@pytest.mark.parametrize("argv,shows", [
    (["derive", "-x**2", "--range", "-1", "1"], "f(x) = -x**2"),
    (["derive", "-x", "--range", "-1", "1"], "f(x) = -x"),
    # (an h increasing on the whole line: -1/x, increasing on each half-line only, is refused as an output)
    (["derive", "--output", "-exp(-x)", "--range", "-2", "-0.5"], "h(x) = -exp(-x)"),
    (["derive", "-exp(-x)", "--output", "-exp(-x)", "--range", "-1", "1", "--output-range", "-2", "-0.5"],
     "-exp(-x)"),
])
def test_formulas_that_start_with_a_minus_sign(capsys, argv, shows):
    rc, out, err = run_cli(capsys, *argv, "--no-page")
    assert rc == 0, err
    assert shows in out


# ------------------------------------------------------------------ every CLI argument checked before work

def _no_work(monkeypatch):
    import ttfs_symbolic.zoo.digits as digits

    def boom(*a, **k):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(digits, "load_demo_model", boom)


@pytest.mark.parametrize("make_argv,pattern", [
    (lambda d: ["demo", "--out", str(d / "file")], r"a file of that name exists"),
    (lambda d: ["demo", "--out", str(d / "file" / "sub")], r"is a file, not a folder"),
    (lambda d: ["demo", "--precisions", "0"], r"precision"),
    (lambda d: ["demo", "--precisions", "8,x"], r"precisions"),
    (lambda d: ["demo", "--precisions", "-8"], r"precision"),
    (lambda d: ["demo", "--margin", "nan"], r"--margin"),
    (lambda d: ["derive", "x", "--range", "-1", "1", "--delta", "0"], r"--delta"),
    (lambda d: ["derive", "x", "--range", "1", "nan"], r"finite|number|nan"),
    (lambda d: ["derive", "x", "--range", "-1", "1", "--out", str(d / "file" / "p.md")], r"a file stands"),
    (lambda d: ["derive", "x"], r"--range"),
    (lambda d: ["verify", str(d / "missing.toml")], r"missing|cannot read|No such"),
    (lambda d: ["verify", "gelu", "--max-examples", "0"], r"max-examples"),
    (lambda d: ["energy", "no_such_model"], r"unknown timm model"),
    (lambda d: ["budget", "digits", "--out", str(d / "file" / "sub")], r"is a file, not a folder"),
    (lambda d: ["budget", "digits", "--out", str(d / "file")], r"a file of that name exists"),
    (lambda d: ["budget", "digits", "--margin", "nan"], r"--margin"),
    (lambda d: ["budget", "digits", "--precision", "0"], r"precision"),
    (lambda d: ["energy", "vit_tiny_patch16_224", "--img-size", "0"], r"--img-size must be between 1 and 16384, got 0"),
])
def test_bad_cli_arguments_end_in_one_line_before_any_work(capsys, monkeypatch, tmp_path, make_argv, pattern):
    _no_work(monkeypatch)
    (tmp_path / "file").write_text("a file")
    rc, out, err = run_cli(capsys, *make_argv(tmp_path))
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and err.count("\n") == 1 and re.search(pattern, err), err


def test_demo_refuses_an_unwritable_out_folder(capsys, monkeypatch, tmp_path):
    import os

    _no_work(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    target = locked if not os.access(locked, os.W_OK) else "/proc/ttfs_demo_out"   # root writes anywhere
    rc, _, err = run_cli(capsys, "demo", "--out", str(target))
    os.chmod(locked, 0o700)
    assert rc == 2 and "cannot write there" in err and "Traceback" not in err


# ------------------------------------------------------------------ the whitelist only holds what derives

def _whitelist_forms():
    from ttfs_symbolic.symbolic.parse import ALLOWED_FUNCTIONS

    two = {"max": "max(x, 0.5)", "Max": "Max(x, 0.5)", "min": "min(x, 0.5)", "Min": "Min(x, 0.5)",
           "pow": "pow(x, 3)"}
    return [two.get(name, f"{name}(x)") for name in ALLOWED_FUNCTIONS]


@pytest.mark.parametrize("formula", _whitelist_forms())
def test_every_whitelisted_function_derives_or_is_refused_in_one_line(formula):
    """On [-1, 1] (across the kinks and jumps at 0): a derivation, or a ValueError; never a NameError."""
    for fn, (a, b) in ((derive_input, (-1, 1)), (derive_output, (0.25, 0.75))):
        try:
            fn(formula, a, b)
        except ValueError as exc:
            assert "\n" not in str(exc) and len(str(exc)) <= 400


def test_an_output_transform_whose_theta_overflows_float64_is_refused_with_a_range_that_works():
    """h = log(x) on [0, 800]: theta = h^-1(800) = e^800. (derive_output refuses this range earlier,
    in its monotone search; the overflow check is the last guard, tested on the record itself.)"""
    from types import SimpleNamespace

    import sympy

    from ttfs_symbolic.symbolic import refusals
    from ttfs_symbolic.symbolic.derive import Y

    x = sympy.Symbol("x", real=True)
    ot = SimpleNamespace(h=sympy.log(x), text="log(x)", a=sympy.Integer(0), b=sympy.Integer(800),
                         delta=sympy.Integer(1), theta=sympy.exp(800), theta_low=sympy.Integer(1),
                         inverse=sympy.exp(Y), psi=sympy.Integer(1))
    with pytest.raises(ValueError, match=r"overflows float64.*theta.*a range that works: \[0, 709\.\d+\]"):
        refusals.check_output_overflow(ot)
    ot.b, ot.theta = sympy.Integer(700), sympy.exp(700)
    refusals.check_output_overflow(ot)   # within float64: nothing to refuse
