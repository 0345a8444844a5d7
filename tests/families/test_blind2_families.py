"""ViT prefix tokens, pooling refusals, head rates and BERT / RoBERTa sequence lengths at their boundary
(the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.conversion.convert import build_spiking, convert
from ttfs_symbolic.conversion.errors import UnsupportedModuleError
from helpers import images, tiny_vit


def test_avg_pool_including_the_prefix_tokens_is_refused():
    ann = tiny_vit(global_pool="avg", pool_include_prefix=True)
    with pytest.raises(UnsupportedModuleError, match="pool_include_prefix=True"):
        build_spiking(ann)


def test_register_tokens_follow_the_class_token_as_in_timm():
    ann = tiny_vit(reg_tokens=2)
    x = images(4)
    snn = convert(ann, x, progress=False)
    assert torch.equal(snn.prefix[:, 0], ann.cls_token.detach()[:, 0])
    assert torch.equal(snn.prefix[:, 1:], ann.reg_token.detach())
    with torch.no_grad():
        ref = ann.double()(x.double())
    out = snn(x, mode="exact", dtype=torch.float64)
    assert float((out - ref).abs().max()) <= 1e-9 * float(ref.abs().max())


def test_head_rate_is_that_of_fc_norm_after_the_average_pool():
    ann = tiny_vit(global_pool="avg")
    x = images(4)
    snn = convert(ann, x, progress=False)
    snn(x, mode="quantized", precision=8, record=True, warn=False)
    rates = snn.value_rates()
    assert "fc_norm" in rates and "pool" in rates and rates["fc_norm"] != rates["pool"]
    assert snn.spike_rates_for_energy()["head"] == rates["fc_norm"]


pytest.importorskip("transformers")   # the "text" extra; CI installs it (the tests below need it)
from helpers import make_bert  # noqa: E402


def _batch(n):
    ids = torch.tensor([[2] + [5] * (n - 2) + [3]])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_a_bert_sequence_of_exactly_its_positions_is_accepted():
    snn = build_spiking(make_bert(layers=1, hidden=16, heads=2, inter=32))   # 40 positions
    assert snn.max_tokens == 40
    assert snn.prepare_input(_batch(40))["input_ids"].shape == (1, 40)
    with pytest.raises(ValueError, match="sequence of 41 tokens is longer than the model's 40 positions"):
        snn.prepare_input(_batch(41))


def test_roberta_positions_start_after_the_padding_index():
    # RoBERTa numbers positions from padding_idx + 1 (= 1 here): 40 position embeddings hold 39 tokens
    snn = build_spiking(make_bert("roberta", layers=1, hidden=16, heads=2, inter=32))
    assert snn.padding_idx == 0 and snn.max_tokens == 39
    assert snn.prepare_input(_batch(39))["input_ids"].shape == (1, 39)
    with pytest.raises(ValueError, match="sequence of 40 tokens is longer than the model's 39 positions"):
        snn.prepare_input(_batch(40))
