"""What a probe of many timm and transformers variants found converted silently wrong or crashing: leaf
layers subclassed with their own forward, forward hooks, a changed attention scale that timm's fused path
ignores, evaluate on feature models (num_classes=0), a conversion file of another family named by its
activation, and the energy count disagreeing with the converter on final_norm=False and global_pool=''."""
from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import ttfs_symbolic as ts
from helpers import make_bert
from ttfs_symbolic.conversion.errors import UnsupportedModuleError
from ttfs_symbolic.energy import count_ops

KW = dict(pretrained=False, img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=10)
D = torch.float64


def _x(n=4):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _vit(name="vit_tiny_patch16_224", **extra):
    torch.manual_seed(0)
    return timm.create_model(name, **{**KW, **extra}).eval()


class ScaledLinear(nn.Linear):
    def forward(self, x):
        return super().forward(x) * 2


class ShiftLN(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x) + 1.0


class ShiftConv(nn.Conv2d):
    def forward(self, x):
        return super().forward(x) + 1.0


def test_subclassed_leaf_layers_are_refused_naming_them():
    m = _vit()
    head = ScaledLinear(32, 10)
    head.load_state_dict(m.head.state_dict())
    m.head = head
    with pytest.raises(UnsupportedModuleError, match=r"'head': .*ScaledLinear subclasses torch.nn.Linear"):
        ts.convert(m, _x(), progress=False)
    with pytest.raises(UnsupportedModuleError, match=r"'blocks.0.norm1': .*ShiftLN subclasses torch.nn.LayerNorm"):
        ts.convert(_vit(norm_layer=ShiftLN), _x(), progress=False)
    m = _vit()
    conv = ShiftConv(3, 32, 8, 8)
    conv.load_state_dict(m.patch_embed.proj.state_dict())
    m.patch_embed.proj = conv
    with pytest.raises(UnsupportedModuleError, match=r"'patch_embed.proj': .*ShiftConv subclasses torch.nn.Conv2d"):
        ts.convert(m, _x(), progress=False)
    # timm's own LayerNorm (a subclass of torch's with the same forward) still converts, exactly
    from timm.layers import LayerNorm
    m = _vit(norm_layer=LayerNorm).double()
    snn = ts.convert(m, _x().double(), progress=False)
    assert torch.allclose(snn(_x().double(), mode="exact", dtype=D), m(_x().double()), rtol=0, atol=1e-12)


def test_forward_hooks_are_refused_in_every_family():
    m = _vit()
    handle = m.head.register_forward_hook(lambda mod, inp, out: out * 2)
    with pytest.raises(UnsupportedModuleError, match=r"'head': it carries a forward hook"):
        ts.convert(m, _x(), progress=False)
    handle.remove()
    handle = m.register_forward_pre_hook(lambda mod, inp: (inp[0] * 2,))
    with pytest.raises(UnsupportedModuleError, match=r"'<root>': it carries a forward pre-hook"):
        ts.convert(m, _x(), progress=False)
    handle.remove()
    ts.convert(m, _x(), progress=False)   # without the hooks: converted
    bert = make_bert(layers=1)
    bert.encoder.layer[0].attention.self.query.register_forward_hook(lambda mod, inp, out: out * 2)
    ids = torch.randint(5, 20, (2, 6))
    with pytest.raises(UnsupportedModuleError, match=r"'encoder.layer.0.attention.self.query': it carries"):
        ts.convert(bert, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, progress=False)


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "eva02_tiny_patch14_224"])
def test_a_scale_that_fused_attention_ignores_is_refused(name):
    m = _vit(name)
    attn = m.blocks[0].attn
    attn.fused_attn = True
    attn.scale = 0.5
    with pytest.raises(UnsupportedModuleError, match=r"'blocks.0.attn.scale': 0.5 with fused_attn=True"):
        ts.convert(m, _x(), progress=False)
    attn.fused_attn = False   # timm applies the scale: so does the SNN
    m = m.double()
    snn = ts.convert(m, _x().double(), progress=False)
    with torch.no_grad():
        ref = m(_x().double())
    assert float((snn(_x().double(), mode="exact", dtype=D) - ref).abs().max() / ref.abs().max()) < 1e-12


@pytest.mark.parametrize("name, extra", [("vit_tiny_patch16_224", {}), ("vit_tiny_patch16_224", {"global_pool": "avg"}),
                                         ("deit_tiny_distilled_patch16_224", {})])
def test_feature_models_are_evaluated_with_their_energy(name, extra):
    m = _vit(name, num_classes=0, **extra)
    snn = ts.convert(m, _x(), progress=False)
    report = ts.evaluate(snn, m, _x(), mode="quantized", precision=256, progress=False)
    assert 0 < report.energy_ratio < 1
    rates = snn.spike_rates_for_energy()
    assert "head" not in rates and "head_dist" not in rates
    assert ("head_avg" in rates) == name.startswith("deit")


def test_a_file_of_another_family_is_named_by_its_architecture(tmp_path):
    eva, vit = _vit("eva02_tiny_patch14_224"), _vit()
    f = tmp_path / "eva.json"
    ts.save_conversion(ts.convert(eva, _x(), progress=False), f)
    with pytest.raises(ValueError, match=r"another architecture; differs in model \(saved 'SpikingEva', this model "
                                         r"'SpikingViT'\)"):
        ts.load_conversion(vit, f)


def test_energy_counts_the_network_the_converter_builds():
    bare = _vit(final_norm=False)
    snn = ts.convert(bare, _x(), progress=False)   # the preset's residual synapses fall back to neurons
    assert snn.calibration["residual"] == "neuron"
    report = count_ops(bare, preset="accurate", product="signed", residual="synapses", rsqrt="folded")
    assert report.configuration["residual"] == "neuron"
    with pytest.raises(ValueError, match="residual='synapses' is not counted"):   # asked for explicitly
        count_ops(bare, residual="synapses")
    nopool = _vit(global_pool="")
    with pytest.raises(UnsupportedModuleError, match="global_pool=''"):
        ts.convert(nopool, _x(), progress=False)
    with pytest.raises(ValueError, match=r"global_pool='' is not supported"):
        count_ops(nopool)


def test_a_file_of_another_depth_is_named_by_its_architecture(tmp_path):
    f = tmp_path / "deep.json"
    ts.save_conversion(ts.convert(_vit(depth=2), _x(), progress=False), f)
    with pytest.raises(ValueError, match=r"another architecture; differs in .*layers \("):
        ts.load_conversion(_vit(depth=1), f)
