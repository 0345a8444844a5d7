"""The spiking Transformer layers built of populations and products: linear, activation, LayerNorm, softmax."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..numeric import dynamics, fused, native
from ..numeric.kernels import InputKernel
from .context import Ctx
from .kernels import input_kernel
from .population import Population, terms
from .product import Product


class SpikingLinear(nn.Module):
    """Linear layer of identity neurons (Corollaries 4.2, 4.4); bias in C."""

    def __init__(self, name: str, weight: torch.Tensor, bias: torch.Tensor | None, kind: str = "linear"):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.out = Population(name, "identity", kind=kind, fan_in=weight.shape[1])

    def forward(self, x, ctx: Ctx):
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if self._exact_native(x, ctx):
            # exact mode: the matrix product without its bias, then the bias, the clip and the count in
            # one C pass (fused.bias_clip), instead of torch's copy of the bias into the output and the
            # clip's pass over it; the same values up to float rounding (the order of the bias's addition)
            V = torch.nn.functional.linear(x, self.weight.to(x.dtype))
            return self.out.emit_linear_exact(V, bias, ctx)
        V = torch.nn.functional.linear(x, self.weight.to(x.dtype), bias)
        return self.out.emit(V, ctx, fresh=True)

    def _exact_native(self, x, ctx: Ctx) -> bool:
        """Whether the exact-mode fast path of :meth:`forward` applies: one range, or one per output channel,
        the C loops available, not calibrating or recording."""
        out = self.out
        return (not (ctx.calibrating or ctx.record) and not out.relay and out.h is None
                and ctx.mode_for(out) == "exact" and x.numel() > 0 and native.available_for(x)
                and (out.fine_a is None or tuple(out.fine_a.shape) == (self.weight.shape[0],)))


class SpikingActivation(nn.Module):
    """Activation neurons (GELU, SiLU, any registered f), one input each (Theorem 4.1, Corollary 4.5).

    ``neuron``: a catalogue name, or an
    :class:`~ttfs_symbolic.conversion.activations.ActivationNeuron` from the
    activation registry (``activation_neuron(path, module)``), which also
    carries the module it replaces for the check at conversion.
    """

    def __init__(self, name: str, neuron, src: Population):
        super().__init__()
        self.src = src
        if isinstance(neuron, str):
            self.spec = None
            self.neuron_name = neuron
            self.kernel = input_kernel(neuron)
        else:
            self.spec = neuron          # a plain attribute: the source module is not a submodule
            self.neuron_name = neuron.label
            self.kernel = neuron.kernel()
        self.out = Population(name, "identity", kind="activation", fan_in=1)
        if self.kernel is not None:
            self.out.image_of = (src, self.kernel)

    def extra_repr(self) -> str:
        f = "x" if self.kernel is None else str(self.kernel.f)
        return f"neuron {self.neuron_name}: f = {f} (Theorem 4.1), h = identity"

    def forward(self, x, ctx: Ctx):
        if self._gelu_native(x, ctx):
            # exact mode, GELU: f, the clip and the count in one C pass (:func:`fused.gelu_clip`)
            out = self.out
            ctx.note(out)
            out.require_range()
            out.bounds(x)   # (the shape check of the ranges, as the emitting stage makes it)
            y, n = fused.gelu_clip(x, out.clip_pack(x, ctx.check != "off"))
            ctx.add_check(out.pname, n, x.numel())
            return y
        # terms() returns x itself only for the identity kernel
        return self.out.emit(terms(x, self.src, self.kernel, ctx, self.out), ctx, fresh=self.kernel is not None)

    def _gelu_native(self, x, ctx: Ctx) -> bool:
        """Whether the GELU neurons run as one C pass: exact mode, float64 (in float32 torch's GELU, whose
        erf is a cheaper approximation, and the clip pass are faster than libm's erf), ranges that fit."""
        out = self.out
        return (self.kernel is not None and x.dtype == torch.float64 and not (ctx.calibrating or ctx.record)
                and ctx.mode_for(out) == "exact"
                and self.kernel.f_fn("torch") is torch.nn.functional.gelu and not out.relay and x.numel() > 0
                and x.is_contiguous() and native.available_for(x) and out.fits(x.shape))


class SpikingLayerNorm(nn.Module):
    """LayerNorm (Section 4.3.3): mean, x - mean, variance, rsqrt, product, affine.

    mean: identity neurons with weights 1/n. centred: x (delayed) and -mean.
    var: ``square`` neuron (f = x^2, weights 1/n) on the centred values.
    rsqrt: ``rsqrt`` neuron (f = (v + eps)^(-1/2)). The product centred*rsqrt
    by the multiplication network, with gamma and beta folded into layer II.
    """

    def __init__(self, name: str, src: Population, weight, bias, eps: float, n: int):
        super().__init__()
        self.src = src
        self.eps = float(eps)
        self.n = n
        self.weight = None if weight is None else nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.mean = Population(f"{name}.mean", "identity", kind="ln_mean", fan_in=n)
        self.centred = Population(f"{name}.centred", "identity", kind="ln_centred", fan_in=2)
        self.var = Population(f"{name}.var", "identity", kind="ln_var", fan_in=n, lower_bound=0.0)
        self.var.scale_low = True
        self.rsqrt = Population(f"{name}.rsqrt", "identity", kind="ln_rsqrt", fan_in=1, lower_bound=0.0)
        self.out = Population(name, "identity", kind="ln_out", fan_in=3)
        self.product = Product(f"{name}.product", self.centred, self.rsqrt, self.out, matmul=False)
        self.k_square = input_kernel("square")
        self.k_rsqrt = input_kernel("rsqrt", (("eps", self.eps),))
        self.set_rsqrt(DEFAULT_RSQRT)
        # (no image range for a neuron rsqrt: the variance's fine range often reaches down to 0, whose image
        # (v + eps)^-1/2 would spend the ticks of rsqrt on values no token has)

    def set_rsqrt(self, mode: str):
        """``neuron`` (the paper) or ``folded`` (:func:`fold_rsqrt`).

        Folded, the variance's upper end is (calibration's ``variance_end``)
        the bound the network proves, the mean over the channels of the larger
        square of each centred channel's range ends (:meth:`variance_bound`),
        so no variance ever clips; or the calibrated end capped at that bound
        (the ``accurate`` preset's: the bound is 10-90x above the variances of
        real text and images; docs/guide/precision.md has the measurements).
        """
        fold_rsqrt(self.rsqrt, self.var, self.k_rsqrt, mode == "folded", self.variance_bound)

    def variance_bound(self) -> float:
        """The largest variance the centred layer's range(s) allow: mean over channels of max(a_c^2, b_c^2)."""
        return float(channel_squares(self.centred, self.n).mean(-1).max())

    def forward(self, x, ctx: Ctx):
        if self._closed_form_native(x, ctx):
            return self._exact_native(x, ctx)
        mean = self.mean.emit(x.mean(-1, keepdim=True), ctx, fresh=True)
        centred = self.centred.emit(x - mean, ctx, fresh=True)
        var = self.var.emit(terms(centred, self.centred, self.k_square, ctx, self.var).mean(-1, keepdim=True), ctx,
                           fresh=True)
        r = self.rsqrt.emit(terms(var, self.var, self.k_rsqrt, ctx, self.rsqrt), ctx, fresh=True)
        w = None if self.weight is None else self.weight.to(x.dtype)
        b = None if self.bias is None else self.bias.to(x.dtype)
        return self.product(centred, r, ctx, scale=w, bias=b)

    def _populations(self):
        return (self.mean, self.centred, self.var, self.rsqrt, self.out)

    def _closed_form_native(self, x, ctx: Ctx) -> bool:
        """Whether the whole LayerNorm runs in exact mode's closed form in one C pass (:meth:`_exact_native`)."""
        if ctx.calibrating or ctx.record or not x.numel() or x.shape[-1] != self.n or not native.available_for(x):
            return False
        pops = self._populations()
        if any(ctx.mode_for(p) != "exact" for p in pops + (self.product.y,)):
            return False
        row = tuple(x.shape[:-1]) + (1,)
        return all(p.fits(sh) for p, sh in zip(pops, (row, x.shape, row, row, x.shape)))

    def _exact_native(self, x, ctx: Ctx):
        """Exact mode: mean, centred, var, rsqrt and the product with the folded affine (eq. 9, 14 and
        the multiplication network's closed form x1 x2, Section 4.3.3-4.3.4), each population clipped
        and counted, in one C pass (:func:`fused.layernorm`): the same values as the layer-by-layer
        path up to float rounding (the sums' order, rsqrt as 1/sqrt)."""
        pops = self._populations()
        for pop in pops[:4] + (self.product.y, self.out):   # the emission order of the layer-by-layer path
            if not pop.relay:   # (a folded rsqrt is no neuron: it numbers no window)
                ctx.note(pop)
            pop.require_range()
        xc = x.contiguous()
        counted = ctx.check != "off"
        w = None if self.weight is None else self.weight.to(xc.dtype).contiguous()
        b = None if self.bias is None else self.bias.to(xc.dtype).contiguous()
        out, counts = fused.layernorm(xc, self.eps, w, b, [p.clip_pack(xc, counted) for p in pops])
        rows = xc.numel() // self.n
        for pop, n, neurons in zip(pops, counts, (rows, xc.numel(), rows, rows, xc.numel())):
            if not pop.relay:   # a folded rsqrt: its range is the image of the variance's, nothing to count
                ctx.add_check(pop.pname, n, neurons)
        return out


#: how LayerNorm (and the L2 normalisation of sentence embeddings) forms (v + eps)^(-1/2): ``neuron`` (the
#: paper: an rsqrt neuron between the variance and the product) or ``folded`` (no rsqrt neuron: layer I of the
#: product receives the variance's spike through f(v) = log((v + eps)^(-1/2) + e), Theorem 4.1)
RSQRT_MODES = ("neuron", "folded")
DEFAULT_RSQRT = "neuron"


def monotone_image(src: Population, kernel: InputKernel):
    """The range of f(x) for x in ``src``'s range(s), f monotone (``kernel.f``): its values at both ends."""
    a, b = src.range_pair()
    fa, fb = (kernel.f_fn("torch")(torch.as_tensor(v, dtype=torch.float64)) for v in (a, b))
    lo, hi = torch.minimum(fa, fb), torch.maximum(fa, fb)
    if lo.dim() == 0:
        return float(lo), float(hi)
    return lo, hi


def fold_rsqrt(pop: Population, var: Population, kernel: InputKernel, folded: bool, bound):
    """Make ``pop`` (an rsqrt layer fed by ``var`` through ``kernel``) a fold (no neuron) or a neuron again.

    Folded, its value (v + eps)^(-1/2) is formed inside the synapses of the
    product's layer I, which receive the variance's spike through the composed
    input transform f(v) = log((v + eps)^(-1/2) + e) (Theorem 4.1 holds for any
    differentiable f): no neuron, no rounding, and its range is the image of
    the variance's, so it never clips. ``var``'s upper end is then ``bound()``,
    the largest value the network proves it can take, so the variance never clips either
    (or, with calibration's ``variance_end="calibrated"``, its calibrated end capped at it).
    """
    pop.relay = folded
    pop.range_fn = (lambda: monotone_image(var, kernel)) if folded else None
    var.upper_fn = bound if folded else None


def channel_squares(pop: Population, n: int) -> torch.Tensor:
    """max(a_c^2, b_c^2) of each of ``pop``'s n channels (its range(s) broadcast to n channels): the largest
    square a value of each channel can have, whose mean (a variance) or sum (a squared norm) bounds."""
    a, b = (torch.as_tensor(v, dtype=torch.float64) for v in pop.range_pair())
    sq = torch.maximum(a * a, b * b)
    return torch.broadcast_to(sq, (sq.shape[:-1] if sq.dim() else ()) + (n,))


def _difference_range(a, b):
    """The range [a - b, 0] of x - max(row) for x in [a, b] (tensors per head, or floats)."""
    if isinstance(a, torch.Tensor):
        return torch.clamp(a - b, max=-1e-6), torch.zeros_like(a)
    return min(a - b, -1e-6), 0.0


def _broadcasts(shape, to) -> bool:
    """Whether a tensor of ``shape`` broadcasts to ``to`` (torch's rules)."""
    try:
        return tuple(torch.broadcast_shapes(tuple(shape), tuple(to))) == tuple(to)
    except RuntimeError:
        return False


class SpikingSoftmax(nn.Module):
    """Softmax over the last dimension (Section 4.3.2, Figure 3, Appendix C.2).

    Layer 0 (optional): a ``max`` neuron and subtraction neurons z = x - max.
    Layer I: the ``logsumexp`` neuron (Theorem 4.6) on z; its range
    [0, log N] holds every value (z <= 0 with one z = 0).
    Layer II: ``exp`` neurons (eq. 36) on z - lse, range [0, 1].
    """

    def __init__(self, name: str, src: Population, n: int, use_max: bool = True):
        super().__init__()
        self.src = src
        self.use_max = use_max
        self.n = n
        if use_max:
            # the max of a row lies in its scores' range, and x - max in [a - b, 0] (per head when the
            # scores have per-head ranges): on the scores' grid both are exact at any p
            self.max = Population(f"{name}.max", "max", kind="softmax_max", fan_in=n,
                                  range_fn=lambda: src.range_pair())
            self.z = Population(f"{name}.z", "identity", kind="softmax_sub", fan_in=2,
                                range_fn=lambda: _difference_range(*src.range_pair()))
            lse_range = (0.0, math.log(n))
        else:
            self.max = self.z = None
            lse_range = None
        self.lse = Population(f"{name}.lse", "logsumexp", kind="softmax_lse", fan_in=n,
                              fixed_range=lse_range,
                              range_fn=None if use_max else (lambda: (src.a, src.b + math.log(n))))
        # layer II's range is [0, b]: a = 0 (no spike: probability 0) and b the largest probability
        # seen in calibration (at most 1, eq. 36's clip), so its p ticks are spent where the
        # probabilities are (a long sequence has none near 1)
        self.out = Population(name, "exp", kind="softmax_exp", fan_in=2, lower_bound=0.0, upper_bound=1.0,
                              pin_low=0.0)
        self.k_exp = input_kernel("logsumexp")
        self._grid = None   # (key, z's b, p/d, d/p per row) of the fused passes

    def forward(self, s, ctx: Ctx):
        if not (ctx.calibrating or ctx.record) and all(ctx.mode_for(p) == "exact" for p in self._populations()):
            return self._exact(s, ctx)[0]
        if self._fused_plan(s, ctx):
            return self._fused(s, ctx)
        if self.use_max:
            m = self.max.emit(s.amax(-1, keepdim=True), ctx, fresh=True)
            z = self.z.emit(s - m, ctx, fresh=True)
            zsrc = self.z
        else:
            z, zsrc = s, self.src
        e = terms(z, zsrc, self.k_exp, ctx, self.lse)   # exp(z), the input terms of the log-sum-exp neuron
        lse = self.lse.emit(e.sum(-1, keepdim=True), ctx, fresh=True)
        if ctx.mode_for(self.out) == "exact" and not (ctx.calibrating or ctx.record) and e is not z:
            # Layer II in closed form, clip(exp(z - lse), 0, b) (eq. 36), evaluated as
            # exp(z) * exp(-lse): the same value to a few ulps, reusing layer I's terms
            # exp(z) instead of a second pass of exp. Its clip check is on the values
            # (exp is increasing: a value above b is a potential above theta = log b).
            ctx.note(self.out)
            self.out.require_range()
            e = e.mul_(torch.exp(-lse))
            if not e.numel():
                hi = 0.0
            elif self.use_max:   # each row's largest z is 0, so its largest output is exp(-lse): no pass over e
                hi = float(torch.exp(-lse.min()))
            else:
                hi = float(e.max())
            n = 0
            if ctx.check != "off" and hi > self.out.b * (1 + (1e-9 if e.dtype == torch.float64 else 1e-5)):
                n = int((e > self.out.b * (1 + 1e-9)).sum())
            ctx.add_check(self.out.pname, n, e.numel())
            # e >= 0 = a always (a product of exps); above b only where hi says so: no pass otherwise
            return e.clamp_(max=self.out.b) if hi > self.out.b else e
        return self.out.emit(z - lse, ctx, fresh=True)

    def _fused_plan(self, s, ctx: Ctx) -> bool:
        """Whether the finite-p forward runs as two C passes over the values (:meth:`_fused`): C for s's
        dtype and p, every layer quantized or kernel, not calibrating or recording, z with one linear range
        (its ticks and, in kernel mode, the log-sum-exp's term table apply), layer II on the log code with
        one range and its clipping counted in full or not at all (the default conversion; other
        configurations take the torch path)."""
        if ctx.calibrating or ctx.record or not self.use_max or not s.numel() or not ctx.precision:
            return False
        if not native.use_native(s, p=ctx.precision):
            return False
        if any(ctx.mode_for(p) not in ("quantized", "kernel") for p in self._populations()):
            return False
        out, z = self.out, self.z
        if z.relay or z.code == "log" or z.h is not None or out.relay or out.code != "log" or out.fine_a is not None:
            return False
        if z.fine_a is not None and (z.fine_a.shape[-1] != 1 or not _broadcasts(z.fine_a.shape, s.shape[:-1] + (1,))):
            return False
        counted, lims = out.count_plan(s, ctx)
        return lims is not None or not counted

    def _fused(self, s, ctx: Ctx):
        """The forward of :meth:`forward`'s torch path (its reference, to float rounding) in two C passes
        per row around the log-sum-exp neuron (``csrc/softmax_body.h``): the max is emitted as there, then
        :func:`fused.softmax_terms` makes z on its ticks, the log-sum-exp's input terms (kernel mode: the
        term table of z's grid, eq. 30; quantized: exp) and their row sums, the log-sum-exp is emitted, and
        :func:`fused.softmax_out` makes layer II's clip count, clip(exp(z - lse), a, b) (eq. 14, 36) and its
        log-code ticks in place. z's and the log-sum-exp's ranges are proven (nothing to count)."""
        p, z, out = ctx.precision, self.z, self.out
        m = self.max.emit(s.amax(-1, keepdim=True), ctx, fresh=True).contiguous()
        for pop in (z, out):
            pop.require_range()
        ctx.note(z)   # (the emission order of the torch path: max, z, lse, out)
        table, grid = None, (0.0, 0.0)
        if ctx.mode_for(self.lse) == "kernel" and z.on_linear_grid:   # (as terms(): else exp's closed form)
            timing = z.timing()
            table = dynamics.term_table(self.k_exp, timing.a, timing.b, timing.delta, p, s.dtype, s.device)
            grid = (timing.b, p / timing.d)
        zv, sums = fused.softmax_terms(s.contiguous(), m, self._z_grid(s, p), p, table, grid)
        ctx.add_check(z.pname, 0, s.numel())
        lse = self.lse.emit(sums, ctx, fresh=True).contiguous()
        ctx.note(out)
        _, lims = out.count_plan(zv, ctx)
        h = out.h
        res, n = fused.softmax_out(zv, lse, lims, (h.theta_low(out.a), h.theta(out.b)),
                                   out.log_pack(zv, p, None), p)
        if lims is not None:
            ctx.add_check(out.pname, n, s.numel())
        return res

    def _z_grid(self, s, p: int) -> torch.Tensor:
        """z's ``b, p/d, d/p`` for each row of s, ``(3, R)`` in s's dtype, computed as the torch path's tick
        passes compute them (one range: in float64, then cast; per head: in s's dtype); cached."""
        z = self.z
        rows = tuple(s.shape[:-1]) + (1,)
        key = (s.dtype, s.device, rows, p, z.a, z.b)
        if self._grid is None or self._grid[0] != key:
            if z.fine_a is None:
                d = z.b - z.a
                parts = [torch.tensor(v, dtype=torch.float64).to(s.dtype) for v in (z.b, p / d, d / p)]
            else:
                a, b = z.bounds(s, check_shape=False)
                d = b - a
                parts = [b, p / d, d / p]
            grid = torch.stack([torch.broadcast_to(t, rows).reshape(-1) for t in parts]).to(s.device).contiguous()
            self._grid = (key, grid)
        return self._grid[1]

    def _populations(self):
        return tuple(p for p in (self.max, self.z, self.lse, self.out) if p is not None)

    def takes_scores(self, scores: Population, like: torch.Tensor, ctx: Ctx) -> bool:
        """Whether :meth:`from_scores` may clip the scores (``scores``: identity neurons, this softmax's
        input layer) in exact mode's C pass: both layers exact, not calibrating or recording, C loops for
        ``like``'s dtype and device (the caller then hands over the scores' potential unemitted)."""
        return (not (ctx.calibrating or ctx.record) and scores.h is None and not scores.relay
                and ctx.mode_for(scores) == "exact" and all(ctx.mode_for(p) == "exact" for p in self._populations())
                and native.available_for(like))

    def from_scores(self, V: torch.Tensor, scores: Population, ctx: Ctx):
        """``self(scores.emit(V, ctx, fresh=True), ctx)`` where :meth:`takes_scores` holds: exact mode's one
        C pass per row clips and counts the scores' neurons too (clip(V, a, b), eq. 14, per head where the
        ranges are; the max of a clipped row is its clipped max), one pass over the scores fewer. Ranges
        that vary along a row (per key) take the two passes."""
        rows = scores.row_groups(V.shape)
        if rows is None or not self._c_pass(V):
            return self(scores.emit(V, ctx, fresh=True), ctx)
        ctx.note(scores)
        scores.require_range()
        scores.bounds(V)   # (the shape check of its ranges, as its emitting stage makes it)
        _, lims = scores.count_plan(V, ctx)
        e, n = self._exact(V, ctx, (scores.clip_pack(V, lims is not None),) + rows)
        if lims is not None:
            ctx.add_check(scores.pname, n, V.numel())
        elif scores.proven:
            ctx.add_check(scores.pname, 0, V.numel())
        return e

    @staticmethod
    def _c_pass(s) -> bool:
        return native.available_for(s) and s.is_contiguous() and s.numel() > 0

    def _exact(self, s, ctx: Ctx, pre=None):
        """``(probabilities, pre's count)``: exact mode, every layer in closed form: the max and z = s -
        max (layer 0, ranges proven), the log-sum-exp (layer I, Theorem 4.6, range proven) and
        clip(exp(z - lse), 0, b) (layer II, eq. 36) are together softmax(s) clipped at b: one C pass per
        row with the clip and its count
        (:func:`fused.softmax`, float32 and float64), else ``torch.softmax`` and a clamp; equal to
        exp(z) exp(-lse) to a few ulps. Layer II's clip check is on the largest probability (exp is
        increasing: a probability above b is a potential above theta = log b). ``pre``: the scores'
        clip in the same C pass (:meth:`from_scores`, :func:`fused.softmax`)."""
        for pop in self._populations():
            ctx.note(pop)
            pop.require_range()
        rows = s.numel() // s.shape[-1] if s.dim() and s.shape[-1] else 0
        if self.use_max:
            ctx.add_check(self.max.pname, 0, rows)
            ctx.add_check(self.z.pname, 0, s.numel())
        ctx.add_check(self.lse.pname, 0, rows)
        b = self.out.b
        tol = 1e-9 if s.dtype == torch.float64 else 1e-5
        pre_n = 0
        if self._c_pass(s):
            # the softmax, the clip at b and the count (above b beyond float rounding) in one C pass per
            # row (e >= 0 = a always: a product of exps); in float32 with AVX-512 the vector exp
            # ttfs_exp16 (0.5 ns a value against libmvec's 1.0), faster than torch's softmax alone
            # (0.72-0.92 ms against 0.74-1.00 ms on a ViT-Ti block's scores, batch 8, in one run each)
            e, n, pre_n = fused.softmax(s, b * (1 + tol), b, pre)
        elif pre is not None:
            raise RuntimeError("SpikingSoftmax._exact: the scores' clip needs the C pass (from_scores checks it)")
        else:
            e = torch.softmax(s, dim=-1)
            hi = float(e.amax()) if e.numel() else 0.0
            n = 0
            if ctx.check != "off" and hi > b * (1 + (1e-9 if e.dtype == torch.float64 else 1e-5)):
                n = int((e > b * (1 + 1e-9)).sum())
            if hi > b:
                e.clamp_(max=b)
        ctx.add_check(self.out.pname, n, e.numel())
        return e, pre_n
