"""A time precision given without a mode is refused, not silently run in exact mode (the default)."""
from __future__ import annotations

import pytest
import torch

from helpers import images, make_bert, tiny_vit
from ttfs_symbolic import LayerTiming, NeuronLayer, convert
from ttfs_symbolic.evaluation.report import evaluate

MESSAGE = r"precision=64 given without a mode: exact mode, the default, has no time precision"


@pytest.fixture(scope="module")
def pair():
    ann = tiny_vit()
    x = images(4)
    return ann, convert(ann, x, progress=False), x


def test_a_converted_model_refuses_a_precision_without_a_mode(pair):
    ann, snn, x = pair
    with pytest.raises(ValueError, match=MESSAGE):
        snn(x, precision=64)
    with pytest.raises(ValueError, match=MESSAGE):
        evaluate(snn, ann, x, precision=64, progress=False)
    exact = snn(x, dtype=torch.float64)
    # an explicit exact mode still takes (and ignores) a precision: loops over modes pass one to every mode
    assert torch.equal(snn(x, mode="exact", precision=64, dtype=torch.float64), exact)
    assert evaluate(snn, ann, x, progress=False).mode == "exact"
    assert not torch.equal(snn(x, mode="quantized", precision=64, dtype=torch.float64), exact)


def test_a_neuron_layer_refuses_a_precision_without_a_mode():
    layer = NeuronLayer("x", "x", sender=LayerTiming.for_layer(0, -1, 1), receiver=LayerTiming.for_layer(1, -1, 1))
    T = layer.sender.encode(torch.tensor([0.3], dtype=torch.float64))
    W = torch.ones(1, 1, dtype=torch.float64)
    for call in (lambda: layer(T, W, precision=64), lambda: layer.potential(T, W, precision=64),
                 lambda: layer.emit(torch.tensor([0.3]), precision=64)):
        with pytest.raises(ValueError, match=MESSAGE):
            call()
    assert torch.allclose(layer(T, W), layer.receiver.encode(torch.tensor([0.3], dtype=torch.float64)))


def test_a_text_model_refuses_a_precision_without_a_mode():
    pytest.importorskip("transformers")   # the "text" extra; CI installs it
    bert = make_bert(layers=1, hidden=32, heads=2, inter=64)
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    snn = convert(bert, batch, progress=False)
    with pytest.raises(ValueError, match=MESSAGE):
        snn(batch, precision=64)
    assert snn(batch).shape == (1, 5, 32)


def test_float64_images_are_computed_in_float64_unless_told(pair):
    """snn(images) rounded float64 images to float32 and computed in float32 unasked; the dtype now follows
    float64 images (float32 for any other floating dtype, as before), and an explicit dtype still rules."""
    import numpy as np

    ann, snn, x = pair
    x64 = x.double()
    out = snn(x64)
    assert out.dtype == torch.float64 and torch.equal(out, snn(x64, dtype=torch.float64))
    assert torch.equal(snn(x64.numpy()), out)
    with torch.no_grad():
        ref = ann.double()(x64)
    ann.float()
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-12   # float64 rounding, not float32's
    assert snn(x64, dtype=torch.float32).dtype == torch.float32
    for other in (x, x.half(), x.numpy().astype(np.float16)):
        assert snn(other, warn=False).dtype == torch.float32   # (half precision moves a pixel past the range)
