"""Guards a user relies on, each asserted by the refusal and its message (issue 23, mutation testing).

The native library's and the cache folder's permission checks, the conversion-file schema, the presets, the
calibration arguments and the activation registration check: scripts/mutate.py weakens each of them and
one of these tests must fail. Fast: no model is converted here.
"""
from __future__ import annotations

import copy
import math
import os

import pytest
import torch
from torch import nn

from ttfs_symbolic.conversion import activations as acts
from ttfs_symbolic.conversion import presets
from ttfs_symbolic.conversion.schema import (
    FORMAT_NAME, check_convert_args, validate_conversion)
from ttfs_symbolic.numeric import native_build as native


# ------------------------------------------------------------------ native library and cache folder

def _private(path):
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@pytest.mark.parametrize("mode, refused", [(0o700, False), (0o720, True), (0o702, True), (0o755, False)])
def test_cache_folder_writable_by_group_or_others_is_refused(tmp_path, mode, refused):
    folder = _private(tmp_path / "cache")
    os.chmod(tmp_path, 0o700)
    os.chmod(folder, mode)
    why = native._folder_problem(folder)
    if refused:
        assert why is not None and "writable by group or others" in why and f"{mode:o}" in why
    else:
        assert why is None


def test_cache_folder_below_an_open_folder_without_sticky_bit_is_refused(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    folder = _private(open_dir / "cache")
    os.chmod(tmp_path, 0o700)
    os.chmod(open_dir, 0o777)
    assert "on its path is writable by others without the sticky bit" in native._folder_problem(folder)
    os.chmod(open_dir, 0o777 | 0o1000)   # sticky, as /tmp
    assert native._folder_problem(folder) is None


def test_cache_folder_that_is_a_symlink_or_a_file_is_refused(tmp_path):
    os.chmod(tmp_path, 0o700)
    real = _private(tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    assert native._folder_problem(tmp_path / "link") == "it is a symbolic link"
    (tmp_path / "file").write_text("x")
    assert native._folder_problem(tmp_path / "file") == "it is not a folder"


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o660])
def test_library_file_writable_by_group_or_others_is_not_loaded(tmp_path, mode):
    lib = _private(tmp_path / "c") / "lib.so"
    lib.write_bytes(b"\x7fELF not really")
    os.chmod(lib, mode)
    fd, why = native._open_checked(lib)
    assert fd is None and why == f"it is writable by group or others (mode {mode:o})"


def test_library_file_without_manifest_or_with_a_wrong_one_is_not_loaded(tmp_path):
    lib = _private(tmp_path / "c") / "lib.so"
    lib.write_bytes(b"\x7fELF not really")
    os.chmod(lib, 0o600)
    fd, why = native._open_checked(lib)
    assert fd is None and why == "it has no manifest (SHA-256) beside it"
    native._manifest(lib).write_text("0" * 64)
    fd, why = native._open_checked(lib)
    assert fd is None and "SHA-256 differs" in why


# ------------------------------------------------------------------ conversion-file schema

def _valid(**top):
    data = {"format": FORMAT_NAME, "version": 1, "delta": 1.0,
            "layers": {"input": {"a": -1.0, "b": 1.0, "window": 1},
                       "blocks.0.fc1": {"a": [-1.0, -2.0], "b": [1.0, 2.0], "window": 2, "range_kind": "neuron"}}}
    data.update(top)
    return data


def _refused(data):
    with pytest.raises(ValueError) as info:
        validate_conversion(data, "f.json")
    msg = str(info.value)
    assert msg.startswith("f.json: invalid conversion file: ")
    return msg


def test_a_valid_file_passes():
    assert validate_conversion(_valid(), "f.json")["version"] == 1


def test_empty_layer_range_a_equals_b_is_refused():
    d = _valid()
    d["layers"]["input"]["b"] = -1.0
    assert "empty range: need a < b, got [a, b] = [-1.0, -1.0]" in _refused(d)


def test_empty_per_neuron_range_a_equals_b_is_refused():
    d = _valid()
    d["layers"]["blocks.0.fc1"]["b"] = [1.0, -2.0]
    assert "empty range at neuron 1 (1 in all)" in _refused(d)


def test_per_neuron_ranges_of_different_shapes_are_refused():
    d = _valid()
    d["layers"]["blocks.0.fc1"]["b"] = [1.0, 2.0, 3.0]
    assert "a and b must have the same shape" in _refused(d)


def test_a_range_beyond_1e30_is_refused():
    d = _valid()
    d["layers"]["input"]["b"] = 1e31
    assert "beyond the +-1e+30" in _refused(d)


@pytest.mark.parametrize("v", [0, -1, True, 1.0, "1"])
def test_version_zero_or_not_an_integer_is_refused(v):
    assert "version must be a positive integer" in _refused(_valid(version=v))


def test_version_2_needs_the_architecture():
    assert "records the model's architecture" in _refused(_valid(version=2))


@pytest.mark.parametrize("r, why", [(math.inf, "must be finite"), (math.nan, "must be finite"),
                                    (0.0, "must be in (0, 100]"), (101.0, "must be in (0, 100]")])
def test_non_finite_or_out_of_range_product_shift_is_refused(r, why):
    msg = _refused(_valid(products={"blocks.0.attn.qk": {"construction": "signed", "r": r}}))
    assert "products['blocks.0.attn.qk'].r" in msg and why in msg


def test_product_shift_at_the_bound_passes():
    validate_conversion(_valid(products={"p": {"construction": "signed", "r": 100.0}}), "f.json")


@pytest.mark.parametrize("delta", [0.0, -1.0, math.inf])
def test_non_positive_or_infinite_delta_is_refused(delta):
    assert "delta" in _refused(_valid(delta=delta))


@pytest.mark.parametrize("w", [0, 1.5, 10 ** 6 + 1, True])
def test_window_outside_1_to_a_million_is_refused(w):
    d = _valid()
    d["layers"]["input"]["window"] = w
    assert "window must be an integer in [1, 1000000]" in _refused(d)


def test_window_missing_is_refused():
    d = _valid()
    del d["layers"]["input"]["window"]
    assert "has no 'window'" in _refused(d)


@pytest.mark.parametrize("log_r", [0.0, -0.5])
def test_log_code_without_a_positive_shift_ratio_is_refused(log_r):
    d = _valid()
    d["layers"]["input"].update(code="log", log_r=log_r)
    assert "log_r must be positive" in _refused(d)


def test_unknown_code_range_kind_residual_and_rsqrt_are_refused():
    d = _valid()
    d["layers"]["input"]["code"] = "exp"
    assert "code must be 'linear' or 'log'" in _refused(d)
    d = _valid()
    d["layers"]["input"]["range_kind"] = "row"
    assert "range_kind must be one of layer, channel, neuron" in _refused(d)
    assert "residual must be 'neuron' or 'synapses'" in _refused(_valid(residual="relay"))
    assert "rsqrt must be 'neuron' or 'folded'" in _refused(_valid(rsqrt="none"))


def test_bad_layer_names_and_ragged_ranges_are_refused():
    d = _valid()
    d["layers"]["a\nb"] = {"a": 0.0, "b": 1.0, "window": 3}
    assert "is not a valid layer name" in _refused(d)
    d = _valid()
    d["layers"]["blocks.0.fc1"].update(a=[[0.0, 1.0], [0.0]], b=[[1.0, 2.0], [1.0]])
    assert "ragged" in _refused(d)


def test_wrong_format_fingerprint_and_empty_layers_are_refused():
    assert "not a ttfs-symbolic conversion file" in _refused(_valid(format="other"))
    assert "weights_fingerprint must be" in _refused(_valid(weights_fingerprint="sha256:" + "g" * 64))
    assert "'layers' must be a non-empty object" in _refused(_valid(layers={}))


def test_architecture_layers_must_match_the_ranges():
    arch = {"layers": [["input", "input", "identity", 1], ["blocks.0.fc1", "linear", "identity", 3],
                       ["head", "linear", "identity", 2]]}
    assert "no range for layer 'head'" in _refused(_valid(architecture=arch))
    arch2 = copy.deepcopy(arch)
    arch2["layers"] = arch2["layers"][:1]
    assert "layer 'blocks.0.fc1' is not a layer of the architecture" in _refused(_valid(architecture=arch2))


# ------------------------------------------------------------------ convert arguments and presets

@pytest.mark.parametrize("kw, why", [({"batch_size": 0}, "batch_size must be a positive integer"),
                                     ({"percentile": 50.0}, "percentile must be in (50, 100]"),
                                     ({"percentile": 100.5}, "percentile must be in (50, 100]"),
                                     ({"margin": -0.1}, "margin must be >= 0"),
                                     ({"margin": math.nan}, "margin must be a finite number")])
def test_convert_arguments_that_cannot_work_are_refused(kw, why):
    with pytest.raises(ValueError, match=None) as info:
        check_convert_args(**kw)
    assert why in str(info.value)


def test_convert_arguments_at_their_bounds_pass():
    check_convert_args(batch_size=1, percentile=100.0, margin=0.0)
    check_convert_args(percentile=50.0001)


def test_presets_settings():
    assert presets.check_preset("paper") == {"product": "paper", "range_kind": "layer", "residual": "neuron",
                                             "rsqrt": "neuron", "codes": "linear", "holdout": 0.0, "sigmas": 6.0,
                                             "headroom": 1.0, "variance_end": "bound"}
    acc = presets.check_preset("accurate")
    assert acc["product"] == "signed" and acc["residual"] == "synapses" and acc["rsqrt"] == "folded"
    assert acc["range_kind"] == "channel" and acc["codes"] == "auto" and acc["holdout"] == 0.2
    assert acc["headroom"] == 2.0 and acc["variance_end"] == "calibrated"
    assert presets.DEFAULT_PRESET == "accurate"
    with pytest.raises(ValueError, match="unknown preset 'fast'; choose one of paper, accurate"):
        presets.check_preset("fast")
    assert presets.describe({"preset": None, "product": "signed", "x": None}) == "preset custom (product signed)"


# ------------------------------------------------------------------ activation registration check

class Off(nn.Module):
    """SiLU off by ``eps`` everywhere (a plausible wrong registration)."""

    def __init__(self, eps):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        return torch.nn.functional.silu(x) + self.eps


class WrongBetweenGrid(nn.Module):
    """SiLU on the check's grid, wrong between its points (caught only by the random points)."""

    def forward(self, x):
        grid = torch.linspace(-4.0, 4.0, acts.CHECK_POINTS, dtype=x.dtype)
        on = torch.isclose(x.unsqueeze(-1), grid, rtol=0, atol=1e-12).any(-1)
        return torch.where(on, torch.nn.functional.silu(x), torch.nn.functional.silu(x) + 1.0)


class NanAt(nn.Module):
    def forward(self, x):
        y = torch.nn.functional.silu(x)
        return torch.where(x > 3.9, torch.full_like(y, math.nan), y)


class WrongOutside1(nn.Module):
    """SiLU on [-1, 1], 0.5 off outside."""

    def forward(self, x):
        return torch.nn.functional.silu(x) + 0.5 * (x.abs() > 1)


def _silu():
    return acts.activation_neuron("act", nn.SiLU())


def test_registration_check_refuses_a_difference_of_1e_3_with_its_message():
    with pytest.raises(acts.ActivationMismatchError) as info:
        acts.check_activation(Off(1e-3), _silu(), -4.0, 4.0, "blocks.0.act")
    msg = str(info.value)
    assert "activation at 'blocks.0.act' (" in msg and "does not compute its neuron's f" in msg
    assert "largest difference 0.001" in msg and "calibrated range [-4, 4]" in msg
    assert "bound 1e-10 * (1 + |f|)" in msg


def test_registration_check_tolerance_is_1e_10_relative():
    assert acts.CHECK_TOL == 1e-10
    assert acts.check_activation(Off(0.0), _silu(), -4.0, 4.0) == 0.0
    with pytest.raises(acts.ActivationMismatchError):
        acts.check_activation(Off(1e-8), _silu(), -4.0, 4.0)


def test_registration_check_catches_a_module_wrong_only_between_grid_points():
    with pytest.raises(acts.ActivationMismatchError, match="random points"):
        acts.check_activation(WrongBetweenGrid(), _silu(), -4.0, 4.0)


def test_registration_check_counts_nan_as_a_mismatch():
    with pytest.raises(acts.ActivationMismatchError, match="largest difference inf"):
        acts.check_activation(NanAt(), _silu(), -4.0, 4.0)


def test_registration_check_runs_on_the_range_it_is_given():
    assert acts.check_activation(WrongOutside1(), _silu(), -1.0, 1.0) == 0.0
    with pytest.raises(acts.ActivationMismatchError, match=r"calibrated range \[-3, 3\]"):
        acts.check_activation(WrongOutside1(), _silu(), -3.0, 3.0)


def test_registration_check_refuses_random_modules():
    drop = nn.Dropout(0.5).train()
    with pytest.raises(acts.ActivationMismatchError, match="two calls on the same input differ"):
        acts.check_activation(drop, acts.activation_neuron("d", nn.Identity()) if False else _silu(), -1.0, 1.0)


def test_parse_activation_args_refuses_malformed_items():
    with pytest.raises(ValueError, match="expected NAME=FORMULA"):
        acts.parse_activation_args(["Mish"])
    with pytest.raises(ValueError, match="NAME must be a module class name"):
        acts.parse_activation_args(["1bad=x"])
    assert list(acts.parse_activation_args(["Mish=x*tanh(softplus(x))"]).values()) == ["x*tanh(softplus(x))"]
