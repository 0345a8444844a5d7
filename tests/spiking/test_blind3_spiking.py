"""Spike counts of the signed product's layer I in quantized mode against exact mode's (matrix products:
attention's scores and values), and the code choice of ``codes="auto"`` against the rounding it measures."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.spiking import Ctx, SpikingLinear
from ttfs_symbolic.spiking.kernels import LOG_SHIFTS

from test_model_layers import _product, calibrate, rand, run  # noqa: E402


@pytest.mark.parametrize("shape2", [(2, 6, 5), (2, 6, 1)])
def test_signed_matmul_counts_every_layer1_neuron_of_each_pair(shape2):
    """Both factors take both signs, so each term x1_ik x2_kj has four layer-I neurons (one per pair of
    parts), and the neurons with a silent part exist for every (i, j, k): at p = 2^16 quantized mode counts
    the spikes exact mode counts (rounding can only silence the few within a tick of the least potential)."""
    x1 = rand(11, (2, 4, 6))
    x2 = rand(12, shape2)
    prod = _product(x1, x2, matmul=True, construction="signed")
    calibrate(prod, lambda ctx: prod(x1, x2, ctx))
    o1, o2 = prod.operands()
    assert o1.split and o2.split
    run(lambda ctx: prod(x1, x2, ctx), record=True)
    exact_n, exact_s = prod.y.stats.neurons, prod.y.stats.spikes
    assert exact_n == 2 * 4 * 6 * shape2[-1] * 4
    prod.y.stats.__init__()
    run(lambda ctx: prod(x1, x2, ctx), "quantized", 1 << 16, record=True)
    assert prod.y.stats.neurons == exact_n
    assert exact_s * 0.999 <= prod.y.stats.spikes <= exact_s


def _linear_layer_on(x):
    lin = SpikingLinear("lin", torch.eye(x.shape[-1], dtype=x.dtype), None)   # its output: the data itself
    with torch.no_grad():
        lin(x, Ctx(mode="calibrate"))
    lin.out.finalize(codes="auto")
    return lin.out


def test_auto_code_takes_the_code_of_least_rounding_error():
    """Values spread over decades (most near 0, a few large: the log code rounds them far less) take the
    log code; values of one sign spread evenly over their range take the linear code; either way the chosen code's
    summed squared rounding error (the comparison codes="auto" makes) is the least of the two."""
    g = torch.Generator().manual_seed(3)
    heavy = torch.sign(torch.randn(512, 8, generator=g, dtype=torch.float64)) * \
        torch.exp(2.5 * torch.randn(512, 8, generator=g, dtype=torch.float64))
    even = 1 + torch.rand(512, 8, generator=g, dtype=torch.float64)   # one sign, evenly spread
    chosen = {}
    for name, x in (("heavy", heavy), ("even", even)):
        pop = _linear_layer_on(x)
        linear, logs = pop._code_errors([pop.log_r] if pop.code == "log" else [0.01])
        chosen[name] = pop.code
        if pop.code == "log":
            assert logs[0] < linear
        else:
            assert linear <= min(pop._code_errors(LOG_SHIFTS)[1])
    assert chosen == {"heavy": "log", "even": "linear"}
