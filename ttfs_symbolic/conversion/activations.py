"""Activation modules to activation neurons: the registry every model family uses.

An activation layer of a Transformer (``nn.GELU``, ``nn.Mish``, a module of
the user's own) becomes one neuron per element whose input transform is the
activation itself, ``f`` (Theorem 4.1, eq. 8-9; Corollary 4.5 for GELU and
SiLU), with the identity output transform. This module maps module types to
such neurons:

* :func:`register_activation` (also ``ttfs_symbolic.register_activation``):
  ``register_activation(MyAct, "x * erf(x)")``. The neuron is a formula in
  ``x``, a catalogue name (``"mish"``), a TOML definition file, or a derived
  :class:`~ttfs_symbolic.symbolic.derive.InputTransform`. Module settings
  (ELU's ``alpha``, Softplus's ``beta``, LeakyReLU's ``negative_slope``)
  enter as parameters of the formula, read from each module instance:
  ``register_activation(nn.ELU, "elu", params={"alpha": "alpha"})``.
* per call: ``convert(model, data, activations={MyAct: "x * erf(x)"})``
  (:func:`overrides`), which wins over the registry;
* :func:`activation_neuron` (the lookup every family calls, also as
  ``vit._activation_neuron``), :func:`check_activations` (the check at
  conversion) and the CLI helpers :func:`add_activation_argument` /
  :func:`parse_activation_args` (``--activation NAME=FORMULA``).

Out of the box: torch's GELU (both forms), SiLU, ReLU, Mish, ELU(alpha),
Softplus(beta), Tanh, Sigmoid, Hardswish, Hardsigmoid, LeakyReLU(slope),
ReLU6; timm's GELU, GELUTanh, QuickGELU, Swish, Mish, HardSwish, HardSigmoid,
Sigmoid, Tanh; transformers' GELUActivation, NewGELUActivation, GELUTanh,
PytorchGELUTanh, QuickGELUActivation, SiLUActivation, MishActivation (by
class name: nothing imports transformers).

**The check at conversion.** A registration is a claim that the module
computes f. Once the ranges are calibrated, :func:`check_activations`
evaluates the module's own forward and the compiled f (the function the
spiking layer uses) in float64 on 4097 evenly spaced points of the
calibrated input range ``[a, b]`` of each activation layer, 4096 points drawn
uniformly from it (a generator seeded with 0, so the check is reproducible;
a formula built to agree on the grid alone is caught between its points),
plus the kinks of f inside it, and stops the conversion with :class:`ActivationMismatchError`
(largest difference, where, both values) when
``|module(x) - f(x)| > 1e-10 * (1 + |f(x)|)`` anywhere. Two float64
evaluations of the same function differ by a few ulps (~1e-15 relative), so
the bound leaves five orders of margin for a correct registration, and any
wrong formula or parameter that matters at the 1e-9 logit level (the exact
mode's claim) is caught. Softplus switches to the identity above
``threshold/beta`` in torch: its formula ``softplus(beta x)/beta`` differs
there by at most ``log(1 + e^-threshold)/beta`` (2.1e-9 at the default 20),
within the bound at those values, and any setting where the difference
matters is refused by the same check.

**State and randomness are refused** (decided here): a module with a
trainable parameter (``requires_grad=True``) is refused at construction,
because the neuron keeps the values at conversion while the module could go
on learning; freeze it (``module.requires_grad_(False)``) and read its
values into the formula with ``params=``. A module whose forward gives two
different results on the same input (dropout in training mode, a random or
stateful activation) is refused by the check.
"""
from __future__ import annotations

import argparse
import contextlib
import contextvars
import copy
import math
import os
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..catalogue import NeuronDef, load_catalogue, load_definition
from ..numeric.kernels import InputKernel
from ..spiking import SpikingActivation
from ..symbolic.derive import InputTransform
from ..symbolic.hypotheses import DomainError
from ..symbolic.theorem_4_1 import check_input_hypotheses
from ..symbolic.parse import FormulaError, parse_formula
from .errors import UnsupportedModuleError, typename

__all__ = [
    "ActivationNeuron", "ActivationMismatchError", "register_activation", "registration", "unregister_activation",
    "registered_activations", "activation_neuron", "is_activation", "overrides", "check_activation",
    "check_activations", "check_overrides_used", "add_activation_argument", "parse_activation_args",
]

#: points of the calibrated range at which module and formula are compared (plus f's kinks)
CHECK_POINTS = 4097
#: and as many again drawn uniformly from the range with a generator seeded with CHECK_SEED: a formula
#: that agrees with the module on the grid alone (zero there, wrong between) is caught
CHECK_RANDOM_POINTS = 4096
CHECK_SEED = 0
#: the check's bound: |module(x) - f(x)| <= CHECK_TOL * (1 + |f(x)|), float64 (see the module docstring)
CHECK_TOL = 1e-10


class ActivationMismatchError(ValueError):
    """A registered activation's formula does not compute what its module computes."""


def _unsupported(msg: str) -> Exception:
    return UnsupportedModuleError(msg)


# --------------------------------------------------------------------------
# neurons
# --------------------------------------------------------------------------

_KERNELS: dict = {}


def _num(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))


@dataclass(frozen=True)
class ActivationNeuron:
    """The neuron of one activation layer: input transform f (Theorem 4.1), identity h.

    ``f`` is the formula in ``x`` with parameter names; ``params`` their
    values for this layer (read from the module instance); ``name`` the
    catalogue name or a label. ``source`` is the module it replaces (for the
    check at conversion; not compared).
    """

    name: str
    f: str
    params: tuple = ()
    catalogue: str | None = None
    expr: Any = field(default=None, compare=False, repr=False)   # a SymPy f, when given derived
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """What reports print: ``elu``, ``elu(alpha=0.5)``, or the formula (``x*erf(k*x) [k=2]``)."""
        if not self.params:
            return self.name
        values = ", ".join(f"{k}={_num(v)}" for k, v in self.params)
        return f"{self.name} [{values}]" if self.name == self.f else f"{self.name}({values})"

    def kernel(self):
        """The compiled Theorem 4.1 kernel (None for f = x), one object per (f, params).

        One object per formula matters: kernel-mode tables and f(a) are cached
        per kernel object (:func:`ttfs_symbolic.numeric.dynamics.input_table`).
        """
        key = (self.f, self.params) if self.expr is None else ("expr", str(self.expr), self.params)
        if key not in _KERNELS:
            if self.expr is not None:
                kern = InputKernel(self.expr.subs({k: v for k, v in self.params}) if self.params else self.expr)
            else:
                kern = InputKernel(self.f, params=dict(self.params) or None)
            _KERNELS[key] = None if kern.is_identity() else kern
        return _KERNELS[key]

    def expression(self) -> str:
        """f with the parameters substituted, as SymPy prints it (what a saved conversion compares)."""
        kern = self.kernel()
        return "x" if kern is None else str(kern.f)

    def as_dict(self) -> dict:
        return {"neuron": self.label, "f": self.f, "params": {k: v for k, v in self.params},
                "expression": self.expression()}


def _neuron_from(spec, name: str | None = None) -> tuple[ActivationNeuron, dict]:
    """An ActivationNeuron template and its default parameters from a user's spec."""
    if isinstance(spec, ActivationNeuron):
        return (replace(spec, name=name) if name else spec), dict(spec.params)
    if isinstance(spec, InputTransform):
        # SymPy loads only when a formula is parsed (start-up time)
        import sympy

        expr = spec.f
        bad = expr.free_symbols - {sympy.Symbol("x", real=True)}
        if bad:
            raise FormulaError(f"the derived input transform has free symbols {sorted(map(str, bad))} besides x")
        return ActivationNeuron(name or str(expr), str(expr), expr=expr), {}
    if isinstance(spec, NeuronDef):
        return ActivationNeuron(name or spec.name, spec.f), dict(spec.params)
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.strip().endswith(".toml")):
        nd = load_definition(spec)
        if nd.h.strip() != "x":
            raise FormulaError(f"{spec}: an activation neuron needs the identity output transform h = x, got {nd.h!r}")
        return ActivationNeuron(name or nd.name, nd.f), dict(nd.params)
    if not isinstance(spec, str):
        raise TypeError("an activation neuron is a formula string, a catalogue name, a TOML path, an "
                        f"InputTransform or an ActivationNeuron, got {type(spec).__name__}")
    text = spec.strip()
    if text.isidentifier() and text != "x":
        cat = load_catalogue()
        if text in cat:
            nd = cat[text]
            if nd.h.strip() != "x" or nd.aggregate != "sum":
                raise FormulaError(f"catalogue neuron {text!r} is not an activation (it has h = {nd.h!r}, "
                                   f"aggregate {nd.aggregate!r}); an activation needs f and h = x")
            return ActivationNeuron(name or text, nd.f, catalogue=text), dict(nd.params)
    return ActivationNeuron(name or text, text), {}


def _validate(template: ActivationNeuron, defaults: dict, readers: dict):
    """Parse f once with placeholder parameter values: a bad formula fails at registration."""
    if template.expr is not None:
        return
    values = dict(defaults)
    values.update({k: 1.0 for k in readers if k not in values})
    parse_formula(template.f, params=values or None)


# --------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------

class _Entry:
    """One registration: a neuron spec (resolved on first use), parameter readers, or a chooser."""

    def __init__(self, spec, readers: dict, name: str | None = None, choose: Callable | None = None):
        self.spec, self.readers, self.name, self.choose = spec, readers, name, choose
        self._resolved = None

    def resolve(self) -> tuple[ActivationNeuron, dict]:
        if self._resolved is None:
            template, defaults = _neuron_from(self.spec, self.name)
            _validate(template, defaults, self.readers)
            self._resolved = (template, defaults)
        return self._resolved

    def describe(self):
        return self.choose if self.choose is not None else self.spec

    def neuron(self, module: nn.Module, path: str) -> ActivationNeuron:
        if self.choose is not None:
            template, defaults = _neuron_from(self.choose(module), self.name)
        else:
            template, defaults = self.resolve()
        values = dict(defaults)
        for pname, reader in self.readers.items():
            try:
                value = reader(module) if callable(reader) else getattr(module, reader)
                if isinstance(value, torch.Tensor):
                    if value.numel() != 1:
                        raise ValueError(f"a tensor of {value.numel()} elements")
                    value = value.item()
                value = float(value)
            except Exception as exc:   # noqa: BLE001 - any failure to read is the same user error
                raise _unsupported(f"activation at '{path}': cannot read parameter {pname!r} of "
                                   f"{typename(module)} ({exc})") from None
            if not math.isfinite(value):
                raise _unsupported(f"activation at '{path}': parameter {pname!r} of {typename(module)} is {value}")
            values[pname] = value
        params = tuple(sorted(values.items()))
        return replace(template, params=params, source=module)


_REGISTRY: dict = {}
_OVERRIDES: contextvars.ContextVar = contextvars.ContextVar("ttfs_activation_overrides", default=None)


def _key(module_type):
    if isinstance(module_type, type):
        if not issubclass(module_type, nn.Module):
            raise TypeError(f"{module_type.__qualname__} is not an nn.Module subclass")
        return module_type
    if isinstance(module_type, str) and module_type and all(p.isidentifier() for p in module_type.split(".")):
        return module_type
    raise TypeError("register an activation by its module class or class name (a string such as "
                    f"'GELUActivation' or 'transformers.activations.GELUActivation'), got {module_type!r}")


def _entry(neuron, params=None, name=None, validate: bool = True) -> _Entry:
    readers = dict(params or {})
    for k, r in readers.items():
        if not (isinstance(r, str) or callable(r)):
            raise TypeError(f"params[{k!r}] must be an attribute name or a callable(module) -> number")
    if callable(neuron) and not isinstance(neuron, (str, ActivationNeuron, os.PathLike)) \
            and not hasattr(neuron, "eta"):   # an InputTransform is not a chooser
        return _Entry(None, readers, name, choose=neuron)
    entry = _Entry(neuron, readers, name)
    if validate:
        entry.resolve()   # a bad formula, name or file fails here, at registration
    return entry


def register_activation(module_type, neuron, *, params: Mapping | None = None, name: str | None = None) -> None:
    """Convert every ``module_type`` activation to the neuron with input transform ``neuron``.

    ``module_type``: an ``nn.Module`` class (subclasses match too), or a class
    name as a string (bare ``"GELUActivation"`` or qualified
    ``"transformers.activations.GELUActivation"``) for classes of packages
    not imported. ``neuron``: a formula in ``x`` (``"x * erf(x)"``), a
    catalogue name (``"mish"``), the path of a TOML definition (or a loaded
    ``NeuronDef``), a derived
    ``InputTransform``, or a callable ``module -> any of those`` when a
    setting of the module picks the formula. ``params``: formula parameter
    -> attribute name of the module or ``callable(module) -> number``, read
    from each instance at conversion. ``name``: the label in reports.

    The formula is checked against the module at every conversion
    (:func:`check_activations`); registering again replaces the entry.
    """
    _REGISTRY[_key(module_type)] = _entry(neuron, params, name)


def registration(neuron, *, params: Mapping | None = None, name: str | None = None):
    """A registration for one call: ``convert(..., activations={nn.PReLU: registration(f, params=...)})``.

    The same arguments as :func:`register_activation`, for the per-call
    ``activations`` mapping (whose plain values are neurons without ``params``).
    """
    return _entry(neuron, params, name)


def unregister_activation(module_type) -> None:
    """Remove a registration (KeyError if there is none)."""
    del _REGISTRY[_key(module_type)]


def registered_activations() -> dict:
    """A copy of the registry: key (class or class name) -> the formula or chooser it maps to."""
    return {k: e.describe() for k, e in _REGISTRY.items()}


@contextlib.contextmanager
def overrides(activations: Mapping | None):
    """Per-call registrations (``convert(..., activations=...)``): they win over the registry."""
    if not activations:
        yield
        return
    if not isinstance(activations, Mapping):
        raise TypeError("activations must be a mapping {module class or class name: neuron}")
    table = dict(_OVERRIDES.get() or {})
    for k, v in activations.items():
        table[_key(k)] = v if isinstance(v, _Entry) else _entry(v)
    token = _OVERRIDES.set(table)
    try:
        yield
    finally:
        _OVERRIDES.reset(token)


def _find(module: nn.Module) -> _Entry | None:
    tables = [t for t in (_OVERRIDES.get(), _REGISTRY) if t]
    for cls in type(module).__mro__:
        if cls in (nn.Module, object):
            break
        for table in tables:
            for key in (cls, f"{cls.__module__}.{cls.__qualname__}", cls.__name__):
                if key in table:
                    return table[key]
    return None


def _matches(key, module: nn.Module) -> bool:
    """Whether the registry key (class or class name) stands for ``module``'s class, as :func:`_find` looks up."""
    for cls in type(module).__mro__:
        if cls in (nn.Module, object):
            return False
        if key in (cls, f"{cls.__module__}.{cls.__qualname__}", cls.__name__):
            return True
    return False


def check_overrides_used(activations: Mapping | None, model: nn.Module, strict: bool = False) -> None:
    """Name every per-call activation that matches no module of ``model``: ValueError if ``strict``, else a warning.

    ``--activation Gelu=x`` for a model whose activation class is ``GELU``
    would otherwise be ignored without a word (the conversion then uses the
    built-in registration, not the formula the user meant): the command line
    refuses it (``strict``); ``convert(..., activations=)`` warns, since one
    mapping may serve several models.
    """
    if not activations:
        return
    modules = list(model.modules())
    unused = [k for k in activations if not any(_matches(_key(k), m) for m in modules)]
    if unused:
        names = ", ".join(k if isinstance(k, str) else typename(k) for k in unused)
        classes = sorted({type(m).__name__ for m in modules if is_activation(m) or "act" in type(m).__name__.lower()})
        msg = (f"activation(s) {names} match no module of the model (class names are exact, "
               f"e.g. {', '.join(classes[:6]) or 'GELU'})")
        if strict:
            raise ValueError(msg)

        warnings.warn(msg + ": not used", UserWarning, stacklevel=3)


def is_activation(module: nn.Module) -> bool:
    """Whether ``module`` has a registered activation neuron (registry or per-call)."""
    return _find(module) is not None


def activation_neuron(path: str, module: nn.Module) -> ActivationNeuron:
    """The neuron of the activation module at ``path`` (every model family calls this).

    Raises UnsupportedModuleError when the module's type is not registered,
    or when it has trainable parameters (see the module docstring).
    """
    entry = _find(module)
    if entry is None:
        raise _unsupported(
            f"unsupported activation at '{path}': {typename(module)} has no registered neuron; register its "
            f"formula: ttfs_symbolic.register_activation({type(module).__name__}, 'f(x)') or "
            f"convert(..., activations={{{type(module).__name__}: 'f(x)'}}) (docs: guide/activation.md)")
    trainable = [n for n, p in module.named_parameters() if p.requires_grad]
    if trainable:
        raise _unsupported(
            f"unsupported activation at '{path}': {typename(module)} has trainable parameter(s) "
            f"{', '.join(trainable)}, which could change after conversion; freeze them first "
            "(module.requires_grad_(False)) and read them into the formula with params=")
    return entry.neuron(module, path)


# --------------------------------------------------------------------------
# the check at conversion
# --------------------------------------------------------------------------

def check_activation(module: nn.Module, neuron: ActivationNeuron, a: float, b: float, path: str = "",
                     points: int = CHECK_POINTS, tol: float = CHECK_TOL,
                     random_points: int = CHECK_RANDOM_POINTS, seed: int = CHECK_SEED) -> float:
    """Compare ``module``'s forward with the compiled f on [a, b] in float64; return the largest difference.

    The points: ``points`` evenly spaced, ``random_points`` uniform from a
    generator seeded with ``seed``, and f's kinks inside the range.

    Raises :class:`ActivationMismatchError` when ``|module(x) - f(x)| > tol
    (1 + |f(x)|)`` at some point (the message gives the largest difference,
    where, and both values), or when the module is not a deterministic
    elementwise function (randomness, state).
    """
    where = f"activation at '{path}' ({typename(module)})"
    kern = neuron.kernel()
    x = torch.linspace(float(a), float(b), points, dtype=torch.float64)
    if random_points:
        u = torch.rand(random_points, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        x = torch.cat([x, float(a) + (float(b) - float(a)) * u])
    if kern is not None:
        inside = [k for k in kern.kink_points() if a < k < b]
        if inside:
            x = torch.cat([x, torch.tensor(inside, dtype=torch.float64)])
    try:
        m = copy.deepcopy(module).to(torch.float64)
    except Exception:   # noqa: BLE001 - a module that cannot be copied is evaluated as it is
        m = module
    with torch.no_grad():
        try:
            y = m(x.clone())
            y2 = m(x.clone())
        except Exception as exc:   # noqa: BLE001
            raise ActivationMismatchError(f"{where}: its forward fails on a float64 tensor: {exc}") from None
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        raise ActivationMismatchError(f"{where}: not an elementwise function (output "
                                      f"{getattr(y, 'shape', type(y).__name__)} for input {tuple(x.shape)})")
    y, y2 = y.to(torch.float64), y2.to(torch.float64)
    if not torch.equal(y, y2) and not (torch.isnan(y) & torch.isnan(y2)).any():
        raise ActivationMismatchError(f"{where}: two calls on the same input differ (randomness or state, "
                                      "e.g. dropout in training mode): a neuron computes a fixed function")
    fx = x.clone() if kern is None else kern.f_fn("torch")(x)
    fx = torch.as_tensor(fx, dtype=torch.float64).expand_as(x)
    diff = (y - fx).abs()
    bad = ~(diff <= tol * (1 + fx.abs()))    # NaN counts as a mismatch
    largest = float(torch.nan_to_num(diff, nan=math.inf).max())
    if bad.any():
        i = int(torch.nan_to_num(diff, nan=math.inf).argmax())
        raise ActivationMismatchError(
            f"{where} does not compute its neuron's f = {neuron.expression()}"
            f"{'' if neuron.label.replace(' ', '') == neuron.expression() else f' ({neuron.label})'} on the "
            f"calibrated range [{a:.6g}, {b:.6g}]: largest difference {largest:.3g} at x = {float(x[i]):.6g} "
            f"(module {float(y[i]):.10g}, formula {float(fx[i]):.10g}; checked at {points} grid and "
            f"{random_points} random points, seed {seed}); bound {tol:g} * (1 + |f|). "
            "Check the registered formula and its parameters")
    if kern is not None:   # (a jump or a missing f' passes the comparison and exact mode, not kernel mode)
        try:
            check_input_hypotheses(kern.f, float(a), float(b))
        except DomainError as exc:
            raise ActivationMismatchError(f"{where}: its formula is no Theorem 4.1 neuron on the calibrated range "
                                          f"[{float(a):.6g}, {float(b):.6g}]: {exc}") from None
    return largest


def check_activations(snn: nn.Module) -> dict[str, float]:
    """Run :func:`check_activation` for every activation layer of a calibrated model.

    Returns the largest difference per layer (also kept as
    ``snn.activation_check``). Layers built from a catalogue name without a
    source module (older code paths) are skipped.
    """
    out = {}
    for m in snn.modules():
        if isinstance(m, SpikingActivation) and getattr(m, "spec", None) is not None \
                and m.spec.source is not None:
            m.src.require_range()
            out[m.out.pname] = check_activation(m.spec.source, m.spec, m.src.a, m.src.b, m.out.pname)
    snn.activation_check = out
    return out


def activations_dict(snn: nn.Module) -> dict:
    """Each activation layer's neuron, for a saved conversion (its top-level ``activations`` key)."""
    return {m.out.pname: m.spec.as_dict() for m in snn.modules()
            if isinstance(m, SpikingActivation) and getattr(m, "spec", None) is not None}


def check_saved_activations(saved: dict | None, snn: nn.Module, path="") -> None:
    """Refuse a saved conversion whose activation formulas this model's registrations do not reproduce."""
    if saved is None:
        return
    current = activations_dict(snn)
    for layer, entry in saved.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("expression"), str):
            raise ValueError(f"{path}: activations[{str(layer)[:80]!r}] must be an object with a string 'expression'")
        now = current.get(layer)
        if now is None:
            raise ValueError(f"{path}: the saved conversion has an activation neuron at '{layer}' "
                             f"(f = {entry.get('expression')}) that this model does not have")
        if now["expression"] != entry.get("expression"):
            raise ValueError(
                f"{path}: the activation at '{layer}' was converted with f = {entry.get('expression')} "
                f"({entry.get('neuron')}), but here it is registered as f = {now['expression']} "
                f"({now['neuron']}); register the saved formula (register_activation or activations=)")


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def add_activation_argument(parser: argparse.ArgumentParser) -> None:
    """``--activation NAME=FORMULA`` (repeatable): NAME is a module class name, FORMULA a formula or catalogue name."""
    parser.add_argument("--activation", action="append", default=[], metavar="NAME=FORMULA",
                        help="convert activation modules of class NAME (e.g. Mish, or a qualified "
                             "mypkg.MyAct) with the neuron f = FORMULA (a formula in x, a catalogue name "
                             "or a .toml file); checked against the module at conversion; repeatable")


def parse_activation_args(items) -> dict:
    """``["Name=formula", ...]`` -> ``{"Name": "formula"}`` for ``convert(..., activations=)``.

    Raises ValueError (one line) on an item without '=' or with a NAME that
    is not a (dotted) identifier; the formula itself is parsed, never
    evaluated (:func:`ttfs_symbolic.symbolic.parse.parse_formula`).
    """
    out = {}
    for item in items or []:
        name, sep, formula = str(item).partition("=")
        name, formula = name.strip(), formula.strip()
        if not sep or not name or not formula:
            raise ValueError(f"--activation {item!r}: expected NAME=FORMULA, e.g. Mish='x*tanh(softplus(x))'")
        if not all(p.isidentifier() for p in name.split(".")):
            raise ValueError(f"--activation {item!r}: NAME must be a module class name such as Mish or mypkg.MyAct")
        _entry(formula)   # parse now: a bad formula is reported before any model is built
        out[name] = formula
    return out


# --------------------------------------------------------------------------
# built-in registrations
# --------------------------------------------------------------------------

def _gelu_form(m):
    return "gelu_tanh" if getattr(m, "approximate", "none") == "tanh" else "gelu"


def _register_builtins():
    def reg(key, neuron, params=None):   # resolved on first use: importing parses no formula
        _REGISTRY[_key(key)] = _entry(neuron, params, validate=False)

    reg(nn.GELU, _gelu_form)
    reg(nn.SiLU, "silu")
    reg(nn.ReLU, "relu")
    reg(nn.Mish, "mish")
    reg(nn.ELU, "elu", params={"alpha": "alpha"})
    reg(nn.Softplus, "softplus", params={"beta": "beta"})
    reg(nn.Tanh, "tanh")
    reg(nn.Sigmoid, "sigmoid")
    reg(nn.Hardswish, "hardswish")
    reg(nn.Hardsigmoid, "hardsigmoid")
    reg(nn.LeakyReLU, "leaky_relu", params={"negative_slope": "negative_slope"})
    reg(nn.ReLU6, "relu6")
    # timm.layers.activations (and create_act's names), without importing timm
    for cls, neuron in (("GELU", "gelu"), ("GELUTanh", "gelu_tanh"), ("QuickGELU", "quick_gelu"),
                        ("Swish", "silu"), ("Mish", "mish"), ("HardSwish", "hardswish"),
                        ("HardSigmoid", "hardsigmoid"), ("Sigmoid", "sigmoid"), ("Tanh", "tanh")):
        reg(f"timm.layers.activations.{cls}", neuron)
    # transformers.activations, by bare class name (transformers is never imported)
    for cls, neuron in (("GELUActivation", "gelu"), ("NewGELUActivation", "gelu_tanh"),
                        ("GELUTanh", "gelu_tanh"), ("PytorchGELUTanh", "gelu_tanh"),
                        ("QuickGELUActivation", "quick_gelu"), ("SiLUActivation", "silu"),
                        ("MishActivation", "mish")):
        reg(cls, neuron)


_register_builtins()
