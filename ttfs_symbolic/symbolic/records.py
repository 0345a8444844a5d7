"""Proof records: how a derivation's theorem identity was established, part by part.

A derivation (Theorem 4.1, :mod:`.theorem_4_1`; Theorem 4.3,
:mod:`.theorem_4_3`) checks its own result, symbolically where SymPy can
close the identity, otherwise with mpmath at :data:`PROOF_DPS` digits on
:data:`PROOF_POINTS` points, and returns a :class:`ProofRecord` that says which.
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath

__all__ = ["ProofRecord", "ProofPart", "make_record", "PROOF_DPS", "PROOF_POINTS", "PROOF_TOL"]

#: mpmath working precision and sample size of the numeric proofs
PROOF_DPS = 30
PROOF_POINTS = 33
#: relative error a numeric proof must reach at PROOF_DPS digits: quadrature
#: of a smooth kernel at 30 digits is good to ~1e-25; 1e-20 leaves margin
PROOF_TOL = mpmath.mpf("1e-20")


@dataclass(frozen=True)
class ProofRecord:
    """How a derivation's theorem identity was established, part by part.

    ``method`` is ``"symbolic"`` when SymPy reduced every part to 0, else
    ``"numeric"`` (the parts SymPy could not close were checked with mpmath at
    ``dps`` digits on ``points`` points, largest relative error
    ``max_error``, required below ``tolerance``). ``parts`` lists each
    statement that was checked, how, and whether it held, in words a reader
    can verify (:meth:`explain`). ``holds`` is True only when every part holds.
    """

    theorem: str
    identity: str
    method: str
    holds: bool
    detail: str
    dps: int | None = None
    points: int | None = None
    max_error: float | None = None
    tolerance: float | None = None
    parts: tuple = ()

    def summary(self) -> str:
        verdict = "holds" if self.holds else "FAILS"
        if self.method == "symbolic":
            how = "symbolically (SymPy)"
        else:
            err = "n/a" if self.max_error is None else f"{self.max_error:.1e}"
            how = f"numerically (mpmath, {self.dps} digits, {self.points} points, max rel. error {err})"
        return f"{self.theorem}: {self.identity} {verdict} {how}"

    def failure(self) -> str:
        """The parts that fail, one clause each with their error: what a refused derivation says
        (:meth:`summary` restates the whole identity first, which a one-line error message would cut)."""
        clauses = []
        for part in self.parts:
            if part.holds:
                continue
            err = "" if part.max_error is None else f" (largest relative error {part.max_error:.1e}"
            if err and self.tolerance is not None:
                err += f", required <= {float(self.tolerance):.0e}"
            clauses.append(f"{part.statement} FAILS{err + ')' if err else ': ' + part.how}")
        return "; ".join(clauses) or self.summary()

    def refusal(self, kernel: str, equation: str) -> str:
        """Why a failed derivation is refused, in one line (:meth:`failure`). Where only the quadrature of
        the kernel failed, the kernel came from the theorem's closed form (``equation``: eta = f'(s/tau + a),
        eq. 8; psi = 1/(tau h'(h^-1(b - s/tau))), eq. 13), so the formula is too steep or the range too wide
        for :data:`PROOF_POINTS` points at :data:`PROOF_DPS` digits, not wrong: the message says so."""
        bad = [part for part in self.parts if not part.holds]
        if bad and all(part.method == "numeric" and part.max_error is not None
                       and f"Integral({kernel}" in part.statement for part in bad):
            worst = max(part.max_error for part in bad)
            need = "" if self.tolerance is None else f"; the check needs <= {float(self.tolerance):.0e}"
            return (f"the quadrature of {kernel} misses the identity by {worst:.1e} (relative{need}). {kernel} is "
                    f"exact by construction ({equation}): the formula is too steep or the range too wide for the "
                    "check; rescale x or narrow the range")
        return self.failure()

    def explain(self) -> str:
        """One line per checked part: statement, how it was checked, verdict."""
        lines = [self.summary()]
        for part in self.parts:
            lines.append(f"  - {part.statement}: {'holds' if part.holds else 'FAILS'} ({part.how})")
        return "\n".join(lines)


@dataclass(frozen=True)
class ProofPart:
    """One checked statement of a :class:`ProofRecord`."""

    statement: str
    method: str          # "symbolic" or "numeric"
    holds: bool
    how: str
    max_error: float | None = None


def make_record(theorem, identity, parts, dps, points, tol) -> ProofRecord:
    """The :class:`ProofRecord` of ``parts``: symbolic when every part is, else numeric at ``dps``, ``points``."""
    holds = all(p.holds for p in parts)
    symbolic = all(p.method == "symbolic" for p in parts)
    errs = [p.max_error for p in parts if p.max_error is not None]
    detail = "; ".join(f"{p.statement} [{p.method}: {p.how}]" for p in parts)
    if symbolic:
        return ProofRecord(theorem, identity, "symbolic", holds, detail, parts=tuple(parts))
    return ProofRecord(theorem, identity, "numeric", holds, detail, dps=dps, points=points,
                       max_error=float(max(errs)) if errs else 0.0, tolerance=float(tol), parts=tuple(parts))
