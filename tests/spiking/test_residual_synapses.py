"""Residual sums carried by synapses (``convert(..., residual="synapses")``): no residual neuron, the next
LayerNorm receives the summands' spikes; the sum is then not rounded and not clipped."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

from ttfs_symbolic.conversion.convert import convert, residual_mode, set_residual
from ttfs_symbolic.conversion.fileformat import conversion_dict, load_conversion, save_conversion
from ttfs_symbolic.energy import count_ops, residual_counts
from ttfs_symbolic.evaluation.report import error_budget, evaluate

from helpers import images, tiny_vit

D = torch.float64


def residual_names(snn):
    return [p.pname for p in snn.populations() if p.kind == "residual"]


@pytest.fixture(scope="module")
def pair():
    ann = tiny_vit(depth=3)
    x = images(24)
    # margin 0.5: quantized runs never drive a residual neuron past its range (so "exact there" = "unclipped")
    a = convert(ann, x, progress=False, preset="paper", product="signed", margin=0.5)
    b = convert(ann, x, progress=False, preset="paper", product="signed", margin=0.5, residual="synapses")
    return ann, x, a, b


def test_mode_is_set_and_recorded(pair):
    _, _, a, b = pair
    assert residual_mode(a) == "neuron" and residual_mode(b) == "synapses"
    assert b.calibration["residual"] == "synapses"
    assert conversion_dict(b)["residual"] == "synapses" and conversion_dict(a)["residual"] == "neuron"
    assert all(p.relay for p in b.populations() if p.kind == "residual")
    assert not any(p.relay for p in b.populations() if p.kind != "residual")


def test_exact_mode_is_the_same_model(pair):
    """The sum formed in the consumers' potentials is the residual neuron's value when nothing clips."""
    ann, x, a, b = pair
    with torch.no_grad():
        ref = ann.double()(x[:6].double())
        ann.float()
    oa, ob = a(x[:6], dtype=D), b(x[:6], dtype=D)
    assert float((ob - ref).norm() / ref.norm()) < 1e-12
    torch.testing.assert_close(ob, oa, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["quantized", "kernel"])
def test_finite_precision_equals_neuron_model_with_residual_neurons_exact(pair, mode):
    """Every layer but the residual sums at p: the synapse model is the neuron model whose residual
    neurons alone run exact (the sums are neither rounded nor clipped); and it differs from the neuron
    model with every layer at p by the residual neurons' rounding."""
    _, x, a, b = pair
    others = [p.pname for p in a.populations() if p.kind != "residual"]
    ob = b(x[:6], mode=mode, precision=64, dtype=D, warn=False)
    oa_rest = a(x[:6], mode=mode, precision=64, dtype=D, warn=False, only=others)
    assert not set(residual_names(a)) & set(a.last_clipping["layers"])   # no residual neuron clipped
    torch.testing.assert_close(ob, oa_rest, rtol=0, atol=1e-12)
    oa_all = a(x[:6], mode=mode, precision=64, dtype=D, warn=False)
    assert float((oa_all - ob).abs().max()) > 1e-6


def test_sum_is_not_clipped():
    """Inputs far outside the calibration data: residual neurons clip (counted), the synapses cannot."""
    ann = tiny_vit(seed=3, depth=3)
    x = images(16, seed=4)
    a = convert(ann, x, progress=False, preset="paper", product="signed")
    b = convert(ann, x, progress=False, preset="paper", product="signed", residual="synapses")
    big = 4.0 * images(2, seed=5)
    names = set(residual_names(b))
    a(big, dtype=D, warn=False)
    assert names & set(a.last_clipping["layers"])   # the neuron model clips some residual sums
    b(big, dtype=D, warn=False)
    assert not names & set(b.last_clipping["layers"])
    assert b.last_clipping["checked"] < a.last_clipping["checked"]   # no residual neurons to check


def test_no_neurons_or_spikes_recorded(pair):
    ann, x, a, b = pair
    ra = evaluate(a, ann, x[:4], mode="quantized", precision=64, progress=False, warn=False)
    rb = evaluate(b, ann, x[:4], mode="quantized", precision=64, progress=False, warn=False)
    res = {r.name: r for r in rb.layers if r.kind == "residual"}
    assert res and all(r.neurons == 0 and r.spikes == 0 for r in res.values())
    n_res = sum(r.neurons for r in ra.layers if r.kind == "residual")
    assert n_res > 0
    assert ra.neurons - rb.neurons == n_res * 4


def test_energy_counts_the_synapses():
    """Neuron mode: T*dim neurons, 2*T*dim ops per sum. Synapses: no neurons; the stream after the
    j-th sum holds k = j + 1 summands, so the next LayerNorm's mean and centred neurons receive
    2*T*dim*(k - 1) more synaptic operations."""
    ann = tiny_vit(depth=4)
    T, dim = 5, 16     # (16/8)^2 patches + the class token; embed_dim
    ra, rb = count_ops(ann), count_ops(ann, residual="synapses")
    res_a = [r for r in ra.rows if r.kind == "residual"]
    res_b = [r for r in rb.rows if r.kind == "residual"]
    assert len(res_a) == len(res_b) == 8
    assert all((r.neurons, r.op_snn) == residual_counts(T, dim) for r in res_a)
    assert [r.neurons for r in res_b] == [0] * 8
    assert [r.op_snn for r in res_b] == [2 * T * dim * k for k in range(1, 9)]
    others_a = [(r.name, r.neurons, r.op_snn) for r in ra.rows if r.kind != "residual"]
    others_b = [(r.name, r.neurons, r.op_snn) for r in rb.rows if r.kind != "residual"]
    assert others_a == others_b
    assert ra.neurons - rb.neurons == 8 * T * dim
    with pytest.raises(ValueError, match="residual mode"):
        count_ops(ann, residual="wires")


def test_report_energy_follows_the_model(pair):
    ann, x, a, b = pair
    ra = evaluate(a, ann, x[:2], mode="exact", progress=False)
    rb = evaluate(b, ann, x[:2], mode="exact", progress=False)
    rows = [r for r in rb.energy_rows if r["kind"] == "residual"]
    assert len(rows) == 6 and all(r["neurons"] == 0 for r in rows)
    assert all(r["neurons"] > 0 for r in ra.energy_rows if r["kind"] == "residual")


def test_saved_and_loaded(pair, tmp_path):
    ann, x, a, b = pair
    path = save_conversion(b, tmp_path / "c.json")
    c = load_conversion(ann, path)
    assert residual_mode(c) == "synapses"
    torch.testing.assert_close(c(x[:3], mode="quantized", precision=128, dtype=D, warn=False),
                               b(x[:3], mode="quantized", precision=128, dtype=D, warn=False), rtol=0, atol=0)
    data = json.loads(path.read_text())
    del data["residual"]                      # a file from before format version 4: residual neurons
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert residual_mode(load_conversion(ann, old)) == "neuron"
    data["residual"] = "wires"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="residual must be 'neuron' or 'synapses'"):
        load_conversion(ann, bad)


def test_budget_residual_group_is_exact(pair):
    _, x, _, b = pair
    bud = error_budget(b, x[:4], precision=64, curve=(64,), progress=False)
    # residual sums carried by synapses round nothing: no group of them (their error alone is 0,
    # tests/evaluation/test_budget_groups.py), while every neuron's rounding still reaches the total
    assert "residual sums" not in bud.groups
    assert not any(".residual" in n for g in bud.groups.values() for n in g["layers"])
    assert bud.total_error > 0


def test_refused_where_a_sum_feeds_no_layernorm():
    from timm.models.eva import Eva

    with pytest.raises(ValueError, match="unknown residual mode 'wires'"):
        convert(tiny_vit(depth=1), images(4), progress=False, preset="paper", product="signed", residual="wires")
    bare = tiny_vit(depth=1, global_pool="token", final_norm=False)   # the last sum feeds the head
    with pytest.raises(ValueError, match="feeds the head directly"):
        convert(bare, images(4), progress=False, preset="paper", product="signed", residual="synapses")
    with pytest.raises(ValueError, match="no average pool"):
        count_ops(bare, residual="synapses")
    torch.manual_seed(0)
    post = Eva(img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=3,
               use_post_norm=True).eval()
    with pytest.raises(ValueError, match="post-norm"):
        convert(post, images(4), progress=False, preset="paper", product="signed", residual="synapses")
    with pytest.raises(ValueError, match="post-norm"):
        count_ops(post, residual="synapses")


def test_eva_pre_norm_exact():
    from timm.models.eva import Eva

    torch.manual_seed(1)
    model = Eva(img_size=16, patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=3, mlp_ratio=2.0,
                swiglu_mlp=True, use_rot_pos_emb=True, ref_feat_shape=(2, 2), global_pool="token").eval()
    x = images(6)
    snn = convert(model, x, progress=False, preset="paper", product="signed", residual="synapses")
    with torch.no_grad():
        ref = model.double()(x.double())
    out = snn(x, dtype=D)
    assert float((out - ref).norm() / ref.norm()) < 1e-9
    set_residual(snn, "neuron")
    assert residual_mode(snn) == "neuron"


def test_bert_post_ln_sums_into_their_layernorm():
    """BERT's post-LN layers: LayerNorm(x + y) receives both summands; exact mode unchanged, and at
    finite p the synapse model equals the neuron model whose residual neurons alone run exact."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=16, pad_token_id=0)
    torch.manual_seed(0)
    model = transformers.BertModel(cfg).eval()
    g = torch.Generator().manual_seed(2)
    batch = {"input_ids": torch.randint(1, 30, (4, 9), generator=g), "attention_mask": torch.ones(4, 9, dtype=torch.long),
             "token_type_ids": torch.zeros(4, 9, dtype=torch.long)}
    a = convert(model, batch, progress=False, preset="paper", product="signed", margin=0.5)
    b = convert(model, batch, progress=False, preset="paper", product="signed", margin=0.5, residual="synapses")
    assert residual_mode(b) == "synapses" and len(residual_names(b)) == 4
    torch.testing.assert_close(b(batch, dtype=D), a(batch, dtype=D), rtol=0, atol=1e-12)
    others = [p.pname for p in a.populations() if p.kind != "residual"]
    torch.testing.assert_close(b(batch, mode="quantized", precision=64, dtype=D, warn=False),
                               a(batch, mode="quantized", precision=64, dtype=D, warn=False, only=others),
                               rtol=0, atol=1e-12)


def test_average_pool_receives_the_summands():
    """No final norm, average pooling (fc_norm after the pool): the pool's neurons receive every summand."""
    ann = tiny_vit(depth=2, global_pool="avg", fc_norm=True)
    assert isinstance(ann.norm, torch.nn.Identity)
    x = images(12)
    a = convert(ann, x, progress=False, preset="paper", product="signed", margin=0.5)
    b = convert(ann, x, progress=False, preset="paper", product="signed", margin=0.5, residual="synapses")
    torch.testing.assert_close(b(x[:4], dtype=D), a(x[:4], dtype=D), rtol=0, atol=1e-12)
    rows = [r for r in count_ops(ann, residual="synapses").rows if r.kind == "residual"]
    patches, dim = 4, 16
    assert [r.op_snn for r in rows] == [2 * 5 * dim * 1, 2 * 5 * dim * 2, 2 * 5 * dim * 3, patches * dim * 4]


def test_cli_flags(tmp_path, capsys):
    from ttfs_symbolic.cli import main

    out = tmp_path / "b"
    assert main(["budget", "digits", "--calib", "60", "--inputs", "12", "--precision", "128", "--curve", "128",
                 "--residual", "synapses", "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "budget.json").read_text())
    # --residual synapses reached the converter: the sums are relays, in no group of the budget
    assert "residual sums" not in data["groups"] and data["total_error"] > 0
    assert main(["budget", "digits", "--calib", "60", "--inputs", "12", "--precision", "128", "--curve", "128",
                 "--residual", "neuron", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "budget.json").read_text())["groups"]["residual sums"]["error"] > 0
    capsys.readouterr()
    assert main(["energy", "vit_tiny_patch16_224", "--json", "--residual", "synapses"]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    res = [r for r in rows if r["kind"] == "residual"]
    assert len(res) == 24 and all(r["neurons"] == 0 for r in res)
    assert [r["op_snn"] for r in res] == [2 * 197 * 192 * k for k in range(1, 25)]
