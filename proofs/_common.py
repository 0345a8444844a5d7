"""Shared machinery of the symbolic proofs: windows, Theorem 4.1 and 4.3 checks.

Conventions (docs/design.md, docs/design.md):

* A layer emits in ``[T_emit, T_end)``, ``T_end = T_emit + delta``; its range
  is ``[a, b]``, ``d = b - a > 0``, ``tau = delta/d``, ``T_ref = T_emit + b*tau``.
  Here ``a`` (real), ``d`` and ``delta`` (positive) are the free symbols and
  ``b = a + d``, so ``d > 0`` is known to SymPy.
* A spike at ``t`` stands for ``x = (T_ref - t)/tau``; value ``b`` fires at
  ``T_emit``, value ``a`` (no spike) is silent.
* Theorem 4.1 (eq. 8-9) integrates over the *sender's* window with the
  sender's tau: each synapse contributes
  ``(1/tau_s) * int_{T_emit_s}^{T_end_s} (w*eta(t - t_j) + C_j) dt`` with the
  per-synapse constant ``C_j = w*f(a_s)/d_s``; the neuron's C (eq. 8) is the
  sum of the ``C_j`` of synapses sharing one sender window.
* Theorem 4.3 (eq. 13-14) uses the receiver's tau: during ``[T_emit, T_end)``
  the potential is ``V + int_0^sigma psi(s) ds`` and the neuron fires when it
  reaches ``theta``.

* eta, C, psi and theta are never written here: :func:`derive_eta`,
  :func:`derive_C`, :func:`derive_psi_printed` and :func:`derive_theta` call
  the library's formulas (``ttfs_symbolic.symbolic.derive.input_formulas`` / ``output_formulas``,
  the code ``derive_input`` and ``derive_output`` run),
  looked up at call time, with f, h and g undefined SymPy functions where a
  theorem is general. A bug in the library's derivation fails the proofs
  (``tests/symbolic/test_proofs.py`` patches the library to check this).

Every check computes one ``lhs - rhs`` and requires
``sympy.simplify(diff) == 0`` (:func:`is_zero`); no check adds residuals of
different claims. Nothing is compared as a string.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import sympy as sp

__all__ = [
    "ProofResult",
    "Comparison",
    "Window",
    "window",
    "DELTA",
    "S",
    "T",
    "U",
    "Y",
    "SIGMA",
    "is_zero",
    "simplify_diff",
    "tidy",
    "derivative",
    "canonical_sums",
    "derive_eta",
    "derive_C",
    "Synapse",
    "synapse_potential",
    "accumulated_potential",
    "check_input_transform",
    "derive_psi_printed",
    "derive_theta",
    "apply_inverse_rule",
    "derive_psi_inverse",
    "psi_integral",
    "firing_residual",
    "check_output_transform",
    "compare",
    "main",
]


# --------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """A printed equation of the paper beside the form derived from the theorems.

    ``difference`` is ``simplify(printed - derived)`` (its shortest simplify
    route); ``equal`` is whether it is identically zero in the free symbols.
    """

    equation: str
    quantity: str
    printed: sp.Expr
    derived: sp.Expr
    difference: sp.Expr
    equal: bool
    note: str = ""

    def line(self) -> str:
        verdict = "EQUAL" if self.equal else "DIFFERS"
        text = (
            f"eq. {self.equation} {self.quantity}: printed {sp.sstr(self.printed)} | "
            f"derived {sp.sstr(self.derived)} | printed - derived = "
            f"{sp.sstr(self.difference)} -> {verdict}"
        )
        if self.note:
            text += f" ({self.note})"
        return text


@dataclass
class ProofResult:
    """Outcome of one proof: what is claimed, the steps checked, and whether it holds.

    ``comparisons`` lists printed-versus-derived forms of the paper's
    equations; a printed form that differs does not make ``holds`` false (the
    library uses the derived form), it is reported.
    """

    name: str
    statement: str
    steps: list[str]
    holds: bool
    comparisons: list[Comparison] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"== {self.name} ==", self.statement, ""]
        lines += [f"  {i + 1}. {step}" for i, step in enumerate(self.steps)]
        if self.comparisons:
            lines.append("")
            lines.append("  printed vs derived:")
            lines += [f"    - {c.line()}" for c in self.comparisons]
        lines.append("")
        lines.append("PROVED" if self.holds else "FAILED")
        return "\n".join(lines)


#: wall-clock limit of one check's simplification (a true identity here closes in a few seconds; a
#: residual that does not close in this time counts as not proved); ``$PROOF_CHECK_SECONDS`` overrides
CHECK_SECONDS = float(os.environ.get("PROOF_CHECK_SECONDS", 120))


class _Steps:
    """Collects steps; each check appends one line and ANDs into ``ok``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ok = True

    def note(self, text: str) -> None:
        self.lines.append(text)

    def check(self, text: str, diff: sp.Expr) -> bool:
        """Record ``text`` and require ``simplify(diff) == 0`` within :data:`CHECK_SECONDS`."""
        from ttfs_symbolic.symbolic.limits import SympyTimeout, time_limit

        try:
            with time_limit(CHECK_SECONDS):
                rest = simplify_diff(diff)
        except SympyTimeout:
            rest = sp.Symbol(f"<not closed within {CHECK_SECONDS:g} s>")
        ok = rest == 0
        self.ok = self.ok and ok
        self.lines.append(f"{text}  [simplify(lhs - rhs) = {sp.sstr(rest)}: {'ok' if ok else 'FAILS'}]")
        return ok

    def require(self, text: str, value: Optional[bool]) -> bool:
        """Record a SymPy truth value (``True`` only counts; ``None`` is unproven)."""
        ok = isinstance(value, (bool, sp.logic.boolalg.BooleanAtom)) and bool(value)
        self.ok = self.ok and ok
        self.lines.append(f"{text}  [{'ok' if ok else 'FAILS: ' + str(value)}]")
        return ok


def _simplify(expr: sp.Expr) -> sp.Expr:
    """``sympy.simplify``; where SymPy's own Sum simplification raises (a SymPy bug:
    ``sum_simplify`` on a product of Sums), ``simplify`` without it is tried,
    then the expression is returned as it is (a route that does not close)."""
    try:
        return sp.simplify(expr)
    except (StopIteration, RecursionError, TypeError, ValueError):
        pass
    try:
        return sp.simplify(expr, doit=False) if not expr.has(sp.Sum) else sp.factor_terms(sp.expand(expr))
    except (StopIteration, RecursionError, TypeError, ValueError):
        return expr


def simplify_diff(diff: sp.Expr) -> sp.Expr:
    """``simplify`` of a difference after ``doit``; 0 if any route below reaches 0.

    Routes: simplify(diff); then simplify(expand(diff)) (integrals of powers
    come back with sqrt of an expanded product that plain simplify does not
    cancel); then simplify(expand(simplify(diff))) (simplify leaves some sums
    such as K*a + K*b - K*(a + b) unexpanded).
    """
    diff = sp.sympify(diff).doit()
    out = _simplify(diff)
    if out == 0:
        return out
    candidates = [out]
    for route in (diff, out):
        candidate = _simplify(sp.expand(route))
        if candidate == 0:
            return sp.Integer(0)
        candidates.append(candidate)
    if diff.has(sp.Sum):
        # Sum(x[j], (j, 1, n)) and Sum(x[k], (k, 1, n)) are one sum: rename bound indices canonically
        for route in (diff, out):
            candidate = _simplify(sp.expand(canonical_sums(sp.expand(route))))
            if candidate == 0:
                return sp.Integer(0)
            candidates.append(candidate)
    # not an identity: the shortest form, for the report
    return min(candidates, key=sp.count_ops)


def canonical_sums(expr: sp.Expr) -> sp.Expr:
    """Rename the index of every one-index ``Sum`` to ``k_<depth>`` (depth: Sums nested in its summand).

    Bound indices do not change a sum's value, so this is an identity; it lets
    SymPy see that sums written with different index names are the same sum.
    Summands that are sums of terms are split (``Sum(A + B) = Sum(A) + Sum(B)``)
    and factors free of the index are taken out.
    """
    def depth(e) -> int:
        inner = [depth(arg) for arg in e.args if isinstance(arg, sp.Basic)]
        here = 1 if isinstance(e, sp.Sum) else 0
        return here + max(inner, default=0)

    def rename(e):
        if not isinstance(e, sp.Sum) or len(e.limits) != 1:
            return e
        (i, lo, hi), = e.limits
        new = sp.Symbol(f"k_{depth(e.function)}", integer=True)
        body = sp.expand(e.function.xreplace({i: new}))
        terms = body.args if isinstance(body, sp.Add) else (body,)
        total = sp.Integer(0)
        for term in terms:
            free, bound = term.as_independent(new, as_Add=False)
            total += free * (sp.Sum(bound, (new, lo, hi)) if bound != 1 else (hi - lo + 1))
        return total

    return expr.replace(lambda e: isinstance(e, sp.Sum), rename)


def tidy(expr: sp.Expr) -> sp.Expr:
    """A short form of ``expr`` for reports (the shortest of the simplify routes)."""
    return simplify_diff(expr)


def is_zero(diff: sp.Expr) -> bool:
    """True iff SymPy simplifies ``diff`` to exactly 0 (never a string comparison)."""
    return simplify_diff(diff) == 0


def compare(equation: str, quantity: str, printed, derived, note: str = "") -> Comparison:
    """Printed form of eq. ``equation`` against the derived one."""
    printed = sp.sympify(printed)
    derived = sp.sympify(derived)
    difference = simplify_diff(printed - derived)
    return Comparison(equation, quantity, printed, derived, difference, difference == 0, note)


# --------------------------------------------------------------------------
# symbols and windows
# --------------------------------------------------------------------------
#: the time step, the same for all layers (Section 4.1, Algorithm 1)
DELTA = sp.Symbol("delta", positive=True)
#: kernel argument s (time since the spike, or since T_emit)
S = sp.Symbol("s", real=True)
#: absolute time
T = sp.Symbol("t", real=True)
#: value variable of Theorem 4.1's substitution u = s/tau + a
U = sp.Symbol("u", real=True)
#: value variable of Theorem 4.3's substitution y = b - s/tau
Y = sp.Symbol("y", real=True)
#: time since T_emit in the emitting stage
SIGMA = sp.Symbol("sigma", nonnegative=True)

_XI = sp.Dummy("xi", real=True)


@dataclass(frozen=True)
class Window:
    """One layer's emitting window and range (eq. 7, eq. 29)."""

    a: sp.Expr
    d: sp.Expr
    delta: sp.Expr
    T_emit: sp.Expr

    @property
    def b(self) -> sp.Expr:
        return self.a + self.d

    @property
    def tau(self) -> sp.Expr:
        return self.delta / self.d

    @property
    def T_ref(self) -> sp.Expr:
        return self.T_emit + self.b * self.tau

    @property
    def T_end(self) -> sp.Expr:
        return self.T_emit + self.delta

    def spike_time(self, x) -> sp.Expr:
        """t = T_ref - tau*x (eq. 7)."""
        return self.T_ref - self.tau * x

    def value(self, t) -> sp.Expr:
        """x = (T_ref - t)/tau (eq. 7)."""
        return (self.T_ref - t) / self.tau


def window(label: str, a=None, d=None, delta=DELTA) -> Window:
    """A window with symbols ``a_label`` (real), ``d_label`` (positive), ``T_emit_label``."""
    a = sp.Symbol(f"a_{label}", real=True) if a is None else sp.sympify(a)
    d = sp.Symbol(f"d_{label}", positive=True) if d is None else sp.sympify(d)
    return Window(a=a, d=d, delta=delta, T_emit=sp.Symbol(f"T_emit_{label}", real=True))


def derivative(f: Callable) -> Callable[[sp.Expr], sp.Expr]:
    """f' as a callable; for an undefined f, f'(e) is Subs(Derivative(f(xi), xi), xi, e)."""
    df = sp.diff(f(_XI), _XI)

    def fprime(arg):
        return df.subs(_XI, arg)

    return fprime


# --------------------------------------------------------------------------
# Theorem 4.1: input transform
# --------------------------------------------------------------------------
def _formulas():
    """The library's derivation module, looked up at call time (so a patched library is what gets proved)."""
    from ttfs_symbolic.symbolic import derive

    return derive


def _lib_x():
    from ttfs_symbolic.symbolic.parse import X

    return X


def derive_eta(f: Callable, win: Window) -> sp.Lambda:
    """The library's eta (eq. 8) for f on the sender's window: ``derive.input_formulas(f(x), a, d, tau)[0]``.

    This is the expression :func:`ttfs_symbolic.derive_input` computes; f may
    be an undefined SymPy function.
    """
    eta, _ = _formulas().input_formulas(f(_lib_x()), win.a, win.d, win.tau)
    return sp.Lambda(S, eta)


def derive_C(f: Callable, w, win: Window) -> sp.Expr:
    """Per-synapse constant w * (the library's f(a)/d, eq. 8: ``derive.input_formulas(...)[1]``), sender's a, d."""
    _, const = _formulas().input_formulas(f(_lib_x()), win.a, win.d, win.tau)
    return w * const


@dataclass
class Synapse:
    """One input of a neuron: sender window, weight, kernel, constant, value.

    ``x=None`` is a silent input (no spike in the window): it stands for a.
    """

    win: Window
    w: sp.Expr
    eta: Callable
    C: sp.Expr
    x: Optional[sp.Expr]
    f: Optional[Callable] = None


def _change_variable(integral: sp.Integral, old: sp.Symbol, expr: sp.Expr, new: sp.Symbol) -> sp.Integral:
    """Linear change of variable old = expr(new) in a definite integral.

    int_lo^hi F(old) d old = int_{expr^-1(lo)}^{expr^-1(hi)} F(expr(new)) * expr'(new) d new.
    The proofs only need linear maps (s = t - t_j, s = tau*(u - a),
    s = tau*(b - y)); anything else is refused.
    """
    (var, lo, hi), = integral.limits
    if var != old:
        raise ValueError(f"integration variable is {var}, not {old}")
    slope = sp.diff(expr, new)
    if slope.has(new) or slope == 0:
        raise ValueError(f"change of variable {old} = {expr} is not linear in {new}")
    offset = expr.subs(new, 0)

    def inverse(limit):
        return sp.cancel((limit - offset) / slope)

    integrand = integral.function.subs(old, expr) * slope
    return sp.Integral(integrand, (new, inverse(lo), inverse(hi)))


def synapse_potential(syn: Synapse, steps: Optional[_Steps] = None) -> sp.Expr:
    """(1/tau_s) * int over the sender's window of (w*eta(t - t_j) + C_j) dt.

    eta vanishes before the spike (eq. 6), so the kernel part runs from t_j
    to T_end; it is evaluated by the substitutions s = t - t_j and
    u = s/tau + a (proof of Theorem 4.1, Appendix B.1).
    """
    win = syn.win
    const = sp.Integral(syn.C, (T, win.T_emit, win.T_end)).doit() / win.tau
    if syn.x is None:
        return const
    t_j = win.spike_time(syn.x)
    raw = sp.Integral(syn.eta(T - t_j), (T, t_j, win.T_end))
    in_s = _change_variable(raw, T, S + t_j, S)
    in_u = _change_variable(in_s, S, win.tau * (U - win.a), U)
    value = in_u.doit() / win.tau
    if steps is not None:
        steps.note(f"(1/tau) Integral(eta(t - t_j), (t, t_j, T_end)) with s = t - t_j -> (1/tau) {sp.sstr(in_s)}")
        steps.note(f"u = s/tau + a (ds = tau du) -> (1/tau) {sp.sstr(in_u)} = {sp.sstr(sp.simplify(value))}")
    return syn.w * value + const


def accumulated_potential(synapses: Sequence[Synapse], bias=0) -> sp.Expr:
    """V(T_emit) of the receiver (eq. 9): sum of the synapse potentials (+ bias)."""
    return sum((synapse_potential(syn) for syn in synapses), sp.sympify(bias))


def check_input_transform(synapses: Sequence[Synapse], target: sp.Expr) -> tuple[bool, sp.Expr]:
    """Theorem 4.1 check: V(T_emit) - target simplifies to 0? Returns (holds, diff)."""
    diff = simplify_diff(accumulated_potential(synapses) - target)
    return diff == 0, diff


# --------------------------------------------------------------------------
# Theorem 4.3: output transform
# --------------------------------------------------------------------------
def _output(h: Callable, g: Callable, win: Window):
    D = _formulas()
    return D.output_formulas(h(_lib_x()), g(D.Y), win.a, win.b, win.tau)


def derive_psi_printed(h: Callable, g: Callable, win: Window) -> sp.Lambda:
    """The library's psi (eq. 13), 1/(tau*h'(h^-1(b - s/tau))): ``derive.output_formulas(h(x), g(y), a, b, tau)[0]``.

    This is the expression :func:`ttfs_symbolic.derive_output` returns for a
    closed-form inverse g = h^-1; h and g may be undefined SymPy functions
    (then h'(g(u)) stays unevaluated: :func:`apply_inverse_rule`).
    """
    return sp.Lambda(S, _output(h, g, win)[0])


def derive_theta(g: Callable, win: Window, low: bool = False) -> sp.Expr:
    """The library's theta = h^-1(b) (eq. 13), or with ``low`` its silent bound h^-1(a) (eq. 35)."""
    _, theta, theta_low = _output(lambda v: v, g, win)
    return theta_low if low else theta


def apply_inverse_rule(expr: sp.Expr, h: Callable, g: Callable) -> sp.Expr:
    """Rewrite every h'(g(u)) in ``expr`` as 1/g'(u) (eq. 31: d/dy h(g(y)) = 1 with g = h^-1).

    For undefined h, g SymPy writes h'(g(u)) as ``Derivative(h(g(u)), g(u))``
    (or a ``Subs`` of h' at g(u)); both are replaced. The rule itself is
    checked where it is used (``theorem_4_3.inverse_rule``).
    """
    h_func = h(_XI).func
    g_func = g(_XI).func

    def at_g(e) -> Optional[sp.Expr]:
        if isinstance(e, sp.Derivative) and len(e.variable_count) == 1 and e.variable_count[0][1] == 1:
            var = e.variable_count[0][0]
            if getattr(var, "func", None) == g_func and e.expr == h_func(var):
                return var.args[0]
        if isinstance(e, sp.Subs) and len(e.point) == 1 and getattr(e.point[0], "func", None) == g_func:
            var, = e.variables
            if e.expr == sp.Derivative(h_func(var), var):
                return e.point[0].args[0]
        return None

    return expr.replace(lambda e: at_g(e) is not None, lambda e: 1 / derivative(g)(at_g(e)))


def derive_psi_inverse(g: Callable, win: Window) -> sp.Lambda:
    """psi(s) = g'(b - s/tau)/tau with g = h^-1 (Appendix B.2, eq. 32): the proof's form, not the library's."""
    return sp.Lambda(S, derivative(g)(win.b - S / win.tau) / win.tau)


def psi_integral(psi: Callable, win: Window, upper, steps: Optional[_Steps] = None) -> sp.Expr:
    """int_0^upper psi(s) ds, through the substitution y = b - s/tau."""
    raw = sp.Integral(psi(S), (S, 0, upper))
    in_y = _change_variable(raw, S, win.tau * (win.b - Y), Y)
    value = in_y.doit()
    if steps is not None:
        steps.note(f"y = b - s/tau (ds = -tau dy): {sp.sstr(raw)} -> {sp.sstr(in_y)} = {sp.sstr(value)}")
    return value


def firing_residual(psi: Callable, theta, win: Window, V, x) -> sp.Expr:
    """Potential at the claimed spike time minus theta.

    A spike that stands for ``x`` fires at ``T_emit + sigma`` with
    ``sigma = T_ref - T_emit - tau*x = tau*(b - x)``; the residual is
    ``V + int_0^sigma psi - theta`` and must vanish.
    """
    t_spike = win.spike_time(x)
    sigma = t_spike - win.T_emit
    return V + psi_integral(psi, win, sigma) - theta


def check_output_transform(psi: Callable, theta, win: Window, V, x) -> tuple[bool, sp.Expr]:
    """Theorem 4.3 check: the potential reaches theta exactly at the spike time of x."""
    diff = simplify_diff(firing_residual(psi, theta, win, V, x))
    return diff == 0, diff


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------
def main(prove: Callable[[], ProofResult]) -> None:
    """Print the proof and exit 1 if it failed (``python -m proofs.<module>``)."""
    result = prove()
    print(result.report())
    sys.exit(0 if result.holds else 1)
