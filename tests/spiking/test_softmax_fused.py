"""The softmax at time precision p in two C passes (``SpikingSoftmax._fused``, ``csrc/softmax_body.h``)
against its torch path (the same layers, ``_fused_plan`` declined): in float64 the same outputs to rounding
and the same clip counts; in float32 the same up to a tick at a rounding tie (the sum's order, exp's last
bit). One range or one per head for the scores (z on its linear grid: kernel mode reads the log-sum-exp's
term table; per head: exp's closed form), the log code on layer II, quantized and kernel modes."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.numeric import native
from ttfs_symbolic.spiking import Ctx, Population, SpikingSoftmax

H, N = 3, 23


def _softmax(per_head: bool, g):
    src = Population("s", "identity", kind="linear")
    if per_head:
        a = -1.0 - torch.rand(H, 1, 1, generator=g, dtype=torch.float64)
        src.set_range(a, a.abs() * 1.5)
    else:
        src.set_range(-2.0, 3.0)
    sm = SpikingSoftmax("sm", src, N)
    x = _scores(src, g, 12, spread=0.3)   # flatter rows than the tests': layer II's b is below their peaks
    with torch.no_grad():
        sm(x, Ctx(mode="calibrate"))
    for pop in (sm.max, sm.z, sm.lse, sm.out):
        pop.finalize()
    sm.out.set_code("log", 1e-3)
    return sm, src


def _scores(src, g, batch, dtype=torch.float64, spread=1.0):
    a, b = src.range_pair()
    if not isinstance(a, torch.Tensor):
        a, b = torch.tensor(a), torch.tensor(b)
    t = 0.5 + spread * (torch.rand(batch, H, N, N, generator=g, dtype=torch.float64) - 0.5)
    return (a + (b - a) * t).to(dtype)


def _both(sm, x, ctx_args, monkeypatch):
    """(fused output, its clip counts, torch output, its clip counts) of one call each."""
    ctx = Ctx(**ctx_args)
    assert sm._fused_plan(x, ctx)
    with torch.no_grad():
        fused = sm(x, ctx)
    counts = dict(ctx.clipped)
    with monkeypatch.context() as m:
        m.setattr(SpikingSoftmax, "_fused_plan", lambda self, s, c: False)
        ref_ctx = Ctx(**ctx_args)
        with torch.no_grad():
            ref = sm(x, ref_ctx)
    return fused, counts, ref, dict(ref_ctx.clipped)


@pytest.mark.skipif(not native.available_for(torch.zeros(1)), reason="no C compiler: the torch path only")
@pytest.mark.parametrize("per_head", [False, True])
@pytest.mark.parametrize("mode", ["quantized", "kernel"])
@pytest.mark.parametrize("p", [64, 1024])
def test_float64_equals_the_torch_path(per_head, mode, p, monkeypatch):
    g = torch.Generator().manual_seed(p + per_head)
    sm, src = _softmax(per_head, g)
    x = _scores(src, g, 4)
    x[1, :, 2, :4] -= 20.0   # scores below the range (z below its a: the tick clamps at p)
    fused, counts, ref, ref_counts = _both(sm, x, {"mode": mode, "precision": p}, monkeypatch)
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-13)
    assert counts == ref_counts and counts["sm"][0] > 0


@pytest.mark.skipif(not native.available_for(torch.zeros(1)), reason="no C compiler: the torch path only")
@pytest.mark.parametrize("per_head", [False, True])
@pytest.mark.parametrize("mode", ["quantized", "kernel"])
def test_float32_within_a_tick_of_the_torch_path(per_head, mode, monkeypatch):
    g = torch.Generator().manual_seed(7 + per_head)
    sm, src = _softmax(per_head, g)
    x = _scores(src, g, 8, torch.float32)
    p = 1024
    fused, counts, ref, ref_counts = _both(sm, x, {"mode": mode, "precision": p}, monkeypatch)
    # the log code's tick of a probability q is log(q + e) on p ticks of log((b + e) / e): a tick is a
    # relative step of du / p in q + e
    e = sm.out.log_r * sm.out.b
    du = torch.log(torch.tensor((sm.out.b + e) / e)).item()
    rel = ((fused - ref).abs() / (ref + e)).max().item()
    assert rel <= 1.01 * du / p
    assert float(((fused - ref).abs() > 1e-6 * (ref + e)).float().mean()) < 0.01
    assert abs(counts["sm"][0] - ref_counts["sm"][0]) <= 2


@pytest.mark.skipif(not native.available_for(torch.zeros(1)), reason="no C compiler: the torch path only")
def test_nan_scores_are_refused():
    g = torch.Generator().manual_seed(3)
    sm, src = _softmax(False, g)
    x = _scores(src, g, 2)
    x[1, 2, 3, 4] = float("nan")
    ctx = Ctx(mode="kernel", precision=256)
    with pytest.raises(ValueError, match="NaN"):
        with torch.no_grad():
            sm(x, ctx)


def test_the_plan_declines_what_the_passes_do_not_make():
    """Recording, exact mode, a linear-coded layer II and log-coded z take the torch path."""
    g = torch.Generator().manual_seed(5)
    sm, src = _softmax(False, g)
    x = _scores(src, g, 2)
    on = native.available_for(x)
    assert sm._fused_plan(x, Ctx(mode="kernel", precision=256)) == on
    assert not sm._fused_plan(x, Ctx(mode="kernel", precision=256, record=True))
    assert not sm._fused_plan(x, Ctx(mode="exact"))
    sm.z.set_code("log", 0.03)
    assert not sm._fused_plan(x, Ctx(mode="quantized", precision=256))
    sm.z.set_code("linear")
    sm.out.set_code("linear")
    assert not sm._fused_plan(x, Ctx(mode="quantized", precision=256))
