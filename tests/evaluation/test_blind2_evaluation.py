"""The report's totals, the error budget's shares and the sweep's skipped images and dtypes
(the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.evaluation.report import error_budget, evaluate
from ttfs_symbolic.evaluation.sweep import Config, configs_for, evaluate_sweep
from helpers import images, tiny_vit


@pytest.fixture(scope="module")
def converted():
    ann = tiny_vit()
    x = images(4)
    return ann, convert(ann, x, preset="paper", progress=False), x


def test_the_input_layer_is_not_counted_as_neurons(converted):
    ann, snn, x = converted
    rep = evaluate(snn, ann, x, mode="quantized", precision=16, batch_size=2, progress=False, warn=False)
    names = [r.name for r in rep.layers]
    assert "input" not in names and len(names) == len(snn.populations()) - 1
    assert rep.neurons == 4 * sum(r.neurons for r in rep.layers)
    # every row per image (neurons and spikes alike), the totals over the 4 images
    assert rep.spikes == pytest.approx(4 * sum(r.spikes for r in rep.layers), rel=1e-12)
    assert all(r.spikes <= r.neurons for r in rep.layers)   # at most one spike per neuron per image
    inside = [p for p in snn.populations() if p.kind != "input"]
    assert rep.neurons == sum(p.stats.neurons for p in inside)


def test_budget_shares_are_each_groups_part_of_the_groups_sum(converted):
    _, snn, x = converted
    budget = error_budget(snn, x, mode="quantized", precision=16, curve=(16,), progress=False)
    errors = {k: g["error"] for k, g in budget.groups.items()}
    total = sum(errors.values())
    assert total > 0 and total != pytest.approx(budget.total_error)
    for name, g in budget.groups.items():
        assert g["share"] == pytest.approx(errors[name] / total, rel=1e-12)
    assert sum(g["share"] for g in budget.groups.values()) == pytest.approx(1.0, rel=1e-12)


def test_exact_mode_runs_in_float64_whatever_the_sweeps_dtype():
    got = configs_for(["exact", "quantized"], [8, 64], dtype=torch.float32)
    assert got == [Config("exact", None, torch.float64), Config("quantized", 8, torch.float32),
                   Config("quantized", 64, torch.float32)]
    assert configs_for(["exact"], [], dtype=torch.float32, exact_dtype=torch.float32)[0].dtype == torch.float32


def test_sweep_keeps_the_skipped_paths_of_a_batch_left_empty(converted):
    ann, snn, x = converted
    batches = [SimpleNamespace(images=x[:2], labels=None, skipped=["a.png"]),
               SimpleNamespace(images=x[:0], labels=None, skipped=["b.png", "c.png"]),
               SimpleNamespace(images=x[2:], labels=None, skipped=[])]
    reports, totals = evaluate_sweep(snn, ann, batches, configs_for(["exact"], []), progress=False)
    assert totals["images"] == 4
    assert totals["skipped"] == 3 and totals["skipped_paths"] == ["a.png", "b.png", "c.png"]
    assert reports[0].dtype == "float64" and reports[0].agreement == 1.0
