"""Exact mode's fused C passes: a layer's closed form, its clip and its clipping count in one pass over
its values (``csrc/ticks_body.h``), for the layers whose exact mode is more than a clip.

* :func:`layernorm`: mean, centred, variance, rsqrt and the product with the affine (Section 4.3.3);
* :func:`softmax`: max, z, log-sum-exp and exp (Section 4.3.2, eq. 36);
* :func:`gelu_clip`: the GELU neurons (Corollary 4.5);
* :func:`bias_clip`: a linear layer's neurons after its matrix product (Corollaries 4.2, 4.4);
* at time precision p (quantized and kernel modes): :func:`signed_mul` (LayerNorm's elementwise signed
  product), :func:`signed_factor` (a factor's terms of the signed matrix product) and
  :func:`softmax_terms` / :func:`softmax_out` (the softmax's two passes over every value).

Each needs the C loops (:func:`~.native.available_for`); the callers (the spiking layers) keep their
torch path for the rest, and the tests compare the two.
"""
from __future__ import annotations

import ctypes
import math

import torch

from .native import threads_for
from .native_build import REAL, built, data_ptr, raise_nan


def layernorm(x: torch.Tensor, eps: float, w, bias, packs, out: torch.Tensor | None = None):
    """``(out, counts)``: exact mode's LayerNorm over x's last dimension, its five populations'
    clips and counts fused in one C pass (``csrc/ticks_body.h``, ``ttfs_layernorm``).

    ``packs``: per population (mean, centred, var, rsqrt, out) a contiguous tensor of x's dtype
    holding ``[lo, hi, a, b]``, S values each (the count bounds and the range, for the neuron index
    mod S: the row for mean, var, rsqrt; the element for centred and out, S = 1 or a multiple of C). ``w``, ``bias``: C
    values or None; each population's count bounds hold its clip's (lo <= a, b <= hi, as
    :meth:`~ttfs_symbolic.spiking.population.Population.clip_pack` makes them: float32's vector pass skips
    the count where a value is inside [a, b]). ``counts``: the five populations' out-of-range neurons. The torch path is
    :class:`~ttfs_symbolic.spiking.SpikingLayerNorm`'s own (the caller's): this needs C
    (:func:`available_for`), x contiguous.
    """
    suffix, _ = REAL[x.dtype]
    C = x.shape[-1]
    R = x.numel() // C if C else 0
    out = torch.empty_like(x) if out is None else out
    packs = list(packs)
    for k in (1, 4):   # one range for all the centred / output neurons: spread over a row (the C loop
        # reads these two populations' bounds as arrays)
        if packs[k].numel() == 4 and C > 1:
            packs[k] = packs[k].reshape(4, 1).expand(4, C).contiguous()
        elif packs[k].numel() % (4 * max(C, 1)):
            raise ValueError(f"layernorm: bounds {k} have {packs[k].numel() // 4} values: one, or a multiple of "
                             f"the row's {C}")
    S = (ctypes.c_int64 * 5)(*(t.numel() // 4 for t in packs))
    counts = (ctypes.c_int64 * 5)()
    getattr(built(), f"ttfs_layernorm_{suffix}")(
        data_ptr(x), R, C, float(eps), None if w is None else data_ptr(w), None if bias is None else data_ptr(bias),
        *(data_ptr(t) for t in packs), S, data_ptr(out), counts, threads_for(R * C))
    return out, list(counts)


def gelu_clip(x: torch.Tensor, pack: torch.Tensor):
    """``(out, clipped)``: exact mode's GELU neurons, ``clamp(gelu(x), a, b)`` (GELU with erf, as
    ``F.gelu``, to float rounding) and the number of outputs outside ``[lo, hi]``, in one C pass
    (``ttfs_gelu_clip``); ``pack`` = ``[lo, hi, a, b]`` of S values each (the neurons of x's trailing
    dimensions, flat index mod S). Needs C (:func:`available_for`), x contiguous, ``pack`` of x's dtype."""
    suffix, _ = REAL[x.dtype]
    out = torch.empty_like(x)
    n = getattr(built(), f"ttfs_gelu_clip_{suffix}")(data_ptr(x), x.numel(), pack.numel() // 4, data_ptr(pack),
                                                     data_ptr(out), threads_for(x.numel()))
    return out, int(n)


def softmax(x: torch.Tensor, count_above: float, b: float, pre=None):
    """``(out, clipped, pre_clipped)``: exact mode's softmax over x's last dimension (the max, x - max,
    log-sum-exp and exp layers in closed form), clipped at ``b`` (the probabilities are >= 0 = a) and the
    number of them above ``count_above`` (b widened by the float slack), in one C pass per row
    (``ttfs_softmax``: max, exp(x - max), the sum, the product by its reciprocal, the clip, the count). The
    same values as ``torch.softmax`` up to float rounding (exp, the sum's order); a row with a NaN is all
    NaN. ``pre = (pack, O, RB)``: x is the potential of the layer before (identity neurons: the attention
    scores), clipped and counted in the same pass, row r by range ``(r // RB) % O`` of ``pack`` =
    ``[lo, hi, a, b]``, O values each (:meth:`~ttfs_symbolic.spiking.population.Population.clip_pack`), as
    :func:`~.native.clip_blocks` would before; ``pre_clipped``: their count (0 without ``pre``). Needs C
    (:func:`available_for`) and x contiguous; the caller keeps the torch path for the rest."""
    suffix, _ = REAL[x.dtype]
    N = x.shape[-1] if x.dim() else 1
    out = torch.empty_like(x)
    pre_n = ctypes.c_int64(0)
    pack, O, RB = (None, 0, 0) if pre is None else pre
    if pack is not None and (pack.numel() != 4 * O or pack.dtype != x.dtype):
        raise ValueError(f"softmax: {pack.numel()} bounds of {pack.dtype} for {O} ranges of {x.dtype} values")
    n = getattr(built(), f"ttfs_softmax_{suffix}")(data_ptr(x), x.numel() // N if N else 0, N, count_above, b,
                                                   data_ptr(out), None if pack is None else data_ptr(pack), O, RB,
                                                   ctypes.byref(pre_n), threads_for(x.numel()))
    return out, int(n), pre_n.value


def signed_factor(x: torch.Tensor, e: float, le: float, tick: tuple[float, float, int], T: torch.Tensor | None,
                  sub: float, split: bool, c: float, count: bool):
    """``(l, s, E, fired)``: one factor of the signed construction's matrix product in one C pass
    (``ttfs_signed_factor``; the torch lines of ``Product._signed_by_neuron`` are the reference):
    ``l = log(|x| + e)``, ``s`` = -1 where x < 0 else +1 (``split``; else None, the factor's sign ``c``),
    and, where the table ``T`` (p + 1 entries) is given, the term of the layer-I neuron whose other part is
    silent: ``E = (T[k] - sub) s`` with ``k = clamp(rint((b - (l + le)) scale), 0, p)``, ``tick = (b,
    scale, p)``, else None; ``fired``: the number of those k < p (when ``count``, else 0). NaN in x
    raises. Needs C (:func:`available_for`) and x contiguous."""
    suffix, _ = REAL[x.dtype]
    b, scale, p = tick
    l = torch.empty_like(x)
    s = torch.empty_like(x) if split else None
    E = torch.empty_like(x) if T is not None else None
    fired = ctypes.c_int64(0)
    nan = getattr(built(), f"ttfs_signed_factor_{suffix}")(
        data_ptr(x), x.numel(), e, le, b, scale, p, None if T is None else data_ptr(T), sub, c, data_ptr(l),
        None if s is None else data_ptr(s), None if E is None else data_ptr(E),
        ctypes.byref(fired) if count else None, threads_for(x.numel()))
    if nan:
        raise_nan("values", nan)
    return l, s, E, fired.value


def softmax_terms(x: torch.Tensor, m: torch.Tensor, z_grid: torch.Tensor, p: int,
                  table: torch.Tensor | None, t_grid: tuple[float, float]):
    """``(z, sums)``: the first C pass of the softmax at time precision p (``ttfs_softmax_terms``, one pass
    per row of x's last dimension): ``z = zb - k zst`` with ``k = clamp(rint((zb - (x - m)) zsc), 0, p)``
    (the z layer's ticks, as :func:`native.tick_values`; ``z_grid``: ``zb, zsc, zst`` per row, a contiguous
    ``(3, R)`` tensor of x's dtype for its R rows; m the rows' emitted max, shape ``(..., 1)``), and each
    row's sum of the log-sum-exp neuron's input terms of z: ``table[k']`` with k' z's tick on the grid
    ``t_grid = (tb, tsc)`` (kernel mode, ``table`` of p + 1 terms: :func:`dynamics.term_table`) or
    ``exp(z)`` (``table`` None: quantized mode), shape ``(..., 1)``. NaN in x raises. Needs C
    (:func:`available_for`), x and m contiguous, of one dtype."""
    suffix, _ = REAL[x.dtype]
    N = x.shape[-1]
    R = x.numel() // N
    z = torch.empty_like(x)
    sums = torch.empty(*x.shape[:-1], 1, dtype=x.dtype)
    nan = getattr(built(), f"ttfs_softmax_terms_{suffix}")(
        data_ptr(x), data_ptr(m), R, N, *(data_ptr(t) for t in z_grid), p,
        None if table is None else data_ptr(table), *t_grid, data_ptr(z), data_ptr(sums), threads_for(x.numel()))
    if nan:
        raise_nan("values", nan)
    return z, sums


def softmax_out(z: torch.Tensor, lse: torch.Tensor, lims, thresholds: tuple[float, float], pack: torch.Tensor,
                p: int):
    """``(out, clipped)``: the second C pass (``ttfs_softmax_out``): layer II's potentials ``V = z - lse``
    (lse the rows' emitted log-sum-exp, shape ``(..., 1)``), ``h = clip(exp(V), a, b)`` (eq. 14, as
    :meth:`OutputKernel.apply`: b where ``V >= theta``, a where ``V <= theta_low``; ``thresholds =
    (theta_low, theta)``) on the log code's ticks (``pack``: :func:`native.log_pack` of one range, whose a, b
    are the clip's), and the number of V below ``lims[0]`` or above ``lims[1]`` (None: not counted, 0).
    Written over z."""
    suffix, _ = REAL[z.dtype]
    N = z.shape[-1]
    lo, hi = (-math.inf, math.inf) if lims is None else lims
    n = getattr(built(), f"ttfs_softmax_out_{suffix}")(
        data_ptr(z), data_ptr(lse), z.numel() // N, N, lo, hi, *thresholds, data_ptr(pack), p, data_ptr(z),
        threads_for(z.numel()))
    return z, int(n)


def row_stride(x: torch.Tensor) -> int | None:
    """The distance between x's rows (its last dimension) where x is rows of contiguous values at one
    stride (x contiguous, or a slice of a wider tensor's last dimension); None otherwise."""
    if x.dim() == 0 or x.stride(-1) != 1 and x.shape[-1] > 1:
        return None
    if x.dim() == 1:
        return x.shape[-1]
    ld = x.stride(-2)
    if ld < x.shape[-1] and x.shape[-2] > 1:
        return None
    step = ld
    for i in range(x.dim() - 2, 0, -1):   # the leading dimensions collapse into rows at stride ld
        step *= x.shape[i]
        if x.shape[i - 1] > 1 and x.stride(i - 1) != step:
            return None
    return max(ld, x.shape[-1])


def bias_clip(x: torch.Tensor, bias: torch.Tensor | None, pack: torch.Tensor, heads: tuple[int, int] | None = None):
    """Exact mode's linear neurons after their matrix product without the bias: ``clip(x + bias, a, b)`` per
    output channel and the number of potentials outside ``[lo, hi]``, in one C pass (``ttfs_bias_clip``).
    ``pack`` = ``[lo, hi, a, b]`` of C values each (one range per channel of x's last dimension C); ``bias``:
    C contiguous values of x's dtype, or None. x: rows of C contiguous values at one stride
    (:func:`row_stride`: contiguous, or a slice of a wider product's channels). Returns the count, the values
    written over x; with ``heads = (N, hd)`` (x of shape (B, N, C), C = H hd) ``(out, count)``, out a new
    (B, H, N, hd) contiguous tensor: attention's heads, each a contiguous matrix (one batched product for
    every head, where strided heads take one product per head and batch item), x left as it was. Needs C
    (:func:`available_for`)."""
    suffix, _ = REAL[x.dtype]
    C = x.shape[-1]
    ld = row_stride(x)
    if ld is None:
        raise ValueError(f"bias_clip needs rows of contiguous values at one stride, got strides {x.stride()}")
    if pack.numel() != 4 * C or (bias is not None and bias.numel() != C):
        raise ValueError(f"bias_clip needs per-channel bounds and bias of {C} values each")
    out, N, hd = None, 0, 0
    if heads is not None:
        N, hd = heads
        if x.dim() != 3 or x.shape[1] != N or hd <= 0 or C % hd:
            raise ValueError(f"bias_clip: heads {heads} do not split values of shape {tuple(x.shape)}")
        out = torch.empty(x.shape[0], C // hd, N, hd, dtype=x.dtype, device=x.device)
    n = int(getattr(built(), f"ttfs_bias_clip_{suffix}")(
        data_ptr(x), x.numel() // C if C else 0, C, ld, None if bias is None else data_ptr(bias), data_ptr(pack),
        None if out is None else data_ptr(out), N, hd, threads_for(x.numel())))
    return n if heads is None else (out, n)


#: the per-channel constants of :func:`signed_mul`, in the order of its pack
SIGNED_MUL_FIELDS = ("e1", "e2", "le1", "le2", "hi_y", "scale", "step", "E00")


def signed_mul(x1: torch.Tensor, x2: torch.Tensor, pack: torch.Tensor, split: tuple[bool, bool],
               c: tuple[int, int], p: int):
    """``(V, fired)``: the signed construction's elementwise product at finite p with per-channel
    constants (Section 4.3.4; :meth:`~ttfs_symbolic.spiking.product.Product._signed_elementwise_fine`,
    its torch path and reference) in one C pass (``csrc/signed_body.h``): every layer-I neuron's tick,
    layer II's terms, the signs and the corrections of one-signed factors. ``x1``: rows of C values
    (contiguous); ``x2``: the same shape, or one value per row (``(..., 1)``); ``pack``:
    :data:`SIGNED_MUL_FIELDS`, C values each, x1's dtype; ``split``: whether each factor takes both
    signs; ``c``: the sign of each one-signed factor (0 for a split one). ``fired``: the layer-I
    neurons that spike (tick < p). Needs C (:func:`available_for`); NaN inputs are the caller's to refuse."""
    suffix, _ = REAL[x1.dtype]
    C = x1.shape[-1]
    per_row = x2.shape[-1] == 1 and C != 1
    if pack.numel() != 8 * C or not x1.is_contiguous() or not x2.is_contiguous() \
            or x2.numel() != (x1.numel() // C if per_row else x1.numel()):
        raise ValueError("signed_mul needs contiguous rows of C values, x2 of the same rows or one value per row, "
                         f"and 8 x {C} constants; got {tuple(x1.shape)}, {tuple(x2.shape)}, {pack.numel()}")
    out = torch.empty_like(x1)
    fired = ctypes.c_int64(0)
    getattr(built(), f"ttfs_signed_mul_{suffix}")(
        data_ptr(x1), data_ptr(x2), x1.numel() // C if C else 0, C, int(per_row), data_ptr(pack), int(split[0]),
        int(split[1]), int(c[0]), int(c[1]), p, data_ptr(out), ctypes.byref(fired), threads_for(x1.numel()))
    return out, fired.value
