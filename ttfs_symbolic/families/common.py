"""What the model families share: folding constants in float64, identity checks, and the ViT-style model.

:class:`SpikingVisionTransformer` is the forward pass of timm's
``VisionTransformer`` (embedding, prefix tokens and positions, blocks, final
norm, pooling, head) that :class:`~.vit.SpikingViT`, :class:`~.eva.SpikingEva`
and the distilled DeiT share.
"""
from __future__ import annotations

import torch
from torch import nn

from ..conversion.claims import is_identity
from ..conversion.errors import UnsupportedModuleError
from ..energy import count_ops
from ..spiking import Ctx, SpikingLinear, SpikingModel
from ..spiking.model import structure


def as_f64(t):
    """A detached float64 copy (None stays None): constants are folded into weights in float64.

    Folding the attention scale or a LayerScale gamma into a weight (Theorem
    4.1, eq. 8: constants go into the weights and into C) in the ANN's float32
    would round every product W*gamma; in float64 the product of two float32
    numbers is exact, so a float64 run of the spiking model stays lossless.
    The folded weights are kept in float64 and cast to the run's dtype.
    """
    return None if t is None else t.detach().to(torch.float64)


def linear_with_gamma(name: str, weight, bias, gamma=None) -> SpikingLinear:
    """A linear layer with a per-output-channel constant (LayerScale gamma) folded
    into its weights and bias in float64 (eq. 8; see :func:`as_f64`)."""
    W = weight.detach()
    B = None if bias is None else bias.detach()
    if gamma is not None:
        g = as_f64(gamma)
        W = as_f64(W) * g[:, None]
        B = None if B is None else as_f64(B) * g
    return SpikingLinear(name, W, B)


def attention_scale(path: str, attn) -> float:
    """The scale the ANN's attention applies to q k^T: ``attn.scale``. timm's fused path (``fused_attn``)
    calls scaled_dot_product_attention without it, which uses head_dim**-0.5 whatever ``attn.scale`` holds:
    a changed scale there is refused, since the model's two paths disagree and the converter would follow
    neither for sure."""
    scale = float(attn.scale)
    default = float(attn.head_dim) ** -0.5
    if getattr(attn, "fused_attn", False) and abs(scale - default) > 1e-12 * default:
        raise UnsupportedModuleError(
            f"unsupported setting at '{path}.scale': {scale:g} with fused_attn=True, whose "
            f"scaled_dot_product_attention ignores attn.scale and uses head_dim**-0.5 = {default:g}; set "
            f"{path}.fused_attn = False (timm then applies the scale) or restore the scale")
    return scale


def require_identity(path: str, m):
    if not is_identity(m):
        raise UnsupportedModuleError(
            f"unsupported module at '{path}': {type(m).__module__}.{type(m).__name__} "
            "has no spiking counterpart in this position")


def layernorm_or_none(path: str, m):
    if isinstance(m, nn.LayerNorm):
        if len(m.normalized_shape) != 1:
            raise UnsupportedModuleError(f"unsupported LayerNorm at '{path}': normalized over {m.normalized_shape}")
        return m
    require_identity(path, m)
    return None


class SpikingVisionTransformer(SpikingModel):
    """An image model laid out as timm's ``VisionTransformer``: the forward pass its families share.

    Subclasses build ``input``, ``embed`` (the patch embedding's identity
    neurons), ``patch_w``/``patch_b``/``patch_stride``/``patch_padding``,
    ``prefix``, ``pos``, ``no_embed_class``, ``norm_pre``, ``blocks``,
    ``norm``, ``global_pool``, ``pool``, ``num_prefix``, ``fc_norm`` and ``head``.
    """

    @property
    def classifier(self) -> bool:
        """True with a classification head; a backbone (``num_classes=0``, DINOv2) outputs features, which
        :func:`~ttfs_symbolic.evaluation.report.evaluate` compares by cosine and nearest items, not by argmax."""
        return getattr(self, "head", None) is not None

    def residual_synapses_unsupported(self) -> str | None:
        """Why ``residual="synapses"`` cannot carry this model's sums (None: it can).

        Every sum of a pre-norm block feeds a LayerNorm (norm2, the next norm1,
        the final norm), whose mean and centred neurons then receive the summands;
        without a final norm the last sum feeds the average pool's identity neurons.
        """
        if self.norm is None and self.pool is None:
            return "the last block's sum feeds the head directly (no final LayerNorm and no average pool)"
        return None

    def count_energy(self, ann, length: int = 0):
        """:func:`~ttfs_symbolic.energy.count_ops` of the source model with the measured firing rates."""
        return count_ops(ann, spike_rates=self.spike_rates_for_energy(), **structure(self))

    def run(self, images, ctx: Ctx):
        return self.classify(self.encode(self.embed_tokens(images, ctx), ctx), ctx)

    def embed_tokens(self, images, ctx: Ctx):
        """The patch embedding's identity neurons: patches, prefix tokens and positions (in C)."""
        x = self.input.emit(images, ctx)
        V = torch.nn.functional.conv2d(x, self.patch_w.to(x.dtype),
                                       None if self.patch_b is None else self.patch_b.to(x.dtype),
                                       stride=self.patch_stride, padding=self.patch_padding)
        V = V.flatten(2).transpose(1, 2)
        Bn = V.shape[0]
        pos = None if self.pos is None else self.pos.to(V.dtype)
        pre = None if self.prefix is None else self.prefix.to(V.dtype).expand(Bn, -1, -1)
        if self.no_embed_class:
            if pos is not None:
                V = V + pos
            if pre is not None:
                V = torch.cat([pre, V], dim=1)
        else:
            if pre is not None:
                V = torch.cat([pre, V], dim=1)
            if pos is not None:
                V = V + pos
        return self.embed.emit(V, ctx, fresh=True)

    def encode(self, x, ctx: Ctx):
        """The blocks (after ``norm_pre``)."""
        if self.norm_pre is not None:
            x = self.norm_pre(x, ctx)
        for blk in self.blocks:
            x = blk(x, ctx)
        return x

    def classify(self, x, ctx: Ctx):
        """Final norm, pooling (class token or average), ``fc_norm`` and head."""
        if self.norm is not None:
            x = self.norm(x, ctx)
        if self.global_pool == "avg":
            x = self.pool.emit(x[:, self.num_prefix:].mean(1), ctx, fresh=True)
        else:
            x = x[:, 0]
        if self.fc_norm is not None:
            x = self.fc_norm(x, ctx)
        if self.head is not None:
            x = self.head(x, ctx)
        return x
