"""The elementwise signed product with per-channel ranges (LayerNorm's product) in one C pass
(``fused.signed_mul``) against its torch path (``Product._signed_elementwise_fine`` with the C pass
declined): the same values to rounding and the same layer-I spike counts, for split and one-signed
factors of either sign, x2 per element or one per row."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.numeric import native
from ttfs_symbolic.spiking.context import Ctx
from ttfs_symbolic.spiking.population import Population
from ttfs_symbolic.spiking.product import Product

RANGES = [(-2.0, 3.0, 0.1, 4.0), (-2.0, 3.0, -1.0, 2.0), (0.5, 3.0, -2.0, -0.2), (-3.0, -0.5, 0.0, 2.0)]


def _product(a1, b1, a2, b2, C, per_channel2, g):
    p1 = Population("x1", "identity", kind="linear")
    p2 = Population("x2", "identity", kind="linear")
    A1 = torch.full((C,), a1, dtype=torch.float64) - torch.rand(C, generator=g, dtype=torch.float64) * 0.5 * (a1 < 0)
    B1 = torch.full((C,), b1, dtype=torch.float64) + torch.rand(C, generator=g, dtype=torch.float64) * (b1 > 0)
    p1.set_range(A1, B1)
    if per_channel2:
        p2.set_range(torch.full((C,), a2, dtype=torch.float64), torch.full((C,), b2, dtype=torch.float64))
    else:
        p2.set_range(a2, b2)
    pr = Product("t", p1, p2, Population("o", "identity", kind="linear"), matmul=False, construction="signed")
    return pr, A1, B1


@pytest.mark.skipif(not native.available_for(torch.zeros(1)), reason="no C compiler: the torch path only")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ranges", RANGES)
@pytest.mark.parametrize("per_row", [True, False])
def test_c_pass_equals_the_torch_path(dtype, ranges, per_row, monkeypatch):
    g = torch.Generator().manual_seed(len(str(ranges)) + per_row)
    C = 37
    pr, A1, B1 = _product(*ranges, C, not per_row, g)
    a2, b2 = ranges[2:]
    x1 = (A1 + (B1 - A1) * torch.rand(4, 9, C, generator=g, dtype=torch.float64)).to(dtype)
    x2 = (a2 + (b2 - a2) * torch.rand(4, 9, 1 if per_row else C, generator=g, dtype=torch.float64)).to(dtype)
    x1[0, 0, :3] = 0.0
    x2[0, 1] = 0.0
    ctx = Ctx(mode="quantized", precision=256, record=True)
    assert pr._fine_pack(x1, x2, pr._fine_constants(x1, x2, *pr.operands(), 256)) is not None
    V = pr._signed_elementwise_fine(x1, x2, ctx)
    fired = pr.y.stats.spikes
    monkeypatch.setattr(Product, "_fine_pack", lambda self, *a: None)
    pr.y.stats.spikes = 0
    R = pr._signed_elementwise_fine(x1, x2, ctx)
    eps = torch.finfo(dtype).eps
    if dtype == torch.float64:
        torch.testing.assert_close(V, R, rtol=0, atol=64 * eps * float(R.abs().max()))
        assert fired == pr.y.stats.spikes > 0
    else:   # libm's log and exp against torch's: a tick may differ at a rounding tie
        diff = (V - R).abs()
        assert float((diff > 64 * eps * float(R.abs().max())).double().mean()) < 0.01
        assert abs(fired - pr.y.stats.spikes) <= 2


@pytest.mark.skipif(not native.available_for(torch.zeros(1)), reason="no C compiler: the torch path only")
def test_nan_factor_is_refused_naming_the_layer():
    g = torch.Generator().manual_seed(0)
    pr, A1, B1 = _product(-2.0, 3.0, 0.1, 4.0, 8, False, g)
    x1 = torch.zeros(2, 8)
    x1[1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        pr._signed_elementwise_fine(x1, torch.ones(2, 1), Ctx(mode="quantized", precision=64))
