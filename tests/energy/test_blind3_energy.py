"""LayerNorm's counts for every construction and rsqrt mode (Table 3 and the converter's variants), by hand
and through a whole ViT's count: folding the rsqrt removes exactly one neuron and one operation per row."""
from __future__ import annotations

import pytest

import ttfs_symbolic as ts
from ttfs_symbolic.energy import count_ops, layernorm_counts
from helpers import images, tiny_vit


@pytest.mark.parametrize("N", [1, 7, 192])
def test_layernorm_counts_by_hand(N):
    assert layernorm_counts(N, "paper", "neuron") == (3 * N + 3, 9 * N + 1)      # Table 3
    assert layernorm_counts(N, "paper", "folded") == (3 * N + 2, 9 * N)
    assert layernorm_counts(N, "signed", "neuron") == (4 * N + 3, 11 * N + 1)    # 2 layer-I neurons, 1 correction
    assert layernorm_counts(N, "signed", "folded") == (4 * N + 2, 11 * N)        # the default network's


@pytest.mark.parametrize("product", ["paper", "signed"])
def test_folding_the_rsqrt_saves_one_neuron_and_one_operation_per_row(product):
    """ViT-Ti at 224 px: 197 tokens, 12 blocks x 2 LayerNorms + the final one = 25 x 197 rows."""
    rows = 197 * (2 * 12 + 1)
    neuron = count_ops("vit_tiny_patch16_224", product=product, rsqrt="neuron")
    folded = count_ops("vit_tiny_patch16_224", product=product, rsqrt="folded")
    assert neuron.neurons - folded.neurons == rows
    assert neuron.op_snn - folded.op_snn == rows


def test_signed_product_rows_count_the_layer1_neurons_the_converted_model_has():
    """The default network (signed products): ``ttfs energy``'s rows for q k^T and softmax V hold the
    layer-I neurons that a recorded run of the converted model counts (4 pairs of sign parts per term of
    q k^T, 2 for softmax V: the probabilities are one-signed) plus one layer-II neuron per output, and
    (3 pairs + corrections) operations per term: 12 MNK and 7 MNK."""
    ann = tiny_vit()   # 2 heads, 5 tokens, head width 8
    H, T, hd = 2, 5, 8
    snn = ts.convert(ann, images(4), progress=False)
    snn(images(1), mode="exact", record=True)
    layer1 = {p.pname: p.stats.neurons for p in snn.populations() if p.kind == "product_layer1"}
    rows = {r.name: r for r in count_ops(ann, product="signed", residual="synapses", rsqrt="folded").rows}
    qk, av = rows["blocks.0.attn.qk_matmul"], rows["blocks.0.attn.av_matmul"]
    assert layer1["blocks.0.attn.av.layer1"] == H * T * hd * T * 2
    assert av.neurons == layer1["blocks.0.attn.av.layer1"] + H * T * hd
    assert av.op_snn == 7 * H * T * T * hd
    qk_layer1 = [v for k, v in layer1.items() if k.startswith("blocks.0.attn.") and k != "blocks.0.attn.av.layer1"]
    assert qk_layer1 == [H * T * T * hd * 4]
    assert qk.neurons == qk_layer1[0] + H * T * T
    assert qk.op_snn == 12 * H * T * T * hd
