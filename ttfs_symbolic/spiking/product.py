"""The multiplication network of two spiking values (Section 4.3.4, Appendix C.1): the paper's and the signed one.

Layer I takes the logs of the two factors (shifted so that they are
positive), layer II the exponential of their sum; the signed construction
carries each factor's sign part so that no shift of the product is needed.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..numeric import dynamics, fused, geometric, native
from ..numeric.kernels import InputKernel
from .context import Ctx
from .kernels import input_kernel, log_kernel
from .population import Population, terms
from .signed_proxy import signed_error_proxy


def shift_for(pop: Population) -> float:
    """c = 1 - a: log(x + c) >= 0 on the factor's range [a, b] (eq. 24, the paper's construction)."""
    return 1.0 - pop.a


def layer1_range(p1: Population, p2: Population) -> tuple[float, float]:
    """Range of layer I that provably holds every log(x1 + c1) + log(x2 + c2) (paper's construction).

    With c_i = 1 - a_i each log lies in [0, log(1 + d_i)], so no layer-I
    neuron ever clips and layer II's potential in exact mode is one product
    of the shifted factors.
    """
    return (0.0, math.log1p(p1.d) + math.log1p(p2.d))


#: the product constructions: ``paper`` (eq. 24-27, one layer-I neuron per term,
#: shifts c = 1 - a) and ``signed`` (sign-split operands with small shifts, this
#: library's; see :class:`Product` and proofs/multiplication.py)
PRODUCT_CONSTRUCTIONS = ("paper", "signed")
DEFAULT_PRODUCT = "signed"
#: candidate relative shifts r (e = r * max|x|) of the signed construction;
#: calibration picks the one of least expected layer-I rounding error
SHIFT_CANDIDATES = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5)
DEFAULT_SHIFT = 0.02


@dataclass(frozen=True)
class SignedOperand:
    """How the signed construction splits one factor x with range [a, b].

    ``parts``: the signs sigma of the parts u = relu(sigma x) that can be
    non-zero (both when a < 0 < b). ``M = max|x|``, ``low`` = the least |x|
    (0 when the range holds 0), ``e = r*M`` the shift of log(u + e), ``c``:
    the layer-II correction sign (0 for a split factor, whose shifts cancel;
    +1 or -1 for a one-signed factor, x = c*(u + e) - c*e).
    """

    parts: tuple
    M: float
    low: float
    e: float

    @classmethod
    def of(cls, a: float, b: float, r: float) -> "SignedOperand":
        if a >= 0:
            parts, low = (1,), a
        elif b <= 0:
            parts, low = (-1,), -b
        else:
            parts, low = (1, -1), 0.0
        M = max(abs(a), abs(b))
        return cls(parts, M, low, r * M)

    @property
    def split(self) -> bool:
        return len(self.parts) == 2

    @property
    def c(self) -> int:
        return 0 if self.split else self.parts[0]

    def sign(self, x: torch.Tensor) -> torch.Tensor:
        """s(x): the sign of the part that carries x (+1 for x = 0 of a split factor; NaN stays NaN)."""
        if not self.split:
            return torch.full_like(x, float(self.parts[0]))
        # sign(x) is -1, 0 or +1 (0 for -0 too); + 1/2 and its sign: -1 for x < 0, +1 elsewhere, in three
        # passes of a few tenths of a millisecond where torch.where(x < 0, -1, 1) takes 1.6 ms (ViT-Ti's q)
        return torch.sign(x).add_(0.5).sign_()

    def log_kernel(self, sigma: int) -> InputKernel:
        """Layer I's input kernel on part sigma: f(x) = log(relu(sigma*x) + e) (Theorem 4.1)."""
        return signed_log_kernel(sigma, self.e, self.split)


@functools.lru_cache(maxsize=4096)
def signed_log_kernel(sigma: int, e: float, split: bool) -> InputKernel:
    """``log(relu(sigma x) + e)`` (a split factor) or ``log(sigma x + e)`` (a one-signed one), one object per key."""
    inner = "x" if sigma > 0 else "-x"
    arg = f"relu({inner})" if split else inner
    return InputKernel(f"log({arg} + {float(e)!r})")


def signed_layer1_range(o1: SignedOperand, o2: SignedOperand) -> tuple[float, float]:
    """Layer I's range in the signed construction: every log(u1 + e1) + log(u2 + e2) lies in it.

    The least potential (both parts at their least |x|) is the value of no
    spike, so no layer-I neuron clips and silent ones stand for exactly
    (low1 + e1)(low2 + e2).
    """
    return (math.log(o1.low + o1.e) + math.log(o2.low + o2.e), math.log(o1.M + o1.e) + math.log(o2.M + o2.e))


def _matmul(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``x1 @ x2``. Attention's heads are strided views (batch, head, tokens, dim) of the linear layers'
    outputs, which ``@`` copies into contiguous operands first; each head's slice is already a strided
    matrix batch a BLAS product reads as it is, so one ``bmm`` per head writes into one output instead.
    Contiguous heads (exact mode's, :meth:`~.attention.AttentionCore._fused_qkv`), or k's transposed view
    of them, are one batched product of contiguous or transposed matrices: ``@`` without a copy."""
    if x1.dim() != 4 or x2.dim() != 4 or x1.shape[:2] != x2.shape[:2] or x1.device.type != "cpu" \
            or (x1.is_contiguous() and (x2.is_contiguous() or x2.transpose(-2, -1).is_contiguous())) \
            or x1.shape[1] > 64:
        return x1 @ x2
    out = torch.empty(*x1.shape[:3], x2.shape[-1], dtype=torch.result_type(x1, x2), device=x1.device)
    for i in range(x1.shape[1]):
        torch.bmm(x1[:, i], x2[:, i], out=out[:, i])
    return out


def _sub_matmul(V: torch.Tensor, A, B) -> torch.Tensor:
    """``V - A @ B`` (``A`` (..., M, K), ``B`` (..., K, N); either may be a float, a constant matrix of
    that sign), in place on V (``baddbmm``) where V is a contiguous batch of matrices."""
    if not isinstance(A, torch.Tensor):   # a constant sign: A @ B = c * (column sums of B), per row
        return V.sub_(B.sum(-2, keepdim=True), alpha=A)
    if not isinstance(B, torch.Tensor):
        return V.sub_(A.sum(-1, keepdim=True), alpha=B)
    M, N, K = V.shape[-2], V.shape[-1], A.shape[-1]
    lead = V.shape[:-2]
    if V.is_contiguous() and A.shape[:-2] == lead and B.shape[:-2] == lead:
        V.view(-1, M, N).baddbmm_(A.reshape(-1, M, K), B.reshape(-1, K, N), alpha=-1)
        return V
    return V - A @ B


class Product(nn.Module):
    """x1 * x2 by a two-layer log/exp network, elementwise or as a matrix product.

    Two constructions (``construction``):

    ``paper`` (Section 4.3.4, eq. 24-27): layer I (``y``) has ``f_i = log(x + c_i)``
    with c_i = 1 - a_i on both inputs and identity output; layer II (``out``)
    has ``f = exp`` on y and identity on x1 and x2 (delayed), weights
    ``scale``, ``-scale*c2``, ``-scale*c1`` and constant ``bias - scale*K*c1*c2``,
    so ``V = scale * sum_k x1 x2 + bias``. A layer-I rounding error is relative
    to (x1 + c1)(x2 + c2), about c1 c2, however small x1 x2 is.

    ``signed`` (this library's, proofs/multiplication.py): each factor is split
    into its parts u = relu(sigma x), sigma = +1, -1 (only one part where the
    range has one sign), and layer I has one neuron per pair of parts with
    ``f = log(relu(sigma x) + e)``, e = r*max|x| small (r chosen at
    calibration, :func:`signed_error_proxy`). Layer II sums
    ``sigma1 sigma2 exp(y)`` over the pairs: for a split factor the shifts
    cancel exactly (sum_sigma sigma (u_sigma + e) = x), for a one-signed one
    a delayed identity synapse corrects as in the paper. The neuron that
    carries x1 x2 has exp(y) = (|x1| + e1)(|x2| + e2), so its rounding error
    is relative to about |x1 x2|; the neurons with a silent part carry
    (|x1| + e1) e2 and e1 (|x2| + e2), small when r is. Neurons: up to 4 per
    term (2 when one factor is one-signed), 2 synapses each; layer II has one
    synapse per layer-I neuron.
    """

    def __init__(self, name: str, p1: Population, p2: Population, out: Population, matmul: bool,
                 construction: str = DEFAULT_PRODUCT):
        super().__init__()
        self.p1, self.p2, self.matmul = p1, p2, matmul
        self.pname = f"{name}.layer1"
        self.set_construction(construction)
        self.y = Population(f"{name}.layer1", "identity", kind="product_layer1", fan_in=2,
                            range_fn=self._layer1_range)
        self.out = out
        self._table = None  # (key, layer II's tick table, its geometric ratio): see _layer2_table
        self._pair_table = None  # kernel mode: the summed tables of a split factor's two synapses
        self._fine_cache = None  # (key, constants) of _fine_constants

    # ---- construction and shifts ------------------------------------------
    def set_construction(self, construction: str, r: float | None = None):
        if construction not in PRODUCT_CONSTRUCTIONS:
            raise ValueError(f"unknown product construction {construction!r}; choose one of "
                             f"{', '.join(PRODUCT_CONSTRUCTIONS)}")
        self.construction = construction
        self.r = DEFAULT_SHIFT if r is None else float(r)

    def operands(self) -> tuple[SignedOperand, SignedOperand]:
        return (SignedOperand.of(self.p1.a, self.p1.b, self.r), SignedOperand.of(self.p2.a, self.p2.b, self.r))

    def choose_shift(self):
        """The r of least :func:`signed_error_proxy` on the factors' calibration samples (default if none)."""
        s1, s2 = self.p1.stats.samples, self.p2.stats.samples
        if not s1 or not s2:
            return
        rng = np.random.default_rng(0)
        n = min(20000, max(sum(v.size for v in s1), sum(v.size for v in s2)))
        x1, a1, b1 = self._factor_samples(self.p1, rng, n)
        x2, a2, b2 = self._factor_samples(self.p2, rng, n)
        split1, split2 = (o.split for o in self.operands())
        self.r = min(SHIFT_CANDIDATES,
                     key=lambda r: signed_error_proxy(r, x1, x2, a1, b1, a2, b2, split1, split2))

    def _factor_samples(self, pop: Population, rng, n: int):
        """``n`` of a factor's calibration samples drawn with replacement, with the range(s) the product
        gives them: each sample's own neuron's where an elementwise product uses per-channel / per-neuron
        ranges (:meth:`_signed_elementwise_fine`), else the factor's one range."""
        st = pop.stats
        x = np.concatenate(st.samples)
        pick = rng.integers(0, x.size, n)
        fine = (not self.matmul and (self.p1.fine or self.p2.fine) and pop.fine
                and len(st.sample_idx) == len(st.samples))
        if not fine:
            return x[pick], pop.a, pop.b
        a, b = pop.sample_ranges(np.concatenate(st.sample_idx)[pick])
        return x[pick], a, b

    def _layer1_range(self):
        if self.construction == "paper":
            return layer1_range(self.p1, self.p2)
        self.choose_shift()
        return signed_layer1_range(*self.operands())

    def neurons_per_term(self) -> int:
        """Layer-I neurons per term x1_k x2_k: 1 (paper), or the number of part pairs (signed)."""
        if self.construction == "paper":
            return 1
        o1, o2 = self.operands()
        return len(o1.parts) * len(o2.parts)

    def kernels(self):
        """Input kernels ``log(x + c1)``, ``log(x + c2)`` (layer I, eq. 24) and ``exp`` (layer II, eq. 26).

        Built once per pair of shifts (c = 1 - a of each factor, so once per
        calibration), not per forward pass.
        """
        c1, c2 = shift_for(self.p1), shift_for(self.p2)
        return log_kernel(c1), log_kernel(c2), input_kernel("exp_input")

    def forward(self, x1, x2, ctx: Ctx, scale=None, bias=None, emit: bool = True):
        """Elementwise: x1, x2 broadcastable. Matmul: x1 (..., M, K), x2 (..., K, N). ``emit=False``: layer
        II's potential, whose emission (``self.out.emit(V, ctx, fresh=True)``) the caller makes
        (:meth:`~.layers.SpikingSoftmax.from_scores`)."""
        if not ctx.calibrating:
            self.y.require_range()
        ctx.note(self.y)  # layer I emits after x1, x2 and before layer II (self.out)
        if (ctx.calibrating and (ctx.precision is None or not self.y.calibrated)) or \
                (not ctx.calibrating and ctx.mode_for(self.y) == "exact"):
            # Layer I provably does not clip (its range holds every potential), so its
            # spikes stand for y exactly and layer II's potential is x1 x2 in both
            # constructions (proofs/multiplication.py): the closed form is evaluated as
            # the product itself, without the cancellation of the shifted terms.
            if ctx.record:
                self._count_layer1(x1, x2)
            V = _matmul(x1, x2) if self.matmul else x1 * x2
        elif self.construction == "paper":
            V = self._layer1_by_neuron(x1, x2, shift_for(self.p1), shift_for(self.p2), ctx)
        else:
            V = (self._signed_elementwise_fine(x1, x2, ctx) if not self.matmul and (self.p1.fine or self.p2.fine)
                 else self._signed_by_neuron(x1, x2, ctx))
        if scale is not None and bias is not None:
            V = torch.addcmul(bias, V, scale)
        elif scale is not None:
            V = V * scale
        elif bias is not None:
            V = V + bias
        return self.out.emit(V, ctx, fresh=True) if emit else V

    def _count_layer1(self, x1, x2):
        """Exact mode: layer-I neurons and spikes (a neuron is silent when both its parts are at their least)."""
        st = self.y.stats
        if self.construction == "paper":
            q1, q2 = (x1 <= self.p1.a).to(x1.dtype), (x2 <= self.p2.a).to(x2.dtype)
            per = 1
        else:
            o1, o2 = self.operands()
            per = len(o1.parts) * len(o2.parts)
            # silent: both parts at their least; for a split factor a part is at its
            # least (0) in the other sign's part, so per pair of parts count the silent
            q1, q2 = None, None
        if self.matmul:
            M, K = x1.shape[-2], x1.shape[-1]
            N = x2.shape[-1]
            batch = math.prod(torch.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]))
            total = batch * M * N * K * per
        else:
            total = int(np.prod(torch.broadcast_shapes(x1.shape, x2.shape))) * per
        if q1 is not None:
            silent = int((q1 @ q2).sum()) if self.matmul else int((q1.bool() & q2.bool()).sum())
        else:
            silent = 0
            for s1 in o1.parts:
                z1 = (torch.relu(s1 * x1) <= o1.low).to(x1.dtype)
                for s2 in o2.parts:
                    z2 = (torch.relu(s2 * x2) <= o2.low).to(x2.dtype)
                    silent += int((z1 @ z2).sum()) if self.matmul else int((z1.bool() & z2.bool()).sum())
        st.neurons += total
        st.spikes += total - silent

    def _layer1_by_neuron(self, x1, x2, c1, c2, ctx: Ctx):
        """Quantized and kernel modes, paper's construction: every layer-I spike on its own.

        Layer I's potential is ``l1 + l2`` (the terms of log(x + c) for each
        factor, computed once per factor); its spike is rounded to the nearest
        of p ticks (identity output, kernel mode reads the linear psi table by
        division). Layer II reads each spike's term from a table ``T`` over
        ticks: the closed form ``exp(b - k d/p)`` (quantized) or the kernel
        integral ``Q[p - k] + exp(a)`` (kernel). The M*N*K layer-I neurons of
        a matrix product are never held: :func:`native.product_matmul` adds
        each term as it is made (C), or works in row chunks (torch).
        """
        k1, k2, _ = self.kernels()
        l1 = terms(x1, self.p1, k1, ctx, self.y)
        l2 = terms(x2, self.p2, k2, ctx, self.y)
        y_pop = self.y
        p = ctx.precision
        T = self._layer2_table(ctx.mode, p, x1.dtype, x1.device)
        per_tick = p / y_pop.d
        if self.matmul:
            K = x1.shape[-1]
            s, fired = geometric.product_matmul(l1, l2, T, y_pop.b, per_tick, p, count=ctx.record,
                                                geo=self._table[2])
            total = math.prod(s.shape) * K
            V = s - c2 * x1.sum(-1, keepdim=True) - c1 * x2.sum(-2, keepdim=True) - K * c1 * c2
        else:
            t, fired = native.tick_lookup(l1 + l2, y_pop.b, per_tick, p, T)
            total = t.numel()
            V = t - c2 * x1 - c1 * x2 - c1 * c2
        if ctx.record:
            st = y_pop.stats
            st.neurons += total
            st.spikes += int(fired)
        return V

    def _signed_terms(self, x, pop: Population, o: SignedOperand, ctx: Ctx):
        """l: the layer-I term log(|x| + e) of x's carrying part (kernel mode: from eta)."""
        if ctx.mode_for(self.y) == "kernel" and pop.on_linear_grid:
            if not o.split:
                l = terms(x, pop, o.log_kernel(o.parts[0]), ctx, self.y)
            else:
                # the carrying part's term: log(relu(x) + e) for x >= 0, log(relu(-x) + e) for x < 0;
                # the other synapse's table holds log(e) there (its eta is 0), so the carrying term is
                # the sum of the two synapses' terms minus log(e): one lookup in the summed tables
                timing = pop.timing()
                tabs = [dynamics.term_table(o.log_kernel(sig), timing.a, timing.b, timing.delta, ctx.precision,
                                             x.dtype, x.device) for sig in o.parts]
                key = (id(tabs[0]), id(tabs[1]), o.e)
                if self._pair_table is None or self._pair_table[0] != key:
                    self._pair_table = (key, (tabs[0] + tabs[1] - math.log(o.e)).contiguous(), tabs)
                l = native.tick_lookup(x, timing.b, ctx.precision / timing.d, ctx.precision,
                                       self._pair_table[1])[0]
        elif ctx.mode_for(self.y) == "kernel":
            l = torch.log(x.abs() + o.e)   # per-neuron ranges: the closed form of the integral (see terms)
        else:
            l = torch.log(x.abs() + o.e)
        return l

    def _signed_elementwise_fine(self, x1, x2, ctx: Ctx):
        """Elementwise signed product of factors with per-neuron ranges: per-element shifts and layer I.

        Each element's layer-I neurons get the shifts ``e_n = r max|x_n|`` of
        their own factors' ranges and the range that follows from them (the
        same construction and proof, element by element), so a neuron whose
        factors are small (LayerNorm of a token with a small spread) is not
        rounded on the grid of the largest. The per-element potentials and
        terms are evaluated in closed form (Theorem 4.1: the integral of eta
        over a sender's window is f(x) - f(a_n)), in kernel mode too.
        """
        o1, o2 = self.operands()     # parts and the shift ratio r (from the envelope)
        p = ctx.precision
        c = self._fine_constants(x1, x2, o1, o2, p)
        pack = self._fine_pack(x1, x2, c)
        if pack is not None:   # the same, in one C pass (numeric/csrc/signed_body.h)
            for name, x in (("x1", x1), ("x2", x2)):
                native.check_nan(x, f"the factor {name} of {self.pname}")
            V, fired = fused.signed_mul(x1, x2, pack, (o1.split, o2.split), (o1.c, o2.c), p)
            if ctx.record:
                st = self.y.stats
                st.neurons += V.numel() * len(o1.parts) * len(o2.parts)
                st.spikes += fired
            return V
        fired = 0

        def E(y):   # layer II's term of a layer-I neuron at the nearest of p ticks of its own range
            nonlocal fired
            val, f, _ = native.tick_values(y, c["hi_y"], c["scale"], c["step"], p)
            fired += f
            return val.exp_()

        l1, l2 = torch.log(x1.abs() + c["e1"]), torch.log(x2.abs() + c["e2"])
        V = E(l1 + l2)
        if o2.split:
            V = V.sub_(E(l1 + c["le2"]))
        if o1.split:
            V = V.sub_(E(c["le1"] + l2))
        if o1.split and o2.split:
            V = V.add_(c["E00"])
        V = V.mul_(o1.sign(x1) * o2.sign(x2))
        if o1.c or o2.c:
            V = V - (o2.c * c["e2"]) * x1 - (o1.c * c["e1"]) * x2 - o1.c * o2.c * c["e1"] * c["e2"]
        if ctx.record:
            st = self.y.stats
            st.neurons += V.numel() * len(o1.parts) * len(o2.parts)
            st.spikes += fired
        return V

    def _fine_pack(self, x1, x2, c: dict):
        """The constants ``c`` spread over x1's C channels for :func:`fused.signed_mul` (cached with them), or
        None where the C pass does not apply: no C loops for x1, constants that are not one per channel (or
        one for all), x1 not contiguous, x2 neither x1's shape nor one value per row of x1."""
        C = x1.shape[-1] if x1.dim() else 0
        if not C or not native.available_for(x1) or x2.dtype != x1.dtype or x2.device != x1.device \
                or not x1.is_contiguous() or not x2.is_contiguous() \
                or x2.shape not in (x1.shape, (*x1.shape[:-1], 1)) \
                or any(c[k].dim() > 1 or c[k].numel() not in (1, C) for k in fused.SIGNED_MUL_FIELDS):
            return None
        if c.get("pack") is None or c["pack"].numel() != 8 * C:
            c["pack"] = torch.cat([c[k].reshape(-1).expand(C) for k in fused.SIGNED_MUL_FIELDS]).contiguous()
        return c["pack"]

    def _fine_constants(self, x1, x2, o1: SignedOperand, o2: SignedOperand, p: int) -> dict:
        """The per-element shifts e = r max|x|, layer I's range [lo_y, hi_y] and its tick scale of
        :meth:`_signed_elementwise_fine`, in x1's dtype; cached per dtype, device, p, r and ranges."""
        key = (x1.dtype, x1.device, p, self.r, self.p1.fine_a, self.p1.fine_b, self.p2.fine_a, self.p2.fine_b,
               self.p1.a, self.p1.b, self.p2.a, self.p2.b)
        hit = getattr(self, "_fine_cache", None)
        if hit is not None and len(hit[0]) == len(key) and all(u is v or (not isinstance(u, torch.Tensor) and u == v)
                                                                 for u, v in zip(hit[0], key)):
            return hit[1]

        def per_element(pop, o):
            a, b = pop.bounds(x1, check_shape=False)   # (x1: for the dtype and device)
            a = torch.as_tensor(a, dtype=x1.dtype, device=x1.device)
            b = torch.as_tensor(b, dtype=x1.dtype, device=x1.device)
            M = torch.maximum(a.abs(), b.abs())
            low = torch.zeros_like(M) if o.split else torch.minimum(a.abs(), b.abs())
            return M, low, self.r * M

        M1, low1, e1 = per_element(self.p1, o1)
        M2, low2, e2 = per_element(self.p2, o2)
        lo_y = torch.log(low1 + e1) + torch.log(low2 + e2)
        hi_y = torch.log(M1 + e1) + torch.log(M2 + e2)
        d_y = hi_y - lo_y
        c = {"e1": e1, "e2": e2, "le1": torch.log(e1), "le2": torch.log(e2), "hi_y": hi_y, "scale": p / d_y,
             "step": d_y / p, "E00": torch.exp(lo_y)}
        self._fine_cache = (key, c)
        return c

    def _signed_by_neuron(self, x1, x2, ctx: Ctx):
        """Quantized and kernel modes, signed construction: every layer-I spike on its own.

        Per term k the pairs of parts give (s = sign of the carrying part, E =
        layer II's exp-term of a layer-I neuron, read from the tick table T):
        ``s1 s2 [E(m1, m2) - E(m1, 0) - E(0, m2) + E(0, 0)]`` for two split
        factors (the pairs with a silent part carry E(m, 0) or E(0, m); the
        pair of two silent parts does not fire and stands for T[p]), fewer terms
        when a factor is one-signed, plus the delayed corrections of a
        one-signed factor. The neuron E(m1, m2) of every (i, j, k) is rounded
        on its own in one pass of :func:`native.product_matmul`, times its
        parts' signs; the neurons with a silent part depend on (i, k) or
        (k, j) only: their terms are made once and subtracted in the same
        pass (elementwise: the same terms in torch).
        """
        o1, o2 = self.operands()
        y_pop, p = self.y, ctx.precision
        if self.matmul:   # (heads: transposed views) one copy each, then every pass reads rows
            x1, x2 = x1.contiguous(), x2.contiguous()
        T = self._layer2_table(ctx.mode_for(self.y), p, x1.dtype, x1.device)
        per_tick = p / y_pop.d
        b = y_pop.b
        le1, le2 = math.log(o1.e), math.log(o2.e)
        E00 = T[p]   # no spike: exp(a_y) (exactly (low1 + e1)(low2 + e2))
        fired = 0
        if self.matmul:
            K = x1.shape[-1]
            l1, l2, s1, s2, E10, E01, f10, f01 = self._matmul_factors(x1, x2, T, ctx)
            # the neuron carrying x1 x2, its sign from the values (split) or constant (one-signed)
            signed = {"x1": x1} if o1.split else {"s1": o1.parts[0]}
            signed.update({"x2": x2} if o2.split else {"s2": o2.parts[0]})
            V, f_main = geometric.product_matmul(l1, l2, T, b, per_tick, p, count=ctx.record, signed=signed,
                                                 geo=self._table[2])
            fired += f_main
            # pairs (s1, -s2): the x2 part silent, E(m1, 0) per (i, k); pairs (-s1, s2): E(0, m2) per
            # (k, j); pairs (-s1, -s2): silent, E(0, 0): matrix products with the signs, subtracted in place
            if o2.split:
                V = _sub_matmul(V, E10, s2)
                fired += f10 * x2.shape[-1]
            if o1.split:
                V = _sub_matmul(V, s1, E01)
                fired += f01 * x1.shape[-2]
            if o1.c or o2.c:   # delayed corrections of one-signed factors (as in the paper)
                V = V - (o2.c * o2.e) * x1.sum(-1, keepdim=True) - (o1.c * o1.e) * x2.sum(-2, keepdim=True) \
                    - K * o1.c * o2.c * o1.e * o2.e
            total = math.prod(V.shape) * K * len(o1.parts) * len(o2.parts)
        else:
            l1, l2 = self._signed_terms(x1, self.p1, o1, ctx), self._signed_terms(x2, self.p2, o2, ctx)
            s1, s2 = o1.sign(x1), o2.sign(x2)
            Em, f_main = native.tick_lookup(l1 + l2, b, per_tick, p, T)
            V = s1 * s2 * Em
            fired += f_main
            if o2.split:
                E10, f10 = native.tick_lookup(l1 + le2, b, per_tick, p, T)
                V = V - (s1 * s2) * E10
                fired += f10
            if o1.split:
                E01, f01 = native.tick_lookup(le1 + l2, b, per_tick, p, T)
                V = V - (s1 * s2) * E01
                fired += f01
            if o1.split and o2.split:
                V = V + (s1 * s2) * E00
            if o1.c or o2.c:
                V = V - (o2.c * o2.e) * x1 - (o1.c * o1.e) * x2 - o1.c * o2.c * o1.e * o2.e
            total = V.numel() * len(o1.parts) * len(o2.parts)
        if ctx.record:
            st = y_pop.stats
            st.neurons += total
            st.spikes += int(fired)
        return V

    def _matmul_factors(self, x1, x2, T, ctx: Ctx):
        """``(l1, l2, s1, s2, E10, E01, f10, f01)`` of :meth:`_signed_by_neuron`'s matrix product: each
        factor's layer-I term l and sign s (a float for a one-signed factor), the terms of the neurons with
        the other factor's part silent, ``E10 = E(l1 + le2) s1`` (x2 split) and ``E01 = (E(le1 + l2) [- E00
        if x2 is split]) s2`` (x1 split), and their spike counts: one C pass per factor where l is the
        closed form log(|x| + e) (:func:`fused.signed_factor`), else the torch lines below (its reference)."""
        o1, o2 = self.operands()
        p, b, per_tick = ctx.precision, self.y.b, ctx.precision / self.y.d
        le1, le2, E00 = math.log(o1.e), math.log(o2.e), T[p]
        c1, c2 = (float(o.parts[0]) for o in (o1, o2))
        kernel = ctx.mode_for(self.y) == "kernel"
        if not (kernel and (self.p1.on_linear_grid or self.p2.on_linear_grid)) and native.use_native(x1, x2, T, p=p):
            tick = (b, per_tick, p)
            l1, s1, E10, f10 = fused.signed_factor(x1, o1.e, le2, tick, T if o2.split else None, 0.0, o1.split, c1,
                                                   ctx.record)
            l2, s2, E01, f01 = fused.signed_factor(x2, o2.e, le1, tick, T if o1.split else None,
                                                   float(E00) if o2.split else 0.0, o2.split, c2, ctx.record)
            return l1, l2, c1 if s1 is None else s1, c2 if s2 is None else s2, E10, E01, f10, f01
        l1, l2 = self._signed_terms(x1, self.p1, o1, ctx), self._signed_terms(x2, self.p2, o2, ctx)
        s1, s2 = (o.sign(x) if o.split else c for o, x, c in ((o1, x1, c1), (o2, x2, c2)))
        E10 = E01 = None
        f10 = f01 = 0
        if o2.split:
            E10, f10 = native.tick_lookup(l1 + le2, b, per_tick, p, T)
            E10.mul_(s1)
        if o1.split:
            E01, f01 = native.tick_lookup(le1 + l2, b, per_tick, p, T)
            (E01.sub_(E00) if o2.split else E01).mul_(s2)
        return l1, l2, s1, s2, E10, E01, f10, f01

    def _layer2_table(self, mode: str, p: int, dtype, device) -> torch.Tensor:
        """``T``: layer II's exp-term per layer-I tick, cached per range, mode, p, dtype.

        ``T[k]`` is the term of a layer-I spike at tick k: ``exp(b - k d/p)``
        in quantized mode (closed form of eq. 26), ``Q[p - k] + exp(a)`` in
        kernel mode (Q the cumulative integral of eta = exp over layer I's
        window, Theorem 4.1, eq. 30). The cache also holds the table's
        :func:`~ttfs_symbolic.numeric.geometric.ratio` (from float64), with
        which the matrix products read it without a gather per neuron.
        """
        y_pop = self.y
        key = (mode, p, dtype, device, y_pop.a, y_pop.b)
        cached = self._table
        if cached is not None and cached[0] == key:
            return cached[1]
        kexp = input_kernel("exp_input")
        if mode == "kernel":
            q = torch.as_tensor(dynamics.input_table(kexp, y_pop.a, y_pop.b, 1.0, p), dtype=torch.float64)
            T = q.flip(0) + kexp.f_at(y_pop.a)  # T[k] = Q[p - k] + f(a)
        else:
            ticks = torch.arange(p + 1, dtype=torch.float64)
            T = torch.exp(y_pop.b - ticks * (y_pop.d / p))
        self._table = (key, T.to(dtype=dtype, device=device), geometric.ratio(T))
        return self._table[1]
