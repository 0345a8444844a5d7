"""The derivation pages' LaTeX, summary, plot link and Figure-2 simulation against hand computations
(the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import math

import pytest
import sympy

from ttfs_symbolic.pages import dynamics_plot, latex, neuron as pages
from ttfs_symbolic.symbolic.parse import X


def test_an_absolute_value_never_breaks_a_markdown_table_row():
    text = latex.tex(sympy.Abs(X) + 1)
    assert "|" not in text and r"\vert" in text
    row = f"| kernel | ${text}$ |"
    assert row.count("|") == 3


def test_summary_prints_c_per_synapse_as_f_of_a_over_d():
    it, ot = pages.derive_pair("exp(x)", None, (0, 2))
    assert it.const == sympy.Rational(1, 2)             # f(a)/d = exp(0)/2
    text = pages.derivation_summary(it, ot)
    assert "  C term per synapse (times w): f(a)/d = 1/2 ~ 0.5\n" in text
    it, _ = pages.derive_pair("x**2", None, (1, 5))      # f(a)/d = 1/4
    assert "f(a)/d = 1/4 ~ 0.25" in pages.derivation_summary(it, None)


def test_the_page_links_a_plot_written_in_another_folder(tmp_path):
    page, plot = tmp_path / "pages" / "sq.md", tmp_path / "img" / "sq.png"
    page.parent.mkdir()
    plot.parent.mkdir()
    page, png, _, _ = pages.write_derivation(page, "x**2", None, (0, 1), None, plot_path=plot)
    assert png == plot and plot.is_file()
    assert "![membrane potential](../img/sq.png)" in page.read_text()


@pytest.mark.parametrize("f, fn, a, b", [("exp(x)", math.exp, 0, 1), ("x + 2", lambda v: v + 2, 0, 1),
                                         ("x**2", lambda v: v * v, 1, 2)])
def test_simulated_spikes_encode_the_closed_form(f, fn, a, b):
    # C = f(a)/d is not 0 here: the constant's ramp over the receiving stage is part of V(T_emit)
    it = pages.derive_pair(f, None, (a, b))[0]
    assert float(it.const) != 0
    it, ot, _ = dynamics_plot.companion_transforms(it, None)
    xs = [a + (b - a) * q for q in (0.2, 0.5, 0.9)]
    for tr in dynamics_plot.simulate(it, ot, xs):
        fx = fn(tr.x_in)
        assert tr.V_at_emit == pytest.approx(fx, rel=1e-6, abs=1e-9)     # eq. 9 with one input of weight 1
        assert tr.expected == pytest.approx(fx, rel=1e-9)               # identity output transform
        assert tr.x_out == pytest.approx(tr.expected, abs=2e-3 * (float(ot.b) - float(ot.a)))
