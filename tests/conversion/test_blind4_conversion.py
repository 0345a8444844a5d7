"""What a user of the converter relies on (the fourth blind mutation audit's survivors in the conversion,
docs/mutation.md): held-out data joins the final ranges, a file without the ``rsqrt`` key loads with rsqrt
neurons, an activation that gives NaN on the calibrated range is refused."""
from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
from torch import nn

from helpers import images, tiny_vit
from ttfs_symbolic.conversion import activations as acts
from ttfs_symbolic.conversion.convert import convert
from ttfs_symbolic.conversion.fileformat import load_conversion, save_conversion
from ttfs_symbolic.spiking import ClippingWarning
from ttfs_symbolic.spiking.model import rsqrt_mode

D = torch.float64


def _stats_by_layer(snn):
    return {p.pname: p.stats for p in snn.populations()}


def test_held_out_items_join_the_final_ranges():
    """holdout=0.2: the margins come from the held-out fifth, then the ranges are fitted on all the data:
    every layer's statistics count every calibration value and reach its extremes, as without a held-out
    part (the same data; extremes to float rounding of the batching)."""
    ann = tiny_vit(depth=1)
    x = images(10)
    held = _stats_by_layer(convert(ann, x, progress=False, holdout=0.2, batch_size=5))
    full = _stats_by_layer(convert(ann, x, progress=False, holdout=0.0, batch_size=5))
    assert held.keys() == full.keys()
    for name, st in held.items():
        assert st.n_seen == full[name].n_seen, name
        assert st.lo == pytest.approx(full[name].lo, rel=1e-9, abs=1e-12), name
        assert st.hi == pytest.approx(full[name].hi, rel=1e-9, abs=1e-12), name


def test_a_file_without_the_rsqrt_key_loads_with_rsqrt_neurons(tmp_path):
    """Files before format version 5 record no "rsqrt": their networks had rsqrt neurons, whose ranges the
    file holds. Loaded, the network is the one saved (same outputs), not a folded one."""
    ann = tiny_vit(depth=1)
    x = images(4)
    snn = convert(ann, x, progress=False, preset="paper")
    assert rsqrt_mode(snn) == "neuron"
    path = save_conversion(snn, tmp_path / "conv.json")
    data = json.loads(path.read_text())
    del data["rsqrt"]
    path.write_text(json.dumps(data))
    back = load_conversion(ann, path)
    assert rsqrt_mode(back) == "neuron"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        assert torch.equal(back(x, dtype=D), snn(x, dtype=D))


class _NaNAbove(nn.Module):
    """GELU, except NaN above 2 (a broken custom activation)."""

    def forward(self, x):
        y = nn.functional.gelu(x)
        return torch.where(x > 2.0, torch.full_like(y, math.nan), y)


def test_an_activation_giving_nan_on_the_range_is_refused():
    neuron = acts.activation_neuron("act", nn.GELU())
    assert acts.check_activation(nn.GELU(), neuron, -6.0, 6.0, "act") < 1e-12
    with pytest.raises(acts.ActivationMismatchError, match=r"does not compute its neuron's f .* largest difference inf"):
        acts.check_activation(_NaNAbove(), neuron, -6.0, 6.0, "act")
    # on a range where it gives no NaN it computes GELU
    assert acts.check_activation(_NaNAbove(), neuron, -6.0, 1.5, "act") < 1e-12
