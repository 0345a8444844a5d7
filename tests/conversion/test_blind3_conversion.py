"""The activation check on the calibrated input range and the family registry's priority order
(the third blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ttfs_symbolic.conversion import activations as acts
from ttfs_symbolic.conversion import registry
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.families.deit import SpikingDeiTDistilled

D = torch.float64


def _images(n=4, seed=1):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed), dtype=D)


def _tiny(cls, seed=0, **kw):
    torch.manual_seed(seed)
    return cls(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=5, **kw).eval().double()


def test_a_formula_wrong_only_below_the_output_range_is_refused_at_conversion():
    """ReLU registered as max(x, 0) + max(-x - 1, 0): right on every x >= -1, so on the activation's whole
    output range (about [-0.004, 3.9] here), wrong on the inputs below -1 that the calibration sees (down to
    about -1.95). The check runs on the calibrated INPUT range: convert refuses with ActivationMismatchError
    naming the layer and that range, the largest difference -a - 1 at its lower end a (module 0)."""
    ann = _tiny(VisionTransformer, act_layer=nn.ReLU)
    x = _images()
    # control: the right formula converts; its calibrated ranges (the input range does not depend on f)
    snn = convert(ann, x, progress=False, activations={nn.ReLU: "relu"})
    assert snn.activation_check["blocks.0.mlp.act"] <= 1e-12
    act = snn.blocks[0].act
    a, b = act.src.a, act.src.b
    assert a < -1.5 and -1.0 < act.out.a <= 0.0   # inputs below -1; outputs (with headroom) not
    with pytest.raises(acts.ActivationMismatchError) as info:
        convert(ann, x, progress=False, activations={nn.ReLU: "max(x, 0) + max(-x - 1, 0)"})
    msg = str(info.value)
    assert "activation at 'blocks.0.mlp.act'" in msg and "does not compute its neuron's f = " in msg
    assert f"on the calibrated range [{a:.6g}, {b:.6g}]" in msg, msg
    assert f"largest difference {-a - 1:.3g} at x = {a:.6g} (module 0, formula {-a - 1:.10g}" in msg, msg


def test_a_distilled_deit_goes_to_its_own_family_before_plain_vit():
    """Families are tried highest priority first: timm's VisionTransformerDistilled (a VisionTransformer
    subclass) is taken by 'deit_distilled' (priority 10), not by 'vit', and converts to a SpikingDeiTDistilled
    whose exact float64 logits are the ANN's (the mean of the class and distillation heads)."""
    names = [f.name for f in registry.families()]
    assert names.index("deit_distilled") < names.index("vit")
    prios = [f.priority for f in registry.families()]
    assert prios == sorted(prios, reverse=True)

    ann = _tiny(VisionTransformerDistilled)
    assert registry.find_family(ann).name == "deit_distilled"
    assert registry.find_family(_tiny(VisionTransformer)).name == "vit"
    x = _images()
    snn = convert(ann, x, progress=False)
    assert type(snn) is SpikingDeiTDistilled
    with torch.no_grad():
        ref = ann(x)
    out = snn(x, mode="exact", dtype=D)
    assert float((out - ref).abs().max()) <= 1e-9 * float(ref.abs().max())
