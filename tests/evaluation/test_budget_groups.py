"""The error budget's groups name where each layer sits: a product's layer I under the LayerNorm, attention or
gated MLP it belongs to, the transformers MLP's dense layers under MLP (a probe found qk-norm's products
counted as attention, EVA's gated-MLP product and BERT's attention products as LayerNorm, BERT's MLP as
q, k, v, proj)."""
from __future__ import annotations

import pytest
import timm
import torch

from helpers import make_bert
from ttfs_symbolic import convert
from ttfs_symbolic.evaluation.report import layer_groups

KW = dict(img_size=28, patch_size=7, embed_dim=32, depth=1, num_heads=2, num_classes=4)


def _group_of(groups: dict) -> dict:
    return {name: g for g, names in groups.items() for name in names}


@pytest.mark.parametrize("model, extra", [("vit_tiny_patch16_224", {"qk_norm": True}), ("eva02_tiny_patch14_224", {})])
def test_image_models_group_every_layer_where_it_sits(model, extra):
    snn = convert(timm.create_model(model, **KW, **extra).eval(), torch.randn(6, 3, 28, 28), progress=False)
    of = _group_of(layer_groups(snn))
    assert sorted(of) == sorted(p.pname for p in snn.populations() if not p.relay)   # a partition of the neurons
    assert of["blocks.0.attn.qk.layer1"] == of["blocks.0.attn.av.layer1"] == "attention products, layer I"
    assert of["blocks.0.norm1.product.layer1"] == "LayerNorm products, layer I"
    assert of["blocks.0.attn.scores"] == of["blocks.0.attn.context"] == \
        "attention scores and context (products' layer II)"
    assert of["blocks.0.attn.q"] == of["blocks.0.attn.proj"] == "q, k, v, proj"
    if extra.get("qk_norm"):
        assert of["blocks.0.attn.q_norm.product.layer1"] == "LayerNorm products, layer I"
        assert of["blocks.0.mlp.fc1"] == of["blocks.0.mlp.fc2"] == "MLP"
    else:   # EVA-02's gated MLP: both factors, the product's two layers and fc2; its rotary embedding
        assert of["blocks.0.attn.q_rope"] == of["blocks.0.attn.k_rope"] == "rotary position embedding (q, k)"
        for name in ("blocks.0.mlp.fc1.gate", "blocks.0.mlp.fc1.value", "blocks.0.mlp.mul.layer1", "blocks.0.mlp.mul",
                     "blocks.0.mlp.fc2"):
            assert of[name] == "MLP", name


def test_bert_groups_its_attention_products_and_mlp():
    ids = torch.randint(5, 20, (4, 8))
    snn = convert(make_bert(layers=1), {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, progress=False)
    of = _group_of(layer_groups(snn))
    L = "encoder.layer.0."
    assert of[L + "attention.qk.layer1"] == of[L + "attention.av.layer1"] == "attention products, layer I"
    assert of[L + "attention.output.LayerNorm.product.layer1"] == "LayerNorm products, layer I"
    assert of[L + "intermediate.dense"] == of[L + "output.dense"] == "MLP"
    assert of[L + "attention.self.query"] == of[L + "attention.output.dense"] == "q, k, v, proj"


def test_layers_without_neurons_are_in_no_group_because_they_round_nothing():
    """Residual sums carried by synapses and a folded rsqrt are relays: at any p they add no error, so the
    budget lists no group of them (stop 40 listed "residual sums" with error 0)."""
    ann = timm.create_model("vit_tiny_patch16_224", **KW).eval()
    x = torch.randn(6, 3, 28, 28)
    snn = convert(ann, x, progress=False)   # the default preset: residual synapses, folded rsqrt
    relays = [p.pname for p in snn.populations() if p.relay]
    assert any(".residual" in n or "rsqrt" in n for n in relays) and relays
    grouped = {n for names in layer_groups(snn).values() for n in names}
    assert grouped.isdisjoint(relays)
    ref = snn(x, mode="exact", dtype=torch.float64)
    alone = snn(x, mode="quantized", precision=16, dtype=torch.float64, only=relays, warn=False)
    assert float((alone - ref).norm() / ref.norm()) < 1e-12   # float64 summation order only (3e-16 seen)
    neurons = snn(x, mode="quantized", precision=16, dtype=torch.float64, only=sorted(grouped), warn=False)
    assert torch.equal(neurons, snn(x, mode="quantized", precision=16, dtype=torch.float64, warn=False))
