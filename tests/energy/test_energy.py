"""Operation counts and energy of converted timm ViTs (Section 5.2, Table 3, eq. 28)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from timm.models.vision_transformer import ResPostBlock, VisionTransformer

from ttfs_symbolic.cli import main
from ttfs_symbolic import energy
from ttfs_symbolic.energy import E_AC_PJ, E_MAC_PJ, HANDLERS, count_ops

# Counts are exact integers: compared with ==.  Energies are one float product
# (count * pJ * 1e-9) of an integer below 2**53, so they agree to a few ulp:
# rel=1e-12 is far above float64 rounding (~1e-16) and far below any real error.
REL = 1e-12


def tiny_vit(**kw) -> VisionTransformer:
    """A 1-channel 8x8 ViT: 4 patches of 4x4, 5 tokens, dim 4, 2 heads of 2, MLP 8."""
    args = dict(img_size=8, patch_size=4, in_chans=1, embed_dim=4, depth=1, num_heads=2,
                mlp_ratio=2.0, num_classes=3)
    args.update(kw)
    return VisionTransformer(**args).eval()


def ann_macs_from_config(depth, dim, heads, mlp_ratio, img, patch, chans, classes, prefix=1):
    """Textbook ViT MAC count, written independently of the walker."""
    P = (img // patch) ** 2
    T = P + prefix
    hd = dim // heads
    hidden = int(dim * mlp_ratio)
    patch_embed = P * (chans * patch * patch) * dim
    per_block = (T * dim * 3 * dim          # qkv
                 + heads * T * T * hd       # q @ k^T
                 + heads * T * T * hd       # attn @ v
                 + T * dim * dim            # proj
                 + T * dim * hidden         # fc1
                 + T * hidden * dim)        # fc2
    head = dim * classes                    # class token only
    return patch_embed + depth * per_block + head


# ---------------------------------------------------------------- OP_ANN ----

@pytest.mark.parametrize("name, depth, dim, heads", [
    ("vit_tiny_patch16_224", 12, 192, 3),   # published ViT-Ti/16 configuration
    ("vit_small_patch16_224", 12, 384, 6),  # published ViT-S/16 configuration
])
def test_ann_macs_match_config_formula(name, depth, dim, heads):
    rep = count_ops(name)
    assert rep.tokens == 197
    assert rep.op_ann == ann_macs_from_config(depth, dim, heads, 4.0, 224, 16, 3, 1000)
    # The static SNN count of every linear layer equals the ANN's MACs.
    for r in rep.rows:
        if r.kind in ("linear", "patch_embed"):
            assert r.op_snn == r.op_ann > 0
    assert rep.energy_ann_mj == pytest.approx(rep.op_ann * E_MAC_PJ * 1e-9, rel=REL)
    assert rep.energy_snn_mj == pytest.approx(rep.op_snn * E_AC_PJ * 1e-9, rel=REL)
    assert rep.energy_ratio == pytest.approx(rep.energy_snn_mj / rep.energy_ann_mj, rel=REL)


def test_ann_macs_match_torch_flop_counter_on_meta_model():
    """torch's own FLOP counter (2 FLOPs per MAC) on a meta-device forward of ViT-S."""
    rep = count_ops("vit_small_patch16_224")
    model = energy.build_meta_model("vit_small_patch16_224")
    with FlopCounterMode(display=False) as fc:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert fc.get_total_flops() == 2 * rep.op_ann


def test_ann_macs_match_forward_hooks_on_random_weight_model():
    torch.manual_seed(0)
    model = VisionTransformer(img_size=32, patch_size=8, in_chans=3, embed_dim=24, depth=2,
                              num_heads=3, mlp_ratio=4.0, num_classes=10).eval()
    counted = {"macs": 0, "tokens": []}

    def linear_hook(mod, inp, out):
        rows = out.numel() // out.shape[-1]
        counted["macs"] += rows * mod.in_features * mod.out_features

    def conv_hook(mod, inp, out):
        kh, kw = mod.kernel_size
        counted["macs"] += out.numel() * mod.in_channels * kh * kw

    def attn_hook(mod, inp, out):
        B, N, _ = inp[0].shape
        counted["tokens"].append(N)
        counted["macs"] += 2 * B * mod.num_heads * N * N * mod.head_dim  # q@k^T and attn@v

    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
        elif isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif type(m).__name__ == "Attention":
            m.register_forward_hook(attn_hook)
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))

    rep = count_ops(model)
    assert counted["tokens"] == [rep.tokens, rep.tokens] == [17, 17]
    assert rep.op_ann == counted["macs"]
    assert rep.op_ann == ann_macs_from_config(2, 24, 3, 4.0, 32, 8, 3, 10)


def test_img_size_changes_token_count():
    rep = count_ops("vit_small_patch16_224", img_size=384)
    assert rep.tokens == (384 // 16) ** 2 + 1 == 577
    assert rep.img_size == (384, 384)
    assert rep.op_ann == ann_macs_from_config(12, 384, 6, 4.0, 384, 16, 3, 1000)


# --------------------------------------------------------- Table 3 rows ----

def test_table3_formulas_on_hand_worked_tiny_model():
    # P = (8/4)^2 = 4 patches, T = 5 tokens, dim 4, H = 2 heads, hd = 2, MLP hidden 8.
    rep = count_ops(tiny_vit())
    got = {r.name: (r.kind, r.neurons, r.op_snn, r.op_ann) for r in rep.rows}
    ln = ("layernorm", 5 * (3 * 4 + 3), 5 * (9 * 4 + 1), 0)     # 5 rows of N=4
    expected = {
        # 4 patches, each 1*4*4 pixel spikes to 4 outputs
        "patch_embed.proj": ("patch_embed", 4 * 4, 4 * 16 * 4, 4 * 16 * 4),
        "blocks.0.norm1": ln,
        "blocks.0.attn.qkv": ("linear", 5 * 12, 5 * 4 * 12, 5 * 4 * 12),
        # MatMul M=5, K=2, N=5, per head: MN(K+1) neurons, 5MNK ops as built, MNK MACs
        "blocks.0.attn.qk_matmul": ("matmul", 2 * 25 * 3, 2 * 5 * 25 * 2, 2 * 25 * 2),
        # Softmax: 2 heads * 5 rows of N=5: 2(N+1), 6N per row
        "blocks.0.attn.softmax": ("softmax", 10 * 12, 10 * 30, 0),
        # MatMul M=5, K=5, N=2, per head
        "blocks.0.attn.av_matmul": ("matmul", 2 * 10 * 6, 2 * 5 * 10 * 5, 2 * 10 * 5),
        "blocks.0.attn.proj": ("linear", 5 * 4, 5 * 4 * 4, 5 * 4 * 4),
        "blocks.0.residual1": ("residual", 5 * 4, 2 * 5 * 4, 0),
        "blocks.0.norm2": ln,
        "blocks.0.mlp.fc1": ("linear", 5 * 8, 5 * 4 * 8, 5 * 4 * 8),
        "blocks.0.mlp.act": ("activation", 5 * 8, 5 * 8, 0),
        "blocks.0.mlp.fc2": ("linear", 5 * 4, 5 * 8 * 4, 5 * 8 * 4),
        "blocks.0.residual2": ("residual", 5 * 4, 2 * 5 * 4, 0),
        "norm": ln,
        "head": ("linear", 3, 4 * 3, 4 * 3),                   # class token only
    }
    assert list(got) == list(expected)  # forward order
    assert got == expected
    assert rep.neurons == sum(v[1] for v in expected.values())
    assert rep.op_snn == sum(v[2] for v in expected.values())
    assert rep.op_ann == sum(v[3] for v in expected.values())
    assert rep.tokens == 5


def test_qk_norm_avg_pool_and_fc_norm():
    rep = count_ops(tiny_vit(qk_norm=True, global_pool="avg", class_token=False))
    got = {r.name: (r.neurons, r.op_snn, r.op_ann) for r in rep.rows}
    assert rep.tokens == 4                                  # no class token
    # q_norm / k_norm: LayerNorm over hd = 2 on T * H = 4 * 2 rows
    assert got["blocks.0.attn.q_norm"] == got["blocks.0.attn.k_norm"] == (8 * 9, 8 * 19, 0)
    # avg pool: 4 tokens per output, dim 4 outputs; then fc_norm on 1 row of 4
    assert got["pool"] == (4, 4 * 4, 0)
    assert got["fc_norm"] == (15, 37, 0)
    assert "norm" not in got                                # timm uses fc_norm instead
    assert got["head"] == (3, 12, 12)
    # With a class token, timm's mean excludes the prefix: still 4 patches, not 5 tokens.
    rep = count_ops(tiny_vit(global_pool="avg"))
    pool = [r for r in rep.rows if r.name == "pool"][0]
    assert rep.tokens == 5 and (pool.neurons, pool.op_snn) == (4, 4 * 4)


def test_post_norm_block_counts_the_same_layers():
    pre = count_ops(tiny_vit())
    post = count_ops(tiny_vit(block_fn=ResPostBlock))
    assert sorted(r.name for r in post.rows) == sorted(r.name for r in pre.rows)
    assert (post.neurons, post.op_snn, post.op_ann) == (pre.neurons, pre.op_snn, pre.op_ann)


def test_table_lists_rows_and_totals():
    rep = count_ops(tiny_vit())
    text = rep.table()
    assert "blocks.0.attn.qk_matmul" in text and "E_SNN / E_ANN" in text
    total_line = [ln for ln in text.splitlines() if ln.startswith("total")][0]
    assert f"{rep.op_snn:,}" in total_line and f"{rep.op_ann:,}" in total_line
    kinds = rep.by_kind()
    assert sum(v["op_snn"] for v in kinds.values()) == rep.op_snn
    assert kinds["matmul"]["op_ann"] + kinds["linear"]["op_ann"] \
        + kinds["patch_embed"]["op_ann"] == rep.op_ann


# ---------------------------------------------------------- spike rates ----

def test_spike_rates_scale_only_named_rows():
    static = count_ops(tiny_vit())
    rates = {"blocks.0.mlp.fc2": 0.25, "patch_embed.proj": 0.0}
    rep = count_ops(tiny_vit(), spike_rates=rates)
    s = {r.name: r for r in static.rows}
    for r in rep.rows:
        if r.name in rates:
            assert r.spike_rate == rates[r.name]
            assert r.op_snn == pytest.approx(rates[r.name] * s[r.name].op_snn, rel=REL)
        else:
            assert r.spike_rate is None and r.op_snn == s[r.name].op_snn
        assert r.neurons == s[r.name].neurons and r.op_ann == s[r.name].op_ann
    saved = 0.75 * s["blocks.0.mlp.fc2"].op_snn + s["patch_embed.proj"].op_snn
    assert rep.op_snn == pytest.approx(static.op_snn - saved, rel=REL)
    assert rep.energy_snn_mj == pytest.approx(rep.op_snn * E_AC_PJ * 1e-9, rel=REL)
    assert rep.op_ann == static.op_ann


@pytest.mark.parametrize("rates, match", [
    ({"blocks.0.mlp.fc9": 0.5}, "blocks.0.mlp.fc9"),
    ({"head": 1.5}, r"head.*\[0, 1\]"),
    ({"head": float("nan")}, r"head.*\[0, 1\]"),
])
def test_bad_spike_rates_are_refused(rates, match):
    with pytest.raises(ValueError, match=match):
        count_ops(tiny_vit(), spike_rates=rates)


# ------------------------------------------------------------ refusals ----

def test_unsupported_module_is_named():
    model = tiny_vit()
    model.blocks[0].norm1 = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"blocks\.0\.norm1.*BatchNorm1d"):
        count_ops(model)


def test_unknown_activation_is_named():
    model = tiny_vit()
    model.blocks[0].mlp.act = nn.SELU()   # no registered neuron (Tanh is registered: tests/conversion/test_activations.py)
    with pytest.raises(ValueError, match=r"blocks\.0\.mlp\.act.*SELU"):
        count_ops(model)


def test_relu_mlp_counts_like_gelu():
    """The converter supports nn.ReLU (the relu catalogue neuron): so does the count."""
    gelu = {r.name: r for r in count_ops(tiny_vit()).rows}
    model = tiny_vit()
    model.blocks[0].mlp.act = nn.ReLU()
    relu = {r.name: r for r in count_ops(model).rows}
    assert relu.keys() == gelu.keys()
    a, b = relu["blocks.0.mlp.act"], gelu["blocks.0.mlp.act"]
    assert (a.kind, a.neurons, a.op_snn) == (b.kind, b.neurons, b.op_snn) == ("activation", 5 * 8, 5 * 8)


def test_table3_matmul_figure_is_kept_beside_the_built_count():
    rep = count_ops(tiny_vit())
    rows = {r.name: r for r in rep.rows}
    assert rows["blocks.0.attn.qk_matmul"].op_snn_table3 == 2 * 25 * (3 * 2 + 2)    # MN(3K+2)
    assert rows["blocks.0.attn.av_matmul"].op_snn_table3 == 2 * 10 * (3 * 5 + 2)
    diff = sum(r.op_snn - r.op_snn_table3 for r in rep.rows if r.op_snn_table3 is not None)
    assert rep.op_snn - rep.op_snn_table3 == diff == 2 * 25 * (10 - 8) + 2 * 10 * (25 - 17)
    assert rep.energy_ratio_table3 < rep.energy_ratio
    d = rep.to_dict()
    assert d["op_snn_table3"] == rep.op_snn_table3 and "MN(3K+2)" in rep.table()


def test_module_outside_every_pattern_is_named():
    model = tiny_vit()
    model.extra = nn.Conv2d(1, 1, 3)  # never reached by the forward walk
    with pytest.raises(ValueError, match=r"'extra'.*Conv2d"):
        count_ops(model)


def test_overlapping_patch_conv_is_refused():
    model = tiny_vit()
    model.patch_embed.proj = nn.Conv2d(1, 4, kernel_size=4, stride=2)
    with pytest.raises(ValueError, match=r"patch_embed\.proj.*kernel"):
        count_ops(model)


def test_non_vit_model_is_refused():
    with pytest.raises(ValueError, match="ResNet"):
        count_ops("resnet18")


def test_img_size_mismatch_on_instance():
    with pytest.raises(ValueError, match="img_size"):
        count_ops(tiny_vit(), img_size=16)
    rep = count_ops(tiny_vit(dynamic_img_size=True), img_size=16)
    assert rep.tokens == (16 // 4) ** 2 + 1


def test_dispatch_table_accepts_new_module_types(monkeypatch):
    """The extension point for EVA etc.: a handler registered for a new type is used."""
    class Twice(nn.Module):
        def forward(self, x):
            return 2 * x

    def handler(walker, module, path, shape):
        walker.add(path, "custom", shape[0] * shape[1], 7, 0, "x2")
        return shape

    model = tiny_vit()
    model.blocks[0].mlp.act = Twice()
    monkeypatch.setitem(HANDLERS, Twice, handler)
    rep = count_ops(model)
    row = [r for r in rep.rows if r.name == "blocks.0.mlp.act"][0]
    assert (row.kind, row.neurons, row.op_snn) == ("custom", 5 * 8, 7)


# ----------------------------------------------------------------- CLI ----

def test_cli_json(capsys):
    assert main(["energy", "vit_tiny_patch16_224", "--img-size", "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("op_snn", "op_ann", "energy_snn_mj", "energy_ann_mj", "energy_ratio",
                "neurons", "layers"):
        assert key in data
    assert data["tokens"] == (64 // 16) ** 2 + 1
    assert sum(r["op_snn"] for r in data["layers"]) == data["op_snn"]
    assert sum(r["op_ann"] for r in data["layers"]) == data["op_ann"]
    assert sum(r["neurons"] for r in data["layers"]) == data["neurons"]
    assert data["op_ann"] == ann_macs_from_config(12, 192, 3, 4.0, 64, 16, 3, 1000)
    assert data["energy_snn_mj"] == pytest.approx(data["op_snn"] * 0.9e-9, rel=REL)
    assert data["energy_ann_mj"] == pytest.approx(data["op_ann"] * 4.6e-9, rel=REL)
    assert data["energy_ratio"] == pytest.approx(
        data["energy_snn_mj"] / data["energy_ann_mj"], rel=REL)
    assert {"name", "kind", "neurons", "op_snn", "op_ann"} <= set(data["layers"][0])


def test_cli_table(capsys):
    assert main(["energy", "vit_tiny_patch16_224", "--img-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "blocks.11.mlp.fc2" in out and "total" in out and "eq. 28" in out


def test_cli_unknown_model(capsys):
    assert main(["energy", "vit_no_such_model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vit_no_such_model" in err
    assert "timm.list_models('vit_*')" in err



def test_a_count_names_the_preset_whose_network_it_counts():
    """count_ops's defaults are the paper's network: its report says preset paper, as ttfs energy --preset
    paper does (a docs probe found 'preset custom'); a structure of no preset stays custom."""
    from ttfs_symbolic.conversion.presets import describe

    kw = dict(img_size=32, model_kwargs={"patch_size": 8, "depth": 1})
    assert count_ops("vit_tiny_patch16_224", **kw).configuration["preset"] == "paper"
    acc = count_ops("vit_tiny_patch16_224", product="signed", residual="synapses", rsqrt="folded", **kw)
    assert acc.configuration["preset"] == "accurate"
    mixed = count_ops("vit_tiny_patch16_224", product="signed", **kw)
    assert describe(mixed.configuration).startswith("preset custom (")
