"""benchmarks/bench_real.py's k-NN classifiers (the labels by which DINOv2's agreement is reported):
the 5-NN majority and DINOv2's weighted 20-NN (``eval_knn``: votes weighted by exp(cos / T))."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_real import knn, knn_weighted  # noqa: E402


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
