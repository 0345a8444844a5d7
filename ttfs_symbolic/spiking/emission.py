"""A population's emitting stage: clip(h(V), a, b) and its spike times in the three modes (Theorem 4.3).

:class:`PopulationEmission` is the part of :class:`~.population.Population`
that a forward pass drives: the closed form (exact), the nearest of p ticks
(quantized, eq. 29) and the cumulative psi table (kernel), with the
clipping count fused into the C loops where they run.
"""
from __future__ import annotations

import math

import torch

from ..numeric import dynamics, fused, native
from .context import SAMPLE_EVERY, Ctx


class PopulationEmission:
    """Emitting-stage methods of :class:`~.population.Population` (a mixin: it holds no state of its own)."""

    # ---- emitting stage -----------------------------------------------------
    def emit(self, V: torch.Tensor, ctx: Ctx, fresh: bool = False) -> torch.Tensor:
        """Output values of the emitting stage (Theorem 4.3) in the context's mode.

        ``fresh=True``: V is a temporary of the caller's that nothing else
        reads, so the output may be written over it (one pass and one
        allocation fewer per layer). Not when recording: the clip count reads V.

        The neurons V drives outside the range are counted (``ctx.check``) in
        the same pass that clips (exact mode) or rounds (quantized, kernel)
        them, and noted in ``ctx.clipped``: clipping is never silent (the
        model warns once per call).
        """
        if self.relay:
            # residual="synapses": no neuron here, so no spike, no window, no rounding and no clipping;
            # each consumer's potential receives the summands (each already a spike of its own layer)
            # through identity synapses, and sum_j w (x_j + y_j) = sum_j w x_j + sum_j w y_j (eq. 9, f = x)
            if ctx.calibrating:
                self.observe(V)
            return V
        ctx.note(self)
        if ctx.calibrating:
            out = V if self.h is None else self.h.h_fn("torch")(V)
            self.observe(out)
            if ctx.precision is None or not self.calibrated:
                return out
            return self.round_values(out, ctx.precision)   # what reaches the next layers at p
        self.require_range()
        mode = ctx.mode_for(self)
        reuse = fresh and not ctx.record
        if self.code == "log" and mode != "exact":
            # the log code (dynamics.quantize_log_values): the spike time is linear in log(|x| + e) of the
            # part that carries x; in kernel mode too in its closed form (the code's psi and eta, one per
            # part and range, integrate to the same ticks: docs/guide/precision.md)
            if self.h is None:
                counted, lims = self.count_plan(V, ctx)
                out, n = native.log_ticks(V, self.log_pack(V, ctx.precision, lims), ctx.precision,
                                          out=V if reuse else None)   # clipped, counted and rounded in one pass
                if lims is not None:
                    ctx.add_check(self.pname, n, V.numel())
                elif counted:
                    self._sample_check(V, ctx)
            else:
                self._check_clip(V, ctx)
                out = self._apply_h(V)
                out = native.log_ticks(out, self.log_pack(out, ctx.precision, None), ctx.precision, out=out)[0]
        elif self.h is None:
            out = self._emit_identity(V, ctx, mode, reuse)
        else:
            self._check_clip(V, ctx)
            if mode == "kernel":
                out = dynamics.kernel_emit(self.h, self.timing(), V, ctx.precision)
            else:
                out = self._apply_h(V)
                if mode == "quantized":
                    # out is this call's own tensor: rounded in place
                    out = self._quantize(out, self.a, self.b, ctx.precision, out=out)
        if ctx.record:
            self._count(V, out, None if mode == "exact" else ctx.precision)
        return out

    @property
    def proven(self) -> bool:
        """Whether a construction proves the range (softmax's max, x - max, log-sum-exp): it holds every
        value its (already clipped) senders can give, up to an ulp of float rounding, which the clip or
        the quantized and kernel modes' tick clamp absorbs, so there is nothing to count."""
        return self.fixed_range is not None or self.range_fn is not None

    def _emit_identity(self, V: torch.Tensor, ctx: Ctx, mode: str, reuse: bool) -> torch.Tensor:
        """Identity neurons (h = x): ``clip(V, a, b)`` (eq. 14), the nearest of p ticks in quantized and
        kernel mode, and the clipping count, in one pass (C: :func:`native.clip`, :func:`native.tick_values`).

        Kernel mode needs no table here: psi = 1/tau, so the cumulative table is linear, P[m] =
        (m + 1/2) d/p, and the crossing tick is read by division, round((b - V) p / d).
        """
        counted, lims = self.count_plan(V, ctx)
        n = 0
        if mode == "exact":
            a, b = self.bounds(V)
            if self.proven and reuse:
                out = V           # the range holds every value: the clip changes nothing
            elif lims is None and not native.available_for(V):
                out = V.clamp_(a, b) if reuse else V.clamp(a, b)
            else:
                if not V.is_contiguous():   # (a transposed view: the C loop reads rows) a copy of its own
                    V, reuse = V.contiguous(), True
                dest = V if reuse else torch.empty_like(V)
                blocks = None if self.fine_a is None or self.fits(V.shape) or not native.available_for(V) \
                    else self._blocks(V.shape)
                if blocks is not None:   # (ranges broadcast over a middle run of dimensions: per head; C only:
                    # without it, on another device or with TTFS_NATIVE=0, clip_packed's torch path below)
                    out, n, _ = native.clip_blocks(V, self.clip_pack(V, lims is not None), blocks, out=dest)
                elif self.fine_a is not None:   # (ranges that do not fit the C loop's indexing: broadcast)
                    trail = None if self.fits(V.shape) else tuple(V.shape[1:])
                    out, n, _ = native.clip_packed(V, self.clip_pack(V, lims is not None, trail), out=dest)
                else:
                    lo, hi = (-math.inf, math.inf) if lims is None else lims
                    out, n, _ = native.clip(V, lo, hi, a, b, out=dest)
        else:
            out, n = self._quantize_counted(V, ctx.precision, reuse, lims)
        if lims is not None:
            ctx.add_check(self.pname, n, V.numel())
        elif counted:
            self._sample_check(V, ctx)
        elif self.proven:
            ctx.add_check(self.pname, 0, V.numel())
        return out

    def emit_linear_exact(self, V: torch.Tensor, bias: torch.Tensor | None, ctx: Ctx,
                          heads: tuple[int, int] | None = None) -> torch.Tensor:
        """Exact mode's identity neurons of a linear layer whose product ``V`` (the layer's own temporary,
        rows of C output channels) still lacks its ``bias``: ``clip(V + bias, a, b)`` in place and the
        clipping count, in one C pass (:func:`fused.bias_clip`); the same bookkeeping as :meth:`emit`
        (the caller, :class:`~.layers.SpikingLinear`, checks that this population is exact, not a relay,
        has h = x and one range or one per channel). ``heads = (N, hd)``: V (batch, N, C) is attention's
        q, k or v, returned as (batch, C / hd, N, hd) contiguous heads instead (:func:`fused.bias_clip`)."""
        ctx.note(self)
        self.require_range()
        counted, lims = self.count_plan(V, ctx)
        self.bounds(V)   # (the shape check of the ranges, as the emitting stage makes it: a ValueError naming
        # the layer where a file's ranges do not fit)
        pack = self.clip_pack(V, lims is not None, None if self.fine_a is not None else (V.shape[-1],))
        bias = None if bias is None else bias.contiguous()
        if heads is None:
            n, out = fused.bias_clip(V, bias, pack), V
        else:   # (attention's heads: (batch, head, token, head size), each contiguous; V as it was)
            out, n = fused.bias_clip(V, bias, pack, heads)
        if lims is not None:
            ctx.add_check(self.pname, n, V.numel())
        elif counted:   # (no C loops: count_plan counts every neuron where they run)
            self._sample_check(out.transpose(1, 2).reshape(V.shape) if heads else V, ctx)
        return out

    def _blocks(self, shape) -> tuple[int, int, int] | None:
        """``(O, R, S)`` where this layer's ranges (shape f, per head or per head and feature) repeat over
        one middle run of the values' trailing dimensions t: f = (outer, 1.., inner) against t = (outer,
        run.., inner), so the values are blocks of R = prod(run) rows of S = prod(inner) neurons, block b
        taking range group b mod O, O = prod(outer) (:func:`native.clip_blocks`); None otherwise."""
        f = tuple(self.fine_a.shape)
        t = tuple(shape[len(shape) - len(f):]) if len(f) < len(shape) else None
        if t is None:
            return None
        run = [d for d in range(len(f)) if f[d] == 1 and t[d] != 1]
        if not run or run != list(range(run[0], run[-1] + 1)):
            return None
        i, j = run[0], run[-1] + 1
        if f[:i] != t[:i] or f[j:] != t[j:]:
            return None
        return math.prod(f[:i]), math.prod(t[i:j]), math.prod(f[j:])

    def row_groups(self, shape) -> tuple[int, int] | None:
        """``(O, RB)`` where every row of values of ``shape`` (its last dimension) has one range: row r takes
        range ``(r // RB) % O`` of :meth:`clip_pack`'s (one range: (1, 1); per head: the heads' O ranges, RB
        rows a head); None where the ranges vary along a row."""
        if self.fine_a is None:
            return 1, 1
        blocks = self._blocks(shape)
        N = shape[-1] if shape else 0
        if blocks is None or blocks[2] != 1 or not N or blocks[1] % N:
            return None
        return blocks[0], blocks[1] // N

    def count_plan(self, V: torch.Tensor, ctx: Ctx):
        """``(counted, lims)``: whether V's clipping is counted at all, and the bounds of the count when
        every neuron is counted in the emitting pass (None: no count there; a sample, or nothing)."""
        if self.proven or ctx.check == "off":
            return False, None
        if ctx.check == "sample" and not native.available_for(V):
            return True, None
        return True, self._count_bounds(V)

    def _count_bounds(self, V: torch.Tensor):
        """``(lo, hi)``: a neuron clips when its potential lies below lo or above hi: the range [a, b]
        (identity h) or [h^-1(a), h^-1(b)] widened by a relative slack of float rounding (the
        calibrated extremes themselves are in range). Floats, or tensors in V's dtype; cached."""
        key = (V.dtype, V.device, self.a, self.b)
        hit = getattr(self, "_count_cache", None)
        if hit is not None and hit[0] == key:
            return hit[1]
        low, high = self.bounds(V, check_shape=False) if self.h is None else self._thresholds()
        # (a threshold h^-1(a) = -inf, as exp's for a = 0, adds no slack: the slack is finite)
        scale = max(1.0, abs(self.a), abs(self.b)) if self.h is None else \
            max([1.0] + [abs(t) for t in (low, high) if math.isfinite(t)])
        tol = (1e-9 if V.dtype == torch.float64 else 1e-5) * scale
        lims = (low - tol, high + tol)
        self._count_cache = (key, lims)
        return lims

    def clip_pack(self, like: torch.Tensor, counted: bool, trail: tuple | None = None) -> torch.Tensor:
        """``[lo, hi, a, b]`` as one contiguous tensor in ``like``'s dtype, S values each (S = 1 for one
        range): the bounds of the count (-inf, inf when not counted) and of the clip, for C loops that
        clip and count this layer's neurons (:func:`fused.layernorm`); cached. ``trail``: the ranges
        broadcast to that trailing shape (per-head ranges over a head's rows and columns; one range spread
        over a row's neurons, for the loops that read one range per neuron of a row)."""
        key = (like.dtype, like.device, counted and not self.proven, self.a, self.b, trail)
        hit = getattr(self, "_pack_cache", None)
        if hit is not None and hit[0] == key:
            return hit[1]
        a, b = self.bounds(like, check_shape=False)
        lo, hi = self._count_bounds(like) if key[2] else (-math.inf, math.inf)
        if trail is not None:
            lo, hi, a, b = (torch.broadcast_to(t, trail) if isinstance(t, torch.Tensor) else t for t in (lo, hi, a, b))
        S = math.prod(trail) if trail is not None else a.numel() if isinstance(a, torch.Tensor) else 1
        parts = [t.reshape(-1) if isinstance(t, torch.Tensor)
                 else torch.full((S,), float(t), dtype=like.dtype, device=like.device) for t in (lo, hi, a, b)]
        pack = torch.cat(parts).contiguous()
        self._pack_cache = (key, pack)
        return pack

    def fits(self, shape) -> bool:
        """Whether this layer's range (one, or one per neuron of trailing dimensions) indexes a tensor of
        ``shape`` by its flat index modulo the number of ranges (as the C loops do)."""
        t = self.fine_a
        return t is None or (t.dim() <= len(shape) and tuple(shape[len(shape) - t.dim():]) == tuple(t.shape))

    def _sample_check(self, V: torch.Tensor, ctx: Ctx):
        """check="sample" where counting is not free (torch loops): count every SAMPLE_EVERY-th row."""
        lo, hi = self._count_bounds(V)
        S = lo.numel() if isinstance(lo, torch.Tensor) else 1
        rows = V.reshape(-1, S)[::SAMPLE_EVERY]
        if isinstance(lo, torch.Tensor):
            lo, hi = lo.reshape(-1), hi.reshape(-1)
        n = int(((rows < lo) | (rows > hi)).sum())
        ctx.sampled = True
        ctx.add_check(self.pname, n, V.numel(), checked=rows.numel())

    def _quantize_counted(self, V: torch.Tensor, p: int, reuse: bool, lims):
        """``(out, clipped)``: V on the nearest of p ticks of its range (one range, or one per neuron),
        and the number of V outside ``lims`` (0 when None), in one pass."""
        if self.fine_a is None:
            d = self.b - self.a
            out, _, n = native.tick_values(V, self.b, p / d, d / p, p, out=V if reuse else None, count=lims)
        else:   # (ranges that do not fit the C loop's indexing, per head: broadcast to V's trailing shape)
            trail = None if self.fits(V.shape) else tuple(V.shape[1:])
            out, _, n = native.ticks_packed(V, self._fine_ticks(V, p, lims, trail), p, out=V if reuse else None)
        return out, n

    def _fine_ticks(self, V: torch.Tensor, p: int, lims, trail: tuple | None = None) -> torch.Tensor:
        """``[b, p/d, d/p, lo, hi]`` of per-channel or per-neuron ranges, packed in V's dtype for
        :func:`native.ticks_packed` (lims None: lo, hi = -inf, inf), broadcast to ``trail`` if given;
        cached per dtype, device, p."""
        key = (V.dtype, V.device, p, lims is not None, self.a, self.b, trail)
        hit = getattr(self, "_ticks_cache", None)
        if hit is None or hit[0] != key:
            a, b = self.bounds(V)
            lo, hi = lims if lims is not None else (torch.full_like(a, -math.inf), torch.full_like(a, math.inf))
            if trail is not None:
                a, b, lo, hi = (torch.broadcast_to(torch.as_tensor(t, dtype=V.dtype, device=V.device), trail)
                                for t in (a, b, lo, hi))
            d = b - a
            pack = torch.cat([t.reshape(-1) for t in (b, p / d, d / p, lo, hi)]).contiguous()
            hit = self._ticks_cache = (key, pack)
        return hit[1]

    def log_pack(self, V: torch.Tensor, p: int, lims) -> torch.Tensor:
        """The log code's constants for values like V (:func:`native.log_pack`: one range per value of V's
        trailing dimensions, or one for all) with the count bounds ``lims``; cached."""
        # (ranges that fit V's trailing dimensions, per channel: S of them, the C loop indexes them by the
        # flat index mod S; others, per head and feature: broadcast to V's trailing shape)
        trail = None if self.fine_a is None else \
            tuple(self.fine_a.shape) if self.fits(V.shape) else tuple(V.shape[1:])
        key = (V.dtype, V.device, p, lims is not None, self.a, self.b, self.log_r, trail)
        hit = getattr(self, "_log_cache", None)
        if hit is not None and hit[0] == key:
            return hit[1]
        a, b = self.range_pair()
        if trail is not None:
            a, b = (torch.broadcast_to(t.to(torch.float64), trail) for t in (a, b))
            if lims is not None:
                lims = tuple(torch.broadcast_to(torch.as_tensor(t, dtype=torch.float64), trail) for t in lims)
        pack = native.log_pack(a, b, self.log_r, p, lims, dtype=V.dtype, device=V.device)
        self._log_cache = (key, pack)
        return pack

    def round_values(self, values: torch.Tensor, p: int) -> torch.Tensor:
        """``values`` (of the output transform) clipped to the range and rounded at time precision p in this
        layer's code: what quantized mode emits for them (the precision-aware calibration pass)."""
        a, b = self.bounds(values)
        if self.code == "log":
            return dynamics.quantize_log_values(values, a, b, self.log_r, p)
        return self._quantize(values.clamp(a, b) if not isinstance(a, torch.Tensor) else
                              torch.minimum(torch.maximum(values, a), b), a, b, p)

    @staticmethod
    def _quantize(x, a, b, p: int, out=None):
        """Nearest of p ticks (:func:`dynamics.quantize_values`); per-neuron ranges: :func:`native.tick_values`."""
        if not isinstance(a, torch.Tensor):
            return dynamics.quantize_values(x, a, b, p, out=out)
        d = b - a
        return native.tick_values(x, b, p / d, d / p, p, out=out)[0]

    def _clip_bounds(self, V=None):
        """The potentials outside which the neuron clips: [a, b] for identity h, else [h^-1(a), h^-1(b)]."""
        return self.bounds(V) if self.h is None else self._thresholds()

    def _check_clip(self, V: torch.Tensor, ctx: Ctx) -> None:
        """Count the neurons V drives outside the range (beyond float rounding) into ``ctx.clipped``
        (one counting pass, :func:`native.clip`). For a non-identity h the clip itself is part of h's
        closed form (eq. 14) or of the kernel-mode threshold search."""
        if V.numel() == 0:
            return
        counted, lims = self.count_plan(V, ctx)
        if lims is not None:
            low, high = self._clip_bounds(V)
            _, n, _ = native.clip(V.contiguous(), lims[0], lims[1], low, high)
            ctx.add_check(self.pname, n, V.numel())
        elif counted:
            self._sample_check(V, ctx)
        elif self.proven:
            ctx.add_check(self.pname, 0, V.numel())

    def _apply_h(self, V: torch.Tensor) -> torch.Tensor:
        """``clip(h(V), a, b)`` (eq. 14) on this layer's range: :meth:`OutputKernel.apply`."""
        return self.h.apply(V, self.a, self.b)

    def _count(self, V, out, p: int | None = None):
        """Neurons, spikes and clipped neurons of one call (recording). ``p``: the outputs are on the ticks
        of precision p (quantized, kernel mode), where the silent tick p stands for a only up to the
        rounding of ``b - p (b - a)/p`` (a few ulps either side): a value fires when it lies above a by
        more than half a tick, not merely above a (exact mode: above a)."""
        st = self.stats
        a, b = self.bounds(out)
        st.values += out.numel()
        if self.code == "log":
            st.neurons += dynamics.log_code_neurons(out.shape, a, b)
            st.spikes += dynamics.log_code_spikes(out, a, b, self.log_r, p)
        else:
            st.neurons += out.numel()
            st.spikes += int((out > (a if p is None else a + (b - a) / (2 * p))).sum())
        # (the same bounds as the clipping warning's count: the range widened by the float slack, so that a
        # calibrated extreme one rounding past its end is not reported as clipped here and not there)
        low, high = self._count_bounds(V)
        st.clipped += int(((V < low) | (V > high)).sum())
