"""A factor of the signed matrix product in one C pass (``fused.signed_factor``, used by
``Product._matmul_factors``) against the torch lines it replaces (``use_native`` false): in float64 the
same layer-I terms l, signs, silent-part terms E10 / E01 and spike counts to rounding, and the same
product; in float32 within a tick at rounding ties. Split and one-signed factors of both signs, quantized
and kernel mode (whose log-coded factors take the closed form too)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.numeric import fused, native
from ttfs_symbolic.spiking import Ctx, Population, Product
from ttfs_symbolic.spiking import product as product_module

# (a1, b1, a2, b2): both split, x1 one-signed positive, x2 one-signed negative, both one-signed
RANGES = [(-2.0, 3.0, -1.0, 2.0), (0.5, 3.0, -2.0, 1.5), (-2.0, 3.0, -3.0, -0.2), (0.1, 2.0, -2.0, -0.5)]
needs_c = pytest.mark.skipif(not native.available_for(torch.zeros(1)), reason="no C compiler: the torch path only")


def _setup(ranges, log_code, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    a1, b1, a2, b2 = ranges
    p1, p2 = Population("x1", "identity", fixed_range=(a1, b1)), Population("x2", "identity", fixed_range=(a2, b2))
    if log_code:
        p1.set_code("log", 0.03)
        p2.set_code("log", 0.03)
    prod = Product("prod", p1, p2, Population("out", "identity", kind="product_out"), matmul=True,
                   construction="signed")
    x1 = (a1 + (b1 - a1) * torch.rand(2, 3, 9, 13, generator=g, dtype=torch.float64)).to(dtype)
    x2 = (a2 + (b2 - a2) * torch.rand(2, 3, 13, 11, generator=g, dtype=torch.float64)).to(dtype)
    x1[0, 0, 0, :4] = 0.0
    with torch.no_grad():
        prod(x1, x2, Ctx(mode="calibrate"))
    for i, pop in enumerate((prod.p1, prod.p2, prod.y, prod.out)):
        if not pop.calibrated:
            pop.finalize()
        pop.window = i + 1
    return prod, x1, x2


def _factors_both(prod, x1, x2, ctx, monkeypatch):
    T = prod._layer2_table(ctx.mode_for(prod.y), ctx.precision, x1.dtype, x1.device)
    fast = prod._matmul_factors(x1, x2, T, ctx)
    with monkeypatch.context() as m:
        m.setattr(native, "use_native", lambda *a, **k: False)
        ref = prod._matmul_factors(x1, x2, T, ctx)
    return fast, ref


@needs_c
@pytest.mark.parametrize("ranges", RANGES)
@pytest.mark.parametrize("mode, log_code", [("quantized", False), ("kernel", True)])
def test_float64_factors_and_product_equal_the_torch_path(ranges, mode, log_code, monkeypatch):
    prod, x1, x2 = _setup(ranges, log_code, torch.float64, 1)
    ctx = Ctx(mode=mode, precision=256, record=True)
    fast, ref = _factors_both(prod, x1, x2, ctx, monkeypatch)
    names = ("l1", "l2", "s1", "s2", "E10", "E01", "f10", "f01")
    for name, a, b in zip(names, fast, ref):
        if isinstance(b, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=1e-15, atol=1e-15, msg=name)
        else:
            assert a == b, name
    o1, o2 = prod.operands()
    assert (fast[4] is None) != o2.split and (fast[6] > 0) == o2.split
    with torch.no_grad():
        V = prod(x1, x2, Ctx(mode=mode, precision=256))
        monkeypatch.setattr(native, "use_native", lambda *a, **k: False)
        R = prod(x1, x2, Ctx(mode=mode, precision=256))
    torch.testing.assert_close(V, R, rtol=1e-12, atol=1e-12)


@needs_c
@pytest.mark.parametrize("ranges", RANGES[:2])
def test_float32_within_a_tick(ranges, monkeypatch):
    prod, x1, x2 = _setup(ranges, True, torch.float32, 2)
    ctx = Ctx(mode="kernel", precision=1024)
    fast, ref = _factors_both(prod, x1, x2, ctx, monkeypatch)
    for a, b in zip(fast[:2], ref[:2]):   # log(|x| + e): a float32 ulp or two
        assert float((a - b).abs().max()) <= 4 * torch.finfo(torch.float32).eps * float(b.abs().max() + 1)
    step = prod.y.d / 1024   # E = exp(b_y - k step): a tick is a relative step of `step`
    for a, b in zip(fast[4:6], ref[4:6]):
        if b is not None:
            rel = (a - b).abs() / b.abs().clamp(min=1e-30)
            assert float(rel.max()) <= 1.01 * step + 1e-6
            assert float((rel > 1e-6).float().mean()) < 0.01


@needs_c
@pytest.mark.parametrize("ranges", RANGES)
@pytest.mark.parametrize("fused_pass", [True, False])
def test_nan_factor_is_refused(ranges, fused_pass, monkeypatch):
    """A NaN factor raises: in the C pass of the factors, or (the torch lines) in a tick lookup of the
    terms with a silent part or, where x1 is one-signed (no such lookup reads x2), in the product's own NaN
    scan of the terms before its C loop (whose ticks a NaN would send out of the table)."""
    prod, x1, x2 = _setup(ranges, False, torch.float64, 3)
    x2[1, 2, 3, 4] = float("nan")
    if not fused_pass:
        monkeypatch.setattr(fused, "signed_factor", lambda *a, **k: pytest.fail("the C pass ran"))
        monkeypatch.setattr(native, "use_native", lambda *a, **k: False)
    with pytest.raises(ValueError, match="NaN"):
        with torch.no_grad():
            prod(x1, x2, Ctx(mode="quantized", precision=64))


def test_the_module_keeps_its_names():
    """signed_error_proxy moved to spiking/signed_proxy.py: product's name is the same function."""
    from ttfs_symbolic.spiking.signed_proxy import signed_error_proxy
    assert product_module.signed_error_proxy is signed_error_proxy
