"""What a user of the converted models notices, checked against hand computations (issue 23, mutation testing).

Each test is the one scripts/mutate.py relies on to kill a plausible bug: a masked BERT key's neuron
firing, evaluate's clipping warning inverted, the CLI sweep's clip rate summed over the wrong layers,
per-channel statistics (the sign in mean - sigmas*std, the count not scaled by tokens), the signed
product's shift proxy without its range factor, a residual relay given an emitting window, BERT's
residual-synapse operations halved, torchrun calibration seeded per rank-local batch. Small models only.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from helpers import images, tiny_vit
from ttfs_symbolic import convert, evaluate
from ttfs_symbolic.spiking import ClippingWarning, Population, PopStats


@pytest.fixture(scope="module")
def vit():
    ann = tiny_vit().double()
    x = images(4).double()
    return ann, x, convert(ann, x, progress=False, preset="paper")


# ------------------------------------------------------------------ evaluate's clipping warning

def test_evaluate_warns_once_when_neurons_clip_and_never_otherwise(vit):
    ann, x, snn = vit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet = evaluate(snn, ann, x, progress=False, dtype=torch.float64)
    assert not [w for w in caught if issubclass(w.category, ClippingWarning)]
    assert quiet.clip_rate == 0.0 and quiet.agreement == 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loud = evaluate(snn, ann, 10 * x, progress=False, dtype=torch.float64, batch_size=2)
    clipping = [w for w in caught if issubclass(w.category, ClippingWarning)]
    assert len(clipping) == 1 and "evaluate (exact, 4 inputs)" in str(clipping[0].message)
    assert 0 < loud.clip_rate < 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(snn, ann, 10 * x, progress=False, dtype=torch.float64, warn=False)
    assert not [w for w in caught if issubclass(w.category, ClippingWarning)]


def test_evaluate_clip_rate_is_summed_over_the_batches(vit):
    ann, x, snn = vit
    big = 10 * x
    big[2:] = x[2:]   # the second batch clips less than the first
    clipped = checked = 0
    for part in (big[:2], big[2:]):
        snn(part, dtype=torch.float64, record=True, warn=False)
        clipped += snn.last_clipping["clipped"]
        checked += snn.last_clipping["checked"]
    r = evaluate(snn, ann, big, progress=False, dtype=torch.float64, warn=False, batch_size=2)
    assert clipped > 0
    assert r.clip_rate == pytest.approx(clipped / checked, rel=1e-12)


def test_sweep_clip_rate_is_evaluates_summed_over_the_batches(vit):
    """ttfs evaluate's sweep and the library's evaluate give one clip rate: the neurons the runs checked
    that clipped (snn.last_clipping), summed over every batch (2026-12-07: the sweep had its own rate over
    every neuron counter, 5x lower), and each clipping layer's largest rate."""
    from ttfs_symbolic.evaluation.sweep import Config, evaluate_sweep

    ann, x, snn = vit
    big = 10 * x
    big[2:] = x[2:]   # the second batch clips less than the first
    c = Config("exact", None, torch.float64)
    reports, totals = evaluate_sweep(snn, ann, [(big[:2], None), (big[2:], None)], [c], progress=False)
    assert totals["images"] == 4 and totals["skipped"] == 0
    r = evaluate(snn, ann, big, progress=False, dtype=torch.float64, warn=False, batch_size=2)
    assert r.clip_rate > 0 and totals["clip_rate"][c.label] == pytest.approx(r.clip_rate, rel=1e-12)
    layers = totals["clip_layers"][c.label]
    assert layers and all(0 < v <= 1 for v in layers.values())
    assert reports[0].agreement <= 1.0 and reports[0].images == 4


# ------------------------------------------------------------------ per-channel statistics

def _channel_pop(sigmas, values, kind="linear"):
    p = Population("t", kind=kind)
    p.range_kind = "channel"
    p.stats = PopStats()
    for v in values:
        p.observe(v)
    p.finalize(sigmas=sigmas)
    return p


def test_per_channel_range_is_extremes_and_mean_plus_minus_sigmas_std_over_tokens():
    g = torch.Generator().manual_seed(3)
    v1 = torch.randn(2, 5, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5]) + 1.0
    v2 = torch.randn(3, 4, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5]) + 1.0
    allv = torch.cat([v1.reshape(-1, 3), v2.reshape(-1, 3)])   # 22 rows: batch x tokens
    mean, std = allv.mean(0), allv.std(0, unbiased=False)
    for sigmas in (0.5, 3.0):
        p = _channel_pop(sigmas, [v1, v2])
        a, b = p.range_pair()
        want_lo = torch.minimum(allv.amin(0), mean - sigmas * std)
        want_hi = torch.maximum(allv.amax(0), mean + sigmas * std)
        assert torch.allclose(torch.as_tensor(a).reshape(-1), want_lo, rtol=1e-9, atol=1e-12), sigmas
        assert torch.allclose(torch.as_tensor(b).reshape(-1), want_hi, rtol=1e-9, atol=1e-12), sigmas
    assert p.stats.rows == 22


def test_per_neuron_range_is_per_token_and_channel():
    g = torch.Generator().manual_seed(4)
    v = torch.randn(6, 2, 3, generator=g, dtype=torch.float64)
    p = Population("t")
    p.range_kind = "neuron"
    p.stats = PopStats()
    p.observe(v)
    p.finalize(sigmas=1.0)
    a, b = p.range_pair()
    mean, std = v.mean(0), v.std(0, unbiased=False)
    assert torch.allclose(torch.as_tensor(a), torch.minimum(v.amin(0), mean - std), rtol=1e-9)
    assert torch.allclose(torch.as_tensor(b), torch.maximum(v.amax(0), mean + std), rtol=1e-9)


def test_layer_range_is_the_extremes_of_every_batch():
    p = Population("t")
    p.stats = PopStats()
    p.observe(torch.tensor([[-1.5, 0.25], [3.0, 1.0]]))
    p.observe(torch.tensor([[-0.5, 0.25], [2.0, 1.0]]))
    p.finalize()
    assert p.range_pair() == (-1.5, 3.0)


def test_log_code_needs_a_positive_shift_ratio():
    p = Population("t")
    for bad in (0.0, -1.0, math.inf, True, None):
        with pytest.raises(ValueError, match="the log code needs a shift ratio r > 0"):
            p.set_code("log", bad)
    with pytest.raises(ValueError, match="unknown code 'exp'"):
        p.set_code("exp")
    p.set_code("log", 0.5)
    assert (p.code, p.log_r) == ("log", 0.5)


# ------------------------------------------------------------------ signed product: the shift's proxy

def test_signed_error_proxy_against_a_hand_computation():
    from ttfs_symbolic.spiking import SignedOperand, signed_error_proxy, signed_layer1_range

    x1 = np.array([-1.0, 0.5, 2.0])
    x2 = np.array([0.25, -3.0, 1.0])
    for r in (0.01, 0.1):
        o1, o2 = SignedOperand.of(-1.0, 2.0, r), SignedOperand.of(-3.0, 1.0, r)
        assert o1.split and o2.split and o1.e == pytest.approx(2.0 * r) and o2.e == pytest.approx(3.0 * r)
        lo, hi = signed_layer1_range(o1, o2)
        assert lo == pytest.approx(math.log(o1.e) + math.log(o2.e))
        assert hi == pytest.approx(math.log(2 + o1.e) + math.log(3 + o2.e))
        m1, m2 = np.abs(x1) + o1.e, np.abs(x2) + o2.e
        want = np.mean((m1 * m2) ** 2 + (m1 * o2.e) ** 2 + (o1.e * m2) ** 2) * (hi - lo) ** 2
        assert signed_error_proxy(r, x1, x2, -1.0, 2.0, -3.0, 1.0) == pytest.approx(want, rel=1e-12)
    # a factor that does not change sign is not split: no silent-part terms
    o = SignedOperand.of(0.5, 2.0, 0.1)
    assert not o.split
    # per-sample ranges (a factor with per-channel ranges): each sample its own shift and layer-I range
    a1, b1 = np.array([-1.0, -4.0, -0.5]), np.array([2.0, 1.0, 0.5])
    r = 0.05
    e1, e2 = r * np.array([2.0, 4.0, 0.5]), r * 3.0
    d = np.log(np.array([2.0, 4.0, 0.5]) + e1) - np.log(e1) + math.log(3.0 + e2) - math.log(e2)
    m1, m2 = np.abs(x1) + e1, np.abs(x2) + e2
    want = np.mean(((m1 * m2) ** 2 + (m1 * e2) ** 2 + (e1 * m2) ** 2) * d ** 2)
    assert signed_error_proxy(r, x1, x2, a1, b1, -3.0, 1.0) == pytest.approx(want, rel=1e-12)
    # a one-signed factor's per-sample ranges: its least |x| is each sample's, and no split term
    a2, b2 = np.array([0.5, 1.0, 0.25]), np.array([2.0, 3.0, 1.0])
    e2 = r * b2
    d = np.log(np.array([2.0, 4.0, 0.5]) + e1) - np.log(e1) + np.log(b2 + e2) - np.log(a2 + e2)
    m2 = np.abs(x2) + e2
    want = np.mean(((m1 * m2) ** 2 + (e1 * m2) ** 2) * d ** 2)
    assert signed_error_proxy(r, x1, x2, a1, b1, a2, b2, True, False) == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------ residual relays have no window

def test_residual_relays_take_no_emitting_window():
    ann = tiny_vit().double()
    x = images(3).double()
    syn = convert(ann, x, progress=False, preset="paper", residual="synapses")
    neu = convert(ann, x, progress=False, preset="paper")
    relays = [p for p in syn.populations() if p.relay]
    emitting = [p for p in syn.populations() if not p.relay]
    assert len(relays) == 4 and all(p.kind == "residual" for p in relays)
    # the emitting neurons' windows are 1, 2, ... with no gap: a relay costs no window (no latency)
    assert sorted(p.window for p in emitting) == list(range(1, len(emitting) + 1))
    assert max(p.window for p in emitting) == max(p.window for p in neu.populations()) - 4
    assert all("no neuron" in p.extra_repr() for p in relays)
    assert torch.allclose(syn(x, dtype=torch.float64), ann(x), rtol=0, atol=1e-8)


# ------------------------------------------------------------------ BERT energy: residual synapses

def test_bert_residual_synapses_count_two_operations_per_element_and_no_neuron():
    from ttfs_symbolic.energy.bert import count_ops_bert

    T, H, L = 16, 768, 12
    neu = count_ops_bert("bert-base-uncased", seq_len=T, residual="neuron")
    syn = count_ops_bert("bert-base-uncased", seq_len=T, residual="synapses")
    rn, rs = neu.by_kind()["residual"], syn.by_kind()["residual"]
    assert rn == {"neurons": 2 * L * T * H, "op_snn": 2 * L * 2 * T * H, "op_ann": 0}
    assert rs == {"neurons": 0, "op_snn": 2 * L * 2 * T * H, "op_ann": 0}
    assert syn.op_snn == neu.op_snn and syn.neurons == neu.neurons - 2 * L * T * H
    # a folded rsqrt: one neuron and one operation fewer per LayerNorm row (2 LayerNorms per layer)
    fold = count_ops_bert("bert-base-uncased", seq_len=T, rsqrt="folded")
    rows = (2 * L + 1) * T   # and the embeddings' LayerNorm
    assert neu.neurons - fold.neurons == rows and neu.op_snn - fold.op_snn == rows
    # the sentence embedding's L2 norm: its rsqrt folded too
    mini = count_ops_bert("all-MiniLM-L6-v2", seq_len=T, normalize=True).by_kind()["normalize"]
    mini_f = count_ops_bert("all-MiniLM-L6-v2", seq_len=T, normalize=True, rsqrt="folded").by_kind()["normalize"]
    assert mini["neurons"] == 2 * 384 + 2 and mini_f["neurons"] == 2 * 384 + 1
    assert mini["op_snn"] - mini_f["op_snn"] == 1


def test_folded_rsqrt_variance_ends_at_its_proven_bound():
    """Folded, the variance's upper end is the largest mean square the centred values' range allows
    (max(a^2, b^2) per channel, averaged), whatever calibration saw below it (the channels' extremes
    do not meet in one token, so the largest variance seen lies below the bound)."""
    ann = tiny_vit().double()
    x = images(3).double()
    snn = convert(ann, x, progress=False, preset="paper", rsqrt="folded")
    norms = [m for m in snn.modules() if hasattr(m, "variance_bound")]
    assert len(norms) == 5
    below = 0
    for m in norms:
        a, b = m.centred.range_pair()
        bound = max(a * a, b * b)
        assert m.rsqrt.relay
        assert m.var.b == pytest.approx(bound, rel=1e-12)
        below += float(m.var.stats.hi) < bound * (1 - 1e-6)
    assert below


def test_channel_squares_take_the_larger_end_of_each_channel():
    from ttfs_symbolic.spiking import channel_squares

    p = Population("c")
    p.set_range(-3.0, 1.0)
    assert channel_squares(p, 4).tolist() == [9.0] * 4
    p.set_range(torch.tensor([-3.0, -0.5, 1.0]), torch.tensor([1.0, 2.0, 4.0]))
    assert channel_squares(p, 3).tolist() == [9.0, 4.0, 16.0]


def test_vit_layernorm_and_softmax_counts_against_table_3():
    from ttfs_symbolic.energy import layernorm_counts, product_counts, softmax_counts

    assert softmax_counts(5) == (12, 30)
    assert layernorm_counts(8) == (27, 73)
    assert layernorm_counts(8, "signed") == (35, 89)
    assert layernorm_counts(8, "signed", "folded") == (34, 88)
    assert layernorm_counts(8, "paper", "folded") == (26, 72)
    with pytest.raises(ValueError, match="unknown rsqrt mode 'x'"):
        layernorm_counts(8, rsqrt="x")
    assert product_counts(2, 3, 4, "signed", pairs=4, corrections=0) == (2 * 4 * 13, 12 * 24)
    assert product_counts(2, 3, 4, "signed", pairs=2, corrections=1) == (2 * 4 * 7, 7 * 24)


def test_families_find_the_vit_and_refuse_others_by_name():
    from ttfs_symbolic.conversion.registry import find_family, register_family
    from ttfs_symbolic.conversion.errors import UnsupportedModuleError

    assert find_family(tiny_vit()).name == "vit"
    with pytest.raises(UnsupportedModuleError, match=r"unsupported model: torch.nn.modules.linear.Linear \(supported: "):
        find_family(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="a family needs a non-empty name"):
        register_family("", lambda m: False, lambda m, **k: m)
    with pytest.raises(TypeError, match="matches and build must be callables"):
        register_family("x", None, lambda m, **k: m)


class _SiluOffOutside1(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.silu(x) + 0.5 * (x.abs() > 1)


def test_conversion_checks_the_activation_on_its_calibrated_range():
    from ttfs_symbolic.conversion.activations import ActivationMismatchError

    ann = tiny_vit(act_layer=_SiluOffOutside1).double()
    with torch.no_grad():   # fc1's outputs reach well beyond [-1, 1]
        for blk in ann.blocks:
            blk.mlp.fc1.weight.mul_(20.0)
    x = images(3).double()
    with pytest.raises(ActivationMismatchError, match="blocks.0.mlp.act|blocks.0.act") as info:
        convert(ann, x, progress=False, preset="paper", activations={_SiluOffOutside1: "x*sigmoid(x)"})
    assert "largest difference 0.5" in str(info.value)


# ------------------------------------------------------------------ torchrun calibration seeds

def test_calibration_batches_are_seeded_by_their_global_batch_number():
    from ttfs_symbolic.spiking import stats as spiking
    from ttfs_symbolic.conversion.distributed import SAMPLE_SEED, CalibrationBatches

    class _Snn:
        def populations(self):
            return []

    for rank, world in ((0, 1), (1, 2), (2, 3)):
        seeds = []
        for _ in CalibrationBatches([torch.zeros(1, 2)] * 3, _Snn(), rank=rank, world=world):
            seeds.append(spiking.SAMPLES.initial_seed())
        assert seeds == [SAMPLE_SEED + rank + i * world for i in range(3)], (rank, world)


# ------------------------------------------------------------------ BERT: a masked key stays silent

transformers = pytest.importorskip("transformers")


def test_masked_key_probability_is_silent_and_its_z_neuron_does_not_clip(tmp_path):
    from helpers import SENTENCES, VOCAB, make_bert as make
    from transformers import BertTokenizerFast

    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tok = BertTokenizerFast(vocab=str(tmp_path / "vocab.txt"))
    model = make("bert", layers=1, hidden=32, heads=2, inter=64)
    batch = tok(SENTENCES[:3], padding=True, return_tensors="pt")
    pad = batch["attention_mask"] == 0
    assert pad.any()
    snn = convert(model, batch, progress=False, preset="paper")
    soft = dict(snn.named_modules())["blocks.0.softmax"]
    seen = []
    soft.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    from ttfs_symbolic.evaluation.report import reset_counters

    for mode, p in (("exact", None), ("quantized", 64)):
        seen.clear()
        reset_counters(snn)
        snn(batch, mode=mode, precision=p, dtype=torch.float64, record=True, warn=False)
        probs = seen[-1]   # (batch, heads, queries, keys)
        masked = pad[:, None, None, :].expand_as(probs)
        assert torch.all(probs[masked] == 0), mode
        assert float(probs[~masked].min()) >= 0
        if mode != "exact":
            assert soft.z.stats.clipped == 0, "a masked key's z neuron must be silent, not clipped"


def test_folded_rsqrt_variance_calibrated_past_its_bound_stops_at_the_bound():
    """A margin that carries the variance's calibrated end past the bound the network proves (the mean of the
    centred channels' squared range ends, here exactly 1) stops at that bound: no variance can exceed it."""
    from ttfs_symbolic.spiking import Ctx, SpikingLayerNorm

    n = 8
    src = Population("src", "identity", kind="linear", fan_in=1)
    ln = SpikingLayerNorm("ln", src, torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64),
                          1e-6, n)
    ln.set_rsqrt("folded")
    row = torch.tensor([1.0, -1.0] * (n // 2), dtype=torch.float64)
    x = torch.stack([row, 0.5 * row]).repeat(3, 2, 1)    # tokens with centred values +-1 (variance 1) and +-0.5
    ctx = Ctx(mode="calibrate")
    ln(src.emit(x, ctx), ctx)
    for p in (src, ln.mean, ln.centred):
        p.finalize()
    assert ln.centred.range_pair() == (-1.0, 1.0)
    ln.var.finalize(margin=0.5)   # calibrated end 1 + 0.5 * (1 - 0.25) = 1.375 without the bound
    assert ln.var.b == 1.0
