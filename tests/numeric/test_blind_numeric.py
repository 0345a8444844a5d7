"""Neuron counts of the log code and the native LayerNorm's row sums (the blind mutation audit's survivors,
docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.numeric import fused, native, native_build
from ttfs_symbolic.numeric.dynamics import log_code_neurons


@pytest.mark.parametrize("a, b, per_value", [(0.0, 1.0, 1), (0.5, 2.0, 1), (-1.0, 0.0, 1), (-2.0, -1.0, 1),
                                             (-1.0, 1.0, 2)])
def test_log_code_neurons_two_only_where_the_range_holds_both_signs(a, b, per_value):
    # a value of [0, b] or [a, 0] has one sign: one neuron; a range across 0 needs one neuron per sign
    assert log_code_neurons((4,), a, b) == 4 * per_value
    assert log_code_neurons((2, 3), a, b) == 6 * per_value


def test_log_code_neurons_per_neuron_ranges():
    # neuron 0: [0, 1] (one sign), neuron 1: [-1, 1] (both): 1 + 2 = 3 per row
    a, b = torch.tensor([0.0, -1.0]), torch.tensor([1.0, 1.0])
    assert log_code_neurons((2,), a, b) == 3
    assert log_code_neurons((5, 2), a, b) == 15


def _open_pack(dtype):
    # [lo, hi, a, b] for one range holding every value: no clip, no count
    return torch.tensor([-1e300, 1e300, -1e300, 1e300], dtype=dtype)


@pytest.mark.parametrize("C", [1, 5, 8, 9, 12, 17])
def test_native_layernorm_equals_torch_at_widths_not_a_multiple_of_8(C):
    if native_build._compiler() is None:
        pytest.skip("no C compiler on this machine: only the torch reference runs")
    assert native.available(), native.build_info()["error"]
    g = torch.Generator().manual_seed(C)
    x = 3.0 + torch.randn(4, 3, C, generator=g, dtype=torch.float64)
    x[..., -1] += 50.0   # the last element of each row moves mean and variance a lot
    w = torch.rand(C, generator=g, dtype=torch.float64) + 0.5
    bias = torch.randn(C, generator=g, dtype=torch.float64)
    eps = 1e-5
    out, counts = fused.layernorm(x.contiguous(), eps, w, bias, [_open_pack(torch.float64)] * 5)
    ref = torch.nn.functional.layer_norm(x, (C,), w, bias, eps)
    # by hand: mean and (biased) variance of every element of the row
    m = x.sum(-1, keepdim=True) / C
    v = ((x - m) ** 2).sum(-1, keepdim=True) / C
    hand = (x - m) / torch.sqrt(v + eps) * w + bias
    assert torch.allclose(ref, hand, rtol=0, atol=1e-12)
    assert torch.allclose(out, hand, rtol=0, atol=1e-12), float((out - hand).abs().max())
    assert counts == [0, 0, 0, 0, 0]
