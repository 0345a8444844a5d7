"""Tests of ttfs_symbolic.numeric.compile: every backend against mpmath at 30 digits."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy
import torch

from ttfs_symbolic.numeric.compile import BACKENDS, clear_cache, compile_expr
from ttfs_symbolic.symbolic.functions import sigmoid, softplus
from ttfs_symbolic.symbolic.parse import ALLOWED_FUNCTIONS, S, X, parse_formula

x = X
REF_DPS = 30

# Tolerances, as |y - ref| <= rtol * (|ref| + 1) with ref from mpmath at 30
# digits evaluated at exactly the inputs the backend saw (float32 inputs are
# converted exactly), so only the backend's own rounding counts. Inputs and
# intermediates are O(1)..O(1e2) on the chosen domains and every expression is
# at most ~6 elementary operations, each within a few ulp:
# * float64: ~6 ops * few ulp * 2.2e-16 ~ 1e-15 of (|ref| + 1); rtol 1e-12
#   leaves three orders of margin for libm differences, while float32-level
#   slips (a kernel evaluated in float32, torch's softplus threshold 20 with
#   its 2e-9 error) fail it by orders of magnitude;
# * float32: eps 6e-8, same count ~ 1e-6 of (|ref| + 1); rtol 1e-5.
# The "+ 1" is the absolute floor for values near zero (cancellation inside
# e.g. GELU = x/2*(1 + erf(x/sqrt(2))) for x << 0 is the formula's, not the
# backend's); tail accuracy of small values is tested relatively below.
RTOL64 = 1e-12
RTOL32 = 1e-5

# (formula, low, high): a domain where the formula is real and well conditioned.
CASES = [
    ("exp(x)", -5, 5),
    ("log(x)", 0.01, 10),
    ("sqrt(x)", 0, 10),
    ("abs(x)", -3, 3),
    ("Abs(x - 1)", -3, 3),
    ("sign(x)", -3, 3),
    ("sin(x)", -6, 6),
    ("cos(x)", -6, 6),
    ("tan(x)", -1.2, 1.2),
    ("sinh(x)", -5, 5),
    ("cosh(x)", -5, 5),
    ("tanh(x)", -5, 5),
    ("atan(x)", -5, 5),
    ("arctan(x)", -5, 5),
    ("asinh(x)", -5, 5),
    ("erf(x)", -4, 4),
    ("erfc(x)", -3, 6),
    ("sigmoid(x)", -40, 40),
    ("softplus(x)", -40, 40),
    ("relu(x)", -3, 3),
    ("max(x, 1, -x/2)", -4, 4),
    ("Max(x, 0.25)", -4, 4),
    ("min(x, 0.5, x**2)", -2, 2),
    ("Min(x, -x)", -2, 2),
    ("Heaviside(x)", -2, 2),
    ("pow(x, 3)", -3, 3),
    ("pow(2, x)", -5, 5),
    ("x*sigmoid(x)", -8, 8),  # SiLU, Corollary 4.5 eq. 16
    ("x/2*(1 + erf(x/sqrt(2)))", -5, 5),  # GELU, eq. 17
    ("sqrt(2)*x", -3, 3),
    ("1", -1, 1),  # eta of the identity input transform is constant (Corollary 4.2)
    ("pi*e", -1, 1),
    ("x**(1/3)", 0, 8),
    ("x**1.5 - 1/sqrt(x)", 0.1, 4),
    ("1/(1 + x**2)", -3, 3),
    ("sigmoid(x)*(1 - sigmoid(x))", -10, 10),  # eta of the sigmoid neuron
]
EXTRA_CASES = [  # SymPy-built: derivations produce these, formulas cannot
    (sympy.Piecewise((x**2, x < 0), (sympy.sin(x), x < 1), (1 - x, True)), -2, 2),
    (sympy.Piecewise((sympy.exp(x), sympy.And(x > -1, x <= 1)), (0, True)), -2, 2),
    (sympy.Piecewise((1, x > 0), (sympy.Rational(1, 3), True)), -2, 2),  # constant branches
    (sympy.Heaviside(x, 0) + 2 * sympy.Heaviside(x - 1, 1), -2, 2),
    (sympy.atanh(x / 2) + sympy.asin(x / 3) + sympy.acos(x / 3), -1.9, 1.9),
    (sympy.acosh(x), 1, 5),
    (sympy.erfinv(x / 2), -1.9, 1.9),
    (sympy.Float("0.1", 30) * x + sympy.Float("1e-3", 30), -1, 1),  # 30-digit Floats: evalf can compare them
]


def _case_expr(case):
    expr = case[0]
    return parse_formula(expr) if isinstance(expr, str) else expr


ALL = [(_case_expr(c), c[1], c[2]) for c in CASES + EXTRA_CASES]
IDS = [str(c[0]) for c in CASES + EXTRA_CASES]


def test_cases_cover_every_whitelisted_function():
    used = " ".join(c[0] for c in CASES)
    missing = [name for name in ALLOWED_FUNCTIONS if name + "(" not in used]
    assert missing == []


def _points(lo, hi, n=64, seed=0):
    rng = np.random.default_rng(seed)
    special = [lo, hi] + ([0.0] if lo <= 0 <= hi else []) + ([1.0] if lo <= 1 <= hi else [])
    n += len(special) % 2  # an even count, so the batch can be reshaped to (2, -1)
    return np.concatenate([special, rng.uniform(lo, hi, n)])


def _reference(expr, xs):
    fm = compile_expr(expr, (x,), "mpmath")
    with mpmath.workdps(REF_DPS):
        return np.array([float(fm(float(v))) for v in xs])


def _close(got, ref, rtol):
    got = np.asarray(got, dtype=np.float64)
    both_nan = np.isnan(got) & np.isnan(ref)
    ok = both_nan | (np.abs(got - ref) <= rtol * (np.abs(ref) + 1))
    return bool(ok.all()), np.max(np.where(both_nan, 0, np.abs(got - ref) / (np.abs(ref) + 1)))


@pytest.mark.parametrize("expr, lo, hi", ALL, ids=IDS)
def test_numpy_float64_matches_mpmath(expr, lo, hi):
    xs = _points(lo, hi)
    got = compile_expr(expr, (x,), "numpy")(xs)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == xs.shape
    ok, err = _close(got, _reference(expr, xs), RTOL64)
    assert ok, err


@pytest.mark.parametrize("expr, lo, hi", ALL, ids=IDS)
def test_torch_float64_matches_mpmath(expr, lo, hi):
    xs = _points(lo, hi, seed=1)
    got = compile_expr(expr, (x,), "torch")(torch.tensor(xs))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64 and got.shape == xs.shape
    ok, err = _close(got.numpy(), _reference(expr, xs), RTOL64)
    assert ok, err


@pytest.mark.parametrize("expr, lo, hi", ALL, ids=IDS)
def test_torch_float32_matches_mpmath(expr, lo, hi):
    xs = _points(lo, hi, seed=2).astype(np.float32)
    got = compile_expr(expr, (x,), "torch")(torch.tensor(xs).reshape(2, -1))
    assert got.dtype == torch.float32 and got.shape == (2, xs.size // 2)
    ok, err = _close(got.reshape(-1).numpy(), _reference(expr, xs.astype(np.float64)), RTOL32)
    assert ok, err


@pytest.mark.parametrize("expr, lo, hi", ALL, ids=IDS)
def test_numpy_float32_keeps_dtype(expr, lo, hi):
    xs = _points(lo, hi, seed=3).astype(np.float32).reshape(2, -1)
    got = compile_expr(expr, (x,), "numpy")(xs)
    assert got.dtype == np.float32 and got.shape == xs.shape
    ok, err = _close(got.reshape(-1), _reference(expr, xs.reshape(-1).astype(np.float64)), RTOL32)
    assert ok, err


@pytest.mark.parametrize("expr, lo, hi", ALL, ids=IDS)
def test_mpmath_backend_matches_sympy_evalf(expr, lo, hi):
    # The reference itself, checked independently: SymPy substitutes an exact
    # rational and evaluates to 30 digits. Both sides carry 30 digits, so
    # agreement to 1e-25 relative (plus the same absolute floor) leaves a few
    # digits for rounding and conditioning.
    fm = compile_expr(expr, (x,), "mpmath")
    for r in [sympy.Rational(lo), sympy.Rational(hi), sympy.Rational(int(lo * 7 + hi * 3), 10)]:
        r = min(max(r, sympy.Rational(lo)), sympy.Rational(hi))
        want = sympy.Float(expr.subs(x, r).evalf(REF_DPS), REF_DPS)
        with mpmath.workdps(REF_DPS):
            got = fm(mpmath.mpf(r.p) / r.q)
            assert isinstance(got, mpmath.mpf)
            want = mpmath.mpf(want._mpf_)
            assert abs(got - want) <= 1e-25 * (abs(want) + 1), (r, got, want)


# ---------------------------------------------------------------- known pitfalls


def test_torch_max_is_elementwise_not_python_max():
    f = compile_expr(parse_formula("max(x, 0) + min(x, 1, 2*x)"), (x,), "torch")
    t = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    assert torch.equal(f(t), torch.tensor([0.0 - 4.0, 0.5 + 0.5, 3.0 + 1.0], dtype=torch.float64))


def test_numpy_max_is_elementwise():
    f = compile_expr(parse_formula("relu(x) + max(x, 1, -x)"), (x,), "numpy")
    assert np.array_equal(f(np.array([-2.0, 0.5, 3.0])), np.array([0 + 2.0, 0.5 + 1.0, 3.0 + 3.0]))


@pytest.mark.parametrize("backend", ["numpy", "torch", "mpmath"])
@pytest.mark.parametrize("h0", [None, 0, 1, sympy.Rational(1, 4)])
def test_heaviside_at_zero_matches_sympy(backend, h0):
    expr = sympy.Heaviside(x) if h0 is None else sympy.Heaviside(x, h0)
    want = [float(expr.subs(x, v)) for v in (-1, 0, 2)]
    f = compile_expr(expr, (x,), backend)
    if backend == "numpy":
        got = list(f(np.array([-1.0, 0.0, 2.0])))
    elif backend == "torch":
        got = f(torch.tensor([-1.0, 0.0, 2.0])).tolist()
    else:
        got = [float(f(v)) for v in (-1, 0, 2)]
    assert got == want


def test_sqrt_of_constant_on_torch():
    # lambdify's torch printer calls torch.sqrt(2) on a Python int and fails.
    f = compile_expr(sympy.sqrt(2) * x, (x,), "torch")
    out = f(torch.ones(3, dtype=torch.float32))
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.full((3,), float(np.float32(np.sqrt(2.0)))))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_constants_are_correctly_rounded(backend):
    # Folded constants are printed with 30 digits, so Python rounds them
    # correctly; SymPy's default 15-digit Float printing would be off in the
    # last digits. Multiplying by 1.0 is exact, so equality is the test.
    one = np.ones(1) if backend == "numpy" else torch.ones(1, dtype=torch.float64)
    cases = [
        (sympy.sqrt(2) * x, lambda: mpmath.sqrt(2)),
        (sympy.pi * sympy.E * x, lambda: mpmath.pi * mpmath.e),
        (sympy.erf(1) * x, lambda: mpmath.erf(1)),
        (sympy.Float(0.1) * x, lambda: mpmath.mpf(0.1)),
        (sigmoid(1) * x, lambda: 1 / (1 + mpmath.exp(-1))),
    ]
    for expr, value in cases:
        with mpmath.workdps(40):
            want = float(value())
        got = compile_expr(expr, (x,), backend)(one)
        assert float(got[0]) == want, (expr, float(got[0]), want)


def test_numpy_erf_comes_from_scipy_and_works_on_arrays():
    # math.erf would raise on an array; scipy.special.erf is a ufunc.
    f = compile_expr(sympy.erf(x) + sympy.erfc(x), (x,), "numpy")
    out = f(np.linspace(-3, 3, 7).reshape(7, 1))
    assert out.shape == (7, 1)
    assert np.allclose(out, 1.0, rtol=0, atol=4e-16)  # erf + erfc = 1 to rounding


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tails_are_relatively_accurate(backend, dtype):
    # Small values must keep their relative accuracy, which the (|ref| + 1)
    # floor above would not see: softplus(-40) ~ 4e-18, sigmoid(-40),
    # erfc(6) ~ 2e-17 (1 - erf would give 0), and softplus(x) for x beyond
    # torch's default threshold 20 (log1p(exp(-25)) ~ 1.4e-11 of 25 must not
    # be dropped in float64). Points stay where the dtype has normal numbers.
    # Tolerance: a few ulp of the dtype, 1e-13 (float64) / 1e-5 (float32).
    rtol = 1e-13 if dtype == "float64" else 1e-5
    far = 25.0 if dtype == "float64" else 9.0
    cases = [
        (softplus(x), [-40.0, -25.0, 0.0, 25.0, 30.0, 700.0]),
        (sigmoid(x), [-40.0, -25.0, 0.0, 25.0, 30.0]),
        (sympy.erfc(x), [-3.0, 0.0, 4.0, 6.0, far]),
    ]
    for expr, pts in cases:
        xs = np.array(pts, dtype=dtype)
        f = compile_expr(expr, (x,), backend)
        got = f(xs) if backend == "numpy" else f(torch.tensor(xs)).numpy()
        assert got.dtype == np.dtype(dtype)
        fm = compile_expr(expr, (x,), "mpmath")
        with mpmath.workdps(REF_DPS):
            ref = np.array([float(fm(float(v))) for v in xs])
        assert np.all(np.abs(got - ref) <= rtol * np.abs(ref)), (expr, got, ref)


@pytest.mark.parametrize("backend", ["numpy", "torch", "mpmath"])
def test_piecewise_without_default_is_nan_outside(backend):
    expr = sympy.Piecewise((x, x > 0), (-x, x < -1))
    f = compile_expr(expr, (x,), backend)
    vals = [2.0, -0.5, -3.0]
    if backend == "numpy":
        got = f(np.array(vals))
    elif backend == "torch":
        got = f(torch.tensor(vals, dtype=torch.float64)).numpy()
    else:
        got = np.array([float(f(v)) for v in vals])
    assert got[0] == 2.0 and np.isnan(got[1]) and got[2] == 3.0


def test_mpmath_piecewise_is_lazy():
    # The unselected branch 1/x would divide by zero in mpmath.
    f = compile_expr(sympy.Piecewise((1 / x, sympy.Ne(x, 0)), (0, True)), (x,), "mpmath")
    assert f(0) == 0 and f(4) == mpmath.mpf(1) / 4


# ---------------------------------------------------------------- shapes, dtypes, devices


@pytest.mark.parametrize("expr", [sympy.Integer(1), sympy.pi / 4, sympy.Rational(1, 3)])
def test_constant_expression_fills_input_shape(expr):
    value = float(expr)
    xs = np.zeros((3, 4), dtype=np.float32)
    out = compile_expr(expr, (x,), "numpy")(xs)
    assert out.shape == (3, 4) and out.dtype == np.float32
    assert np.all(out == np.float32(value)) and out.flags.writeable
    for dtype in (torch.float32, torch.float64):
        t = torch.zeros(2, 5, dtype=dtype)
        out = compile_expr(expr, (x,), "torch")(t)
        assert isinstance(out, torch.Tensor)
        assert out.shape == (2, 5) and out.dtype == dtype and out.device == t.device
        assert torch.all(out == torch.tensor(value, dtype=dtype))
    with mpmath.workdps(REF_DPS):
        m = compile_expr(expr, (x,), "mpmath")(0.5)
        assert isinstance(m, mpmath.mpf)
        assert abs(m - mpmath.mpf(sympy.Float(expr.evalf(REF_DPS), REF_DPS)._mpf_)) < 1e-28


def _devices():
    devs = ["meta"]  # shape/dtype-only tensors: checks device handling without a GPU
    if torch.cuda.is_available():
        devs.append("cuda")
    return devs


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_keeps_device_and_dtype(device, dtype):
    t = torch.linspace(0.1, 0.9, 12, dtype=dtype, device=device).reshape(3, 4)
    for expr, _, _ in ALL:
        out = compile_expr(expr, (x,), "torch")(t)
        assert out.device == t.device and out.dtype == dtype and out.shape == t.shape, expr
    if device == "cuda":
        f = compile_expr(parse_formula("x*sigmoid(x) + max(x, 0.5) + Heaviside(x - 0.5)"), (x,), "torch")
        g = compile_expr(parse_formula("x*sigmoid(x) + max(x, 0.5) + Heaviside(x - 0.5)"), (x,), "numpy")
        assert np.allclose(f(t).cpu().double().numpy(), g(t.cpu().double().numpy()), rtol=RTOL32, atol=RTOL32)


def test_two_arguments_broadcast():
    # eta(s) for a sender with a = -1, tau = 1/2 (eq. 8): f'(s/tau + a)*H(s).
    a = sympy.Symbol("a", real=True)
    expr = sigmoid(2 * S + a) * (1 - sigmoid(2 * S + a)) * sympy.Heaviside(S)
    s_np = np.linspace(-1, 1, 5).reshape(5, 1)
    a_np = np.array([[-1.0, 0.0, 2.0]])
    got = compile_expr(expr, (S, a), "numpy")(s_np, a_np)
    assert got.shape == (5, 3)
    fm = compile_expr(expr, (S, a), "mpmath")
    with mpmath.workdps(REF_DPS):
        ref = np.array([[float(fm(sv, av)) for av in a_np[0]] for sv in s_np[:, 0]])
    assert np.all(np.abs(got - ref) <= RTOL64 * (np.abs(ref) + 1))
    gt = compile_expr(expr, (S, a), "torch")(torch.tensor(s_np), torch.tensor(a_np))
    assert gt.shape == (5, 3) and np.all(np.abs(gt.numpy() - ref) <= RTOL64 * (np.abs(ref) + 1))
    # an argument that does not appear still shapes the result
    only_s = compile_expr(S, (S, a), "torch")(torch.tensor(s_np), torch.tensor(a_np))
    assert only_s.shape == (5, 3) and torch.equal(only_s[:, 2], torch.tensor(s_np[:, 0]))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_result_never_aliases_input(backend):
    f = compile_expr(x, (x,), backend)
    inp = np.arange(3.0) if backend == "numpy" else torch.arange(3.0)
    out = f(inp)
    out[0] = 42.0
    assert inp[0] == 0.0


def test_integer_input_gives_float():
    f = compile_expr(x / 2, (x,), "numpy")
    assert f(np.array([1, 2, 3])).dtype == np.float64
    assert np.array_equal(f(np.array([1, 2, 3])), np.array([0.5, 1.0, 1.5]))
    g = compile_expr(x / 2, (x,), "torch")
    out = g(torch.tensor([1, 2, 3]))
    assert out.dtype == torch.get_default_dtype() and out.tolist() == [0.5, 1.0, 1.5]


def test_mpmath_uses_callers_precision():
    f = compile_expr(sympy.sqrt(2) * x + sympy.pi, (x,), "mpmath")
    with mpmath.workdps(50):
        got = f(1)
        want = mpmath.sqrt(2) + mpmath.pi
        assert isinstance(got, mpmath.mpf)
        assert abs(got - want) < mpmath.mpf(10) ** -48  # 50 digits, not a double's 16


def test_mpmath_non_real_is_nan():
    f = compile_expr(sympy.log(x), (x,), "mpmath")
    assert mpmath.isnan(f(-1))


# ---------------------------------------------------------------- cache and errors


def test_cache_returns_same_object():
    clear_cache()
    e1 = parse_formula("x*sigmoid(x)")
    e2 = x * sigmoid(sympy.Symbol("x", real=True))  # built separately, same srepr
    f1 = compile_expr(e1, (x,), "numpy")
    assert compile_expr(e2, (x,), "numpy") is f1
    assert compile_expr(e1, [x], "numpy") is f1
    assert compile_expr(e1, (x,), "torch") is not f1
    y = sympy.Symbol("y", real=True)
    assert compile_expr(e1, (x, y), "numpy") is not f1
    clear_cache()
    assert compile_expr(e1, (x,), "numpy") is not f1


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'jax'; choose one of numpy, torch, mpmath"):
        compile_expr(x, (x,), "jax")
    assert BACKENDS == ("numpy", "torch", "mpmath")


def test_missing_free_symbol():
    y = sympy.Symbol("y", real=True)
    with pytest.raises(ValueError, match="free symbols not among the arguments: y"):
        compile_expr(x + y, (x,), "numpy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsupported_function(backend):
    with pytest.raises(ValueError, match="cannot compile DiracDelta"):
        compile_expr(sympy.DiracDelta(x) + x, (x,), backend)
    with pytest.raises(ValueError, match="cannot compile gamma"):
        compile_expr(sympy.gamma(x), (x,), backend)


def test_bad_arguments():
    with pytest.raises(ValueError, match="must be SymPy symbols"):
        compile_expr(x, ("x",), "numpy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="repeated argument"):
        compile_expr(x, (x, x), "numpy")
    with pytest.raises(ValueError, match="expected a SymPy expression"):
        compile_expr(x > 1, (x,), "numpy")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes 1 argument"):
        compile_expr(x, (x,), "numpy")(np.ones(2), np.ones(2))


def test_scalar_inputs():
    f = compile_expr(x / 3, (x,), "torch")
    # a Python float is a double: no silent float32 rounding
    assert f(0.1).dtype == torch.float64 and f(0.1).item() == 0.1 / 3
    y = sympy.Symbol("y", real=True)
    g = compile_expr(x * y, (x, y), "torch")
    assert g(torch.ones(2), 0.1).dtype == torch.float32  # numbers beside tensors are weak
    n = compile_expr(x / 3, (x,), "numpy")(0.1)
    assert isinstance(n, np.ndarray) and n.shape == () and float(n) == 0.1 / 3
    m = compile_expr(x / 3, (x,), "mpmath")
    with mpmath.workdps(REF_DPS):
        # numpy/torch scalars convert exactly (float32 0.1 is 0.100000001490116...),
        # Rationals to 30 digits; x/3 is computed as (1/3)*x, two roundings at
        # 30 digits, hence 1e-29 relative.
        for arg, want in [(np.float32(0.1), mpmath.mpf(float(np.float32(0.1))) / 3),
                          (torch.tensor(0.5, dtype=torch.float64), mpmath.mpf(1) / 6),
                          (sympy.Rational(1, 3), mpmath.mpf(1) / 9)]:
            got = m(arg)
            assert isinstance(got, mpmath.mpf) and abs(got - want) <= 1e-29 * abs(want)
