"""BERT's attention_mask values (the third blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")   # the "text" extra; CI installs it

from ttfs_symbolic.conversion.convert import convert  # noqa: E402
from helpers import VOCAB, make_bert  # noqa: E402

MASK_MSG = r"attention_mask must hold only 0 \(padding\) and 1 \(token\)"


def _batch():
    ids = torch.tensor([[VOCAB.index(w) for w in ("[CLS]", "the", "cat", "sat", "[SEP]")],
                        [VOCAB.index(w) for w in ("[CLS]", "tree", "[SEP]", "[PAD]", "[PAD]")]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("value", [2, 0.5, -1])
def test_an_attention_mask_other_than_0_and_1_is_refused(value):
    """A mask holding 2 (or 0.5, or -1) is not a tokenizer's mask: both convert (calibration data) and the
    converted model refuse it with 'attention_mask must hold only 0 (padding) and 1 (token)' instead of
    reading any non-zero value as a token."""
    model = make_bert(layers=1, hidden=32, heads=2, inter=64)
    good = _batch()
    snn = convert(model, good, progress=False)
    assert snn(good, dtype=torch.float64).shape == (2, 5, 32)
    bad = dict(good)
    bad["attention_mask"] = good["attention_mask"].to(torch.float64 if value == 0.5 else torch.long).clone()
    bad["attention_mask"][0, 2] = value
    with pytest.raises(ValueError, match=MASK_MSG):
        convert(model, bad, progress=False)
    with pytest.raises(ValueError, match=MASK_MSG):
        snn(bad, dtype=torch.float64)


def test_qk_norm_vit_folds_the_attention_scale_into_q_norm():
    """A ViT with qk-norm: the attention scale head_dim^-1/2 sits in q_norm's affine (its weight and bias
    times the scale; k_norm's unscaled), so the converted model's exact logits are timm's."""
    from helpers import images, tiny_vit

    ann = tiny_vit(qk_norm=True)
    with torch.no_grad():   # make the affines matter (timm initialises them to 1 and 0)
        for blk in ann.blocks:
            blk.attn.q_norm.weight.uniform_(0.5, 2.0)
            blk.attn.q_norm.bias.uniform_(-0.5, 0.5)
    x = images(2)
    snn = convert(ann, x, progress=False)
    attn, ref = snn.blocks[0].attn, ann.blocks[0].attn
    scale = float(ref.scale)
    torch.testing.assert_close(attn.sq.weight.double(), ref.q_norm.weight.double() * scale, rtol=1e-12, atol=0)
    torch.testing.assert_close(attn.sq.bias.double(), ref.q_norm.bias.double() * scale, rtol=1e-12, atol=0)
    torch.testing.assert_close(attn.sk.weight.double(), ref.k_norm.weight.double(), rtol=0, atol=0)
    out = snn(x, dtype=torch.float64)
    torch.testing.assert_close(out, ann.double()(x.double()), rtol=1e-9, atol=1e-9)
