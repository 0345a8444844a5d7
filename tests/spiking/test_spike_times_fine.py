"""``Population.spike_times`` on layers whose neurons have ranges of their own (per head, per channel):
each neuron's time on its own range (eq. 7), against :class:`LayerTiming` made per head by hand; and the
layers that have no eq. 7 times (log-coded, relays) refused by name (before: the layer's envelope range
was used for every neuron, and log-coded layers got linear times: wrong times without a word)."""
from __future__ import annotations

import pytest
import torch

from helpers import images, tiny_vit
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.numeric.dynamics import LayerTiming, quantize_values


@pytest.fixture(scope="module")
def pops():
    snn = convert(tiny_vit(depth=1), images(6), progress=False)   # the default: per-head scores, log codes
    return {p.pname: p for p in snn.populations()}


def _scores(pop, seed=0):
    a, b = pop.fine_a.reshape(-1), pop.fine_b.reshape(-1)
    h = a.numel()
    g = torch.Generator().manual_seed(seed)
    lo, hi = float(a.min()), float(b.max())
    x = lo - 0.5 + (hi - lo + 1.0) * torch.rand(2, h, 5, 5, generator=g, dtype=torch.float64)
    x[0, 0, 0, 0], x[0, 1, 0, 0] = a[0], b[1]   # a head's own ends: silent, and at T_emit
    return x, a, b


@pytest.mark.parametrize("p", [None, 16, 1024])
def test_per_head_times_are_each_heads_own(pops, p):
    pop = pops["blocks.0.attn.scores"]
    assert pop.fine_a is not None and pop.code == "linear" and pop.fine_a.reshape(-1).unique().numel() > 1
    x, a, b = _scores(pop)
    got = pop.spike_times(x, delta=2.0, T_emit0=1.0, p=p)
    want = torch.empty_like(x)
    for i in range(a.numel()):
        timing = LayerTiming.for_layer(pop.window, float(a[i]), float(b[i]), 2.0, 1.0)
        xi = x[:, i] if p is None else quantize_values(x[:, i], float(a[i]), float(b[i]), p)
        if p is not None:
            x[:, i] = xi
        want[:, i] = timing.encode(xi, p)
    if p is not None:
        got = pop.spike_times(x, delta=2.0, T_emit0=1.0, p=p)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.isinf(got[0, 0, 0, 0]) and got[0, 1, 0, 0] == 1.0 + 2.0 * pop.window
    # the envelope's times differ: the old answer was wrong for every head but the widest
    env = pop.timing(2.0, 1.0).encode(x, p)
    assert not torch.allclose(env, got, equal_nan=True)


def test_per_head_times_need_the_layers_shape(pops):
    pop = pops["blocks.0.attn.scores"]
    with pytest.raises(ValueError, match="blocks.0.attn.scores"):
        pop.spike_times(torch.zeros(2, pop.fine_a.numel() + 1, 5, 5, dtype=torch.float64))


def test_layers_without_eq7_times_are_refused_by_name(pops):
    logged = next(p for p in pops.values() if p.code == "log" and not p.relay)
    with pytest.raises(ValueError, match=f"layer {logged.pname} is log-coded"):
        logged.spike_times(torch.zeros(1, 5, 16, dtype=torch.float64))
    relay = next(p for p in pops.values() if p.relay)
    with pytest.raises(ValueError, match=f"layer {relay.pname} has no neuron"):
        relay.spike_times(torch.zeros(1, 5, 16, dtype=torch.float64))


def test_nan_values_are_refused(pops):
    pop = pops["blocks.0.attn.scores"]
    x, _, _ = _scores(pop)
    x[1, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        pop.spike_times(x)
