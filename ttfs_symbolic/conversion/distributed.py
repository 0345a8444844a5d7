"""Calibration and evaluation spread over processes with ``torch.distributed`` (``torchrun``).

``torchrun --nproc-per-node N -m ttfs_symbolic evaluate ...`` starts N
copies of the command; each sees ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``
in its environment. :func:`setup` joins them in one process group (gloo on
CPU, nccl on GPU, one GPU per rank from ``LOCAL_RANK``), the data is
sharded by batch (:func:`ttfs_symbolic.data.files.shard_batches`), and:

* calibration: :func:`reduce_calibration`, called by
  :func:`~ttfs_symbolic.conversion.convert.calibrate` between its pass over the
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

Guards (issue 21):

* :func:`check_same`: every rank gathers every rank's digest of its
  arguments (and later of its data's size and its weights) and refuses,
  naming the first rank and the first setting that differ from rank 0's, so
  that ranks given different ``--batch-size``, ``--data``, ``--limit``,
  ``--modes`` or ``--dtype`` never mix their results (or abort in a
  collective of mismatched sizes).
* a collective timeout (``setup(timeout=...)``, ``--timeout``, default
  :data:`DEFAULT_TIMEOUT` seconds): every collective of this module first
  records on the rendezvous store how far this rank got (:func:`_mark`),
  so that a rank whose collective fails or times out can name the ranks
  that never arrived (stopped, hung or killed) in one line
  (:func:`explain_failure`).
* a rank that fails with a user error records its one-line message on the
  store (:func:`report_error`) and in torchrun's error file
  (``TORCHELASTIC_ERROR_FILE``): the other ranks, whose next collective
  fails, report "rank R failed: <its message>" in one line, and torchrun's
  summary names that rank and message instead of a gloo traceback.

Outside ``torchrun`` (``WORLD_SIZE`` unset or 1) every function here is a
no-op and nothing is initialised.
"""
from __future__ import annotations

import datetime
import json as _json
import math
import os
import time as _time
from dataclasses import dataclass

import numpy as np
import torch

from .. import spiking
from ..spiking import CODE_KINDS, Product


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
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def info() -> DistInfo:
    """Rank, world size and device of this process (rank 0 of 1 outside a process group)."""
    if not active():
        return DistInfo()
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    backend = dist.get_backend()
    dev = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), dev, backend)


#: seconds a collective waits for the other ranks before it fails (``setup(timeout=...)``)
DEFAULT_TIMEOUT = 300.0
_STATE: dict = {"calls": 0, "timeout": DEFAULT_TIMEOUT}


def setup(device: str = "auto", timeout: float = DEFAULT_TIMEOUT) -> DistInfo:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); the device of this rank.

    ``device``: ``auto`` (the GPU ``LOCAL_RANK`` when CUDA is available,
    else the CPU), ``cpu`` or ``cuda``. The backend is nccl for GPUs and gloo
    for the CPU. ``timeout``: seconds a collective waits for the other ranks
    before it fails (and :func:`explain_failure` names the missing ones).
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
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        kw = {"device_id": dev} if use_cuda else {}
        kw["timeout"] = datetime.timedelta(seconds=float(timeout))
        _STATE.update(calls=0, timeout=float(timeout))
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
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if active():
            _mark("barrier at the end")
        dist.barrier()
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    return info().device


def _store():
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    try:
        return dist.distributed_c10d._get_default_store()
    except Exception:   # noqa: BLE001 - no store (a group made without one): the guards say less
        return None


def _mark(name: str) -> None:
    """Record on the store that this rank enters collective number n (``name``) now."""
    _STATE["calls"] += 1
    store = _store()
    if store is not None:
        try:
            store.set(f"ttfs/at/{info().rank}", f"{_STATE['calls']} {name}")
        except Exception:   # noqa: BLE001 - the store is gone: the collective itself will fail
            pass


def report_error(message: str) -> None:
    """Record this rank's one-line error for the other ranks and for torchrun's summary (first one wins)."""
    if not active():
        return
    line = message if message.startswith("rank ") else f"rank {info().rank}: {message}"
    store = _store()
    if store is not None:
        try:
            store.compare_set("ttfs/error", "", line)
        except Exception:   # noqa: BLE001
            pass
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if path:
        try:
            with open(path, "w") as fh:
                _json.dump({"message": {"message": line, "extraInfo": {
                    "py_callstack": line, "timestamp": str(int(_time.time()))}}}, fh)
        except OSError:
            pass


def explain_failure(exc: BaseException, wait: float = 5.0) -> str | None:
    """One line on why a collective of this rank failed: another rank's error, or the ranks that never came.

    None when the store has nothing to say (then the original error stands).
    """
    store = _store()
    if store is None or not active():
        return None
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    world, me, n = dist.get_world_size(), dist.get_rank(), _STATE["calls"]
    deadline = _time.monotonic() + wait
    while True:   # a failed rank records its error right before it exits: give it a moment
        try:
            err = store.get("ttfs/error").decode() if store.check(["ttfs/error"]) else ""
        except Exception:   # noqa: BLE001
            err = ""
        if err or _time.monotonic() > deadline:
            break
        _time.sleep(0.2)
    if err:
        return f"stopped because {err.split(': ', 1)[0]} failed: {err.split(': ', 1)[-1]}"
    behind = []
    for r in range(world):
        if r == me:
            continue
        try:
            at = store.get(f"ttfs/at/{r}").decode() if store.check([f"ttfs/at/{r}"]) else "0 start"
        except Exception:   # noqa: BLE001
            at = "0 start"
        if int(at.split()[0]) < n:
            behind.append((r, at))
    if not behind:
        return None
    names = ", ".join(f"rank {r} (last at collective #{at.split()[0]}, {at.split(' ', 1)[1]})" for r, at in behind)
    return (f"collective #{n} did not complete within {_STATE['timeout']:g} s: {names} never arrived "
            "(stopped, hung or killed); --timeout sets the wait")


def check_same(what: str, values: dict) -> None:
    """Refuse (ValueError naming the first differing rank and key) unless every rank has rank 0's ``values``."""
    if not active():
        return
    mine = {k: repr(v) for k, v in values.items()}
    everyone = all_gather_objects(mine)
    for r, theirs in enumerate(everyone):
        if theirs != everyone[0]:
            key = next(k for k in sorted(set(theirs) | set(everyone[0])) if theirs.get(k) != everyone[0].get(k))
            raise RankMismatchError(f"the ranks did not get the same {what}: {key} is {_cut(everyone[0].get(key))} "
                                    f"on rank 0 but {_cut(theirs.get(key))} on rank {r}; start every rank with "
                                    "the same command and data")


def _cut(text, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class RankMismatchError(ValueError):
    """The ranks were started with different arguments or data: every rank raises the same one."""


def all_sum(values: list[int] | torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks of integer counts (int64, exact)."""
    t = torch.as_tensor(values, dtype=torch.int64)
    if not active():
        return t
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    t = t.to(_comm_device())
    _mark("all_sum")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def all_max(values: list[float] | torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over ranks (float64)."""
    t = torch.as_tensor(values, dtype=torch.float64)
    if not active():
        return t
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    t = t.to(_comm_device())
    _mark("all_max")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.cpu()


def all_gather_objects(obj) -> list:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process)."""
    if not active():
        return [obj]
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    out = [None] * dist.get_world_size()
    _mark("all_gather_object")
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    if not active():
        return obj
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    box = [obj]
    _mark("broadcast_object")
    dist.broadcast_object_list(box, src=src)
    return box[0]


#: range statistics of :class:`~ttfs_symbolic.spiking.PopStats` reduced over ranks:
#: (field, reduction, value of a rank without data). Fields a version does not have are skipped.
RANGE_FIELDS = (("lo", "min", math.inf), ("hi", "max", -math.inf), ("lo_t", "min", math.inf),
                ("hi_t", "max", -math.inf), ("sum_t", "sum", 0.0))
#: the elementwise sums of squared deviations from the mean (Chan et al.'s parallel variance): reduced
#: after ``sum_t`` and ``rows``, as each rank's m2 plus rows * (its mean - the global mean)**2
M2_FIELD = ("m2_t", "sum", 0.0)
#: integer counts of :class:`~ttfs_symbolic.spiking.PopStats` summed over ranks
COUNT_FIELDS = ("n_seen", "rows")

#: seed of the calibration samples of global batch k: SAMPLE_SEED + k
SAMPLE_SEED = 0


def _kind(v):
    """What a statistic is on this rank: None (absent), "f" (a float) or a tensor's shape."""
    if v is None:
        return None
    if isinstance(v, torch.Tensor):
        return tuple(v.shape)
    return "f"


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

    return np.concatenate([np.asarray(x) for x in parts if x is not None])


class CalibrationBatches:
    """The calibration batches of one rank, each drawn in the same way whatever the number of ranks.

    ``batches`` yields this rank's image batches, which are the global
    batches ``rank, rank + world, rank + 2*world, ...``
    (:func:`ttfs_symbolic.data.files.shard_batches`). Before each batch ``k``
    the generator of the calibration samples
    (:meth:`~ttfs_symbolic.spiking.Population.observe`) is seeded
    with ``SAMPLE_SEED + k``, and where each batch's samples begin is
    recorded, so that :func:`reduce_calibration` can put all ranks' samples
    in global batch order: every rank then holds the samples one process
    draws, which makes percentiles and the signed product's shift choice
    (``Product.choose_shift``, from the factors' samples) those of one
    process.
    """

    def __init__(self, batches, snn, rank: int = 0, world: int = 1, n_batches: int | None = None, device=None,
                 batch_size: int | None = None):
        self.batches, self.snn, self.rank, self.world, self.n = batches, snn, rank, world, n_batches
        self.device = device
        #: the global index of the current batch's first item (``batch_size`` given): calibration's held-out
        #: rows are chosen by it, so one process and N hold out the same items
        self.batch_size, self.offset = batch_size, None
        self.bounds: dict[str, list[int]] = {}
        self.skipped: list[str] = []

    def __len__(self):
        return 0 if self.n is None else self.n

    def __iter__(self):
        """Image tensors; items may be tensors or batches with ``images`` and ``skipped`` (corrupt files).

        A batch left empty by skipped images still counts as a batch (an empty
        segment of samples), so the global batch numbers stay right.
        """
        pops = self.snn.populations()
        self.bounds = {p.pname: [] for p in pops}
        self.skipped = []   # (each pass reads every file again: its skipped files are the pass's)
        for i, item in enumerate(self.batches):
            for p in pops:
                self.bounds[p.pname].append(len(p.stats.samples))
            images = getattr(item, "images", item)
            self.skipped += list(getattr(item, "skipped", []))
            if images.shape[0] == 0:
                continue
            spiking.seed_samples(SAMPLE_SEED + self.rank + i * self.world)
            if self.batch_size is not None:
                self.offset = (self.rank + i * self.world) * self.batch_size
            yield images if self.device is None else images.to(self.device)
        for p in pops:
            self.bounds[p.pname].append(len(p.stats.samples))


def _samples_needed(snn, pops, percentile: float, codes: str = "linear") -> set:
    """Names of the populations whose samples finalize reads: all for a percentile below 100, else the
    factors of multiplication networks that choose their shift from samples (not the paper's) and, when
    calibration chooses codes, the layers that may take the log code."""
    if percentile < 100.0:
        return {p.pname for p in pops}

    out = {p.pname for p in pops if p.kind in CODE_KINDS} if codes == "auto" else set()
    for m in (snn.modules() if snn is not None else []):
        if isinstance(m, Product) and getattr(m, "construction", "paper") != "paper":
            out |= {m.p1.pname, m.p2.pname}
    return out


def _reduce_field(pops, stats, kinds, fi: int, field_) -> None:
    """All-reduce field ``fi`` (``(name, op, fill)``) of every population's statistics, in its own type."""
    # torch.distributed: only under torchrun
    import torch.distributed as dist

    name, op, fill = field_
    dev = _comm_device()
    flats, plan = [], []
    for j, st in enumerate(stats):
        seen_kinds = [k[j][fi] for k in kinds]
        shape = next((k for k in seen_kinds if isinstance(k, tuple)), None)
        if shape is None and "f" not in seen_kinds:
            plan.append(None)            # absent on every rank
            continue
        if any(isinstance(k, tuple) and k != shape for k in seen_kinds):
            raise ValueError(f"layer {pops[j].pname}: ranks disagree on the shape of {name} "
                             f"({sorted({k for k in seen_kinds if isinstance(k, tuple)})})")
        v = getattr(st, name)
        numel = 1 if shape is None else math.prod(shape)
        if isinstance(v, torch.Tensor):
            flat = v.detach().to("cpu", torch.float64).reshape(-1)
        else:   # a float, or absent here: broadcast (inf on a rank without data)
            flat = torch.full((numel,), fill if v is None else float(v), dtype=torch.float64)
        flats.append(flat)
        plan.append((shape, v, numel))
    if not flats:
        return
    t = torch.cat(flats).to(dev)
    _mark(f"all_reduce of {name}")
    dist.all_reduce(t, op={"min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX, "sum": dist.ReduceOp.SUM}[op])
    t = t.cpu()
    i = 0
    for j, st in enumerate(stats):
        if plan[j] is None:
            continue
        shape, v, numel = plan[j]
        chunk = t[i:i + numel]
        i += numel
        if shape is None:
            setattr(st, name, float(chunk[0]))
        else:
            like = v if isinstance(v, torch.Tensor) else None
            setattr(st, name, chunk.reshape(shape).to(device=like.device if like is not None else dev,
                                                      dtype=like.dtype if like is not None else torch.float64))


def reduce_calibration(pops, seen: int, ctx=None, *, snn=None, data=None, percentile: float = 100.0,
                       codes: str = "linear") -> int:
    """Make every rank's calibration statistics those of all ranks together; the global image count.

    Called by :func:`~ttfs_symbolic.conversion.convert.calibrate` after its pass
    and before each population's ``finalize``. The range statistics
    (:data:`RANGE_FIELDS`: ``lo``/``hi`` and the elementwise ``lo_t``/``hi_t``
    of per-channel and per-neuron ranges) may be floats, tensors or absent:
    they are reduced as float64 tensors with MIN / MAX, which is exact, and
    given back in their own type. A rank that saw no data (more ranks than
    batches) holds ``+inf`` / ``-inf`` or nothing and takes the others'
    shape. The elementwise sums ``sum_t`` behind the mean +- sigmas std of
    those ranges are summed, as are ``n_seen``, ``rows`` and the image count;
    the sums of squared deviations ``m2_t`` are combined as in Chan et al.'s
    parallel variance (each rank's m2 plus its rows times the square of its
    mean's distance from the global mean, all terms >= 0). Both differ from
    one process's running values by float64 rounding only, relative to the
    mean and to the spread themselves (no cancellation: a neuron whose value
    never changes has spread 0 on any number of ranks), so the ranges agree
    with one process's to about 1e-15 relative (tested to 1e-12). The random samples
    behind percentiles and the product shift are merged
    (``all_gather_object``) for the populations that need them: in global
    batch order when ``data`` is a :class:`CalibrationBatches`, else in rank
    order. ``ctx.order`` (first emission, which numbers the windows) becomes
    rank 0's, which always has data when any rank has.
    """
    if not active():
        return seen
    stats = [p.stats for p in pops]
    fields = [f for f in RANGE_FIELDS + (M2_FIELD,) if all(hasattr(st, f[0]) for st in stats)]
    # 1. what each statistic is on every rank (a float, a tensor of some shape, or absent)
    kinds = all_gather_objects([[_kind(getattr(st, f)) for f, _, _ in fields] for st in stats])
    m2 = fields[-1] if fields and fields[-1] == M2_FIELD and any(f[0] == "sum_t" for f in fields) else None
    local = [(int(getattr(st, "rows", 0) or 0), getattr(st, "sum_t", None)) for st in stats] if m2 else None
    for fi, field_ in enumerate(fields):
        if field_ is not m2:
            _reduce_field(pops, stats, kinds, fi, field_)
    cfields = [f for f in COUNT_FIELDS if all(hasattr(st, f) for st in stats)]
    counts = all_sum([int(getattr(st, f)) for f in cfields for st in stats] + [int(seen)])
    for fi, f in enumerate(cfields):
        for j, st in enumerate(stats):
            setattr(st, f, int(counts[fi * len(stats) + j]))
    if m2 is not None:   # Chan et al.: M2 = sum over ranks of (m2_r + n_r (mean_r - mean)^2), every term >= 0
        for st, (n_r, sum_r) in zip(stats, local):
            if isinstance(st.m2_t, torch.Tensor) and n_r:
                mean = st.sum_t.to(torch.float64) / st.rows
                st.m2_t = st.m2_t + n_r * (sum_r.to(torch.float64) / n_r - mean) ** 2
        _reduce_field(pops, stats, kinds, len(fields) - 1, m2)
    needed = _samples_needed(snn, pops, percentile, codes)
    if needed:
        bounds = getattr(data, "bounds", None) if isinstance(data, CalibrationBatches) else None
        mine = {p.pname: (list(zip(p.stats.samples, getattr(p.stats, "sample_idx", None) or [None] * len(p.stats.samples))),
                          None if bounds is None else bounds.get(p.pname))
                for p in pops if p.pname in needed}
        gathered = all_gather_objects(mine)
        world = len(gathered)
        for p in pops:
            if p.pname not in needed:
                continue
            parts = [g[p.pname] for g in gathered]
            if all(b is not None and len(b) >= 1 for _, b in parts) and all(isinstance(s, list) for s, _ in parts):
                merged, k = [], 0   # global batch k: rank k mod world, its batch k // world
                while True:
                    r, i = k % world, k // world
                    samples, b = parts[r]
                    if i + 1 >= len(b):
                        break
                    merged.extend(samples[b[i]:b[i + 1]])
                    k += 1
            else:
                merged = _merge_samples([s for s, _ in parts])
            # each sample batch travels with the range index of its samples (the layer's code choice)
            p.stats.samples = [s for s, _ in merged]
            p.stats.sample_idx = [i for _, i in merged]
    if ctx is not None and getattr(ctx, "order", None) is not None:
        names = broadcast_object([p.pname for p in ctx.order])
        by_name = {p.pname: p for p in pops}
        ctx.order[:] = [by_name[n] for n in names if n in by_name]
    return int(counts[-1])
