"""Finite time precision: the signed product network, per-channel / per-neuron ranges, the error
budget and clipping that is never silent (issue: lossless at finite precision on deep models)."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from ttfs_symbolic.numeric import dynamics
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.conversion.fileformat import load_conversion, save_conversion
from ttfs_symbolic.energy import count_ops, product_counts
from ttfs_symbolic.evaluation.report import _rel_error, error_budget, layer_groups
from ttfs_symbolic.spiking import (ClippingWarning, Ctx, Population, Product, SignedOperand,
                                         SpikingLinear, signed_error_proxy, signed_layer1_range)

from helpers import images, tiny_vit

D = torch.float64


def factors(seed, shape1, shape2, loc1=0.0, loc2=0.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape1, generator=g, dtype=D) + loc1, torch.randn(*shape2, generator=g, dtype=D) + loc2)


def product_of(x1, x2, construction, matmul=True):
    p1 = Population("x1", fixed_range=(float(x1.min()), float(x1.max())))
    p2 = Population("x2", fixed_range=(float(x2.min()), float(x2.max())))
    prod = Product("prod", p1, p2, Population("out"), matmul=matmul, construction=construction)
    with torch.no_grad():
        prod(x1, x2, Ctx(mode="calibrate"))
    for i, pop in enumerate([p1, p2, prod.y, prod.out]):
        pop.finalize()
        pop.window = i + 1
    return prod


def run(prod, x1, x2, mode="exact", p=None, record=False):
    with torch.no_grad():
        return prod(x1, x2, Ctx(mode=mode, precision=p, record=record))


# --------------------------------------------------------------------------- signed product

@pytest.mark.parametrize("a,b,parts,low", [(-2.0, 3.0, (1, -1), 0.0), (0.5, 3.0, (1,), 0.5), (0.0, 1.0, (1,), 0.0),
                                           (-3.0, -0.25, (-1,), 0.25)])
def test_signed_operand_parts(a, b, parts, low):
    o = SignedOperand.of(a, b, 0.01)
    assert o.parts == parts and o.low == low
    assert o.M == max(abs(a), abs(b)) and o.e == pytest.approx(0.01 * o.M)
    assert o.c == (0 if len(parts) == 2 else parts[0])
    x = torch.linspace(a, b, 11, dtype=D)
    # x = sum over parts of sigma * relu(sigma x): the split is exact
    assert torch.equal(sum(s * torch.relu(s * x) for s in parts), x)


@pytest.mark.parametrize("loc1,loc2", [(0.0, 0.0), (3.0, 0.0), (0.0, -4.0), (3.0, 4.0)])
def test_signed_layer1_range_holds_every_potential(loc1, loc2):
    x1, x2 = factors(3, (40,), (40,), loc1, loc2)
    prod = product_of(x1, x2, "signed", matmul=False)
    o1, o2 = prod.operands()
    lo, hi = signed_layer1_range(o1, o2)
    assert (prod.y.a, prod.y.b) == (lo, hi)
    # every pair of parts: y = log(relu(s1 x1) + e1) + log(relu(s2 x2) + e2)
    for s1 in o1.parts:
        for s2 in o2.parts:
            u1 = torch.relu(s1 * x1) if o1.split else s1 * x1
            u2 = torch.relu(s2 * x2) if o2.split else s2 * x2
            y = torch.log(u1 + o1.e)[:, None] + torch.log(u2 + o2.e)[None, :]
            assert float(y.min()) >= lo - 1e-12 and float(y.max()) <= hi + 1e-12


@pytest.mark.parametrize("loc1,loc2", [(0.0, 0.0), (3.0, 0.0), (0.2, -4.0)])
@pytest.mark.parametrize("matmul", [False, True])
def test_signed_exact_mode_is_the_product(loc1, loc2, matmul):
    """Exact mode of the signed network is x1 x2 (its layer I cannot clip), as the paper's."""
    shapes = ((2, 4, 6), (2, 6, 3)) if matmul else ((2, 5), (2, 5))
    x1, x2 = factors(5, *shapes, loc1, loc2)
    prod = product_of(x1, x2, "signed", matmul)
    ref = x1 @ x2 if matmul else x1 * x2
    assert torch.allclose(run(prod, x1, x2), ref, rtol=0, atol=1e-12 * (1 + float(ref.abs().max())))


def _closed_form_signed(prod, x1, x2, p):
    """Independent float64 reference of the signed network in quantized mode, neuron by neuron:
    every layer-I neuron (i, j, k, pair) built explicitly, its potential rounded to the nearest of
    p ticks of layer I's range, layer II summing sigma1 sigma2 exp(y_hat) and the delayed corrections."""
    o1, o2 = prod.operands()
    lo, hi = prod.y.a, prod.y.b
    d = hi - lo
    V = torch.zeros(x1.shape[0], x2.shape[1], dtype=D)
    for s1 in o1.parts:
        u1 = torch.relu(s1 * x1) if o1.split else s1 * x1
        for s2 in o2.parts:
            u2 = torch.relu(s2 * x2) if o2.split else s2 * x2
            y = torch.log(u1 + o1.e)[:, :, None] + torch.log(u2 + o2.e)[None, :, :]   # (M, K, N)
            k = torch.round((hi - y) * p / d).clamp(0, p)
            V += s1 * s2 * torch.exp(hi - k * d / p).sum(1)
    K = x1.shape[1]
    V -= o2.c * o2.e * x1.sum(1, keepdim=True) + o1.c * o1.e * x2.sum(0, keepdim=True) + K * o1.c * o2.c * o1.e * o2.e
    return V


@pytest.mark.parametrize("loc1,loc2", [(0.0, 0.0), (2.5, 0.0), (0.0, -3.0)])
def test_signed_quantized_matches_neuron_by_neuron_reference(loc1, loc2):
    """The fast path (sign folded into the table of the C loop, silent-part neurons by matrix
    products) gives what the neurons themselves give, built one by one."""
    x1, x2 = factors(7, (5, 8), (8, 4), loc1, loc2)
    prod = product_of(x1, x2, "signed")
    for p in (16, 1024):
        got = run(prod, x1, x2, "quantized", p)
        # layer II's own spike, rounded on its range like any identity neuron
        ref = dynamics.quantize_values(_closed_form_signed(prod, x1, x2, p), prod.out.a, prod.out.b, p)
        assert torch.allclose(got, ref, rtol=1e-12, atol=1e-12), float((got - ref).abs().max())


def test_signed_spike_accounting():
    x1 = torch.randn(2, 4, 6, dtype=D).clamp(min=-0.5)
    x2 = torch.randn(2, 6, 3, dtype=D)
    x1[0, 0, :] = 0.0                     # both parts of these entries silent
    prod = product_of(x1, x2, "signed")
    o1, o2 = prod.operands()
    assert prod.neurons_per_term() == len(o1.parts) * len(o2.parts) == 4
    run(prod, x1, x2, record=True)
    st = prod.y.stats
    assert st.neurons == 4 * 2 * 4 * 6 * 3
    silent = 0
    for s1 in o1.parts:
        for s2 in o2.parts:
            z = (torch.relu(s1 * x1) == 0).unsqueeze(-1) & (torch.relu(s2 * x2) == 0).unsqueeze(-3)
            silent += int(z.sum())
    assert st.spikes == st.neurons - silent
    exact_spikes = st.spikes
    st.__init__()
    run(prod, x1, x2, "quantized", 1024, record=True)
    assert st.neurons == 4 * 2 * 4 * 6 * 3 and st.spikes <= exact_spikes


def test_signed_error_far_below_paper_on_mixed_signs():
    """The point of the construction: with factors of both signs and ranges far from 0, the
    paper's layer-I error is relative to (x1 + c1)(x2 + c2), the signed one's to about |x1 x2|."""
    x1, x2 = factors(11, (16, 32), (32, 16))
    x1, x2 = 3 * x1, 3 * x2
    errs = {}
    for cons in ("paper", "signed"):
        prod = product_of(x1, x2, cons)
        ex = run(prod, x1, x2)
        errs[cons] = _rel_error(run(prod, x1, x2, "quantized", 1024), ex)
    assert errs["signed"] < errs["paper"] / 3, errs


def test_shift_chosen_by_the_error_proxy():
    g = np.random.default_rng(0)
    x1, x2 = g.normal(size=4000), g.normal(size=4000)
    prod = product_of(torch.as_tensor(x1), torch.as_tensor(x2), "signed", matmul=False)
    prod.p1.stats.samples, prod.p2.stats.samples = [x1], [x2]
    prod.choose_shift()
    a1, b1, a2, b2 = prod.p1.a, prod.p1.b, prod.p2.a, prod.p2.b
    from ttfs_symbolic.spiking import SHIFT_CANDIDATES

    proxies = {r: signed_error_proxy(r, x1, x2, a1, b1, a2, b2) for r in SHIFT_CANDIDATES}
    assert proxies[prod.r] == min(proxies.values())
    assert len(set(proxies.values())) > 1


def _fine_factor_product(outlier: float = 1000.0):
    """An elementwise product like LayerNorm's: a centred factor with per-channel ranges, one channel
    ``outlier`` times the others, times a positive per-row factor in [0.5, 2]."""
    g = torch.Generator().manual_seed(3)
    x1 = torch.randn(256, 16, generator=g, dtype=D)
    x1[:, 0] *= outlier
    x2 = 0.5 + 1.5 * torch.rand(256, 1, generator=g, dtype=D)
    p1 = Population("c", kind="ln_centred")
    p1.range_kind = "channel"
    p2 = Population("s", fixed_range=(0.5, 2.0))
    prod = Product("prod", p1, p2, Population("out"), matmul=False)
    with torch.no_grad():
        ctx = Ctx(mode="calibrate")
        prod(p1.emit(x1, ctx, fresh=True), p2.emit(x2, ctx, fresh=True), ctx)
    p1.finalize(sigmas=0.0)
    for i, pop in enumerate([p1, p2, prod.y, prod.out]):
        if pop is not p1:
            pop.finalize()
        pop.window = i + 1
    return prod, x1, x2


def test_shift_of_a_factor_with_per_channel_ranges_follows_each_channels_range():
    """Each element of a fine factor gets the shift e = r M_c of its own channel (the product's per-element
    construction), so the shift is chosen on those: the envelope's M (the outlier channel's) would make
    every other channel's shift look large and pick too small an r, whose layer-I range is wider."""
    prod, x1, x2 = _fine_factor_product()
    p1 = prod.p1
    assert p1.fine
    from ttfs_symbolic.spiking import SHIFT_CANDIDATES

    M = torch.maximum(p1.fine_a.abs(), p1.fine_b.abs()).reshape(1, -1).numpy()   # per channel
    X1, X2 = x1.numpy(), np.broadcast_to(x2.numpy(), x1.shape)

    def by_hand(r):   # every element with its own channel's shift; x2 one-signed in [0.5, 2]
        e1, e2 = r * M, r * 2.0
        d = np.log(M + e1) - np.log(e1) + math.log(2.0 + e2) - math.log(0.5 + e2)
        m1, m2 = np.abs(X1) + e1, np.abs(X2) + e2
        return float(np.mean(((m1 * m2) ** 2 + (e1 * m2) ** 2) * d ** 2))

    hand = {r: by_hand(r) for r in SHIFT_CANDIDATES}
    assert hand[prod.r] <= 1.05 * min(hand.values()), (prod.r, hand)
    envelope_r = min(SHIFT_CANDIDATES, key=lambda r: signed_error_proxy(
        r, X1.ravel(), X2.ravel(), p1.a, p1.b, 0.5, 2.0))
    assert envelope_r < prod.r

    ex = run(prod, x1, x2)
    errs = {}
    for r in (prod.r, envelope_r):
        prod.r = r
        prod.y.set_range(*signed_layer1_range(*prod.operands()))
        with torch.no_grad():
            q = prod(x1, x2, Ctx(mode="quantized", precision=1024, only=frozenset({id(prod.y)})))
        errs[r] = _rel_error(q, ex)
    assert errs[max(errs)] < errs[envelope_r] / 1.15, errs


# --------------------------------------------------------------------------- model level

def test_converted_model_product_constructions():
    ann = tiny_vit()
    x = images(6)
    with torch.no_grad():
        ref = ann.double()(x.double())
    ann.float()
    outs = {}
    for cons in ("paper", "signed"):
        snn = convert(ann, x, progress=False, product=cons)
        assert {m.construction for m in snn.modules() if isinstance(m, Product)} == {cons}
        ex = snn(x, mode="exact", dtype=D)
        assert float((ex - ref).abs().max()) <= 1e-9 * float(ref.abs().max())
        outs[cons] = [_rel_error(snn(x, mode=m, precision=4096, dtype=D), ex) for m in ("quantized", "kernel")]
    assert all(e < 0.2 for e in outs["signed"]), outs


@pytest.mark.parametrize("kind", ["channel", "neuron"])
def test_fine_ranges_equal_layer_ranges_when_shared(kind):
    """Per-channel (per-neuron) ranges that all equal the layer's range give the per-layer model's output."""
    ann = tiny_vit()
    x = images(6)
    snn = convert(ann, x, progress=False, preset="paper", product="signed")
    want = {m: snn(x, mode=m, precision=64, dtype=D, warn=False) for m in ("quantized", "kernel")}
    fine = convert(ann, x, progress=False, range_kind=kind, preset="paper", product="signed")
    n_fine = 0
    for p, q in zip(snn.populations(), fine.populations()):
        assert p.pname == q.pname
        if q.fine:
            n_fine += 1
            q.set_range(torch.full_like(q.fine_a, p.a), torch.full_like(q.fine_b, p.b))
        else:
            q.set_range(p.a, p.b)
    for m, q in zip([m for m in snn.modules() if isinstance(m, Product)],
                    [m for m in fine.modules() if isinstance(m, Product)]):
        q.r = m.r      # the shift was chosen on the envelope of the fine ranges: take the layer model's
    assert n_fine > 10
    for mode, out in want.items():
        got = fine(x, mode=mode, precision=64, dtype=D, warn=False)
        assert torch.allclose(got, out, rtol=1e-12, atol=1e-12), (mode, float((got - out).abs().max()))


def test_neuron_ranges_lower_the_error_and_stay_exact():
    ann = tiny_vit(depth=3)
    x = images(24)
    with torch.no_grad():
        ref = ann.double()(x.double())
    ann.float()
    err = {}
    for kind in ("layer", "neuron"):
        snn = convert(ann, x, progress=False, range_kind=kind)
        ex = snn(x, mode="exact", dtype=D)
        assert float((ex - ref).abs().max()) <= 1e-9 * float(ref.abs().max())   # ranges cover the data
        assert snn.last_clipping["clipped"] == 0
        err[kind] = _rel_error(snn(x, mode="quantized", precision=256, dtype=D, warn=False), ex)
    assert err["neuron"] < err["layer"], err


def test_fine_ranges_saved_and_loaded(tmp_path):
    ann = tiny_vit()
    x = images(6)
    snn = convert(ann, x, progress=False, range_kind="neuron", margin=0.1)
    path = save_conversion(snn, tmp_path / "conv.json")
    data = json.loads(path.read_text())
    assert data["version"] >= 3 and any(isinstance(v["a"], list) for v in data["layers"].values())
    assert all(v["construction"] == "signed" for v in data["products"].values())
    back = load_conversion(ann, path)
    for mode in ("quantized", "kernel"):
        assert torch.equal(back(x, mode=mode, precision=128, dtype=D), snn(x, mode=mode, precision=128, dtype=D))
    # a file without "products" (format 2) was made with the paper's construction
    del data["products"]
    data["version"] = 2
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert {m.construction for m in load_conversion(ann, old).modules() if isinstance(m, Product)} == {"paper"}


def test_fine_range_refuses_bad_shapes_and_order():
    pop = Population("x")
    with pytest.raises(ValueError, match="a >= b"):
        pop.set_range(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="shapes differ"):
        pop.set_range(torch.zeros(2), torch.ones(3))


# --------------------------------------------------------------------------- error budget

def test_error_budget_shares_match_single_group_runs():
    ann = tiny_vit()
    x = images(4)
    snn = convert(ann, x, progress=False, preset="paper", product="signed")
    budget = error_budget(snn, x, precision=64, curve=(16, 64), progress=False)
    groups = layer_groups(snn, "kind")
    # the groups partition the layers that hold neurons (relays round nothing)
    names = [n for layers in groups.values() for n in layers]
    assert sorted(names) == sorted(p.pname for p in snn.populations() if not p.relay)
    ref = snn(x, mode="exact", dtype=D)
    for name, layers in groups.items():
        alone = _rel_error(snn(x, mode="quantized", precision=64, dtype=D, only=layers, warn=False), ref)
        assert budget.groups[name]["error"] == pytest.approx(alone, rel=1e-12, abs=1e-15)
    assert sum(g["share"] for g in budget.groups.values()) == pytest.approx(1.0)
    everything = _rel_error(snn(x, mode="quantized", precision=64, dtype=D, warn=False), ref)
    assert budget.total_error == pytest.approx(everything, rel=1e-12)
    assert budget.curve[64] == budget.total_error and budget.curve[16] > budget.curve[64]
    # a group that holds every layer is the whole model
    assert _rel_error(snn(x, mode="quantized", precision=64, dtype=D, only=names, warn=False), ref) == \
        pytest.approx(everything, rel=1e-12)
    assert "relative output error" in str(budget)


def test_error_budget_by_block_and_outputs(tmp_path):
    ann = tiny_vit()
    x = images(3)
    snn = convert(ann, x, progress=False)
    budget = error_budget(snn, x, mode="kernel", precision=64, by="block", curve=(), progress=False)
    assert set(budget.groups) == {"blocks.0", "blocks.1", "outside blocks"}
    assert json.loads(budget.save(tmp_path / "b.json").read_text())["by"] == "block"
    assert budget.plot(tmp_path / "b.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="unknown layer"):
        snn(x, mode="quantized", precision=64, only=["nope"])
    with pytest.raises(ValueError, match="finite-precision"):
        error_budget(snn, x, mode="exact")


# --------------------------------------------------------------------------- clipping

def test_clipping_is_counted_and_warned_once_per_call():
    ann = tiny_vit()
    x = images(8)
    snn = convert(ann, x, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snn(x, mode="exact", dtype=D)          # calibration data: nothing clips, no warning
    assert snn.last_clipping["clipped"] == 0 and snn.last_clipping["checked"] > 0
    for mode in ("exact", "quantized", "kernel"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            snn(4 * x, mode=mode, precision=None if mode == "exact" else 256)
        clip = [w for w in caught if issubclass(w.category, ClippingWarning)]
        assert len(clip) == 1, mode
        info = snn.last_clipping
        assert 0 < info["rate"] < 1 and info["clipped"] > 0
        worst = max(info["layers"], key=info["layers"].get)
        assert worst in str(clip[0].message) and "margin" in str(clip[0].message)


def test_clip_count_of_one_layer_is_exact():
    w = torch.randn(6, 4, dtype=D)
    lin = SpikingLinear("lin", w, None)
    x = torch.randn(5, 4, dtype=D)
    with torch.no_grad():
        lin(x, Ctx(mode="calibrate"))
    lin.out.finalize()
    y = 2 * x
    V = y @ w.T
    ctx = Ctx(mode="exact")
    with torch.no_grad():
        lin(y, ctx)
    want = int(((V < lin.out.a) | (V > lin.out.b)).sum())
    assert want > 0 and ctx.clipped["lin"] == (want, V.numel())


# --------------------------------------------------------------------------- energy

def test_energy_of_each_construction():
    assert product_counts(3, 5, 7, "paper") == (3 * 7 * 6, 5 * 3 * 5 * 7)
    assert product_counts(3, 5, 7, "signed", 4, 0) == (3 * 7 * 21, 12 * 3 * 5 * 7)
    assert product_counts(3, 5, 7, "signed", 2, 1) == (3 * 7 * 11, 7 * 3 * 5 * 7)
    paper = count_ops("vit_tiny_patch16_224")
    signed = count_ops("vit_tiny_patch16_224", product="signed")
    assert signed.op_snn > paper.op_snn and signed.op_ann == paper.op_ann
    qk = [r for r in signed.rows if r.name.endswith("qk_matmul")][0]
    T, hd, H = 197, 64, 3
    assert qk.op_snn == H * 12 * T * T * hd and qk.neurons == H * T * T * (4 * hd + 1)
    with pytest.raises(ValueError, match="construction"):
        count_ops("vit_tiny_patch16_224", product="fast")


def test_report_counts_the_built_signed_network():
    """The layer-I neurons the converted model records equal the energy count of its construction."""
    ann = tiny_vit(depth=1)
    x = images(2)
    snn = convert(ann, x, progress=False)
    from ttfs_symbolic.evaluation.report import evaluate

    rep = evaluate(snn, ann, x, progress=False)
    T, H, hd = snn.n_tokens, 2, 8
    layer1 = {r.name: r.neurons for r in rep.layers if r.kind == "product_layer1"}
    qk_pairs = snn.blocks[0].attn.qk.neurons_per_term()
    av_pairs = snn.blocks[0].attn.av.neurons_per_term()
    assert layer1["blocks.0.attn.qk.layer1"] == H * T * T * hd * qk_pairs
    assert layer1["blocks.0.attn.av.layer1"] == H * T * hd * T * av_pairs
    assert av_pairs == 2      # softmax is one-signed, v takes both signs
    assert math.isfinite(rep.energy_ratio)


# --------------------------------------------------------------------------- CLI

def test_budget_cli(tmp_path, capsys):
    from ttfs_symbolic.cli import main

    out = tmp_path / "b"
    assert main(["budget", "digits", "--calib", "60", "--inputs", "12", "--precision", "128", "--curve", "32,128",
                 "--by", "block", "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "budget.json").read_text())
    assert data["precision"] == 128 and set(data["curve"]) == {"32", "128"}
    assert set(data["groups"]) == {"blocks.0", "blocks.1", "blocks.2", "outside blocks"}
    assert (out / "budget.png").stat().st_size > 1000
    assert "error budget" in capsys.readouterr().out


@pytest.mark.parametrize("args,word", [(["--precision", "0"], "--precision"), (["--curve", "a"], "--curve"),
                                       (["--precision", "64,128"], "one value"), (["--margin", "-1"], "--margin")])
def test_budget_cli_bad_arguments(args, word, capsys):
    from ttfs_symbolic.cli import main

    assert main(["budget", "digits", *args]) == 2
    err = capsys.readouterr().err
    assert word in err and "Traceback" not in err


def test_signed_elementwise_product_with_per_neuron_ranges():
    """Factors with per-neuron ranges: each element's layer I gets its own shifts and range (the same
    construction element by element). Checked against a per-element reference, and against one range
    per layer on factors whose scales differ by 100x (LayerNorm of a token with a small spread)."""
    g = torch.Generator().manual_seed(3)
    scale = torch.tensor([[0.01], [1.0], [3.0]], dtype=D)                # three "tokens" of different spread
    x1 = torch.randn(8, 3, 5, generator=g, dtype=D) * scale
    x2 = torch.rand(8, 3, 1, generator=g, dtype=D) * scale * 4 + 0.1     # one-signed (rsqrt-like)
    errs = {}
    for fine in (False, True):
        p1 = Population("x1", kind="ln_centred")
        p2 = Population("x2", kind="ln_rsqrt")
        if fine:
            p1.set_range(x1.amin(0), x1.amax(0))
            p2.set_range(x2.amin(0), x2.amax(0))
        else:
            p1.set_range(float(x1.min()), float(x1.max()))
            p2.set_range(float(x2.min()), float(x2.max()))
        out = Population("out")
        out.set_range(float((x1 * x2).min()), float((x1 * x2).max()))
        prod = Product("prod", p1, p2, out, matmul=False, construction="signed")
        prod.y.set_range(*prod._layer1_range())
        p = 256
        got = run(prod, x1, x2, "quantized", p)
        errs[fine] = float((got - x1 * x2).abs().max())
        if fine:
            o1, o2 = prod.operands()
            M1 = torch.maximum(p1.fine_a.abs(), p1.fine_b.abs())
            M2 = torch.maximum(p2.fine_a.abs(), p2.fine_b.abs())
            e1, e2 = prod.r * M1, prod.r * M2
            low2 = torch.minimum(p2.fine_a.abs(), p2.fine_b.abs())
            lo, hi = torch.log(e1) + torch.log(low2 + e2), torch.log(M1 + e1) + torch.log(M2 + e2)
            d = hi - lo

            def E(y):
                return torch.exp(hi - torch.round((hi - y) * p / d).clamp(0, p) * d / p)

            s1 = torch.where(x1 < 0, -1.0, 1.0).to(D)
            V = s1 * (E(torch.log(x1.abs() + e1) + torch.log(x2 + e2)) - E(torch.log(e1) + torch.log(x2 + e2)))
            V = V - e2 * x1          # sum_s1 s1 (u1 + e1)(x2 + e2) = x1 (x2 + e2): the delayed correction (c2 = +1)
            ref = dynamics.quantize_values(V, out.a, out.b, p)
            assert torch.allclose(got, ref, rtol=1e-12, atol=1e-12)
            # and the whole error obeys the per-element bound (plus the output neuron's half tick)
            bound = ((x1.abs() + e1) * (x2 + e2) + e1 * (x2 + e2)) * torch.expm1(d / (2 * p)) + out.d / (2 * p)
            assert bool(((got - x1 * x2).abs() <= bound + 1e-12).all())
    assert errs[True] < errs[False]


def test_activation_ranges_are_images_of_their_senders():
    """With per-neuron ranges, an activation's range holds f of every value its sender can emit, so it
    clips only where its sender does."""
    ann = tiny_vit()
    snn = convert(ann, images(8), progress=False, range_kind="neuron")
    blk = snn.blocks[0]
    for out, src, kern in ((blk.act.out, blk.fc1.out, blk.act.kernel),):
        assert out.fine and src.fine and out.image_of[0] is src
        t = torch.rand(2000, *src.fine_a.shape, generator=torch.Generator().manual_seed(0), dtype=D)
        x = src.fine_a + (src.fine_b - src.fine_a) * t
        y = kern.f_fn("torch")(torch.cat([x, src.fine_a[None], src.fine_b[None]]))
        assert bool((y >= out.fine_a).all() and (y <= out.fine_b).all()), out.pname


def test_softmax_output_range_clipping_is_counted_in_the_exact_fast_path():
    """Softmax's layer II range [0, b] is calibrated: a sharper attention than any seen clips, and the
    closed-form path of exact mode counts it like any layer."""
    from ttfs_symbolic.spiking import SpikingSoftmax

    src = Population("s", fixed_range=(-10.0, 10.0))
    sm = SpikingSoftmax("sm", src, 6)
    s = torch.randn(20, 6, dtype=D, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        sm(s, Ctx(mode="calibrate"))
    for pop in (sm.max, sm.z, sm.lse, sm.out):
        pop.finalize()
    assert sm.out.a == 0.0 and sm.out.b < 0.5
    sharp = s.clone()
    sharp[0, 0] = 9.0                          # probability ~1 in row 0
    ctx = Ctx(mode="exact")
    with torch.no_grad():
        out = sm(sharp, ctx)
    assert ctx.clipped["sm"][0] == 1 and float(out.max()) == sm.out.b


def test_optimal_range_trades_clipping_for_ticks():
    from ttfs_symbolic.spiking import optimal_range

    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, 20000)
    # no outliers: (nearly) the whole range is best (clipping a uniform sample costs more than it saves)
    a0, b0 = optimal_range(x, 1024, float(x.min()), float(x.max()))
    assert b0 - a0 >= 0.999 * (x.max() - x.min())
    y = rng.standard_normal(20000)
    lo, hi = float(y.min()), float(y.max())

    def err(lo_, hi_, p):
        c = np.clip(y, lo_, hi_) - y
        return np.mean(c * c) + ((hi_ - lo_) / p) ** 2 / 12

    a, b = optimal_range(y, 1024, lo, hi)
    a8, b8 = optimal_range(y, 8, lo, hi)
    # at p = 8 a tick is worth more than the rare tails: the range is far narrower and better there
    assert lo < a8 < b8 < hi and (b8 - a8) < 0.8 * (b - a)
    assert err(a8, b8, 8) < 0.5 * err(lo, hi, 8)
    assert err(a, b, 1024) <= err(lo, hi, 1024)


def test_convert_optimize_for():
    ann = tiny_vit()
    x = images(8)
    snn = convert(ann, x, progress=False, optimize_for=256)
    assert snn.calibration["optimize_for"] == 256
    ref = convert(ann, x, progress=False)
    assert all(p.d <= q.d * (1 + 1e-12) for p, q in zip(snn.populations(), ref.populations())
               if p.fixed_range is None and p.range_fn is None and p.image_of is None)
    with pytest.raises(ValueError, match="optimize_for"):
        convert(ann, x, progress=False, optimize_for=0)
