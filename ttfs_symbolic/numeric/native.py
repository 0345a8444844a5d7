"""The per-spike loops of the ``quantized`` and ``kernel`` modes, in C.

In these modes every spike is rounded to its own tick, and the time goes
into loops over every neuron. Each is written here twice:

* as C (``csrc/ticks.c`` and ``csrc/ticks_body.h``), compiled on first
  use with the system's C compiler (``$CC``, else ``cc``, ``gcc`` or
  ``clang``: the compiler that ``torch.compile`` on CPU needs too), cached
  on disk and loaded with :mod:`ctypes`; and
* as the torch reference it must equal, used for tensors that are not on the
  CPU, for dtypes other than float32/float64, when no compiler works, and
  when ``TTFS_NATIVE=0``. ``tests/numeric/test_native.py`` checks that the two agree.

The loops, with ``tick(x) = clamp(round((b - x) * scale), 0, p)`` (the
nearest of ``p`` ticks to the spike time of value ``x`` in a window whose
range ends at ``b``; ``scale = p/(b - a)``; tick ``p`` is no spike):

:func:`tick_lookup`
    ``table[tick(x)]`` (a kernel table, eq. 30) or the value of the tick,
    ``b - tick(x) * step`` (the quantized value, identity psi).
:func:`tick_values`
    the value of the tick with one range per layer or one per neuron
    (``b``, ``scale``, ``step`` per neuron), and in the same pass the count
    of the values outside the range (the neurons that clip).
:func:`clip`
    exact mode's emitting stage of identity neurons, ``clamp(x, a, b)``
    (eq. 14 with h = x), and the count of the neurons outside the range, in
    one pass (only the values that change are written back).
:func:`product_matmul`
    layer I and II of the multiplication network as a matrix product
    (Section 4.3.4): ``sum_k table[tick(l1[..., i, k] + l2[..., k, j])]``,
    without ever holding the M*N*K layer-I neurons (the tick formed as
    ``round((b - l1)*scale - l2*scale)``, each factor's part once); for the
    signed construction each term times the signs of its parts.
:func:`threshold_lookup`
    the kernel-mode emitting stage (eq. 32): the first tick ``m`` with
    ``P[m] >= theta - V``, and the value ``values[m]`` it stands for.

Each returns its result and the number of spikes (ticks ``< p``). NaN
inputs raise ``ValueError`` in both implementations (the C loops count
them; :func:`clip` passes NaN through, as ``torch.clamp`` does). Rounding is
half to even in both (``torch.round``, C ``rint``).
The sums of :func:`product_matmul` add the K terms in increasing ``k`` in C
and in torch's reduction order in the reference, so the two agree to the
float rounding of a K-term sum, not bit for bit; everything else is bit
for bit.

Environment: ``TTFS_NATIVE=0`` uses the torch reference everywhere;
``TTFS_CACHE_DIR`` is where the compiled library is kept (default
``~/.cache/ttfs_symbolic``); ``CC`` picks the compiler.

The library is built, cached and loaded by :mod:`.native_build` (the cache
is guarded: docs/design.md, "The native library cache").
"""
from __future__ import annotations

import ctypes
import math

import torch

from .native_build import REAL, built, check_nan, data_ptr, overlaps, raise_nan, use_native
# the library's state, for callers of the loops (the model layer asks available_for)
from .native_build import MAX_NATIVE_PRECISION, available, available_for, build_info, library  # noqa: F401


#: layer-I neurons per chunk of the torch reference of product_matmul (the M*N*K tensor is never whole)
CHUNK_ELEMENTS = 1 << 24



def tick_of(u: torch.Tensor, p: int) -> torch.Tensor:
    """Torch: ``clamp(round(u), 0, p)`` as float: the tick of a spike ``u`` ticks into the window."""
    return torch.round(u).clamp(0, p)


def ticks(x: torch.Tensor, b: float, scale: float, p: int) -> torch.Tensor:
    """Torch: ``clamp(round((b - x) * scale), 0, p)`` as float, in x's dtype."""
    return tick_of((b - x) * scale, p)


#: the least work (values, or table gathers for a product) worth OpenMP threads: below it one thread does
#: it sooner than the others wake (measured on 2 cores with the other busy: 12 us with one thread for 50
#: values against 33-79 us with two); the loops' results do not depend on their thread count
PARALLEL_MIN_WORK = 1 << 15


def threads_for(work: int) -> int:
    """The threads a C loop of ``work`` elements runs on: torch's intra-op count, or 1 for small work."""
    return 1 if work < PARALLEL_MIN_WORK else torch.get_num_threads()


def tick_lookup(x: torch.Tensor, b: float, scale: float, p: int, table: torch.Tensor | None = None,
                step: float | None = None, out: torch.Tensor | None = None, backend: str | None = None):
    """``(out, spikes)``: ``out = table[tick(x)]``, or ``b - tick(x)*step`` when ``table`` is None.

    ``table`` has ``p + 1`` entries in x's dtype and device; ``spikes`` is
    the number of x whose tick is ``< p``. ``out``: a tensor of x's shape
    and dtype to write the result into (x itself is allowed: each element
    is read before it is written); a new tensor is returned instead when
    ``out`` is not contiguous. ``backend``: None (C where it can),
    ``"native"`` (C or raise) or ``"torch"``.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype or out.device != x.device):
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(out.shape)} {out.dtype} {out.device}, "
                         f"x is {tuple(x.shape)} {x.dtype} {x.device}")
    if (table is None) == (step is None):
        raise ValueError("give exactly one of table and step")
    if table is not None and table.numel() != p + 1:
        raise ValueError(f"the tick table needs p + 1 = {p + 1} entries, got {table.numel()}")
    if _pick(backend, x, *(() if table is None else (table,)), p=p):
        suffix, _ = REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        fired = ctypes.c_int64(0)
        tab = table.contiguous() if table is not None else None
        nan = getattr(built(), f"ttfs_tick_lookup_{suffix}")(
            data_ptr(xc), xc.numel(), b, scale, p, None if tab is None else data_ptr(tab),
            0.0 if step is None else step, data_ptr(out), ctypes.byref(fired), threads_for(xc.numel()),
            -math.inf, math.inf, ctypes.byref(ctypes.c_int64(0)), 1, None, None, None, None, None)
        if nan:
            raise_nan("values", nan)
        return out, fired.value
    check_nan(x, "values")
    k = ticks(x, b, scale, p)
    res = table[k.long()] if table is not None else b - k * step
    fired = int((k < p).sum())
    if out is not None:
        return out.copy_(res), fired
    return res, fired


def _per_neuron(x: torch.Tensor, *params) -> int | None:
    """S, the number of neurons of a row, when every tensor of ``params`` holds one value per neuron of
    x's trailing dimensions (floats: one for all, S = 1); None when the C loops cannot index them."""
    S = None
    for t in params:
        if not isinstance(t, torch.Tensor):
            continue
        if t.dim() > x.dim() or tuple(x.shape[x.dim() - t.dim():]) != tuple(t.shape) or t.dtype != x.dtype \
                or t.device != x.device:
            return None
        if S is not None and t.numel() != S:
            return None
        S = t.numel()
    return 1 if S is None else S


def _rows(t, S: int, dtype, keep=None):
    """A float or a tensor of S values as a contiguous C array (kept alive by ``keep``)."""
    arr = (torch.full((S,), float(t), dtype=dtype) if not isinstance(t, torch.Tensor)
           else t.contiguous().reshape(-1))
    if keep is not None:
        keep.append(arr)
    return arr


def tick_values(x: torch.Tensor, b, scale, step, p: int, out: torch.Tensor | None = None, count=None,
                backend: str | None = None):
    """``(out, spikes, clipped)``: ``out = b - tick(x) * step``, with one range per layer or per neuron.

    ``b``, ``scale`` (= p/(b - a)) and ``step`` (= (b - a)/p) are floats (one
    range) or tensors of x's dtype holding one value per neuron of x's
    trailing dimensions (per-channel and per-neuron ranges). ``count = (lo,
    hi)`` (floats or such tensors): ``clipped`` is the number of x below lo
    or above hi, counted in the same pass (0 when ``count`` is None).
    ``spikes`` counts the ticks ``< p``; ``out`` may be x itself. NaN raises.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype or out.device != x.device):
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(out.shape)} {out.dtype} {out.device}, "
                         f"x is {tuple(x.shape)} {x.dtype} {x.device}")
    lo, hi = (None, None) if count is None else count
    fine = any(isinstance(t, torch.Tensor) for t in (b, scale, step))
    S = _per_neuron(x, b, scale, step, lo, hi)
    if S is not None and _pick(backend, x, p=p):
        suffix, _ = REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        fired, clipped, keep = ctypes.c_int64(0), ctypes.c_int64(0), []
        if fine:
            arrs = [data_ptr(_rows(t, S, x.dtype, keep)) for t in (b, scale, step)]
            bounds = (-math.inf, math.inf) if count is None else (lo, hi)
            lims = [data_ptr(_rows(t, S, x.dtype, keep)) for t in bounds]
            scalars = (0.0, 0.0, 0.0, -math.inf, math.inf)
        elif S == 1:
            arrs, lims = [None, None, None], [None, None]
            scalars = (b, scale, step, -math.inf if lo is None else lo, math.inf if hi is None else hi)
        else:   # one range, per-neuron count bounds: count separately
            return _tick_values_split(x, b, scale, step, p, out, lo, hi, backend)
        nan = getattr(built(), f"ttfs_tick_lookup_{suffix}")(
            data_ptr(xc), xc.numel(), scalars[0], scalars[1], p, None, scalars[2], data_ptr(out), ctypes.byref(fired),
            threads_for(xc.numel()), scalars[3], scalars[4], ctypes.byref(clipped), S, *arrs, *lims)
        if nan:
            raise_nan("values", nan)
        return out, fired.value, clipped.value
    check_nan(x, "values")
    k = ticks(x, b, scale, p)
    res = b - k * step
    fired = int((k < p).sum())
    clipped = 0 if count is None else int(((x < lo) | (x > hi)).sum())
    if out is not None:
        return out.copy_(res), fired, clipped
    return res, fired, clipped


def _tick_values_split(x, b, scale, step, p, out, lo, hi, backend):
    _, clipped, _ = clip(x, lo, hi, lo, hi, backend=backend)
    res, fired, _ = tick_values(x, b, scale, step, p, out=out, backend=backend)
    return res, fired, clipped


def clip(x: torch.Tensor, lo, hi, a, b, out: torch.Tensor | None = None, backend: str | None = None):
    """``(out, clipped, outside)``: the clamp of exact mode's identity neurons and their clipping count.

    ``clipped``: the number of x below ``lo`` or above ``hi`` (the range
    widened by the float rounding slack: ``lo <= a``, ``hi >= b``, so that
    only values outside the range can count; the C loop counts only in
    blocks with a value outside); ``outside``: the number below ``a`` or
    above ``b`` (the range itself). ``out``: ``clamp(x, a, b)`` written
    into ``out`` (which may be x itself: then only the values that change
    are written), or None: nothing is written and the first result is None.
    The bounds are floats (one range) or tensors of x's dtype with one value
    per neuron of x's trailing dimensions. NaN passes through (as in
    ``torch.clamp``); one pass over x in C.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype or out.device != x.device):
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(out.shape)} {out.dtype} {out.device}, "
                         f"x is {tuple(x.shape)} {x.dtype} {x.device}")
    if not any(isinstance(t, torch.Tensor) for t in (lo, hi, a, b)) and not (lo <= a and hi >= b):
        raise ValueError(f"the count bounds must hold the range: need lo <= a and hi >= b, got lo={lo}, a={a}, "
                         f"b={b}, hi={hi}")
    S = _per_neuron(x, lo, hi, a, b)
    if S is not None and x.numel() and x.is_contiguous() and (out is None or out.is_contiguous()) \
            and _pick(backend, x, p=1):
        suffix, _ = REAL[x.dtype]
        if out is not None and out is not x and overlaps(out, x):
            out = torch.empty_like(x)
        keep = []
        fine = any(isinstance(t, torch.Tensor) for t in (lo, hi, a, b))
        ptrs = [data_ptr(_rows(t, S, x.dtype, keep)) for t in (lo, hi, a, b)] if fine else [None] * 4
        scalars = (0.0,) * 4 if fine else (lo, hi, a, b)
        outside = ctypes.c_int64(0)
        n = getattr(built(), f"ttfs_clip_{suffix}")(
            data_ptr(x), x.numel(), S if fine else 1, *ptrs, *scalars, None if out is None else data_ptr(out),
            ctypes.byref(outside), threads_for(x.numel()))
        return out, int(n), outside.value
    clipped, outside = _clip_counts_torch(x, lo, hi, a, b)
    if out is None:
        return None, clipped, outside
    if out is x:
        return (x.clamp_(a, b) if outside else x), clipped, outside
    return out.copy_(torch.clamp(x, a, b)), clipped, outside


def clip_packed(x: torch.Tensor, pack: torch.Tensor, out: torch.Tensor | None = None):
    """:func:`clip` with per-neuron bounds packed in one contiguous tensor ``[lo, hi, a, b]`` of 4*S values
    (S: the neurons of x's trailing dimensions; as a layer keeps them, so that no call repacks them)."""
    S = pack.numel() // 4
    if S > 1 and x.is_contiguous() and x.numel() % S == 0 and pack.dtype == x.dtype and (
            out is None or out.is_contiguous()) and _pick(None, x, pack, p=1):
        suffix, _ = REAL[x.dtype]
        if out is not None and out is not x and overlaps(out, x):
            out = torch.empty_like(x)
        outside = ctypes.c_int64(0)
        ptr, step = data_ptr(pack), S * pack.element_size()
        n = getattr(built(), f"ttfs_clip_{suffix}")(
            data_ptr(x), x.numel(), S, ptr, ptr + step, ptr + 2 * step, ptr + 3 * step, 0.0, 0.0, 0.0, 0.0,
            None if out is None else data_ptr(out), ctypes.byref(outside), threads_for(x.numel()))
        return out, int(n), outside.value
    if S == 1:   # one range (a layer of one channel): the scalar loop
        return clip(x, *pack.tolist(), out=out)
    rows = x.reshape(-1, S)
    lo, hi, a, b = pack.reshape(4, S)
    clipped, outside = _clip_counts_torch(rows, lo, hi, a, b)
    if out is None:
        return None, clipped, outside
    return out.copy_(torch.clamp(rows, a, b).reshape(x.shape)), clipped, outside


def clip_blocks(x: torch.Tensor, pack: torch.Tensor, blocks: tuple[int, int, int], out: torch.Tensor | None = None):
    """:func:`clip_packed` for ranges broadcast over a middle run of x's dimensions (``ttfs_clip_blocks``):
    ``blocks = (O, R, S)``, x being blocks of R rows of S neurons, block b clipped to the S ranges of group
    b mod O; ``pack`` = ``[lo, hi, a, b]`` of O*S values each (the ranges unbroadcast). Needs C, x contiguous
    (the caller checks); ``(out, clipped, outside)`` as :func:`clip_packed`."""
    O, R, S = blocks
    if pack.numel() != 4 * O * S or x.numel() % (R * S or 1):
        raise ValueError(f"clip_blocks: {pack.numel()} bounds and {x.numel()} values do not make blocks {blocks}")
    suffix, _ = REAL[x.dtype]
    if out is not None and out is not x and overlaps(out, x):
        out = torch.empty_like(x)
    outside = ctypes.c_int64(0)
    ptr, step = data_ptr(pack), O * S * pack.element_size()
    n = getattr(built(), f"ttfs_clip_blocks_{suffix}")(
        data_ptr(x), x.numel(), O, R, S, ptr, ptr + step, ptr + 2 * step, ptr + 3 * step,
        None if out is None else data_ptr(out), ctypes.byref(outside), threads_for(x.numel()))
    return out, int(n), outside.value


def ticks_packed(x: torch.Tensor, pack: torch.Tensor, p: int, out: torch.Tensor | None = None):
    """:func:`tick_values` with per-neuron ranges packed in one contiguous tensor ``[b, scale, step, lo, hi]``
    of 5*S values (the range of each of the S neurons of x's trailing dimensions and its count bounds)."""
    S = pack.numel() // 5
    if x.numel() % S == 0 and pack.dtype == x.dtype and _pick(None, x, pack, p=p):
        suffix, _ = REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        fired, clipped = ctypes.c_int64(0), ctypes.c_int64(0)
        ptr, step = data_ptr(pack), S * pack.element_size()
        nan = getattr(built(), f"ttfs_tick_lookup_{suffix}")(
            data_ptr(xc), xc.numel(), 0.0, 0.0, p, None, 0.0, data_ptr(out), ctypes.byref(fired),
            threads_for(xc.numel()), -math.inf, math.inf, ctypes.byref(clipped), S, *(ptr + k * step for k in range(5)))
        if nan:
            raise_nan("values", nan)
        return out, fired.value, clipped.value
    b, scale, step, lo, hi = pack.reshape(5, S)
    res, fired, clipped = tick_values(x.reshape(-1, S), b, scale, step, p, count=(lo, hi))
    res = res.reshape(x.shape)
    return (out.copy_(res) if out is not None else res), fired, clipped


#: the arrays of a log-code pack (:func:`log_pack`), S values each
LOG_PACK_FIELDS = ("a", "b", "lo", "hi", "uhi+", "e+", "scale+", "step+", "uhi-", "e-", "scale-", "step-")


def log_pack(a, b, r, p: int, lims=None, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The constants of the log code (:func:`ttfs_symbolic.numeric.dynamics.quantize_log_values`) for ranges
    ``[a, b]`` (floats, or tensors of S ranges, flattened) at precision p: :data:`LOG_PACK_FIELDS`, one
    contiguous tensor of 12 S values. ``lims = (lo, hi)``: the count bounds (None: count nothing)."""
    a = torch.as_tensor(a, dtype=torch.float64).reshape(-1)
    b = torch.as_tensor(b, dtype=torch.float64).reshape(-1)
    a, b = torch.broadcast_tensors(a, b)
    lo, hi = (-math.inf, math.inf) if lims is None else lims
    lo = torch.broadcast_to(torch.as_tensor(lo, dtype=torch.float64).reshape(-1), a.shape)
    hi = torch.broadcast_to(torch.as_tensor(hi, dtype=torch.float64).reshape(-1), a.shape)
    parts = []
    for _, e, uhi, du in log_parts(a, b, r):
        parts += [uhi, e, p / du, du / p]
    return torch.cat([a, b, lo, hi, *parts]).to(dtype=dtype, device=device).contiguous()


def log_parts(a: torch.Tensor, b: torch.Tensor, r):
    """The log code's two sign parts of ranges ``[a, b]`` (float64 tensors, elementwise): for the + part,
    then the - part, ``(sign, e, uhi, du)`` with M and lo the part's largest and least magnitudes,
    ``e = r M``, ``uhi = log(M + e)``, ``du = uhi - log(lo + e)`` (a part that holds no value: M = 1)."""
    out = []
    for sign, M, least in ((1.0, b.clamp(min=0), a.clamp(min=0)), (-1.0, (-a).clamp(min=0), (-b).clamp(min=0))):
        M = torch.where(M > 0, M, torch.ones_like(M))
        e = r * M
        uhi = torch.log(M + e)
        out.append((sign, e, uhi, uhi - torch.log(least + e)))
    return out


def log_ticks(x: torch.Tensor, pack: torch.Tensor, p: int, out: torch.Tensor | None = None,
              backend: str | None = None):
    """``(out, clipped)``: x on the log code's ticks (:func:`log_pack`: S ranges over x's trailing values,
    flat index modulo S) and the number of x outside the count bounds, in one pass (C; torch otherwise:
    :func:`ttfs_symbolic.numeric.dynamics.quantize_log_values`). NaN raises."""
    S = pack.numel() // 12
    if x.numel() % S == 0 and pack.dtype == x.dtype and _pick(backend, x, pack, p=p):
        suffix, _ = REAL[x.dtype]
        xc = x.contiguous()
        out = _dest(x, xc, out)
        clipped = ctypes.c_int64(0)
        nan = getattr(built(), f"ttfs_log_ticks_{suffix}")(data_ptr(xc), xc.numel(), S, data_ptr(pack), p,
                                                           data_ptr(out), ctypes.byref(clipped),
                                                           threads_for(xc.numel()))
        if nan:
            raise_nan("values", nan)
        return out, clipped.value
    check_nan(x, "values")
    a, b, lo, hi, uhp, ep, scp, stp, uhn, en, scn, stn = pack.reshape(12, S)
    rows = x.reshape(-1, S)
    clipped = int(((rows < lo) | (rows > hi)).sum())
    v = torch.minimum(torch.maximum(rows, a), b)
    neg = v < 0
    uhi, e, scale, step = (torch.where(neg, n_, p_) for n_, p_ in ((uhn, uhp), (en, ep), (scn, scp), (stn, stp)))
    k = torch.round((uhi - torch.log(v.abs() + e)) * scale).clamp_(0, p)
    q = torch.exp(uhi - k * step) - e
    res = torch.where(v == 0, v, torch.where(neg, -q, q)).reshape(x.shape)
    return (out.copy_(res) if out is not None else res), clipped


def _dest(x: torch.Tensor, xc: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """Where a C loop over ``xc`` (``x`` made contiguous) writes: ``out`` when it is contiguous and not a
    view that overlaps x in another layout, else a new tensor."""
    if out is None or not out.is_contiguous() or (out is not x and xc is x and overlaps(out, x)):
        return torch.empty_like(xc)
    return out


def _clip_counts_torch(x, lo, hi, a, b):
    """:func:`clip`'s two counts in torch: with one range, one ``aminmax`` pass and the counting passes
    only where some value lies outside [a, b] (lo <= a and hi >= b), as a GPU prefers."""
    if not x.numel():
        return 0, 0
    if not any(isinstance(t, torch.Tensor) for t in (lo, hi, a, b)) and lo <= a and hi >= b:
        mn, mx = (float(v) for v in torch.aminmax(x))
        if a <= mn and mx <= b:   # (a NaN makes both false: the counts below, which pass over NaN, as C does)
            return 0, 0
    outside = int(((x < a) | (x > b)).sum())
    none = not isinstance(lo, torch.Tensor) and not isinstance(hi, torch.Tensor) and lo == -math.inf and hi == math.inf
    clipped = 0 if none or not outside else int(((x < lo) | (x > hi)).sum())
    return clipped, outside


def matmul_shapes(l1: torch.Tensor, l2: torch.Tensor):
    """``(lead, M, K, N)`` of a matrix product of ``(..., M, K)`` by ``(..., K, N)`` (leading dimensions
    broadcast); ValueError naming both shapes where the inner sizes differ."""
    lead = torch.broadcast_shapes(l1.shape[:-2], l2.shape[:-2])
    M, K, N = l1.shape[-2], l1.shape[-1], l2.shape[-1]
    if l2.shape[-2] != K:
        raise ValueError(f"matrix product of shapes {tuple(l1.shape)} and {tuple(l2.shape)}: inner sizes differ")
    return lead, M, K, N


def batch_rows(t: torch.Tensor | None, lead, last2) -> torch.Tensor | None:
    """``t`` (..., r, c) broadcast to the batch ``lead`` as a contiguous (B, r, c) tensor (None stays None)."""
    return None if t is None else t.expand(*lead, *last2).reshape(-1, *last2).contiguous()


def product_matmul(l1: torch.Tensor, l2: torch.Tensor, table: torch.Tensor, b: float, scale: float, p: int,
                   count: bool = True, backend: str | None = None, signed: dict | None = None):
    """``(s, spikes)``: ``s[..., i, j] = sum_k table[clamp(round(u1[..., i, k] - v2[..., k, j]), 0, p)]``.

    Layer I of the multiplication network as a matrix product. ``l1`` is
    ``(..., M, K)``, ``l2`` is ``(..., K, N)`` (leading dimensions
    broadcast): the two input terms of each layer-I neuron, whose potential
    ``l1 + l2`` spikes at tick ``(b - l1 - l2)*scale``; it is formed as
    ``u1 - v2`` with ``u1 = (b - l1)*scale`` and ``v2 = l2*scale``, computed
    once per factor. ``spikes`` counts the ticks ``< p`` of all M*N*K
    neurons when ``count`` (else 0). Memory: the C loops add each term as it
    is made; the torch reference works in row chunks of ``CHUNK_ELEMENTS``.

    ``signed`` (the signed construction, Product._signed_by_neuron): a dict
    with ``x1`` (shaped like l1) or the constant sign ``s1`` (+1 or -1), and
    ``x2`` (like l2) or ``s2``. Each term is then ``s1 s2 table[tick]``, s1 =
    -1 where x1 < 0 and +1 elsewhere (s2 likewise): the neurons that carry
    x1 x2 with the signs of their parts. In C the sign picks the half of a
    table ``[T, -T]`` by an integer offset (exact), read from the factors' values in the loop.
    """
    for name, t in (("l1", l1), ("l2", l2)):
        check_nan(t, f"the terms {name} of layer I")
    lead, M, K, N = matmul_shapes(l1, l2)
    sg = signed_parts(signed, l1, l2)
    u1 = (b - l1) * scale
    v2 = l2 * scale
    extra = [t for t in (sg["x1"], sg["x2"]) if t is not None] if sg else []
    if _pick(backend, l1, l2, table, *extra, p=p):
        suffix, _ = REAL[l1.dtype]
        a, c = batch_rows(u1, lead, (M, K)), batch_rows(v2, lead, (K, N))
        tab, facs, consts = table.contiguous(), [None, None], [0, 0]
        if sg:   # the sign picks the half of [T, -T]: offset p + 1 where a part is negative (read in C
            # from the factors' values, x < 0; a constant sign: its offset)
            tab = torch.cat([tab, -tab])
            facs = [batch_rows(sg[n], lead, last2) for n, last2 in (("x1", (M, K)), ("x2", (K, N)))]
            consts = [(p + 1) if sg[f"s{i}"] < 0 else 0 for i in (1, 2)]
        B = a.shape[0]
        out = torch.empty(B, M, N, dtype=l1.dtype)
        fired = ctypes.c_int64(0)
        getattr(built(), f"ttfs_product_matmul_{suffix}")(
            data_ptr(a), data_ptr(c), B, M, K, N, p, data_ptr(tab), data_ptr(out), int(count), ctypes.byref(fired),
            threads_for(B * M * K * N), int(sg is not None), *(None if f is None else data_ptr(f) for f in facs), *consts)
        return out.reshape(*lead, M, N), fired.value
    return _product_matmul_torch(u1, v2, table, p, count, sg, lead, M, K, N)


def signed_parts(signed, l1, l2):
    """The ``signed`` argument of :func:`product_matmul` checked, with x1, x2, s1, s2 all present."""
    if signed is None:
        return None
    unknown = set(signed) - {"x1", "x2", "s1", "s2"}
    if unknown:
        raise ValueError(f"unknown key(s) of signed: {', '.join(sorted(unknown))}")
    sg = {}
    for i, like in ((1, l1), (2, l2)):
        x, c = signed.get(f"x{i}"), signed.get(f"s{i}")
        if (x is None) == (c is None):
            raise ValueError(f"signed needs exactly one of x{i} (the values) and s{i} (a constant sign)")
        if c is not None and c not in (1, -1):
            raise ValueError(f"signed s{i} must be +1 or -1, got {c!r}")
        if x is not None and (x.shape[-2:] != like.shape[-2:] or x.dtype != like.dtype or x.device != like.device):
            raise ValueError(f"signed x{i} must have the last two dimensions, dtype and device of l{i}")
        sg[f"x{i}"], sg[f"s{i}"] = x, (1 if c is None else c)
    return sg


def _product_matmul_torch(u1, v2, table, p, count, sg, lead, M, K, N):
    """The torch reference of :func:`product_matmul`, in row chunks (the M*N*K tensor is never whole)."""
    batch = math.prod(lead)
    rows = max(1, CHUNK_ELEMENTS // max(batch * K * N, 1))
    if sg:
        s1 = sg["s1"] if sg["x1"] is None else 1.0 - 2.0 * (sg["x1"] < 0).to(u1.dtype)
        s2 = sg["s2"] if sg["x2"] is None else 1.0 - 2.0 * (sg["x2"] < 0).to(u1.dtype)
    parts, fired = [], 0
    for i0 in range(0, M, rows):
        u = u1[..., i0:i0 + rows, :].unsqueeze(-1) - v2.unsqueeze(-3)   # (..., rows, K, N)
        k = tick_of(u, p).long()
        terms = table[k]
        if sg:
            a = s1[..., i0:i0 + rows, :].unsqueeze(-1) if isinstance(s1, torch.Tensor) else s1
            c = s2.unsqueeze(-3) if isinstance(s2, torch.Tensor) else s2
            terms = terms * (a * c)
        parts.append(terms.sum(-2))
        if count:
            fired += int((k < p).sum())
    return torch.cat(parts, dim=-2), fired


def threshold_lookup(V: torch.Tensor, P: torch.Tensor, theta: float, values: torch.Tensor,
                     guess: tuple | None = None, backend: str | None = None):
    """``(out, spikes)``: ``m`` = the first index with ``P[m] >= theta - V`` (``p`` if none), ``out = values[m]``.

    ``P`` (float64, non-decreasing, ``p`` entries) is the cumulative psi at
    half ticks (eq. 32); ``values`` (``p + 1`` entries, V's dtype) the value
    each tick stands for, ``values[p]`` the value of no spike. ``theta - V``
    is formed in float64. ``spikes`` counts ``m < p``.

    ``guess = (x, b, scale)``: values x near the outputs (the closed form
    ``clip(h(V), a, b)``); the C search starts at their ticks and walks to
    m. It changes the time, never the result (the torch reference ignores it).
    """
    p = P.numel()
    if values.numel() != p + 1:
        raise ValueError(f"values needs p + 1 = {p + 1} entries, got {values.numel()}")
    if P.dtype != torch.float64:
        raise ValueError("P must be float64")
    if guess is not None and guess[0].shape != V.shape:
        raise ValueError(f"guess has shape {tuple(guess[0].shape)}, V has {tuple(V.shape)}")
    extra = () if guess is None else (guess[0],)
    if _pick(backend, V, values, *extra, p=p) and P.device.type == "cpu":
        suffix, _ = REAL[V.dtype]
        Vc = V.contiguous()
        out = torch.empty_like(Vc)
        fired = ctypes.c_int64(0)
        g, gb, gscale = (None, 0.0, 0.0) if guess is None else (data_ptr(guess[0].contiguous()), guess[1], guess[2])
        nan = getattr(built(), f"ttfs_threshold_lookup_{suffix}")(
            data_ptr(Vc), Vc.numel(), theta, data_ptr(P.contiguous()), p, data_ptr(values.contiguous()), g, gb, gscale,
            data_ptr(out), ctypes.byref(fired), threads_for(Vc.numel() * 16))
        if nan:
            raise_nan("potentials", nan)
        return out, fired.value
    check_nan(V, "potentials")
    need = (theta - V.to(torch.float64)).contiguous()
    m = torch.searchsorted(P.contiguous(), need.reshape(-1), side="left").reshape(V.shape)
    return values[m], int((m < p).sum())


def _pick(backend: str | None, *tensors, p: int) -> bool:
    """True: run the C loop. ``backend``: None (C where it can), "native" (C or raise), "torch"."""
    if backend == "torch":
        return False
    if backend not in (None, "native"):
        raise ValueError(f"backend must be None, 'native' or 'torch', got {backend!r}")
    ok = use_native(*tensors, p=p)
    if backend == "native" and not ok:
        why = build_info().get("error") or "the tensors are not float32/float64 on the CPU, or p is too large"
        raise RuntimeError(f"the native loops cannot run here: {why}")
    return ok
