"""A sweep's per-configuration spike counts, and a text model's report over real tokens only (the third
blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.evaluation.report import evaluate
from ttfs_symbolic.evaluation.sweep import Config, evaluate_sweep
from helpers import images, tiny_vit


def test_each_sweep_configuration_counts_its_own_spikes():
    """exact, quantized, exact again: the two exact rows report the same neurons and spikes, and every row
    equals what evaluate() counts for its configuration alone (no row carries an earlier row's counts)."""
    ann = tiny_vit()
    x = images(4)
    snn = convert(ann, x, preset="paper", progress=False)
    configs = [Config("exact", None, torch.float64), Config("quantized", 16, torch.float32),
               Config("exact", None, torch.float64)]
    reports, totals = evaluate_sweep(snn, ann, [(x[:2], None), (x[2:], None)], configs, progress=False)
    assert totals["images"] == 4
    assert (reports[0].neurons, reports[0].spikes) == (reports[2].neurons, reports[2].spikes)
    for c, rep in zip(configs, reports):
        alone = evaluate(snn, ann, x, mode=c.mode, precision=c.precision, dtype=c.dtype, batch_size=2,
                         progress=False, warn=False)
        assert (rep.neurons, rep.spikes) == (alone.neurons, alone.spikes), c.label


def test_text_report_compares_real_tokens_only():
    """A BERT batch with padding: evaluate compares the real tokens only, so exact mode's
    largest error is float64 rounding over them; the padding positions carry no meaning in either model."""
    pytest.importorskip("transformers")
    from helpers import padded_bert_batch

    model, batch = padded_bert_batch()
    mask = batch["attention_mask"]
    snn = convert(model, batch, progress=False, margin=0.5)
    rep = evaluate(snn, model, batch, mode="exact", dtype=torch.float64, progress=False, warn=False)
    real = int(mask.sum())
    assert real < mask.numel()
    assert 0.0 <= rep.agreement <= 1.0
    assert rep.max_logit_rel_error < 1e-9
