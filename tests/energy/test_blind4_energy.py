"""Energy counts a user reports (the fourth blind mutation audit's survivors in the energy counts,
docs/mutation.md): residual sums carried by synapses add (k - 1) summands' operations, and the per-kind
subtotals of a count with measured spike rates add up to its total."""
from __future__ import annotations

import pytest

from helpers import tiny_vit
from ttfs_symbolic.energy import count_ops


def test_residual_synapses_add_one_summand_per_residual_sum():
    """residual='synapses': the LayerNorm that reads the stream receives each of its k summands' spikes
    instead of one residual neuron's: 2*T*dim*(k - 1) more operations, k = 2, 3, ... along the stream
    (the embedding is the first summand); the residual rows have no neurons."""
    ann = tiny_vit(depth=2)   # 5 tokens, width 16
    T, dim = 5, 16
    rows = [r for r in count_ops(ann, residual="synapses").rows if r.kind == "residual"]
    assert [r.name for r in rows] == ["blocks.0.residual1", "blocks.0.residual2", "blocks.1.residual1",
                                      "blocks.1.residual2"]
    assert [r.op_snn for r in rows] == [2 * T * dim * (k - 1) for k in (2, 3, 4, 5)]
    assert all(r.neurons == 0 and r.op_ann == 0 for r in rows)
    neurons = [r for r in count_ops(ann, residual="neuron").rows if r.kind == "residual"]
    assert [r.neurons for r in neurons] == [T * dim] * 4


def test_per_kind_subtotals_with_spike_rates_add_up_to_the_total():
    ann = tiny_vit(depth=2)
    static = count_ops(ann)
    rates = {r.name: 0.25 + 0.5 * (i % 3) / 2 for i, r in enumerate(static.rows)}
    rep = count_ops(ann, spike_rates=rates)
    assert rep.op_snn < static.op_snn
    kinds = rep.by_kind()
    assert sum(d["op_snn"] for d in kinds.values()) == pytest.approx(rep.op_snn, rel=1e-12)
    for kind, d in kinds.items():
        assert d["op_snn"] == pytest.approx(sum(r.op_snn for r in rep.rows if r.kind == kind), rel=1e-12)
        assert d["op_ann"] == static.by_kind()[kind]["op_ann"]
