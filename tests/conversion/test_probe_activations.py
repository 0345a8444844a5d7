"""Activations registered by formula meet Theorem 4.1's hypotheses on their calibrated range, as
derive_input's formulas do (a probe's sign(x - 0.3) and sqrt(relu(x)) converted and ran in exact mode, then
failed in kernel mode); per-call registrations (convert(..., activations=)) reach the energy count."""
from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import ttfs_symbolic as ts
from ttfs_symbolic.conversion.activations import ActivationMismatchError


class Sgn(nn.Module):
    def forward(self, x):
        return torch.sign(x - 0.3)


class SqRelu(nn.Module):
    def forward(self, x):
        return torch.sqrt(torch.relu(x))


class Cube(nn.Module):
    def forward(self, x):
        return x ** 3


def _vit(act):
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=32,
                             depth=1, num_heads=2, num_classes=5, act_layer=act).eval()


X = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("act, formula, words", [
    (Sgn, "sign(x - 0.3)", "jumps at x = 3/10"),
    (SqRelu, "sqrt(Max(0, x))", r"is not differentiable for x between -?[0-9.e-]+ and 0\.0, inside"),
])
def test_a_formula_without_f_on_its_range_is_refused_at_conversion(act, formula, words):
    with pytest.raises(ActivationMismatchError, match="its formula is no Theorem 4.1 neuron on the calibrated "
                                                      rf"range .*{words}"):
        ts.convert(_vit(act), X, activations={act: formula}, preset="paper", progress=False)


def test_per_call_activations_are_counted_by_evaluate_and_after_loading(tmp_path):
    ann = _vit(Cube).double()
    x = X.double()
    snn = ts.convert(ann, x, activations={Cube: "x**3"}, progress=False)
    report = ts.evaluate(snn, ann, x, mode="exact", dtype=torch.float64, progress=False)
    assert report.agreement == 1.0 and 0 < report.energy_ratio < 1
    f = tmp_path / "c.json"
    ts.save_conversion(snn, f)
    back = ts.load_conversion(ann, f, activations={Cube: "x**3"})
    assert ts.evaluate(back, ann, x, mode="exact", dtype=torch.float64, progress=False).energy_ratio == \
        report.energy_ratio
    assert "f = x**3 (Theorem 4.1), h = identity" in repr(snn.blocks[0].act)
