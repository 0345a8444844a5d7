"""Batches of images and their count (the blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.data.inputs import batches, count_batches


@pytest.mark.parametrize("n, size, want", [(10, 4, 3), (8, 4, 2), (1, 4, 1), (3, 1, 3), (10, 20, 1), (0, 4, 0)])
def test_count_batches_counts_the_last_partial_batch(n, size, want):
    x = torch.zeros(n, 3, 8, 8)
    got = list(batches(x, size))
    assert count_batches(x, size) == want == len(got)
    assert sum(b.shape[0] for b in got) == n
    pair = (x, torch.zeros(n, dtype=torch.long))
    assert count_batches(pair, size) == want == len(list(batches(pair, size)))


def test_the_last_batch_holds_the_remainder():
    x = torch.arange(10.0).reshape(10, 1, 1, 1).expand(10, 3, 8, 8)
    got = list(batches(x, 4))
    assert [b.shape[0] for b in got] == [4, 4, 2]
    assert got[-1][:, 0, 0, 0].tolist() == [8.0, 9.0]
