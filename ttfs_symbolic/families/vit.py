"""A timm VisionTransformer as a TTFS spiking network (Section 4.3, Algorithm 1).

:class:`SpikingViT` mirrors timm's ``VisionTransformer.forward`` layer by
layer with the spiking layers of :mod:`ttfs_symbolic.spiking`. Every
module of the source model is checked first: one that has no spiking
counterpart stops the conversion with an error that names the module and its
type; nothing silently stays an ANN operation.
"""
from __future__ import annotations

import torch
from torch import nn

from ..conversion.activations import activation_neuron
from ..conversion.claims import is_identity, refuse_unlisted, typename
from ..conversion.errors import UnsupportedModuleError
from ..conversion.registry import register_family
from ..spiking import Ctx, Population, Product, SpikingActivation, SpikingLayerNorm, SpikingLinear, SpikingSoftmax
from ..spiking.attention import AttentionCore
from .common import SpikingVisionTransformer, as_f64, attention_scale, layernorm_or_none, linear_with_gamma, require_identity


def _timm():
    # timm loads on first use (start-up time)
    import timm.layers  # timm: imported when a ViT is converted, not when the package is
    import timm.models.vision_transformer as tvit

    return timm, tvit


ALLOWED_TYPES = (
    "VisionTransformer", "PatchEmbed", "Conv2d", "Identity", "Dropout", "DropPath", "LayerNorm", "Linear",
    "GELU", "SiLU", "ReLU", "Sequential", "ModuleList", "Block", "Attention", "Mlp", "LayerScale",
)


#: torch modules taken as they are (exact types: a subclass may override forward)
_TORCH_TYPES = (nn.Linear, nn.LayerNorm, nn.Conv2d, nn.Dropout, nn.Identity, nn.Sequential, nn.ModuleList,
                nn.GELU, nn.SiLU, nn.ReLU)


def check_supported(model: nn.Module) -> None:
    """Raise UnsupportedModuleError naming the first module with no spiking counterpart
    (:func:`~ttfs_symbolic.conversion.claims.refuse_unlisted`; registered activations are supported)."""

    def allowed(path, m):
        if isinstance(m, nn.Conv2d) and not path.endswith("patch_embed.proj"):
            return "a Conv2d outside the patch embedding"
        cls = type(m)
        if cls in _TORCH_TYPES or (cls.__name__ in ALLOWED_TYPES and cls.__module__.split(".")[0] == "timm"):
            return True
        for base in (nn.Linear, nn.LayerNorm, nn.Conv2d):   # a subclass's own forward would be ignored
            if isinstance(m, base):
                return (f"{typename(m)} subclasses torch.nn.{base.__name__}, and its forward may compute something "
                        f"else, which the converter cannot see (use torch.nn.{base.__name__} itself"
                        + (" or timm.layers.LayerNorm)" if base is nn.LayerNorm else ")"))
        return False

    refuse_unlisted(model, allowed, "supported: " + ", ".join(ALLOWED_TYPES) +
                    ", and registered activations: ttfs_symbolic.register_activation")


class SpikingAttention(AttentionCore):
    """Multi-head self-attention: q, k, v linear, Q K^T and attn V products, softmax, proj."""

    def __init__(self, name: str, attn, ls, src: Population, n_tokens: int, softmax_max: bool):
        super().__init__()
        require_identity(f"{name}.attn_drop", attn.attn_drop)
        require_identity(f"{name}.proj_drop", attn.proj_drop)
        if getattr(attn, "gate", None) is not None:
            raise UnsupportedModuleError(f"unsupported module at '{name}.gate': gated attention")
        if not is_identity(getattr(attn, "norm", None)):
            raise UnsupportedModuleError(f"unsupported module at '{name}.norm': a norm inside attention")
        self.h = attn.num_heads
        self.hd = attn.head_dim
        W = attn.qkv.weight.detach()
        B = attn.qkv.bias.detach() if attn.qkv.bias is not None else None
        inner = self.h * self.hd
        Wq, Wk, Wv = W[:inner], W[inner:2 * inner], W[2 * inner:]
        Bq, Bk, Bv = (None, None, None) if B is None else (B[:inner], B[inner:2 * inner], B[2 * inner:])
        self.q_norm = layernorm_or_none(f"{name}.q_norm", attn.q_norm)
        self.k_norm = layernorm_or_none(f"{name}.k_norm", attn.k_norm)
        scale = attention_scale(name, attn)
        if self.q_norm is None:
            # the attention scale folded into the weights of q (eq. 8), in float64 (_f64)
            Wq = as_f64(Wq) * scale
            Bq = None if Bq is None else as_f64(Bq) * scale
        self.q = SpikingLinear(f"{name}.q", Wq, Bq)
        self.k = SpikingLinear(f"{name}.k", Wk, Bk)
        self.v = SpikingLinear(f"{name}.v", Wv, Bv)
        self.sq = self.sk = None
        qsrc, ksrc = self.q.out, self.k.out
        if self.q_norm is not None:
            # the scale folded into q_norm's affine (layer II of its product), in float64
            w = as_f64(self.q_norm.weight) * scale if self.q_norm.weight is not None else \
                torch.full((self.hd,), scale, dtype=torch.float64)
            b = as_f64(self.q_norm.bias) * scale if self.q_norm.bias is not None else None
            self.sq = SpikingLayerNorm(f"{name}.q_norm", self.q.out, w, b, self.q_norm.eps, self.hd)
            qsrc = self.sq.out
        if self.k_norm is not None:
            self.sk = SpikingLayerNorm(f"{name}.k_norm", self.k.out, self.k_norm.weight, self.k_norm.bias,
                                       self.k_norm.eps, self.hd)
            ksrc = self.sk.out
        self.scores = Population(f"{name}.scores", "identity", kind="matmul_qk", fan_in=3 * self.hd)
        self.qk = Product(f"{name}.qk", qsrc, ksrc, self.scores, matmul=True)
        self.softmax = SpikingSoftmax(f"{name}.softmax", self.scores, n_tokens, use_max=softmax_max)
        self.context = Population(f"{name}.context", "identity", kind="matmul_av", fan_in=3 * n_tokens)
        self.av = Product(f"{name}.av", self.softmax.out, self.v.out, self.context, matmul=True)
        gamma = None if ls is None or is_identity(ls) else ls.gamma   # LayerScale, folded into proj
        self.proj = linear_with_gamma(f"{name}.proj", attn.proj.weight, attn.proj.bias, gamma)


class SpikingBlock(nn.Module):
    def __init__(self, name: str, blk, src: Population, n_tokens: int, softmax_max: bool):
        super().__init__()
        for attr in ("drop_path1", "drop_path2"):
            if hasattr(blk, attr):
                require_identity(f"{name}.{attr}", getattr(blk, attr)) if not type(getattr(blk, attr)).__name__ == "DropPath" else None
        dim = blk.norm1.normalized_shape[0]
        self.norm1 = SpikingLayerNorm(f"{name}.norm1", src, blk.norm1.weight, blk.norm1.bias, blk.norm1.eps, dim)
        self.attn = SpikingAttention(f"{name}.attn", blk.attn, blk.ls1, self.norm1.out, n_tokens, softmax_max)
        self.res1 = Population(f"{name}.residual1", "identity", kind="residual", fan_in=2)
        self.norm2 = SpikingLayerNorm(f"{name}.norm2", self.res1, blk.norm2.weight, blk.norm2.bias, blk.norm2.eps, dim)
        mlp = blk.mlp
        if not hasattr(mlp, "fc1") or not isinstance(mlp.fc1, nn.Linear):
            raise UnsupportedModuleError(f"unsupported module at '{name}.mlp': {type(mlp).__name__}")
        require_identity(f"{name}.mlp.drop1", getattr(mlp, "drop1", None))
        require_identity(f"{name}.mlp.drop2", getattr(mlp, "drop2", None))
        self.fc1 = SpikingLinear(f"{name}.mlp.fc1", mlp.fc1.weight, mlp.fc1.bias)
        self.act = SpikingActivation(f"{name}.mlp.act", activation_neuron(f"{name}.mlp.act", mlp.act), self.fc1.out)
        mnorm = layernorm_or_none(f"{name}.mlp.norm", getattr(mlp, "norm", None))
        self.mlp_norm = None
        if mnorm is not None:
            self.mlp_norm = SpikingLayerNorm(f"{name}.mlp.norm", self.act.out, mnorm.weight, mnorm.bias, mnorm.eps,
                                             mlp.fc1.out_features)
        gamma = None if is_identity(blk.ls2) else blk.ls2.gamma   # LayerScale, folded into fc2
        self.fc2 = linear_with_gamma(f"{name}.mlp.fc2", mlp.fc2.weight, mlp.fc2.bias, gamma)
        self.res2 = Population(f"{name}.residual2", "identity", kind="residual", fan_in=2)

    def forward(self, x, ctx: Ctx):
        x = self.res1.emit(x + self.attn(self.norm1(x, ctx), ctx), ctx, fresh=True)
        h = self.act(self.fc1(self.norm2(x, ctx), ctx), ctx)
        if self.mlp_norm is not None:
            h = self.mlp_norm(h, ctx)
        return self.res2.emit(x + self.fc2(h, ctx), ctx, fresh=True)


class SpikingViT(SpikingVisionTransformer):
    """The spiking counterpart of a timm VisionTransformer.

    Call as ``snn(images, mode="exact" | "quantized" | "kernel", precision=p,
    dtype=torch.float64)``; it returns the decoded logits (the values of the
    head's output spikes). ``mode`` defaults to exact; a ``precision`` without a mode is refused
    (:func:`~ttfs_symbolic.numeric.dynamics.check_mode`). The prediction is the earliest output spike, i.e.
    the largest decoded logit (Appendix A.2): :meth:`predict`.
    """

    def __init__(self, vit, softmax_max: bool = True):
        super().__init__()
        _, tvit = _timm()
        if not isinstance(vit, tvit.VisionTransformer):
            raise UnsupportedModuleError(
                f"unsupported model: {type(vit).__module__}.{type(vit).__name__} is not a timm VisionTransformer")
        check_supported(vit)
        if getattr(vit, "dynamic_img_size", False):
            raise UnsupportedModuleError("unsupported setting: dynamic_img_size=True")
        if getattr(vit.patch_embed, "dynamic_img_pad", False):   # (as for Eva: timm pads images to whole patches)
            raise UnsupportedModuleError("unsupported setting: dynamic_img_pad=True")
        if vit.global_pool not in ("token", "avg"):
            raise UnsupportedModuleError(f"unsupported pooling global_pool={vit.global_pool!r} (supported: 'token', 'avg')")
        if getattr(vit, "pool_include_prefix", False):
            raise UnsupportedModuleError("unsupported setting: pool_include_prefix=True")
        pe = vit.patch_embed
        require_identity("patch_embed.norm", pe.norm)
        self.global_pool = vit.global_pool
        self.num_prefix = vit.num_prefix_tokens
        self.no_embed_class = vit.no_embed_class
        self.softmax_max = softmax_max
        self.img_size = tuple(pe.img_size)
        self.in_chans = pe.proj.in_channels
        n_tokens = pe.num_patches + self.num_prefix
        self.patch_stride = pe.proj.stride
        self.patch_padding = pe.proj.padding
        self.patch_w = nn.Parameter(pe.proj.weight.detach().clone(), requires_grad=False)
        self.patch_b = None if pe.proj.bias is None else nn.Parameter(pe.proj.bias.detach().clone(), requires_grad=False)
        prefix = []
        if vit.cls_token is not None:
            prefix.append(vit.cls_token.detach())
        if getattr(vit, "reg_token", None) is not None:
            prefix.append(vit.reg_token.detach())
        self.prefix = nn.Parameter(torch.cat(prefix, dim=1).clone(), requires_grad=False) if prefix else None
        self.pos = None if vit.pos_embed is None else nn.Parameter(vit.pos_embed.detach().clone(), requires_grad=False)
        require_identity("patch_drop", vit.patch_drop)
        require_identity("pos_drop", vit.pos_drop)
        require_identity("head_drop", vit.head_drop)

        self.input = Population("input", "identity", kind="input", fan_in=0)
        self.embed = Population("patch_embed", "identity", kind="patch_embed",
                                fan_in=self.in_chans * pe.proj.kernel_size[0] * pe.proj.kernel_size[1])
        src = self.embed
        norm_pre = layernorm_or_none("norm_pre", vit.norm_pre)
        self.norm_pre = None
        dim = vit.embed_dim
        if norm_pre is not None:
            self.norm_pre = SpikingLayerNorm("norm_pre", src, norm_pre.weight, norm_pre.bias, norm_pre.eps, dim)
            src = self.norm_pre.out
        blocks = []
        for i, blk in enumerate(vit.blocks):
            if type(blk).__name__ != "Block":
                raise UnsupportedModuleError(f"unsupported module at 'blocks.{i}': {type(blk).__name__}")
            sb = SpikingBlock(f"blocks.{i}", blk, src, n_tokens, softmax_max)
            blocks.append(sb)
            src = sb.res2
        self.blocks = nn.ModuleList(blocks)
        norm = layernorm_or_none("norm", vit.norm)
        self.norm = None if norm is None else SpikingLayerNorm("norm", src, norm.weight, norm.bias, norm.eps, dim)
        if self.norm is not None:
            src = self.norm.out
        self.pool = None
        if self.global_pool == "avg":
            self.pool = Population("pool", "identity", kind="pool", fan_in=n_tokens - self.num_prefix)
            src = self.pool
        fc_norm = layernorm_or_none("fc_norm", vit.fc_norm)
        self.fc_norm = None if fc_norm is None else SpikingLayerNorm("fc_norm", src, fc_norm.weight, fc_norm.bias,
                                                                     fc_norm.eps, dim)
        if self.fc_norm is not None:
            src = self.fc_norm.out
        if isinstance(vit.head, nn.Linear):
            self.head = SpikingLinear("head", vit.head.weight, vit.head.bias, kind="head")
        else:
            require_identity("head", vit.head)
            self.head = None
        self.num_classes = vit.num_classes
        self.n_tokens = n_tokens

    def spike_rates_for_energy(self) -> dict[str, float]:
        """Measured firing rate of the input of each linear layer, keyed by the energy rows' names.

        A linear layer's synaptic operations are one accumulate per input spike
        per outgoing synapse, so its static count is scaled by the rate at which
        its input layer fired (run the model with ``record=True`` first).
        """
        rates = self.value_rates()
        out = {}
        for blk_i, blk in enumerate(self.blocks):
            pre = f"blocks.{blk_i}"
            if f"{pre}.norm1" in rates:
                out[f"{pre}.attn.qkv"] = rates[f"{pre}.norm1"]
            if f"{pre}.attn.context" in rates:
                out[f"{pre}.attn.proj"] = rates[f"{pre}.attn.context"]
            if f"{pre}.norm2" in rates:
                out[f"{pre}.mlp.fc1"] = rates[f"{pre}.norm2"]
            src = f"{pre}.mlp.norm" if f"{pre}.mlp.norm" in rates else f"{pre}.mlp.act"
            if src in rates:
                out[f"{pre}.mlp.fc2"] = rates[src]
        if "input" in rates:
            out["patch_embed.proj"] = rates["input"]
        for last in ("fc_norm", "pool", "norm"):
            if last in rates and self.head is not None:   # (a feature model, num_classes=0, has no head)
                out["head"] = rates[last]
                break
        return out


# ---- model family (ttfs_symbolic.conversion.registry) ----------------------------

def _is_vit(model) -> bool:
    try:
        _, tvit = _timm()
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, tvit.VisionTransformer)


def _register_family():
    register_family("vit", _is_vit, SpikingViT, "timm VisionTransformer (ViT, DeiT)")


_register_family()
