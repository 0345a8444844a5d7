"""SymPy functions that formulas may use beyond SymPy's own: ``sigmoid`` and ``softplus``.

Both are :class:`sympy.Function` subclasses, so they survive differentiation
(Theorem 4.1's ``eta(s) = f'(s/tau + a)``, eq. 8, and Theorem 4.3's
``psi(s) = 1/(tau*h'(h^-1(b - s/tau)))``, eq. 13), ``rewrite(exp)``,
``evalf`` and Taylor series (limits of compound expressions at +-oo may stay
unevaluated: ``rewrite(sympy.exp)`` first), and are printed by name so that
:mod:`ttfs_symbolic.numeric.compile` can map them to accurate numeric
implementations (``scipy.special.expit``, ``torch.sigmoid``, ...).

Evaluation follows SymPy's convention for ``exp``: values with a simpler
closed form evaluate (``sigmoid(0) = 1/2``, ``softplus(0) = log(2)``,
``sigmoid(log(y)) = y/(1 + y)``, ``softplus(log(y)) = log(1 + y)``, the limits
at +-oo), floating-point arguments evaluate numerically, and other exact
arguments (``sigmoid(1)``) stay unevaluated; ``.evalf()`` and
``.rewrite(sympy.exp)`` give their values.

This module imports SymPy only (symbolic layer, see docs/design.md).
"""
from __future__ import annotations

import sympy

__all__ = ["sigmoid", "softplus"]


class sigmoid(sympy.Function):  # noqa: N801  (lower case like SymPy's own functions)
    r"""Logistic sigmoid ``sigma(x) = 1/(1 + exp(-x))`` (the ``sigma`` of Corollary 4.5, eq. 16).

    ``d/dx sigma(x) = sigma(x)*(1 - sigma(x))``; real and positive for real x.
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x is sympy.S.NaN:
            return sympy.S.NaN
        if x.is_zero:
            return sympy.S.Half
        if x is sympy.S.Infinity:
            return sympy.S.One
        if x is sympy.S.NegativeInfinity:
            return sympy.S.Zero
        if x.is_Float:
            return 1 / (1 + sympy.exp(-x))
        if isinstance(x, sympy.log):
            y = x.args[0]
            return y / (1 + y)
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _eval_rewrite_as_tanh(self, x, **kwargs):
        return (1 + sympy.tanh(x / 2)) / 2

    def _eval_evalf(self, prec):
        # 1/(1 + exp(-x)) has relative error O(eps) for every real x.
        return self._eval_rewrite_as_exp(*self.args)._eval_evalf(prec)

    def _eval_is_real(self):
        if self.args[0].is_extended_real:
            return True
        return None

    def _eval_is_finite(self):
        if self.args[0].is_extended_real:
            return True
        return None

    def _eval_is_positive(self):
        if self.args[0].is_extended_real:
            return True
        return None

    def _eval_is_extended_positive(self):
        return self._eval_is_positive()


    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        base = r"\sigma\left(%s\right)" % arg
        return base if exp is None else r"%s^{%s}" % (base, exp)


def _softplus_float(x: sympy.Float, prec: int | None = None) -> sympy.Float:
    """``log1p(exp(x))`` at ``prec`` bits (default: x's), accurate for x << 0.

    ``log(1 + exp(x))`` evaluated as written rounds ``1 + exp(x)`` to 1 and
    returns 0 for x below about -prec*log(2); ``log1p`` keeps every digit.
    """
    import mpmath  # a SymPy dependency; allowed in the symbolic layer

    prec = x._prec if prec is None else prec
    with mpmath.workprec(prec + 10):
        val = mpmath.log1p(mpmath.exp(mpmath.mpf(x._mpf_)))
    return sympy.Float._new(val._mpf_, prec)


class softplus(sympy.Function):  # noqa: N801
    r"""``softplus(x) = log(1 + exp(x))``; ``d/dx softplus(x) = sigmoid(x)``.

    Real and positive for real x.
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x is sympy.S.NaN:
            return sympy.S.NaN
        if x.is_zero:
            return sympy.log(2)
        if x is sympy.S.Infinity:
            return sympy.S.Infinity
        if x is sympy.S.NegativeInfinity:
            return sympy.S.Zero
        if x.is_Float:
            return _softplus_float(x)
        if isinstance(x, sympy.log):
            return sympy.log(1 + x.args[0])
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))

    _eval_rewrite_as_log = _eval_rewrite_as_exp

    def _eval_evalf(self, prec):
        xv = self.args[0]._eval_evalf(prec + 10)
        if xv is not None and xv.is_Float:
            return _softplus_float(xv, prec)
        return self._eval_rewrite_as_exp(*self.args)._eval_evalf(prec)

    def _eval_is_real(self):
        if self.args[0].is_extended_real:
            return True
        return None

    def _eval_is_finite(self):
        if self.args[0].is_extended_real and self.args[0].is_finite:
            return True
        return None

    def _eval_is_positive(self):
        if self.args[0].is_extended_real and self.args[0].is_finite:
            return True
        return None

    def _eval_is_extended_positive(self):
        if self.args[0].is_extended_real:
            return True
        return None

