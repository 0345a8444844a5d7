"""timm EVA / EVA-02 (``timm.models.eva.Eva``) and distilled DeiT as TTFS spiking networks.

:class:`SpikingEva` mirrors ``Eva.forward`` layer by layer with the spiking
layers of :mod:`ttfs_symbolic.spiking`, all of them catalogue neurons
(Section 4.3):

* linear maps (patch embedding, q/k/v with EVA's separate q and v biases,
  proj, fc1, fc2, head) are identity-transform neurons (Corollaries 4.2,
  4.4); biases, the attention scale ``head_dim**-0.5`` and the layer scales
  ``gamma_1`` / ``gamma_2`` are constants folded into the weights or into C
  of Theorem 4.1 (eq. 8), computed in float64;
* rotary position embeddings (RoPE) multiply q and k of the non-prefix tokens
  by constants fixed by the token positions: ``x*cos + rotate(x)*sin`` is a
  sparse linear map per token (two nonzero weights per output neuron), so it
  is one layer of identity-transform neurons (:class:`SpikingRope`), never the
  multiplication network;
* SwiGLU / GluMlp: a ``silu`` neuron (Corollary 4.5, eq. 16) on the gate
  branch, the elementwise multiplication network (Section 4.3.4, eqs. 24-27)
  for ``silu(g) * x``, then the LayerNorm inside the MLP (Section 4.3.3,
  eqs. 21-23) and fc2;
* softmax (Section 4.3.2, Theorem 4.6, eqs. 18-20, 36), the attention
  products and LayerNorm as in :mod:`ttfs_symbolic.families.vit`.

Every module of the source model is claimed by some spiking layer; one that
is not (or one with no spiking counterpart) stops the conversion with
:class:`UnsupportedModuleError` naming its path and type. Nothing silently
stays an ANN operation.

:class:`SpikingDeiTDistilled` converts timm's ``VisionTransformerDistilled``
(DeiT with a distillation token): the blocks are SpikingViT's, and the
evaluation output ``(head(x[:, 0]) + head_dist(x[:, 1])) / 2`` is one layer of
identity neurons with the weights ``[W_head / 2, W_dist / 2]`` on the two
tokens and the constant ``(b_head + b_dist) / 2``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..conversion.activations import activation_neuron
from ..conversion.claims import ModuleClaims, typename
from ..conversion.errors import UnsupportedModuleError
from ..conversion.registry import register_family
from ..spiking import Ctx, Population, Product, SpikingActivation, SpikingLayerNorm, SpikingLinear, SpikingSoftmax
from ..spiking.attention import AttentionCore
from .common import SpikingVisionTransformer, as_f64, attention_scale, linear_with_gamma


def _eva_types():
    # timm loads on first use (start-up time)
    # timm loads on first use (start-up time)
    import timm.layers as tl
    import timm.models.eva as teva
    from timm.layers import mlp as tmlp
    from timm.layers import pos_embed_sincos as tpos

    return teva, tl, tmlp, tpos


def is_eva(model) -> bool:
    """True for a timm ``Eva`` (EVA, EVA-02 and the other models built on that class)."""
    try:
        teva = _eva_types()[0]
    except ImportError:  # pragma: no cover - timm without eva
        return False
    return isinstance(model, teva.Eva)


# --------------------------------------------------------------------------
# rotary position embedding: a constant sparse linear map per token
# --------------------------------------------------------------------------

def rope_partner(head_dim: int, half: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(perm, sign)`` with ``rotate(x)[..., i] = sign[i] * x[..., perm[i]]``.

    Interleaved (timm ``rot``): ``[-x1, x0, -x3, x2, ...]``. Half
    (``rope_rotate_half``): ``[-x_{D/2}, ..., -x_{D-1}, x_0, ..., x_{D/2-1}]``.
    """
    if head_dim % 2:
        raise UnsupportedModuleError(f"rotary embedding needs an even head_dim, got {head_dim}")
    idx = torch.arange(head_dim)
    if half:
        h = head_dim // 2
        perm = torch.where(idx < h, idx + h, idx - h)
        sign = torch.where(idx < h, -1.0, 1.0).to(torch.float64)
    else:
        perm = idx ^ 1
        sign = torch.where(idx % 2 == 0, -1.0, 1.0).to(torch.float64)
    return perm, sign


class SpikingRope(nn.Module):
    """Rotary position embedding as one layer of identity-transform neurons.

    For token t (a patch; prefix tokens pass with weight 1) and channel i:
    ``V = w_self[t, i] * x[i] + w_partner[t, i] * x[perm[i]]`` with
    ``w_self = cos[t, i]`` and ``w_partner = sign[i] * sin[t, i]`` (timm
    ``apply_rot_embed_cat``: ``x*cos + rotate(x)*sin``). The cos/sin tables are
    constants fixed by the positions, so every neuron is a linear neuron of
    Corollary 4.2 with two synapses (Theorem 4.1 with f = identity, C = 0) and
    the identity output transform (Corollary 4.4): no multiplication network.
    """

    def __init__(self, name: str, src: Population, sin: torch.Tensor, cos: torch.Tensor, num_prefix: int,
                 half: bool):
        super().__init__()
        n_rot, hd = sin.shape
        if cos.shape != sin.shape:
            raise ValueError(f"rope tables disagree: sin {tuple(sin.shape)}, cos {tuple(cos.shape)}")
        perm, sign = rope_partner(hd, half)
        ones = torch.ones(num_prefix, hd, dtype=torch.float64)
        zeros = torch.zeros(num_prefix, hd, dtype=torch.float64)
        self.src = src
        self.num_prefix = num_prefix
        self.half = half
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("w_self", torch.cat([ones, as_f64(cos)], 0), persistent=False)
        self.register_buffer("w_partner", torch.cat([zeros, as_f64(sin) * sign], 0), persistent=False)
        self.out = Population(name, "identity", kind="rope", fan_in=2)

    def matrix(self, token: int) -> torch.Tensor:
        """The (head_dim x head_dim) weight matrix of token ``token`` (at most 2 nonzeros per row)."""
        hd = self.perm.numel()
        R = torch.diag(self.w_self[token].clone())
        R[torch.arange(hd), self.perm] += self.w_partner[token]
        return R

    def synapses(self) -> int:
        """Number of nonzero weights of one head (the synapses that carry spikes)."""
        return int((self.w_self != 0).sum() + (self.w_partner != 0).sum())

    def forward(self, x, ctx: Ctx):
        """x: (..., tokens, head_dim), the values of the q (or k) neurons."""
        if x.shape[-2] != self.w_self.shape[0]:
            raise ValueError(f"layer {self.out.pname}: expected {self.w_self.shape[0]} tokens, got {x.shape[-2]}")
        ws, wp = self.w_self.to(x.dtype), self.w_partner.to(x.dtype)
        V = x * ws + x[..., self.perm] * wp
        return self.out.emit(V, ctx, fresh=True)


# --------------------------------------------------------------------------
# attention
# --------------------------------------------------------------------------

class SpikingEvaAttention(AttentionCore):
    """timm ``EvaAttention``: q, k, v (q/v biases, no k bias), q/k norm, RoPE, QK^T, softmax, AV, norm, proj.

    The attention scale is folded into the weights of q (float64), or into
    q_norm's affine when q is normalized; RoPE is linear, so it commutes with
    the scale. ``gamma`` (EvaBlock's ``gamma_1``) is folded into proj.
    """

    def __init__(self, name: str, attn, claims: ModuleClaims, src: Population, n_tokens: int, rope, gamma,
                 softmax_max: bool):
        super().__init__()
        teva = _eva_types()[0]
        if type(attn) is not teva.EvaAttention:
            raise UnsupportedModuleError(
                f"unsupported module at '{name}': {typename(attn)} (supported: timm.models.eva.EvaAttention)")
        claims.claim(name, attn)
        if getattr(attn, "gate", None) is not None:
            raise UnsupportedModuleError(
                f"unsupported module at '{name}.gate': gated attention (sigmoid gate) has no spiking counterpart")
        claims.identity(f"{name}.attn_drop", attn.attn_drop)
        claims.identity(f"{name}.proj_drop", attn.proj_drop)
        H, hd = attn.num_heads, attn.head_dim
        inner = H * hd
        self.h, self.hd = H, hd
        if attn.qkv is not None:
            W = as_f64(claims.linear(f"{name}.qkv", attn.qkv).weight)
            Wq, Wk, Wv = W[:inner], W[inner:2 * inner], W[2 * inner:]
            if attn.qkv.bias is not None:
                raise UnsupportedModuleError(f"unsupported setting at '{name}.qkv': a fused qkv bias")
            if attn.q_bias is None:
                Bq = Bk = Bv = None
            else:
                Bq, Bv = as_f64(attn.q_bias), as_f64(attn.v_bias)
                Bk = as_f64(attn.k_bias) if attn.k_bias is not None else None
        else:
            lq = claims.linear(f"{name}.q_proj", attn.q_proj)
            lk = claims.linear(f"{name}.k_proj", attn.k_proj)
            lv = claims.linear(f"{name}.v_proj", attn.v_proj)
            Wq, Wk, Wv = as_f64(lq.weight), as_f64(lk.weight), as_f64(lv.weight)
            Bq, Bk, Bv = as_f64(lq.bias), as_f64(lk.bias), as_f64(lv.bias)
        self.q_norm = claims.layernorm(f"{name}.q_norm", attn.q_norm)
        self.k_norm = claims.layernorm(f"{name}.k_norm", attn.k_norm)
        scale = attention_scale(name, attn)
        if self.q_norm is None:
            Wq = Wq * scale
            Bq = None if Bq is None else Bq * scale
        self.q = SpikingLinear(f"{name}.q", Wq, Bq)
        self.k = SpikingLinear(f"{name}.k", Wk, Bk)
        self.v = SpikingLinear(f"{name}.v", Wv, Bv)
        self.sq = self.sk = None
        qsrc, ksrc = self.q.out, self.k.out
        if self.q_norm is not None:
            w = as_f64(self.q_norm.weight) * scale if self.q_norm.weight is not None else \
                torch.full((hd,), scale, dtype=torch.float64)
            b = as_f64(self.q_norm.bias) * scale if self.q_norm.bias is not None else None
            self.sq = SpikingLayerNorm(f"{name}.q_norm", qsrc, w, b, self.q_norm.eps, hd)
            qsrc = self.sq.out
        if self.k_norm is not None:
            self.sk = SpikingLayerNorm(f"{name}.k_norm", ksrc, self.k_norm.weight, self.k_norm.bias,
                                       self.k_norm.eps, hd)
            ksrc = self.sk.out
        self.q_rope = self.k_rope = None
        if rope is not None:
            sin, cos = rope
            if sin.shape != (n_tokens - attn.num_prefix_tokens, hd):
                raise UnsupportedModuleError(
                    f"unsupported setting at '{name}': rope table of shape {tuple(sin.shape)} for "
                    f"{n_tokens - attn.num_prefix_tokens} patch tokens of head_dim {hd}")
            half = bool(getattr(attn, "rotate_half", False))
            self.q_rope = SpikingRope(f"{name}.q_rope", qsrc, sin, cos, attn.num_prefix_tokens, half)
            self.k_rope = SpikingRope(f"{name}.k_rope", ksrc, sin, cos, attn.num_prefix_tokens, half)
            qsrc, ksrc = self.q_rope.out, self.k_rope.out
        self.scores = Population(f"{name}.scores", "identity", kind="matmul_qk", fan_in=3 * hd)
        self.qk = Product(f"{name}.qk", qsrc, ksrc, self.scores, matmul=True)
        self.softmax = SpikingSoftmax(f"{name}.softmax", self.scores, n_tokens, use_max=softmax_max)
        self.context = Population(f"{name}.context", "identity", kind="matmul_av", fan_in=3 * n_tokens)
        self.av = Product(f"{name}.av", self.softmax.out, self.v.out, self.context, matmul=True)
        proj_src = self.context
        onorm = claims.layernorm(f"{name}.norm", attn.norm)
        self.norm = None
        if onorm is not None:
            self.norm = SpikingLayerNorm(f"{name}.norm", self.context, onorm.weight, onorm.bias, onorm.eps, inner)
            proj_src = self.norm.out
        lp = claims.linear(f"{name}.proj", attn.proj)
        self.proj = linear_with_gamma(f"{name}.proj", as_f64(lp.weight), as_f64(lp.bias), gamma)
        self.proj_src = proj_src
        # (energy row, population whose spikes feed it) for the measured firing rates
        rows = ([(f"{name}.qkv", src)] if attn.qkv is not None else
                [(f"{name}.q_proj", src), (f"{name}.k_proj", src), (f"{name}.v_proj", src)])
        if rope is not None:
            rows += [(f"{name}.q_rope", self.q_rope.src), (f"{name}.k_rope", self.k_rope.src)]
        rows.append((f"{name}.proj", proj_src))
        self.rate_rows = rows


# --------------------------------------------------------------------------
# MLPs: Mlp, GluMlp, SwiGLU
# --------------------------------------------------------------------------

class SpikingEvaMlp(nn.Module):
    """timm ``Mlp`` / ``GluMlp`` / ``SwiGLU`` with an optional LayerNorm inside.

    Plain: fc1 -> activation neuron (Corollary 4.5) -> [norm] -> fc2.
    Gated (GluMlp, SwiGLU): the gate and value halves of fc1 are two layers
    of identity neurons (each with its own range); the gate goes through the
    activation neuron (SiLU, eq. 16), ``act(g) * x`` through the elementwise
    multiplication network (Section 4.3.4, eqs. 24-27, one layer-I neuron
    per element), then [norm] (eqs. 21-23) and fc2. ``gamma`` (EvaBlock's
    ``gamma_2``) is folded into fc2.
    """

    def __init__(self, name: str, mlp, claims: ModuleClaims, src: Population, gamma):
        super().__init__()
        _, _, tmlp, _ = _eva_types()
        claims.claim(name, mlp)
        claims.identity(f"{name}.drop1", getattr(mlp, "drop1", None))
        claims.identity(f"{name}.drop2", getattr(mlp, "drop2", None))
        kind = type(mlp)
        rows = []
        if kind is tmlp.Mlp:
            fc1 = claims.linear(f"{name}.fc1", mlp.fc1)
            self.gated = False
            self.fc1 = SpikingLinear(f"{name}.fc1", as_f64(fc1.weight), as_f64(fc1.bias))
            claims.claim(f"{name}.act", mlp.act, recurse=True)
            self.act = SpikingActivation(f"{name}.act", activation_neuron(f"{name}.act", mlp.act), self.fc1.out)
            hidden_src = self.act.out
            hidden = fc1.out_features
            rows.append((f"{name}.fc1", src))
        elif kind in (tmlp.GluMlp, tmlp.SwiGLU):
            self.gated = True
            if kind is tmlp.GluMlp:
                fc1 = claims.linear(f"{name}.fc1", mlp.fc1)
                W, B = as_f64(fc1.weight), as_f64(fc1.bias)
                hidden = fc1.out_features // 2
                first = (W[:hidden], None if B is None else B[:hidden])
                second = (W[hidden:], None if B is None else B[hidden:])
                # gate_last: x1 * act(x2), else act(x1) * x2 (timm GluMlp.forward)
                (Wg, Bg), (Wx, Bx) = (second, first) if mlp.gate_last else (first, second)
                gname, xname = f"{name}.fc1.gate", f"{name}.fc1.value"
                rows.append((f"{name}.fc1", src))
            else:
                lg = claims.linear(f"{name}.fc1_g", mlp.fc1_g)
                lx = claims.linear(f"{name}.fc1_x", mlp.fc1_x)
                Wg, Bg, Wx, Bx = as_f64(lg.weight), as_f64(lg.bias), as_f64(lx.weight), as_f64(lx.bias)
                hidden = lg.out_features
                gname, xname = f"{name}.fc1_g", f"{name}.fc1_x"
                rows += [(f"{name}.fc1_g", src), (f"{name}.fc1_x", src)]
            self.fc1_g = SpikingLinear(gname, Wg, Bg)
            self.fc1_x = SpikingLinear(xname, Wx, Bx)
            claims.claim(f"{name}.act", mlp.act, recurse=True)
            self.act = SpikingActivation(f"{name}.act", activation_neuron(f"{name}.act", mlp.act), self.fc1_g.out)
            self.mul_out = Population(f"{name}.mul", "identity", kind="product", fan_in=3)
            self.mul = Product(f"{name}.mul", self.act.out, self.fc1_x.out, self.mul_out, matmul=False)
            hidden_src = self.mul_out
        else:
            raise UnsupportedModuleError(
                f"unsupported module at '{name}': {typename(mlp)} (supported: timm Mlp, GluMlp, SwiGLU)")
        mnorm = claims.layernorm(f"{name}.norm", getattr(mlp, "norm", None))
        self.norm = None
        if mnorm is not None:
            self.norm = SpikingLayerNorm(f"{name}.norm", hidden_src, mnorm.weight, mnorm.bias, mnorm.eps, hidden)
            hidden_src = self.norm.out
        fc2 = claims.linear(f"{name}.fc2", mlp.fc2)
        self.fc2 = linear_with_gamma(f"{name}.fc2", as_f64(fc2.weight), as_f64(fc2.bias), gamma)
        rows.append((f"{name}.fc2", hidden_src))
        self.rate_rows = rows
        self.out = self.fc2.out

    def forward(self, x, ctx: Ctx):
        if self.gated:
            g = self.act(self.fc1_g(x, ctx), ctx)
            h = self.mul(g, self.fc1_x(x, ctx), ctx)
        else:
            h = self.act(self.fc1(x, ctx), ctx)
        if self.norm is not None:
            h = self.norm(h, ctx)
        return self.fc2(h, ctx)


# --------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------

class SpikingEvaBlock(nn.Module):
    """``EvaBlock`` (pre-norm): x + gamma_1 attn(norm1(x)), x + gamma_2 mlp(norm2(x)).

    ``EvaBlockPostNorm`` (``post_norm=True``): x + norm1(attn(x)), x + norm2(mlp(x)).
    The residual additions are identity neurons with the block input arriving
    through a synaptic delay (docs/design.md).
    """

    def __init__(self, name: str, blk, claims: ModuleClaims, src: Population, n_tokens: int, rope, softmax_max: bool):
        super().__init__()
        teva = _eva_types()[0]
        kind = type(blk)
        if kind not in (teva.EvaBlock, teva.EvaBlockPostNorm):
            raise UnsupportedModuleError(
                f"unsupported module at '{name}': {typename(blk)} (supported: EvaBlock, EvaBlockPostNorm)")
        claims.claim(name, blk)
        claims.identity(f"{name}.drop_path1", blk.drop_path1)
        claims.identity(f"{name}.drop_path2", blk.drop_path2)
        self.post_norm = kind is teva.EvaBlockPostNorm
        dim = blk.norm1.normalized_shape[0] if isinstance(blk.norm1, nn.LayerNorm) else None
        n1 = claims.layernorm(f"{name}.norm1", blk.norm1)
        n2 = claims.layernorm(f"{name}.norm2", blk.norm2)
        if n1 is None or n2 is None:
            raise UnsupportedModuleError(f"unsupported setting at '{name}': a block without norm1/norm2")
        g1 = getattr(blk, "gamma_1", None)
        g2 = getattr(blk, "gamma_2", None)
        if self.post_norm:
            self.attn = SpikingEvaAttention(f"{name}.attn", blk.attn, claims, src, n_tokens, rope, None, softmax_max)
            self.norm1 = SpikingLayerNorm(f"{name}.norm1", self.attn.proj.out, n1.weight, n1.bias, n1.eps, dim)
            self.res1 = Population(f"{name}.residual1", "identity", kind="residual", fan_in=2)
            self.mlp = SpikingEvaMlp(f"{name}.mlp", blk.mlp, claims, self.res1, None)
            self.norm2 = SpikingLayerNorm(f"{name}.norm2", self.mlp.out, n2.weight, n2.bias, n2.eps, dim)
        else:
            self.norm1 = SpikingLayerNorm(f"{name}.norm1", src, n1.weight, n1.bias, n1.eps, dim)
            self.attn = SpikingEvaAttention(f"{name}.attn", blk.attn, claims, self.norm1.out, n_tokens, rope, g1,
                                            softmax_max)
            self.res1 = Population(f"{name}.residual1", "identity", kind="residual", fan_in=2)
            self.norm2 = SpikingLayerNorm(f"{name}.norm2", self.res1, n2.weight, n2.bias, n2.eps, dim)
            self.mlp = SpikingEvaMlp(f"{name}.mlp", blk.mlp, claims, self.norm2.out, g2)
        self.res2 = Population(f"{name}.residual2", "identity", kind="residual", fan_in=2)
        self.rate_rows = self.attn.rate_rows + self.mlp.rate_rows

    def forward(self, x, ctx: Ctx):
        if self.post_norm:
            x = self.res1.emit(x + self.norm1(self.attn(x, ctx), ctx), ctx, fresh=True)
            return self.res2.emit(x + self.norm2(self.mlp(x, ctx), ctx), ctx, fresh=True)
        x = self.res1.emit(x + self.attn(self.norm1(x, ctx), ctx), ctx, fresh=True)
        return self.res2.emit(x + self.mlp(self.norm2(x, ctx), ctx), ctx, fresh=True)


# --------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------

def _rope_table(eva, claims: ModuleClaims, n_patches: int, tpos):
    """EVA-02's fixed-grid rotary embedding as (sin, cos) tables in float64 (claimed), None without one."""
    if eva.rope is None:
        return None
    if getattr(eva, "rope_mixed", False) or type(eva.rope) is not tpos.RotaryEmbeddingCat:
        raise UnsupportedModuleError(
            f"unsupported module at 'rope': {typename(eva.rope)} (supported: RotaryEmbeddingCat, "
            "the fixed-grid rotary embedding of EVA-02)")
    table = getattr(eva.rope, "pos_embed", None)
    if table is None or table.shape[0] != n_patches:
        raise UnsupportedModuleError(
            "unsupported setting at 'rope': no cached sin/cos table for the model's patch grid")
    claims.claim("rope", eva.rope, recurse=True)
    sin, cos = table.detach().to(torch.float64).chunk(2, -1)
    return sin, cos


class SpikingEva(SpikingVisionTransformer):
    """The spiking counterpart of a timm ``Eva`` (EVA, EVA-02).

    Same interface as :class:`~ttfs_symbolic.families.vit.SpikingViT`:
    ``snn(images, mode="exact" | "quantized" | "kernel", precision=p,
    dtype=...)`` returns the decoded logits; :meth:`predict` the earliest
    output spike (Appendix A.2); :meth:`spike_rates_for_energy` the measured
    firing rates keyed by the rows of :func:`ttfs_symbolic.energy.count_ops`.
    """

    def __init__(self, eva, softmax_max: bool = True):
        super().__init__()
        teva, tl, tmlp, tpos = _eva_types()
        if not isinstance(eva, teva.Eva) or type(eva) is not teva.Eva:
            raise UnsupportedModuleError(f"unsupported model: {typename(eva)} is not a timm Eva")
        claims = ModuleClaims(eva)
        if getattr(eva, "dynamic_img_size", False):
            raise UnsupportedModuleError("unsupported setting: dynamic_img_size=True")
        if eva.global_pool not in ("token", "avg"):
            raise UnsupportedModuleError(
                f"unsupported pooling global_pool={eva.global_pool!r} (supported: 'token', 'avg')")
        if getattr(eva, "attn_pool", None) is not None:
            raise UnsupportedModuleError(
                f"unsupported module at 'attn_pool': {typename(eva.attn_pool)} (attention pooling)")
        pe = eva.patch_embed
        if type(pe) is not tl.PatchEmbed or type(pe.proj) is not nn.Conv2d:
            raise UnsupportedModuleError(f"unsupported module at 'patch_embed': {typename(pe)}")
        proj = pe.proj
        if (tuple(proj.kernel_size) != tuple(proj.stride) or tuple(proj.padding) != (0, 0)
                or proj.groups != 1 or tuple(proj.dilation) != (1, 1) or getattr(pe, "dynamic_img_pad", False)):
            raise UnsupportedModuleError("unsupported module at 'patch_embed.proj': not a non-overlapping patch conv")
        claims.claim("patch_embed", pe)
        claims.claim("patch_embed.proj", proj)
        claims.identity("patch_embed.norm", pe.norm)
        claims.identity("pos_drop", eva.pos_drop)
        pdrop = getattr(eva, "patch_drop", None)
        if pdrop is not None:
            if pdrop.training:
                raise UnsupportedModuleError("unsupported setting at 'patch_drop': patch dropout in training mode")
            claims.claim("patch_drop", pdrop, recurse=True)  # returns its input unchanged in eval
        claims.identity("head_drop", eva.head_drop)

        self.global_pool = eva.global_pool
        self.num_prefix = eva.num_prefix_tokens
        self.no_embed_class = eva.no_embed_class
        self.softmax_max = softmax_max
        self.img_size = tuple(pe.img_size)
        self.in_chans = proj.in_channels
        n_patches = pe.num_patches
        n_tokens = n_patches + self.num_prefix
        self.patch_stride = proj.stride
        self.patch_padding = proj.padding
        self.patch_w = nn.Parameter(proj.weight.detach().clone(), requires_grad=False)
        self.patch_b = None if proj.bias is None else nn.Parameter(proj.bias.detach().clone(), requires_grad=False)
        prefix = [t.detach() for t in (eva.cls_token, getattr(eva, "reg_token", None)) if t is not None]
        self.prefix = nn.Parameter(torch.cat(prefix, dim=1).clone(), requires_grad=False) if prefix else None
        self.pos = None if eva.pos_embed is None else nn.Parameter(eva.pos_embed.detach().clone(),
                                                                   requires_grad=False)
        rope = _rope_table(eva, claims, n_patches, tpos)

        self.input = Population("input", "identity", kind="input", fan_in=0)
        self.embed = Population("patch_embed", "identity", kind="patch_embed",
                                fan_in=self.in_chans * proj.kernel_size[0] * proj.kernel_size[1])
        src = self.embed
        dim = eva.embed_dim
        npre = claims.layernorm("norm_pre", eva.norm_pre)
        self.norm_pre = None
        if npre is not None:
            self.norm_pre = SpikingLayerNorm("norm_pre", src, npre.weight, npre.bias, npre.eps, dim)
            src = self.norm_pre.out
        claims.claim("blocks", eva.blocks)
        blocks = []
        for i, blk in enumerate(eva.blocks):
            sb = SpikingEvaBlock(f"blocks.{i}", blk, claims, src, n_tokens, rope, softmax_max)
            blocks.append(sb)
            src = sb.res2
        self.blocks = nn.ModuleList(blocks)
        norm = claims.layernorm("norm", eva.norm)
        self.norm = None
        if norm is not None:
            self.norm = SpikingLayerNorm("norm", src, norm.weight, norm.bias, norm.eps, dim)
            src = self.norm.out
        self.pool = None
        if self.global_pool == "avg":
            self.pool = Population("pool", "identity", kind="pool", fan_in=n_patches)
            src = self.pool
        fc_norm = claims.layernorm("fc_norm", eva.fc_norm)
        self.fc_norm = None
        if fc_norm is not None:
            self.fc_norm = SpikingLayerNorm("fc_norm", src, fc_norm.weight, fc_norm.bias, fc_norm.eps, dim)
            src = self.fc_norm.out
        if isinstance(eva.head, nn.Linear):
            claims.linear("head", eva.head)
            self.head = SpikingLinear("head", eva.head.weight, eva.head.bias, kind="head")
            self._head_src = src
        else:
            claims.identity("head", eva.head)
            self.head = None
            self._head_src = None
        claims.check_complete()
        self.num_classes = eva.num_classes
        self.n_tokens = n_tokens

    def residual_synapses_unsupported(self) -> str | None:
        """Why ``residual="synapses"`` cannot carry this model's sums (None: it can): post-norm blocks'
        sums feed the next attention and MLP, not a LayerNorm; so does the last sum without a final norm."""
        if any(b.post_norm for b in self.blocks):
            return "its blocks are post-norm (EvaBlockPostNorm): a sum feeds the next attention, not a LayerNorm"
        if self.norm is None and self.pool is None:
            return "the last block's sum feeds the head directly (no final LayerNorm and no average pool)"
        return None

    def spike_rates_for_energy(self) -> dict[str, float]:
        """Measured firing rate of the input of each linear (and RoPE) row of ``count_ops``.

        A linear layer costs one accumulate per input spike per outgoing
        synapse, so its static count is scaled by the rate at which its input
        layer fired (run the model with ``record=True`` first).
        """
        rates = self.value_rates()
        pairs = [("patch_embed.proj", self.input)]
        for blk in self.blocks:
            pairs += blk.rate_rows
        if self.head is not None:
            pairs.append(("head", self._head_src))
        return {row: rates[pop.pname] for row, pop in pairs if pop.pname in rates}


# ---- model family (ttfs_symbolic.conversion.registry) --------------------------

register_family("eva", is_eva, SpikingEva, "timm Eva (EVA, EVA-02)")
