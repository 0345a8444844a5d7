"""The kernel formulas of Theorems 4.1 and 4.3, for any f, h and any (symbolic) range.

These are the only places where the library writes eta, C, psi and theta:
:func:`ttfs_symbolic.symbolic.derive.derive_input` /
:func:`~ttfs_symbolic.symbolic.derive.derive_output` call them for one numeric
range (and then simplify and check the result), and the range-generic
:class:`ttfs_symbolic.numeric.kernels.InputKernel` that the model layer compiles
calls :func:`input_eta` with symbolic ``a`` and ``tau``. Nothing here checks
a hypothesis or evaluates a number: ``f``, ``h`` and ``g`` may be undefined
SymPy functions (``sympy.Function("f")(X)``) and ``a``, ``b``, ``d``, ``tau``
symbols, so that ``proofs/`` proves the theorems for exactly what the library
computes (``python -m proofs``).

Conventions (NOTES.md): ``f`` and ``h`` are expressions in
:data:`~ttfs_symbolic.symbolic.parse.X`, ``g = h^-1`` an expression in
:data:`Y`, kernels are expressions in :data:`~ttfs_symbolic.symbolic.parse.S`
(time since the input spike for eta, since T_emit for psi); ``[a, b]`` is the
sender's range for eta and C, the neuron's own range for psi and theta;
``d = b - a`` and ``tau = delta/d``.
"""
from __future__ import annotations

import sympy

from .parse import S, X

__all__ = ["Y", "input_eta", "input_const", "output_psi", "output_theta"]

#: the variable of h's inverse g = h^-1 (a value in the emitting range)
Y = sympy.Symbol("y", real=True)


def input_eta(f: sympy.Expr, a, tau) -> sympy.Expr:
    """Theorem 4.1 (eq. 8): eta(s) = f'(s/tau + a) for s >= 0 (0 before the spike).

    ``a`` and ``tau`` are the sender's; ``f`` an expression in X.
    """
    return sympy.diff(f, X).subs(X, S / tau + a)


def input_const(f: sympy.Expr, a, d) -> sympy.Expr:
    """Theorem 4.1 (eq. 8): the per-synapse term of C per unit weight, f(a)/d (sender's a and d).

    A synapse of weight w adds ``w * f(a)/d`` to the neuron's C, so that a
    silent input (no spike) contributes ``w f(a)`` over the window.
    """
    return f.subs(X, a) / d


def output_psi(h: sympy.Expr, g: sympy.Expr, b, tau) -> sympy.Expr:
    """Theorem 4.3 (eq. 13): psi(s) = 1/(tau h'(h^-1(b - s/tau))) on s in [0, delta).

    ``h`` is an expression in X, ``g = h^-1`` one in :data:`Y`; ``b`` and
    ``tau`` are the neuron's own.
    """
    return 1 / (tau * sympy.diff(h, X).subs(X, g.subs(Y, b - S / tau)))


def output_theta(g: sympy.Expr, b) -> sympy.Expr:
    """Theorem 4.3 (eq. 13): theta = h^-1(b); with ``a`` in place of ``b``, the silent bound h^-1(a) (eq. 35)."""
    return g.subs(Y, b)
