"""Operation counts of timm Eva (EVA, EVA-02) and distilled DeiT (Section 5.2, Table 3, eq. 28).

Counts are exact integers and compared with ==. Rows are recomputed here
from the model configuration with the Table 3 formulas written out by hand,
independently of the walker; the ANN side is checked against torch's own
FLOP counter (2 FLOPs per MAC) on a meta-device forward.
"""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from timm.models.eva import Eva

from ttfs_symbolic.cli import main
from ttfs_symbolic import energy
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.energy import E_AC_PJ, E_MAC_PJ, count_ops

# Energies are one float product of an integer below 2**53: rel=1e-12 is far above
# float64 rounding (~1e-16) and far below any counting error.
REL = 1e-12


def eva02_rows(T, P, dim, H, hidden, npt=1):
    """Per-block rows (name -> neurons, OP_SNN, OP_ANN) of a pre-norm EVA-02 block with
    fused qkv, RoPE and a GluMlp (SiLU gate), from Table 3 (written independently)."""
    hd = dim // H
    ln = (T * (3 * dim + 3), T * (9 * dim + 1), 0)
    rope = (H * T * hd, H * hd * (2 * (T - npt) + npt), 0)  # 2 synapses per rotated value, 1 per prefix value
    return {
        "norm1": ln,
        "attn.qkv": (T * 3 * dim, T * dim * 3 * dim, T * dim * 3 * dim),
        "attn.q_rope": rope,
        "attn.k_rope": rope,
        "attn.qk_matmul": (H * T * T * (hd + 1), 5 * H * T * T * hd, H * T * T * hd),
        "attn.softmax": (H * T * 2 * (T + 1), H * T * 6 * T, 0),
        "attn.av_matmul": (H * T * hd * (T + 1), 5 * H * T * hd * T, H * T * T * hd),
        "attn.proj": (T * dim, T * dim * dim, T * dim * dim),
        "residual1": (T * dim, 2 * T * dim, 0),
        "norm2": ln,
        "mlp.fc1": (T * 2 * hidden, T * dim * 2 * hidden, T * dim * 2 * hidden),
        "mlp.act": (T * hidden, T * hidden, 0),
        "mlp.mul": (2 * T * hidden, 5 * T * hidden, 0),  # MatMul row with K = 1: MN(1+1), MN(3+2)
        "mlp.fc2": (T * dim, T * hidden * dim, T * hidden * dim),
        "residual2": (T * dim, 2 * T * dim, 0),
    }


def test_eva02_small_rows_and_totals():
    rep = count_ops("eva02_small_patch14_224")
    P, dim, H, depth = 16 * 16, 384, 6, 12
    T = P + 1
    hidden = int(dim * 4 * 2 / 3)  # 1024
    block = eva02_rows(T, P, dim, H, hidden)
    got = {r.name: (r.neurons, r.op_snn, r.op_ann) for r in rep.rows}
    for i in range(depth):
        for k, v in block.items():
            assert got[f"blocks.{i}.{k}"] == v, (i, k)
    fan_in = 3 * 14 * 14
    top = {
        "patch_embed.proj": (P * dim, P * fan_in * dim, P * fan_in * dim),
        "pool": (dim, P * dim, 0),
        "fc_norm": (3 * dim + 3, 9 * dim + 1, 0),
        # timm's eva02_*_224 are the MIM-pretrained feature models: num_classes=0, no head
    }
    for k, v in top.items():
        assert got[k] == v, k
    assert len(got) == depth * len(block) + len(top)  # nothing else counted
    for j, what in enumerate(("neurons", "op_snn", "op_ann")):
        expect = depth * sum(v[j] for v in block.values()) + sum(v[j] for v in top.values())
        assert getattr(rep, what) == expect, what
    assert rep.tokens == T
    assert rep.energy_snn_mj == pytest.approx(rep.op_snn * E_AC_PJ * 1e-9, rel=REL)
    assert rep.energy_ann_mj == pytest.approx(rep.op_ann * E_MAC_PJ * 1e-9, rel=REL)
    assert rep.energy_ratio == pytest.approx(rep.energy_snn_mj / rep.energy_ann_mj, rel=REL)


@pytest.mark.parametrize("name", ["eva02_small_patch14_224", "eva02_base_patch14_224",
                                  "eva_giant_patch14_224", "deit_tiny_distilled_patch16_224"])
def test_ann_macs_match_torch_flop_counter(name):
    """OP_ANN is the MAC count of the linear layers and both attention products: exactly
    half torch's FLOP count (the elementwise SwiGLU product and RoPE are not MACs)."""
    rep = count_ops(name)
    model = energy.build_meta_model(name)
    with FlopCounterMode(display=False) as fc:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert fc.get_total_flops() == 2 * rep.op_ann


def test_eva02_large_and_giant_layouts():
    large = count_ops("eva02_large_patch14_224")
    names = {r.name for r in large.rows}
    # separate q/k/v projections, SwiGLU with split fc1 and the LayerNorm inside the MLP
    for k in ("attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.q_rope", "mlp.fc1_g", "mlp.fc1_x",
              "mlp.act", "mlp.mul", "mlp.norm", "mlp.fc2"):
        assert f"blocks.23.{k}" in names
    T, dim, hidden = 257, 1024, int(1024 * 4 * 2 / 3)
    by = {r.name: r for r in large.rows}
    assert (by["blocks.0.mlp.norm"].neurons, by["blocks.0.mlp.norm"].op_snn) == \
           (T * (3 * hidden + 3), T * (9 * hidden + 1))
    assert by["blocks.0.mlp.mul"].neurons == 2 * T * hidden
    giant = count_ops("eva_giant_patch14_224")
    kinds = giant.by_kind()
    assert "rope" not in kinds and "product" not in kinds  # EVA-G: abs. positions, GELU MLP
    assert sum(r.name.endswith("mlp.act") for r in giant.rows) == 40


def test_counts_match_the_converted_network():
    """Neurons per row equal the neurons the converted SNN actually ran (record=True, 1 image),
    and the RoPE row's synapses bound the nonzero weights of the spiking rope layer."""
    torch.manual_seed(0)
    model = Eva(img_size=28, patch_size=7, embed_dim=32, depth=1, num_heads=2, num_classes=5, mlp_ratio=8 / 3,
                swiglu_mlp=True, scale_mlp=True, qkv_fused=False, use_rot_pos_emb=True, ref_feat_shape=(4, 4),
                num_reg_tokens=1).eval()
    images = torch.randn(2, 3, 28, 28)
    snn = convert(model, images, progress=False, preset="paper", product="signed")   # linear codes: one neuron a value
    snn(images[:1], dtype=torch.float64, record=True)
    ran = {p.pname: p.stats.neurons for p in snn.populations()}
    rows = {r.name: r for r in count_ops(model, product="signed").rows}
    pre = "blocks.0"
    assert rows[f"{pre}.attn.q_rope"].neurons == ran[f"{pre}.attn.q_rope"] == 2 * 18 * 16
    assert rows[f"{pre}.attn.k_rope"].neurons == ran[f"{pre}.attn.k_rope"]
    assert rows[f"{pre}.mlp.mul"].neurons == ran[f"{pre}.mlp.mul"] + ran[f"{pre}.mlp.mul.layer1"]
    assert rows[f"{pre}.attn.qk_matmul"].neurons == ran[f"{pre}.attn.scores"] + ran[f"{pre}.attn.qk.layer1"]
    assert rows[f"{pre}.mlp.act"].neurons == ran[f"{pre}.mlp.act"]
    rope = snn.blocks[0].attn.q_rope
    H = 2
    assert H * rope.synapses() <= rows[f"{pre}.attn.q_rope"].op_snn == H * 16 * (2 * 16 + 2)


def test_cli_json_for_eva(capsys):
    assert main(["energy", "eva02_small_patch14_224", "--json", "--preset", "paper"]) == 0
    data = json.loads(capsys.readouterr().out)
    rep = count_ops("eva02_small_patch14_224")
    assert (data["op_snn"], data["op_ann"], data["neurons"]) == (rep.op_snn, rep.op_ann, rep.neurons)
    assert data["configuration"] == {"preset": "paper", "product": "paper", "residual": "neuron", "rsqrt": "neuron"}
    assert main(["energy", "eva02_small_patch14_224", "--json"]) == 0   # the converter's default network
    data = json.loads(capsys.readouterr().out)
    rep = count_ops("eva02_small_patch14_224", product="signed", residual="synapses", rsqrt="folded")
    assert (data["op_snn"], data["neurons"]) == (rep.op_snn, rep.neurons)
    assert data["configuration"]["preset"] == "accurate"
    assert data["by_kind"]["rope"]["op_ann"] == 0 and data["by_kind"]["product"]["neurons"] > 0


def test_distilled_head_rows():
    rep = count_ops("deit_tiny_distilled_patch16_224")
    by = {r.name: r for r in rep.rows}
    assert rep.tokens == 14 * 14 + 2
    assert (by["head"].neurons, by["head"].op_snn) == (1000, 192 * 1000)
    # head_dist feeds the same 1000 neurons (the average is folded into the weights)
    assert (by["head_dist"].neurons, by["head_dist"].op_snn, by["head_dist"].op_ann) == (0, 192 * 1000, 192 * 1000)


def test_unsupported_eva_pieces_are_named():
    with pytest.raises(ValueError, match="global_pool='max'"):
        count_ops(Eva(img_size=28, patch_size=7, embed_dim=32, depth=1, num_heads=2, global_pool="max"))
    m = Eva(img_size=28, patch_size=7, embed_dim=32, depth=1, num_heads=2, use_rot_pos_emb=True, rope_type="mixed")
    with pytest.raises(ValueError, match="'rope'"):
        count_ops(m)
