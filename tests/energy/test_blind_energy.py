"""Table 3's operation count under measured spike rates (the blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

import pytest

from ttfs_symbolic.energy.bert import count_ops_bert
from ttfs_symbolic.energy.counts import LayerOps, apply_rates, matmul_ops_table3

CFG = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16}


def test_apply_rates_scales_table3_like_op_snn():
    # MatMul 4x4 @ 4x4, Table 3: MN(3K+2) = 16 * 14 = 224
    assert matmul_ops_table3(4, 4, 4) == 224
    row = LayerOps("m", "matmul", neurons=10, op_snn=300, op_ann=64, op_snn_static=300, op_snn_table3=224)
    apply_rates([row], {"m": 0.5})
    assert (row.spike_rate, row.op_snn, row.op_snn_table3) == (0.5, 150.0, 112.0)


def test_table3_total_follows_the_spike_rates():
    static = count_ops_bert(CFG, seq_len=4)
    name = "encoder.layer.0.attention.qk_matmul"
    row = next(r for r in static.rows if r.name == name)
    # 2 heads x (4x4 @ 4x4): 2 * 4 * 4 * (3 * 4 + 2) = 448
    assert row.op_snn_table3 == 448
    half = count_ops_bert(CFG, seq_len=4, spike_rates={name: 0.5})
    hrow = next(r for r in half.rows if r.name == name)
    assert hrow.op_snn_table3 == 224.0
    assert half.op_snn_table3 == pytest.approx(static.op_snn_table3 - 224, abs=1e-9)
    assert half.op_snn == pytest.approx(static.op_snn - row.op_snn_static / 2, abs=1e-9)
