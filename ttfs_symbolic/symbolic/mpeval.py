"""mpmath evaluation of SymPy expressions: the symbolic layer's own evaluator (no numpy, no torch).

The hypothesis checks (:mod:`.hypotheses`), the refusals (:mod:`.refusals`)
and the numeric routes of the proofs (:mod:`.theorem_4_1`,
:mod:`.theorem_4_3`) evaluate formulas with these, at a stated precision, so
that a refusal can name the exact point where a formula breaks.
"""
from __future__ import annotations

import mpmath
import sympy

from .parse import X

__all__ = ["sample_points", "real_value", "mp_modules", "mp_function"]


def sample_points(a, b, n: int = 129) -> list[mpmath.mpf]:
    """n evenly spaced points of [a, b], both ends included."""
    a_, b_ = mpmath.mpf(str(sympy.N(a, 30))), mpmath.mpf(str(sympy.N(b, 30)))
    return [a_ + (b_ - a_) * i / (n - 1) for i in range(n)]


def real_value(fn, point):
    """fn(point) as a finite real mpf, or None (undefined, complex beyond rounding, or not finite)."""
    try:
        value = fn(point)
    except (ZeroDivisionError, ValueError, OverflowError, TypeError):
        return None
    if isinstance(value, mpmath.mpc):
        if abs(value.imag) > mpmath.mpf(10) ** (-(mpmath.mp.dps - 5)) * max(1, abs(value.real)):
            return None
        value = value.real
    try:
        value = mpmath.mpf(value)
    except (TypeError, ValueError):
        return None
    if not mpmath.isfinite(value):
        return None
    return value


_MP_MODULES = None


def mp_modules():
    """The lambdify module list of :func:`mp_function` (sigmoid, softplus, erf, Heaviside as mpmath)."""
    global _MP_MODULES
    if _MP_MODULES is None:
        _MP_MODULES = [
            {
                "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
                "softplus": lambda v: mpmath.log1p(mpmath.exp(v)) if v < 30 else v + mpmath.log1p(mpmath.exp(-v)),
                "erf": mpmath.erf,
                "erfc": mpmath.erfc,
                "Heaviside": lambda v, h0=mpmath.mpf(1) / 2: mpmath.mpf(1) if v > 0 else (h0 if v == 0 else mpmath.mpf(0)),
            },
            "mpmath",
        ]
    return _MP_MODULES


def mp_function(expr: sympy.Expr, var: sympy.Symbol = X):
    """An mpmath callable of one variable.

    The symbolic layer's own evaluator, built with SymPy's lambdify and an
    mpmath function map (no numpy, no torch), for refusing bad formulas and
    for high-precision checks of identities.
    """
    return sympy.lambdify(var, expr, modules=mp_modules())
