"""The results of the derivations: :class:`InputTransform` (Theorem 4.1) and :class:`OutputTransform` (Theorem 4.3).

Frozen records of SymPy expressions (kernel, constants, proof record). Pure
SymPy: the compiled kernels are made from them on the numeric side
(:func:`ttfs_symbolic.numeric.kernels.compiled_input` /
:func:`~ttfs_symbolic.numeric.kernels.compiled_output`).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from .parse import S, X
from .records import ProofRecord

__all__ = ["InputTransform", "OutputTransform", "range_symbols"]


def range_symbols(a, b, delta):
    """(d, tau): the range width d = b - a and the time constant tau = delta/d (eq. 7)."""
    d = b - a
    tau = delta / d
    return d, tau


class _Window:
    """Range width and time constant of a derivation: d = b - a, tau = delta/d (eq. 7)."""

    @property
    def d(self):
        return self.b - self.a

    @property
    def tau(self):
        return self.delta / self.d


@dataclass(frozen=True)
class InputTransform(_Window):
    """Theorem 4.1 (eq. 8): input transform kernel for f on the sender's range [a, b].

    ``eta`` is the kernel for s >= 0 (it is 0 for s < 0), ``const`` the
    per-synapse term of C, ``w * f(a) / d``, divided by w: ``f(a)/d``. With
    the sender's ``tau = delta/d`` the accumulated potential is
    ``sum_j w_j f(x_j)`` (eq. 9).
    """

    f: sympy.Expr
    a: sympy.Expr
    b: sympy.Expr
    delta: sympy.Expr
    eta: sympy.Expr
    const: sympy.Expr
    f_a: sympy.Expr
    derivative: sympy.Expr
    proof: ProofRecord
    text: str = ""

    @property
    def kernel(self) -> sympy.Expr:
        """The full kernel, 0 before the input spike (eq. 8)."""
        return sympy.Piecewise((self.eta, S >= 0), (0, True))


@dataclass(frozen=True)
class OutputTransform(_Window):
    """Theorem 4.3 (eq. 13): output transform kernel for h on the receiver's range [a, b].

    ``psi`` is the kernel on s in [0, delta), ``theta = h^-1(b)``. ``inverse``
    is g = h^-1 as a SymPy expression in ``Y`` when SymPy found the real,
    increasing branch (``inverse_method == "symbolic"``); otherwise None and
    g is computed by a monotone root finder on ``bracket``
    (``inverse_method == "numeric"``), and ``psi`` is written with an
    unevaluated ``h_inv``.
    """

    h: sympy.Expr
    a: sympy.Expr
    b: sympy.Expr
    delta: sympy.Expr
    psi: sympy.Expr
    theta: sympy.Expr
    inverse: sympy.Expr | None
    inverse_method: str
    monotonicity: str
    bracket: tuple[float, float]
    theta_low: sympy.Expr | float
    proof: ProofRecord
    text: str = ""

    @property
    def is_identity(self) -> bool:
        return sympy.simplify(self.h - X) == 0
