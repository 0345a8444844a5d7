"""The one attention core every family's self-attention runs (Section 4.3, Appendix C.1).

``heads(q, k, v)`` -> [q/k LayerNorm] -> [RoPE] -> Q K^T (a product network)
-> softmax (optionally with a key mask) -> attn V (a product network) ->
merged heads -> [LayerNorm] -> proj. A family's attention class builds these
layers from its source module (which are present, which constants fold into
which weights) and inherits :meth:`AttentionCore.attend` and ``forward``.
"""
from __future__ import annotations

import torch
from torch import nn

from .context import Ctx
from .layers import SpikingLinear
from .population import Population
from .product import Product


def resting_value(product: Product, pop: Population) -> float:
    """The value of ``pop`` (a factor of ``product``) whose layer-I term is the lower end of layer I's range."""
    a, b = pop.a, pop.b
    if getattr(product, "construction", "paper") == "paper" or a >= 0:
        return a
    return b if b <= 0 else 0.0


class AttentionCore(nn.Module):
    """Multi-head self-attention made of spiking layers.

    A subclass sets ``h`` and ``hd`` (heads, head size), the linear layers
    ``q``, ``k``, ``v`` and ``proj``, the products ``qk`` and ``av`` and
    ``softmax``; and, where its source has them, ``sq``/``sk`` (q/k norms),
    ``q_rope``/``k_rope`` and ``norm`` (a LayerNorm before proj): absent or
    None where it has not (read with ``getattr``: a class attribute would hide
    the submodule ``nn.Module`` registers).
    """

    def attend(self, x, ctx: Ctx, keymask=None):
        """The merged heads' context ``softmax(Q K^T) V`` (batch, tokens, heads * head size), before ``norm``.

        ``keymask`` (batch, 1, 1, tokens), True for a real key: a masked key's
        score never reaches a neuron's potential and its value spikes do not
        reach attn @ v (each gated synapse carries the term of the factor's
        resting value, so those layer-I neurons stay silent).
        """
        Bn, N, _ = x.shape

        def heads(t):
            return t.reshape(Bn, N, self.h, self.hd).transpose(1, 2)

        qkv = self._fused_qkv(x, ctx)   # (exact mode: the heads, each contiguous)
        if qkv is None:
            qkv = (heads(t) for t in (self.q(x, ctx), self.k(x, ctx), self.v(x, ctx)))
        q, k, v = qkv
        sq, sk, q_rope = (getattr(self, n, None) for n in ("sq", "sk", "q_rope"))
        if sq is not None:
            q = sq(q, ctx)
        if sk is not None:
            k = sk(k, ctx)
        if q_rope is not None:
            q = q_rope(q, ctx)
            k = self.k_rope(k, ctx)
        if keymask is None and self.softmax.takes_scores(self.qk.out, q, ctx):
            # exact mode: the scores' clip in the softmax's C pass
            a = self.softmax.from_scores(self.qk(q, k.transpose(-2, -1), ctx, emit=False), self.qk.out, ctx)
        elif keymask is None:
            a = self.softmax(self.qk(q, k.transpose(-2, -1), ctx), ctx)
        else:
            s = self.qk(q, k.transpose(-2, -1), ctx)
            a = self.softmax(s, ctx, keymask)
            if not ctx.calibrating and ctx.mode_for(self.av.y) != "exact":
                # with the masked probability (0, silent) both terms of those layer-I neurons sit at
                # layer I's lower end. (exact mode: layer II's potential is the product itself and a
                # masked key's probability is exactly 0.)
                v.masked_fill_(~keymask.transpose(-2, -1), resting_value(self.av, self.v.out))
        o = self.av(a, v, ctx)
        return o.transpose(1, 2).reshape(Bn, N, self.h * self.hd)

    def _fused_qkv(self, x, ctx: Ctx):
        """Exact mode: q, k and v as one matrix product (the weights side by side, as the ANN's qkv layer),
        each third then biased, clipped and counted by its own population
        (:meth:`~.population.Population.emit_linear_exact`, in the order q, k, v) and written out as heads
        (batch, head, token, head size), each contiguous, so that Q K^T and attn V are one batched product
        each; the same values as three products. None where a layer does not take that path
        (:meth:`SpikingLinear._exact_native`)."""
        lins = [getattr(self, n, None) for n in ("q", "k", "v")]
        if x.dim() != 3 or not all(isinstance(m, SpikingLinear) and m._exact_native(x, ctx) for m in lins):
            return None
        W = self._qkv_weight(lins, x)
        V = torch.nn.functional.linear(x, W)
        outs, start, heads = [], 0, (x.shape[1], self.hd)
        for m in lins:
            n = m.weight.shape[0]
            outs.append(m.out.emit_linear_exact(V[..., start:start + n], None if m.bias is None else
                                                m.bias.to(x.dtype), ctx, heads))
            start += n
        return outs

    def _qkv_weight(self, lins, x):
        """q's, k's and v's weights side by side in x's dtype and device, cached until one of them changes."""
        key = (x.dtype, x.device) + tuple((m.weight.data_ptr(), m.weight._version) for m in lins)
        hit = self.__dict__.get("_qkv_cache")
        if hit is None or hit[0] != key:
            hit = (key, torch.cat([m.weight.to(x.device, x.dtype) for m in lins]).contiguous())
            self.__dict__["_qkv_cache"] = hit
        return hit[1]

    def forward(self, x, ctx: Ctx):
        o = self.attend(x, ctx)
        norm = getattr(self, "norm", None)
        if norm is not None:
            o = norm(o, ctx)
        return self.proj(o, ctx)
