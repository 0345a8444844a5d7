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

from ..conversion.activations import activation_neuron, is_activation
from ..spiking import (Ctx, Population, Product, SpikingActivation, SpikingLayerNorm, SpikingLinear,
                      SpikingSoftmax, finish_call, make_ctx)


class UnsupportedModuleError(ValueError):
    """The source model uses a module (or a setting) with no spiking counterpart."""


def _timm():
    import timm.layers
    import timm.models.vision_transformer as tvit

    return timm, tvit


def _activation_neuron(path: str, act: nn.Module):
    """The activation neuron of ``act`` from the registry (:mod:`ttfs_symbolic.conversion.activations`)."""
    return activation_neuron(path, act)


def _f64(t):
    """A detached float64 copy (None stays None): constants are folded into weights in float64.

    Folding the attention scale or a LayerScale gamma into a weight (Theorem
    4.1, eq. 8: constants go into the weights and into C) in the ANN's float32
    would round every product W*gamma; in float64 the product of two float32
    numbers is exact, so a float64 run of the spiking model stays lossless.
    The folded weights are kept in float64 and cast to the run's dtype.
    """
    return None if t is None else t.detach().to(torch.float64)


def _linear_gamma(name: str, weight, bias, gamma=None) -> SpikingLinear:
    """A linear layer with a per-output-channel constant (LayerScale gamma) folded
    into its weights and bias in float64 (eq. 8; see :func:`_f64`)."""
    W = weight.detach()
    B = None if bias is None else bias.detach()
    if gamma is not None:
        g = _f64(gamma)
        W = _f64(W) * g[:, None]
        B = None if B is None else _f64(B) * g
    return SpikingLinear(name, W, B)


def _is_identity(m) -> bool:
    return m is None or isinstance(m, (nn.Identity, nn.Dropout)) or type(m).__name__ == "DropPath"


def _require_identity(path: str, m):
    if not _is_identity(m):
        raise UnsupportedModuleError(
            f"unsupported module at '{path}': {type(m).__module__}.{type(m).__name__} "
            "has no spiking counterpart in this position")


def _layernorm(path: str, m):
    if isinstance(m, nn.LayerNorm):
        if len(m.normalized_shape) != 1:
            raise UnsupportedModuleError(f"unsupported LayerNorm at '{path}': normalized over {m.normalized_shape}")
        return m
    _require_identity(path, m)
    return None


ALLOWED_TYPES = (
    "VisionTransformer", "PatchEmbed", "Conv2d", "Identity", "Dropout", "DropPath", "LayerNorm", "Linear",
    "GELU", "SiLU", "ReLU", "Sequential", "ModuleList", "Block", "Attention", "Mlp", "LayerScale",
)


def check_supported(model: nn.Module) -> None:
    """Raise UnsupportedModuleError naming the first module with no spiking counterpart.

    Registered activations (:func:`ttfs_symbolic.conversion.activations.register_activation`)
    are supported with whatever submodules they have (the check at
    conversion compares the whole module with its formula).
    """
    inside_activation = []
    for path, m in model.named_modules():
        if any(path.startswith(p + ".") for p in inside_activation):
            continue
        if is_activation(m):
            inside_activation.append(path)
            continue
        name = type(m).__name__
        if name not in ALLOWED_TYPES and not isinstance(m, (nn.LayerNorm, nn.Linear, nn.Conv2d, nn.Dropout)):
            raise UnsupportedModuleError(
                f"unsupported module at '{path or '<root>'}': {type(m).__module__}.{name} "
                "has no spiking counterpart (supported: " + ", ".join(ALLOWED_TYPES) +
                ", and registered activations: ttfs_symbolic.register_activation)")
        if isinstance(m, nn.Conv2d) and not path.endswith("patch_embed.proj"):
            raise UnsupportedModuleError(f"unsupported module at '{path}': a Conv2d outside the patch embedding")


class SpikingAttention(nn.Module):
    """Multi-head self-attention: q, k, v linear, Q K^T and attn V products, softmax, proj."""

    def __init__(self, name: str, attn, ls, src: Population, n_tokens: int, softmax_max: bool):
        super().__init__()
        _require_identity(f"{name}.attn_drop", attn.attn_drop)
        _require_identity(f"{name}.proj_drop", attn.proj_drop)
        if getattr(attn, "gate", None) is not None:
            raise UnsupportedModuleError(f"unsupported module at '{name}.gate': gated attention")
        if not _is_identity(getattr(attn, "norm", None)):
            raise UnsupportedModuleError(f"unsupported module at '{name}.norm': a norm inside attention")
        self.h = attn.num_heads
        self.hd = attn.head_dim
        W = attn.qkv.weight.detach()
        B = attn.qkv.bias.detach() if attn.qkv.bias is not None else None
        inner = self.h * self.hd
        Wq, Wk, Wv = W[:inner], W[inner:2 * inner], W[2 * inner:]
        Bq, Bk, Bv = (None, None, None) if B is None else (B[:inner], B[inner:2 * inner], B[2 * inner:])
        self.q_norm = _layernorm(f"{name}.q_norm", attn.q_norm)
        self.k_norm = _layernorm(f"{name}.k_norm", attn.k_norm)
        scale = float(attn.scale)
        if self.q_norm is None:
            # the attention scale folded into the weights of q (eq. 8), in float64 (_f64)
            Wq = _f64(Wq) * scale
            Bq = None if Bq is None else _f64(Bq) * scale
        self.q = SpikingLinear(f"{name}.q", Wq, Bq)
        self.k = SpikingLinear(f"{name}.k", Wk, Bk)
        self.v = SpikingLinear(f"{name}.v", Wv, Bv)
        self.sq = self.sk = None
        qsrc, ksrc = self.q.out, self.k.out
        if self.q_norm is not None:
            # the scale folded into q_norm's affine (layer II of its product), in float64
            w = _f64(self.q_norm.weight) * scale if self.q_norm.weight is not None else \
                torch.full((self.hd,), scale, dtype=torch.float64)
            b = _f64(self.q_norm.bias) * scale if self.q_norm.bias is not None else None
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
        gamma = None if ls is None or _is_identity(ls) else ls.gamma   # LayerScale, folded into proj
        self.proj = _linear_gamma(f"{name}.proj", attn.proj.weight, attn.proj.bias, gamma)

    def forward(self, x, ctx: Ctx):
        Bn, N, _ = x.shape

        def heads(t):
            return t.reshape(Bn, N, self.h, self.hd).transpose(1, 2)

        q = heads(self.q(x, ctx))
        k = heads(self.k(x, ctx))
        v = heads(self.v(x, ctx))
        if self.sq is not None:
            q = self.sq(q, ctx)
        if self.sk is not None:
            k = self.sk(k, ctx)
        s = self.qk(q, k.transpose(-2, -1), ctx)
        a = self.softmax(s, ctx)
        o = self.av(a, v, ctx)
        o = o.transpose(1, 2).reshape(Bn, N, self.h * self.hd)
        return self.proj(o, ctx)


class SpikingBlock(nn.Module):
    def __init__(self, name: str, blk, src: Population, n_tokens: int, softmax_max: bool):
        super().__init__()
        for attr in ("drop_path1", "drop_path2"):
            if hasattr(blk, attr):
                _require_identity(f"{name}.{attr}", getattr(blk, attr)) if not type(getattr(blk, attr)).__name__ == "DropPath" else None
        dim = blk.norm1.normalized_shape[0]
        self.norm1 = SpikingLayerNorm(f"{name}.norm1", src, blk.norm1.weight, blk.norm1.bias, blk.norm1.eps, dim)
        self.attn = SpikingAttention(f"{name}.attn", blk.attn, blk.ls1, self.norm1.out, n_tokens, softmax_max)
        self.res1 = Population(f"{name}.residual1", "identity", kind="residual", fan_in=2)
        self.norm2 = SpikingLayerNorm(f"{name}.norm2", self.res1, blk.norm2.weight, blk.norm2.bias, blk.norm2.eps, dim)
        mlp = blk.mlp
        if not hasattr(mlp, "fc1") or not isinstance(mlp.fc1, nn.Linear):
            raise UnsupportedModuleError(f"unsupported module at '{name}.mlp': {type(mlp).__name__}")
        _require_identity(f"{name}.mlp.drop1", getattr(mlp, "drop1", None))
        _require_identity(f"{name}.mlp.drop2", getattr(mlp, "drop2", None))
        self.fc1 = SpikingLinear(f"{name}.mlp.fc1", mlp.fc1.weight, mlp.fc1.bias)
        self.act = SpikingActivation(f"{name}.mlp.act", _activation_neuron(f"{name}.mlp.act", mlp.act), self.fc1.out)
        mnorm = _layernorm(f"{name}.mlp.norm", getattr(mlp, "norm", None))
        self.mlp_norm = None
        if mnorm is not None:
            self.mlp_norm = SpikingLayerNorm(f"{name}.mlp.norm", self.act.out, mnorm.weight, mnorm.bias, mnorm.eps,
                                             mlp.fc1.out_features)
        gamma = None if _is_identity(blk.ls2) else blk.ls2.gamma   # LayerScale, folded into fc2
        self.fc2 = _linear_gamma(f"{name}.mlp.fc2", mlp.fc2.weight, mlp.fc2.bias, gamma)
        self.res2 = Population(f"{name}.residual2", "identity", kind="residual", fan_in=2)

    def forward(self, x, ctx: Ctx):
        x = self.res1.emit(x + self.attn(self.norm1(x, ctx), ctx), ctx, fresh=True)
        h = self.act(self.fc1(self.norm2(x, ctx), ctx), ctx)
        if self.mlp_norm is not None:
            h = self.mlp_norm(h, ctx)
        return self.res2.emit(x + self.fc2(h, ctx), ctx, fresh=True)


class SpikingViT(nn.Module):
    """The spiking counterpart of a timm VisionTransformer.

    Call as ``snn(images, mode="exact" | "quantized" | "kernel", precision=p,
    dtype=torch.float64)``; it returns the decoded logits (the values of the
    head's output spikes). The prediction is the earliest output spike, i.e.
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
        if vit.global_pool not in ("token", "avg"):
            raise UnsupportedModuleError(f"unsupported pooling global_pool={vit.global_pool!r} (supported: 'token', 'avg')")
        if getattr(vit, "pool_include_prefix", False):
            raise UnsupportedModuleError("unsupported setting: pool_include_prefix=True")
        pe = vit.patch_embed
        _require_identity("patch_embed.norm", pe.norm)
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
        _require_identity("patch_drop", vit.patch_drop)
        _require_identity("pos_drop", vit.pos_drop)
        _require_identity("head_drop", vit.head_drop)

        self.input = Population("input", "identity", kind="input", fan_in=0)
        self.embed = Population("patch_embed", "identity", kind="patch_embed",
                                fan_in=self.in_chans * pe.proj.kernel_size[0] * pe.proj.kernel_size[1])
        src = self.embed
        norm_pre = _layernorm("norm_pre", vit.norm_pre)
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
        norm = _layernorm("norm", vit.norm)
        self.norm = None if norm is None else SpikingLayerNorm("norm", src, norm.weight, norm.bias, norm.eps, dim)
        if self.norm is not None:
            src = self.norm.out
        self.pool = None
        if self.global_pool == "avg":
            self.pool = Population("pool", "identity", kind="pool", fan_in=n_tokens - self.num_prefix)
            src = self.pool
        fc_norm = _layernorm("fc_norm", vit.fc_norm)
        self.fc_norm = None if fc_norm is None else SpikingLayerNorm("fc_norm", src, fc_norm.weight, fc_norm.bias,
                                                                     fc_norm.eps, dim)
        if self.fc_norm is not None:
            src = self.fc_norm.out
        if isinstance(vit.head, nn.Linear):
            self.head = SpikingLinear("head", vit.head.weight, vit.head.bias, kind="head")
        else:
            _require_identity("head", vit.head)
            self.head = None
        self.num_classes = vit.num_classes
        self.n_tokens = n_tokens

    # ------------------------------------------------------------------
    def residual_synapses_unsupported(self) -> str | None:
        """Why ``residual="synapses"`` cannot carry this model's sums (None: it can).

        Every sum of a pre-norm block feeds a LayerNorm (norm2, the next norm1,
        the final norm), whose mean and centred neurons then receive the summands;
        without a final norm the last sum feeds the average pool's identity neurons.
        """
        if self.norm is None and self.pool is None:
            return "the last block's sum feeds the head directly (no final LayerNorm and no average pool)"
        return None

    def populations(self) -> list[Population]:
        """Every spiking layer, in the order of the forward pass.

        Once calibrated (or loaded), that is the order of the emitting windows,
        which :func:`~ttfs_symbolic.conversion.convert.calibrate` numbers by first
        emission; before, the order in which the layers are built.
        """
        pops = [m for m in self.modules() if isinstance(m, Population)]
        return sorted(pops, key=lambda p: p.window)   # stable: all windows are 0 before calibration

    def _forward(self, images, ctx: Ctx):
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
        x = self.embed.emit(V, ctx, fresh=True)
        if self.norm_pre is not None:
            x = self.norm_pre(x, ctx)
        for blk in self.blocks:
            x = blk(x, ctx)
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

    def check_images(self, images):
        """The images as a floating tensor of shape (batch, C, H, W), or a one-line error (issue 12).

        Refused: anything but a tensor or a NumPy array (TypeError); integer,
        boolean or complex dtypes (raw 0-255 pixels must be scaled and
        normalised as the ANN expects first); other shapes; NaN or inf pixels
        (the ANN would give NaN, the SNN a finite, confident, meaningless answer).
        """
        from ..data.inputs import check_images

        return check_images(images, self.in_chans, self.img_size)

    @torch.no_grad()
    def forward(self, images, mode: str = "exact", precision: int | None = None, dtype=torch.float32,
                record: bool = False, only=None, warn: bool = True, check_clipping: str = "full"):
        """Decoded logits. ``only``: names of the layers that run in ``mode``, the rest exact
        (:func:`~ttfs_symbolic.evaluation.report.error_budget`). Neurons driven outside their range
        are counted in every mode (``self.last_clipping``) and warned about once per call;
        ``check_clipping``: ``"full"`` (every neuron), ``"sample"`` or ``"off"``
        (:data:`~ttfs_symbolic.spiking.CHECK_MODES`; the neurons clip in every setting)."""
        from ..data.inputs import check_dtype

        images = self.check_images(images).to(check_dtype(dtype))
        ctx = make_ctx(self, mode, precision, record, only, check_clipping)
        out = self._forward(images, ctx)
        finish_call(self, ctx, warn=warn)
        return out

    def spike_rates_for_energy(self) -> dict[str, float]:
        """Measured firing rate of the input of each linear row of ``count_ops`` (run with ``record=True``)."""
        from ..evaluation.report import snn_spike_rates_for_energy

        return snn_spike_rates_for_energy(self)

    @torch.no_grad()
    def predict(self, images, **kw):
        """Index of the earliest output spike = argmax of the decoded logits (Appendix A.2)."""
        return self.forward(images, **kw).argmax(-1)


# ---- model family (ttfs_symbolic.conversion.registry) ----------------------------

def _is_vit(model) -> bool:
    try:
        _, tvit = _timm()
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, tvit.VisionTransformer)


def _register_family():
    from ..conversion.registry import register_family

    register_family("vit", _is_vit, SpikingViT, "timm VisionTransformer (ViT, DeiT)")


_register_family()
