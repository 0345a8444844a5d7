"""Inputs a new user's data may come in: 16-bit greyscale images, a one-channel model with timm's 3-value
mean, tensor files of another shape than the model takes (a probe of the CLI's data paths found each one
silently wrong or ending in a traceback)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ttfs_symbolic.data.files import DataError, build_transform, data_config, open_data
from helpers import run_cli, tiny_vit


def _to_tensor(img):
    return torch.from_numpy(np.asarray(img, dtype=np.float64) / 255.0)


def test_a_16_bit_greyscale_png_is_scaled_not_saturated(tmp_path):
    """A 0..65535 gradient saved as a 16-bit PNG reads as the same gradient in 0..255 (PIL's own
    conversion clips it to 255: nearly all white)."""
    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    with Image.open(tmp_path / "ramp.png") as img:
        assert img.mode.startswith("I")      # what Pillow gives a 16-bit greyscale PNG
    src = open_data(tmp_path, _to_tensor, channels=1)
    x = src.batch([0]).images[0]
    np.testing.assert_allclose(x.numpy(), ramp / 65535.0, atol=0.5 / 255 + 1e-12)
    assert float((x >= 1.0).float().mean()) < 0.01


def test_a_float_image_is_refused_naming_it(tmp_path):
    Image.fromarray(np.linspace(0, 1e4, 64, dtype=np.float32).reshape(8, 8), "F").save(tmp_path / "f.tiff")
    src = open_data(tmp_path, _to_tensor, channels=1)
    with pytest.raises(Exception, match=r"f\.tiff.*floating-point pixels"):
        src.batch([0])


def test_one_channel_model_with_timm_three_value_mean_is_refused_until_mean_and_std_given():
    m = tiny_vit(in_chans=1)
    with pytest.raises(DataError, match=r"1-channel images but its mean has 3 values.*--mean and --std"):
        build_transform(data_config(m))
    cfg = data_config(m, mean="0.5", std="0.5")
    assert cfg["mean"] == (0.5,) and cfg["std"] == (0.5,) and cfg["input_size"][0] == 1
    x = build_transform(cfg)(Image.new("L", (16, 16), 255))
    assert tuple(x.shape) == (1, 16, 16) and torch.allclose(x, torch.ones_like(x))   # (1 - 0.5) / 0.5


@pytest.mark.parametrize("shape", [(4, 3, 24, 24), (4, 16, 16, 3), (3, 16, 16)])
def test_a_tensor_file_of_another_shape_is_one_line_error(tmp_path, capsys, shape):
    """Images larger than the model's, channels last, and a 3-D file (one (C, H, W) image) for a 1-channel
    model: exit 2 with the shapes named, no traceback."""
    kw = ["img_size=16", "patch_size=8", "embed_dim=16", "depth=1", "num_heads=2", "num_classes=3"]
    if shape == (3, 16, 16):
        kw.append("in_chans=1")
    np.save(tmp_path / "x.npy", np.zeros(shape, dtype=np.float32))
    rc, out, err = run_cli(capsys, "convert", "vit_tiny_patch16_224", "--calib", str(tmp_path / "x.npy"),
                           "--out", str(tmp_path / "c.json"), "--model-kwargs", *kw, "--no-progress")
    assert rc == 2, (out, err)
    assert "Traceback" not in err and "images have shape (C, H, W) = " in err, err


def test_images_beside_class_folders_are_named_as_unused(tmp_path):
    """With class sub-folders only their images count (ImageFolder's rule); images at the top level used to
    be dropped without a word (13 of 14 counted)."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / d / "1.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "stray.png")
    with pytest.warns(UserWarning, match=r"1 image\(s\) beside the class sub-folders \(stray\.png\) are not used"):
        src = open_data(tmp_path, _to_tensor)
    assert len(src) == 2 and src.classes == ["a", "b"]


@pytest.mark.parametrize("prefix", ["_orig_mod.", "module._orig_mod.", "_orig_mod.module."])
def test_compiled_and_parallel_checkpoint_prefixes_are_dropped(tmp_path, prefix):
    """torch.compile saves its model's keys under ``_orig_mod.`` (a probe found only ``module.`` dropped)."""
    from ttfs_symbolic.data.files import read_state_dict

    sd = {"a.weight": torch.ones(2), "b.bias": torch.zeros(1)}
    torch.save({prefix + k: v for k, v in sd.items()}, tmp_path / "ck.pt")
    got = read_state_dict(tmp_path / "ck.pt")
    assert sorted(got) == sorted(sd) and torch.equal(got["a.weight"], sd["a.weight"])


def test_a_safetensors_file_named_pt_is_named_so(tmp_path):
    from safetensors.torch import save_file

    from ttfs_symbolic.data.files import read_state_dict

    save_file({"a": torch.ones(2)}, str(tmp_path / "ck.pt"))
    with pytest.raises(DataError, match="it looks like a safetensors file: name it .safetensors"):
        read_state_dict(tmp_path / "ck.pt")
    (tmp_path / "ck.pt").rename(tmp_path / "ck.safetensors")
    assert torch.equal(read_state_dict(tmp_path / "ck.safetensors")["a"], torch.ones(2))
