"""Energy counts of timm Eva / EVA-02 and distilled DeiT: their handlers (rules below)."""
from __future__ import annotations

from torch import nn

from .counts import Shape, matmul_ops_table3, product_counts, softmax_counts
from .vit import final_stream, residual_rows, vision_transformer
from .walker import Walker, expect, join, passthrough, register_handler, typename

# --------------------------------------------------------------------------
# timm Eva (EVA, EVA-02) and DeiT with a distillation token
# --------------------------------------------------------------------------
#
# Counting rules added for these models (per image):
#
# * SwiGLU / GluMlp: fc1 (fused, or fc1_g and fc1_x) and fc2 are Linear rows;
#   the gate's SiLU is an activation row (MN neurons, MN ops); the elementwise
#   product silu(g) * x is Table 3's MatMul row with K = 1 per element: per
#   element 2 neurons (one layer-I, one layer-II) and 5 operations (layer I:
#   2 synapses; layer II: y, x1, x2), i.e. neurons 2*M*N, OP_SNN 5*M*N.
#   OP_ANN counts it as 0 MACs (an elementwise multiply, like the other
#   elementwise ops, is not a MAC: the ANN side stays the usual MAC count of
#   the linear layers and the two attention products, favourable to the ANN).
# * Rotary position embedding (kind "rope", one row for q and one for k):
#   per head and token a linear map of identity neurons with constant
#   weights cos / +-sin: head_dim neurons per token, 2 synapses per neuron on
#   the patch tokens and 1 (weight 1) on the prefix tokens; the weights of a
#   few channels are exactly 0 at some positions (sin 0 = 0), which the
#   structural count still counts (an upper bound on the SNN).  OP_ANN 0
#   (elementwise).
# * EVA's q/v biases, the attention scale and gamma_1 / gamma_2 are constants
#   folded into weights or C: no operations.  The LayerNorms inside the MLP
#   and the attention (scale_mlp, scale_attn_inner) are LayerNorm rows.
# * Distilled DeiT: head and head_dist are one layer of `classes` identity
#   neurons with fan-in 2*dim ((head(x0) + head_dist(x1)) / 2 folded into
#   the weights): the "head_dist" row has 0 neurons and dim*classes ops.

def _eva_product(walker: Walker, path: str, rows: int, feat: int) -> None:
    n, o = product_counts(1, 1, 1, walker.product, pairs=4, corrections=0)
    walker.add(join(path, "mul"), "product", rows * feat * n, rows * feat * o, 0,
               f"{rows}x{feat} * {rows}x{feat} (elementwise)")


def _glu_mlp(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm GluMlp: fc1 (gate and value halves), act(gate) * value, drop1, norm, fc2, drop2."""
    expect(isinstance(module.fc1, nn.Linear), join(path, "fc1"),
            f"only a Linear fc1 is supported, got {typename(module.fc1)}")
    rows, feat = walker.child(module, path, "fc1", shape)
    expect(feat % 2 == 0, join(path, "fc1"), f"GluMlp fc1 gives {feat} features, not even")
    half = (rows, feat // 2)
    walker.child(module, path, "act", half)
    _eva_product(walker, path, *half)
    x = half
    for name in ("drop1", "norm", "fc2", "drop2"):
        x = walker.child(module, path, name, x)
    return x


def _swiglu(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm SwiGLU: fc1_g, fc1_x, act(g) * x, drop1, norm, fc2, drop2."""
    g = walker.child(module, path, "fc1_g", shape)
    x = walker.child(module, path, "fc1_x", shape)
    expect(g == x, path, f"fc1_g gives {g}, fc1_x gives {x}")
    walker.child(module, path, "act", g)
    _eva_product(walker, path, *g)
    for name in ("drop1", "norm", "fc2", "drop2"):
        x = walker.child(module, path, name, x)
    return x


def _eva_attention(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """timm EvaAttention: q/k/v (fused or separate), q/k norm, RoPE, q@k^T, softmax, attn@v, norm, proj."""
    expect(getattr(module, "gate", None) is None, path,
            "gated attention (sigmoid gate on the output) is not in Table 3")
    T, _ = shape
    H, hd = module.num_heads, module.head_dim
    attn_dim = H * hd
    if module.qkv is not None:
        rows, feat = walker.child(module, path, "qkv", shape)
        expect(feat == 3 * attn_dim, join(path, "qkv"), f"qkv gives {feat} features, expected 3 * {attn_dim}")
    else:
        for name in ("q_proj", "k_proj", "v_proj"):
            rows, feat = walker.child(module, path, name, shape)
            expect(feat == attn_dim, join(path, name), f"gives {feat} features, expected {attn_dim}")
    walker.child(module, path, "q_norm", (T * H, hd))
    walker.child(module, path, "k_norm", (T * H, hd))
    if getattr(walker, "eva_rope", False):
        npt = module.num_prefix_tokens
        expect(0 <= npt <= T, path, f"{npt} prefix tokens of {T}")
        for name in ("q_rope", "k_rope"):
            walker.add(join(path, name), "rope", H * T * hd, H * hd * (2 * (T - npt) + npt), 0,
                       f"{H} x {T - npt} rotated + {npt} prefix tokens of {hd}")
    n, o = product_counts(T, hd, T, walker.product, pairs=4, corrections=0)
    walker.add(join(path, "qk_matmul"), "matmul", H * n, H * o, H * T * T * hd, f"{H} x ({T}x{hd} @ {hd}x{T})",
               op_snn_table3=H * matmul_ops_table3(T, hd, T))
    n, o = softmax_counts(T)
    walker.add(join(path, "softmax"), "softmax", H * T * n, H * T * o, 0, f"{H * T} rows of {T}")
    walker.child(module, path, "attn_drop", (H * T, T))
    n, o = product_counts(T, T, hd, walker.product, pairs=2, corrections=1)   # softmax >= 0
    walker.add(join(path, "av_matmul"), "matmul", H * n, H * o, H * T * T * hd, f"{H} x ({T}x{T} @ {T}x{hd})",
               op_snn_table3=H * matmul_ops_table3(T, T, hd))
    x = walker.child(module, path, "norm", (T, attn_dim))
    x = walker.child(module, path, "proj", x)
    return walker.child(module, path, "proj_drop", x)


def _eva_block(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """EvaBlock (pre-norm, gamma_1 / gamma_2 folded into proj / fc2)."""
    return _eva_branches(walker, module, path, shape,
                         (("norm1", "attn", "drop_path1"), ("norm2", "mlp", "drop_path2")))


def _eva_block_post_norm(walker: Walker, module: nn.Module, path: str, shape: Shape) -> Shape:
    """EvaBlockPostNorm: x + norm1(attn(x)), x + norm2(mlp(x))."""
    return _eva_branches(walker, module, path, shape, (("attn", "norm1", "drop_path1"), ("mlp", "norm2", "drop_path2")),
                         pre_norm=False)


def _eva_branches(walker: Walker, module: nn.Module, path: str, shape: Shape, branches, pre_norm=True) -> Shape:
    for branch, resname in zip(branches, ("residual1", "residual2")):
        y = shape
        for name in branch:
            y = walker.child(module, path, name, y)
        expect(y == shape, path, f"branch gives {y}, residual needs {shape}")
        residual_rows(walker, path, resname, shape, pre_norm=pre_norm)
    return shape


def _eva(walker: Walker, model: nn.Module, path: str, shape: Shape) -> Shape:
    """timm Eva: patch embed, prefix tokens, (RoPE table), blocks, norm, pool, fc_norm, head."""
    # timm loads on first use (start-up time)
    from timm.layers import pos_embed_sincos as tpos

    expect(getattr(model, "attn_pool", None) is None, join(path, "attn_pool"),
            "attention pooling is not supported")
    expect(model.global_pool in ("token", "avg", ""), path,
            f"global_pool={model.global_pool!r} is not supported (max pooling is not in Table 3); "
            "supported: 'token', 'avg', ''")
    patches, _ = shape
    dim = model.embed_dim
    x = walker.child(model, path, "patch_embed", shape)
    expect(x == (patches, dim), join(path, "patch_embed"), f"patch embedding gives {x}, expected {(patches, dim)}")
    T = patches + model.num_prefix_tokens
    x = (T, dim)
    x = walker.child(model, path, "pos_drop", x)
    if model.patch_drop is not None:
        x = walker.child(model, path, "patch_drop", x)
    rope = model.rope
    if rope is not None:
        expect(type(rope) is tpos.RotaryEmbeddingCat and not getattr(model, "rope_mixed", False),
                join(path, "rope"), f"only RotaryEmbeddingCat is supported, got {typename(rope)}")
        walker.child(model, path, "rope", x)  # the constant sin/cos table; its cost is in the attention rows
    x = walker.child(model, path, "norm_pre", x)
    bpath = join(path, "blocks")
    walker.mark(bpath)
    walker.eva_rope = rope is not None
    try:
        for i, _ in enumerate(model.blocks):
            x = walker.child(model.blocks, bpath, str(i), x)
    finally:
        walker.eva_rope = False
    x = walker.child(model, path, "norm", x)
    final_stream(walker, model, path, patches, dim)
    if model.global_pool == "token":
        x = (1, dim)
    elif model.global_pool == "avg":
        walker.add(join(path, "pool"), "pool", dim, patches * dim, 0, f"mean of {patches} x {dim}")
        x = (1, dim)
    for name in ("fc_norm", "head_drop", "head"):
        x = walker.child(model, path, name, x)
    return x


def _deit_distilled(walker: Walker, model: nn.Module, path: str, shape: Shape) -> Shape:
    """timm VisionTransformerDistilled: the ViT rows, then head_dist fused into head's neurons."""
    expect(model.global_pool == "token", path, "the distilled head reads the class and distillation tokens")
    x = vision_transformer(walker, model, path, shape)
    dim = model.embed_dim
    hd = model.head_dist
    hpath = join(path, "head_dist")
    walker.mark(hpath)
    if isinstance(hd, nn.Linear):
        expect(type(hd) is nn.Linear and hd.in_features == dim, hpath, f"expected a Linear from {dim} features")
        macs = dim * hd.out_features
        walker.add(hpath, "linear", 0, macs, macs, f"1x{dim} -> {hd.out_features} (into head's neurons)")
    else:
        expect(isinstance(hd, nn.Identity), hpath, f"unsupported head_dist {typename(hd)}")
        walker.add(join(path, "head_avg"), "linear", dim, 2 * dim, 0, f"(x0 + x1) / 2 over {dim}")
    return x


def _register_eva() -> None:
    # timm loads on first use (start-up time)
    # timm loads on first use (start-up time)
    # timm loads on first use (start-up time)
    from timm.layers import GluMlp, SwiGLU
    from timm.layers import patch_dropout as tpd
    from timm.layers import pos_embed_sincos as tpos
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.eva import Eva, EvaAttention, EvaBlock, EvaBlockPostNorm

    register_handler(tpos.RotaryEmbeddingCat, tpd.PatchDropoutWithIndices)(passthrough)
    register_handler(GluMlp)(_glu_mlp)
    register_handler(SwiGLU)(_swiglu)
    register_handler(EvaAttention)(_eva_attention)
    register_handler(EvaBlock)(_eva_block)
    register_handler(EvaBlockPostNorm)(_eva_block_post_norm)
    register_handler(Eva)(_eva)
    register_handler(VisionTransformerDistilled)(_deit_distilled)


_register_eva()
