"""The fast paths of issue 22 against their references.

* the AVX-512 (and AVX2) rows of ``native.product_matmul`` add each column's terms in increasing k,
  as the scalar row does: checked bit for bit against that sum formed in torch, for row lengths
  around the vector widths (the masked tail);
* ``fused.softmax`` (exact mode's softmax, clip and count in one C pass per row) against
  ``torch.softmax`` and a clamp;
* per-channel log-code constants (``S`` values, indexed by the flat index mod S) against the same
  constants broadcast to every value of the trailing dimensions (what the emitting stage packed before).
"""
from __future__ import annotations

import math
import subprocess

import pytest
import torch

from ttfs_symbolic.numeric import fused, native, native_build
from ttfs_symbolic.spiking.context import Ctx
from ttfs_symbolic.spiking.population import Population


@pytest.fixture(scope="module", autouse=True)
def _need_native():
    if native_build._compiler() is None:
        pytest.skip("no C compiler on this machine: only the torch reference runs")
    assert native.available(), native.build_info()["error"]


def _k_ordered(l1, l2, table, b, scale, p, signed):
    """sum_k s1 s2 table[tick] added in increasing k in the table's dtype (the C rows' order), and the spikes."""
    u1, v2 = (b - l1) * scale, l2 * scale
    acc = torch.zeros(*l1.shape[:-1], l2.shape[-1], dtype=l1.dtype)
    fired = 0
    for k in range(l1.shape[-1]):
        t = torch.round(u1[..., :, k:k + 1] - v2[..., k:k + 1, :]).clamp(0, p).long()
        term = table[t]
        if signed is not None:
            s1 = signed.get("s1", 1) if "x1" not in signed else torch.where(signed["x1"][..., :, k:k + 1] < 0, -1, 1)
            s2 = signed.get("s2", 1) if "x2" not in signed else torch.where(signed["x2"][..., k:k + 1, :] < 0, -1, 1)
            term = torch.where(torch.as_tensor(s1 * s2) < 0, -term, term)
        acc = acc + term
        fired += int((t < p).sum())
    return acc, fired


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 8, 15, 16, 17, 31, 32, 33, 53, 64])
def test_product_matmul_rows_add_in_k_order(n, dtype):
    g = torch.Generator().manual_seed(100 + n)
    p, K = 1024, 23
    l1 = torch.rand(2, 5, K, generator=g, dtype=torch.float64).to(dtype) * 1.6 - 0.05
    l2 = torch.rand(2, K, n, generator=g, dtype=torch.float64).to(dtype) * 1.6 - 0.05
    l1[0, 0, :4] = torch.tensor([0.0, 3.0, 1.5, -1.0], dtype=dtype)   # ends and beyond: clamped ticks
    table = torch.exp(3.0 - torch.arange(p + 1, dtype=torch.float64) * (3.0 / p)).to(dtype)
    x1, x2 = torch.randn(2, 5, K, generator=g, dtype=dtype), torch.randn(2, K, n, generator=g, dtype=dtype)
    x1[0, 1, :3], x2[0, :3, 0] = 0.0, -0.0
    for signed in (None, {"x1": x1, "x2": x2}, {"s1": -1, "x2": x2}, {"x1": x1, "s2": -1}, {"s1": 1, "s2": -1}):
        for count in (False, True):
            s, fired = native.product_matmul(l1, l2, table, 3.0, p / 3.0, p, count=count, backend="native",
                                             signed=signed)
            ref, fired_ref = _k_ordered(l1, l2, table, 3.0, p / 3.0, p, signed)
            assert torch.equal(s, ref), (signed is None, count)
            assert fired == (fired_ref if count else 0)


def _softmax_ref(s, b, tol):
    e = torch.softmax(s, dim=-1)
    return e.clamp(max=b), int((e > b * (1 + tol)).sum())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 5, 15, 16, 17, 197])
@pytest.mark.parametrize("b", [0.3, 1.0])
def test_softmax_c_equals_torch(n, dtype, b):
    g = torch.Generator().manual_seed(n)
    s = (torch.randn(3, 2, 7, n, generator=g, dtype=torch.float64) * 3).to(dtype)
    s[0, 0, 0] = 1.25   # a row of equal values
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    e, clipped, _ = fused.softmax(s, b * (1 + tol), b)
    ref, clipped_ref = _softmax_ref(s, b, tol)
    assert clipped == clipped_ref
    if b < 1 and n > 1:
        assert clipped > 0
    rtol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(e, ref, rtol=rtol, atol=rtol * 1e-3)
    assert float(e.max()) <= float(torch.tensor(b, dtype=dtype)) and float(e.min()) >= 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_c_nan_rows_and_the_layer(dtype):
    """A row with a NaN is all NaN (as torch.softmax), the other rows are untouched; -inf scores (masked
    keys) give 0 (float32 with AVX-512: the vector exp's argument held at -104), a row with +inf or all
    -inf is NaN as in torch.softmax; 19 values a row: a vector and a masked tail."""
    s = torch.randn(6, 19, dtype=torch.float64).to(dtype)
    s[1, 3] = math.nan
    s[2, [0, 5, 18]] = -math.inf
    s[3, 7] = math.inf
    s[4] = -math.inf
    s[5, :17] = -2000.0   # exp(-2000 - max) underflows to 0
    e, n, _ = fused.softmax(s, 0.5, 0.5)
    ref = torch.softmax(s, -1).clamp(max=0.5)
    nan_rows = [1, 3, 4]
    assert bool(torch.isnan(ref[nan_rows]).all())
    assert bool(torch.isnan(e[nan_rows]).all()) and not bool(torch.isnan(e[[0, 2, 5]]).any())
    assert bool((e[2, [0, 5, 18]] == 0).all()) and bool((e[5, :17] == 0).all())
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(e[[0, 2, 5]], ref[[0, 2, 5]], rtol=tol, atol=tol * 1e-3)


def test_softmax_refuses_scores_bounds_that_do_not_fit():
    """fused.softmax's pre = (pack, O, RB): a pack that is not 4 O values of the scores' dtype is refused by
    name before the C pass reads it."""
    s = torch.randn(2, 3, 4, 4)
    good = torch.tensor([-9.0] * 3 + [9.0] * 3 + [-8.0] * 3 + [8.0] * 3)
    assert fused.softmax(s, 1.0, 1.0, (good, 3, 4))[2] == 0
    for pack, O in ((good, 2), (good.double(), 3), (good[:8], 3)):
        with pytest.raises(ValueError, match="softmax: .* bounds"):
            fused.softmax(s, 1.0, 1.0, (pack, O, 4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_code_channel_constants_equal_broadcast_ones(dtype):
    """Per-channel ranges: the C loop indexes S constants by the flat index mod S; packed once per
    channel they give the values and the clip count of the same constants broadcast to every value."""
    g = torch.Generator().manual_seed(7)
    C, T = 24, 11
    a = -torch.rand(C, generator=g, dtype=torch.float64) * 2 - 0.1
    b = torch.rand(C, generator=g, dtype=torch.float64) * 2 + 0.1
    a[:3], b[3:6], a[3:6] = 0.0, 0.0, -1.5   # one-signed channels
    x = (torch.randn(5, T, C, generator=g, dtype=torch.float64) * 1.5).to(dtype)
    x[0, 0, :4] = 0.0
    lims = (a - 0.01, b + 0.01)
    small = native.log_pack(a, b, 0.02, 256, lims, dtype=dtype)
    wide = native.log_pack(*(torch.broadcast_to(t, (T, C)) for t in (a, b)), 0.02, 256,
                           tuple(torch.broadcast_to(t, (T, C)) for t in lims), dtype=dtype)
    out, n = native.log_ticks(x, small, 256)
    out_w, n_w = native.log_ticks(x, wide, 256)
    assert torch.equal(out, out_w) and n == n_w > 0


def test_log_code_population_packs_one_range_per_channel():
    """The emitting stage packs a per-channel layer's log-code constants once per channel (not per
    value of the trailing dimensions) and emits what the broadcast constants give."""
    g = torch.Generator().manual_seed(3)
    pop = Population("t", "identity", kind="linear")
    C = 16
    a = -torch.rand(C, generator=g, dtype=torch.float64) - 0.2
    b = torch.rand(C, generator=g, dtype=torch.float64) + 0.2
    pop.set_range(a, b)
    pop.set_code("log", 0.05)
    V = torch.randn(3, 7, C, generator=g) * 1.2
    ctx = Ctx(mode="quantized", precision=128)
    out = pop.emit(V.clone(), ctx)
    assert pop._log_cache[1].numel() == 12 * C
    lims = pop._count_bounds(V)
    wide = native.log_pack(*(torch.broadcast_to(t, (7, C)) for t in (a, b)), 0.05, 128,
                           tuple(torch.broadcast_to(t.double(), (7, C)) for t in lims), dtype=V.dtype)
    ref, n = native.log_ticks(V, wide, 128)
    assert torch.equal(out, ref)
    assert ctx.clipped.get("t", (0, 0))[0] == n > 0


def test_the_library_compiles_with_the_vector_flags(tmp_path):
    """A compile error in a vectorized path (AVX2, AVX-512) would pass unnoticed at run time: the loader
    falls back to the next flag set (plain -O3, the scalar rows), whose results are the same, only slower.
    So the sources must compile with -march=native wherever the compiler accepts that flag."""
    cc = native_build._compiler()
    probe = tmp_path / "probe.c"
    probe.write_text("int ttfs_probe(void) { return 0; }\n")
    if subprocess.run([cc, "-O3", "-march=native", "-shared", "-fPIC", str(probe), "-o", str(tmp_path / "p.so")],
                      capture_output=True).returncode != 0:
        pytest.skip("this compiler does not take -march=native")
    src = native_build.SOURCE_DIR
    r = subprocess.run([cc, "-O3", "-march=native", *native_build.COMMON_FLAGS, f"-I{src}", str(src / "ticks.c"),
                        "-o", str(tmp_path / "t.so"), "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "-march=native" in native.build_info()["flags"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("S", [1, 7, 64])
def test_gelu_clip_equals_torch(dtype, S):
    """fused.gelu_clip: clamp(F.gelu(x), a, b) to float rounding (libm's erf against torch's) and the
    count of the outputs outside [lo, hi]; NaN stays NaN and is not counted."""
    g = torch.Generator().manual_seed(S)
    x = (torch.randn(5, 3, S, generator=g, dtype=torch.float64) * 3).to(dtype)
    x.view(-1)[:4] = torch.tensor([0.0, -0.0, 40.0, -40.0], dtype=dtype)
    x.view(-1)[4] = math.nan
    a = -torch.rand(S, generator=g, dtype=torch.float64).to(dtype) * 0.1 - 0.05
    b = torch.rand(S, generator=g, dtype=torch.float64).to(dtype) * 2 + 0.5
    lo, hi = a - 1e-3, b + 1e-3
    y, n = fused.gelu_clip(x, torch.cat([lo, hi, a, b]).contiguous())
    f = torch.nn.functional.gelu(x)
    ref = torch.minimum(torch.maximum(f, a), b)
    assert n == int(((f < lo) | (f > hi)).sum()) > 0
    assert bool(torch.isnan(y.view(-1)[4])) and int(torch.isnan(y).sum()) == 1
    tol = 1e-15 if dtype == torch.float64 else 2e-6
    assert float((y - ref).abs().nan_to_num(0).max()) <= tol * (1 + float(x.abs().nan_to_num(0).max()))


def test_gelu_layer_fast_path_equals_emit_path():
    """The exact-mode GELU layer in float64 runs the fused C pass; it gives the values and the clip
    count of the layer-by-layer path (f by F.gelu, then the identity neurons' clip and count)."""
    from ttfs_symbolic.spiking.layers import SpikingActivation
    from ttfs_symbolic.spiking.population import terms

    g = torch.Generator().manual_seed(11)
    src = Population("src", "identity", kind="linear")
    src.set_range(-4.0, 4.0)
    act = SpikingActivation("act", "gelu", src)
    C = 12
    act.out.set_range(torch.full((C,), -0.16, dtype=torch.float64), torch.linspace(0.5, 3.0, C, dtype=torch.float64))
    act.out.range_kind = "channel"
    x = torch.randn(4, 9, C, generator=g, dtype=torch.float64) * 2.5
    ctx = Ctx(mode="exact")
    assert act._gelu_native(x, ctx)
    y = act(x, ctx)
    ref_ctx = Ctx(mode="exact")
    ref = act.out.emit(terms(x, src, act.kernel, ref_ctx, act.out), ref_ctx, fresh=True)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-15 * float(x.abs().max()))
    assert ctx.clipped == ref_ctx.clipped and ctx.clipped["act"][0] > 0 and ctx.checked == ref_ctx.checked
    assert not act._gelu_native(x.float(), ctx)   # float32: torch's GELU and the clip pass
    act.out.range_kind = "layer"   # ranges of the wrong shape: the same refusal as the emitting stage's
    with pytest.raises(ValueError, match="ranges have shape"):
        act(x, Ctx(mode="exact"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_layer_counts_in_both_paths(dtype):
    """Exact mode's softmax layer clips at b and counts in one C pass per row in float64 and in float32:
    the same probabilities as torch.softmax clamped, the same count."""
    from ttfs_symbolic.spiking import SpikingSoftmax

    src = Population("s", fixed_range=(-10.0, 10.0))
    sm = SpikingSoftmax("sm", src, 6)
    for pop in sm._populations():
        pop.finalize() if pop.range_fn is not None or pop.fixed_range is not None else None
    sm.out.set_range(0.0, 0.4)
    s = (torch.randn(3, 20, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2).to(dtype)
    ctx = Ctx(mode="exact")
    out = sm(s, ctx)
    e = torch.softmax(s, dim=-1)
    torch.testing.assert_close(out, e.clamp(max=0.4), rtol=1e-12 if dtype == torch.float64 else 2e-6, atol=1e-7)
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert ctx.clipped["sm"][0] == int((e > 0.4 * (1 + tol)).sum()) > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_clip_equals_torch_on_rows_and_on_a_slice(dtype, with_bias):
    """fused.bias_clip: clamp(x + bias, a, b) per channel and the count of the potentials outside [lo, hi],
    on a contiguous product and on the middle third of a wider one (q, k, v as one product: rows at the
    wider stride), whose other columns stay as they were; NaN stays NaN and is not counted."""
    g = torch.Generator().manual_seed(5)
    R, C = 37, 19
    wide = (torch.randn(R, 3 * C, generator=g, dtype=torch.float64) * 3).to(dtype)
    wide[4, C + 2] = math.nan
    bias = torch.randn(C, generator=g, dtype=torch.float64).to(dtype) if with_bias else None
    a = (-1.0 - torch.rand(C, generator=g, dtype=torch.float64)).to(dtype)
    b = (1.0 + torch.rand(C, generator=g, dtype=torch.float64)).to(dtype)
    lo, hi = a - 0.25, b + 0.25
    pack = torch.cat([lo, hi, a, b]).contiguous()
    for x in (wide[:, C:2 * C].clone(), wide[:, C:2 * C]):
        before = wide.clone()
        v = x + (bias if with_bias else 0)
        want = torch.minimum(torch.maximum(v, a), b)
        want[v.isnan()] = math.nan
        n = fused.bias_clip(x, bias, pack)
        assert n == int(((v < lo) | (v > hi)).sum()) > 0
        torch.testing.assert_close(x, want, rtol=0, atol=0, equal_nan=True)
        if x.data_ptr() != wide[:, C:2 * C].data_ptr():
            assert torch.equal(wide.nan_to_num(), before.nan_to_num())
        else:   # the slice: the columns of the other two thirds are untouched
            assert torch.equal(wide[:, :C].nan_to_num(), before[:, :C].nan_to_num())
            assert torch.equal(wide[:, 2 * C:], before[:, 2 * C:])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_clip_into_heads(dtype, with_bias):
    """fused.bias_clip with heads=(N, hd): the values and count of the in-place pass, written as contiguous
    (batch, head, token, head size) heads from the middle third of a wider product (q, k, v as one product;
    head size 20: a vector and a masked tail), the product left as it was; heads that do not split refused."""
    g = torch.Generator().manual_seed(6)
    B, N, H, hd = 3, 5, 4, 20
    C = H * hd
    wide = (torch.randn(B, N, 3 * C, generator=g, dtype=torch.float64) * 3).to(dtype)
    wide[1, 2, C + 7] = math.nan
    bias = torch.randn(C, generator=g, dtype=torch.float64).to(dtype) if with_bias else None
    a = (-1.0 - torch.rand(C, generator=g, dtype=torch.float64)).to(dtype)
    b = (1.0 + torch.rand(C, generator=g, dtype=torch.float64)).to(dtype)
    pack = torch.cat([a - 0.25, b + 0.25, a, b]).contiguous()
    before = wide.clone()
    x = wide[..., C:2 * C]
    ref = x.clone()
    n_ref = fused.bias_clip(ref, bias, pack)
    out, n = fused.bias_clip(x, bias, pack, heads=(N, hd))
    assert out.shape == (B, H, N, hd) and out.is_contiguous() and n == n_ref > 0
    torch.testing.assert_close(out, ref.reshape(B, N, H, hd).transpose(1, 2), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(wide.nan_to_num(), before.nan_to_num())
    with pytest.raises(ValueError, match="do not split"):
        fused.bias_clip(x, bias, pack, heads=(N, 7))


def test_bias_clip_refuses_what_it_cannot_index():
    """Rows at no single stride, or bounds / a bias that are not one per channel: a ValueError that says so."""
    x = torch.zeros(4, 6, 8)
    pack = torch.zeros(4 * 8)
    with pytest.raises(ValueError, match="one stride"):
        fused.bias_clip(x[:, 1:3, :], None, pack)
    with pytest.raises(ValueError, match="per-channel"):
        fused.bias_clip(x, None, torch.zeros(4 * 7))
    with pytest.raises(ValueError, match="per-channel"):
        fused.bias_clip(x, torch.zeros(7), pack)


def test_row_stride_of_contiguous_tensors_slices_and_others():
    """fused.row_stride: the distance between rows where all rows lie at one stride, else None."""
    t = torch.zeros(2, 5, 12)
    assert fused.row_stride(t) == 12 and fused.row_stride(t[0]) == 12 and fused.row_stride(t[..., 4:8]) == 12
    assert fused.row_stride(torch.zeros(7)) == 7
    assert fused.row_stride(t[:, :, ::2]) is None          # values not contiguous within a row
    assert fused.row_stride(t.transpose(0, 1)) is None      # rows of two strides
    assert fused.row_stride(t[:, 1:3, 4:8]) is None         # a block: rows at 12, then a jump



@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fine, values", [((3, 1, 1), (4, 3, 7, 7)),      # per head: blocks of 7*7 values
                                          ((3, 1, 5), (4, 3, 9, 5)),      # per head and feature, over 9 tokens
                                          ((2, 1, 1, 3), (2, 2, 4, 6, 3))])  # a run of two dimensions
@pytest.mark.parametrize("inplace", [True, False])
def test_clip_blocks_equals_the_broadcast_ranges(dtype, fine, values, inplace):
    """native.clip_blocks (ranges repeated over a middle run of dimensions, read once per block) gives the
    clip and both counts of native.clip_packed with the same ranges broadcast to every value; NaN kept."""
    g = torch.Generator().manual_seed(len(values))
    a = (-1.0 - torch.rand(fine, generator=g, dtype=torch.float64)).to(dtype)
    b = (1.0 + torch.rand(fine, generator=g, dtype=torch.float64)).to(dtype)
    lo, hi = a - 0.1, b + 0.1
    x = (torch.randn(values, generator=g, dtype=torch.float64) * 2).to(dtype)
    x.view(-1)[5] = math.nan
    trail = values[1:]
    wide = torch.cat([torch.broadcast_to(t, trail).reshape(-1) for t in (lo, hi, a, b)]).contiguous()
    want, n_want, o_want = native.clip_packed(x.clone(), wide, out=torch.empty_like(x))
    pack = torch.cat([t.reshape(-1) for t in (lo, hi, a, b)]).contiguous()
    pop = Population("p", fixed_range=(-1.0, 1.0))
    pop.fine_a = a.double()
    blocks = pop._blocks(values)
    assert blocks is not None and blocks[0] * blocks[2] == a.numel()
    y = x.clone()
    got, n, o = native.clip_blocks(y, pack, blocks, out=y if inplace else torch.empty_like(y))
    assert (n, o) == (n_want, o_want) and n > 0
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def test_clip_blocks_shapes_that_are_not_blocks():
    """Population._blocks: None where the ranges do not repeat over one middle run (two runs apart, or
    outer dimensions that differ), so the caller broadcasts them instead."""
    pop = Population("p", fixed_range=(-1.0, 1.0))
    pop.fine_a = torch.zeros(3, 1, 5, 1)
    assert pop._blocks((2, 3, 4, 5, 6)) is None          # ones at two places apart
    pop.fine_a = torch.zeros(3, 1, 1)
    assert pop._blocks((2, 4, 7, 7)) is None             # outer 3 against 4
    assert pop._blocks((2, 3, 7, 7)) == (3, 49, 1)


def test_layernorm_refuses_bounds_that_neither_are_one_range_nor_fill_rows():
    """fused.layernorm reads the centred and output bounds one per neuron of a row: one range is spread,
    a count that is not a multiple of the row is refused by name instead of read past."""
    x = torch.randn(4, 5, dtype=torch.float64)
    one = torch.tensor([-math.inf, math.inf, -10.0, 10.0], dtype=torch.float64)
    fused.layernorm(x, 1e-6, None, None, [one] * 5)   # one range for all: accepted
    bad = torch.zeros(4 * 3, dtype=torch.float64)
    for k in (1, 4):
        packs = [one] * 5
        packs[k] = bad
        with pytest.raises(ValueError, match=f"bounds {k} have 3 values: one, or a multiple of the row's 5"):
            fused.layernorm(x, 1e-6, None, None, packs)


@pytest.mark.parametrize("S, p", [(1, 1024), (192, 1024), (37, 1024), (37, 32), (1, 8)])
def test_log_code_float32_ticks_are_the_float64_ticks_but_at_rounding_ties(S, p):
    """The float32 log code (AVX-512: Cephes' log and exp in vecmath_avx512.h, the tick's exp as (|x| + e)
    times a short series where it is within 1/16 of log(|x| + e); elsewhere libm's) against the float64 C
    loop on the same float32 values, one range for all (S = 1) and per channel, at p = 1024, 32 (ticks
    0.12 apart in log: the series at its widest) and 8 (0.49 apart: the exp itself): every value within
    one tick of its float64 value, a tick differs only where the float64 potential lies within float32
    rounding of a half tick (here well under 1e-3 of the values; all others within 1e-6 of |x| + e), and
    the values a tick never moves (0, the range's ends) are equal."""
    if not native.available_for(torch.zeros(1)):
        pytest.skip("no C compiler: the torch loop is the only one")
    g = torch.Generator().manual_seed(S)
    r = 0.02
    a = -(torch.rand(S, generator=g, dtype=torch.float64) * 3 + 0.5)
    b = torch.rand(S, generator=g, dtype=torch.float64) * 3 + 0.5
    x = (torch.randn(8, 197, S, generator=g, dtype=torch.float64) * 2).float()
    x[0, 0] = 0.0
    x[0, 1], x[0, 2] = a.float(), b.float()
    out32, _ = native.log_ticks(x, native.log_pack(a, b, r, p, dtype=torch.float32), p)
    out64, _ = native.log_ticks(x.double(), native.log_pack(a, b, r, p, dtype=torch.float64), p)
    M = torch.maximum(a.abs(), b.abs())
    # one tick of the code at |x|: (|x| + e)(exp(du/p) - 1), du <= log((M + e)/e) (a part holding 0)
    tick = (out64.abs() + r * M) * math.expm1(math.log1p(1 / r) / p) * 1.01
    diff = (out32.double() - out64).abs()
    assert bool((diff <= tick + 1e-6 * (1 + out64.abs())).all())
    assert float((diff > 1e-6 * (out64.abs() + r * M)).double().mean()) < 1e-3
    assert torch.equal(out32[0, 0], torch.zeros(S))
    torch.testing.assert_close(out32[0, 1:3].double(), out64[0, 1:3], rtol=2e-6, atol=1e-7)
