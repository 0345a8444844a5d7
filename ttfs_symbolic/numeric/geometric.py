"""Layer I of the multiplication network (Section 4.3.4) when layer II's tick table is geometric.

:func:`~.native.product_matmul` reads layer II's term of every layer-I
neuron from the tick table, ``T[t]`` with ``t = rint(u1[i, k] - v2[k, j])``:
one gather per neuron, M*N*K of them per matrix product, which bounds its
speed. Layer II's kernel is exp, and its table is geometric, ``T[t] = T[0]
g^t`` (eq. 26: ``T[t] = exp(b - t d/p)``, ``g = exp(-d/p)``; in kernel mode
the integral of eta = exp over layer I's window, eq. 30, which equals it to
float64 rounding; :func:`ratio` checks it for the table at hand). Then with
``u1 = n1 + f1`` (``n1 = rint(u1)``, ``|f1| <= 1/2``) and ``v2 = n2 + f2``
(``n2 = floor(v2)``):

    t = n1 - n2 + r,   r = -1 where f2 > f1 + 1/2, else 0,
    T[t] = (T[0] g^n1) (g^-n2) g^r,

a product of a factor read once per (i, k) from a table of ``T[0] g^n``
(with the sign of x1), one read once per (k, j) (with the sign of x2) and
one of two values of the first, chosen by a comparison: vector arithmetic
without a gather per neuron (``csrc/geometric_body.h``). The tick is that of
``rint(u1 - v2)`` except where ``f1 - f2`` lies within float rounding of
-1/2 (or at the tie +1/2), where the two roundings of the same potential may
differ by one tick; each term is the table's entry to a few units in the
last place of the dtype. The path is
taken only where no tick can leave [0, p] (the clamp never acts: every
``u1 - v2`` within ``[-1/4, p + 1/4]``, checked in C from each batch
element's extremes of u1 and v2), the table is geometric and the C loops run; otherwise
:func:`~.native.product_matmul` (the gather, and the torch reference) is
used, with the same result up to those ticks.
"""
from __future__ import annotations

import ctypes
import math

import torch

from . import native
from .native_build import REAL, available_for, built, check_nan, data_ptr

#: the largest relative difference between a table and its geometric fit T[0] g^t for which
#: :func:`ratio` calls it geometric: float64's rounding of the kernel integral (about 3e-15 at p = 4096)
#: with room, or the dtype's rounding of a table stored in float32
GEOMETRIC_RTOL = 1e-12


def ratio(table: torch.Tensor) -> tuple[float, float] | None:
    """``(T[0], log g)`` where ``table[t] = T[0] g^t`` for every t to :data:`GEOMETRIC_RTOL` (or to 8 units
    in the last place of the table's dtype, if that is larger), the entries all positive; else None.
    Give it the table in float64, before it is cast to the model's dtype."""
    T = table.detach().to("cpu", torch.float64).reshape(-1)
    if T.numel() < 2 or not bool(torch.isfinite(T).all()) or bool((T <= 0).any()):
        return None
    lng = (math.log(float(T[-1])) - math.log(float(T[0]))) / (T.numel() - 1)
    fit = float(T[0]) * torch.exp(torch.arange(T.numel(), dtype=torch.float64) * lng)
    rtol = max(GEOMETRIC_RTOL, 8 * torch.finfo(table.dtype).eps) if table.dtype.is_floating_point else GEOMETRIC_RTOL
    return (float(T[0]), lng) if float(((T - fit).abs() / T).max()) <= rtol else None


def product_matmul(l1: torch.Tensor, l2: torch.Tensor, table: torch.Tensor, b: float, scale: float, p: int,
                   count: bool = True, signed: dict | None = None, geo: tuple[float, float] | None = None):
    """:func:`~.native.product_matmul` (same arguments and result), without a table read per neuron where
    ``geo`` (the table's :func:`ratio`, ``(T[0], log g)``) is given and the factorization applies (module
    docstring): the C loop forms ``u1 = (b - l1) scale`` and ``v2 = l2 scale`` itself, checks their
    extremes and declines (the gather runs instead) where a tick could leave [0, p]."""
    if geo is not None and available_for(l1) and l2.dtype == l1.dtype and l2.device == l1.device \
            and p <= native.MAX_NATIVE_PRECISION:
        for name, t in (("l1", l1), ("l2", l2)):
            check_nan(t, f"the terms {name} of layer I")
        done = _geometric(l1, l2, b, scale, p, count, native.signed_parts(signed, l1, l2), geo)
        if done is not None:
            return done
    return native.product_matmul(l1, l2, table, b, scale, p, count=count, signed=signed)


def _geometric(l1, l2, b, scale, p, count, sg, geo):
    """The C loop's ``(s, spikes)``, or None where it declines."""
    lead, M, K, N = native.matmul_shapes(l1, l2)
    a, c = native.batch_rows(l1, lead, (M, K)), native.batch_rows(l2, lead, (K, N))
    x1, x2 = (native.batch_rows(sg[n], lead, last2) if sg else None for n, last2 in (("x1", (M, K)), ("x2", (K, N))))
    neg1, neg2 = (int(bool(sg) and sg[f"s{i}"] < 0) for i in (1, 2))
    B = a.shape[0]
    out = torch.empty(B, M, N, dtype=l1.dtype)
    work1 = torch.empty(4 * B * M * K + B * (p + 4), dtype=l1.dtype)
    work2 = torch.empty(3 * B * K * N + B * K + B * (p + 2), dtype=l1.dtype)
    silent = ctypes.c_int64(0)
    suffix, _ = REAL[l1.dtype]
    declined = getattr(built(), f"ttfs_product_geo_{suffix}")(
        data_ptr(a), data_ptr(c), b, scale, B, M, K, N, p, geo[0], geo[1],
        None if x1 is None else data_ptr(x1), None if x2 is None else data_ptr(x2), neg1, neg2,
        data_ptr(out), int(count), ctypes.byref(silent), data_ptr(work1), data_ptr(work2),
        native.threads_for(B * M * K * N))
    if declined:
        return None
    fired = B * M * K * N - silent.value if count else 0
    return out.reshape(*lead, M, N), fired
