"""Energy counts of timm VisionTransformer (Table 3 per image): its containers' handlers and ``count_ops``."""
from __future__ import annotations

import torch
from torch import nn

from ..conversion.presets import PRESETS, counted_preset
from .counts import (E_AC_PJ, E_MAC_PJ, EnergyReport, Shape, layernorm_counts, matmul_ops_table3, product_counts,
                     residual_counts, softmax_counts)
from .walker import HANDLERS, Walker, expect, join, label, register_handler, typename

# ---- containers -----------------------------------------------------------

def _patch_embed(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Patch embedding: a linear map per patch on the encoded pixel spikes.

    ``shape`` is (num_patches, C*p*p) as set by the VisionTransformer handler.
    """
    proj = module.proj
    ppath = join(path, "proj")
    expect(type(proj) is nn.Conv2d, ppath,
            f"patch projection must be a Conv2d, got {typename(proj)}")
    k = tuple(proj.kernel_size)
    expect(k == tuple(proj.stride) and tuple(proj.padding) == (0, 0)
            and tuple(proj.dilation) == (1, 1) and proj.groups == 1, ppath,
            f"only a non-overlapping patch conv (kernel = stride, no padding, dilation 1, "
            f"groups 1) is a linear map per patch; got kernel {k}, stride {tuple(proj.stride)}, "
            f"padding {proj.padding}, dilation {tuple(proj.dilation)}, groups {proj.groups}")
    patches, feat_in = shape
    fan_in = proj.in_channels * k[0] * k[1]
    expect(feat_in == fan_in, ppath, f"expected {fan_in} inputs per patch, got {feat_in}")
    macs = patches * fan_in * proj.out_channels
    walker.mark(ppath)
    walker.add(ppath, "patch_embed", patches * proj.out_channels, macs, macs,
               f"{patches} patches x {proj.in_channels}x{k[0]}x{k[1]} -> {proj.out_channels}")
    return walker.child(module, path, "norm", (patches, proj.out_channels))


def _attention(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm Attention: qkv, (q_norm, k_norm), q@k^T, softmax, attn@v, (norm), proj."""
    expect(getattr(module, "gate", None) is None, path,
            "gated attention (sigmoid gate on the output) is not in Table 3")
    T, _ = shape
    H, hd, attn_dim = module.num_heads, module.head_dim, module.attn_dim
    rows, feat = walker.child(module, path, "qkv", shape)
    expect(feat == 3 * attn_dim, join(path, "qkv"),
            f"qkv gives {feat} features, expected 3 * {attn_dim}")
    walker.child(module, path, "q_norm", (T * H, hd))
    walker.child(module, path, "k_norm", (T * H, hd))
    n, o = product_counts(T, hd, T, walker.product, pairs=4, corrections=0)
    walker.add(join(path, "qk_matmul"), "matmul", H * n, H * o, H * T * T * hd,
               f"{H} x ({T}x{hd} @ {hd}x{T})", op_snn_table3=H * matmul_ops_table3(T, hd, T))
    n, o = softmax_counts(T)
    walker.add(join(path, "softmax"), "softmax", H * T * n, H * T * o, 0,
               f"{H * T} rows of {T}")
    walker.child(module, path, "attn_drop", (H * T, T))
    n, o = product_counts(T, T, hd, walker.product, pairs=2, corrections=1)   # softmax >= 0
    walker.add(join(path, "av_matmul"), "matmul", H * n, H * o, H * T * T * hd,
               f"{H} x ({T}x{T} @ {T}x{hd})", op_snn_table3=H * matmul_ops_table3(T, T, hd))
    shape = walker.child(module, path, "norm", (T, attn_dim))
    shape = walker.child(module, path, "proj", shape)
    return walker.child(module, path, "proj_drop", shape)


def _mlp(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    for name in ("fc1", "act", "drop1", "norm", "fc2", "drop2"):
        shape = walker.child(module, path, name, shape)
    return shape


def residual_rows(walker: Walker, path: str, name: str, shape: Shape, pre_norm: bool = True) -> None:
    T, dim = shape
    if walker.residual == "synapses":
        if not pre_norm:
            raise SynapsesUnsupported(f"residual='synapses' is not counted for {label(path)!r}: a post-norm block's "
                             "sum feeds the next attention, not a LayerNorm")
        # no neuron: the LayerNorm that reads the stream (its mean and centred neurons, one synapse each
        # per element and summand) receives every summand's spike instead of one: (k - 1) * 2*T*dim
        # more synaptic operations when the stream holds k summands
        walker.summands += 1
        k = walker.summands
        walker.add(join(path, name), "residual", 0, 2 * T * dim * (k - 1), 0,
                   f"{T}x{dim} x {k} summands into the next LayerNorm")
        return
    n, o = residual_counts(T, dim)
    walker.add(join(path, name), "residual", n, o, 0, f"{T}x{dim} + {T}x{dim}")


class SynapsesUnsupported(ValueError):
    """residual="synapses" asked of a model whose sums cannot all be carried by synapses (the converter's
    ``residual_synapses_unsupported``): a preset's setting falls back to neurons, as convert's does."""


def final_stream(walker: Walker, model: nn.Module, path: str, n_pool: int, dim: int) -> None:
    """residual="synapses": the last sum feeds the final norm (counted so by :func:`_residual`) or, without
    one, the average pool, whose neurons receive each of the k summands of n_pool tokens."""
    if walker.residual != "synapses" or not isinstance(getattr(model, "norm", None), nn.Identity):
        return
    if model.global_pool != "avg":
        raise SynapsesUnsupported(f"residual='synapses' is not counted for {label(path)!r}: the last block's sum feeds "
                         "no final LayerNorm (norm is Identity) and no average pool")
    last = next((r for r in reversed(walker.rows) if r.kind == "residual"), None)
    if last is not None:
        k = walker.summands
        last.op_snn = last.op_snn_static = n_pool * dim * (k - 1)
        last.shape = f"{n_pool}x{dim} x {k} summands into the pool"


def _block(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Pre-norm block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x)))."""
    y = shape
    for name in ("norm1", "attn", "ls1", "drop_path1"):
        y = walker.child(module, path, name, y)
    expect(y == shape, path, f"attention branch gives {y}, residual needs {shape}")
    residual_rows(walker, path, "residual1", shape)
    y = shape
    for name in ("norm2", "mlp", "ls2", "drop_path2"):
        y = walker.child(module, path, name, y)
    expect(y == shape, path, f"MLP branch gives {y}, residual needs {shape}")
    residual_rows(walker, path, "residual2", shape)
    return shape


def _res_post_block(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """Post-norm block: x + norm1(attn(x)), then x + norm2(mlp(x))."""
    for branch, resname in ((("attn", "norm1", "drop_path1"), "residual1"),
                            (("mlp", "norm2", "drop_path2"), "residual2")):
        y = shape
        for name in branch:
            y = walker.child(module, path, name, y)
        expect(y == shape, path, f"branch gives {y}, residual needs {shape}")
        residual_rows(walker, path, resname, shape, pre_norm=False)
    return shape


def vision_transformer(walker: Walker, model: nn.Module, path: str, shape: Shape) -> Shape:
    """timm VisionTransformer: patch embed, prefix tokens, blocks, norm, pool, head.

    ``shape`` is (num_patches, C*p*p), computed by ``count_ops`` from the image size.
    """
    expect(model.attn_pool is None, join(path, "attn_pool"),
            f"attention pooling ({typename(model.attn_pool)}) is not supported")
    expect(model.global_pool in ("token", "avg"), path,
            f"global_pool={model.global_pool!r} is not supported (max pooling is not in Table 3, and the "
            f"converter builds no spiking network without pooling); supported: 'token', 'avg'")
    patches, _ = shape
    dim = model.embed_dim
    x = walker.child(model, path, "patch_embed", shape)
    expect(x == (patches, dim), join(path, "patch_embed"),
            f"patch embedding gives {x}, expected {(patches, dim)}")
    T = patches + model.num_prefix_tokens  # class / register tokens: constant spikes
    x = (T, dim)
    for name in ("pos_drop", "patch_drop", "norm_pre", "blocks", "norm"):
        x = walker.child(model, path, name, x)
    final_stream(walker, model, path, T if model.pool_include_prefix else patches, dim)
    if model.global_pool == "token":
        x = (1, dim)
    elif model.global_pool == "avg":
        n_pool = T if model.pool_include_prefix else patches
        walker.add(join(path, "pool"), "pool", dim, n_pool * dim, 0,
                   f"mean of {n_pool} x {dim}")
        x = (1, dim)
    for name in ("fc_norm", "head_drop", "head"):
        x = walker.child(model, path, name, x)
    return x


def _register_vit() -> None:
    # timm loads on first use (start-up time)
    # timm loads on first use (start-up time)
    from timm.layers import Mlp, PatchEmbed  # timm is imported by every caller anyway
    from timm.layers.attention import Attention
    from timm.models.vision_transformer import Block, ResPostBlock, VisionTransformer

    register_handler(PatchEmbed)(_patch_embed)
    register_handler(Attention)(_attention)
    register_handler(Mlp)(_mlp)
    register_handler(Block)(_block)
    register_handler(ResPostBlock)(_res_post_block)
    register_handler(VisionTransformer)(vision_transformer)


_register_vit()


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------

def _to_2tuple(v: int | tuple[int, int], what: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in t):
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, got {v!r}")
    return t  # type: ignore[return-value]


def build_meta_model(name: str, img_size: int | tuple[int, int] | None = None,
                     model_kwargs: dict | None = None) -> nn.Module:
    """``timm.create_model(name, pretrained=False, **model_kwargs)`` on the meta device: structure only."""
    # timm loads on first use (start-up time)
    import timm

    if not isinstance(name, str) or not timm.is_model(name):
        raise ValueError(f"unknown timm model {name!r}; list ViT names with "
                         f"timm.list_models('vit_*')")
    kwargs = dict(model_kwargs or {})
    if img_size is not None:
        if "img_size" in kwargs and kwargs["img_size"] != img_size:
            raise ValueError(f"img_size given twice: {img_size} and {kwargs['img_size']} (in the model's keywords)")
        kwargs["img_size"] = img_size
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, **kwargs)
    except Exception as exc:  # noqa: BLE001 - timm raises many types; report in one line
        msg = " ".join(str(exc).split())
        raise ValueError(f"could not build {name!r} with {kwargs or 'its defaults'}: {msg}") from exc
    return model.eval()


def _image_grid(model: nn.Module, img_size: int | tuple[int, int] | None) -> tuple[tuple[int, int], int, int]:
    """(image size, number of patches, C*p*p) of a VisionTransformer at this image size."""
    pe = getattr(model, "patch_embed", None)
    if not isinstance(pe, nn.Module):
        raise ValueError(f"unsupported module '<model>' of type {typename(model)}: expected a "
                         f"timm VisionTransformer with a patch embedding")
    proj = getattr(pe, "proj", None)
    if type(pe) not in HANDLERS or not isinstance(proj, nn.Conv2d):
        raise ValueError(f"unsupported module 'patch_embed' of type {typename(pe)}: only a "
                         f"Conv2d patch projection (timm PatchEmbed) is a linear map per patch")
    size = tuple(pe.img_size) if img_size is None else _to_2tuple(img_size, "img_size")
    if img_size is not None and size != tuple(pe.img_size) and not getattr(model, "dynamic_img_size", False):
        raise ValueError(f"the model was built for img_size {tuple(pe.img_size)}, not {size}; "
                         f"rebuild it with img_size={size} or dynamic_img_size=True")
    grid = pe.dynamic_feat_size(size)
    patches = grid[0] * grid[1]
    if patches <= 0:
        raise ValueError(f"img_size {size} is smaller than the patch size {tuple(pe.patch_size)}")
    k = proj.kernel_size
    return size, patches, proj.in_channels * k[0] * k[1]


def _walk(model, shape, product, residual, rsqrt) -> Walker:
    walker = Walker(product, residual, rsqrt)
    walker.visit(model, "", shape)
    walker.check_complete(model)
    return walker


def count_ops(model_or_name: nn.Module | str,
              img_size: int | tuple[int, int] | None = None,
              spike_rates: dict[str, float] | None = None,
              *, e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ, product: str = "paper",
              residual: str = "neuron", rsqrt: str = "neuron", preset: str | None = None,
              model_kwargs: dict | None = None) -> EnergyReport:
    """Per-layer neurons, OP_SNN, OP_ANN and the energies of eq. 28 for one image.

    ``model_or_name``: a timm model name (built with ``pretrained=False`` on
    the meta device, at ``img_size`` if given, with ``model_kwargs`` for ``timm.create_model``) or a
    ``VisionTransformer``
    instance (``img_size`` must then match the model unless it was built with
    ``dynamic_img_size=True``).  ``spike_rates`` maps row names (e.g.
    ``"blocks.0.mlp.fc2"``) to the measured firing rate of their input.
    Raises ``ValueError`` for an unknown name or any module type the count
    does not cover, naming its path and type. ``product``: the construction
    of the multiplication networks counted, ``paper`` (Table 3, the default,
    which reproduces Table 2) or ``signed`` (the converter's default).
    ``residual``: how residual sums are carried (``neuron``, Table 3, or
    ``synapses``: no neuron, the next LayerNorm receives every summand;
    :func:`~ttfs_symbolic.conversion.convert.set_residual`). ``rsqrt``: LayerNorm's
    rsqrt as a neuron (Table 3) or folded into the product's synapses.
    The defaults count the paper's network (Table 2); ``preset`` (recorded in
    the report's ``configuration``) names where the settings came from.
    """
    if product not in ("paper", "signed"):
        raise ValueError(f"unknown product construction {product!r}; choose 'paper' or 'signed'")
    if residual not in ("neuron", "synapses"):
        raise ValueError(f"unknown residual mode {residual!r}; choose 'neuron' or 'synapses'")
    if isinstance(model_or_name, str):
        name = model_or_name
        model = build_meta_model(model_or_name, img_size, model_kwargs)
        img_size = None  # already built at that size
    elif isinstance(model_or_name, nn.Module):
        if model_kwargs:
            raise ValueError("model_kwargs build a model from its name; this model is already built")
        model = model_or_name
        name = getattr(model, "default_cfg", {}).get("architecture", "") or type(model).__name__
    else:
        raise ValueError(f"count_ops expects a timm model name or an nn.Module, got "
                         f"{type(model_or_name).__name__}")
    if type(model) not in HANDLERS:
        raise ValueError(f"unsupported module '<model>' of type {typename(model)}: energy counts "
                         f"cover timm VisionTransformer (ViT, DeiT, distilled DeiT) and Eva (EVA, EVA-02); register a handler "
                         "in HANDLERS for others")
    size, patches, fan_in = _image_grid(model, img_size)

    layernorm_counts(1, product, rsqrt)   # (refuses an unknown rsqrt mode)
    try:
        walker = _walk(model, (patches, fan_in), product, residual, rsqrt)
    except SynapsesUnsupported:
        # a preset's residual synapses fall back to neurons where the model cannot carry its sums by
        # synapses, as convert's preset_settings does; an explicit choice (preset None or "... with overrides")
        # is refused, as convert's set_residual refuses it
        if preset not in PRESETS or PRESETS[preset]["residual"] != residual:
            raise
        residual = "neuron"
        walker = _walk(model, (patches, fan_in), product, residual, rsqrt)
    return EnergyReport.from_rows(walker.rows, spike_rates, e_ac_pj=e_ac_pj, e_mac_pj=e_mac_pj, model=name,
                                  img_size=size, tokens=patches + int(getattr(model, "num_prefix_tokens", 0)),
                                  configuration={"preset": counted_preset(preset, product=product, residual=residual,
                                                                       rsqrt=rsqrt),
                                                 "product": product, "residual": residual,
                                                 "rsqrt": rsqrt})
