"""Under torchrun every rank holds out the items one process holds out (the fifth blind mutation audit's
survivor in the conversion, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from helpers import images, tiny_vit
from ttfs_symbolic.conversion import convert as convert_module
from ttfs_symbolic.conversion.convert import build_spiking, calibrate
from ttfs_symbolic.conversion.distributed import CalibrationBatches

SPLIT = convert_module._split_holdout


def _held_out_items(monkeypatch, snn, data, x, holdout):
    """The global indices (rows of x) of the items calibration ran as held out."""
    held = []

    def spy(batch, n, start, every):
        fit, hold = SPLIT(batch, n, start, every)
        if hold is not None:
            for row in hold:
                held.extend(i for i in range(len(x)) if torch.equal(row, x[i].to(row.dtype)))
        return fit, hold

    monkeypatch.setattr(convert_module, "_split_holdout", spy)
    calibrate(snn, data, batch_size=3, progress=False, holdout=holdout)
    return held


@pytest.mark.parametrize("rank", [0, 1])
def test_each_rank_holds_out_the_global_items_of_one_process(monkeypatch, rank):
    """12 items in global batches of 3; with holdout=0.2 one process holds out every 5th item overall
    (4 and 9). Rank r of 2 gets the global batches r, r + 2 and holds out those of them, by their global
    position (rank 0: none of 0-2, 6-8; rank 1: 4 of 3-5 and 9 of 9-11), not by its own count of items."""
    x = images(12, size=16).double()
    ann = tiny_vit(depth=1)
    one = _held_out_items(monkeypatch, build_spiking(ann), x, x, 0.2)
    assert sorted(one) == [4, 9]
    snn = build_spiking(ann)
    mine = [x[3 * k:3 * k + 3] for k in range(rank, 4, 2)]
    data = CalibrationBatches(mine, snn, rank=rank, world=2, n_batches=2, batch_size=3)
    got = _held_out_items(monkeypatch, snn, data, x, 0.2)
    want = [i for i in one if (i // 3) % 2 == rank]
    assert sorted(got) == want
