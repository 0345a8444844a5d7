"""LayerNorm's counts for every construction and rsqrt mode (Table 3 and the converter's variants), by hand
and through a whole ViT's count: folding the rsqrt removes exactly one neuron and one operation per row."""
from __future__ import annotations

import pytest

from ttfs_symbolic.energy import count_ops, layernorm_counts


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
