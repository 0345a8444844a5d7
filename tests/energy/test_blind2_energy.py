"""The signed product's count, RoBERTa's positions and the mean-pooling row by hand
(the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import pytest

from ttfs_symbolic.energy.bert import count_ops_bert
from ttfs_symbolic.energy.counts import product_counts

CFG = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16}


@pytest.mark.parametrize("pairs, corrections, neurons, ops", [
    (4, 0, 2 * 5 * (4 * 3 + 1), 12 * 2 * 3 * 5),    # q k^T: both factors signed
    (2, 1, 2 * 5 * (2 * 3 + 1), 7 * 2 * 3 * 5),     # softmax V: one factor one-signed, one correction
    (2, 2, 2 * 5 * (2 * 3 + 1), 8 * 2 * 3 * 5),
])
def test_signed_product_counts_its_correction_synapses(pairs, corrections, neurons, ops):
    assert product_counts(2, 3, 5, "signed", pairs=pairs, corrections=corrections) == (neurons, ops)


def test_roberta_positions_start_after_the_padding_index():
    # 514 position embeddings, padding_idx 1: positions 2..513, 512 tokens at most
    cfg = {**CFG, "model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}
    assert count_ops_bert(cfg, seq_len=512).tokens == 512
    with pytest.raises(ValueError, match="seq_len 513 is longer than the model's 512 positions"):
        count_ops_bert(cfg, seq_len=513)
    assert count_ops_bert("roberta-base", seq_len=512).tokens == 512
    with pytest.raises(ValueError, match="512 positions"):
        count_ops_bert("roberta-base", seq_len=513)


def test_mean_pooling_is_one_neuron_per_channel():
    T, H = 6, 8
    report = count_ops_bert({**CFG, "pooling": "mean"}, seq_len=T)
    row = next(r for r in report.rows if r.name == "pooling")
    assert (row.neurons, row.op_snn, row.op_ann) == (H, T * H, 0)
    plain = count_ops_bert(CFG, seq_len=T)
    assert report.neurons - plain.neurons == H
