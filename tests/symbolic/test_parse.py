"""Tests of the safe formula parser (ttfs_symbolic.symbolic.parse) and sigmoid/softplus."""
from __future__ import annotations

import builtins
import fractions
import os
import string
import time

import mpmath
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import sympy.parsing.sympy_parser as sympy_parser
from ttfs_symbolic.symbolic.functions import sigmoid, softplus
from ttfs_symbolic.symbolic.parse import (
    ALLOWED_CONSTANTS,
    ALLOWED_FUNCTIONS,
    MAX_LENGTH,
    FormulaError,
    S,
    X,
    parse_formula,
    symbol,
)

x = sympy.Symbol("x", real=True)
a = sympy.Symbol("a", real=True)
b = sympy.Symbol("b", real=True)


def same(got: sympy.Expr, want: sympy.Expr) -> bool:
    """Structural equality, or a difference that simplifies to 0."""
    return got == want or sympy.simplify(got - want) == 0


# ---------------------------------------------------------------- sigmoid / softplus


def test_sigmoid_values_and_derivative():
    assert sigmoid(0) == sympy.Rational(1, 2)
    assert sigmoid(sympy.oo) == 1 and sigmoid(-sympy.oo) == 0
    assert sigmoid(sympy.log(3)) == sympy.Rational(3, 4)
    assert sympy.simplify(sigmoid(x).diff(x) - sigmoid(x) * (1 - sigmoid(x))) == 0
    # the derivative agrees with differentiating the closed form
    closed = 1 / (1 + sympy.exp(-x))
    assert sympy.simplify(sigmoid(x).diff(x).rewrite(sympy.exp) - closed.diff(x)) == 0
    assert sympy.simplify(sigmoid(x).rewrite(sympy.exp) - closed) == 0
    assert sympy.simplify(sigmoid(x).rewrite(sympy.tanh).rewrite(sympy.exp) - closed) == 0
    assert sigmoid(x).is_real is True and sigmoid(x).is_positive is True


def test_softplus_values_and_derivative():
    assert softplus(0) == sympy.log(2)
    assert softplus(-sympy.oo) == 0 and softplus(sympy.oo) == sympy.oo
    assert softplus(sympy.log(3)) == sympy.log(4)
    assert softplus(x).diff(x) == sigmoid(x)
    assert sympy.simplify(softplus(x).rewrite(sympy.exp) - sympy.log(1 + sympy.exp(x))) == 0
    assert softplus(x).is_real is True and softplus(x).is_positive is True


def test_sigmoid_softplus_evalf_against_mpmath():
    # 30 significant digits requested; the closed forms evaluated naively at
    # 200 digits are the reference (log(1 + exp(-100)) keeps ~150 correct
    # digits there), so agreement to 1e-28 relative checks all but ~2 digits.
    with mpmath.workdps(200):
        for v in (-100, -7, sympy.Rational(-1, 3), 2, 50):
            mv = mpmath.mpf(sympy.Rational(v).p) / sympy.Rational(v).q
            ref_sig = 1 / (1 + mpmath.exp(-mv))
            ref_sp = mpmath.log(1 + mpmath.exp(mv))
            got_sig = mpmath.mpf(sigmoid(v).evalf(30)._mpf_)
            got_sp = mpmath.mpf(softplus(v).evalf(30)._mpf_)
            assert abs(got_sig - ref_sig) <= 1e-28 * abs(ref_sig)
            assert abs(got_sp - ref_sp) <= 1e-28 * abs(ref_sp)
    # A Float argument evaluates at once; for x << 0 log(1 + exp(x)) at 15
    # digits would round to 0, the stable evaluation keeps the value ~exp(x).
    assert sigmoid(sympy.Float(0.0)) == sympy.Rational(1, 2)
    v = softplus(sympy.Float(-50.0))
    assert v.is_Float and abs(float(v) - float(mpmath.exp(-50))) <= 1e-14 * float(mpmath.exp(-50))


def test_sigmoid_series_and_limits():
    assert sympy.series(sigmoid(x), x, 0, 4).removeO() == sympy.Rational(1, 2) + x / 4 - x**3 / 48
    assert sympy.limit(sigmoid(x), x, -sympy.oo) == 0
    assert sympy.limit(softplus(x), x, -sympy.oo) == 0


# ---------------------------------------------------------------- symbols


def test_symbols_are_real_and_shared():
    assert X == sympy.Symbol("x", real=True) and X.is_real
    assert S == sympy.Symbol("s", real=True)
    assert parse_formula("x") == sympy.Symbol("x", real=True)
    assert parse_formula("s", variables=("s",)) == S
    assert symbol("tau") == sympy.Symbol("tau", real=True)


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("1a", "not a plain ASCII identifier"),
        ("a-b", "not a plain ASCII identifier"),
        ("", "not a plain ASCII identifier"),
        ("α", "not a plain ASCII identifier"),
        ("for", "Python keyword"),
        ("lambda", "Python keyword"),
        ("__class__", "dunder"),
        ("__import__", "dunder"),
        ("exp", "shadows the function"),
        ("sigmoid", "shadows the function"),
        ("pi", "shadows the constant"),
        ("e", "shadows the constant"),
        ("numpy", "reserved"),
        ("torch", "reserved"),
    ],
)
def test_symbol_rejects_unsafe_identifiers(name, fragment):
    with pytest.raises(FormulaError) as info:
        symbol(name)
    assert fragment in str(info.value)
    assert repr(name) in str(info.value)


def test_symbol_rejects_non_string():
    with pytest.raises(FormulaError, match="must be a string"):
        symbol(3)


# ---------------------------------------------------------------- whitelisted formulas

# One expected expression per whitelisted function name, built directly with
# SymPy; test_every_function_is_tested keeps this table complete.
FUNCTION_CASES = {
    "exp": ("exp(x)", sympy.exp(x)),
    "log": ("log(x)", sympy.log(x)),
    "sqrt": ("sqrt(x)", sympy.sqrt(x)),
    "abs": ("abs(x)", sympy.Abs(x)),
    "Abs": ("Abs(x - 1)", sympy.Abs(x - 1)),
    "sign": ("sign(x)", sympy.sign(x)),
    "sin": ("sin(x)", sympy.sin(x)),
    "cos": ("cos(x)", sympy.cos(x)),
    "tan": ("tan(x)", sympy.tan(x)),
    "sinh": ("sinh(x)", sympy.sinh(x)),
    "cosh": ("cosh(x)", sympy.cosh(x)),
    "tanh": ("tanh(x)", sympy.tanh(x)),
    "atan": ("atan(x)", sympy.atan(x)),
    "arctan": ("arctan(x)", sympy.atan(x)),
    "asinh": ("asinh(x)", sympy.asinh(x)),
    "erf": ("erf(x)", sympy.erf(x)),
    "erfc": ("erfc(x)", sympy.erfc(x)),
    "sigmoid": ("sigmoid(x)", sigmoid(x)),
    "softplus": ("softplus(x)", softplus(x)),
    "relu": ("relu(x)", sympy.Max(0, x)),
    "max": ("max(x, 1, 2)", sympy.Max(x, 2)),
    "Max": ("Max(x, -x)", sympy.Max(x, -x)),
    "min": ("min(x, 0)", sympy.Min(x, 0)),
    "Min": ("Min(x, 1, x**2)", sympy.Min(x, 1, x**2)),
    "Heaviside": ("Heaviside(x)", sympy.Heaviside(x)),
    "pow": ("pow(x, 3)", x**3),
}


def test_every_function_is_tested():
    assert set(FUNCTION_CASES) == set(ALLOWED_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_whitelisted_function_parses(name):
    text, want = FUNCTION_CASES[name]
    got = parse_formula(text)
    assert got == want, (text, got, want)


@pytest.mark.parametrize(
    "text, want",
    [
        ("x*sigmoid(x)", x * sigmoid(x)),  # SiLU (Corollary 4.5)
        ("x/2*(1 + erf(x/sqrt(2)))", x / 2 * (1 + sympy.erf(x / sympy.sqrt(2)))),  # GELU
        ("x**2 - 3*x/4", x**2 - sympy.Rational(3, 4) * x),
        ("-(-x)", x),
        ("---x", -x),
        ("+x", x),
        ("2**0.5*x", sympy.sqrt(2) * x),
        ("pi*e + E", sympy.pi * sympy.E + sympy.E),
        ("log(exp(x))", x),  # real x: SymPy simplifies on construction
        ("(x\n + 1)", x + 1),
        ("1_000*x", 1000 * x),
        ("x" + "+x" * 999, 1000 * x),  # long flat chains are not "deep"
        ("-" * 1999 + "x", -x),
    ],
)
def test_formulas_parse_to_expected(text, want):
    assert same(parse_formula(text), want)


def test_decimal_literals_are_exact_rationals():
    got = parse_formula("0.5*x + 1e-6 + 0.1")
    assert got == x / 2 + sympy.Rational(1, 10**6) + sympy.Rational(1, 10)
    assert not got.atoms(sympy.Float)
    assert parse_formula("1.5e-3") == sympy.Rational(3, 2000)


def test_heaviside_at_zero_is_one_half():
    assert parse_formula("Heaviside(x)").subs(x, 0) == sympy.Rational(1, 2)


def test_softplus_derivative_through_parser():
    f = parse_formula("softplus(x) - log(1 + exp(x))")
    assert sympy.simplify(f.rewrite(sympy.exp)) == 0
    assert parse_formula("softplus(x)").diff(x) == parse_formula("sigmoid(x)")


def test_constants_table():
    assert ALLOWED_CONSTANTS["pi"] == sympy.pi
    assert ALLOWED_CONSTANTS["E"] == sympy.E == ALLOWED_CONSTANTS["e"]


def test_other_variables():
    s, tau = sympy.symbols("s tau", real=True)
    assert parse_formula("exp(-s/tau)", variables=("s", "tau")) == sympy.exp(-s / tau)
    with pytest.raises(FormulaError, match="unknown name 'x'"):
        parse_formula("x", variables=("s",))
    with pytest.raises(FormulaError, match="declared twice"):
        parse_formula("x", variables=("x", "x"))
    with pytest.raises(FormulaError, match="shadows the function"):
        parse_formula("x", variables=("x", "log"))


# ---------------------------------------------------------------- unsafe / malformed


def _forbid_eval(monkeypatch):
    """Make every route to eval/exec raise, and os.system record an intrusion."""
    calls = []

    def boom(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"forbidden call with {args!r}")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(sympy_parser, "eval_expr", boom)
    monkeypatch.setattr(sympy_parser, "parse_expr", boom)
    monkeypatch.setattr(os, "system", boom)
    return calls


UNSAFE = [
    ("__import__('os').system('id')", "only whitelisted functions called by name"),
    ("__import__('os')", "unknown function '__import__'"),
    ("x.__class__", "attribute access not allowed"),
    ("(lambda: 1)()", "only whitelisted functions called by name"),
    ("lambda: 1", "lambda not allowed"),
    ("x[0]", "subscripts not allowed"),
    ("y", "unknown name 'y'"),
    ("x + y", "unknown name 'y' in formula 'x + y'; allowed names: x"),
    ("foo(x)", "unknown function 'foo'"),
    ("x(1)", "'x' is not a function"),
    ("exp", "'exp' is a function without arguments"),
    ("exp(x, 2)", "exp() takes exactly 1 argument (2 given)"),
    ("exp()", "exp() takes exactly 1 argument (0 given)"),
    ("max(x)", "max() takes at least 2 arguments (1 given)"),
    ("pow(x)", "pow() takes exactly 2 arguments (1 given)"),
    ("exp(x=1)", "keyword argument 'x' in call to exp() not allowed"),
    ("exp(**{})", "'**' arguments in call to exp() not allowed"),
    ("exp(*x)", "starred argument in call to exp() not allowed"),
    ("'a'", "string literal 'a' not allowed"),
    ("b'a'", "string literal b'a' not allowed"),
    ("f'{x}'", "f-strings not allowed"),
    ("", "empty formula"),
    ("   ", "empty formula"),
    ("x ^ 2", "use ** for powers"),
    ("x % 2", "operator '%' not allowed"),
    ("x // 2", "operator '//' not allowed"),
    ("x @ x", "operator '@' not allowed"),
    ("x & 1", "operator '&' not allowed"),
    ("not x", "operator 'not' not allowed"),
    ("~x", "operator '~' not allowed"),
    ("1 +", "syntax error in formula '1 +'"),
    ("x y", "syntax error"),
    ("x = 1", "syntax error"),
    ("x\x00", "null bytes"),
    ("x < 1", "comparisons not allowed"),
    ("x and 1", "'and'/'or' not allowed"),
    ("x if x else 1", "conditional expressions"),
    ("[x]", "lists not allowed"),
    ("(x, 1)", "tuples not allowed"),
    ("{x: 1}", "dicts not allowed"),
    ("{x}", "sets not allowed"),
    ("[i for i in x]", "comprehensions not allowed"),
    ("(y := 1)", "assignment expressions"),
    ("1j*x", "complex literal '1j' not allowed"),
    ("1e999", "not a finite number"),
    ("True", "literal True not allowed"),
    ("None", "literal None not allowed"),
    ("...", "literal Ellipsis not allowed"),
    ("x/0", "division by zero"),
    ("1/(x - x)", "division by zero"),
    ("log(-1)", "non-real constant"),
    ("sqrt(-2)*x", "non-real constant"),
    ("9**9**9", "too large to compute exactly"),
    ("pow(2, 100000)", "too large to compute exactly"),
    ("sqrt(" + "7" * 600 + ")", "too expensive to simplify"),
    ("x+" * 2500 + "x", "5001 characters long; at most 2000"),
    ("(" * 900 + "x" + ")" * 900, "too many nested parentheses"),
    ("exp(" * 100 + "x" + ")" * 100, "nesting deeper than"),
    ("x**" * 200 + "x", "nesting deeper than"),
]


@pytest.mark.parametrize("text, fragment", UNSAFE, ids=[repr(t[0][:30]) for t in UNSAFE])
def test_unsafe_or_malformed_input_is_refused(monkeypatch, text, fragment):
    calls = _forbid_eval(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    elapsed = time.perf_counter() - start
    assert fragment in str(info.value), str(info.value)
    assert isinstance(info.value, ValueError)
    assert calls == []
    # refusals are cheap: nothing is evaluated or factored before refusing
    assert elapsed < 1.0


def test_max_length_constant():
    assert MAX_LENGTH == 2000
    assert parse_formula("x" + "+x" * 999) == 1000 * x  # 1999 chars: accepted


def test_formula_type_checked():
    with pytest.raises(FormulaError, match="string or a SymPy expression"):
        parse_formula(["x"])  # type: ignore[arg-type]
    with pytest.raises(FormulaError, match="string or a SymPy expression"):
        parse_formula(True)  # type: ignore[arg-type]
    assert parse_formula(0.25) == sympy.Rational(1, 4)


# ---------------------------------------------------------------- params


def test_numeric_params_are_exact():
    got = parse_formula("x + eps", params={"eps": 1e-6})
    assert got == x + sympy.Rational(1, 10**6)
    assert parse_formula("n*x", params={"n": 3}) == 3 * x
    assert parse_formula("k*x", params={"k": fractions.Fraction(1, 3)}) == x / 3
    assert parse_formula("x", params={"unused": 2.5}) == x


def test_string_params_are_parsed_in_a_and_b():
    got = parse_formula("c*x + d", params={"c": "1 - a", "d": "b/2"})
    assert got == (1 - a) * x + b / 2
    assert got.free_symbols == {x, a, b}


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"__x": 1}, "dunder"),
        ({"exp": 1}, "shadows the function"),
        ({"for": 1}, "Python keyword"),
        ({"1a": 1}, "not a plain ASCII identifier"),
        ({"x": 1}, "same name as a variable"),
        ({"c": True}, "not a number for param 'c'"),
        ({"c": float("nan")}, "non-finite number nan for param 'c'"),
        ({"c": object()}, "not a number for param 'c'"),
        ({"c": "y + 1"}, "in param 'c' = 'y + 1': unknown name 'y'"),
        ({"c": "__import__('os').system('id')"}, "in param 'c'"),
        ({"c": 1j}, "complex number"),
    ],
)
def test_bad_params_are_refused(monkeypatch, params, fragment):
    calls = _forbid_eval(monkeypatch)
    with pytest.raises(FormulaError) as info:
        parse_formula("x", params=params)
    assert fragment in str(info.value), str(info.value)
    assert calls == []


def test_params_must_be_mapping():
    with pytest.raises(FormulaError, match="mapping"):
        parse_formula("x", params=[("c", 1)])  # type: ignore[arg-type]


# ---------------------------------------------------------------- sympy.Expr input


def test_expr_input_symbols_mapped_to_real():
    plain = sympy.Symbol("x")  # no assumptions
    got = parse_formula(2 * plain + sympy.sin(plain))
    assert got == 2 * x + sympy.sin(x)
    assert got.free_symbols == {x}


def test_expr_input_params_substituted():
    c = sympy.Symbol("c")
    assert parse_formula(c * x, params={"c": "1 - a"}) == (1 - a) * x


def test_expr_input_piecewise_allowed():
    pw = sympy.Piecewise((x, x > 0), (0, True))
    assert parse_formula(pw) == pw


@pytest.mark.parametrize(
    "expr, fragment",
    [
        (sympy.Symbol("y") + x, "unknown symbol 'y'"),
        (sympy.Function("f")(x), "undefined function f"),
        (sympy.gamma(x), "gamma"),
        (sympy.DiracDelta(x), "DiracDelta"),
        (sympy.Integral(x, x), "Integral"),
        (sympy.Derivative(sympy.Function("g")(x), x), "not allowed"),
        (sympy.Dummy("x") * 2, "unknown symbol"),
        (x + sympy.I, "ImaginaryUnit (I) not allowed"),
        (x + sympy.oo, "Infinity (oo) not allowed"),
        (x > 1, "expected a SymPy expression"),
    ],
)
def test_expr_input_refused(expr, fragment):
    with pytest.raises(FormulaError) as info:
        parse_formula(expr)
    assert fragment in str(info.value), str(info.value)


# ---------------------------------------------------------------- property test

FORMULA_TOKENS = (
    ["x", "1", "0.5", "2", "pi", "e", "y", "exp", "log", "sqrt", "sigmoid", "relu", "max",
     "Heaviside", "__import__", "os", "__class__", "lambda", "'id'"]
    + list("+-*/()^.,[]=<>:% ")
    + ["**", "//", " if ", " else ", "1e-3", "j"]
)


@settings(deadline=None)
@given(st.one_of(
    st.text(alphabet=string.printable, max_size=40),
    st.lists(st.sampled_from(FORMULA_TOKENS), max_size=25).map("".join),
))
def test_random_text_parses_or_raises_formula_error(text):
    # Hypothesis itself may use exec, so only SymPy's string evaluation and
    # os.system are trapped here; test_unsafe_or_malformed_input_is_refused
    # traps builtins.eval/exec too.
    calls = []

    def boom(*args, **kwargs):
        calls.append(args)
        raise AssertionError("forbidden")

    saved = (sympy_parser.eval_expr, sympy_parser.parse_expr, os.system)
    sympy_parser.eval_expr = sympy_parser.parse_expr = os.system = boom
    try:
        try:
            result = parse_formula(text)
        except FormulaError as exc:
            assert str(exc)  # a message, always
        else:
            assert isinstance(result, sympy.Expr)
            assert result.free_symbols <= {x}
    finally:
        sympy_parser.eval_expr, sympy_parser.parse_expr, os.system = saved
    assert calls == []
