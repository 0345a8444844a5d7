"""timm ``VisionTransformerDistilled`` (DeiT with a distillation token) as a TTFS spiking network.

:class:`SpikingDeiTDistilled` is :class:`~.vit.SpikingViT` with the
distillation token beside the class token and the two heads averaged into one
layer of identity neurons (Corollaries 4.2, 4.4).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..conversion.claims import is_identity, typename
from ..conversion.errors import UnsupportedModuleError
from ..conversion.registry import register_family
from ..spiking import Ctx, SpikingLinear
from .common import as_f64
from .vit import SpikingViT


def is_deit_distilled(model) -> bool:
    """True for timm's ``VisionTransformerDistilled`` (DeiT with a distillation token)."""
    try:
        # timm loads on first use (start-up time)
        from timm.models.deit import VisionTransformerDistilled
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, VisionTransformerDistilled)



class SpikingDeiTDistilled(SpikingViT):
    """timm ``VisionTransformerDistilled``: SpikingViT plus the distillation token and head.

    The token sequence is ``[cls, dist, patches]`` (both constant spikes of the
    patch-embedding layer, with the position embedding in C). The evaluation
    output ``(head(x[:, 0]) + head_dist(x[:, 1])) / 2`` is one layer of
    identity neurons (Corollaries 4.2, 4.4) with fan-in 2*dim: weights
    ``[W_head / 2, W_dist / 2]`` and the constant ``(b_head + b_dist) / 2``.
    """

    def __init__(self, vit, softmax_max: bool = True):
        # timm loads on first use (start-up time)
        from timm.models.deit import VisionTransformerDistilled
        from timm.models.vision_transformer import VisionTransformer

        if type(vit) is not VisionTransformerDistilled:
            raise UnsupportedModuleError(
                f"unsupported model: {typename(vit)} is not timm's VisionTransformerDistilled")
        if getattr(vit, "reg_token", None) is not None:
            raise UnsupportedModuleError("unsupported setting: register tokens with a distillation token")
        if vit.global_pool != "token":
            raise UnsupportedModuleError(f"unsupported pooling global_pool={vit.global_pool!r} (distilled: 'token')")
        if vit.attn_pool is not None:
            raise UnsupportedModuleError(f"unsupported module at 'attn_pool': {typename(vit.attn_pool)}")
        # SpikingViT checks every submodule of a VisionTransformer; give it a view of the
        # same modules typed as the base class (nothing is copied: the children are shared).
        view = copy.copy(vit)
        view.__class__ = VisionTransformer
        super().__init__(view, softmax_max=softmax_max)
        # forward_head of the distilled model reads x[:, 0] and x[:, 1] after `norm`
        # and never applies fc_norm (Identity for token pooling anyway).
        self.fc_norm = None
        if not is_identity(vit.fc_norm):
            raise UnsupportedModuleError("unsupported module at 'fc_norm': the distilled head does not use it")
        self.prefix = nn.Parameter(torch.cat([vit.cls_token.detach(), vit.dist_token.detach()], dim=1).clone(),
                                   requires_grad=False)
        dim = vit.embed_dim
        h, hd = vit.head, vit.head_dist
        if isinstance(h, nn.Linear) and isinstance(hd, nn.Linear):
            if type(h) is not nn.Linear or type(hd) is not nn.Linear:
                raise UnsupportedModuleError(f"unsupported module at 'head': {typename(h)}")
            W = torch.cat([as_f64(h.weight), as_f64(hd.weight)], dim=1) / 2
            bh = as_f64(h.bias) if h.bias is not None else torch.zeros(h.out_features, dtype=torch.float64)
            bd = as_f64(hd.bias) if hd.bias is not None else torch.zeros(hd.out_features, dtype=torch.float64)
            B = (bh + bd) / 2
        elif is_identity(h) and is_identity(hd):   # a feature model: the energy counts have no head rows
            eye = torch.eye(dim, dtype=torch.float64)
            W, B = torch.cat([eye, eye], dim=1) / 2, None
        else:
            raise UnsupportedModuleError(
                f"unsupported module at 'head_dist': {typename(hd)} beside head {typename(h)}")
        self.head = SpikingLinear("head", W, B, kind="head")
        self.linear_heads = isinstance(h, nn.Linear)

    @property
    def classifier(self) -> bool:
        """True with the two linear heads; without them the output is the mean of the two tokens' features."""
        return self.linear_heads

    def classify(self, x, ctx: Ctx):
        """``(head(x[:, 0]) + head_dist(x[:, 1])) / 2`` after the final norm (one layer, fan-in 2*dim)."""
        src_rows = x
        if self.norm is not None:
            src_rows = self.norm(x, ctx)
        return self.head(torch.cat([src_rows[:, 0], src_rows[:, 1]], dim=-1), ctx)

    def spike_rates_for_energy(self) -> dict[str, float]:
        """As SpikingViT's, plus the distillation head's row (it reads the same tokens' layer)."""
        out = super().spike_rates_for_energy()
        out.pop("head", None)
        rates = self.value_rates()
        last = "norm" if self.norm is not None else self.blocks[-1].res2.pname
        if last in rates:   # identity heads (a feature model): the energy counts' one row "head_avg"
            out.update(dict.fromkeys(("head", "head_dist") if self.linear_heads else ("head_avg",), rates[last]))
        return out


# ---- model family (ttfs_symbolic.conversion.registry) ----------------------------

# a VisionTransformer subclass: tried before the "vit" family
register_family("deit_distilled", is_deit_distilled, SpikingDeiTDistilled,
                "timm VisionTransformerDistilled (DeiT with a distillation token)", priority=10)
