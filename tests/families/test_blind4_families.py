"""BERT's energy rows under measured spike rates (the fourth blind mutation audit's survivor,
docs/mutation.md): each linear row is scaled by the firing rate of the neurons that feed it."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")   # the "text" extra; CI installs it

from ttfs_symbolic.conversion.convert import convert  # noqa: E402
from helpers import VOCAB, make_bert  # noqa: E402


def _batch():
    ids = torch.tensor([[VOCAB.index(w) for w in ("[CLS]", "the", "cat", "sat", "[SEP]")],
                        [VOCAB.index(w) for w in ("[CLS]", "tree", "[SEP]", "[PAD]", "[PAD]")]])
    return {"input_ids": ids, "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])}


def test_each_bert_linear_row_takes_the_rate_of_its_input_neurons():
    """q/k/v: the LayerNorm before them; attention's output dense: the context; intermediate.dense: the
    attention's LayerNorm; output.dense: the activation (ReLU) neurons, whose rate differs from that of
    intermediate.dense (every value of the dense layer fires, one of its two sign neurons; ReLU's zeros stay
    silent). The rates are spikes per value (``value_rates``)."""
    model = make_bert(layers=2, hidden=32, heads=2, inter=64, act="relu")
    snn = convert(model, _batch(), progress=False)
    snn(_batch(), dtype=torch.float64, record=True)
    rates, out = snn.value_rates(), snn.spike_rates_for_energy()
    for i in range(2):
        pre = f"encoder.layer.{i}"
        prev = "embeddings.LayerNorm" if i == 0 else f"encoder.layer.{i - 1}.output.LayerNorm"
        for n in ("query", "key", "value"):
            assert out[f"{pre}.attention.self.{n}"] == rates[prev]
        assert out[f"{pre}.attention.output.dense"] == rates[f"{pre}.attention.context"]
        assert out[f"{pre}.intermediate.dense"] == rates[f"{pre}.attention.output.LayerNorm"]
        act, dense = rates[f"{pre}.intermediate.intermediate_act_fn"], rates[f"{pre}.intermediate.dense"]
        assert out[f"{pre}.output.dense"] == act != dense
