"""``model.distributed``: the reductions of calibration statistics and counts over ranks (gloo, 127.0.0.1).

Two processes started with ``torch.multiprocessing`` hold different
statistics; after :func:`reduce_calibration` both must hold those of the
union: min / max exactly (floats and per-channel tensors alike, a rank
without data included), n_seen and image counts summed, samples merged in
rank order, and rank 0's order of first emission.
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

from ttfs_symbolic.model import distributed


def _pop(name, lo, hi, n_seen, samples):
    return SimpleNamespace(pname=name, stats=SimpleNamespace(lo=lo, hi=hi, n_seen=n_seen, samples=samples))


def _stats(rank):
    """Rank 0: data for every layer; rank 1: none (as when there are more ranks than batches)."""
    if rank == 0:
        return [_pop("a", -1.5, 2.0, 10, [np.array([0.0, 1.0])]),
                _pop("b", torch.tensor([0.0, -3.0, 1.0]), torch.tensor([1.0, 2.0, 5.0]), 6, [np.array([2.0])]),
                _pop("c", 0.25, 0.75, 4, []),
                _pop("d", torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), 2, [])]
    return [_pop("a", -0.5, 3.0, 7, [np.array([5.0])]),
            _pop("b", torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.5, 4.0, 3.0]), 3, []),
            _pop("c", math.inf, -math.inf, 0, []),
            _pop("d", math.inf, -math.inf, 0, [])]   # per-channel elsewhere, no data here: a float


def _worker(rank, port, q):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    try:
        info = distributed.setup("cpu")
        pops = _stats(rank)
        ctx = SimpleNamespace(order=list(pops) if rank == 0 else list(reversed(pops[:2])))
        seen = distributed.reduce_calibration(pops, seen=[5, 3][rank], ctx=ctx)
        res = {"rank": info.rank, "world": info.world, "backend": info.backend, "seen": seen,
               "order": [p.pname for p in ctx.order]}
        for p in pops:
            st = p.stats
            res[p.pname] = (st.lo.tolist() if torch.is_tensor(st.lo) else st.lo,
                            st.hi.tolist() if torch.is_tensor(st.hi) else st.hi,
                            type(st.lo).__name__, st.n_seen, [list(s) for s in st.samples])
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
        assert r["a"] == (-1.5, 3.0, "float", 17, [[0.0, 1.0], [5.0]])
        assert r["b"] == ([-1.0, -3.0, 1.0], [1.0, 4.0, 5.0], "Tensor", 9, [[2.0]])
        assert r["c"] == (0.25, 0.75, "float", 4, [])            # the rank without data changes nothing
        assert r["d"] == ([1.0, 2.0], [3.0, 4.0], "Tensor", 2, [])
        assert r["order"] == ["a", "b", "c", "d"]                      # rank 0's order of first emission
        assert r["sum"] == [3, 10] and r["max"] == [1.0, 0.0]


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
