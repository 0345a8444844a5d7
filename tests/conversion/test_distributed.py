"""``model.distributed``: the reductions of calibration statistics and counts over ranks (gloo, 127.0.0.1).

Two processes started with ``torch.multiprocessing`` hold different
statistics; after :func:`reduce_calibration` both must hold those of the
union: min / max exactly (floats, tensors and the elementwise ``lo_t`` /
``hi_t`` of per-channel ranges alike, a rank without data included), n_seen
and image counts summed, samples merged in global batch order, and rank 0's
order of first emission.
"""
from __future__ import annotations

import math
import os
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from ttfs_symbolic.conversion import distributed
from ttfs_symbolic.spiking.stats import PopStats


def _pop(name, lo, hi, n_seen, samples, lo_t=None, hi_t=None):
    return SimpleNamespace(pname=name, stats=SimpleNamespace(lo=lo, hi=hi, n_seen=n_seen, samples=samples,
                                                             lo_t=lo_t, hi_t=hi_t))


def _stats(rank):
    """Rank 0 holds global batches 0 and 2, rank 1 batch 1; layers c and d saw no data on rank 1."""
    t = torch.tensor
    if rank == 0:
        return [_pop("a", -1.5, 2.0, 10, [np.array([0.0, 1.0]), np.array([2.0])],
                     t([[0.0, 1.0], [2.0, -5.0]]), t([[1.0, 2.0], [3.0, 0.0]])),
                _pop("b", t([0.0, -3.0, 1.0]), t([1.0, 2.0, 5.0]), 6, [np.array([2.0])]),
                _pop("c", 0.25, 0.75, 4, []),
                _pop("d", t([1.0, 2.0]), t([3.0, 4.0]), 2, [], t([7.0]), t([8.0]))]
    return [_pop("a", -0.5, 3.0, 7, [np.array([5.0])], t([[-1.0, 1.5], [2.5, -6.0]]), t([[0.5, 2.5], [2.0, 1.0]])),
            _pop("b", t([-1.0, 0.0, 2.0]), t([0.5, 4.0, 3.0]), 3, []),
            _pop("c", math.inf, -math.inf, 0, []),
            _pop("d", math.inf, -math.inf, 0, [])]   # per-channel elsewhere, no data here: a float, lo_t None


#: the rows of a per-channel layer on each rank (two channels; the ranks' means differ: 1, 11 and 12, -4)
MOMENT_ROWS = ([[0.0, 10.0], [2.0, 12.0]], [[10.0, -4.0], [14.0, -6.0], [12.0, -2.0]])


def _moments(rows):
    x = torch.tensor(rows, dtype=torch.float64)
    st = PopStats(lo=float(x.min()), hi=float(x.max()), n_seen=x.numel())
    st.add_moments(x.amin(0), x.amax(0), x.sum(0), ((x - x.mean(0)) ** 2).sum(0), x.shape[0])
    return st


def _reduced_moments(rank):
    """Per-channel moments reduced over the two ranks: (rows, sum, m2) as lists."""
    pops = [SimpleNamespace(pname="e", kind="linear", stats=_moments(MOMENT_ROWS[rank]))]
    distributed.reduce_calibration(pops, seen=1)
    st = pops[0].stats
    return st.rows, st.sum_t.tolist(), st.m2_t.tolist()


def _worker(rank, port, q):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    try:
        info = distributed.setup("cpu")
        pops = _stats(rank)
        ctx = SimpleNamespace(order=list(pops) if rank == 0 else list(reversed(pops[:2])))
        data = distributed.CalibrationBatches([], None, rank, 2)   # where each batch's samples begin
        data.bounds = {"a": [0, 1, 2], "b": [0, 1, 1], "c": [0, 0, 0], "d": [0, 0, 0]} if rank == 0 else \
            {"a": [0, 1], "b": [0, 0], "c": [0, 0], "d": [0, 0]}
        seen = distributed.reduce_calibration(pops, seen=[5, 3][rank], ctx=ctx, data=data, percentile=99.0)
        res = {"rank": info.rank, "world": info.world, "backend": info.backend, "seen": seen,
               "order": [p.pname for p in ctx.order]}
        for p in pops:
            st = p.stats
            res[p.pname] = (st.lo.tolist() if torch.is_tensor(st.lo) else st.lo,
                            st.hi.tolist() if torch.is_tensor(st.hi) else st.hi,
                            type(st.lo).__name__, st.n_seen, [list(s) for s in st.samples])
            res[p.pname + "_t"] = (None if st.lo_t is None else st.lo_t.tolist(),
                                   None if st.hi_t is None else st.hi_t.tolist())
        res["moments"] = _reduced_moments(rank)
        res["sum"] = distributed.all_sum([rank + 1, 10 * rank]).tolist()
        res["max"] = distributed.all_max([float(rank), -float(rank)]).tolist()
        distributed.teardown()
        q.put(res)
    except Exception as exc:   # reported to the test
        q.put({"rank": rank, "error": repr(exc)})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reduce_calibration_over_two_gloo_ranks():
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, q)) for r in range(2)]
    for p in procs:
        p.start()
    results = sorted((q.get(timeout=300) for _ in procs), key=lambda r: r["rank"])
    for p in procs:
        p.join(timeout=60)
    assert all("error" not in r for r in results), results
    r0, r1 = results
    assert (r0["world"], r0["backend"]) == (2, "gloo")
    for r in results:
        assert r["seen"] == 8
        # samples in global batch order: rank 0's batch 0, rank 1's batch 1, rank 0's batch 2
        assert r["a"] == (-1.5, 3.0, "float", 17, [[0.0, 1.0], [5.0], [2.0]])
        assert r["a_t"] == ([[-1.0, 1.0], [2.0, -6.0]], [[1.0, 2.5], [3.0, 1.0]])   # elementwise min / max
        assert r["d_t"] == ([7.0], [8.0]) and r["c_t"] == (None, None)
        assert r["b"] == ([-1.0, -3.0, 1.0], [1.0, 4.0, 5.0], "Tensor", 9, [[2.0]])
        assert r["c"] == (0.25, 0.75, "float", 4, [])            # the rank without data changes nothing
        assert r["d"] == ([1.0, 2.0], [3.0, 4.0], "Tensor", 2, [])
        assert r["order"] == ["a", "b", "c", "d"]                      # rank 0's order of first emission
        assert r["sum"] == [3, 10] and r["max"] == [1.0, 0.0]
        # the per-channel spread behind mean +- sigmas std: that of all five rows in one process (Chan et al.:
        # each rank's m2 plus its rows times its mean's squared distance from the global mean)
        one = _moments(MOMENT_ROWS[0] + MOMENT_ROWS[1])
        rows, sums, m2 = r["moments"]
        assert rows == 5 and sums == one.sum_t.tolist()
        assert m2 == pytest.approx(one.m2_t.tolist(), rel=1e-12)


def test_no_process_group_is_a_no_op(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = distributed.setup("cpu")
    assert (info.rank, info.world, info.is_main, info.backend) == (0, 1, True, None)
    pops = _stats(1)
    assert distributed.reduce_calibration(pops, seen=3) == 3 and pops[2].stats.lo == math.inf
    assert distributed.all_sum([1, 2]).tolist() == [1, 2] and distributed.all_gather_objects("x") == ["x"]


def test_bad_device_is_rejected():
    with pytest.raises(ValueError, match="--device"):
        distributed.setup("tpu")
