"""Models without a classification head are compared by their features, not by argmax.

A timm ViT with ``num_classes=0`` (DINOv2 is one), a BERT encoder's hidden
states and a sentence model's embeddings output vectors whose largest channel
means nothing. ``evaluate`` and ``ttfs evaluate`` reported "top-1 agreement" of
that argmax (and accepted labels for it, giving an "accuracy" of features):
a number without a meaning. They now report nearest-item agreement, cosine
and the relative error, and refuse (or, from a class folder, skip) labels.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import images, tiny_vit
from hypothesis import given, settings
from hypothesis import strategies as st

from ttfs_symbolic import convert, evaluate
from ttfs_symbolic.evaluation import features
from ttfs_symbolic.evaluation.features import FeatureTally, nearest_item_agreement
from ttfs_symbolic.evaluation.sweep import configs_for, evaluate_sweep, format_table


def brute_force(snn_rows, ann_rows) -> float:
    """The nearest-item agreement by loops over NumPy rows (ties in the ANN's cosines to 1e-12 agree)."""
    s = torch.as_tensor(snn_rows).detach().double().numpy()
    a = torch.as_tensor(ann_rows).detach().double().numpy()
    s = s / np.linalg.norm(s, axis=1, keepdims=True)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    n, hits = len(a), 0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        mine = max(others, key=lambda j: float(s[i] @ s[j]))
        best = max(float(a[i] @ a[j]) for j in others)
        hits += float(a[i] @ a[mine]) >= best - 1e-12
    return hits / n


def test_nearest_item_agreement_against_loops():
    g = torch.Generator().manual_seed(0)
    ann = torch.randn(40, 6, generator=g, dtype=torch.float64)
    for scale, lo, hi in ((0.0, 1.0, 1.0), (0.05, 0.7, 1.0), (3.0, 0.0, 0.5)):
        snn = ann + scale * torch.randn(40, 6, generator=g, dtype=torch.float64)
        got = nearest_item_agreement(snn, ann)
        assert got == pytest.approx(brute_force(snn, ann), abs=1e-15)
        assert lo <= got <= hi, (scale, got)


def test_duplicate_items_tie():
    """Two equal ANN rows are both the nearest of a third: whichever the SNN picks agrees."""
    u, v = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.9, 0.3, 0.0])
    ann = torch.stack([u, u, v]).double()
    snn = torch.stack([u, u + torch.tensor([0.0, 1e-4, 0.0]), v]).double()   # row 2 now nearer row 1
    assert nearest_item_agreement(snn, ann) == 1.0
    assert nearest_item_agreement(snn[:1], ann[:1]) is None
    with pytest.raises(ValueError, match="one shape"):
        nearest_item_agreement(snn, ann[:2])


@settings(deadline=None)
@given(st.integers(2, 30), st.integers(0, 10 ** 6), st.floats(0.0, 2.0), st.floats(0.1, 10.0))
def test_agreement_is_order_and_scale_free(n, seed, noise, scale):
    g = torch.Generator().manual_seed(seed)
    ann = torch.randn(n, 5, generator=g, dtype=torch.float64)
    snn = ann + noise * torch.randn(n, 5, generator=g, dtype=torch.float64)
    perm = torch.randperm(n, generator=g)
    got = nearest_item_agreement(snn, ann)
    assert 0.0 <= got <= 1.0
    assert nearest_item_agreement(snn[perm] * scale, ann[perm]) == got


def test_tally_sums_batches_and_ranks(monkeypatch):
    g = torch.Generator().manual_seed(3)
    ref = torch.randn(30, 8, generator=g, dtype=torch.float64)
    out = ref + 0.1 * torch.randn(30, 8, generator=g, dtype=torch.float64)
    whole = FeatureTally(keep=True)
    whole.add(out, ref)
    assert whole.rel_error == pytest.approx(float((out - ref).norm() / ref.norm()), rel=1e-12)
    cos = torch.nn.functional.cosine_similarity(out, ref, dim=-1)
    assert whole.min_cosine == pytest.approx(float(cos.min()), rel=1e-12)
    assert whole.mean_cosine == pytest.approx(float(cos.mean()), rel=1e-12)
    parts = []
    for lo in (0, 7, 19):   # three "ranks" of uneven batches
        t = FeatureTally(keep=True)
        t.add(out[lo:lo + 7 if lo == 0 else lo + 12], ref[lo:lo + 7 if lo == 0 else lo + 12])
        parts.append(t)
    merged = FeatureTally.merge(parts)
    assert merged.rows == whole.rows == 30 and merged.kept == 30
    assert merged.rel_error == pytest.approx(whole.rel_error, rel=1e-12)
    assert merged.agreement() == pytest.approx(brute_force(out, ref), abs=1e-6)   # rows kept in float32
    monkeypatch.setattr(features, "NN_ROWS", 10)
    capped = FeatureTally(keep=True)
    for lo in range(0, 30, 4):
        capped.add(out[lo:lo + 4], ref[lo:lo + 4])
    assert capped.kept == 10 and capped.rows == 30
    assert capped.agreement() == pytest.approx(brute_force(out[:10], ref[:10]), abs=1e-6)
    assert FeatureTally.merge([capped, capped]).kept == 10
    assert math.isinf(_zero_ref_tally().rel_error)


def _zero_ref_tally():
    t = FeatureTally()
    t.add(torch.ones(2, 3), torch.zeros(2, 3))
    return t


@pytest.fixture(scope="module")
def backbone():
    ann = tiny_vit(num_classes=0)
    return ann, convert(ann, images(16, seed=4), progress=False)


def test_a_backbone_is_compared_by_its_features(backbone):
    ann, snn = backbone
    x = images(24, seed=5)
    assert not snn.classifier
    rep = evaluate(snn, ann, x, mode="quantized", precision=16, dtype=torch.float64, progress=False, warn=False)
    out = snn(x, mode="quantized", precision=16, dtype=torch.float64, warn=False)
    with torch.no_grad():
        ref = ann.double()(x.double())
    ann.float()
    assert rep.outputs == "features" and rep.rows == rep.agreement_rows == 24
    assert rep.agreement == pytest.approx(brute_force(out, ref), abs=1e-6)
    assert rep.rel_error == pytest.approx(float((out - ref).norm() / ref.norm()), rel=1e-9)
    assert rep.min_cosine < rep.mean_cosine < 1.0
    text = rep.summary()
    assert "nearest-item agreement" in text and "top-1" not in text and "ANN accuracy" not in text
    assert text.startswith("mode quantized, p = 16, float64, 24 inputs\n")
    exact = evaluate(snn, ann, x, mode="exact", dtype=torch.float64, progress=False, warn=False)
    assert exact.agreement == 1.0 and exact.min_cosine > 1 - 1e-12
    with pytest.raises(ValueError, match="no classification head"):
        evaluate(snn, ann, x, labels=torch.zeros(24, dtype=torch.long), progress=False)
    with pytest.raises(ValueError, match="predict is for classifiers"):
        snn.predict(x)


def test_a_classifier_keeps_top1_agreement():
    ann = tiny_vit()
    snn = convert(ann, images(16, seed=4), progress=False)
    x = images(24, seed=5)
    rep = evaluate(snn, ann, x, mode="quantized", precision=8, progress=False, warn=False)
    out, ref = snn(x, mode="quantized", precision=8, warn=False), ann(x)
    assert snn.classifier and rep.outputs == "logits"
    assert rep.agreement == float((out.argmax(-1) == ref.argmax(-1)).float().mean())
    assert "top-1 agreement" in rep.summary()


def test_the_sweep_skips_labels_of_a_backbone(backbone):
    ann, snn = backbone
    x = images(12, seed=6)
    labels = torch.arange(12) % 3
    configs = configs_for(["exact", "quantized"], [16], dtype=torch.float64)
    reports, totals = evaluate_sweep(snn, ann, [(x[:5], labels[:5]), (x[5:], labels[5:])], configs, progress=False)
    assert totals["labels_ignored"] is True
    for rep, c in zip(reports, configs):
        alone = evaluate(snn, ann, x, mode=c.mode, precision=c.precision, dtype=c.dtype, progress=False, warn=False)
        assert rep.outputs == "features" and rep.ann_accuracy is None and rep.snn_accuracy is None
        assert rep.agreement == alone.agreement and rep.rel_error == pytest.approx(alone.rel_error, rel=1e-9)
    from ttfs_symbolic.evaluation.sweep import summary_row

    assert "nearest-item agreement" in format_table([summary_row(r, 0.0) for r in reports], 12)


def test_text_outputs_are_features():
    pytest.importorskip("transformers")
    from helpers import padded_bert_batch

    model, batch = padded_bert_batch()
    mask = batch["attention_mask"]
    snn = convert(model, batch, progress=False, margin=0.5)
    rep = evaluate(snn, model, batch, mode="quantized", precision=8, dtype=torch.float64, progress=False, warn=False)
    rows = mask.bool()
    out = snn(batch, mode="quantized", precision=8, dtype=torch.float64, warn=False)[rows]
    with torch.no_grad():
        ref = model.double()(**batch).last_hidden_state[rows]
    assert rep.outputs == "features" and rep.rows == int(mask.sum())
    assert rep.agreement == pytest.approx(brute_force(out, ref), abs=1e-6)


def test_evaluate_leaves_the_ann_as_it_found_it():
    """evaluate() runs the ANN in eval mode and in the run's dtype, then gives it back as it was: a model
    in training stays in training (dropout and all), in its own dtype."""
    ann = tiny_vit(drop_rate=0.5)
    snn = convert(ann, images(8), progress=False)
    ann.train()
    rep = evaluate(snn, ann, images(6, seed=3), dtype=torch.float64, progress=False)
    assert rep.agreement == 1.0   # dropout was off during the comparison
    assert ann.training and all(m.training for m in ann.modules())
    assert next(ann.parameters()).dtype == torch.float32
    x = images(4, seed=3)
    evaluate_sweep(snn, ann, [(x, None)], configs_for(["exact"], []), progress=False)
    assert ann.training   # the sweep runs copies of the ANN
