"""Property tests of the spiking Transformer layers (Section 4.3) against the torch ops they replace.

Every test builds a layer on *source* populations whose ranges cover the
inputs (``fixed_range``), runs one calibration pass (``Ctx(mode="calibrate")``,
Algorithm 1) on the same inputs, finalizes every population in construction
order and then compares a run in ``exact`` mode (the closed form
``clip(h(sum_j w_j f(x_j)), a, b)``, eq. 9 and 14) with the torch op, in
float64. Because the ranges are calibrated on the very inputs, nothing clips,
and the closed form must reproduce the torch op to float64 rounding.

The multiplication network (Section 4.3.4, eq. 24-27) is also checked in
``quantized`` and ``kernel`` modes against an error bound derived below, for
its chunked evaluation, and for the claim that layer I's range provably holds
every ``log(x1 + c1) + log(x2 + c2)`` (docs/design.md, "Where the cost is").
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ttfs_symbolic.spiking import (Ctx, Population, Product, SpikingActivation, SpikingLayerNorm,
                                         SpikingLinear, SpikingSoftmax, input_kernel, layer1_range, shift_for)
from ttfs_symbolic.numeric import dynamics, native
from ttfs_symbolic.numeric.compile import compile_expr
from ttfs_symbolic.symbolic.parse import X

D = torch.float64
EPS64 = torch.finfo(D).eps  # 2.2e-16

# ---------------------------------------------------------------------------
# harness
# ---------------------------------------------------------------------------


def rand(seed: int, shape, scale: float = 1.0, loc: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return loc + scale * torch.randn(*shape, generator=g, dtype=D)


def source(name: str, *xs: torch.Tensor) -> Population:
    """A sender population whose range [a, b] is the data's [min, max] (nothing clips)."""
    lo = min(float(x.min()) for x in xs)
    hi = max(float(x.max()) for x in xs)
    return Population(name, "identity", fixed_range=(lo, hi))


def populations(layer: torch.nn.Module) -> list[Population]:
    """Every population of a layer, in construction (registration) order."""
    return [m for m in layer.modules() if isinstance(m, Population)]


@torch.no_grad()
def calibrate(layer: torch.nn.Module, call) -> None:
    """One calibration pass of ``call(ctx)``, then finalize in construction order (Algorithm 1)."""
    call(Ctx(mode="calibrate"))
    for i, pop in enumerate(populations(layer)):
        pop.finalize()
        pop.window = i + 1
        assert pop.calibrated, pop.pname


def run(call, mode: str = "exact", precision: int | None = None, record: bool = False):
    with torch.no_grad():
        return call(Ctx(mode=mode, precision=precision, record=record))


scales = st.floats(min_value=1e-2, max_value=1e2)
seeds = st.integers(min_value=0, max_value=2**31 - 1)

# ---------------------------------------------------------------------------
# SpikingLinear (Corollaries 4.2, 4.4)
# ---------------------------------------------------------------------------


@settings(deadline=None)
@given(seed=seeds, batch=st.integers(1, 4), n_in=st.integers(1, 24), n_out=st.integers(1, 24),
       scale=scales, with_bias=st.booleans())
def test_linear_matches_F_linear(seed, batch, n_in, n_out, scale, with_bias):
    x = rand(seed, (batch, 3, n_in), scale)
    w = rand(seed + 1, (n_out, n_in), 1 / math.sqrt(n_in))
    b = rand(seed + 2, (n_out,), scale) if with_bias else None
    lin = SpikingLinear("lin", w, b)
    calibrate(lin, lambda ctx: lin(x, ctx))
    out = run(lambda ctx: lin(x, ctx))
    ref = F.linear(x, w, b)
    # The closed form is V = sum_j w_j x_j + bias, clipped to a range that was
    # calibrated on these very V: the only error allowed is float64 rounding
    # of a length-n_in dot product, ~n_in * eps * scale << 1e-10 * scale.
    assert out.dtype == D
    assert (out - ref).abs().max() <= 1e-10 * scale
    # the calibrated range is the data's range (percentile 100, margin 0)
    assert lin.out.a == pytest.approx(float(ref.min()), abs=1e-12 * scale)
    assert lin.out.b >= float(ref.max()) - 1e-12 * scale


# ---------------------------------------------------------------------------
# SpikingActivation (Corollary 4.5)
# ---------------------------------------------------------------------------

TORCH_ACTS = {
    "gelu": F.gelu,
    "silu": F.silu,
    "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
    "relu": F.relu,
}


@pytest.mark.parametrize("neuron", sorted(TORCH_ACTS))
@settings(deadline=None)
@given(seed=seeds, scale=st.floats(1e-2, 20.0), loc=st.floats(-3.0, 3.0), n=st.integers(1, 64))
def test_activation_matches_torch(neuron, seed, scale, loc, n):
    x = rand(seed, (2, n), scale, loc)
    src = source("src", x)
    act = SpikingActivation("act", neuron, src)
    calibrate(act, lambda ctx: act(x, ctx))
    out = run(lambda ctx: act(x, ctx))
    ref = TORCH_ACTS[neuron](x)
    # f(x) evaluated by one torch op (or the compiled formula), identity h,
    # range calibrated on these values: float64 rounding only, relative to
    # the size of the values (|f(x)| <= |x| for all four).
    assert (out - ref).abs().max() <= 1e-12 * (1 + float(x.abs().max()))


@pytest.mark.parametrize("neuron", ["gelu", "silu", "gelu_tanh", "relu", "exp_input"])
@settings(deadline=None)
@given(values=st.lists(st.floats(-30.0, 30.0), min_size=1, max_size=50))
def test_fused_torch_fast_path_equals_compiled_formula(neuron, values):
    """The fused torch op used for f is the derived SymPy formula, compiled."""
    kernel = input_kernel(neuron)
    compiled = compile_expr(kernel.f, (X,), "torch")
    fused = kernel.f_fn("torch")
    # the fast path is really taken for these formulas (compile_expr caches,
    # so the fallback would be this very object)
    assert fused is not compiled
    grid = torch.linspace(-30, 30, 2401, dtype=D)
    x = torch.cat([grid, torch.tensor(values, dtype=D)])
    y_fused, y_comp = fused(x), compiled(x)
    assert y_fused.dtype == D and y_comp.dtype == D
    if neuron == "exp_input":
        # exp up to e^30 ~ 1e13: compare relatively (both are libm exp, <= 1 ulp apart)
        assert ((y_fused - y_comp).abs() / y_comp.abs()).max() <= 1e-12
    else:
        # |f(x)| <= |x| <= 30 here; each side is a few float64 ops (erf / tanh /
        # sigmoid, products), each within a few ulp: ~1e-14 absolute at |x| = 30.
        assert (y_fused - y_comp).abs().max() <= 1e-12 * (1 + x.abs()).max()


# ---------------------------------------------------------------------------
# SpikingSoftmax (Section 4.3.2, Appendix C.2)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("use_max", [True, False])
@settings(deadline=None)
@given(seed=seeds, n=st.integers(1, 40), scale=st.floats(1e-2, 10.0), loc=st.floats(-20.0, 20.0))
def test_softmax_matches_torch(use_max, seed, n, scale, loc):
    s = rand(seed, (3, 2, n), scale, loc)
    src = source("scores", s)
    sm = SpikingSoftmax("softmax", src, n, use_max=use_max)
    calibrate(sm, lambda ctx: sm(s, ctx))
    out = run(lambda ctx: sm(s, ctx))
    ref = torch.softmax(s, -1)
    # exp(z - lse) vs torch's exp(x - max)/sum: the exponent's rounding is a
    # few ulp of |z - lse| <= 2*|s| range + log n <= ~100 here, i.e. <= 1e-13
    # relative in each probability, and probabilities are <= 1.
    assert (out - ref).abs().max() <= 1e-12
    assert (out.sum(-1) - 1).abs().max() <= 1e-12
    # layer I's proven range [0, log N] (with the max layer) holds every lse
    if use_max:
        assert (sm.lse.a, sm.lse.b) == (0.0, math.log(n)) or n == 1


# ---------------------------------------------------------------------------
# SpikingLayerNorm (Section 4.3.3)
# ---------------------------------------------------------------------------


@settings(deadline=None)
@given(seed=seeds, n=st.integers(4, 32), scale=scales, loc_ratio=st.floats(-3.0, 3.0),
       affine=st.sampled_from(["none", "weight", "both"]),
       eps=st.sampled_from([1e-12, 1e-6, 1e-5, 1e-3, 0.5]))
def test_layernorm_matches_F_layer_norm(seed, n, scale, loc_ratio, affine, eps):
    x = rand(seed, (2, 5, n), scale, loc_ratio * scale)
    w = rand(seed + 1, (n,), 1.0, 1.0) if affine != "none" else None
    b = rand(seed + 2, (n,), 0.5) if affine == "both" else None
    src = source("src", x)
    ln = SpikingLayerNorm("ln", src, w, b, eps, n)
    calibrate(ln, lambda ctx: ln(x, ctx))
    out = run(lambda ctx: ln(x, ctx))
    ref = F.layer_norm(x, (n,), w, b, eps)
    # mean, centred, var, rsqrt and the product are ~6 float64 ops per output;
    # the normalized value has condition ~ max|x|/std <= ~1e3 for these draws
    # (|loc| <= 3 scale, n >= 4), so the error is <= ~1e3 * 10 eps ~ 1e-12
    # relative to |w| * |x_hat| + |b|; 1e-10 leaves margin, while any missing
    # piece (eps, affine, biased variance) is off by >= 1e-6.
    wmax = 1.0 if w is None else float(w.abs().max())
    bmax = 0.0 if b is None else float(b.abs().max())
    size = wmax * math.sqrt(n) + bmax
    assert (out - ref).abs().max() <= 1e-10 * (1 + size)


# ---------------------------------------------------------------------------
# Product: the multiplication network (Section 4.3.4, eq. 24-27)
# ---------------------------------------------------------------------------


def _factors(seed, matmul, batch, m, k, n, loc1, loc2, spread1, spread2):
    if matmul:
        x1 = rand(seed, (batch, m, k), spread1, loc1)
        x2 = rand(seed + 1, (batch, k, n), spread2, loc2)
    else:
        x1 = rand(seed, (batch, m, n), spread1, loc1)
        x2 = rand(seed + 1, (m, n) if seed % 2 else (batch, m, n), spread2, loc2)  # broadcasting too
    return x1, x2


def _product(x1, x2, matmul, construction="paper"):
    p1, p2 = source("x1", x1), source("x2", x2)
    out = Population("out", "identity", kind="product_out")
    return Product("prod", p1, p2, out, matmul=matmul, construction=construction)


constructions = st.sampled_from(["paper", "signed"])


factor_params = dict(seed=seeds, construction=constructions, matmul=st.booleans(), batch=st.integers(1, 3), m=st.integers(1, 6),
                     k=st.integers(1, 8), n=st.integers(1, 6), loc1=st.floats(-2.0, 2.0),
                     loc2=st.floats(-2.0, 2.0), spread1=st.floats(1e-2, 2.0), spread2=st.floats(1e-2, 2.0),
                     affine=st.sampled_from(["none", "scale", "bias", "both"]))


def _affine(seed, affine, n):
    scale = rand(seed + 5, (n,), 2.0) if affine in ("scale", "both") else None
    bias = rand(seed + 6, (n,), 1.0) if affine in ("bias", "both") else None
    return scale, bias


@settings(deadline=None)
@given(**factor_params)
def test_product_exact_matches_torch(seed, construction, matmul, batch, m, k, n, loc1, loc2, spread1, spread2,
                                     affine):
    x1, x2 = _factors(seed, matmul, batch, m, k, n, loc1, loc2, spread1, spread2)
    scale, bias = _affine(seed, affine, n)
    prod = _product(x1, x2, matmul, construction)
    call = lambda ctx: prod(x1, x2, ctx, scale=scale, bias=bias)  # noqa: E731
    calibrate(prod, call)
    out = run(call)
    ref = x1 @ x2 if matmul else x1 * x2
    if scale is not None:
        ref = ref * scale
    if bias is not None:
        ref = ref + bias
    # Layer I never clips (layer1_range), so layer II's potential is exactly
    # (x1 + c1)(x2 + c2) - c2 x1 - c1 x2 - c1 c2 = x1 x2 (summed over k for
    # matmul); only float64 rounding of <= k products remains.
    size = float((x1.abs().max() * x2.abs().max()) * (k if matmul else 1))
    size = size * (1.0 if scale is None else float(scale.abs().max())) + (0 if bias is None else float(bias.abs().max()))
    assert (out - ref).abs().max() <= 1e-12 * (1 + size)


def product_error_bound(prod: Product, x1, x2, scale, bias, p: int) -> torch.Tensor:
    """Elementwise bound on |out(mode at p) - out(exact)| for on-grid factors.

    Derivation (eq. 24-27). With c_i = 1 - a_i, layer I's value is
    y = log(x1 + c1) + log(x2 + c2) in [0, d_y], d_y = log(1 + d1) + log(1 + d2)
    (layer1_range). Rounded to the nearest of p ticks, y_hat - y is at most
    d_y/(2p) (quantize_values). Layer II adds exp(y_hat) - c2 x1 - c1 x2 - c1 c2;
    the delayed x1, x2 are the exact on-grid inputs, so the only error is
    exp(y_hat) - exp(y) = (x1 + c1)(x2 + c2) (exp(y_hat - y) - 1), at most
    S * expm1(d_y/(2p)) with S = (x1 + c1)(x2 + c2) (summed over k for the
    matrix product: S = (x1 + c1) @ (x2 + c2)). The affine multiplies it by
    |scale|; the output layer's clip is 1-Lipschitz and its own rounding adds
    d_out/(2p). In kernel mode the log and exp terms are read from Q tables
    (Gauss-Legendre, cumulative sums of p cells): their error, ~p * eps *
    log(1 + d) ~ 1e-12 in y, is covered by 1e-10 added to the exponent and a
    1e-9 relative slack for float64 rounding of the sums.
    """
    mul = (lambda u, v: u @ v) if prod.matmul else (lambda u, v: u * v)
    if prod.construction == "paper":
        c1, c2 = shift_for(prod.p1), shift_for(prod.p2)
        S = mul(x1 + c1, x2 + c2)
    else:
        # signed construction (Product docstring): per term, the neuron of the carrying
        # parts has exp(y) = (|x1| + e1)(|x2| + e2); where a factor is split, the
        # neurons with one silent part have (|x1| + e1) e2 and e1 (|x2| + e2); each is
        # off by its exp(y) * expm1(d_y/(2p)); the delayed corrections are exact.
        o1, o2 = prod.operands()
        m1, m2 = x1.abs() + o1.e, x2.abs() + o2.e
        S = mul(m1, m2)
        if o2.split:
            S = S + mul(m1, torch.full_like(x2, o2.e))
        if o1.split:
            S = S + mul(torch.full_like(x1, o1.e), m2)
    absscale = 1.0 if scale is None else scale.abs()
    absbias = 0.0 if bias is None else bias.abs()
    d_y = prod.y.d
    return (absscale * S * math.expm1(d_y / (2 * p) + 1e-10) + prod.out.d / (2 * p)
            + 1e-9 * (1 + absscale * S + absbias))


@pytest.mark.parametrize("mode", ["quantized", "kernel"])
@settings(deadline=None)
@given(**factor_params)
def test_product_quantized_and_kernel_error_bounded(mode, seed, construction, matmul, batch, m, k, n, loc1, loc2,
                                                    spread1, spread2, affine):
    x1, x2 = _factors(seed, matmul, batch, m, k, n, loc1, loc2, spread1, spread2)
    scale, bias = _affine(seed, affine, n)
    prod = _product(x1, x2, matmul, construction)
    for p in (16, 4096):
        # the factors arrive as spikes of their senders, on the senders' p-tick grid
        g1 = dynamics.quantize_values(x1, prod.p1.a, prod.p1.b, p)
        g2 = dynamics.quantize_values(x2, prod.p2.a, prod.p2.b, p)
        call = lambda ctx: prod(g1, g2, ctx, scale=scale, bias=bias)  # noqa: E731
        for pop in populations(prod):
            pop.stats.__init__()
        calibrate(prod, call)
        exact = run(call)
        got = run(call, mode, p)
        err = (got - exact).abs()
        bound = product_error_bound(prod, g1, g2, scale, bias, p)
        assert bool((err <= bound).all()), f"p={p}: error {float(err.max())} above bound at some element"


@pytest.mark.parametrize("construction", ["paper", "signed"])
@pytest.mark.parametrize("mode", ["quantized", "kernel"])
@pytest.mark.parametrize("matmul", [False, True])
def test_product_error_decreases_with_precision(mode, matmul, construction):
    """Finer time precision p, smaller error (the bound above shrinks ~p-fold from p = 16 to 4096)."""
    x1, x2 = _factors(21, matmul, 2, 6, 8, 5, 0.3, -0.4, 1.0, 0.8)
    prod = _product(x1, x2, matmul, construction)
    errs = []
    for p in (16, 256, 4096):
        g1 = dynamics.quantize_values(x1, prod.p1.a, prod.p1.b, p)
        g2 = dynamics.quantize_values(x2, prod.p2.a, prod.p2.b, p)
        for pop in populations(prod):
            pop.stats.__init__()
        calibrate(prod, lambda ctx: prod(g1, g2, ctx))
        exact = run(lambda ctx: prod(g1, g2, ctx))
        errs.append(float((run(lambda ctx: prod(g1, g2, ctx), mode, p) - exact).abs().max()))
    # each 16-fold refinement shrinks the half-tick errors 16-fold; ask for 4-fold
    assert errs[1] < errs[0] / 4 and errs[2] < errs[1] / 4, errs


@pytest.mark.parametrize("construction", ["paper", "signed"])
@pytest.mark.parametrize("mode", ["quantized", "kernel"])
def test_product_native_and_torch_loops_agree(mode, construction, monkeypatch):
    """The C loop of layer I (native.product_matmul) and the torch reference in row
    chunks give the same product: the same ticks, sums in another order."""
    batch, M, K, N, p = 2, 7, 4, 8, 256
    x1 = rand(11, (batch, M, K), 0.7, 0.3)
    x2 = rand(12, (batch, K, N), 1.3, -0.5)
    prod = _product(x1, x2, matmul=True, construction=construction)
    calibrate(prod, lambda ctx: prod(x1, x2, ctx))
    if not native.available():
        pytest.skip(f"no native loops here: {native.build_info()['error']}")
    whole = run(lambda ctx: prod(x1, x2, ctx), mode, p)

    calls = []
    real = native.tick_of

    def spy(u, *args, **kw):
        calls.append(u.shape)
        return real(u, *args, **kw)

    monkeypatch.setenv("TTFS_NATIVE", "0")
    monkeypatch.setattr(native, "tick_of", spy)
    monkeypatch.setattr(native, "CHUNK_ELEMENTS", 64)  # batch*K*N = 64: one row per chunk
    chunked = run(lambda ctx: prod(x1, x2, ctx), mode, p)
    assert len([c for c in calls if len(c) == 4]) == M, "the tiny CHUNK_ELEMENTS did not split the product into rows"
    # K = 4 terms of at most e^{d_y} each, summed in two orders: a few float64 ulps of the sum
    assert torch.allclose(whole, chunked, rtol=1e-14, atol=1e-13)


@settings(deadline=None)
@given(a1=st.floats(-50.0, 50.0), d1=st.floats(1e-6, 100.0), a2=st.floats(-50.0, 50.0), d2=st.floats(1e-6, 100.0),
       seed=seeds)
def test_layer1_range_contains_every_log_sum(a1, d1, a2, d2, seed):
    """docs/design.md: the range of layer I provably holds every log(x1 + c1) + log(x2 + c2)."""
    p1 = Population("x1", fixed_range=(a1, a1 + d1))
    p2 = Population("x2", fixed_range=(a2, a2 + d2))
    out = Population("out")
    prod = Product("prod", p1, p2, out, matmul=False, construction="paper")
    lo, hi = layer1_range(p1, p2)
    prod.y.finalize()
    assert (prod.y.a, prod.y.b) == (lo, hi)
    g = torch.Generator().manual_seed(seed)
    ends1 = torch.tensor([p1.a, p1.b], dtype=D)
    ends2 = torch.tensor([p2.a, p2.b], dtype=D)
    x1 = torch.cat([ends1, p1.a + p1.d * torch.rand(200, generator=g, dtype=D)])
    x2 = torch.cat([ends2, p2.a + p2.d * torch.rand(200, generator=g, dtype=D)])
    k1, k2, _ = prod.kernels()
    y = k1(x1)[:, None] + k2(x2)[None, :]
    # float64: c = 1 - a is rounded, and x + c and log each round once: the
    # computed y is within a few ulp of the exact one, scaled by the sizes of
    # the numbers involved.
    tol = 8 * EPS64 * (1 + hi + abs(p1.a) + abs(p1.b) + abs(p2.a) + abs(p2.b))
    assert float(y.min()) >= lo - tol
    assert float(y.max()) <= hi + tol
    # and the range is tight: both ends are reached (silent factors give 0)
    assert float(y[0, 0]) == pytest.approx(lo, abs=tol)
    assert float(y[1, 1]) == pytest.approx(hi, abs=tol)


# ---------------------------------------------------------------------------
# spike accounting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode,precision", [("exact", None), ("quantized", 32), ("kernel", 32)])
def test_linear_spike_accounting(mode, precision):
    x_cal = rand(1, (4, 6, 10))
    w = rand(2, (12, 10), 0.3)
    lin = SpikingLinear("lin", w, None)
    calibrate(lin, lambda ctx: lin(x_cal, ctx))
    a, b = lin.out.a, lin.out.b
    x = 1.5 * x_cal  # some potentials now fall outside [a, b]: clipped
    if mode == "kernel":
        x = dynamics.quantize_values(x, -10.0, 10.0, precision)  # on a sender grid
    V = F.linear(x, w)
    for repeat in (1, 2):
        out = run(lambda ctx: lin(x, ctx), mode, precision, record=True)
        st_ = lin.out.stats
        assert st_.neurons == repeat * out.numel()
        assert st_.spikes == repeat * int((out > a).sum())
        # value a means no spike (t = inf): the count is the number of finite spike times
        assert st_.spikes == repeat * int(torch.isfinite(lin.out.spike_times(out)).sum())
        assert st_.clipped == repeat * int(((V < a) | (V > b)).sum())
        assert 0 < st_.clipped < st_.neurons
        assert st_.spikes <= st_.neurons  # at most one spike per neuron
    # nothing is counted without record=True
    run(lambda ctx: lin(x, ctx), mode, precision)
    assert lin.out.stats.neurons == 2 * out.numel()


def test_product_layer1_spike_accounting_exact_mode():
    """Exact mode counts layer-I spikes without building M*N*K: y > 0 unless both factors sit at a."""
    x1 = rand(3, (2, 5, 6)).clamp(min=-0.3)  # many entries exactly at a = -0.3: silent
    x2 = rand(4, (2, 6, 3)).clamp(min=0.1)
    prod = _product(x1, x2, matmul=True)
    calibrate(prod, lambda ctx: prod(x1, x2, ctx))
    run(lambda ctx: prod(x1, x2, ctx), record=True)
    fires = (x1 > prod.p1.a).unsqueeze(-1) | (x2 > prod.p2.a).unsqueeze(-3)  # (B, M, K, N)
    st_ = prod.y.stats
    assert st_.neurons == fires.numel()
    assert st_.spikes == int(fires.sum())
    assert 0 < st_.spikes < st_.neurons
    # quantized mode rounds small y to "no spike", so it can only count fewer
    exact_spikes = st_.spikes
    prod.y.stats.__init__()
    run(lambda ctx: prod(x1, x2, ctx), "quantized", 1024, record=True)
    assert prod.y.stats.neurons == fires.numel()
    assert prod.y.stats.spikes <= exact_spikes


def test_product_layer1_accounting_with_broadcast_batch():
    x1 = rand(5, (3, 4)).abs()
    x2 = rand(6, (5, 4, 2)).abs()
    prod = _product(x1, x2, matmul=True)
    calibrate(prod, lambda ctx: prod(x1, x2, ctx))
    run(lambda ctx: prod(x1, x2, ctx), record=True)
    exact_count = prod.y.stats.neurons
    prod.y.stats.__init__()
    run(lambda ctx: prod(x1, x2, ctx), "quantized", 64, record=True)
    assert exact_count == prod.y.stats.neurons == 5 * 3 * 4 * 2


def test_product_kernels_and_tables_are_built_once():
    """Kernel mode builds layer I's log kernels and their eta tables once per calibration, not per pass."""
    x1 = rand(7, (2, 3, 4)).abs()
    x2 = rand(8, (2, 4, 5)).abs()
    prod = _product(x1, x2, matmul=True)
    calibrate(prod, lambda ctx: prod(x1, x2, ctx))
    assert all(a is b for a, b in zip(prod.kernels(), prod.kernels()))
    first = run(lambda ctx: prod(x1, x2, ctx), "kernel", 64)
    misses = dynamics.input_table.cache_info().misses
    again = run(lambda ctx: prod(x1, x2, ctx), "kernel", 64)
    assert dynamics.input_table.cache_info().misses == misses   # no quadrature on the second pass
    assert torch.equal(first, again)


def test_population_output_transform_equals_output_kernel_apply():
    """Population._apply_h (thresholds and compiled h looked up once) is OutputKernel.apply, bit for bit."""
    s = rand(10, (3, 6), 2.0)
    sm = SpikingSoftmax("softmax", source("s", s), 6)
    calibrate(sm, lambda ctx: sm(s, ctx))
    pops = [p for p in populations(sm) if p.h is not None]
    assert {p.pname for p in pops} == {"softmax.lse", "softmax"}   # logsumexp and exp outputs
    for pop in pops:
        low, theta = pop._thresholds()
        V = torch.cat([rand(11, (50,), 3.0, loc=theta),
                       torch.tensor([theta, low, pop.a, pop.b, -1e9, 1e9], dtype=D).nan_to_num(neginf=-1e300)])
        inside = V[(V > low) & (V < theta)]   # no neuron held at a or b: the fast path
        assert 0 < inside.numel() < V.numel()
        for v in (V, inside):
            assert torch.equal(pop._apply_h(v), pop.h.apply(v, pop.a, pop.b)), pop.pname


def test_softmax_spikes_at_most_one_per_neuron():
    s = rand(9, (2, 3, 7), 2.0)
    sm = SpikingSoftmax("softmax", source("s", s), 7)
    calibrate(sm, lambda ctx: sm(s, ctx))
    out = run(lambda ctx: sm(s, ctx), "quantized", 64, record=True)
    for pop in populations(sm)[1:]:
        assert pop.stats.neurons > 0, pop.pname
        assert pop.stats.spikes <= pop.stats.neurons, pop.pname
    assert sm.out.stats.neurons == out.numel()
    assert sm.out.stats.spikes == int((out > 0).sum())


# ---------------------------------------------------------------------------
# SpikingViT input checks
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_vit():
    from timm.models.vision_transformer import VisionTransformer

    from ttfs_symbolic.families.vit import SpikingViT

    torch.manual_seed(0)
    ann = VisionTransformer(img_size=16, patch_size=8, embed_dim=24, depth=1, num_heads=2, num_classes=5).eval()
    return ann, SpikingViT(ann)


def test_vit_rejects_nan_wrong_shape_and_uncalibrated(tiny_vit):
    from ttfs_symbolic.conversion.convert import calibrate as calibrate_vit

    ann, snn = tiny_vit
    images = rand(0, (2, 3, 16, 16))
    with pytest.raises(RuntimeError, match="calibrate"):
        snn(images)
    calibrate_vit(snn, images, progress=False)
    out = snn(images, dtype=D)
    assert out.shape == (2, 5)
    bad = images.clone()
    bad[1, 0, 3, 4] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        snn(bad)
    with pytest.raises(ValueError, match="NaN"):
        calibrate_vit(snn, bad, progress=False)
    with pytest.raises(ValueError, match=r"\(batch, 3, 16, 16\)"):
        snn(rand(0, (2, 3, 32, 32)))
    with pytest.raises(ValueError, match=r"\(batch, 3, 16, 16\)"):
        snn(rand(0, (3, 16, 16)))
