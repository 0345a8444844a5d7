"""The derivation summary's threshold and the default page names (the third blind mutation audit's survivors,
docs/mutation.md)."""
from __future__ import annotations

import pytest
import sympy

from helpers import run_cli
from ttfs_symbolic.pages import latex, neuron as pages


def test_summary_theta_is_h_inverse_of_b_not_of_a(capsys):
    """``ttfs derive --output log(x) --range 0.5 4`` prints ``theta = h^-1(b) = exp(4) ~ 54.5982`` (h^-1(b), the
    firing threshold), never h^-1(a) = exp(1/2) ~ 1.64872, in the derivation summary and on stdout."""
    _, ot = pages.derive_pair(None, "log(x)", (0.5, 4))
    assert ot.theta == sympy.exp(4) and ot.theta_low == sympy.exp(sympy.Rational(1, 2))
    text = pages.derivation_summary(None, ot)
    assert "\n  theta = h^-1(b) = exp(4) ~ 54.5982\n" in text
    assert "1.64872" not in text
    rc, out, err = run_cli(capsys, "derive", "--output", "log(x)", "--range", "0.5", "4", "--no-page")
    assert rc == 0, err
    assert "  theta = h^-1(b) = exp(4) ~ 54.5982\n" in out


@pytest.mark.parametrize("text, name", [
    ("x*tanh(softplus(x))", "x_tanh_softplus_x"),   # the docstring's example: a trailing ')'
    ("-x**2", "x_2"),                               # a leading '-'
    ("(x)", "x"),
    ("output_log(x)", "output_log_x"),              # the name ttfs derive gives --output log(x)
    ("a" * 58 + "(x)", "a" * 58 + "_x"),           # cut at 60 characters
    ("a" * 59 + "(x)", "a" * 59),                  # cut right after the '_': the '_' goes too
    ("+-*", "neuron"),                             # nothing left
])
def test_page_names_have_no_leading_or_trailing_underscore(text, name):
    """The page's file name from a formula keeps no '_' of a leading or trailing symbol:
    ``x*tanh(softplus(x))`` -> ``x_tanh_softplus_x`` (not ``x_tanh_softplus_x_``)."""
    assert latex.slug(text) == name


def test_derive_writes_the_page_under_the_formula_slug(capsys, tmp_path, monkeypatch):
    """``ttfs derive 'x*tanh(softplus(x))' --range -4 4`` with no --out writes ``x_tanh_softplus_x.md`` in the
    current folder (and says so), not ``x_tanh_softplus_x_.md``."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "derive", "x*tanh(softplus(x))", "--range", "-4", "4", "--no-plot")
    assert rc == 0, err
    assert out.rstrip().endswith("wrote x_tanh_softplus_x.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_tanh_softplus_x.md"]
