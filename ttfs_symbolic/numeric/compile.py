"""Compile SymPy expressions (kernels eta of eq. 8, psi of eq. 13, targets f, h) to numeric functions.

:func:`compile_expr` lambdifies an expression once per ``(expr, args,
backend)`` and caches the result. Three backends:

* ``"numpy"``: float arrays in, ndarray out (SciPy for erf/erfc/erfinv and
  ``expit`` for sigmoid);
* ``"torch"``: tensors in, tensor out, batched on any shape, float32 or
  float64, on the input's device;
* ``"mpmath"``: scalars in, ``mpmath.mpf`` out at the caller's
  ``mpmath.mp.dps`` (the verification reference).

``lambdify``'s own printers are not used for functions: SymPy 1.14 prints
``Max`` as Python ``max`` for torch, passes floats where ``torch.heaviside``
wants tensors, calls ``torch.sqrt`` on ints for ``sqrt(2)``, takes ``erf``
from ``math`` for NumPy and returns Python numbers for constant expressions
(docs/design.md, "Known pitfalls"). Instead the expression is first *lowered*:

* every function node becomes an undefined function ``ttfs_<name>`` whose
  implementation this module supplies per backend (``ttfs_max`` is
  ``numpy.maximum``/``torch.maximum`` reduced over the arguments,
  ``ttfs_heaviside(x, h0)`` keeps SymPy's value ``h0`` at 0, ...);
* for NumPy and torch, ``Piecewise`` becomes nested ``where`` (``nan`` where no
  condition holds, as SymPy's Piecewise is undefined there), relations and
  ``And``/``Or``/``Not`` become elementwise functions, powers with a
  non-integer exponent become ``ttfs_sqrt``/``ttfs_pow``, and every constant
  subexpression (``sqrt(2)``, ``pi/4``, ``erf(1)``) is evaluated to 30
  digits and printed as a Python float literal, which Python rounds
  correctly to the nearest double;
* for mpmath, ``Piecewise`` stays a lazy Python conditional and constants stay
  exact, so they are evaluated at the caller's precision.

The generated code is printed by SymPy's plain Python printer and contains
only arithmetic, number literals, dummy argument names and ``ttfs_*`` calls.
The wrapper returned by :func:`compile_expr` casts the inputs to a floating
type and broadcasts the result to the inputs' broadcast shape, so a constant
expression (e.g. ``eta = 1`` of the identity transform, Corollary 4.2) gives a
full array/tensor with the input's shape, dtype and device.
"""
from __future__ import annotations

import collections
import functools
import math
import operator
import threading
from typing import Callable, Sequence

import mpmath
import numpy as np
import scipy.special
import sympy
import torch
from sympy.core.function import AppliedUndef
from sympy.printing.pycode import MpmathPrinter, PythonCodePrinter

from ttfs_symbolic.symbolic.functions import sigmoid, softplus

__all__ = ["BACKENDS", "compile_expr", "clear_cache"]

BACKENDS = ("numpy", "torch", "mpmath")

CACHE_SIZE = 1024
"""How many compiled functions :func:`compile_expr` keeps (least recently used dropped)."""

# Significant digits used to fold constant subexpressions for numpy/torch: more
# than the 17 a double needs, so the printed literal rounds correctly.
_CONST_DPS = 30

# SymPy function class -> lowered name (implementations below, per backend).
_FUNCTION_NAMES: dict[type, str] = {
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.Abs: "abs",
    sympy.sign: "sign",
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.sinh: "sinh",
    sympy.cosh: "cosh",
    sympy.tanh: "tanh",
    sympy.asin: "asin",
    sympy.acos: "acos",
    sympy.atan: "atan",
    sympy.asinh: "asinh",
    sympy.acosh: "acosh",
    sympy.atanh: "atanh",
    sympy.erf: "erf",
    sympy.erfc: "erfc",
    sympy.erfinv: "erfinv",
    sigmoid: "sigmoid",
    softplus: "softplus",
    sympy.Max: "max",
    sympy.Min: "min",
    sympy.Heaviside: "heaviside",
}
_RELATION_NAMES: dict[type, str] = {
    sympy.StrictLessThan: "lt",
    sympy.LessThan: "le",
    sympy.StrictGreaterThan: "gt",
    sympy.GreaterThan: "ge",
    sympy.Equality: "eq",
    sympy.Unequality: "ne",
}
_BOOL_NAMES: dict[type, str] = {sympy.And: "and", sympy.Or: "or", sympy.Not: "not"}


def _F(name: str) -> type:
    return sympy.Function("ttfs_" + name)


# ---------------------------------------------------------------- lowering


def _fold_constant(e: sympy.Expr) -> sympy.Expr:
    """A constant subexpression as an exact small rational or a 30-digit Float."""
    if e.is_Integer and abs(int(e)) <= 2**53:
        return e
    if e.is_Rational and abs(int(e.p)) <= 2**53 and int(e.q) <= 2**53:
        return e  # printed p/q: one correctly rounded division
    if e is sympy.S.Infinity:
        return _F("inf")()
    if e is sympy.S.NegativeInfinity:
        return -_F("inf")()
    if e is sympy.S.NaN:
        return _F("nan")()
    value = e.evalf(_CONST_DPS)
    if value.is_Float:
        return sympy.Float(value, _CONST_DPS)
    if value in (sympy.S.Infinity, sympy.S.NegativeInfinity, sympy.S.NaN):
        return _fold_constant(value)
    raise ValueError(f"constant subexpression {e} is not a real number (evaluates to {value})")


def _lower_array(e: sympy.Basic) -> sympy.Basic:
    """Lower for numpy/torch: only +, *, integer powers, literals, symbols and ttfs_* calls remain."""
    if isinstance(e, sympy.Expr) and not e.free_symbols:
        return _fold_constant(e)
    if isinstance(e, sympy.Symbol):
        return e
    if isinstance(e, sympy.Add):
        return sympy.Add(*[_lower_array(a) for a in e.args])
    if isinstance(e, sympy.Mul):
        return sympy.Mul(*[_lower_array(a) for a in e.args])
    if isinstance(e, sympy.Pow):
        base, exponent = e.args
        lb = _lower_array(base)
        if exponent.is_Integer:
            return sympy.Pow(lb, exponent)
        if exponent == sympy.S.Half:
            return _F("sqrt")(lb)
        if exponent == -sympy.S.Half:
            return sympy.Pow(_F("sqrt")(lb), -1)
        return _F("pow")(lb, _lower_array(exponent))
    if isinstance(e, sympy.Heaviside):
        h0 = e.args[1] if len(e.args) > 1 else sympy.S.Half
        return _F("heaviside")(_lower_array(e.args[0]), _lower_array(h0))
    if type(e) in _FUNCTION_NAMES:
        return _F(_FUNCTION_NAMES[type(e)])(*[_lower_array(a) for a in e.args])
    if isinstance(e, sympy.Piecewise):
        out: sympy.Expr = _F("nan")()
        for piece, cond in reversed(e.args):
            if cond is sympy.true:
                out = _lower_array(piece)
            elif cond is sympy.false:
                continue
            else:
                out = _F("where")(_lower_array(cond), _lower_array(piece), out)
        return out
    if type(e) in _RELATION_NAMES:
        return _F(_RELATION_NAMES[type(e)])(*[_lower_array(a) for a in e.args])
    if type(e) in _BOOL_NAMES:
        return _F(_BOOL_NAMES[type(e)])(*[_lower_array(a) for a in e.args])
    if e is sympy.true or e is sympy.false:
        return _F("true" if e is sympy.true else "false")()
    raise ValueError(_unsupported(e))


def _lower_mpmath(e: sympy.Basic) -> sympy.Basic:
    """Lower for mpmath: functions become ttfs_* calls; Piecewise, relations and constants stay."""
    if isinstance(e, (sympy.Symbol, sympy.Number, sympy.NumberSymbol)) or not e.args:
        if isinstance(e, AppliedUndef):
            raise ValueError(_unsupported(e))
        return e
    if isinstance(e, sympy.Heaviside):
        h0 = e.args[1] if len(e.args) > 1 else sympy.S.Half
        return _F("heaviside")(_lower_mpmath(e.args[0]), _lower_mpmath(h0))
    if type(e) in _FUNCTION_NAMES:
        return _F(_FUNCTION_NAMES[type(e)])(*[_lower_mpmath(a) for a in e.args])
    if isinstance(e, (sympy.Add, sympy.Mul, sympy.Pow, sympy.Piecewise,
                      sympy.functions.elementary.piecewise.ExprCondPair)) \
            or type(e) in _RELATION_NAMES or type(e) in _BOOL_NAMES:
        return e.func(*[_lower_mpmath(a) for a in e.args])
    raise ValueError(_unsupported(e))


def _unsupported(e: sympy.Basic) -> str:
    supported = sorted({c.__name__ for c in _FUNCTION_NAMES} | {"Piecewise", "Pow", "sqrt"})
    return (f"cannot compile {type(e).__name__} ({e}): no numeric implementation; "
            f"supported functions: {', '.join(supported)}")


# ---------------------------------------------------------------- numpy


def _np_reduce(fn):
    return lambda *args: functools.reduce(fn, args)


def _np_not(a):
    return (not a) if isinstance(a, bool) else np.logical_not(a)


_NUMPY_IMPL: dict[str, Callable] = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "pow": np.power,
    "abs": np.abs, "sign": np.sign,
    "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "erf": scipy.special.erf, "erfc": scipy.special.erfc, "erfinv": scipy.special.erfinv,
    "sigmoid": scipy.special.expit,
    "softplus": lambda v: np.logaddexp(0, v),  # log(1 + e^v) without overflow or cancellation
    "max": _np_reduce(np.maximum), "min": _np_reduce(np.minimum),
    "heaviside": np.heaviside,  # heaviside(x, h0): h0 at x == 0, as SymPy's Heaviside(x, h0)
    "where": np.where,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "eq": operator.eq, "ne": operator.ne,
    "and": _np_reduce(np.logical_and), "or": _np_reduce(np.logical_or), "not": _np_not,
    "true": lambda: True, "false": lambda: False,
    "inf": lambda: math.inf, "nan": lambda: math.nan,
}


# ---------------------------------------------------------------- torch


def _as_tensor(v) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=torch.float64)


def _t_unary(fn):
    return lambda v: fn(_as_tensor(v))


def _t_max2(a, b):
    ta, tb = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
    if ta and tb:
        return torch.maximum(a, b)
    if ta:
        return torch.clamp(a, min=b)
    if tb:
        return torch.clamp(b, min=a)
    return max(a, b)


def _t_min2(a, b):
    ta, tb = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
    if ta and tb:
        return torch.minimum(a, b)
    if ta:
        return torch.clamp(a, max=b)
    if tb:
        return torch.clamp(b, max=a)
    return min(a, b)


def _t_where(cond, a, b):
    if not isinstance(cond, torch.Tensor):
        return a if cond else b
    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        # Two Python numbers would give the default dtype (float32): keep float64
        # here; the wrapper casts the result to the inputs' dtype.
        a = torch.as_tensor(a, dtype=torch.float64, device=cond.device)
    return torch.where(cond, a, b)


def _t_heaviside(x, h0):
    if not isinstance(x, torch.Tensor):
        return float(h0) if x == 0 else (1.0 if x > 0 else (0.0 if x < 0 else math.nan))
    return torch.heaviside(x, torch.full_like(x, float(h0)))


def _t_softplus(v):
    v = _as_tensor(v)
    # max(v, 0) + log1p(exp(-|v|)): exact to rounding for all v, no threshold
    # switch (torch.nn.functional.softplus returns v for v > 20, an error of
    # log1p(exp(-20)) ~ 2e-9, far above float64's 1e-16).
    return torch.clamp(v, min=0) + torch.log1p(torch.exp(-torch.abs(v)))


def _t_not(a):
    return (not a) if isinstance(a, bool) else torch.logical_not(a)


_TORCH_IMPL: dict[str, Callable] = {
    "exp": _t_unary(torch.exp), "log": _t_unary(torch.log), "sqrt": _t_unary(torch.sqrt),
    "pow": operator.pow,
    "abs": _t_unary(torch.abs), "sign": _t_unary(torch.sign),
    "sin": _t_unary(torch.sin), "cos": _t_unary(torch.cos), "tan": _t_unary(torch.tan),
    "sinh": _t_unary(torch.sinh), "cosh": _t_unary(torch.cosh), "tanh": _t_unary(torch.tanh),
    "asin": _t_unary(torch.asin), "acos": _t_unary(torch.acos), "atan": _t_unary(torch.atan),
    "asinh": _t_unary(torch.asinh), "acosh": _t_unary(torch.acosh), "atanh": _t_unary(torch.atanh),
    "erf": _t_unary(torch.erf), "erfc": _t_unary(torch.erfc), "erfinv": _t_unary(torch.erfinv),
    "sigmoid": _t_unary(torch.sigmoid), "softplus": _t_softplus,
    "max": lambda *a: functools.reduce(_t_max2, a), "min": lambda *a: functools.reduce(_t_min2, a),
    "heaviside": _t_heaviside, "where": _t_where,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "eq": operator.eq, "ne": operator.ne,
    "and": lambda *a: functools.reduce(operator.and_, a),
    "or": lambda *a: functools.reduce(operator.or_, a),
    "not": _t_not,
    "true": lambda: True, "false": lambda: False,
    "inf": lambda: math.inf, "nan": lambda: math.nan,
}


# ---------------------------------------------------------------- mpmath


def _mp_heaviside(x, h0):
    if x > 0:
        return mpmath.mpf(1)
    if x < 0:
        return mpmath.mpf(0)
    return mpmath.mpf(h0) if x == 0 else mpmath.mpf("nan")


def _mp_sigmoid(v):
    return 1 / (1 + mpmath.exp(-v))  # relative error O(eps) for every real v


def _mp_softplus(v):
    return mpmath.log1p(mpmath.exp(v))  # log1p keeps digits when exp(v) << 1


_MPMATH_IMPL: dict[str, Callable] = {
    "exp": mpmath.exp, "log": mpmath.log,
    "abs": mpmath.fabs, "sign": mpmath.sign,
    "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan,
    "sinh": mpmath.sinh, "cosh": mpmath.cosh, "tanh": mpmath.tanh,
    "asin": mpmath.asin, "acos": mpmath.acos, "atan": mpmath.atan,
    "asinh": mpmath.asinh, "acosh": mpmath.acosh, "atanh": mpmath.atanh,
    "erf": mpmath.erf, "erfc": mpmath.erfc, "erfinv": mpmath.erfinv,
    "sigmoid": _mp_sigmoid, "softplus": _mp_softplus,
    "max": lambda *a: max(a), "min": lambda *a: min(a),
    "heaviside": _mp_heaviside,
}


# ---------------------------------------------------------------- wrappers


def _numpy_wrapper(raw: Callable, nargs: int) -> Callable:
    def run(*xs):
        if len(xs) != nargs:
            raise TypeError(f"compiled expression takes {nargs} argument(s), got {len(xs)}")
        arrs = [np.asarray(x) for x in xs]
        if arrs and all(np.issubdtype(a.dtype, np.floating) for a in arrs):
            dtype = np.result_type(*arrs)
        else:
            dtype = np.dtype(np.float64)
        arrs = [a.astype(dtype, copy=False) for a in arrs]
        shape = np.broadcast_shapes(*(a.shape for a in arrs)) if arrs else ()
        # Piecewise evaluates every branch, so domain warnings in unused
        # branches are expected; values outside the domain come back nan/inf.
        with np.errstate(all="ignore"):
            out = np.asarray(raw(*arrs))
        if any(out is a for a in arrs):  # expr is a bare argument: never alias the input
            out = out.copy()
        if out.shape != shape:
            out = np.broadcast_to(out, shape)
        if out.dtype != dtype or not out.flags.writeable:
            out = np.array(out, dtype=dtype)
        return out

    run.raw = raw  # the lambdified function itself: float64 arrays in (the verification's scalar path)
    return run


def _torch_wrapper(raw: Callable, nargs: int) -> Callable:
    def run(*xs):
        if len(xs) != nargs:
            raise TypeError(f"compiled expression takes {nargs} argument(s), got {len(xs)}")
        tensors = [x for x in xs if isinstance(x, torch.Tensor)]
        device = tensors[0].device if tensors else torch.device("cpu")
        # The dtype follows the tensor inputs (Python numbers beside them are
        # "weak", as in torch); without tensors, NumPy's view of the inputs
        # decides (a Python float is a double).
        kinds = [t.dtype for t in tensors] or [torch.as_tensor(np.asarray(x)).dtype for x in xs]
        if kinds and all(k.is_floating_point for k in kinds):
            dtype = functools.reduce(torch.promote_types, kinds)
        else:
            dtype = torch.get_default_dtype()
        ts = [x.to(dtype) if isinstance(x, torch.Tensor) and x.dtype != dtype
              else x if isinstance(x, torch.Tensor)
              else torch.as_tensor(np.asarray(x), device=device).to(dtype) for x in xs]
        shape = torch.broadcast_shapes(*(t.shape for t in ts)) if ts else torch.Size()
        out = raw(*ts)
        if any(out is t for t in ts):  # expr is a bare argument: never alias the input
            out = out.clone()
        if not isinstance(out, torch.Tensor):
            return torch.full(shape, float(out), dtype=dtype, device=device)
        if out.dtype != dtype:
            out = out.to(dtype)
        if out.shape != shape:
            out = out.expand(shape).contiguous()
        return out

    return run


def _to_mpf(v):
    if isinstance(v, (mpmath.mpf, int)) and not isinstance(v, bool):
        return v
    if isinstance(v, sympy.Basic):
        if v.is_Rational:
            return mpmath.mpf(int(v.p)) / int(v.q)  # correctly rounded
        return +mpmath.mpf(sympy.Float(v.evalf(mpmath.mp.dps + 10), mpmath.mp.dps + 10)._mpf_)
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()  # exact: float32/float64 values are doubles
    elif isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    return mpmath.mpf(v)


def _mpmath_wrapper(raw: Callable, nargs: int) -> Callable:
    def run(*xs):
        if len(xs) != nargs:
            raise TypeError(f"compiled expression takes {nargs} argument(s), got {len(xs)}")
        out = raw(*[_to_mpf(x) for x in xs])
        if out is None:  # Piecewise with no true condition: undefined, like SymPy
            return mpmath.mpf("nan")
        if isinstance(out, mpmath.mpc):
            # A non-real value (log of a negative number, ...): nan, as numpy/torch give.
            return mpmath.mpf(out.real) if out.imag == 0 else mpmath.mpf("nan")
        return mpmath.mpf(out)

    return run


# ---------------------------------------------------------------- entry point

_PRINTER_SETTINGS = {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True}

_cache: "collections.OrderedDict[tuple, Callable]" = collections.OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every compiled function."""
    with _cache_lock:
        _cache.clear()


def compile_expr(expr: sympy.Expr, args: Sequence[sympy.Symbol], backend: str) -> Callable:
    """Lambdify ``expr`` as a function of ``args`` for ``backend``; cached.

    ``expr``: a SymPy expression whose free symbols are all in ``args`` and
    whose functions are those of the formula whitelist
    (:data:`ttfs_symbolic.symbolic.parse.ALLOWED_FUNCTIONS`) plus ``Piecewise``,
    relations, ``asin``, ``acos``, ``acosh``, ``atanh`` and ``erfinv`` (which
    inverses in Theorem 4.3's ``h^-1`` produce).
    ``args``: the symbols, in call order. ``backend``: one of :data:`BACKENDS`.

    Returns ``f(*inputs)``:

    * numpy: inputs are array-likes; the result is an ndarray of the inputs'
      broadcast shape, dtype the inputs' common float type (float64 for
      integer input);
    * torch: inputs are tensors (or numbers/arrays); the result is a tensor
      of the broadcast shape on the inputs' device, dtype the tensor inputs'
      common float type (numbers beside tensors are "weak"; without tensors a
      Python float counts as float64; integer input gives the default dtype);
    * mpmath: inputs are numbers (Python, NumPy, 1-element tensors, SymPy,
      mpf); the result is an ``mpmath.mpf`` computed at the current
      ``mpmath.mp.dps`` (non-real values and Piecewise gaps give ``nan``).

    The same ``(expr, args, backend)`` (compared by ``sympy.srepr``) returns
    the same function object. Raises ``ValueError`` for an unknown backend, a
    free symbol missing from ``args``, or a function without a numeric
    implementation.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = sympy.Float(expr, _CONST_DPS) if isinstance(expr, float) else sympy.Integer(expr)
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"expected a SymPy expression, got {type(expr).__name__} {expr!r}")
    if isinstance(args, sympy.Symbol):
        args = (args,)
    args = tuple(args)
    for a in args:
        if not isinstance(a, sympy.Symbol):
            raise ValueError(f"arguments must be SymPy symbols, got {type(a).__name__} {a!r}")
    if len(set(args)) != len(args):
        raise ValueError(f"repeated argument symbol in {args}")
    missing = expr.free_symbols - set(args)
    if missing:
        names = ", ".join(sorted(str(m) for m in missing))
        raise ValueError(f"expression {expr} has free symbols not among the arguments: {names}")

    key = (sympy.srepr(expr), tuple(sympy.srepr(a) for a in args), backend)
    with _cache_lock:
        fn = _cache.get(key)
        if fn is not None:
            _cache.move_to_end(key)
            return fn

    fn = _build(expr, args, backend)
    with _cache_lock:
        fn = _cache.setdefault(key, fn)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return fn


def _build(expr: sympy.Expr, args: tuple[sympy.Symbol, ...], backend: str) -> Callable:
    if backend == "mpmath":
        lowered = _lower_mpmath(expr)
        impl = {"ttfs_" + k: v for k, v in _MPMATH_IMPL.items()}
        raw = sympy.lambdify(args, lowered, modules=[impl, "mpmath"],
                             printer=MpmathPrinter(dict(_PRINTER_SETTINGS)), dummify=True)
        fn = _mpmath_wrapper(raw, len(args))
    else:
        lowered = _lower_array(expr)
        table = _NUMPY_IMPL if backend == "numpy" else _TORCH_IMPL
        impl = {"ttfs_" + k: v for k, v in table.items()}
        raw = sympy.lambdify(args, lowered, modules=[impl],
                             printer=PythonCodePrinter(dict(_PRINTER_SETTINGS)),
                             dummify=True, cse=True)
        wrap = _numpy_wrapper if backend == "numpy" else _torch_wrapper
        fn = wrap(raw, len(args))
    fn.expr = expr  # type: ignore[attr-defined]
    fn.args = args  # type: ignore[attr-defined]
    fn.backend = backend  # type: ignore[attr-defined]
    fn.__doc__ = f"{backend} kernel of {expr} in ({', '.join(map(str, args))})"
    return fn
