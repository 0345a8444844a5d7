"""check_neuron on a definition with params (the second blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

from ttfs_symbolic.catalogue import NeuronDef
from ttfs_symbolic.verify import POTENTIAL_SUBRANGES, check_neuron


def test_the_sub_range_check_uses_the_definitions_params():
    nd = NeuronDef(name="shifted_log", f="log(x + c)", h="x", range=(0.0, 1.0), output_range=(-1.0, 1.0),
                   params={"c": 1.0})
    report = check_neuron(nd, max_examples=5, precisions=(64, 256), seed=0)
    assert report.passed, str(report)
    sub = report[POTENTIAL_SUBRANGES]
    assert sub.holds and sub.tried >= 5 and "sub-ranges of [0, 1]" in sub.detail
