"""Real MNIST digits as DINOv2 reads them, up to the split's last image (the fourth blind mutation audit's
survivor in the bundled models, docs/mutation.md)."""
from __future__ import annotations

import pytest
import torch

from ttfs_symbolic.zoo.mnist import load_mnist
from ttfs_symbolic.zoo.pretrained import mnist_images


def test_mnist_images_reach_the_last_image_of_the_split_and_no_further():
    x, y = load_mnist("test")
    n = x.shape[0]
    images, labels = mnist_images("test", n - 3, 3, size=28)
    assert images.shape == (3, 3, 28, 28)
    assert torch.equal(labels, y[-3:])
    # the grey digit, repeated over the channels and normalised per channel (ImageNet's mean and std)
    assert torch.allclose(images[:, 0] * 0.229 + 0.485, x[-3:, 0], atol=1e-6)
    for start, count in ((n - 2, 3), (n, 1), (-1, 2)):
        with pytest.raises(ValueError, match=rf"MNIST test has {n} images; asked for {start}\.\.{start + count}"):
            mnist_images("test", start, count, size=28)
    assert mnist_images("test", n, 0, size=28)[0].shape[0] == 0
