"""The BERT family's vocabulary check at its boundary (the blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")   # the "text" extra; CI installs it

from ttfs_symbolic.conversion.convert import build_spiking  # noqa: E402
from helpers import VOCAB, make_bert  # noqa: E402


@pytest.fixture(scope="module")
def snn():
    return build_spiking(make_bert(layers=1, hidden=16, heads=2, inter=32))


def _batch(last_id):
    ids = torch.tensor([[2, 5, last_id, 3]])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_token_id_equal_to_the_vocabulary_size_is_refused(snn):
    V = len(VOCAB)
    assert snn.vocab_size == V
    with pytest.raises(ValueError, match=rf"token id {V} is out of the vocabulary \(0\.\.{V - 1}\)"):
        snn.prepare_input(_batch(V))


def test_the_last_token_id_of_the_vocabulary_is_accepted(snn):
    V = len(VOCAB)
    x = snn.prepare_input(_batch(V - 1))
    assert x["input_ids"].tolist() == [[2, 5, V - 1, 3]]
