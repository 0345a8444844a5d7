"""timm EVA / EVA-02 and distilled DeiT as TTFS SNNs: exact conversion, new layers, refusals.

Reference logits come from the timm model itself in float64 with the
attention unfused (``fused_attn = False`` on every attention module, the
semantics of ``timm.layers.set_fused_attn(False)``), so the softmax the SNN
reproduces is the one the reference computes.
"""
from __future__ import annotations

import math

import pytest
import timm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from timm.layers import LayerNorm, RmsNorm, apply_rot_embed_cat
from timm.layers.mlp import GluMlp, SwiGLU
from timm.models.eva import Eva, EvaAttention
from torch import nn

from ttfs_symbolic.conversion.convert import build_spiking, calibrate, convert
from ttfs_symbolic.families.deit import SpikingDeiTDistilled, is_deit_distilled
from ttfs_symbolic.families.eva import SpikingEva, SpikingEvaAttention, SpikingEvaMlp, SpikingRope, is_eva
from ttfs_symbolic.conversion.claims import ModuleClaims
from ttfs_symbolic.spiking import Ctx, Population, Product, SpikingModel
from ttfs_symbolic.families.vit import SpikingViT, UnsupportedModuleError

# Exact mode evaluates every neuron's closed form in float64. The SNN computes
# the same function as the ANN through a different sequence of float64
# operations (scale folded into W_q, LayerNorm as mean / var / rsqrt neurons
# and a product, softmax as max / logsumexp / exp neurons), so the logits
# differ by accumulated rounding: about 1e-15 relative after 12 blocks (eps =
# 1.1e-16 times a few hundred operations on the longest path). 1e-9 leaves six
# orders of magnitude of margin and is still far below any real mistake (a
# dropped bias, a wrong rope sign or one clipped neuron moves the logits by
# more than 1e-6 relative with the weights drawn below).
EXACT_REL = 1e-9
# A single layer against its torch op: a few dozen float64 operations.
LAYER_REL = 1e-12

PROP = settings(deadline=None)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights of ordinary scale everywhere (timm zeroes biases and shrinks the head).

    Every Linear gets N(0, 1/fan_in) weights, every bias, LayerNorm affine,
    q/v bias, layer scale, class / register / distillation token and
    position embedding a random perturbation, so each of them changes the
    logits by far more than EXACT_REL.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * m.in_features ** -0.5)
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("bias", "q_bias", "v_bias", "cls_token", "reg_token", "dist_token", "pos_embed"):
                p.add_(0.2 * torch.randn(p.shape, generator=g))
            elif leaf in ("gamma_1", "gamma_2") or (leaf == "weight" and p.dim() == 1):
                p.mul_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def reference(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """timm's own forward in float64 with the softmax exposed (unfused attention)."""
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False
    with torch.no_grad():
        return model.double()(images.double())


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out - ref).abs().max() / ref.abs().max())


def n_products(module: nn.Module) -> int:
    return sum(isinstance(m, Product) for m in module.modules())


# --------------------------------------------------------------------------
# named EVA-02 configurations at their native size
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["eva02_tiny_patch14_224", "eva02_small_patch14_224"])
def test_named_eva02_exact(name):
    # timm's eva02_*_224 are feature models (num_classes=0); a 1000-class head makes the
    # output logits and adds the head layer to the check (native 224 px, no other override)
    model = randomize(timm.create_model(name, pretrained=False, num_classes=1000))
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    snn = convert(model, images, progress=False)
    assert isinstance(snn, SpikingEva) and is_eva(model)
    assert snn.n_tokens == 257 and len(snn.blocks) == 12 and snn.head is not None
    # every block rotates q and k by identity-neuron layers, and the only products are
    # norm1, norm2, QK^T, AV, the SwiGLU gate (5 per block) and fc_norm
    assert all(b.attn.q_rope is not None and b.attn.k_rope is not None for b in snn.blocks)
    assert n_products(snn) == 5 * 12 + 1
    out = snn(images, dtype=torch.float64)
    ref = reference(model, images)
    assert rel_err(out, ref) < EXACT_REL
    assert torch.equal(out.argmax(-1), ref.argmax(-1))


# --------------------------------------------------------------------------
# the other pieces of Eva, on small models
# --------------------------------------------------------------------------

SMALL = dict(img_size=28, patch_size=7, embed_dim=32, depth=2, num_heads=2, num_classes=7)

CONFIGS = {
    # EVA-02 B/L layout: separate q/k/v, SwiGLU with the LayerNorm inside, RoPE
    "swiglu_norm_separate_qkv": dict(mlp_ratio=8 / 3, swiglu_mlp=True, scale_mlp=True, qkv_fused=False,
                                     use_rot_pos_emb=True, ref_feat_shape=(4, 4)),
    # layer scale, attention-inner norm, half-layout RoPE, register tokens, token pooling
    "gamma_attn_norm_half_rope_reg": dict(mlp_ratio=8 / 3, swiglu_mlp=True, init_values=0.5, scale_attn_inner=True,
                                          use_rot_pos_emb=True, rope_rotate_half=True, num_reg_tokens=2,
                                          global_pool="token"),
    # post-norm blocks, qk-free GluMlp, no_embed_class, pre-norm
    "post_norm_glu": dict(mlp_ratio=8 / 3, swiglu_mlp=True, use_post_norm=True, use_rot_pos_emb=True,
                          no_embed_class=True, use_pre_transformer_norm=True),
    # EVA-G layout: plain GELU Mlp, no RoPE, avg pool + fc_norm; plus qk-norm
    "giant_like_qk_norm": dict(mlp_ratio=4.0, qk_norm=True, class_token=False, global_pool="avg"),
}


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_small_eva_configs_exact(cfg):
    model = randomize(Eva(**SMALL, **CONFIGS[cfg]), seed=2)
    images = torch.randn(3, 3, 28, 28, generator=torch.Generator().manual_seed(3))
    snn = convert(model, images, progress=False)
    out = snn(images, dtype=torch.float64)
    ref = reference(model, images)
    assert rel_err(out, ref) < EXACT_REL
    assert torch.equal(out.argmax(-1), ref.argmax(-1))
    # float32 exact mode: the same network in single precision (eps 6e-8, a few hundred ops)
    out32 = snn(images, dtype=torch.float32)
    assert rel_err(out32.double(), ref) < 1e-4


def test_quantized_and_kernel_modes_converge_with_precision():
    """Section 5.3: the spike-time error is at most delta/p, so the logit error falls as p grows."""
    model = randomize(Eva(**SMALL, **CONFIGS["swiglu_norm_separate_qkv"]), seed=4)
    images = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(5))
    snn = convert(model, images, progress=False)
    ref = reference(model, images)
    for mode in ("quantized", "kernel"):
        coarse = rel_err(snn(images, mode=mode, precision=64, dtype=torch.float64), ref)
        fine = rel_err(snn(images, mode=mode, precision=8192, dtype=torch.float64), ref)
        # 128x finer grid: first-order error shrinks ~128x; demand at least 10x and a small error
        assert fine < coarse / 10 and fine < 5e-3, (mode, coarse, fine)


def test_spike_rates_name_energy_rows():
    from ttfs_symbolic.energy import count_ops

    model = randomize(Eva(**SMALL, **CONFIGS["swiglu_norm_separate_qkv"]), seed=6)
    images = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(7))
    snn = convert(model, images, progress=False)
    snn(images, dtype=torch.float64, record=True)
    rates = snn.spike_rates_for_energy()
    for row in ("blocks.0.attn.q_proj", "blocks.0.attn.k_proj", "blocks.0.attn.v_proj", "blocks.0.attn.q_rope",
                "blocks.1.mlp.fc1_g", "blocks.1.mlp.fc1_x", "blocks.1.mlp.fc2", "blocks.1.attn.proj", "head",
                "patch_embed.proj"):
        assert 0.0 <= rates[row] <= 1.0
    rep = count_ops(model, spike_rates=rates)
    static = count_ops(model)
    assert rep.op_snn <= static.op_snn and rep.op_ann == static.op_ann


# --------------------------------------------------------------------------
# property tests: each new spiking layer against the torch op
# --------------------------------------------------------------------------

class Harness(SpikingModel):
    """One spiking layer fed by an input population, calibrated by convert.calibrate."""

    def __init__(self, build):
        super().__init__()
        self.input = Population("input", "identity", kind="input", fan_in=0)
        self.layer = build(self.input)
        self.softmax_max = True

    def populations(self):
        return [m for m in self.modules() if isinstance(m, Population)]

    def check_images(self, x):
        return x

    def run(self, x, ctx):
        return self.layer(self.input.emit(x, ctx), ctx)

    def calibrated_output(self, x):
        calibrate(self, x, progress=False, batch_size=x.shape[0])
        return self.run(x.double(), Ctx(mode="exact"))


def rope_table(n: int, hd: int, gen: torch.Generator) -> torch.Tensor:
    ang = torch.rand(n, hd // 2, generator=gen, dtype=torch.float64) * 2 * math.pi
    ang = ang.repeat_interleave(2, -1)
    return torch.cat([ang.sin(), ang.cos()], -1)


@PROP
@given(seed=st.integers(0, 2 ** 16), npt=st.integers(0, 2), half=st.booleans(), hd=st.sampled_from([2, 4, 8]))
def test_rope_layer_is_apply_rot_embed_cat(seed, npt, half, hd):
    g = torch.Generator().manual_seed(seed)
    n_rot, H, B = 5, 2, 2
    emb = rope_table(n_rot, hd, g)
    x = torch.randn(B, H, n_rot + npt, hd, generator=g, dtype=torch.float64) * 3
    sin, cos = emb.chunk(2, -1)
    h = Harness(lambda src: SpikingRope("rope", src, sin, cos, npt, half))
    out = h.calibrated_output(x)
    ref = torch.cat([x[:, :, :npt], apply_rot_embed_cat(x[:, :, npt:], emb, half=half)], dim=2)
    assert float((out - ref).abs().max()) <= LAYER_REL * float(ref.abs().max())
    # it is a constant sparse linear map per token, made of identity neurons, no product network
    rope = h.layer
    assert rope.out.kind == "rope" and rope.out.neuron == "identity" and rope.out.h is None
    assert n_products(h) == 0
    for t in range(n_rot + npt):
        R = rope.matrix(t)
        assert int((R != 0).sum(-1).max()) <= 2
        assert torch.allclose(x[:, :, t] @ R.T, out[:, :, t], rtol=0, atol=1e-12 * float(ref.abs().max()))


@PROP
@given(seed=st.integers(0, 2 ** 16), swiglu=st.booleans(), with_norm=st.booleans(), gate_last=st.booleans())
def test_gated_mlp_matches_timm(seed, swiglu, with_norm, gate_last):
    torch.manual_seed(seed)
    dim, hidden = 6, 10
    norm = LayerNorm if with_norm else None
    if swiglu:
        mod = SwiGLU(dim, hidden, norm_layer=norm)
    else:
        mod = GluMlp(dim, 2 * hidden, act_layer=nn.SiLU, norm_layer=norm, gate_last=gate_last)
    randomize(mod, seed)
    mod = mod.double()
    x = torch.randn(3, 5, dim, dtype=torch.float64) * 2
    h = Harness(lambda src: SpikingEvaMlp("mlp", mod, ModuleClaims(mod), src, None))
    out = h.calibrated_output(x)
    with torch.no_grad():
        ref = mod(x)
    assert float((out - ref).abs().max()) <= LAYER_REL * float(ref.abs().max())
    # the gate product is the multiplication network (Section 4.3.4), plus one inside each LayerNorm
    assert h.layer.gated and n_products(h) == 1 + int(with_norm)


@PROP
@given(seed=st.integers(0, 2 ** 16), fused=st.booleans(), npt=st.integers(0, 2), inner_norm=st.booleans(),
       half=st.booleans())
def test_eva_attention_matches_timm(seed, fused, npt, inner_norm, half):
    torch.manual_seed(seed)
    dim, H, n_rot = 8, 2, 4
    attn = EvaAttention(dim, num_heads=H, qkv_fused=fused, num_prefix_tokens=npt, norm_layer=LayerNorm,
                        scale_norm=inner_norm, rotate_half=half)
    randomize(attn, seed)
    attn = attn.double().eval()
    attn.fused_attn = False
    hd = dim // H
    emb = rope_table(n_rot, hd, torch.Generator().manual_seed(seed))
    x = torch.randn(2, n_rot + npt, dim, dtype=torch.float64)
    sin, cos = emb.chunk(2, -1)
    h = Harness(lambda src: SpikingEvaAttention("attn", attn, ModuleClaims(attn), src, n_rot + npt, (sin, cos), None,
                                                softmax_max=True))
    out = h.calibrated_output(x)
    with torch.no_grad():
        ref = attn(x, rope=emb)
    assert float((out - ref).abs().max()) <= LAYER_REL * 10 * float(ref.abs().max())  # softmax + LN: ~100 ops more
    # products: QK^T and AV, plus the attention-inner LayerNorm's; the rope layers add none
    assert n_products(h) == 2 + int(inner_norm)


# --------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------

def small(**kw):
    args = dict(SMALL, mlp_ratio=8 / 3, swiglu_mlp=True, use_rot_pos_emb=True)
    args.update(kw)
    return Eva(**args).eval()


@pytest.mark.parametrize("make, needle", [
    (lambda: small(global_pool="max"), "global_pool='max'"),
    (lambda: small(norm_layer=RmsNorm), "'blocks.0.norm1'.*RmsNorm"),
    (lambda: small(attn_type="rope"), "'blocks.0.attn'.*AttentionRope"),
    (lambda: small(rope_type="mixed"), "'rope'.*RotaryEmbeddingMixed"),
    (lambda: small(dynamic_img_size=True), "dynamic_img_size"),
])
def test_unsupported_configs_are_refused(make, needle):
    with pytest.raises(UnsupportedModuleError, match=needle):
        SpikingEva(make())


def test_unsupported_modules_are_refused_by_path():
    m = small()
    m.blocks[1].attn.gate = nn.Linear(32, 32)
    with pytest.raises(UnsupportedModuleError, match="'blocks.1.attn.gate'"):
        SpikingEva(m)
    m = small()
    m.blocks[0].mlp.act = nn.SELU()   # no registered neuron
    with pytest.raises(UnsupportedModuleError, match="'blocks.0.mlp.act'.*SELU"):
        SpikingEva(m)
    m = small()
    m.blocks[0].extra = nn.Conv1d(2, 2, 1)  # a module no forward uses is still refused, not ignored
    with pytest.raises(UnsupportedModuleError, match="'blocks.0.extra'.*Conv1d"):
        SpikingEva(m)
    m = small()
    m.blocks[0].mlp.norm = nn.BatchNorm1d(4)
    with pytest.raises(UnsupportedModuleError, match="'blocks.0.mlp.norm'.*BatchNorm1d"):
        SpikingEva(m)


def test_build_spiking_dispatches_eva():
    assert isinstance(build_spiking(small()), SpikingEva)
    plain = timm.create_model("deit_tiny_patch16_224", pretrained=False, depth=1)
    assert isinstance(build_spiking(plain.eval()), SpikingViT)  # plain DeiT is a VisionTransformer


# --------------------------------------------------------------------------
# DeiT with a distillation token
# --------------------------------------------------------------------------

def test_deit_distilled_exact():
    model = randomize(timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False), seed=8)
    assert is_deit_distilled(model) and not is_eva(model)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(9))
    snn = calibrate(SpikingDeiTDistilled(model), images, progress=False)
    assert snn.n_tokens == 198 and snn.prefix.shape[1] == 2
    out = snn(images, dtype=torch.float64)
    ref = reference(model, images)
    assert rel_err(out, ref) < EXACT_REL
    assert torch.equal(out.argmax(-1), ref.argmax(-1))
    # the distillation head matters: the class-token head alone gives other logits
    with torch.no_grad():
        feats = model.forward_features(images.double())
        cls_only = model.head(feats[:, 0])
    assert rel_err(cls_only, ref) > 1e-3
    snn(images, dtype=torch.float64, record=True)
    rates = snn.spike_rates_for_energy()
    assert {"head", "head_dist", "blocks.0.attn.qkv", "patch_embed.proj"} <= set(rates)


def test_convert_and_report_dispatch_distilled_deit():
    """convert() picks SpikingDeiTDistilled (a VisionTransformer subclass: tested first), and the
    report's energy rows include the distillation head through the model's own spike rates."""
    from ttfs_symbolic.conversion.convert import convert
    from ttfs_symbolic.evaluation.report import evaluate

    model = randomize(timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, depth=1), seed=3)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    snn = convert(model, images, progress=False)
    assert type(snn) is SpikingDeiTDistilled
    rep = evaluate(snn, model, images, mode="exact", dtype=torch.float64, progress=False)
    assert rep.agreement == 1.0 and rep.max_logit_rel_error < EXACT_REL
    rows = {r["name"]: r for r in rep.energy_rows}
    assert rows["head_dist"]["spike_rate"] is not None and rows["head"]["spike_rate"] is not None


def test_deit_distilled_refuses_other_models():
    with pytest.raises(UnsupportedModuleError, match="VisionTransformerDistilled"):
        SpikingDeiTDistilled(timm.create_model("deit_tiny_patch16_224", pretrained=False, depth=1))
