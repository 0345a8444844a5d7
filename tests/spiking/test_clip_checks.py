"""The fused emitting passes of issue 22 against the layer-by-layer path, and ``check_clipping``.

Exact mode's fast paths (the clamp and count in one C pass, LayerNorm in one C pass, the softmax as one
fused op, attention's products one BLAS call per head) must give the layer-by-layer values: the path
taken with ``record=True`` (every layer on its own, as before issue 22) and the torch loops
(``TTFS_NATIVE=0``) are the references, to 1e-12 in float64, with the same clipping counts, for every
range kind, both product constructions and both residual modes. ``check_clipping`` changes what is
counted, never an output.
"""
from __future__ import annotations

import warnings

import pytest
import torch

from helpers import images, tiny_vit
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.spiking import ClippingWarning, Ctx, Population, SpikingLayerNorm
from ttfs_symbolic.numeric import fused, geometric, native, native_build

D = torch.float64
CONFIGS = [dict(range_kind=r, product=pr, residual=rs) for r in ("layer", "channel", "neuron")
           for pr, rs in (("paper", "neuron"), ("signed", "synapses"))]


@pytest.fixture(scope="module")
def snns():
    ann = tiny_vit(depth=2)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():   # timm's biases start at 0: distinct ones, so that every layer's bias counts
        for m in ann.modules():
            if isinstance(m, torch.nn.Linear) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
    x = images(12)
    return {tuple(sorted(kw.items())): convert(ann, x, progress=False, **kw) for kw in CONFIGS}


def _run(snn, x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        out = snn(x, **kw)
    return out, dict(snn.last_clipping)


def _c_loops_off(monkeypatch):
    """TTFS_NATIVE=0, and any C loop still called fails: the library this process built stays loaded, so
    a call past the availability checks would otherwise run (and, on a GPU, read device memory as host)."""
    monkeypatch.setenv("TTFS_NATIVE", "0")
    assert not native.available()

    def no_c_loop():
        raise AssertionError("a C loop was called with the C loops off")

    for module in (native_build, native, fused, geometric):
        monkeypatch.setattr(module, "built", no_c_loop)


def _assert_same_without_c(snn, x, mode, monkeypatch):
    """float64, ``mode`` (p = 256 at finite p): the torch loops (:func:`_c_loops_off`) give the C loops'
    outputs to 1e-12 and the same clipping counts."""
    kw = dict(dtype=D, mode=mode, precision=None if mode == "exact" else 256)
    got, gc = _run(snn, x, **kw)
    _c_loops_off(monkeypatch)
    ref, rc = _run(snn, x, **kw)
    assert _rel(got, ref) < 1e-12
    assert gc["clipped"] == rc["clipped"] and gc["checked"] == rc["checked"]


def _rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("key", [tuple(sorted(kw.items())) for kw in CONFIGS], ids=lambda k: "-".join(
    str(v) for _, v in k))
def test_exact_fast_paths_equal_the_layer_by_layer_path(snns, key):
    """Exact mode, float64, inputs that drive many neurons out of range: the fused passes give the
    layer-by-layer values to 1e-12 and the same clipping counts, per layer."""
    snn = snns[key]
    x = 3 * images(5, seed=7)
    fast, fc = _run(snn, x, dtype=D)
    ref, rc = _run(snn, x, dtype=D, record=True)
    assert _rel(fast, ref) < 1e-12
    assert fc["clipped"] == rc["clipped"] > 0 and fc["checked"] == rc["checked"]
    assert fc["layers"] == rc["layers"]


@pytest.mark.parametrize("key", [tuple(sorted(kw.items())) for kw in CONFIGS], ids=lambda k: "-".join(
    str(v) for _, v in k))
def test_exact_fast_paths_equal_the_layer_by_layer_path_in_float32(snns, key):
    """The same in float32, which takes the same C passes (the bias, clip and count after q, k and v's one
    matrix product and after every other linear layer; the softmax with libmvec's exp): the values to
    float32 rounding (the sums' order), the same clipping counts, per layer."""
    snn = snns[key]
    x = 3 * images(5, seed=7)
    fast, fc = _run(snn, x, dtype=torch.float32)
    ref, rc = _run(snn, x, dtype=torch.float32, record=True)
    assert _rel(fast, ref) < 1e-5
    assert fc["clipped"] == rc["clipped"] > 0 and fc["checked"] == rc["checked"]
    assert fc["layers"] == rc["layers"]


def test_qkv_as_one_product_leaves_each_layers_count_its_own(snns):
    """q, k and v run as one matrix product in exact mode, each third clipped by its own population: with
    the input driving neurons out of range, each of the three layers reports the count the layer-by-layer
    path gives it, and the same values (each third with its own bias)."""
    import copy

    snn = copy.deepcopy(snns[(("product", "signed"), ("range_kind", "channel"), ("residual", "synapses"))])
    for i, blk in enumerate(snn.blocks):   # narrowed to a different share of each layer's range
        for j, lin in enumerate((blk.attn.q, blk.attn.k, blk.attn.v)):
            f = (0.02 + 0.02 * j) * (1 + 0.5 * i)
            lin.out.set_range(lin.out.fine_a * f, lin.out.fine_b * f)
            with torch.no_grad():   # (timm's biases start at 0: distinct ones, so that a third's bias counts)
                lin.bias.copy_(torch.randn(lin.bias.shape, generator=torch.Generator().manual_seed(3 * i + j),
                                           dtype=lin.bias.dtype) * 0.05)
    x = images(3, seed=11)
    out, fc = _run(snn, x, dtype=D)
    ref, rc = _run(snn, x, dtype=D, record=True)
    names = [n for n in rc["layers"] if n.endswith((".attn.q", ".attn.k", ".attn.v"))]
    assert len(names) == 6 and len({rc["layers"][n] for n in names}) >= 4   # (mostly distinct)
    assert {n: fc["layers"][n] for n in names} == {n: rc["layers"][n] for n in names}
    assert _rel(out, ref) < 1e-12


@pytest.mark.parametrize("mode", ["exact", "quantized", "kernel"])
@pytest.mark.parametrize("key", [tuple(sorted(kw.items())) for kw in CONFIGS[::3] + CONFIGS[1::3]],
                         ids=lambda k: "-".join(str(v) for _, v in k))
def test_c_loops_equal_the_torch_loops(snns, key, mode, monkeypatch):
    """Every mode, float64: the C loops (default) and their torch references (TTFS_NATIVE=0, the GPU's
    code) give the same outputs (exact: 1e-12; quantized, kernel: the same ticks, sums to rounding) and
    the same clipping counts."""
    _assert_same_without_c(snns[key], 2 * images(4, seed=9), mode, monkeypatch)


@pytest.mark.parametrize("mode", ["exact", "quantized", "kernel"])
def test_default_conversion_runs_without_the_c_loops(mode, monkeypatch):
    """The default conversion (per-head ranges of the attention scores and context, per-channel ranges,
    log codes) in every mode with the torch loops only (TTFS_NATIVE=0: the code every GPU runs), float64:
    the C loops' outputs (exact: 1e-12) and clipping counts. (Exact mode's per-head clip once called the C
    loop without it.)"""
    ann = tiny_vit(depth=1)
    snn = convert(ann, images(8), progress=False)
    assert any(p.fine_a is not None and p.fine_a.dim() == 3 for p in snn.populations())   # per-head ranges
    _assert_same_without_c(snn, 2 * images(3, seed=4), mode, monkeypatch)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_scores_clip_in_the_softmax_pass_equals_its_own_pass(dtype, monkeypatch):
    """Exact mode clips and counts the attention scores (per-head ranges) inside the softmax's C pass
    (``SpikingSoftmax.from_scores``): the scores' own clip pass and then the softmax give the same
    probabilities (1e-12 in float64, float32 rounding in float32) and counts, with scores that clip in
    every head (a row's max among them, +-inf among them) and a NaN row; in a converted model every block takes it, with
    the layer-by-layer path's per-layer counts. (Per-neuron score ranges vary along a row and take the
    scores' own pass: test_exact_fast_paths_equal_the_layer_by_layer_path.)"""
    snn = convert(tiny_vit(depth=2), images(8), progress=False)
    attn = snn.blocks[0].attn
    sc, sm = attn.qk.out, attn.softmax
    H = sc.fine_a.shape[0]
    assert tuple(sc.fine_a.shape) == (H, 1, 1) and sc.row_groups((2, H, 7, 7)) == (H, 7)
    g = torch.Generator().manual_seed(5)
    V = (torch.randn(2, H, 7, 7, generator=g, dtype=D) * 40 * sc.fine_b.abs().max()).to(dtype)
    V[1, -1, 3, 2] = float("nan")
    V[0, 0, 1, 4], V[0, -1, 2, 0] = float("inf"), -float("inf")   # (clipped to b, a: finite probabilities)
    fast, slow = Ctx(mode="exact"), Ctx(mode="exact")
    got = sm.from_scores(V.clone(), sc, fast)
    ref = sm(sc.emit(V.clone(), slow, fresh=True), slow)
    assert torch.isnan(got[1, -1, 3]).all() and int(torch.isnan(got).sum()) == 7
    assert torch.equal(torch.isnan(got), torch.isnan(ref))
    torch.testing.assert_close(got.nan_to_num(), ref.nan_to_num(), rtol=0, atol=1e-12 if dtype == D else 1e-6)
    assert fast.clipped == slow.clipped and fast.checked == slow.checked
    assert fast.clipped[sc.pname][0] > V.numel() // 4   # (and the clip matters:)
    assert (got - torch.softmax(V, -1)).abs().nan_to_num().max() > 0.05
    calls = []
    real = fused.softmax
    monkeypatch.setattr(fused, "softmax", lambda *a: calls.append(a[3] is not None) or real(*a))
    x = images(3, seed=4)
    out, fc = _run(snn, x, dtype=dtype)
    ref_out, rc = _run(snn, x, dtype=dtype, record=True)
    assert calls == [True] * len(snn.blocks)
    assert _rel(out, ref_out) < (1e-12 if dtype == D else 1e-5)
    assert fc["layers"] == rc["layers"] and fc["checked"] == rc["checked"]


@pytest.mark.parametrize("dtype", [D, torch.float32])
@pytest.mark.parametrize("kind", ["layer", "channel", "neuron"])
def test_layernorm_in_one_pass_equals_its_layers(kind, dtype):
    """SpikingLayerNorm's exact C pass (fused.layernorm; float32 with AVX-512: 16 lanes, a masked tail of 8)
    against the five populations one by one, on inputs that clip every population: values to 1e-12
    (float64) or float32 rounding, counts per population equal."""
    torch.manual_seed(3)
    n = 24
    src = Population("src", fixed_range=(-10.0, 10.0))
    ln = SpikingLayerNorm("ln", src, (torch.rand(n, dtype=D) + 0.5).to(dtype), torch.randn(n, dtype=D).to(dtype),
                          1e-6, n)
    ctx = Ctx(mode="calibrate")
    x = torch.randn(6, 5, n, dtype=D)
    for pop in ln._populations():
        pop.range_kind = kind
    ln(x, ctx)
    for pop in ctx.order:
        pop.finalize()
    y = x * torch.linspace(0.2, 3.0, 5, dtype=D)[:, None] + torch.linspace(-2, 2, 6, dtype=D)[:, None, None]
    y = y.to(dtype)
    fast, slow = Ctx(mode="exact"), Ctx(mode="exact", record=True)
    a, b = ln(y, fast), ln(y, slow)
    assert ln._closed_form_native(y, Ctx(mode="exact")) and not ln._closed_form_native(y, slow)
    assert _rel(a, b) < (1e-12 if dtype == D else 1e-6)
    assert fast.clipped == slow.clipped and fast.checked == slow.checked
    assert len(fast.clipped) >= 3   # mean, centred, var/rsqrt or out: the clip paths are exercised


def test_check_clipping_changes_counts_never_outputs(snns, monkeypatch):
    """full, sample and off give the same outputs in every mode; off counts nothing and never warns;
    sample counts every neuron where the C loops count for free, a sample of rows where they do not."""
    snn = snns[tuple(sorted(CONFIGS[2].items()))]
    x = 4 * images(4, seed=5)
    for mode in ("exact", "quantized", "kernel"):
        kw = dict(dtype=D, mode=mode, precision=None if mode == "exact" else 128)
        outs, infos = {}, {}
        for check in ("full", "sample", "off"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outs[check] = snn(x, check_clipping=check, **kw)
            infos[check] = (dict(snn.last_clipping), [w for w in caught if issubclass(w.category, ClippingWarning)])
        assert torch.equal(outs["full"], outs["sample"]) and torch.equal(outs["full"], outs["off"])
        (full, wf), (sample, ws), (off, wo) = infos["full"], infos["sample"], infos["off"]
        assert full["clipped"] > 0 and len(wf) == 1 and full["check"] == "full" and not full["sampled"]
        assert (sample["clipped"], sample["checked"], sample["sampled"]) == (full["clipped"], full["checked"], False)
        assert len(ws) == 1
        assert off == {"rate": 0.0, "clipped": 0, "checked": 0, "layers": {}, "check": "off", "sampled": False}
        assert not wo
    monkeypatch.setenv("TTFS_NATIVE", "0")
    _, full = _run(snn, x, dtype=D)
    _, sample = _run(snn, x, dtype=D, check_clipping="sample")
    assert sample["sampled"] and 0 < sample["checked"] < full["checked"]
    assert 0 < sample["clipped"] <= full["clipped"]
    assert abs(sample["rate"] - full["rate"]) < 0.5 * full["rate"]
    with pytest.raises(ValueError, match="check_clipping must be one of"):
        snn(x, check_clipping="some")
