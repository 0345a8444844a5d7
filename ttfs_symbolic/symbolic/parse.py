"""Safe formula parser: user text -> SymPy expression, never through ``eval``.

The formulas that define a neuron (the input transform ``f`` of Theorem 4.1,
eq. 8, and the output transform ``h`` of Theorem 4.3, eq. 13) come from users
and from the TOML catalogue, so they are untrusted. ``sympify`` and
``parse_expr`` call ``eval`` (docs/design.md, "Known pitfalls"); this module instead
parses with ``ast.parse(text, mode="eval")`` and builds SymPy objects from a
whitelist of node types, names and functions. Nothing from the text is ever
executed, and every refusal is a :class:`FormulaError` that names the
offending token and quotes the formula.

Grammar accepted (Python expression syntax):

* numbers: ints become :class:`sympy.Integer`; decimal literals (``0.5``,
  ``1e-6``) become **exact** rationals (``1/2``, ``1/1000000``) built from the
  literal's shortest round-trip decimal (``repr(float)``), so derivations stay
  exact; a literal with more than 17 significant digits is first rounded to
  the nearest double. Complex, boolean, ``None`` and non-finite literals are
  refused.
* names: the declared variables (default ``x``), the declared ``params`` and
  the constants of :data:`ALLOWED_CONSTANTS`.
* unary ``+``/``-``; binary ``+ - * / **``. ``^`` is refused with a hint to use
  ``**``; ``% // @ & | << >>`` are refused.
* calls of the functions in :data:`ALLOWED_FUNCTIONS`, by name, with
  positional arguments only and the documented number of arguments.

Limits: at most :data:`MAX_LENGTH` characters and :data:`MAX_DEPTH` levels of
nesting (chains like ``x + x + ... + x`` count as one level); numeric powers
whose exact value would exceed :data:`MAX_POWER_BITS` bits (``9**9**9``) are
refused instead of being computed.

All symbols are created with ``real=True`` (:func:`symbol`), so
``sympy.Symbol("x", real=True)`` built anywhere else is the same symbol.

This module imports SymPy only (symbolic layer, see docs/design.md).
"""
from __future__ import annotations

import ast
import fractions
import keyword
import math
import numbers
import re
from typing import Callable, Iterable, Mapping

import sympy
from sympy.core.function import AppliedUndef

from .functions import sigmoid, softplus

__all__ = [
    "FormulaError",
    "X",
    "S",
    "Y",
    "V",
    "bind_params",
    "ALLOWED_FUNCTIONS",
    "ALLOWED_CONSTANTS",
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_POWER_BITS",
    "MAX_ROOT_BITS",
    "parse_formula",
    "symbol",
]

MAX_LENGTH = 2000
"""Longest formula text accepted, in characters."""

MAX_DEPTH = 64
"""Deepest nesting of parentheses/calls/powers accepted."""

MAX_POWER_BITS = 20_000
"""Largest estimated size, in bits, of an exactly computed numeric power."""

MAX_ROOT_BITS = 512
"""Largest numerator+denominator size, in bits, of a number under a fractional power."""


class FormulaError(ValueError):
    """A formula that is not allowed; the message names the problem and the formula."""


def _relu(z):
    """``relu(z) = Max(0, z)``."""
    return sympy.Max(0, z)


# name -> (SymPy callable, min args, max args or None for "any number").
# Keep this explicit: it is the whole vocabulary of formulas.
_FUNCTIONS: dict[str, tuple[Callable, int, int | None]] = {
    "exp": (sympy.exp, 1, 1),
    "log": (sympy.log, 1, 1),  # natural logarithm
    "sqrt": (sympy.sqrt, 1, 1),  # principal square root
    "abs": (sympy.Abs, 1, 1),
    "Abs": (sympy.Abs, 1, 1),
    "sign": (sympy.sign, 1, 1),  # sign(0) = 0
    "sin": (sympy.sin, 1, 1),
    "cos": (sympy.cos, 1, 1),
    "tan": (sympy.tan, 1, 1),
    "sinh": (sympy.sinh, 1, 1),
    "cosh": (sympy.cosh, 1, 1),
    "tanh": (sympy.tanh, 1, 1),
    "atan": (sympy.atan, 1, 1),
    "arctan": (sympy.atan, 1, 1),
    "asinh": (sympy.asinh, 1, 1),
    "erf": (sympy.erf, 1, 1),
    "erfc": (sympy.erfc, 1, 1),
    "sigmoid": (sigmoid, 1, 1),  # 1/(1 + exp(-x))
    "softplus": (softplus, 1, 1),  # log(1 + exp(x))
    "relu": (_relu, 1, 1),  # Max(0, x)
    "max": (sympy.Max, 2, None),
    "Max": (sympy.Max, 2, None),
    "min": (sympy.Min, 2, None),
    "Min": (sympy.Min, 2, None),
    "Heaviside": (sympy.Heaviside, 1, 1),  # SymPy's default H(0) = 1/2
    "pow": (sympy.Pow, 2, 2),  # pow(x, y) = x**y
}

ALLOWED_FUNCTIONS: dict[str, object] = {name: spec[0] for name, spec in _FUNCTIONS.items()}
"""Function names a formula may call, mapped to the SymPy callable they build.

exp, log (natural, 1 argument), sqrt, abs/Abs, sign, sin, cos, tan, sinh,
cosh, tanh, atan/arctan, asinh, erf, erfc, sigmoid, softplus, relu
(``Max(0, x)``), max/Max and min/Min (2 or more arguments), Heaviside
(1 argument; ``H(0) = 1/2`` as SymPy defines it), pow (2 arguments).
All others take exactly one argument.
"""

ALLOWED_CONSTANTS: dict[str, sympy.Expr] = {
    "pi": sympy.pi,
    "E": sympy.E,
    "e": sympy.E,
}
"""Constant names a formula may use: ``pi``, ``E`` and ``e`` (Euler's number)."""

# SymPy classes an already-built expression may contain (parse_formula on a
# sympy.Expr): those the whitelist builds, plus Piecewise and its boolean
# conditions, which derivations produce (eta of eq. 8 is 0 for s < 0).
_EXPR_FUNCTION_CLASSES: tuple[type, ...] = (
    sympy.exp, sympy.log, sympy.Abs, sympy.sign, sympy.sin, sympy.cos, sympy.tan,
    sympy.sinh, sympy.cosh, sympy.tanh, sympy.atan, sympy.asinh, sympy.erf,
    sympy.erfc, sigmoid, softplus, sympy.Max, sympy.Min, sympy.Heaviside,
    sympy.Piecewise,
)
_EXPR_STRUCTURAL: tuple[type, ...] = (
    sympy.Add, sympy.Mul, sympy.Pow, sympy.Symbol, sympy.Integer, sympy.Rational,
    sympy.Float, sympy.logic.boolalg.BooleanAtom, sympy.core.relational.Relational,
    sympy.And, sympy.Or, sympy.Not, sympy.functions.elementary.piecewise.ExprCondPair,
)
_EXPR_CONSTANTS = (sympy.pi, sympy.E)

# Names a variable or parameter may not take: lambdify prints symbol names
# verbatim into generated Python, next to these module names.
_RESERVED_NAMES = frozenset(
    {"math", "mpmath", "numpy", "np", "scipy", "torch", "sympy", "builtins"}
)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_BINOP_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
    ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.BitXor: "^",
    ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>",
}
_NODE_DESCRIPTIONS = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "conditional expressions (a if c else b)",
    ast.Starred: "starred arguments",
    ast.Tuple: "tuples",
    ast.List: "lists",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
}


def _quote(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def symbol(name: str) -> sympy.Symbol:
    """The real SymPy symbol called ``name``, after checking ``name`` is a safe identifier.

    A safe identifier is ASCII ``[A-Za-z_][A-Za-z0-9_]*``, not a Python
    keyword, not starting with ``__`` (dunder), and not the name of a
    whitelisted function, a constant or a module that generated code uses
    (``numpy``, ``torch``, ...): ``lambdify`` prints symbol names verbatim.
    Raises :class:`FormulaError` otherwise.
    """
    _check_identifier(name, "symbol")
    return sympy.Symbol(name, real=True)


def _check_identifier(name: object, what: str) -> None:
    if not isinstance(name, str):
        raise FormulaError(f"{what} name must be a string, got {type(name).__name__} {name!r}")
    if not _IDENT_RE.match(name):
        raise FormulaError(
            f"{what} name {name!r} is not a plain ASCII identifier "
            "(letters, digits and '_', not starting with a digit)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise FormulaError(f"{what} name {name!r} is a Python keyword")
    if name.startswith("__"):
        raise FormulaError(f"{what} name {name!r} starts with '__' (dunder names are not allowed)")
    if name in _FUNCTIONS:
        raise FormulaError(f"{what} name {name!r} shadows the function {name}()")
    if name in ALLOWED_CONSTANTS:
        raise FormulaError(f"{what} name {name!r} shadows the constant {name}")
    if name in _RESERVED_NAMES:
        raise FormulaError(f"{what} name {name!r} is reserved (module name used by generated code)")


X = symbol("x")
"""The input variable ``x`` (real)."""

S = symbol("s")
"""The time variable ``s`` of the kernels eta(s) (eq. 8) and psi(s) (eq. 13) (real)."""

Y = sympy.Symbol("y", real=True)
"""The variable of h's inverse g = h^-1 (a value in the emitting range) (real)."""

V = sympy.Symbol("V", real=True)
"""The potential at T_emit (real)."""


def _number(value: object, where: str) -> sympy.Expr:
    """An exact SymPy number for a Python int/float/Fraction (floats via their shortest repr)."""
    if isinstance(value, bool) or value is None:
        raise FormulaError(f"literal {value!r} is not a number {where}")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FormulaError(f"non-finite number {value!r} {where}")
        # repr gives the shortest decimal that round-trips: 0.1 -> '0.1' -> 1/10.
        return sympy.Rational(repr(float(value)))   # float(): NumPy 2's float64 repr is 'np.float64(...)'
    if isinstance(value, fractions.Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, complex):
        raise FormulaError(f"complex number {value!r} is not allowed {where}")
    raise FormulaError(f"{type(value).__name__} {value!r} is not a number {where}")


def _check_power(base: sympy.Expr, exponent: sympy.Expr, text: str) -> None:
    """Refuse numeric powers whose exact value SymPy would compute and which are huge."""
    if not (base.is_Rational and exponent.is_Rational):
        return
    if base.is_zero or base in (sympy.S.One, sympy.S.NegativeOne):
        return
    p, q = base.as_numer_denom()
    bits = max(1, int(abs(p)).bit_length() + int(abs(q)).bit_length())
    if not exponent.is_Integer and bits > MAX_ROOT_BITS:
        # SymPy factors the base to pull perfect powers out of a root: slow.
        raise FormulaError(
            f"root {exponent} of a {bits}-bit number is too expensive to simplify exactly "
            f"(more than {MAX_ROOT_BITS} bits) in formula {_quote(text)}"
        )
    size = bits * abs(exponent)
    if size > MAX_POWER_BITS:
        raise FormulaError(
            f"numeric power {base}**{exponent} is too large to compute exactly "
            f"(about {int(size)} bits > {MAX_POWER_BITS}) in formula {_quote(text)}"
        )


class _Builder:
    """Walks the AST of one formula and builds the SymPy expression."""

    def __init__(self, text: str, names: Mapping[str, sympy.Expr], variables: Iterable[str]):
        self.text = text
        self.names = names
        self.variables = tuple(variables)

    def fail(self, message: str, hint: str | None = None) -> FormulaError:
        tail = f"; {hint}" if hint else ""
        return FormulaError(f"{message} in formula {_quote(self.text)}{tail}")

    def allowed_names(self) -> str:
        names = list(self.names) + [c for c in ALLOWED_CONSTANTS if c not in self.names]
        return ", ".join(names)

    def build(self, node: ast.AST, depth: int = 0) -> sympy.Expr:
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Expression):
            return self.build(node.body, depth)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        description = _NODE_DESCRIPTIONS.get(type(node), f"{type(node).__name__} nodes")
        snippet = self.segment(node)
        at = f" ({snippet!r})" if snippet else ""
        hint = "use Heaviside, Max/Min or relu for case distinctions" if isinstance(
            node, (ast.IfExp, ast.Compare, ast.BoolOp)) else None
        raise self.fail(f"{description} not allowed{at}", hint)

    def segment(self, node: ast.AST) -> str | None:
        try:
            return ast.get_source_segment(self.text, node)
        except Exception:  # pragma: no cover - positions always present for parsed code
            return None

    def constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, (str, bytes)):
            raise self.fail(f"string literal {value!r} not allowed")
        if isinstance(value, complex):
            raise self.fail(f"complex literal {self.segment(node)!r} not allowed")
        if value is Ellipsis or value is None or isinstance(value, bool):
            raise self.fail(f"literal {value!r} not allowed")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"literal {self.segment(node)!r} is not a finite number")
        if isinstance(value, (int, float)):
            return _number(value, "")
        raise self.fail(f"literal {value!r} not allowed")  # pragma: no cover

    def name(self, node: ast.Name) -> sympy.Expr:
        ident = node.id
        if ident in self.names:
            return self.names[ident]
        if ident in ALLOWED_CONSTANTS:
            return ALLOWED_CONSTANTS[ident]
        if ident in _FUNCTIONS:
            raise self.fail(f"{ident!r} is a function without arguments", f"call it as {ident}(...)")
        raise self.fail(f"unknown name {ident!r}", f"allowed names: {self.allowed_names()}")

    def unary(self, node: ast.UnaryOp, depth: int) -> sympy.Expr:
        sign = 1
        while isinstance(node, ast.UnaryOp):  # flatten ---x iteratively
            if isinstance(node.op, ast.USub):
                sign = -sign
            elif not isinstance(node.op, ast.UAdd):
                op = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), type(node.op).__name__)
                raise self.fail(f"operator {op!r} not allowed", "allowed unary operators: + and -")
            node = node.operand
        value = self.build(node, depth + 1)
        return -value if sign < 0 else value

    def binop(self, node: ast.BinOp, depth: int) -> sympy.Expr:
        op = type(node.op)
        if op is ast.BitXor:
            raise self.fail(f"operator '^' ({self.segment(node)!r}) is not a power", "use ** for powers")
        if op not in (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow):
            raise self.fail(f"operator {_BINOP_SYMBOLS.get(op, op.__name__)!r} not allowed",
                            "allowed operators: + - * / **")
        if op in (ast.Add, ast.Sub):
            return self.chain(node, (ast.Add, ast.Sub), depth, additive=True)
        if op in (ast.Mult, ast.Div):
            return self.chain(node, (ast.Mult, ast.Div), depth, additive=False)
        base = self.build(node.left, depth + 1)
        exponent = self.build(node.right, depth + 1)
        _check_power(base, exponent, self.text)
        return base**exponent

    def chain(self, node: ast.BinOp, ops: tuple[type, ...], depth: int, additive: bool) -> sympy.Expr:
        # A left-deep chain a + b - c + ... is one nesting level, built iteratively.
        items: list[tuple[bool, ast.AST]] = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, ops):
            inverse = isinstance(node.op, (ast.Sub, ast.Div))
            items.append((inverse, node.right))
            node = node.left
        items.append((False, node))
        items.reverse()
        terms = []
        for inverse, operand in items:
            value = self.build(operand, depth + 1)
            if inverse:
                if additive:
                    value = -value
                else:
                    if value.is_zero:
                        raise self.fail(f"division by zero ({self.segment(operand)!r} is 0)")
                    value = 1 / value
            terms.append(value)
        return sympy.Add(*terms) if additive else sympy.Mul(*terms)

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        func = node.func
        if not isinstance(func, ast.Name):
            raise self.fail(
                f"only whitelisted functions called by name are allowed, not {self.segment(func)!r}"
            )
        ident = func.id
        if ident not in _FUNCTIONS:
            if ident in self.names or ident in ALLOWED_CONSTANTS:
                raise self.fail(f"{ident!r} is not a function")
            raise self.fail(f"unknown function {ident!r}", f"allowed functions: {', '.join(_FUNCTIONS)}")
        if node.keywords:
            kw = node.keywords[0].arg
            what = f"keyword argument {kw!r}" if kw is not None else "'**' arguments"
            raise self.fail(f"{what} in call to {ident}() not allowed", "use positional arguments")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(f"starred argument in call to {ident}() not allowed")
        callable_, lo, hi = _FUNCTIONS[ident]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            if hi == lo:
                want = f"exactly {lo} argument{'s' if lo != 1 else ''}"
            elif hi is None:
                want = f"at least {lo} arguments"
            else:  # pragma: no cover - no such function today
                want = f"{lo} to {hi} arguments"
            raise self.fail(f"{ident}() takes {want} ({n} given)")
        args = [self.build(a, depth + 1) for a in node.args]
        if callable_ is sympy.Pow:
            _check_power(args[0], args[1], self.text)
        elif callable_ is sympy.sqrt:
            _check_power(args[0], sympy.S.Half, self.text)
        return callable_(*args)


def _check_finite_real(expr: sympy.Expr, text: str) -> None:
    bad = [a for a in (sympy.S.ComplexInfinity, sympy.S.NaN, sympy.S.Infinity,
                       sympy.S.NegativeInfinity, sympy.S.ImaginaryUnit) if expr.has(a)]
    if bad:
        raise FormulaError(
            f"formula {_quote(text)} evaluates to an expression containing {bad[0]} "
            "(a division by zero, a non-real constant or an infinity)"
        )


def _param_value(name: str, value: object) -> sympy.Expr:
    where = f"for param {name!r}"
    if isinstance(value, str):
        try:
            return parse_formula(value, variables=("a", "b"))
        except FormulaError as exc:
            raise FormulaError(f"in param {name!r} = {value!r}: {exc}") from None
    if isinstance(value, sympy.Basic):
        try:
            return parse_formula(value, variables=("a", "b"))
        except FormulaError as exc:
            raise FormulaError(f"in param {name!r}: {exc}") from None
    if isinstance(value, numbers.Number) and not isinstance(value, (int, float, fractions.Fraction, complex)):
        # numpy scalars and the like: go through float/int exactly.
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
    return _number(value, where)


def _check_expr(expr: sympy.Basic, allowed: Mapping[str, sympy.Expr]) -> sympy.Expr:
    """Validate an already-built SymPy expression and map its symbols to ``allowed``."""
    if not isinstance(expr, sympy.Expr):
        raise FormulaError(f"expected a SymPy expression, got {type(expr).__name__} {expr}")
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, AppliedUndef):
            raise FormulaError(f"undefined function {node.func} in expression {expr}")
        if isinstance(node, sympy.Symbol):
            if type(node) is not sympy.Symbol or node.name not in allowed:
                names = ", ".join(allowed) or "(none)"
                raise FormulaError(f"unknown symbol {node.name!r} in expression {expr}; allowed: {names}")
            continue
        if node in _EXPR_CONSTANTS:
            continue
        if isinstance(node, _EXPR_FUNCTION_CLASSES):
            continue
        if isinstance(node, (sympy.Integer, sympy.Rational, sympy.Float)):
            if not node.is_finite:
                raise FormulaError(f"non-finite number {node} in expression {expr}")
            continue
        if isinstance(node, _EXPR_STRUCTURAL):
            continue
        raise FormulaError(f"SymPy object {type(node).__name__} ({node}) not allowed in expression {expr}")
    mapping = {s: allowed[s.name] for s in expr.free_symbols}
    return expr.xreplace(mapping)


def parse_formula(
    text: str | sympy.Expr,
    variables: Iterable[str] = ("x",),
    params: Mapping[str, float | int | str] | None = None,
) -> sympy.Expr:
    """Parse a formula safely into a SymPy expression in real symbols.

    ``text``: a Python-syntax formula such as ``"x*sigmoid(x)"`` (grammar and
    limits in the module docstring), or an already-built ``sympy.Expr``, whose
    symbols must be among ``variables`` and ``params`` (matched by name and
    replaced by the real symbols) and whose functions must be whitelisted
    (plus ``Piecewise``).

    ``variables``: names of the free variables (default ``("x",)``; kernels
    use ``"s"``); each becomes :func:`symbol(name) <symbol>`.

    ``params``: named constants substituted exactly. A number (int, float,
    Fraction) becomes an exact SymPy number (floats via their shortest decimal,
    ``1e-6 -> 1/1000000``); a string is itself parsed as a formula in the
    variables ``a`` and ``b`` (the range bounds of eq. 7), so ``{"c": "1 - a"}``
    substitutes the expression ``1 - a``. Param names must not clash with the
    variables, the functions or the constants.

    Returns the SymPy expression; raises :class:`FormulaError` (a
    ``ValueError``) naming the problem for anything outside the grammar.
    """
    variables = tuple(variables) if not isinstance(variables, str) else (variables,)
    names: dict[str, sympy.Expr] = {}
    for v in variables:
        _check_identifier(v, "variable")
        if v in names:
            raise FormulaError(f"variable {v!r} declared twice")
        names[v] = sympy.Symbol(v, real=True)
    if params is not None:
        if not isinstance(params, Mapping):
            raise FormulaError(f"params must be a mapping of name -> value, got {type(params).__name__}")
        for key, value in params.items():
            _check_identifier(key, "param")
            if key in names:
                raise FormulaError(f"param {key!r} has the same name as a variable")
            names[key] = _param_value(key, value)

    if isinstance(text, sympy.Basic):
        symbols_ok = {k: v for k, v in names.items()}
        expr = _check_expr(text, symbols_ok)
        _check_finite_real(expr, str(text))
        return expr
    if isinstance(text, bool) or not isinstance(text, (str, int, float, fractions.Fraction)):
        raise FormulaError(f"formula must be a string or a SymPy expression, got {type(text).__name__}")
    if not isinstance(text, str):
        return _number(text, "as formula")

    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; at most {MAX_LENGTH} allowed: {_quote(text, 60)}")
    if not text.strip():
        raise FormulaError("empty formula")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise FormulaError(f"syntax error in formula {_quote(text)}: {exc.msg}{col}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise FormulaError(f"cannot parse formula {_quote(text)}: {exc or type(exc).__name__}") from None
    builder = _Builder(text.strip(), names, variables)
    try:
        expr = builder.build(tree)
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps recursion shallow
        raise FormulaError(f"formula {_quote(text)} is nested too deeply") from None
    _check_finite_real(expr, text)
    return expr


def bind_params(params, a, b):
    """A derivation's ``params`` with each string value parsed as a formula in ``a`` and ``b`` and bound to
    the range ``[a, b]`` (``{"c": "1 - a"}``); None when there are none."""
    if not params:
        return None
    bound = {}
    for name, value in params.items():
        if isinstance(value, str):
            val = parse_formula(value, variables=("a", "b"))
            val = val.subs({sympy.Symbol("a", real=True): a, sympy.Symbol("b", real=True): b})
            bound[name] = val
        else:
            bound[name] = value
    return bound
