"""The conversion file's less common refusals and preset overrides at their boundaries (the blind mutation
audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import json

import pytest

from ttfs_symbolic.conversion.convert import preset_settings
from ttfs_symbolic.conversion.fileformat import FORMAT_VERSION, load_conversion
from ttfs_symbolic.conversion.presets import PRESETS
from ttfs_symbolic.conversion.schema import MAX_SHIFT_RATIO, validate_conversion


def _file(**extra):
    """A minimal valid conversion file of the current version: one layer x of its architecture."""
    data = {"format": "ttfs-symbolic conversion", "version": FORMAT_VERSION,
            "architecture": {"layers": [["x", "linear", "identity", 1]]},
            "layers": {"x": {"a": -1.0, "b": 1.0, "window": 1}}}
    data.update(extra)
    return data


def test_the_minimal_file_is_valid():
    assert validate_conversion(_file(), "f.json")["layers"]["x"]["b"] == 1.0


@pytest.mark.parametrize("r", [MAX_SHIFT_RATIO, 0.005, 1.0])
def test_product_shift_ratio_up_to_the_maximum_is_accepted(r):
    data = _file(products={"x": {"construction": "signed", "r": r}})
    assert validate_conversion(data, "f.json")["products"]["x"]["r"] == r


@pytest.mark.parametrize("r", [2 * MAX_SHIFT_RATIO, MAX_SHIFT_RATIO * 1.000001, 0.0, -0.5])
def test_product_shift_ratio_beyond_the_maximum_is_refused(r):
    data = _file(products={"x": {"construction": "signed", "r": r}})
    with pytest.raises(ValueError, match=r"f\.json: invalid conversion file: products\['x'\]\.r must be in "
                                         rf"\(0, {MAX_SHIFT_RATIO:g}\]"):
        validate_conversion(data, "f.json")


def test_a_single_layer_not_in_the_architecture_is_refused():
    data = _file()
    data["layers"]["y"] = {"a": 0.0, "b": 1.0, "window": 2}   # x is there too: nothing is missing
    with pytest.raises(ValueError, match=r"layer 'y' is not a layer of the architecture it names "
                                         r"\(1 unknown layer name\(s\)\)"):
        validate_conversion(data, "f.json")


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, FORMAT_VERSION + 2])
def test_a_file_one_version_newer_is_refused_as_newer(tmp_path, version):
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(_file(version=version)))
    with pytest.raises(ValueError, match=f"has format version {version}, newer than the {FORMAT_VERSION} this"):
        load_conversion("not looked at: the version is checked first", path)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_overrides_of_zero_are_kept(preset):
    s = preset_settings(preset, holdout=0.0, sigmas=0.0)
    assert s["holdout"] == 0.0 and s["sigmas"] == 0.0
    s = preset_settings(preset, sigmas=0)
    assert s["sigmas"] == 0 and s["holdout"] == PRESETS[preset]["holdout"]
    # None leaves the preset's value
    assert preset_settings(preset, holdout=None, sigmas=None) == PRESETS[preset]


def test_accurate_preset_holdout_zero_overrides_its_0_2():
    assert PRESETS["accurate"]["holdout"] == 0.2 and PRESETS["accurate"]["sigmas"] == 6.0
    s = preset_settings("accurate", holdout=0.0, sigmas=0)
    assert (s["holdout"], s["sigmas"]) == (0.0, 0)


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    from helpers import images, tiny_vit
    from ttfs_symbolic.conversion.convert import convert
    from ttfs_symbolic.conversion.fileformat import save_conversion

    ann = tiny_vit(depth=1)
    path = save_conversion(convert(ann, images(6), progress=False), tmp_path_factory.mktemp("conv") / "c.json")
    return ann, json.loads(path.read_text())


@pytest.mark.parametrize("layer", ["blocks.0.attn.q", "blocks.0.attn.v", "blocks.0.mlp.fc1", "blocks.0.attn.proj"])
def test_per_channel_ranges_filed_as_per_neuron_are_refused_at_load(saved_tiny, tmp_path, layer):
    """A linear layer's per-channel ranges (one per output channel) that the file calls per-neuron: the
    load's check pass refuses them, naming the layer and both shapes (the linear layers' exact-mode fast
    path, which indexes ranges by channel, still checks the shape first)."""
    ann, data = saved_tiny
    data = json.loads(json.dumps(data))
    entry = data["layers"][layer]
    assert entry["range_kind"] == "channel" and isinstance(entry["a"], list)
    entry["range_kind"] = "neuron"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"layer {layer}: its neuron ranges have shape"):
        load_conversion(ann, path)
