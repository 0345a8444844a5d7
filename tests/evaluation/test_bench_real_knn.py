"""benchmarks/bench_real.py's k-NN classifiers (the labels by which DINOv2's agreement is reported):
the 5-NN majority and DINOv2's weighted 20-NN (``eval_knn``: votes weighted by exp(cos / T))."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_real import Task, knn, knn_weighted  # noqa: E402
from plot_real_precision import collect  # noqa: E402


def _bank():
    """A query e0; two reference features of label 1 at cosine 0.999 to it, three of label 0 at 0.95,
    three of label 2 pointing away (cosine -1)."""
    def at(c):
        return [c, math.sqrt(1.0 - c * c), 0.0]

    bank = torch.tensor([at(0.999)] * 2 + [at(0.95)] * 3 + [[-1.0, 0.0, 0.0]] * 3, dtype=torch.float64)
    labels = torch.tensor([1, 1, 0, 0, 0, 2, 2, 2])
    return torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64), bank * 3.0, labels


def test_weighted_votes_outweigh_the_majority_at_a_low_temperature():
    q, bank, labels = _bank()
    # majority of the 5 nearest: three 0s against two 1s
    assert int(knn(q, bank, labels, k=5)) == 0
    # T = 0.07: 2 exp(0.999 / T) > 3 exp(0.95 / T), the two closer features win
    assert 2 * math.exp(0.999 / 0.07) > 3 * math.exp(0.95 / 0.07)
    assert int(knn_weighted(q, bank, labels, k=5, T=0.07, classes=3)) == 1
    # a high temperature makes the weights nearly equal: the majority again
    assert int(knn_weighted(q, bank, labels, k=5, T=100.0, classes=3)) == 0
    # only the k nearest vote: k = 8 lets the three far 2s in, whose weights exp(-1 / T) are negligible
    assert int(knn_weighted(q, bank, labels, k=8, T=0.07, classes=3)) == 1
    # k = 3: two 1s and one 0 vote
    assert int(knn_weighted(q, bank, labels, k=3, T=100.0, classes=3)) == 1


def test_weighted_knn_is_scale_free_and_one_label_per_query():
    """Cosine similarity: the features' lengths do not matter; a batch gives one label per row."""
    q, bank, labels = _bank()
    qs = torch.cat([q, 5.0 * q, -q])
    out = knn_weighted(qs, bank, labels, k=5, T=0.07, classes=3)
    assert out.tolist() == [1, 1, 2]


def test_classify_answers_each_output_from_its_own_values():
    """``Task.classify`` keeps its last answer for the same tensor (agreement, near ties and the probe rows
    ask three times); a new tensor, even an equal-shaped one, is classified anew."""
    q, bank, labels = _bank()
    task = Task.__new__(Task)   # the bank three times over: the weighted k-NN asks for 20 neighbours
    task.bank, task.bank_labels, task._last = bank.repeat(3, 1), labels.repeat(3), None
    task.probe = lambda f: (f[:, 0] > 0).long()
    first = task.classify(q)
    assert task.classify(q) is first
    flipped = task.classify(-q)
    assert int(first["5nn"]) == 1 and int(flipped["5nn"]) == 2
    assert int(first["probe"]) == 1 and int(flipped["probe"]) == 0


def test_precision_plot_refuses_files_of_different_runs(tmp_path):
    """plot_real_precision.py merges rows over files only when they hold one setting and agree where
    they overlap."""
    def write(name, test, rows):
        run = {"model": "dinov2", "config": "accurate", "calib": 256, "test": test,
               "rows": [{"mode": "exact", "p": None, "error_vs_ann": 1e-4}]
               + [{"mode": "quantized", "p": p, "error_vs_ann": e, "agreement": 0.99} for p, e in rows]}
        path = tmp_path / name
        path.write_text(json.dumps({"runs": [run]}))
        return path

    a = write("a.json", 768, [(1024, 0.0085)])
    b = write("b.json", 768, [(2048, 0.0046), (1024, 0.0085)])
    shared, rows = collect([a, b], "accurate")
    assert shared == {"model": "dinov2", "test": 768, "calib": 256} and list(rows) == [1024, 2048]
    with pytest.raises(SystemExit, match="not the first file"):
        collect([a, write("c.json", 256, [(4096, 0.002)])], "accurate")
    with pytest.raises(SystemExit, match="not the same conversion"):
        collect([a, write("d.json", 768, [(1024, 0.0090)])], "accurate")
    with pytest.raises(SystemExit, match="no quantized rows"):
        collect([a], "paper")
