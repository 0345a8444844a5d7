"""Measured energy: a linear row's operations scale with the spikes per value of its input layer.

The default preset carries most layers by the log code, where a value of either sign has two neurons,
one per sign part, and at most one of them fires. Every value that fires costs one spike's operations,
so the rate of an energy row is spikes per value, not spikes per neuron (which is at most 1/2 there).
"""
import torch

from helpers import images, tiny_vit
from ttfs_symbolic import convert, evaluate


def test_a_log_coded_input_costs_one_spike_per_value():
    ann = tiny_vit()
    x = images(8)
    snn = convert(ann, x, progress=False)
    pop = {p.pname: p for p in snn.populations()}["blocks.0.norm1"]
    a, b = pop.range_pair()
    assert pop.code == "log" and bool((torch.as_tensor(a) < 0).all() and (torch.as_tensor(b) > 0).all())
    snn(x, mode="exact", dtype=torch.float64, record=True)
    st = pop.stats
    assert st.neurons == 2 * st.values   # both signs everywhere: two neurons per value
    per_neuron, per_value = snn.layer_rates()["blocks.0.norm1"], snn.value_rates()["blocks.0.norm1"]
    assert per_neuron <= 0.5 < 0.9 < per_value == st.spikes / st.values
    assert snn.spike_rates_for_energy()["blocks.0.attn.qkv"] == per_value

    rep = evaluate(snn, ann, x, mode="exact", dtype=torch.float64, progress=False, warn=False)
    row = {r["name"]: r for r in rep.to_dict()["energy_rows"]}["blocks.0.attn.qkv"]
    assert row["op_snn"] == row["op_snn_static"] * row["spike_rate"] >= 0.9 * row["op_snn_static"]
    assert row["spike_rate"] == per_value   # evaluate measures the same rate on the same images
    layer = {r.name: r for r in rep.layers}["blocks.0.norm1"]   # the per-layer table shows both rates
    assert (layer.spikes_per_neuron, layer.spikes_per_value) == (per_neuron, per_value)
    assert "spikes/value" in rep.layer_table()
