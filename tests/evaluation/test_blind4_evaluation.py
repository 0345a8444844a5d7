"""Clip rates a user reads (the fourth blind mutation audit's survivors in the evaluation, docs/mutation.md):
evaluate()'s warning names each layer's worst rate over the batches, and ttfs evaluate's clip rate is the
share of the network's neurons, the input layer's pixels not counted."""
from __future__ import annotations

import warnings

import pytest
import torch

import ttfs_symbolic.evaluation.report as report_module
from helpers import images, tiny_vit
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.evaluation.report import evaluate, reset_counters
from ttfs_symbolic.evaluation.sweep import Config, evaluate_sweep
from ttfs_symbolic.spiking import ClippingWarning

D = torch.float64


@pytest.fixture(scope="module")
def model():
    ann = tiny_vit(depth=1).eval()
    return ann, convert(ann, images(8), progress=False)


def test_the_warning_gives_each_layer_its_worst_batch(model, monkeypatch):
    """Two batches, the first far outside the calibration data, the second a little: each layer's rate in
    the warning is the larger of its two batches' (so the named worst layers are the worst)."""
    ann, snn = model
    batches = [3.0 * images(4, seed=5), 1.5 * images(4, seed=6)]
    per_batch = []
    for x in batches:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClippingWarning)
            snn(x, dtype=D)
        per_batch.append(dict(snn.last_clipping["layers"]))
    worst = {k: max(b.get(k, 0.0) for b in per_batch) for b in per_batch for k in b}
    assert any(per_batch[0].get(k, 0.0) > per_batch[1].get(k, 0.0) > 0 for k in worst)   # the case that matters
    seen = {}
    monkeypatch.setattr(report_module, "warn_clipping", lambda clipped, checked, layers, *a, **k: seen.update(layers))
    evaluate(snn, ann, torch.cat(batches), dtype=D, batch_size=4, progress=False)
    assert seen.keys() == worst.keys()
    for k, v in worst.items():
        assert seen[k] == pytest.approx(v, rel=1e-12), k


def test_the_sweeps_clip_rate_leaves_out_the_input_layer(model):
    """The sweep's clip rate is the share of the neurons checked in the run that clipped, as evaluate's
    (2026-12-07: the input layer's pixels are among them, as in evaluate and its warning; the sweep's own
    rate over every neuron counter had left them out and was 5x lower than evaluate's)."""
    ann, snn = model
    x = 3.0 * images(4, seed=5)
    _, totals = evaluate_sweep(snn, ann, [(x, None)], [Config("exact", None, D)], progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        snn(x, dtype=D, record=True)
    info = snn.last_clipping
    assert info["clipped"] > 0 and info["checked"] > 0
    assert totals["clip_rate"]["exact"] == pytest.approx(info["clipped"] / info["checked"], rel=1e-12)
