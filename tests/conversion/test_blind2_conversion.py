"""Older conversion files, the LayerNorm claim and the configuration line
(the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ttfs_symbolic.conversion.claims import ModuleClaims
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.conversion.errors import UnsupportedModuleError
from ttfs_symbolic.conversion.fileformat import load_conversion, save_conversion
from ttfs_symbolic.conversion.presets import describe
from ttfs_symbolic.spiking.model import residual_mode
from helpers import images, tiny_vit


def test_a_file_without_residual_loads_with_residual_neurons(tmp_path):
    # files before format version 4 record no "residual": they were made with residual neurons
    ann = tiny_vit()
    x = images(4)
    snn = convert(ann, x, preset="paper", progress=False)
    assert residual_mode(snn) == "neuron"
    path = save_conversion(snn, tmp_path / "conv.json")
    data = json.loads(path.read_text())
    del data["residual"]
    path.write_text(json.dumps(data))
    loaded = load_conversion(tiny_vit(), path)
    assert residual_mode(loaded) == "neuron"
    assert torch.equal(loaded(x, mode="exact", dtype=torch.float64), snn(x, mode="exact", dtype=torch.float64))


def test_a_layernorm_over_two_dimensions_is_refused_by_the_claims():
    root = nn.Sequential(nn.LayerNorm((4, 4)))
    claims = ModuleClaims(root)
    with pytest.raises(UnsupportedModuleError, match=r"unsupported LayerNorm at '0': normalized over \(4, 4\)"):
        claims.layernorm("0", root[0])
    assert claims.layernorm("0", nn.LayerNorm(4)) is not None


def test_describe_leaves_out_unset_settings():
    assert describe({"preset": "paper", "product": "paper", "range_kind": None, "calibrated_at": None}) == \
        "preset paper (product paper)"
    assert describe({"preset": None, "residual": "synapses", "calibrated_at": 256}) == \
        "preset custom (residual synapses, calibrated_at 256)"
