"""The clipping warning's worst layers (the second blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

import pytest

from ttfs_symbolic.spiking import ClippingWarning, warn_clipping


def test_the_warning_names_the_three_most_clipped_layers_first():
    layers = {"blocks.0.norm1": 0.01, "blocks.1.mlp.act": 0.5, "head": 0.2, "blocks.0.attn.q": 0.3}
    with pytest.warns(ClippingWarning) as rec:
        warn_clipping(12, 400, layers, "this test")
    text = str(rec[0].message)
    assert text.startswith("12 of 400 neurons (3%) were driven outside their calibrated range and clipped in "
                           "this test; worst layers: blocks.1.mlp.act (50%), blocks.0.attn.q (30%), head (20%). ")
    assert "blocks.0.norm1" not in text
