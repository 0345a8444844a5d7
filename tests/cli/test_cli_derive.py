"""``ttfs derive`` / ``ttfs verify`` and the derivation pages of ttfs_symbolic.pages.

Bad input must end in one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy

from helpers import run_cli

from ttfs_symbolic.pages import dynamics_plot, latex, neuron as neuron_pages
from ttfs_symbolic.catalogue import get
from ttfs_symbolic.symbolic.derive import derive_input, derive_output

ROOT = Path(__file__).resolve().parents[2]


def assert_one_line_error(rc, err, *words):
    assert rc == 2, f"expected exit code 2, got {rc}: {err}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


# --------------------------------------------------------------------------
# ttfs derive
# --------------------------------------------------------------------------

def test_negative_range_parses_and_summary_shows_derived_kernel(capsys):
    rc, out, err = run_cli(capsys, "derive", "x*tanh(softplus(x))", "--range", "-4", "4", "--no-page")
    assert rc == 0, err
    it = derive_input("x*tanh(softplus(x))", -4, 4)
    assert "[a, b] = [-4, 4]" in out
    assert f"eta(s) = {it.eta}" in out
    assert f"tau = delta/(b - a) = {it.tau}" in out
    assert it.proof.summary() in out
    # exponent notation and a negative decimal, which argparse alone would take for options
    rc, out, err = run_cli(capsys, "derive", "x**2", "--range", "-1e-3", "2.5", "--no-page")
    assert rc == 0, err
    assert "[a, b] = [-1/1000, 5/2]" in out


def test_derive_output_prints_psi_theta_and_writes_page(capsys, tmp_path):
    page = tmp_path / "log.md"
    rc, out, err = run_cli(capsys, "derive", "--output", "log(x)", "--range", "0.5", "4", "--out", str(page))
    assert rc == 0, err
    ot = derive_output("log(x)", 0.5, 4)
    assert f"psi(s) = {ot.psi}" in out
    assert f"theta = h^-1(b) = {ot.theta}" in out
    text = page.read_text()
    png = tmp_path / "log.png"
    assert png.is_file() and png.stat().st_size > 1000
    assert "![membrane potential](log.png)" in text
    assert "## Output transform (Theorem 4.3)" in text
    assert latex.tex(ot.psi) in text and latex.tex(ot.inverse) in text
    assert "**symbolically**" in text  # h^-1 = exp was found by SymPy


def test_derive_page_contents_and_determinism(tmp_path, capsys):
    out1, out2 = tmp_path / "a.md", tmp_path / "b.md"
    for out in (out1, out2):
        rc, _, err = run_cli(capsys, "derive", "x*sigmoid(x)", "--range", "-3", "3", "--out", str(out),
                             "--plot", str(tmp_path / "plot.png"))
        assert rc == 0, err
    text = out1.read_text()
    assert text == out2.read_text()  # same input, byte-identical Markdown
    it = derive_input("x*sigmoid(x)", -3, 3)
    assert f"$$f'(x) = {latex.tex(it.derivative)}$$" in text
    assert latex.tex(it.eta) in text
    assert r"\tau = \frac{\delta}{b - a} = \frac{1}{6}" in text
    assert r"\int_a^x f'(u)\,\mathrm{d}u = f(x) - f(a)" in text
    assert "## How it was verified" in text and it.proof.method in text
    assert "![membrane potential](plot.png)" in text
    # the Python API gives the same page
    assert neuron_pages.derivation_page(f="x*sigmoid(x)", range=(-3, 3), plot_path=tmp_path / "plot.png") == text


def test_derive_param_and_whole_neuron(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "derive", "exp(x)", "--range", "-4", "4", "--output", "log(x)",
                           "--output-range", "-4", "8", "--out", str(tmp_path / "lse.md"), "--no-plot")
    assert rc == 0, err
    assert "input transform" in out and "output transform" in out
    text = (tmp_path / "lse.md").read_text()
    assert "## The whole neuron" in text and "membrane potential" not in text
    rc, out, err = run_cli(capsys, "derive", "1/sqrt(x + eps)", "--range", "0", "4", "--param", "eps=1e-5",
                           "--no-page")
    assert rc == 0, err
    it = derive_input("1/sqrt(x + eps)", 0, 4, params={"eps": 1e-5})
    assert f"eta(s) = {it.eta}" in out


@pytest.mark.parametrize("argv, words", [
    (["derive", "x^2", "--range", "0", "1"], ["'^'", "**"]),                        # malformed
    (["derive", "__import__('os').system('echo hi')", "--range", "0", "1"], ["__import__"]),  # unsafe
    (["derive", "x*(", "--range", "0", "1"], ["x*("]),                               # syntax error
    (["derive", "x**2"], ["--range"]),                                             # missing --range
    (["derive", "x**2", "--range", "2", "1"], ["a < b"]),                            # a >= b
    (["derive", "x**2", "--range", "1", "1"], ["a < b"]),
    (["derive", "--output", "x**2", "--range", "-1", "1"], ["not increasing", "(-1, 1]"]),  # non-monotone h
    (["derive", "log(x)", "--range", "-1", "1"], ["undefined", "x = 0"]),            # f undefined on the range
    (["derive", "x", "--range", "0", "1", "--param", "eps"], ["NAME=VALUE"]),
    (["derive", "x", "--range", "0", "one"], ["invalid float"]),                     # argparse error, one line
    (["derive", "x", "--range", "0", "1", "--out", "/etc/hostname/a.md"], ["a file stands where its folder should be"]),
    (["derive", "exp(x)", "--range", "0", "1", "--output", "log(x)"], ["--output-range"]),
    (["derive", "--range", "0", "1"], ["formula"]),
    # too steep for the proof's quadrature: the whole message, its advice at the end included
    (["derive", "tanh(1e4*x)", "--range", "-1", "1", "--no-page"], ["misses the identity by", "narrow the range"]),
    (["verify", "/nonexistent_dir_ttfs/none.toml"], ["no neuron definition file"]),   # missing file
    (["verify", "no_such_neuron"], ["no neuron 'no_such_neuron'"]),                   # unknown name (KeyError)
])
def test_bad_input_one_line_exit_2(capsys, argv, words):
    rc, _, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, err, *words)
    assert not Path("/nonexistent_dir_ttfs").exists()


@pytest.mark.parametrize("content, words", [
    ('name = "bad"\nf = "x"\nrange = [0, 1\n', ["not valid TOML"]),
    ('name = "bad"\nf = "x^2"\nrange = [0.0, 1.0]\n', ["'^'"]),
    ('name = "bad"\nf = "x"\nh = "x**2"\nrange = [0.0, 1.0]\noutput_range = [-1.0, 1.0]\n', ["not increasing"]),
    ('name = "bad"\nf = "x"\ncolour = "red"\n', ["unknown key", "colour"]),
])
def test_verify_bad_definitions(capsys, tmp_path, content, words):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    rc, _, err = run_cli(capsys, "verify", str(path))
    assert_one_line_error(rc, err, *words)


def test_subprocess_no_traceback(tmp_path):
    """The real entry point (python -m ttfs_symbolic.cli), bad formula: one line, exit 2, no traceback."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "ttfs_symbolic.cli", "derive", "x^2", "--range", "-4", "4"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("ttfs derive: error: ") and "'^'" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written on bad input


# --------------------------------------------------------------------------
# ttfs verify: exit codes
# --------------------------------------------------------------------------

def test_verify_exit_codes_follow_report(capsys, monkeypatch):
    from ttfs_symbolic import verify

    def fake(neuron, *, max_examples=50, seed=None):
        assert neuron.name == "relu" and max_examples == 7 and seed == 3
        results = [verify.CheckResult("clipping", True, 7, "ok"),
                   verify.CheckResult("order and encoding", False, 2, "a spike outside the window",
                                      {"values": [0.5], "spike times": [9.0]})]
        return verify.VerifyReport("relu", results)

    monkeypatch.setattr(verify, "check_neuron", fake)
    rc, out, err = run_cli(capsys, "verify", "relu", "--max-examples", "7", "--seed", "3")
    assert rc == 1
    assert "order and encoding" in out and "9.0" in out  # the report with its counterexample
    assert "1 of 2 properties failed: order and encoding" in err

    def fake_pass(neuron, *, max_examples=50, seed=None):
        return verify.VerifyReport(neuron.name, [verify.CheckResult("clipping", True, 5, "ok")])

    monkeypatch.setattr(verify, "check_neuron", fake_pass)
    rc, out, err = run_cli(capsys, "verify", str(ROOT / "neurons" / "identity.toml"))
    assert rc == 0 and err == ""
    assert "clipping" in out


def test_verify_real_run_identity(capsys):
    """The real check_neuron through the CLI: exit 0 exactly when no property fails, every check listed."""
    rc, out, err = run_cli(capsys, "verify", "identity", "--max-examples", "5", "--seed", "0")
    assert rc in (0, 1), err
    failed = "FAILS" in out
    assert rc == (1 if failed else 0)
    assert ("properties failed" in err) == failed
    for name in ("accumulated potential", "clipping", "order and encoding", "kernel convergence"):
        assert name in out


# --------------------------------------------------------------------------
# pages: the simulation behind the plots, and the pages
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["silu", "relu", "logsumexp", "exp", "sigmoid_out", "softplus"])
def test_simulated_potential_fires_at_the_derived_value(name):
    """The Figure-2 simulation (kernels eta and psi integrated on a grid) reproduces clip(h(f(x))).

    Tolerance 1e-4 of the output range: ~600 Gauss-Legendre cells per window
    with eta's kinks as cell edges, and the crossing interpolated linearly
    between grid points (measured worst on the catalogue ~1e-5, for the
    steepest psi, logsumexp's 12 exp(8 - 12 s)). A wrong kernel or constant
    moves the spike by a whole fraction of the window.
    """
    nd = get(name)
    it, ot = nd.input_transform(), nd.output_transform()
    xs = [float(it.a) + (float(it.b) - float(it.a)) * q for q in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)]
    traces = dynamics_plot.simulate(it, ot, xs)
    d = float(ot.b - ot.a)
    for tr in traces:
        assert abs(tr.x_out - tr.expected) <= 1e-4 * d, (tr.x_in, tr.x_out, tr.expected)
        # the receiving stage ends at f(x) (eq. 9): silent inputs contribute f(a) through C alone
        fx = float(sympy.N(it.f.subs(sympy.Symbol("x", real=True), sympy.nsimplify(tr.x_in))))
        assert math.isclose(tr.V_at_emit, fx, rel_tol=1e-7, abs_tol=1e-7 * max(1.0, abs(fx))), (tr.x_in, fx)


def test_simulation_detects_a_wrong_constant():
    """Sanity of the check above: a derivation with a wrong C term no longer fires at f(x)."""
    import dataclasses

    it = derive_input("x*sigmoid(x)", -3, 3)
    ot = derive_output("x", -1, 3)
    wrong = dataclasses.replace(it, const=it.const + sympy.Rational(1, 10))
    good = dynamics_plot.simulate(it, ot, [1.0])[0]
    bad = dynamics_plot.simulate(wrong, ot, [1.0])[0]
    assert abs(good.x_out - good.expected) < 1e-6
    assert abs(bad.x_out - bad.expected) > 0.5  # d*0.1 = 0.6 added to V


def test_pages_for_input_only_output_only_and_max(tmp_path):
    f_only = neuron_pages.derivation_page(f="tanh(x)", range=(-3, 3))
    assert "## Input transform" in f_only and "## Output transform" not in f_only
    h_only = neuron_pages.derivation_page(h="sigmoid(x)", range=(0, 0.9), plot_path=tmp_path / "h.png")  # h^-1(0) = -oo
    assert "## Output transform" in h_only and "## Input transform" not in h_only
    assert "identity input transform (Corollary 4.2)" in h_only
    assert (tmp_path / "h.png").stat().st_size > 1000
    page = neuron_pages.neuron_page(get("max"), plot_path=tmp_path / "max.png")
    assert "Not a sum of kernels" in page and (tmp_path / "max.png").is_file()
    with pytest.raises(ValueError, match="range"):
        neuron_pages.derivation_page(f="x")


def test_no_page_with_plot_writes_the_plot_alone(capsys, tmp_path, monkeypatch):
    """--no-page --plot FILE.png: the asked-for plot is written, no page (a probe found both skipped, rc 0)."""
    monkeypatch.chdir(tmp_path)
    png = tmp_path / "figs" / "only.png"
    rc, out, err = run_cli(capsys, "derive", "--output", "log(x)", "--range", "0.5", "4", "--plot", str(png),
                           "--no-page")
    assert rc == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in out
    assert not list(tmp_path.glob("*.md"))
    rc, out, err = run_cli(capsys, "derive", "x", "--range", "0", "1", "--no-page", "--no-plot",
                           "--plot", str(tmp_path / "no.png"))
    assert rc == 0 and not (tmp_path / "no.png").exists()
