"""evaluate's accuracy over several batches (the blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.evaluation.report import evaluate
from helpers import images, tiny_vit

D = torch.float64


@pytest.fixture(scope="module")
def converted():
    ann = tiny_vit().double()
    x = images(6).double()
    snn = convert(ann, x, preset="paper", progress=False)
    with torch.no_grad():
        preds = ann(x).argmax(-1)
    return ann, snn, x, preds


def test_accuracy_counts_each_batch_against_its_own_labels(converted):
    ann, snn, x, preds = converted
    # labels chosen so that comparing a later batch with the first batch's labels gives another count:
    # labels[0:2] are the predictions of items 2, 3; items 2..5 are labelled wrongly
    labels = torch.cat([preds[2:4], (preds[2:6] + 1) % 5])
    direct = int((preds == labels).sum())                                   # the count a user makes
    first_batch = sum(int((preds[n:n + 2] == labels[:2]).sum()) for n in (0, 2, 4))
    assert direct == int((preds[:2] == preds[2:4]).sum()) and first_batch >= direct + 2
    for batch_size in (2, 6):
        rep = evaluate(snn, ann, x, labels, mode="exact", dtype=D, batch_size=batch_size, progress=False,
                       warn=False)
        assert rep.images == 6 and rep.agreement == 1.0
        assert rep.ann_accuracy == pytest.approx(direct / 6, abs=1e-12)
        assert rep.snn_accuracy == pytest.approx(direct / 6, abs=1e-12)   # exact mode: the ANN's predictions
