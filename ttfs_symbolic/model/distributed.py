"""Calibration and evaluation spread over processes with ``torch.distributed`` (``torchrun``).

``torchrun --nproc-per-node N -m ttfs_symbolic evaluate ...`` starts N
copies of the command; each sees ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``
in its environment. :func:`setup` joins them in one process group (gloo on
CPU, nccl on GPU, one GPU per rank from ``LOCAL_RANK``), the data is
sharded by batch (:func:`ttfs_symbolic.model.data.shard_batches`), and:

* calibration: :func:`reduce_calibration`, called by
  :func:`~ttfs_symbolic.model.convert.calibrate` between its pass over the
  data and ``finalize``, makes every rank's statistics those of the whole
  calibration set: the minimum and maximum of every layer exactly
  (``all_reduce`` MIN / MAX, on floats and on per-channel tensors alike),
  the number of values seen (SUM), and the random samples behind
  percentiles merged from all ranks (``all_gather_object``). Every rank then
  computes the same ranges, and the order of first emission (the windows) is
  rank 0's.
* evaluation: counts (images, agreements, correct answers, neurons, spikes,
  clipped neurons) are summed over ranks and the largest logit errors are
  maxima, so every rate is a ratio of global sums, never an average of
  per-rank averages.

Outside ``torchrun`` (``WORLD_SIZE`` unset or 1) every function here is a
no-op and nothing is initialised.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def info() -> DistInfo:
    """Rank, world size and device of this process (rank 0 of 1 outside a process group)."""
    if not active():
        return DistInfo()
    import torch.distributed as dist

    backend = dist.get_backend()
    dev = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), dev, backend)


def setup(device: str = "auto") -> DistInfo:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); the device of this rank.

    ``device``: ``auto`` (the GPU ``LOCAL_RANK`` when CUDA is available,
    else the CPU), ``cpu`` or ``cuda``. The backend is nccl for GPUs and gloo
    for the CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda but CUDA is not available")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) on this node")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world <= 1:
        return DistInfo(device=dev)
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        kw = {"device_id": dev} if use_cuda else {}
        try:
            dist.init_process_group(backend=backend, **kw)
        except Exception as exc:   # a rendezvous that fails is reported in one line
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"cannot join the process group ({backend}, rank {os.environ.get('RANK', '?')} of "
                             f"{world}, rendezvous {where}): {first}") from None
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, dist.get_backend())


def teardown():
    """Leave the process group (after a barrier, so no rank exits while others still talk)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    return info().device


def all_sum(values: list[int] | torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks of integer counts (int64, exact)."""
    t = torch.as_tensor(values, dtype=torch.int64)
    if not active():
        return t
    import torch.distributed as dist

    t = t.to(_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def all_max(values: list[float] | torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over ranks (float64)."""
    t = torch.as_tensor(values, dtype=torch.float64)
    if not active():
        return t
    import torch.distributed as dist

    t = t.to(_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.cpu()


def all_gather_objects(obj) -> list:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process)."""
    if not active():
        return [obj]
    import torch.distributed as dist

    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    if not active():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def _as_flat(v) -> tuple[torch.Tensor, tuple | None, torch.device | None]:
    """A float64 vector of a float or a tensor, and how to give it back (shape None: a float)."""
    if isinstance(v, torch.Tensor):
        return v.detach().to("cpu", torch.float64).reshape(-1), tuple(v.shape), v.device
    return torch.tensor([float(v)], dtype=torch.float64), None, None


def _restore(flat: torch.Tensor, shape, device, like):
    if shape is None:
        return float(flat[0])
    return flat.reshape(shape).to(device=device, dtype=like.dtype if isinstance(like, torch.Tensor) else None)


def _merge_samples(parts: list):
    """The samples of all ranks as one of the same kind: lists concatenated, arrays / tensors along dim 0."""
    first = next((x for x in parts if x is not None), None)
    if first is None or isinstance(first, list):
        out = []
        for x in parts:
            out.extend(x or [])
        return out
    if isinstance(first, torch.Tensor):
        return torch.cat([x for x in parts if x is not None and x.numel()] or [first])
    import numpy as np

    return np.concatenate([np.asarray(x) for x in parts if x is not None])


def reduce_calibration(pops, seen: int, ctx=None, need_samples: bool = True) -> int:
    """Make every rank's calibration statistics those of all ranks together; the global image count.

    Called by :func:`~ttfs_symbolic.model.convert.calibrate` after its pass
    and before each population's ``finalize``. ``stats.lo`` / ``stats.hi``
    may be floats or tensors (per-channel ranges): they are reduced as
    float64 tensors with MIN / MAX, which is exact, and given back in their
    own type. A rank that saw no data (more ranks than batches) holds
    ``+inf`` / ``-inf``, broadcast to the shape of the others.
    ``stats.samples`` (for percentiles) are concatenated in rank order when
    ``need_samples``. ``ctx.order`` (first emission, which numbers the
    windows) becomes rank 0's, which always has data when any rank has.
    """
    if not active():
        return seen
    # 1. shapes of every range statistic (a rank without data may hold floats where others hold tensors)
    shapes = [[None if not isinstance(v, torch.Tensor) else tuple(v.shape) for v in (p.stats.lo, p.stats.hi)]
              for p in pops]
    all_shapes = all_gather_objects(shapes)
    los, his, back = [], [], []
    for j, p in enumerate(pops):
        st = p.stats
        parts = []
        for k, (v, fill) in enumerate(((st.lo, math.inf), (st.hi, -math.inf))):
            target = next((s[j][k] for s in all_shapes if s[j][k] is not None), None)
            flat, shape, device = _as_flat(v)
            if target is not None and shape is None:   # a float on this rank, a tensor elsewhere
                if math.isfinite(float(v)):
                    flat = torch.full((math.prod(target),), float(v), dtype=torch.float64)
                else:
                    flat = torch.full((math.prod(target),), fill, dtype=torch.float64)
                shape, device = target, torch.device("cpu")
            parts.append((flat, shape, device, v))
        los.append(parts[0][0])
        his.append(parts[1][0])
        back.append(parts)
    import torch.distributed as dist

    dev = _comm_device()
    lo = torch.cat(los).to(dev)
    hi = torch.cat(his).to(dev)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    lo, hi = lo.cpu(), hi.cpu()
    counts = all_sum([int(p.stats.n_seen) for p in pops] + [int(seen)])
    i = k = 0
    for j, p in enumerate(pops):
        (flo, slo, dlo, vlo), (fhi, shi, dhi, vhi) = back[j]
        p.stats.lo = _restore(lo[i:i + flo.numel()], slo, dlo, vlo)
        p.stats.hi = _restore(hi[k:k + fhi.numel()], shi, dhi, vhi)
        p.stats.n_seen = int(counts[j])
        i += flo.numel()
        k += fhi.numel()
    if need_samples:
        gathered = all_gather_objects([p.stats.samples for p in pops])
        for j, p in enumerate(pops):
            p.stats.samples = _merge_samples([rank_samples[j] for rank_samples in gathered])
    if ctx is not None and hasattr(ctx, "order"):
        names = broadcast_object([p.pname for p in ctx.order])
        by_name = {p.pname: p for p in pops}
        ctx.order[:] = [by_name[n] for n in names if n in by_name]
    return int(counts[-1])
