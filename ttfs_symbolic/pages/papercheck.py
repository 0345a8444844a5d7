"""The paper check: every neuron equation printed in the paper beside the one the library derives.

docs/design.md ("Derive, never copy"): the printed equations for individual
neurons (16, 17, 19, 22, 23, 24, 26, 27, 36) are consequences of Theorems
4.1 and 4.3; the library derives every kernel and constant from the target
function. This module holds, for each of them, the printed form
**transcribed by hand** from the paper as SymPy code (with the paper's
variable conventions, including where they differ from the library's: eq. 16
and 17 write ``u = a + delta/(b - a) * s`` while Algorithm 1 has ``tau =
delta/(b - a)``, so ``s/tau + a`` would be ``a + (b - a)/delta * s``; the
transcription keeps what is printed), and compares it with what
:func:`~ttfs_symbolic.symbolic.derive.derive_input` and
:func:`~ttfs_symbolic.symbolic.derive.derive_output` give on concrete ranges.

The verdict of :func:`compare` is whatever SymPy finds:

* ``equal`` (symbolic): the difference reduces to 0;
* ``equal`` (numeric): SymPy's simplifications did not reach 0, but the
  difference is below 1e-20 (relative) at 30 digits on every sample point;
* ``differs``: the difference is non-zero at some sample point (the page shows
  the difference and the values there).

``python scripts/gen_docs.py`` writes :func:`paper_check_page` to
``docs/paper_check.md``. Simplification is bounded by expression size, not by
time, so the page is the same on every machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math

import mpmath
import sympy

from ..symbolic.limits import SympyTimeout, time_limit
from .latex import tex
from .readings import Reading, READINGS, a, a0, a1, b, c, case_label, case_values, delta, eps, s, tau, tau0, tau1


__all__ = ["Verdict", "Reading", "CaseResult", "ReadingResult", "compare", "READINGS", "run",
           "paper_check_page", "EQUATIONS"]

#: the neuron equations of the paper that the check must cover (docs/design.md)
EQUATIONS = ("16", "17", "19", "22", "23", "24", "26", "27", "36")

#: digits and relative tolerance of the numeric comparison: a difference of
#: two closed forms evaluated at 30 digits is exact to ~1e-28 when they agree;
#: 1e-20 leaves margin, while any real discrepancy of a printed formula is
#: many orders larger
DPS = 30
TOL = mpmath.mpf("1e-20")
#: largest expression (sympy.count_ops) handed to sympy.simplify: bounded by
#: size, not by time, so the verdicts and the page do not depend on the machine
SIMPLIFY_OPS = 60


@dataclass(frozen=True)
class Verdict:
    """The result of comparing a printed form with a derived one.

    ``equal`` is True or False; ``method`` is ``"symbolic"`` (SymPy reduced
    the difference to 0), ``"numeric"`` (equal at ``DPS`` digits on
    ``points`` sample points, not reduced symbolically) or ``"sample"`` (a
    sample point where they differ, ``at``, with both values).
    """

    equal: bool
    method: str
    difference: sympy.Expr
    points: int = 0
    at: dict = field(default_factory=dict)
    printed_value: str = ""
    derived_value: str = ""
    difference_value: str = ""

    def text(self) -> str:
        if self.equal and self.method == "symbolic":
            return "equal"
        if self.equal:
            return f"equal (numerically, {DPS} digits on {self.points} points; not reduced by SymPy)"
        return "differs"


#: functions whose presence keeps a difference away from sympy.simplify when it is shown
_TRANSCENDENTAL = (sympy.exp, sympy.log, sympy.erf, sympy.Heaviside, sympy.Piecewise, sympy.tanh,
                   sympy.cosh, sympy.sinh, sympy.LambertW)


def _zero_symbolic(expr) -> bool:
    """Does SymPy reduce expr to 0? Only asked of differences that are already numerically 0.

    Size-bounded (``SIMPLIFY_OPS``); the time limit is a safety net far above
    the usual seconds, so the answer does not depend on the machine in practice.
    """
    expr = sympy.piecewise_fold(sympy.sympify(expr))
    if expr == 0:
        return True
    if isinstance(expr, sympy.Piecewise):
        return all(_zero_symbolic(e) for e, _ in expr.args)
    try:
        with time_limit(60.0):
            cands = (expr, expr.rewrite(sympy.exp))
            for cand in cands:
                if sympy.expand(cand) == 0:
                    return True
            for cand in cands:
                if sympy.count_ops(cand) <= SIMPLIFY_OPS and sympy.simplify(cand) == 0:
                    return True
    except (SympyTimeout, TypeError, ValueError, NotImplementedError, RecursionError):
        return False
    return False


def _shown(expr) -> sympy.Expr:
    """The difference as shown: simplified when it is small and algebraic, else as SymPy writes it."""
    expr = sympy.piecewise_fold(sympy.sympify(expr))
    if sympy.count_ops(expr) <= 30 and not expr.has(*_TRANSCENDENTAL):
        try:
            simp = sympy.simplify(expr)
            if sympy.count_ops(simp) <= sympy.count_ops(expr):
                return simp
        except (TypeError, ValueError, NotImplementedError, RecursionError):
            pass
    return expr


def _sample(lo, hi, k: int) -> list:
    """k deterministic interior points of (lo, hi) (golden-ratio sequence: avoids the midpoint and kinks
    at simple rationals)."""
    g = (math.sqrt(5) - 1) / 2
    pts = sorted(((i * g + 0.1) % 1.0) for i in range(k))
    lo_, hi_ = sympy.sympify(lo), sympy.sympify(hi)
    return [lo_ + (hi_ - lo_) * sympy.Float(p, 20) for p in pts]


def _scatter(boxes, count: int) -> list[tuple]:
    """``count`` deterministic points spread over a box (additive recurrence with the generalised
    golden ratio per dimension: a low-discrepancy set, not a product grid)."""
    dim = len(boxes)
    phi = 2.0
    for _ in range(50):
        phi = (1 + phi) ** (1 / (dim + 1))
    alphas = [(1 / phi) ** (j + 1) for j in range(dim)]
    out = []
    for i in range(count):
        point = []
        for (lo, hi), al in zip(boxes, alphas):
            frac = (0.5 + (i + 1) * al) % 1.0
            lo_, hi_ = sympy.sympify(lo), sympy.sympify(hi)
            point.append(lo_ + (hi_ - lo_) * sympy.Float(frac, 20))
        out.append(tuple(point))
    return out


def _evaluate(expr, point: dict):
    val = sympy.N(sympy.sympify(expr).subs(point), DPS)
    if val.has(sympy.I) and abs(sympy.im(val)) > 1e-25:
        return None
    val = sympy.re(val)
    return mpmath.mpf(str(val)) if val.is_number and val.is_finite else None


def compare(printed, derived, domain: dict | None = None, k: int = 7) -> Verdict:
    """Compare a printed form with a derived one: symbolic first, then on sample points.

    ``domain`` maps each free symbol to an interval (lo, hi) sampled at ``k``
    interior points each (product grid). The verdict is "differs" as soon as
    the relative difference at one point exceeds ``TOL`` (at ``DPS`` digits).
    """
    printed, derived = sympy.sympify(printed), sympy.sympify(derived)
    diff = printed - derived
    if sympy.piecewise_fold(diff) == 0:
        return Verdict(True, "symbolic", sympy.Integer(0))
    domain = dict(domain or {})
    free = sorted(diff.free_symbols, key=lambda z: z.name)
    missing = [z for z in free if z not in domain]
    if missing:
        raise ValueError(f"compare: no sampling interval for {', '.join(z.name for z in missing)}")
    if len(free) <= 1:
        combos = [(p,) for p in _sample(*domain[free[0]], k)] if free else [()]
    else:
        combos = _scatter([domain[z] for z in free], 2 * k)
    points = 0
    with mpmath.workdps(DPS):
        for combo in combos:
            point = dict(zip(free, combo))
            pv, dv = _evaluate(printed, point), _evaluate(derived, point)
            if pv is None or dv is None:
                if (pv is None) != (dv is None):
                    return Verdict(False, "sample", _shown(diff), points + 1, point,
                                   "undefined" if pv is None else mpmath.nstr(pv, 12),
                                   "undefined" if dv is None else mpmath.nstr(dv, 12), "undefined")
                continue
            points += 1
            scale = max(mpmath.mpf(1), abs(pv), abs(dv))
            if abs(pv - dv) / scale > TOL:
                return Verdict(False, "sample", _shown(diff), points, point, mpmath.nstr(pv, 12),
                               mpmath.nstr(dv, 12), mpmath.nstr(pv - dv, 8))
    if points == 0:
        raise ValueError("compare: no sample point where both forms are defined")
    if _zero_symbolic(diff):
        return Verdict(True, "symbolic", sympy.Integer(0), points)
    return Verdict(True, "numeric", _shown(diff), points)


@dataclass(frozen=True)
class CaseResult:
    case: dict
    printed: sympy.Expr
    derived: sympy.Expr
    verdict: Verdict


@dataclass(frozen=True)
class ReadingResult:
    reading: Reading
    cases: tuple
    general: Verdict | None
    general_printed: sympy.Expr | None
    general_derived: sympy.Expr | None

    @property
    def equal(self) -> bool:
        return all(c.verdict.equal for c in self.cases)

    def verdict_text(self) -> str:
        if self.equal:
            methods = {c.verdict.method for c in self.cases}
            return "equal" if methods == {"symbolic"} else "equal (numerically on some cases)"
        bad = [i + 1 for i, c in enumerate(self.cases) if not c.verdict.equal]
        good = [i + 1 for i, c in enumerate(self.cases) if c.verdict.equal]
        def cases(ids):
            return ("case " if len(ids) == 1 else "cases ") + ", ".join(map(str, ids))

        out = "differs" + (f" ({cases(bad)}; equal in {cases(good)})" if good else "")
        return out


def _printed_expr(reading: Reading):
    expr = reading.printed()
    defs = reading.defs()
    return expr.subs(defs) if defs else expr


#: sampling intervals of the symbols of a general (symbolic-range) comparison
_GENERAL_DOMAIN = {a: (-3, -1), b: (1, 3), delta: ("1/2", 2), a0: (-3, -1), a1: (-3, -1),
                   tau0: ("1/10", 1), tau1: ("1/10", 1), c: (1, 3), eps: ("1/1000000", "1/1000"), s: (0, "1/2")}


def _general_domain(diff, override: dict) -> dict:
    dom = dict(_GENERAL_DOMAIN)
    dom.update(override)
    return {z: dom[z] for z in diff.free_symbols if z in dom}


def run_reading(reading: Reading) -> ReadingResult:
    """Compare one reading on each of its cases (and symbolically, where a general form exists)."""
    printed = _printed_expr(reading)
    results = []
    for case in reading.cases:
        v = case_values(case)
        p = printed.subs(v)
        dv = reading.derived(v)
        results.append(CaseResult(case, p, dv, compare(p, dv, reading.domain(v))))
    general = gp = gd = None
    if reading.general is not None:
        gp = printed.subs({tau: delta / (b - a)}) if printed.has(tau) else printed
        gd = reading.general()
        general = compare(gp, gd, _general_domain(gp - gd, reading.general_domain))
    return ReadingResult(reading, tuple(results), general, gp, gd)


def run(readings=READINGS) -> list[ReadingResult]:
    """Run every reading; one :class:`ReadingResult` each."""
    return [run_reading(r) for r in readings]


def _point_text(point: dict) -> str:
    return ", ".join(f"${tex(k)} = {mpmath.nstr(mpmath.mpf(str(sympy.N(v, 25))), 6)}$"
                     for k, v in sorted(point.items(), key=lambda kv: kv[0].name))


def _code(expr) -> str:
    return sympy.sstr(expr)


def paper_check_page(results: list[ReadingResult] | None = None) -> str:
    """``docs/paper_check.md``: a summary table and one section per printed quantity."""
    results = run() if results is None else results
    lines = [
        "# Paper check",
        "",
        "<!-- generated by ttfs_symbolic/pages/papercheck.py (python scripts/gen_docs.py): do not edit -->",
        "",
        "Every neuron equation printed in the paper (eq. 16, 17, 19, 22, 23, 24, 26, 27, 36, and a few "
        "more) beside the form the library derives from the target function with Theorems 4.1 and 4.3. "
        "The printed forms are **transcribed by hand** as SymPy code in `ttfs_symbolic/pages/readings.py`, "
        "with the paper's own conventions (the transcription is not corrected); the derived forms come "
        "from `derive_input` / `derive_output` on the concrete ranges listed, and, for kernels, from "
        "the library's range-generic kernel with symbolic $a$, $b$, $\\delta$. Where a printed equation "
        "uses a different convention, the mapping used is stated.",
        "",
        "The library always uses the derived form (docs/design.md, \"Derive, never copy\").",
        "",
        "Verdicts, as SymPy finds them: **equal** (the difference reduces to 0), **equal (numerically)** "
        f"(not reduced symbolically, but below {float(TOL):.0e} relative at {DPS} digits on every "
        "sample point) or **differs** (a sample point where the two disagree; the difference is shown).",
        "",
        "## Summary",
        "",
        "| eq. | quantity | verdict | general form (symbolic a, b, δ) |",
        "|---|---|---|---|",
    ]
    for r in results:
        g = "—" if r.general is None else ("equal" if r.general.equal else "differs")
        eq = r.reading.equation + (" (extra)" if r.reading.extra else "")
        lines.append(f"| {eq} | {r.reading.quantity} | {r.verdict_text()} | {g} |")
    lines.append("")
    for r in results:
        rd = r.reading
        lines += [f"## Eq. {rd.equation}: {rd.quantity}", "", "**Printed:**", "", f"$${rd.printed_tex}$$", "",
                  "**Transcription** (SymPy, `pages/readings.py`):", "", "```python", _code(rd.printed())]
        for k, v in rd.defs().items():
            lines.append(f"# with {k} = {_code(v)}")
        lines += ["```", "", f"**Mapping:** {rd.mapping.rstrip('.')}.", ""]
        if r.general is not None:
            lines += ["**General form** (library kernel, symbolic range, $\\tau = \\delta/(b - a)$ where the "
                      "printed form writes the range):", "",
                      f"$$\\text{{printed}} = {tex(r.general_printed)}$$", "",
                      f"$$\\text{{derived}} = {tex(r.general_derived)}$$", ""]
            if r.general.equal:
                lines += ["SymPy: **equal** for all ranges.", ""]
            else:
                lines += ["SymPy: printed − derived =", "", f"$${tex(r.general.difference)}$$", ""]
        lines += ["| case | printed | derived | verdict |", "|---|---|---|---|"]
        for i, cr in enumerate(r.cases, 1):
            lines.append(f"| {i}: {case_label(cr.case)} | ${tex(cr.printed)}$ | ${tex(cr.derived)}$ | "
                         f"{cr.verdict.text()} |")
        lines.append("")
        for i, cr in enumerate(r.cases, 1):
            if not cr.verdict.equal:
                lines += [f"Case {i}: printed − derived =", "", f"$${tex(cr.verdict.difference)}$$", "",
                          f"at {_point_text(cr.verdict.at) or 'the constants'}: printed "
                          f"{cr.verdict.printed_value}, derived {cr.verdict.derived_value}, difference "
                          f"{cr.verdict.difference_value}.", ""]
        lines += [f"**Verdict:** {r.verdict_text()}.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
