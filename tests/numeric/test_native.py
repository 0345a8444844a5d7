"""The C loops of the quantized and kernel modes against their torch reference.

``ttfs_symbolic.numeric.native`` has each loop twice: C (compiled on first
use) and torch. They must agree: bit for bit for the elementwise lookups
(same float operations in the same order, rounding half to even), and to the
rounding of a K-term sum for the matrix product (C adds the terms in
increasing k, torch in its reduction order). Spike counts must be equal.
The inputs include the hard cases: values exactly half-way between two
ticks, values outside the range, potentials exactly on a table entry.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ttfs_symbolic.numeric import native, native_build

DTYPES = [torch.float32, torch.float64]


@pytest.fixture(scope="module", autouse=True)
def _need_native():
    if native_build._compiler() is None:
        pytest.skip("no C compiler on this machine: only the torch reference runs")
    # with a compiler the loops must build: a failure here is a bug, not a skip
    assert native.available(), native.build_info()["error"]


def _values(seed: int, n: int, a: float, b: float, p: int, dtype) -> torch.Tensor:
    """Values in and around [a, b], a third of them exactly half-way between ticks."""
    g = torch.Generator().manual_seed(seed)
    d = b - a
    x = a - 0.2 * d + 1.4 * d * torch.rand(n, generator=g, dtype=torch.float64)
    half = (b - (torch.randint(0, p, (n,), generator=g) + 0.5) * (d / p)).to(torch.float64)
    x = torch.where(torch.rand(n, generator=g) < 1 / 3, half, x)
    x[:4] = torch.tensor([a, b, a - d, b + d], dtype=torch.float64)
    return x.to(dtype)


ranges = st.tuples(st.floats(-20.0, 20.0), st.floats(1e-3, 30.0)).map(lambda t: (t[0], t[0] + t[1]))
precisions = st.sampled_from([1, 2, 7, 16, 255, 1024, 4096])


@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 31), ab=ranges, p=precisions, n=st.integers(4, 5000), dtype=st.sampled_from(DTYPES),
       with_table=st.booleans())
def test_tick_lookup_matches_torch_bit_for_bit(seed, ab, p, n, dtype, with_table):
    a, b = ab
    x = _values(seed, n, a, b, p, dtype)
    scale = p / (b - a)
    if with_table:
        table = torch.randn(p + 1, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64).to(dtype)
        kw = dict(table=table)
    else:
        kw = dict(step=(b - a) / p)
    got, fired = native.tick_lookup(x, b, scale, p, backend="native", **kw)
    ref, fired_ref = native.tick_lookup(x, b, scale, p, backend="torch", **kw)
    assert got.dtype == ref.dtype == dtype
    assert torch.equal(got, ref)
    assert fired == fired_ref
    # and the reference is what the docs say: the nearest tick, half to even, clamped to [0, p]
    k = torch.round((b - x) * scale).clamp(0, p)
    assert fired_ref == int((k < p).sum())


@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 31), batch=st.sampled_from([(), (1,), (3,), (2, 2)]), m=st.integers(1, 9),
       k=st.integers(1, 40), n=st.integers(1, 37), p=precisions, dtype=st.sampled_from(DTYPES),
       broadcast=st.booleans(), count=st.booleans())
def test_product_matmul_matches_torch(seed, batch, m, k, n, p, dtype, broadcast, count):
    g = torch.Generator().manual_seed(seed)
    d_y = 3.0
    # layer I's inputs: each term in [0, d_y/2] so that l1 + l2 spans layer I's range [0, d_y]
    l1 = (torch.rand(*batch, m, k, generator=g, dtype=torch.float64) * d_y / 2).to(dtype)
    l2_batch = (1,) * len(batch) if broadcast else batch
    l2 = (torch.rand(*l2_batch, k, n, generator=g, dtype=torch.float64) * d_y / 2).to(dtype)
    table = torch.exp(d_y - torch.arange(p + 1, dtype=torch.float64) * (d_y / p)).to(dtype)
    s, fired = native.product_matmul(l1, l2, table, d_y, p / d_y, p, count=count, backend="native")
    ref, fired_ref = native.product_matmul(l1, l2, table, d_y, p / d_y, p, count=count, backend="torch")
    assert s.shape == ref.shape == (*batch, m, n)
    assert fired == fired_ref
    if not count:
        assert fired == 0
    # every term is in (0, e^{d_y}]: the two K-term sums differ by at most K ulps of the sum
    eps = torch.finfo(dtype).eps
    assert float((s - ref).abs().max()) <= k * eps * float(ref.abs().max()) + eps


def test_product_matmul_counts_every_layer1_spike():
    """Ticks of layer I computed one by one: the count and sum are those of the M*N*K neurons."""
    g = torch.Generator().manual_seed(3)
    p, b, scale = 64, 2.0, 32.0
    l1 = torch.rand(2, 5, 6, generator=g, dtype=torch.float64)
    l2 = torch.rand(2, 6, 4, generator=g, dtype=torch.float64) - 0.3
    table = torch.arange(p + 1, dtype=torch.float64) ** 2
    s, fired = native.product_matmul(l1, l2, table, b, scale, p)
    want, spikes = torch.zeros(2, 5, 4, dtype=torch.float64), 0
    for bb in range(2):
        for i in range(5):
            for j in range(4):
                for kk in range(6):
                    # the time to spike in ticks, each factor's part computed once: (b - l1)*s - l2*s
                    u = (b - float(l1[bb, i, kk])) * scale - float(l2[bb, kk, j]) * scale
                    t = round(max(0.0, min(p, u)))
                    want[bb, i, j] += t * t
                    spikes += t < p
    assert torch.equal(s, want)
    assert fired == spikes


@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 31), p=precisions, n=st.integers(1, 3000), dtype=st.sampled_from(DTYPES),
       use_guess=st.booleans(), guess_noise=st.sampled_from([0.0, 1.0, 50.0]))
def test_threshold_lookup_matches_searchsorted(seed, p, n, dtype, use_guess, guess_noise):
    g = torch.Generator().manual_seed(seed)
    a, b = -1.0, 2.0
    # a cumulative psi table: increasing, with repeated entries (flat psi) too
    steps = torch.rand(p, generator=g, dtype=torch.float64)
    steps[torch.rand(p, generator=g) < 0.1] = 0.0
    P = torch.cumsum(steps, 0)
    theta = float(P[-1]) / 2
    V = theta - (P[-1] * 1.4 * torch.rand(n, generator=g, dtype=torch.float64) - 0.2 * P[-1])
    on_entry = torch.rand(n, generator=g) < 0.3
    V = torch.where(on_entry, theta - P[torch.randint(0, p, (n,), generator=g)], V).to(dtype)
    values = b - torch.arange(p + 1, dtype=dtype) * ((b - a) / p)
    values[p] = a
    guess = None
    if use_guess:
        # any guess gives the same result; a good one (noise 0) only makes it faster
        m_ref = torch.searchsorted(P, (theta - V.double()), side="left")
        noisy = m_ref + (guess_noise * torch.randn(n, generator=g, dtype=torch.float64)).round().long()
        guess = (values[noisy.clamp(0, p)], b, p / (b - a))
    got, fired = native.threshold_lookup(V, P, theta, values, guess=guess, backend="native")
    ref, fired_ref = native.threshold_lookup(V, P, theta, values, backend="torch")
    assert torch.equal(got, ref)
    assert fired == fired_ref


@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_is_refused_by_every_loop(backend, dtype):
    p = 8
    x = torch.tensor([0.1, float("nan"), 0.3], dtype=dtype)
    table = torch.arange(p + 1, dtype=dtype)
    with pytest.raises(ValueError, match="NaN"):
        native.tick_lookup(x, 1.0, 8.0, p, table=table, backend=backend)
    with pytest.raises(ValueError, match="NaN"):
        native.tick_lookup(x, 1.0, 8.0, p, step=0.125, backend=backend)
    with pytest.raises(ValueError, match="NaN"):
        native.product_matmul(x.reshape(1, 3), torch.ones(3, 2, dtype=dtype), table, 1.0, 8.0, p, backend=backend)
    P = torch.arange(p, dtype=torch.float64)
    with pytest.raises(ValueError, match="NaN"):
        native.threshold_lookup(x, P, 3.0, table, backend=backend)


def test_bad_arguments_are_refused():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="exactly one of table and step"):
        native.tick_lookup(x, 1.0, 8.0, 8)
    with pytest.raises(ValueError, match="p \\+ 1 = 9 entries"):
        native.tick_lookup(x, 1.0, 8.0, 8, table=torch.zeros(8))
    with pytest.raises(ValueError, match="inner sizes differ"):
        native.product_matmul(torch.zeros(2, 3), torch.zeros(4, 2), torch.zeros(9), 1.0, 8.0, 8)
    with pytest.raises(ValueError, match="backend"):
        native.tick_lookup(x, 1.0, 8.0, 8, step=0.1, backend="cuda")
    with pytest.raises(RuntimeError, match="cannot run here"):
        native.tick_lookup(x.half(), 1.0, 8.0, 8, step=0.1, backend="native")
    # float16 has no C loop: the default backend quietly uses torch, with the same result
    # (x = 0 is the range's low end a = b - p*step: tick p, no spike)
    out, fired = native.tick_lookup(x.half(), 1.0, 8.0, 8, step=0.125)
    assert out.dtype == torch.float16 and torch.all(out == 0.0) and fired == 0


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_build_goes_to_the_cache_dir_and_can_be_switched_off(tmp_path):
    code = "from ttfs_symbolic.numeric import native; print(native.available(), native.build_info()['path'])"
    r = _python(code, TTFS_CACHE_DIR=str(tmp_path))
    assert r.returncode == 0, r.stderr
    ok, path = r.stdout.split()
    assert ok == "True" and path.startswith(str(tmp_path)) and os.path.isfile(path)
    # a second process reuses the library instead of compiling again
    mtime = os.path.getmtime(path)
    r = _python(code, TTFS_CACHE_DIR=str(tmp_path))
    assert r.stdout.split()[1] == path and os.path.getmtime(path) == mtime
    r = _python(code, TTFS_NATIVE="0", TTFS_CACHE_DIR=str(tmp_path))
    assert r.stdout.split()[0] == "False"


def test_a_broken_compiler_falls_back_to_torch_with_a_warning(tmp_path):
    code = ("import warnings, torch\nfrom ttfs_symbolic.numeric import native\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    out, f = native.tick_lookup(torch.tensor([0.5, 2.0]), 1.0, 4.0, 4, step=0.25)\n"
            "print(native.available(), out.tolist(), f, any('not available' in str(x.message) for x in w))")
    r = _python(code, CC="/bin/false", TTFS_CACHE_DIR=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0] == "False [0.5, 1.0] 2 True"


@pytest.mark.parametrize("backend", ["native", "torch"])
def test_tick_lookup_writes_into_out_and_in_place(backend):
    g = torch.Generator().manual_seed(5)
    x = torch.rand(1000, generator=g, dtype=torch.float64) * 3 - 1
    want, fired = native.tick_lookup(x, 2.0, 100.0, 300, step=0.01, backend=backend)
    buf = torch.empty_like(x)
    got, f = native.tick_lookup(x, 2.0, 100.0, 300, step=0.01, out=buf, backend=backend)
    assert got.data_ptr() == buf.data_ptr() and torch.equal(got, want) and f == fired
    y = x.clone()
    got, f = native.tick_lookup(y, 2.0, 100.0, 300, step=0.01, out=y, backend=backend)   # in place
    assert got.data_ptr() == y.data_ptr() and torch.equal(y, want) and f == fired
    # an out that overlaps x without being x is not written in place
    z = torch.cat([x, x[-1:]])
    got, _ = native.tick_lookup(z[:-1], 2.0, 100.0, 300, step=0.01, out=z[1:], backend=backend)
    assert torch.equal(got, want)
    with pytest.raises(ValueError, match="out must have x's shape"):
        native.tick_lookup(x, 2.0, 100.0, 300, step=0.01, out=torch.empty(3, dtype=torch.float64))


@pytest.mark.parametrize("n", [15, 16, 37, 197])
def test_product_matmul_float32_wide_rows(n):
    """float32 rows of 16 columns or more take the vectorized C path (AVX2 where the CPU has it):
    the same ticks, so the same spike count, and sums equal to the reference's up to their order."""
    g = torch.Generator().manual_seed(n)
    l1 = torch.rand(3, 9, 64, generator=g) * 1.5
    l2 = torch.rand(3, 64, n, generator=g) * 1.5
    p = 1024
    table = torch.exp(3.0 - torch.arange(p + 1, dtype=torch.float64) * (3.0 / p)).float()
    s, fired = native.product_matmul(l1, l2, table, 3.0, p / 3.0, p, backend="native")
    ref, fired_ref = native.product_matmul(l1, l2, table, 3.0, p / 3.0, p, backend="torch")
    assert fired == fired_ref > 0
    assert float((s - ref).abs().max()) <= 64 * torch.finfo(torch.float32).eps * float(ref.abs().max())


def test_an_unusable_cache_dir_falls_back_to_a_temporary_one(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")   # nothing can be made below a file, not even by root
    code = "from ttfs_symbolic.numeric import native; print(native.available(), native.build_info()['path'])"
    r = _python(code, TTFS_CACHE_DIR=str(blocker / "cache"))
    assert r.returncode == 0, r.stderr
    ok, path = r.stdout.split()
    # a fresh private mkdtemp folder (issue 12), named in one warning and removed at exit
    assert ok == "True" and not path.startswith(str(blocker)) and path.startswith(tempfile.gettempdir())
    assert "not using the cache folder" in r.stderr and not os.path.exists(os.path.dirname(path))


# ---- the fused clip and count loops (issue 22) --------------------------------------------------

def _bounds(kind: str, shape, g, dtype):
    """(lo, hi, a, b): one range (floats) or one per neuron of the trailing dimensions (tensors),
    the count bounds widened by a slack so that lo <= a and hi >= b."""
    if kind == "layer":
        a, b = -1.0, 2.0
        return a - 1e-3, b + 1e-3, a, b
    trailing = shape[-1:] if kind == "channel" else shape[1:]
    a = -1.0 - torch.rand(trailing, generator=g, dtype=torch.float64)
    b = 1.0 + torch.rand(trailing, generator=g, dtype=torch.float64)
    a, b = a.to(dtype), b.to(dtype)
    return a - 1e-3, b + 1e-3, a, b


@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 31), kind=st.sampled_from(["layer", "channel", "neuron"]),
       shape=st.sampled_from([(5, 7), (3, 4, 9), (2, 3, 1), (1, 5000), (3, 2, 2, 40)]),
       dtype=st.sampled_from(DTYPES), where=st.sampled_from(["new", "inplace", "none"]))
def test_clip_matches_torch(seed, kind, shape, dtype, where):
    """native.clip (exact mode's clamp and clipping count, one C pass) against its torch reference:
    the same clamped values bit for bit (NaN kept), the same counts, every range kind."""
    g = torch.Generator().manual_seed(seed)
    x = (6 * torch.rand(shape, generator=g, dtype=torch.float64) - 3).to(dtype)   # values past both ends
    lo, hi, a, b = _bounds(kind, shape, g, dtype)
    # NaN, the range's ends (of one range), and values past both ends of every range
    x.view(-1)[:5] = torch.tensor([float("nan"), -1.0, 2.0, -3.5, 3.5], dtype=dtype)
    got, ref = {}, {}
    for backend, res in (("native", got), ("torch", ref)):
        xb = x.clone()
        out = {"new": torch.empty_like(xb), "inplace": xb, "none": None}[where]
        res["out"], res["n"], res["o"] = native.clip(xb, lo, hi, a, b, out=out, backend=backend)
    assert got["n"] == ref["n"] and got["o"] == ref["o"]
    want_n = int(((x < lo) | (x > hi)).sum())
    assert got["n"] == want_n and got["o"] == int(((x < a) | (x > b)).sum()) >= want_n
    assert int((x > b + 0.01).sum()) > 0 and int((x < a - 0.01).sum()) > 0   # both sides exercised
    if where == "none":
        assert got["out"] is None and ref["out"] is None
    else:
        assert torch.equal(got["out"].nan_to_num(7.0), ref["out"].nan_to_num(7.0))
        assert torch.equal(got["out"].nan_to_num(7.0), torch.clamp(x, a, b).nan_to_num(7.0))


@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 31), kind=st.sampled_from(["layer", "channel", "neuron"]),
       shape=st.sampled_from([(5, 7), (3, 4, 9), (2, 3, 1), (1, 5000)]), p=precisions,
       dtype=st.sampled_from(DTYPES), counted=st.booleans(), inplace=st.booleans())
def test_tick_values_matches_torch_bit_for_bit(seed, kind, shape, p, dtype, counted, inplace):
    """native.tick_values (quantized/kernel value of the nearest tick, one range or one per neuron, and the
    clipping count in the same pass) against its torch reference, and against quantize by hand."""
    g = torch.Generator().manual_seed(seed)
    lo, hi, a, b = _bounds(kind, shape, g, dtype)
    d = b - a
    scale, step = p / d, d / p
    x = (4 * torch.rand(shape, generator=g, dtype=torch.float64) - 2).to(dtype)
    half = (b - (torch.randint(0, p, shape, generator=g) + 0.5) * step)   # exactly half-way between ticks
    x = torch.where(torch.rand(shape, generator=g) < 0.3, torch.as_tensor(half, dtype=dtype), x)
    count = (lo, hi) if counted else None
    res = []
    for backend in ("native", "torch"):
        xb = x.clone()
        res.append(native.tick_values(xb, b, scale, step, p, out=xb if inplace else None, count=count,
                                      backend=backend))
    (got, f1, c1), (ref, f2, c2) = res
    assert torch.equal(got, ref) and f1 == f2 and c1 == c2
    k = torch.round((b - x) * scale).clamp(0, p)
    assert torch.equal(ref, b - k * step) and f2 == int((k < p).sum())
    assert c2 == (int(((x < lo) | (x > hi)).sum()) if counted else 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["channel", "neuron", "one"])
def test_packed_bounds_equal_the_unpacked_ones(dtype, kind):
    """clip_packed and ticks_packed (the bounds packed once per layer) give clip's and tick_values' results."""
    g = torch.Generator().manual_seed(11)
    shape = (4, 6, 9)
    lo, hi, a, b = _bounds("neuron" if kind == "neuron" else "channel", shape, g, dtype)
    if kind == "one":   # one range as a one-element tensor: the scalar loop
        lo, hi, a, b = (t[:1] for t in (lo, hi, a, b))
    x = (4 * torch.rand(shape, generator=g, dtype=torch.float64) - 2).to(dtype)
    want = native.clip(x.clone(), lo, hi, a, b, out=torch.empty_like(x))
    got = native.clip_packed(x.clone(), torch.cat([t.reshape(-1) for t in (lo, hi, a, b)]), out=torch.empty_like(x))
    assert torch.equal(got[0], want[0]) and got[1:] == want[1:] and want[1] > 0
    p = 64
    pack = torch.cat([t.reshape(-1) for t in (b, p / (b - a), (b - a) / p, lo, hi)])
    want = native.tick_values(x, b, p / (b - a), (b - a) / p, p, count=(lo, hi))
    got = native.ticks_packed(x, pack, p)
    assert torch.equal(got[0], want[0]) and got[1:] == want[1:]


def test_clip_refuses_count_bounds_inside_the_range():
    with pytest.raises(ValueError, match="count bounds must hold the range"):
        native.clip(torch.zeros(3), 0.5, 2.0, 0.0, 2.0)


@settings(deadline=None)
@given(seed=st.integers(0, 2 ** 31), batch=st.sampled_from([(), (3,), (2, 2)]), m=st.integers(1, 9),
       k=st.integers(1, 40), n=st.integers(1, 37), p=precisions, dtype=st.sampled_from(DTYPES),
       split1=st.sampled_from([0, 1, -1]), split2=st.sampled_from([0, 1, -1]), count=st.booleans())
def test_product_matmul_signed_matches_torch(seed, batch, m, k, n, p, dtype, split1, split2, count):
    """The signed construction's main neurons: sum_k s1 s2 T[tick], s = -1 where the factor is negative
    (0: from the values) or a constant sign (+-1), C against torch, and against the unsigned loop."""
    g = torch.Generator().manual_seed(seed)
    d_y = 3.0
    l1 = (torch.rand(*batch, m, k, generator=g, dtype=torch.float64) * d_y / 2).to(dtype)
    l2 = (torch.rand(*batch, k, n, generator=g, dtype=torch.float64) * d_y / 2).to(dtype)
    x1 = torch.randn(*batch, m, k, generator=g, dtype=torch.float64).to(dtype)
    x2 = torch.randn(*batch, k, n, generator=g, dtype=torch.float64).to(dtype)
    x1.view(-1)[0] = 0.0   # zero is the positive part's
    signed = {"x1": x1} if split1 == 0 else {"s1": split1}
    signed.update({"x2": x2} if split2 == 0 else {"s2": split2})
    table = torch.exp(d_y - torch.arange(p + 1, dtype=torch.float64) * (d_y / p)).to(dtype)
    s, fired = native.product_matmul(l1, l2, table, d_y, p / d_y, p, count=count, backend="native", signed=signed)
    ref, fired_ref = native.product_matmul(l1, l2, table, d_y, p / d_y, p, count=count, backend="torch",
                                           signed=signed)
    plain, fired_plain = native.product_matmul(l1, l2, table, d_y, p / d_y, p, count=count, backend="torch")
    assert fired == fired_ref == fired_plain
    eps = torch.finfo(dtype).eps
    assert float((s - ref).abs().max()) <= k * eps * float(plain.abs().max()) + eps
    if split1 and split2:   # constant signs: the unsigned sums times their product
        assert torch.allclose(ref, split1 * split2 * plain, rtol=0, atol=k * eps * float(plain.abs().max()) + eps)


@pytest.mark.parametrize("n", [15, 16, 37, 197])
def test_product_matmul_signed_float32_wide_rows(n):
    """float32 rows of 16 columns or more take the AVX2 path, where the signs shift the gathered entry."""
    g = torch.Generator().manual_seed(n)
    l1 = torch.rand(3, 9, 64, generator=g) * 1.5
    l2 = torch.rand(3, 64, n, generator=g) * 1.5
    signed = {"x1": torch.randn(3, 9, 64, generator=g), "x2": torch.randn(3, 64, n, generator=g)}
    p = 1024
    table = torch.exp(3.0 - torch.arange(p + 1, dtype=torch.float64) * (3.0 / p)).float()
    for sg in (signed, {"x1": signed["x1"], "s2": -1}, {"s1": -1, "x2": signed["x2"]}):
        s, fired = native.product_matmul(l1, l2, table, 3.0, p / 3.0, p, backend="native", signed=sg)
        ref, fired_ref = native.product_matmul(l1, l2, table, 3.0, p / 3.0, p, backend="torch", signed=sg)
        assert fired == fired_ref > 0
        assert float((s - ref).abs().max()) <= 64 * torch.finfo(torch.float32).eps * float(table.max()) * 64


def test_product_matmul_signed_refuses_bad_signs():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="exactly one of x1"):
        native.product_matmul(z, z.T.contiguous(), torch.zeros(9), 1.0, 8.0, 8, signed={"x2": z.T})
    with pytest.raises(ValueError, match="must be \\+1 or -1"):
        native.product_matmul(z, z.T.contiguous(), torch.zeros(9), 1.0, 8.0, 8, signed={"s1": 2, "s2": 1})
    with pytest.raises(ValueError, match="unknown key"):
        native.product_matmul(z, z.T.contiguous(), torch.zeros(9), 1.0, 8.0, 8, signed={"s1": 1, "s2": 1, "h": 1})
