"""Compiled kernels: the derived eta and psi as fast numeric functions.

A derivation (:mod:`ttfs_symbolic.symbolic.derive`) holds SymPy expressions
for one range. The model layer needs the same kernels for hundreds of
calibrated ranges, so this module compiles each formula once *with the range
as arguments*:

* ``InputKernel(f)``: ``f(x)``, and ``eta(s, a, tau) = f'(s/tau + a)``
  (Theorem 4.1, eq. 8), the kernel the derivation produces for any sender
  range, compiled from the same SymPy derivative.
* ``OutputKernel(h)``: ``h(V)``, ``g = h^-1`` (closed form or a vectorised
  monotone bisection), ``psi(s, b, tau) = 1/(tau h'(g(b - s/tau)))`` and
  ``theta(b) = g(b)`` (Theorem 4.3, eq. 13).

``compiled_input`` / ``compiled_output`` give the same for one derivation.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy
import torch
import torch.nn.functional as F

from ..symbolic.calculus import kinks, symbolic_inverse
from ..symbolic.functions import sigmoid
from ..symbolic.hypotheses import check_range
from ..symbolic.parse import S, X, Y, parse_formula
from ..symbolic.transforms import InputTransform, OutputTransform
from .compile import compile_expr

A_SYM = sympy.Symbol("a", real=True)
B_SYM = sympy.Symbol("b", real=True)
TAU_SYM = sympy.Symbol("tau", positive=True)


def _backend_of(value) -> str:
    return "torch" if isinstance(value, torch.Tensor) else "numpy"


@functools.lru_cache(maxsize=256)
def _fused_torch(f: sympy.Expr):
    """torch's own fused kernel for a few formulas, by exact symbolic match."""
    table = {
        sympy.expand(X * (1 + sympy.erf(X / sympy.sqrt(2))) / 2): F.gelu,
        sympy.expand(X / 2 * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (X + sympy.Rational(44715, 1000000) * X**3)))):
            lambda v: F.gelu(v, approximate="tanh"),
        sympy.Max(0, X): torch.relu,
        sympy.exp(X): torch.exp,
    }
    table[X * sigmoid(X)] = F.silu
    return table.get(sympy.expand(f)) or table.get(f)


def check_real(x) -> None:
    """Refuse complex numbers and meta tensors, naming them: the numeric layer's spike times, values,
    potentials, weights and biases are real numbers (torch would fail deep inside, or drop the imaginary
    part of a weight with a warning; a meta tensor holds no values)."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise ValueError(f"got a complex tensor ({x.dtype}): spike times, values, potentials, weights and "
                             "biases are real")
        if x.is_meta:
            raise ValueError("got a tensor on the meta device, which holds no values to compute with")
    elif np.iscomplexobj(x):
        raise ValueError("got complex numbers: spike times, values, potentials, weights and biases are real")


class InputKernel:
    """Theorem 4.1 kernels of one formula f, compiled for every range at once."""

    def __init__(self, f, params: dict | None = None):
        self.f = parse_formula(f, params=params) if not isinstance(f, sympy.Expr) else f
        self.fprime = sympy.diff(self.f, X)
        self.eta_general = self.fprime.subs(X, S / TAU_SYM + A_SYM)
        self._f_fns = {}

    def f_fn(self, backend: str):
        """f compiled for a backend (looked up once per backend); for torch, a fused
        op where f is one torch has (GELU, SiLU, ReLU, exp), checked equal to the
        compiled formula by the tests (tests/spiking/test_model_layers.py)."""
        fn = self._f_fns.get(backend)
        if fn is None:
            fn = _fused_torch(self.f) if backend == "torch" else None
            fn = self._f_fns[backend] = fn or compile_expr(self.f, (X,), backend)
        return fn

    def eta_fn(self, backend: str):
        """eta(s, a, tau) for s >= 0 (eq. 8)."""
        return compile_expr(self.eta_general, (S, A_SYM, TAU_SYM), backend)

    @functools.lru_cache(maxsize=4096)
    def f_at(self, a: float) -> float:
        """f(a): a silent input's contribution per unit weight (eq. 8), in mpmath at 30 digits."""
        fn = compile_expr(self.f, (X,), "mpmath")
        with mpmath.workdps(30):
            return float(fn(mpmath.mpf(float(a))))

    @functools.cached_property
    def _kinks(self) -> tuple[float, ...]:
        return tuple(float(k) for k in kinks(self.fprime, X, -sympy.oo, sympy.oo))

    def kink_points(self) -> tuple[float, ...]:
        """Values x where eta = f'(x) may be non-smooth (Heaviside, Max, Abs, Piecewise); solved once per kernel."""
        return self._kinks

    def __call__(self, x):
        """f(x) with the backend of x (integer tensors as the default float dtype, as compile_expr's)."""
        check_real(x)
        if isinstance(x, torch.Tensor) and not x.is_floating_point():
            x = x.to(torch.get_default_dtype())   # torch's fused GELU has no integer kernel
        return self.f_fn(_backend_of(x))(x)

    def is_identity(self) -> bool:
        return self.f == X


class OutputKernel:
    """Theorem 4.3 kernels of one increasing formula h, compiled for every range."""

    def __init__(self, h, params: dict | None = None, inverse: sympy.Expr | None = None,
                 bracket: tuple[float, float] | None = None):
        self.h = parse_formula(h, params=params) if not isinstance(h, sympy.Expr) else h
        self.hprime = sympy.diff(self.h, X)
        self.inverse = inverse
        self.bracket = bracket or (-1e6, 1e6)
        self._cache = {}

    @classmethod
    def from_transform(cls, ot: OutputTransform) -> "OutputKernel":
        return cls(ot.h, inverse=ot.inverse, bracket=ot.bracket)

    @classmethod
    @functools.lru_cache(maxsize=128)
    def for_formula(cls, h: str, a: float, b: float) -> "OutputKernel":
        """Find h^-1 once on a representative range, for use on any range."""
        expr = parse_formula(h)
        a_, b_, _ = check_range(a, b)
        g = symbolic_inverse(expr, a_, b_)
        return cls(expr, inverse=g)

    def is_identity(self) -> bool:
        return self.h == X

    def h_fn(self, backend: str):
        """h compiled for a backend, looked up once per backend."""
        key = ("h", backend)
        if key not in self._cache:
            self._cache[key] = compile_expr(self.h, (X,), backend)
        return self._cache[key]

    def hprime_fn(self, backend: str):
        return compile_expr(self.hprime, (X,), backend)

    def g(self, y):
        """h^-1(y): closed form when known, else bisection on ``bracket``."""
        backend = _backend_of(y)
        g = self._compiled_inverse(backend)
        if g is not None:
            return g(y)
        h = self.h_fn(backend)
        lo_v, hi_v = self.bracket
        if backend == "torch":
            lo = torch.full_like(y, lo_v)
            hi = torch.full_like(y, hi_v)
            for _ in range(200 if y.dtype == torch.float64 else 100):
                mid = (lo + hi) / 2
                below = h(mid) < y
                lo = torch.where(below, mid, lo)
                hi = torch.where(below, hi, mid)
            return (lo + hi) / 2
        y = np.asarray(y, dtype=float)
        lo = np.full_like(y, lo_v)
        hi = np.full_like(y, hi_v)
        for _ in range(200):
            mid = (lo + hi) / 2
            below = h(mid) < y
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return (lo + hi) / 2

    def psi(self, s, b: float, tau: float):
        """psi(s) = 1 / (tau h'(h^-1(b - s/tau))) on [0, delta) (eq. 13)."""
        hp = self.hprime_fn(_backend_of(s))
        return 1.0 / (tau * hp(self.g(b - s / tau)))

    def theta(self, b: float) -> float:
        """theta = h^-1(b) (eq. 13)."""
        key = ("theta", float(b))
        if key not in self._cache:
            self._cache[key] = float(self.g(np.array([float(b)]))[0])
        return self._cache[key]

    def theta_low(self, a: float) -> float:
        """h^-1(a): below it the neuron stays silent (value a); -inf if h never reaches a."""
        key = ("low", float(a))
        if key not in self._cache:
            self._cache[key] = self._theta_low(a)
        return self._cache[key]

    def _compiled_inverse(self, backend: str):
        """The closed-form h^-1 compiled, or None (no inverse, or one such as
        LambertW that the backend cannot compile: the root finder is used)."""
        if self.inverse is None:
            return None
        try:
            return compile_expr(self.inverse, (Y,), backend)
        except Exception:
            return None

    def _theta_low(self, a: float) -> float:
        g = self._compiled_inverse("numpy")
        if g is not None:
            with np.errstate(all="ignore"):
                val = g(np.array([float(a)]))
            val = float(np.asarray(val).reshape(-1)[0])
            return val if math.isfinite(val) else -math.inf
        h = self.h_fn("numpy")
        lo = self.bracket[0]
        with np.errstate(all="ignore"):
            if not float(np.asarray(h(np.array([lo]))).reshape(-1)[0]) < a:
                return -math.inf
        return float(self.g(np.array([float(a)]))[0])

    def apply(self, V, a: float, b: float):
        """clip(h(V), a, b) (eq. 14), without evaluating h outside its domain.

        h is increasing, so V <= theta_low = g(a) gives a (no spike), V >= theta
        = g(b) gives b, and h is evaluated only on V clamped to [theta_low,
        theta] (theta_low = -inf when h never reaches a, as exp for a = 0), which
        keeps it inside its domain. The comparisons are explicit because the
        float theta_low may round above the true g(a): clamping alone would
        emit h(theta_low) = a + ulps, a spike near T_end, for V below g(a).
        """
        check_real(V)
        theta = self.theta(b)
        low = self.theta_low(a)
        h = self.h_fn(_backend_of(V))
        if isinstance(V, torch.Tensor):
            if V.numel():
                # every V strictly between the thresholds (the usual case on calibrated
                # ranges): the clamp and the two selections below are identities
                vmin, vmax = torch.aminmax(V)   # NaN makes both comparisons false: the full path
                if bool(vmin > low) and bool(vmax < theta):
                    return h(V).clamp(a, b)
            if torch.isnan(V).any():   # (the fast path's comparisons are false for NaN: checked here only)
                raise ValueError("potentials V contain NaN: clip(h(V), a, b) is undefined there")
            inside = V.clamp(min=None if math.isinf(low) else low, max=theta)
            out = h(inside).clamp(a, b)
            out = torch.where(V >= theta, torch.full_like(out, b), out)
            return torch.where(V <= low, torch.full_like(out, a), out)
        V = np.asarray(V, dtype=float)
        if np.isnan(V).any():
            raise ValueError("potentials V contain NaN: clip(h(V), a, b) is undefined there")
        inside = np.clip(V, None if math.isinf(low) else low, theta)
        with np.errstate(all="ignore"):
            out = np.clip(h(inside), a, b)
        return np.where(V <= low, a, np.where(V >= theta, b, out))


@dataclass(frozen=True)
class CompiledInput:
    eta: object
    f: object


@dataclass(frozen=True)
class CompiledOutput:
    psi: object
    h: object
    g: object


@functools.lru_cache(maxsize=1024)
def compiled_input(it: InputTransform, backend: str = "numpy") -> CompiledInput:
    """The kernel eta(s) and f(x) of one derivation, compiled for a backend (numpy, torch, mpmath); cached."""
    return CompiledInput(eta=compile_expr(it.eta, (S,), backend), f=compile_expr(it.f, (X,), backend))


@functools.lru_cache(maxsize=1024)
def compiled_output(ot: OutputTransform, backend: str = "numpy") -> CompiledOutput:
    """psi(s), h(V) and g(y) of one derivation, compiled for a backend (numpy, torch, mpmath); cached."""
    kernel = OutputKernel.from_transform(ot)
    b, tau = float(ot.b), float(ot.tau)
    try:
        psi = compile_expr(ot.psi, (S,), backend) if ot.inverse_method == "symbolic" else None
    except Exception:  # LambertW and the like: psi through the root finder
        psi = None
    if psi is None:
        def psi(s, _k=kernel):
            return _k.psi(s, b, tau)
    return CompiledOutput(psi=psi, h=compile_expr(ot.h, (X,), backend), g=kernel.g)
