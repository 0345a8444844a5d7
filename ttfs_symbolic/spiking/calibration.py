"""A population's calibration: observing values, finalising ranges, margins, headroom and the code (Algorithm 1).

:class:`PopulationCalibration` is the part of :class:`~.population.Population`
that calibration drives (:func:`ttfs_symbolic.conversion.convert.calibrate`).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..numeric import dynamics
from .kernels import CODE_KINDS, HEAD_KINDS, LOG_SHIFTS
from .stats import SAMPLES, PopStats, optimal_range


class PopulationCalibration:
    """Calibration methods of :class:`~.population.Population` (a mixin: it holds no state of its own)."""

    # ---- calibration --------------------------------------------------------
    def observe(self, values: torch.Tensor, reservoir: int = 20000):
        """Record the range of ``values``, a random sample of them (for percentiles and the code), and, for
        per-channel and per-neuron ranges, each channel's (neuron's) extremes, sum and sum of squares."""
        v = values.detach().reshape(-1)
        if v.numel() == 0:
            return
        lo, hi = torch.aminmax(v)  # one pass; NaN propagates into both
        lo, hi = float(lo), float(hi)
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"layer {self.pname}: NaN during calibration. The inputs were checked finite, so a "
                             "function of this layer or of the one feeding it is undefined where the values land "
                             "(a formula outside its domain: log or sqrt of a negative), or a value overflowed")
        st = self.stats
        st.lo = min(st.lo, lo)
        st.hi = max(st.hi, hi)
        take = min(reservoir // 4, v.numel())
        idx = torch.randint(0, v.numel(), (take,), generator=SAMPLES)
        st.samples.append(v[idx].to(torch.float64).cpu().numpy())
        st.sample_idx.append(self._range_index(idx.numpy(), tuple(values.shape)))
        st.n_seen += v.numel()
        if self.fine_ok and values.dim() >= 2 and self.range_kind != "layer":
            self._observe_fine(values.detach().to(torch.float64))

    def _channel_axes(self, nd: int) -> list[int]:
        """The dimensions (of values with ``nd`` dimensions, batch first) a per-channel range keeps."""
        return sorted({d if d >= 0 else nd + d for d in self.channel_dims})

    @property
    def _per_channel_kind(self) -> bool:
        return self.range_kind == "channel" or self.kind in HEAD_KINDS

    def _range_index(self, idx: np.ndarray, shape: tuple) -> np.ndarray:
        """Flat index of each sampled element's per-channel / per-neuron range (0 for one range)."""
        if len(shape) < 2 or self.range_kind == "layer" or not self.fine_ok:
            return np.zeros_like(idx)
        if not self._per_channel_kind:
            return idx % math.prod(shape[1:])
        keep = self._channel_axes(len(shape))
        coords = np.unravel_index(idx, shape)
        return np.ravel_multi_index([coords[d] for d in keep], [shape[d] for d in keep])

    def _observe_fine(self, v64: torch.Tensor):
        """Accumulate per-channel (reduced over every other dimension, the batch included) or per-neuron
        (reduced over the batch) extremes and moments. Per-channel statistics do not depend on the number
        of tokens, so batches of different lengths (text) all count."""
        st = self.stats
        if self._per_channel_kind:
            keep = self._channel_axes(v64.dim())
            red = tuple(d for d in range(v64.dim()) if d not in keep)
            first = keep[0]

            def cut(t):
                return t[(0,) * first] if first else t

            lo_t, hi_t = cut(v64.amin(red, keepdim=True)), cut(v64.amax(red, keepdim=True))
            rows = math.prod(v64.shape[d] for d in red)
            s1 = v64.sum(red, keepdim=True)
            m2 = cut((v64 - s1 / rows).square_().sum(red, keepdim=True))
            s1 = cut(s1)
        else:
            lo_t, hi_t = torch.aminmax(v64, dim=0)
            s1, rows = v64.sum(0), v64.shape[0]
            m2 = (v64 - s1 / rows).square_().sum(0)
        if st.lo_t is not None and st.lo_t.shape != lo_t.shape:
            raise ValueError(f"layer {self.pname}: per-neuron ranges need inputs of one shape, got "
                             f"{tuple(st.lo_t.shape)} and then {tuple(lo_t.shape)} (use range_kind='channel' "
                             "for inputs of different lengths)")
        st.add_moments(lo_t, hi_t, s1, m2, rows)

    def finalize(self, percentile: float = 100.0, margin: float = 0.0, sigmas: float = 6.0,
                 optimize_for: int | None = None, codes: str = "linear", headroom: float = 1.0,
                 variance_end: str = "bound"):
        """Range from calibration: [lo, hi] at the percentile, widened by margin*(hi - lo).

        Per-channel and per-neuron ranges (``range_kind``) hold each neuron's (channel's) observed
        extremes and its mean +- ``sigmas`` standard deviations over the calibration data: a few
        calibration inputs see a neuron's extremes only roughly (the chance that a new input falls
        outside the extremes of n is about 2/(n + 1)), while the spread is estimated well from few.
        ``optimize_for=p``: a layer-wide range of least clipping plus rounding error at precision p on
        the calibration samples (:func:`optimal_range`), instead of min/max or the percentile.
        ``codes="auto"``: afterwards the layer's code is the one of least rounding error
        (:meth:`choose_code`). ``headroom``: then :meth:`apply_headroom`.
        ``variance_end``: a layer with a proven upper bound (``upper_fn``: a
        variance whose rsqrt is folded) ends at that bound (``bound``) or at
        its calibrated end capped at it (``calibrated``; the held-out margin
        then applies to it as to any calibrated end).
        """
        self.code, self.log_r = "linear", None
        self.upper_calibrated = variance_end == "calibrated"
        if self.range_fn is not None:
            self.set_range(*self.range_fn())
        elif self.fixed_range is None:
            if codes == "auto" and self.kind == "softmax_exp":
                # probabilities lie in [0, 1]: with a code that may be logarithmic the proven range costs
                # few ticks, and no probability ever clips (docs/guide/precision.md)
                self.set_range(0.0, 1.0)
            else:
                self._finalize_range(percentile, margin, sigmas, optimize_for)
        if codes == "auto":
            self.choose_code()
        if self.scale_low and self.code == "linear" and self.lower_bound is not None and self.calibrated \
                and self.range_fn is None and self.fixed_range is None and self.upper_fn is None:
            # a scale (variance) on the linear code whose rsqrt is its own neuron: down to its bound 0,
            # which costs a few ticks of the p and no value below the calibration's least can clip (its
            # rsqrt would be cut). Not where the rsqrt is folded (upper_fn): the product's factor is then
            # the image of this range, and a variance down to 0 would make it reach (0 + eps)^(-1/2)
            # (1e6 for eps = 1e-12), the envelope every shift and layer-I range of the product follows
            a, b = self.range_pair()
            self.set_range(torch.full_like(a, self.lower_bound) if isinstance(a, torch.Tensor) else self.lower_bound,
                           b)
        self.apply_headroom(headroom)

    def _finalize_range(self, percentile, margin, sigmas, optimize_for):
        st = self.stats
        if st.n_seen == 0:
            raise RuntimeError(f"layer {self.pname} saw no data during calibration")
        if self.range_kind != "layer" and self.fine_ok and self.image_of is not None and self.image_of[0].fine:
            lo, hi = self.image_range()
            self.set_range(lo, hi)
            return
        if self.range_kind != "layer" and self.fine_ok and st.lo_t is not None:
            lo, hi, s1, m2, n = st.lo_t, st.hi_t, st.sum_t, st.m2_t, st.rows
            lo_seen = lo
            if sigmas > 0:
                mean = s1 / n
                std = torch.clamp(m2 / n, min=0.0).sqrt()
                lo = torch.minimum(lo, mean - sigmas * std)
                hi = torch.maximum(hi, mean + sigmas * std)
            width = torch.maximum(hi - lo, 1e-6 * torch.clamp(hi.abs(), min=1.0))
            if self.scale_low:   # a scale: both ends on a relative scale, as margin_needed measures them
                lo, hi = lo_seen / (1.0 + margin), hi * (1.0 + margin)
            else:
                lo, hi = lo - margin * width, hi + margin * width
            if self.upper_fn is not None:   # the proven bound, or the calibrated end capped at it
                bound = torch.full_like(hi, float(self.upper_fn()))
                hi = torch.minimum(hi, bound) if self.upper_calibrated else bound
            if self.lower_bound is not None:
                lo = torch.clamp(lo, min=self.lower_bound)
            if self.upper_bound is not None:
                hi = torch.clamp(hi, max=self.upper_bound)
            hi = torch.maximum(hi, lo + torch.clamp(lo.abs() * 1e-6, min=1e-6))
            self.set_range(lo, hi)
            return
        if optimize_for is not None:
            lo, hi = optimal_range(np.concatenate(st.samples), int(optimize_for), st.lo, st.hi)
        elif percentile >= 100.0:
            lo, hi = st.lo, st.hi
        else:
            allv = np.concatenate(st.samples)
            lo = float(np.percentile(allv, 100.0 - percentile))
            hi = float(np.percentile(allv, percentile))
        width = max(hi - lo, 1e-6 * max(1.0, abs(hi)))
        lo, hi = (lo / (1.0 + margin), hi * (1.0 + margin)) if self.scale_low else \
            (lo - margin * width, hi + margin * width)
        if self.pin_low is not None:
            lo = self.pin_low
        if self.lower_bound is not None:
            lo = max(lo, self.lower_bound)
        if self.upper_bound is not None:
            hi = min(hi, self.upper_bound)
        if self.upper_fn is not None:
            hi = min(hi, float(self.upper_fn())) if self.upper_calibrated else float(self.upper_fn())
            hi = max(hi, lo + max(1e-12, abs(lo) * 1e-6))
        self.set_range(lo, hi)

    def margin_needed(self, held: PopStats) -> float:
        """The margin (a fraction of each range's width) this layer's range needs so that no held-out value clips.

        ``held``: statistics of calibration data the range was not fitted on.
        Per-channel / per-neuron ranges compare each channel's held-out
        extremes with its own range and take the largest need. Ends that a
        bound pins (a probability's 0, a variance's 0) and ranges that a
        construction derives (fixed, computed from another layer, images) need
        none.
        """
        if (held.n_seen == 0 or self.fixed_range is not None or self.range_fn is not None or not self.calibrated
                or (self.range_kind != "layer" and self.image_of is not None and self.image_of[0].fine)):
            return 0.0
        if self.fine_a is not None and held.lo_t is not None and held.lo_t.shape == self.fine_a.shape:
            a, b, lo, hi = self.fine_a, self.fine_b, held.lo_t, held.hi_t
        else:
            a, b = torch.tensor(self.a, dtype=torch.float64), torch.tensor(self.b, dtype=torch.float64)
            lo, hi = torch.tensor(held.lo, dtype=torch.float64), torch.tensor(held.hi, dtype=torch.float64)
        w = (b - a).clamp(min=1e-300)
        low = (a / lo.clamp(min=1e-300) - 1.0) if self.scale_low else (a - lo) / w
        if self.pin_low is not None or (self.lower_bound is not None and bool((a <= self.lower_bound).all())):
            low = torch.zeros_like(low)
        high = (hi / b.clamp(min=1e-300) - 1.0) if self.scale_low else (hi - b) / w
        if (self.upper_fn is not None and not self.upper_calibrated) \
                or (self.upper_bound is not None and bool((b >= self.upper_bound).all())):
            high = torch.zeros_like(high)
        need = float(torch.maximum(low, high).max())
        return max(0.0, need) if math.isfinite(need) else 0.0

    def sample_ranges(self, idx: np.ndarray) -> tuple:
        """The range ``(a, b)`` of each calibration sample's neuron (arrays; floats for one range)."""
        if self.fine_a is None:
            return self.a, self.b
        return self.fine_a.reshape(-1).numpy()[idx], self.fine_b.reshape(-1).numpy()[idx]

    def choose_code(self):
        """Give the layer the log code where its rounding error on the calibration samples is less than linear's.

        The comparison (:func:`ttfs_symbolic.numeric.dynamics.log_code_sq_errors`)
        is in squared value error per neuron, both codes scaling as 1/p^2, so
        it holds at every time precision; the shift ratio r of the log code is
        the best of :data:`LOG_SHIFTS` for the layer (one per channel was
        measured no better on MiniLM-L6). Only layers of :data:`CODE_KINDS` with
        an identity (or the softmax's exp) output transform and a calibrated
        range take part; a relay (residual synapses) has no neuron to code.
        """
        errs = self._code_errors(LOG_SHIFTS)
        if errs is None:
            return
        linear, logs = errs
        best = int(np.argmin(logs))
        if float(logs[best]) < linear:
            self.code, self.log_r = "log", float(LOG_SHIFTS[best])

    def _code_errors(self, shifts):
        """``(linear, [log code with each r of shifts])``: the summed squared rounding errors of the two codes
        on the calibration samples in this layer's range(s) (:meth:`choose_code`); None where no code is chosen."""
        st = self.stats
        if (self.kind not in CODE_KINDS or self.relay or not st.samples or self.range_fn is not None
                or (self.h is not None and self.kind != "softmax_exp")):
            return None
        x = np.concatenate(st.samples)
        idx = np.concatenate(st.sample_idx) if len(st.sample_idx) == len(st.samples) else None
        if self.fine_a is not None and idx is None:
            return None
        a, b = self.sample_ranges(idx) if self.fine_a is not None else (self.a, self.b)
        a = np.broadcast_to(np.asarray(a, dtype=np.float64), x.shape)
        b = np.broadcast_to(np.asarray(b, dtype=np.float64), x.shape)
        x = np.clip(x, a, b)
        # a variance's error matters relative to it ((v + eps)^(-1/2) follows); other values' in absolute terms
        w = 1.0 / np.maximum(np.abs(x), 1e-300) ** 2 if self.scale_low else np.ones_like(x)
        # math.fsum: the exactly rounded sum, whatever the samples' order (torchrun merges the held-out
        # samples in rank order), so that one process and N choose the same code and shift
        linear = math.fsum(((b - a) ** 2 * w).ravel().tolist())
        return linear, [math.fsum((dynamics.log_code_sq_errors(x, a, b, r) * w).ravel().tolist()) for r in shifts]

    def apply_headroom(self, factor: float):
        """Widen the range by ``factor`` where it costs the log code little: a log-coded layer's far ends
        (the largest |x| of each sign part, times factor: the part's code range grows by log(factor)) and a
        positive scale's least value (divided by factor). Ends that a bound or construction fixes stay.
        A log-coded layer's shift ratio r is then chosen again for the widened range (its shift e = r M
        would otherwise grow by factor with M, and every value's rounding error, (|x| + e) du / 2p, with it)."""
        if factor == 1.0 or self.relay or self.range_fn is not None or self.fixed_range is not None \
                or not self.calibrated or self.kind == "softmax_exp":
            return
        a, b = self.range_pair()
        a = torch.as_tensor(a, dtype=torch.float64)
        b = torch.as_tensor(b, dtype=torch.float64)
        if self.scale_low:
            a = torch.where(a > 0, a / factor, a)
        if self.code == "log":
            wide = torch.where(b > 0, b * factor, b)
            if self.upper_bound is not None:
                wide = torch.clamp(wide, max=self.upper_bound)
            if self.upper_fn is not None:   # (not past the proven bound, which b itself respects)
                wide = torch.minimum(wide, torch.clamp(torch.full_like(b, float(self.upper_fn())), min=b))
            b = torch.maximum(wide, b)
        if self.code == "log" and self.lower_bound is None and self.pin_low is None:
            a = torch.where(a < 0, a * factor, a)
        if self.fine:
            self.set_range(a, b)
        else:
            self.set_range(float(a), float(b))
        if self.code == "log":
            # the shift e = r M grew with the far end M: the r of least error on the widened range, r / factor
            # (the shift it had) among the candidates
            shifts = sorted(set(LOG_SHIFTS) | {self.log_r / factor})
            errs = self._code_errors(shifts)
            if errs is not None:
                self.log_r = float(shifts[int(np.argmin(errs[1]))])

    def image_range(self, points: int = 1025):
        """Per-neuron range that holds f(x) for every x in the sender's per-neuron range (f its kernel).

        f is evaluated on ``points`` equally spaced points of each sender neuron's range, both ends
        included, and the extremes are widened by 1e-3 of their distance (a non-monotone f, GELU's
        minimum, can dip between two points by far less): nothing the sender can emit clips here.
        """
        src, kernel = self.image_of
        a, b = src.fine_a, src.fine_b
        t = torch.linspace(0.0, 1.0, points, dtype=torch.float64).reshape(-1, *([1] * a.dim()))
        y = kernel.f_fn("torch")(a + (b - a) * t)
        lo, hi = y.amin(0), y.amax(0)
        w = torch.clamp(hi - lo, min=1e-9 * torch.clamp(hi.abs(), min=1.0))
        lo, hi = lo - 1e-3 * w, hi + 1e-3 * w
        if self.lower_bound is not None:
            lo = torch.clamp(lo, min=self.lower_bound)
        return lo, hi
