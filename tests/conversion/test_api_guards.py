"""The Python API refuses what it would otherwise get silently wrong: settings convert would ignore, an
evaluation against other weights, a time precision beyond the library's bounds."""
import pytest
import torch

from helpers import images, tiny_vit
from ttfs_symbolic import convert, evaluate
from ttfs_symbolic.numeric.dynamics import MAX_KERNEL_PRECISION, MAX_PRECISION


@pytest.fixture(scope="module")
def pair():
    ann = tiny_vit()
    return ann, convert(ann, images(8), progress=False)


@pytest.mark.parametrize("kw", [{"percentil": 99.0}, {"pretrained": True}, {"depth": 3}])
def test_convert_refuses_keywords_an_instance_would_ignore(kw):
    with pytest.raises(TypeError, match=f"unexpected keyword argument.*{next(iter(kw))}.*instance"):
        convert(tiny_vit(), images(4), progress=False, **kw)


def test_convert_gives_the_model_back_in_the_mode_it_was_in():
    ann = tiny_vit().train()
    snn = convert(ann, images(4), progress=False)
    assert ann.training
    assert not {id(m) for m in ann.modules()} & {id(m) for m in snn.modules()}   # the SNN shares no module with it
    ann.eval()
    convert(ann, images(4), progress=False)
    assert not ann.training


def test_evaluate_refuses_an_ann_with_other_weights(pair):
    ann, snn = pair
    other = tiny_vit(seed=1)
    with pytest.raises(ValueError, match="not the model snn was converted from"):
        evaluate(snn, other, images(2), progress=False)
    assert evaluate(snn, ann, images(2), progress=False).agreement == 1.0   # its own ANN is accepted
    # the same weights in float64 are the same model
    assert evaluate(snn, tiny_vit().double(), images(2), progress=False).agreement == 1.0


@pytest.mark.parametrize("swap", [True, False])
def test_evaluate_names_a_model_that_is_no_snn(pair, swap):
    ann, snn = pair
    with pytest.raises(TypeError, match="snn must be a converted model" if swap else "ann must be the model"):
        evaluate(ann, snn, images(2), progress=False) if swap else evaluate(snn, None, images(2), progress=False)


@pytest.mark.parametrize("mode, top", [("quantized", MAX_PRECISION), ("kernel", MAX_KERNEL_PRECISION)])
def test_precision_beyond_the_bound_is_refused_before_any_work(pair, mode, top):
    _, snn = pair
    with pytest.raises(ValueError, match=f"at most {top}"):
        snn(images(1), mode=mode, precision=top + 1)
    assert MAX_PRECISION == 1 << 24 and MAX_KERNEL_PRECISION == 1 << 16


def test_numpy_images_calibrate_as_the_tensor_does():
    """A NumPy array used to be iterated image by image, each refused as a batch of the wrong shape."""
    import numpy as np

    ann, x = tiny_vit(), images(8)
    ref = convert(ann, x, progress=False)(x, dtype=torch.float64)
    for data in (x.numpy(), (x.numpy(), np.zeros(8)), [x[:4], x[4:]]):   # a list of two batches is no pair
        assert torch.equal(convert(ann, data, progress=False)(x, dtype=torch.float64), ref)


def test_the_clipping_warning_of_evaluate_points_at_the_callers_line(pair):
    import warnings

    ann, snn = pair
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(snn, ann, 30 * images(4), progress=False)   # far brighter than the calibration: clips
    assert caught and all(w.filename == __file__ for w in caught), [(w.filename, w.lineno) for w in caught]


def test_dynamic_img_pad_is_refused_as_for_eva():
    import timm

    from ttfs_symbolic.conversion.errors import UnsupportedModuleError

    ann = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=30, patch_size=8, depth=1,
                            dynamic_img_pad=True)
    with pytest.raises(UnsupportedModuleError, match="dynamic_img_pad"):
        convert(ann, torch.randn(2, 3, 30, 30), progress=False)


def test_a_conversion_file_is_refused_for_a_model_with_another_layernorm_eps(tmp_path):
    """eps is in no state dict, so not in the weights fingerprint: a file calibrated for eps = 1e-6 used to
    load onto the same weights with eps = 0.1, and exact mode was no longer exact. A file written before
    the architecture recorded eps still loads."""
    import functools
    import json

    from ttfs_symbolic import load_conversion, save_conversion

    path = save_conversion(convert(tiny_vit(), images(4), progress=False), tmp_path / "c.json")
    other = tiny_vit(norm_layer=functools.partial(torch.nn.LayerNorm, eps=0.1))
    with pytest.raises(ValueError, match=r"norm_eps .*first difference at #0: saved \['blocks.0.norm1', 1e-06\], "
                                         r"this model \['blocks.0.norm1', 0.1\]"):
        load_conversion(other, path)
    data = json.loads(path.read_text())
    del data["architecture"]["norm_eps"]
    path.write_text(json.dumps(data))
    snn = load_conversion(tiny_vit(), path)
    x = images(2)
    assert torch.allclose(snn(x, dtype=torch.float64), tiny_vit().double()(x.double()), atol=1e-9)


def _one_window(entry: dict) -> None:
    """Every layer in window 1, its derived times dropped (so only the windows' numbering is wrong)."""
    entry["window"] = 1
    for key in ("T_ref", "T_emit", "T_end"):
        del entry[key]


@pytest.mark.parametrize("edit, match", [
    (lambda L: L["blocks.0.attn.q"].__setitem__("tau", 123.0), r"blocks.0.attn.q: tau = 123.0, but its range"),
    (lambda L: L["norm"].__setitem__("T_ref", 0.5), r"norm: T_ref = 0.5"),
    (lambda L: L["head"].__setitem__("window", 1), r"head: T_ref = .*window 1 give|windows are not 1\.\."),
    (lambda L: [_one_window(v) for v in L.values()], r"windows are not 1\.\.\d+, one each"),
])
def test_a_conversion_file_with_edited_timing_is_refused(tmp_path, edit, match):
    """tau, T_ref, T_emit, T_end are derived from a layer's range and window (eq. 29) and the windows number
    the layers 1..N: a file whose values disagree was edited or damaged. A reader of the file (a chip's
    configuration) would take them as they stand, while the model used to recompute them without a word."""
    import json

    from ttfs_symbolic import load_conversion, save_conversion

    path = save_conversion(convert(tiny_vit(), images(4), progress=False), tmp_path / "c.json")
    data = json.loads(path.read_text())
    edit(data["layers"])
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match):
        load_conversion(tiny_vit(), path)


@pytest.mark.parametrize("key, value", [("residual", "neuron"), ("rsqrt", "neuron")])
def test_a_conversion_file_whose_network_shape_was_edited_is_refused(tmp_path, key, value):
    """The default file carries residual sums by synapses and folds rsqrt; switched to neurons by hand it
    used to load, and exact mode was 7e-4 off (those neurons' ranges were never calibrated)."""
    import json

    from ttfs_symbolic import load_conversion, save_conversion

    path = save_conversion(convert(tiny_vit(), images(4), progress=False), tmp_path / "c.json")
    data = json.loads(path.read_text())
    assert data[key] != value and data["calibration"][key] == data[key]
    data[key] = value
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"{key} = '{value}', but its ranges were calibrated with {key} = "):
        load_conversion(tiny_vit(), path)
