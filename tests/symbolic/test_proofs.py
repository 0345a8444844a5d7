"""Tests of the symbolic proofs in ``proofs/``.

Every proof must hold; the checking functions must reject wrong ingredients
(a wrong C, eta, psi or theta), so a proof that "holds" is not vacuous; the
printed-versus-derived comparisons must report what SymPy finds.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

try:
    import proofs
except ImportError:  # pytest started outside the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import proofs

from proofs import (
    _common,
    corollary_4_2,
    corollary_4_4,
    layernorm,
    multiplication,
    softmax,
    theorem_4_1,
    theorem_4_3,
    theorem_4_6,
)
from proofs._common import S, ProofResult, derive_C, derive_eta, derive_psi_inverse, is_zero, window

_RESULTS: dict[str, ProofResult] = {}


def result_of(module) -> ProofResult:
    """Run each proof once per session (SymPy work dominates the test time)."""
    if module.__name__ not in _RESULTS:
        _RESULTS[module.__name__] = module.prove()
    return _RESULTS[module.__name__]


@pytest.mark.parametrize("module", proofs.ALL, ids=lambda m: m.__name__.split(".")[-1])
def test_proof_holds(module):
    result = result_of(module)
    assert result.name == module.__name__.split(".")[-1]
    assert result.steps, "a proof without steps proves nothing"
    assert result.holds, result.report()
    assert result.report().rstrip().endswith("PROVED")


def test_all_lists_every_module():
    names = {p.stem for p in Path(proofs.__file__).parent.glob("*.py") if not p.stem.startswith("_")}
    assert names == {m.__name__.split(".")[-1] for m in proofs.ALL}


# ---------------------------------------------------------------- checker itself
def test_is_zero_accepts_identities_and_rejects_non_identities():
    x = sp.Symbol("x", real=True)
    assert is_zero(sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1)
    assert not is_zero(x - x**2)
    assert not is_zero(sp.exp(sp.log(x + 2)) - x)


def test_module_runs_from_the_command_line():
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "proofs.corollary_4_4"], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Corollary 4.4" in done.stdout and done.stdout.rstrip().endswith("PROVED")
    assert "RuntimeWarning" not in done.stderr


def test_failed_proof_exits_nonzero():
    with pytest.raises(SystemExit) as info:
        _common.main(lambda: ProofResult("fake", "0 = 1", ["0 - 1 = -1"], False))
    assert info.value.code == 1


# ---------------------------------------------------------------- negative tests
def test_theorem_4_1_rejects_wrong_constant():
    win = window("s")
    fs = [sp.Function("f1"), sp.Function("f2")]
    ws = list(sp.symbols("w1:3", real=True))
    xs = list(sp.symbols("x1:3", real=True))
    ok, _ = theorem_4_1.check_accumulated(win, fs, ws, xs)
    assert ok
    # C over the time step instead of over d: f(a) is scaled by d/delta ... wrong
    wrong_C = [w * f(win.a) / win.delta for f, w in zip(fs, ws)]
    ok, diff = theorem_4_1.check_accumulated(win, fs, ws, xs, Cs=wrong_C)
    assert not ok and diff != 0
    # no constant at all: V misses sum_j w_j f_j(a)
    ok, diff = theorem_4_1.check_accumulated(win, fs, ws, xs, Cs=[0, 0])
    assert not ok
    assert is_zero(diff + ws[0] * fs[0](win.a) + ws[1] * fs[1](win.a))


def test_theorem_4_1_rejects_wrong_kernel():
    win = window("s")
    f = sp.exp
    x = sp.Symbol("x", real=True)
    # eta(s) = f'(s/tau) forgets the offset a of the sender's range
    eta_wrong = sp.Lambda(S, sp.exp(S / win.tau))
    ok, _ = theorem_4_1.check_accumulated(win, [f], [1], [x], etas=[eta_wrong])
    assert not ok
    ok, _ = theorem_4_1.check_accumulated(win, [f], [1], [x], etas=[derive_eta(f, win)], Cs=[derive_C(f, 1, win)])
    assert ok


def test_theorem_4_3_rejects_wrong_psi_and_theta():
    win = window("r")
    g = sp.Function("g")
    psi = derive_psi_inverse(g, win)
    assert theorem_4_3.check_general(psi, g(win.b), win, g)[0]
    no_tau = sp.Lambda(S, psi(S) * win.tau)  # missing 1/tau
    assert not theorem_4_3.check_general(no_tau, g(win.b), win, g)[0]
    assert not theorem_4_3.check_general(psi, g(win.a), win, g)[0]  # threshold at the wrong end
    identity_psi = sp.Lambda(S, 1 / win.tau)  # Corollary 4.4's psi cannot realise a general h
    assert not theorem_4_3.check_general(identity_psi, g(win.b), win, g)[0]


def test_log_sum_exp_rejects_wrong_constant():
    w0, w1 = window("0"), window("1")
    xs = list(sp.symbols("x1:3", real=True))
    ok, dV, _ = theorem_4_6.check_lse(xs, w0, w1, C=0)
    assert not ok
    assert is_zero(dV + 2 * sp.exp(w0.a))  # each input misses exp(a0)


def test_multiplication_rejects_printed_theta_and_C():
    w1, w2, wy, wo = window("1"), window("2"), window("y"), window("o")
    c1, c2 = 1 - w1.a, 1 - w2.a
    ok, _, dfire = multiplication.check_product(w1, w2, wy, wo, theta=wo.b - c1 * c2)
    assert not ok
    assert is_zero(dfire - 2 * c1 * c2)  # at the time of x1 x2 the potential is 2 c1 c2 above theta
    printed_like = [sp.exp(wy.a) / wy.d, c2 * w1.a / w1.d, c1 * w2.a / w2.d]  # + instead of -
    ok, dV, _ = multiplication.check_product(w1, w2, wy, wo, layer_two_C=printed_like)
    assert not ok
    assert is_zero(dV - 2 * (c2 * w1.a + c1 * w2.a))


# ---------------------------------------------------------------- printed forms
def _comparison(module, equation, quantity_start):
    for c in result_of(module).comparisons:
        if c.equation == equation and c.quantity.startswith(quantity_start):
            return c
    raise AssertionError(f"no comparison eq. {equation} {quantity_start!r} in {module.__name__}")


@pytest.mark.parametrize(
    "module, equation, quantity, equal",
    [
        (corollary_4_2, "10", "eta(s) for s >= 0", False),
        (corollary_4_2, "10", "C (per synapse)", True),
        (theorem_4_6, "19", "eta(s)", True),
        (theorem_4_6, "19", "C (neuron total", True),
        (theorem_4_6, "19", "psi(s)", True),
        (layernorm, "22", "eta^(1)(s)", True),
        (layernorm, "22", "C^(1) as the per-synapse", True),
        (layernorm, "22", "C^(1) as the neuron's total", False),
        (layernorm, "23", "eta^(2)(s)", False),
        (layernorm, "23", "C^(2)", True),
        (multiplication, "24", "eta^(1)(s), second form", True),
        (multiplication, "24", "C^(1)", True),
        (multiplication, "26", "eta_0^(2)(s)", True),
        (multiplication, "27", "C^(2)", False),
        (multiplication, "Sec. 4.3.4", "theta^(2)", False),
        (softmax, "36", "psi^(2)(s)", True),
        (softmax, "36", "theta^(2)", True),
    ],
)
def test_printed_equations(module, equation, quantity, equal):
    c = _comparison(module, equation, quantity)
    assert c.equal is equal, c.line()
    assert (c.difference == 0) is equal
    # the recorded difference is the real one, not a label
    assert is_zero(c.printed - c.derived - c.difference)


# ---------------------------------------------------------------- proofs of the library's own output
def test_library_proof_fails_for_a_wrong_library_C_or_psi():
    """proofs.library checks what ttfs_symbolic returns: a wrong const or psi from the library fails it."""
    from dataclasses import replace as dc_replace

    from ttfs_symbolic.catalogue import get

    from proofs import library
    from proofs._common import _Steps

    class Wrong:
        def __init__(self, nd, **changes):
            self.nd, self.name, self.changes = nd, nd.name, changes

        def input_transform(self):
            return dc_replace(self.nd.input_transform(), **{k: v for k, v in self.changes.items() if k in ("const", "eta")})

        def output_transform(self):
            return dc_replace(self.nd.output_transform(), **{k: v for k, v in self.changes.items() if k in ("psi", "theta")})

    square, exp = get("square"), get("exp")
    it, ot = square.input_transform(), exp.output_transform()
    for nd, check in ((Wrong(square, const=it.f_a * it.d), library.check_catalogue_input),
                      (Wrong(square, const=it.const * (1 + sp.Rational(1, 10**9))), library.check_catalogue_input),
                      (Wrong(square, eta=it.eta * (1 + sp.Rational(1, 10**6))), library.check_catalogue_input),
                      (Wrong(exp, psi=ot.psi * (1 + sp.Rational(1, 10**6))), library.check_catalogue_output),
                      (Wrong(exp, theta=ot.theta + sp.Rational(1, 10**9)), library.check_catalogue_output)):
        st = _Steps()
        check(st, nd)
        assert not st.ok, "\n".join(st.lines)
    st = _Steps()
    library.check_catalogue_input(st, square)
    library.check_catalogue_output(st, exp)
    assert st.ok


def test_general_n_log_sum_exp_rejects_a_wrong_C_or_theta():
    w0, w1 = window("0"), window("1")
    assert theorem_4_6.check_lse_general(w0, w1)[0]
    _, _, psi, theta = theorem_4_6.lse_neuron(w0, w1, 0)
    C = derive_C(sp.exp, 1, w0)
    assert not theorem_4_6.check_lse_general(w0, w1, C=C * w0.d**2)[0]      # C = f(a) d instead of f(a)/d
    assert not theorem_4_6.check_lse_general(w0, w1, theta=sp.exp(w1.a))[0]  # theta = h^-1(a)


# ---------------------------------------------------------------- the proofs prove the library's output
def test_canonical_sums_identifies_sums_over_different_index_names():
    j, k = sp.Symbol("j", integer=True, positive=True), sp.Symbol("k", integer=True, positive=True)
    n = sp.Symbol("n", integer=True, positive=True)
    x = sp.IndexedBase("x", real=True)
    mean = sp.Sum(x[j], (j, 1, n)) / n
    assert is_zero(sp.Sum(x[k] - mean, (k, 1, n)))                       # centred values sum to 0
    assert is_zero(sp.Sum((x[k] - mean) ** 2, (k, 1, n)) / n - (sp.Sum(x[k] ** 2, (k, 1, n)) / n - mean**2))
    assert not is_zero(sp.Sum((x[k] - mean) ** 2, (k, 1, n)) / n - sp.Sum(x[k] ** 2, (k, 1, n)) / n)
    assert not is_zero(sp.Sum(x[k], (k, 1, n)) - sp.Sum(x[k], (k, 2, n)))


def _changed(position, change):
    """A wrapper of derive.input_formulas / output_formulas that changes one returned quantity."""
    def wrap(fn):
        def broken(*args):
            out = list(fn(*args))
            out[position] = change(out[position], *args)
            return tuple(out)
        return broken
    return wrap


#: deliberate faults in the library's derivation (ttfs_symbolic.symbolic.derive), each small
LIBRARY_FAULTS = {
    "C off by 1e-9 relative": ("input_formulas", _changed(1, lambda C, *_: C * (1 + sp.Rational(1, 10**9)))),
    "eta off by 1e-6 relative": ("input_formulas", _changed(0, lambda eta, *_: eta * (1 + sp.Rational(1, 10**6)))),
    "psi off by 1e-6 relative": ("output_formulas", _changed(0, lambda psi, *_: psi * (1 + sp.Rational(1, 10**6)))),
    "theta off by 1e-9": ("output_formulas", _changed(1, lambda theta, *_: theta + sp.Rational(1, 10**9))),
    "C = f(a)*d instead of f(a)/d": ("input_formulas", _changed(1, lambda C, f, a, d, tau: C * d**2)),
}


@pytest.mark.parametrize("fault, module", [
    ("C off by 1e-9 relative", theorem_4_1),
    ("C off by 1e-9 relative", theorem_4_6),
    ("C = f(a)*d instead of f(a)/d", layernorm),
    ("eta off by 1e-6 relative", theorem_4_1),
    ("eta off by 1e-6 relative", corollary_4_2),
    ("psi off by 1e-6 relative", theorem_4_3),
    ("psi off by 1e-6 relative", corollary_4_4),
    ("theta off by 1e-9", corollary_4_4),
    ("theta off by 1e-9", theorem_4_6),
], ids=lambda v: v if isinstance(v, str) else v.__name__.split(".")[-1])
def test_a_broken_library_derivation_fails_the_proof(monkeypatch, fault, module):
    """The proofs prove what the library derives: a bug in derive_input's / derive_output's formulas
    (patched here) makes the proof fail, with a failing step."""
    from ttfs_symbolic.symbolic import derive

    name, wrap = LIBRARY_FAULTS[fault]
    monkeypatch.setattr(derive, name, wrap(getattr(derive, name)))
    result = module.prove()
    assert not result.holds
    failed = [line for line in result.steps if "FAILS" in line]
    assert failed, result.report()
    if module is layernorm:   # the general-n chain sees it too, not only the n = 3 one
        assert any(line.startswith("general n") and "FAILS" in line for line in failed), result.report()
    if module in (theorem_4_1, theorem_4_6):
        assert any("general n" in line for line in failed), result.report()


def test_general_n_layernorm_steps_are_there():
    lines = result_of(layernorm).steps
    general = [line for line in lines if line.startswith("general n")]
    assert any("Sum(z_k^2" in line for line in general)
    assert any("centred values sum to 0" in line for line in general)
    assert any("(eq. 21)" in line for line in general)
    assert all(line.endswith("0: ok]") for line in general)
