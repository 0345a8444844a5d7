"""Input checks and readers, each by the refusal a user sees or the exact value read (issue 23, mutation testing).

Data (labels, model kwargs, floats, shards), the images/dtype/batch checks, the ONNX reader's varints and
tensors (built byte by byte here), the symbolic range checks. No model is built here.
"""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch

from ttfs_symbolic import RangeError
from ttfs_symbolic.data import files as data
from ttfs_symbolic.data.files import DataError
from ttfs_symbolic.data.inputs import check_batch, check_dtype, check_images
from ttfs_symbolic.data import onnx as onnx_reader
from ttfs_symbolic.symbolic.hypotheses import as_number, check_range


# ------------------------------------------------------------------ labels

@pytest.mark.parametrize("labels, why", [([0, -1], "must be class numbers >= 0, got -1"),
                                         ([0.0, 0.7], "must be integer class numbers, got 0.7"),
                                         ([0.0, math.nan], "must be integer class numbers, got nan"),
                                         ([0, 5], "class 5 but the model has 5 classes (0..4)"),
                                         ([[0, 1]], "one class number per image"),
                                         ([True, False], "must be integer class numbers, got torch.bool")])
def test_bad_labels_are_refused_by_name(labels, why):
    with pytest.raises(DataError) as info:
        data.check_labels(labels, "labels", 5)
    assert why in str(info.value)


def test_good_labels_pass_as_int64():
    got = data.check_labels([[0.0], [4.0]], "labels", 5)
    assert got.dtype == torch.int64 and got.tolist() == [0, 4]


# ------------------------------------------------------------------ command-line values

def test_model_kwargs_refuse_weight_loading_keys_and_read_literals():
    with pytest.raises(DataError, match="is refused"):
        data.parse_model_kwargs(["checkpoint_path=/tmp/x"])
    with pytest.raises(DataError, match="is refused"):
        data.parse_model_kwargs(["pretrained_cfg_overlay={}"])
    with pytest.raises(DataError, match="is refused"):
        data.parse_model_kwargs(["pretrained_cfg_extra=1"])   # any pretrained_cfg* key
    with pytest.raises(DataError, match="expects key=value pairs"):
        data.parse_model_kwargs(["depth"])
    assert data.parse_model_kwargs(["depth=2", "global_pool=avg", "x=(1, 2)"]) == \
        {"depth": 2, "global_pool": "avg", "x": (1, 2)}


def test_parse_floats_repeats_one_value_and_counts():
    assert data.parse_floats("0.5", "mean", 3) == (0.5, 0.5, 0.5)
    assert data.parse_floats("1,2,3", "mean", 3) == (1.0, 2.0, 3.0)
    with pytest.raises(DataError, match="needs 1 or 3 values, got 2"):
        data.parse_floats("1,2", "mean", 3)
    with pytest.raises(DataError, match="comma-separated numbers"):
        data.parse_floats("1,a", "mean", 3)


@pytest.mark.parametrize("n, bs, world", [(10, 3, 1), (10, 3, 2), (7, 2, 3), (3, 5, 2)])
def test_shards_cover_every_image_exactly_once(n, bs, world):
    seen = []
    for rank in range(world):
        shards = data.shard_batches(n, bs, rank, world)
        assert all(len(s) <= bs for s in shards)
        assert [s.start // bs % world for s in shards] == [rank] * len(shards)
        seen += [i for s in shards for i in s]
    assert sorted(seen) == list(range(n))
    with pytest.raises(DataError, match="--batch-size must be positive"):
        data.shard_batches(n, 0)


# ------------------------------------------------------------------ images, dtype, batch

def test_images_checks():
    ok = torch.zeros(2, 3, 4, 4)
    assert check_images(ok, 3, (4, 4)) is ok
    with pytest.raises(ValueError, match=r"expected images of shape \(batch, 3, 4, 4\), got \(2, 1, 4, 4\)"):
        check_images(torch.zeros(2, 1, 4, 4), 3, (4, 4))
    with pytest.raises(ValueError, match="must be floating point"):
        check_images(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), 3, (4, 4))
    bad = ok.clone()
    bad[0, 0, 0, 0] = math.nan
    bad[1, 0, 0, 0] = math.inf
    bad[1, 0, 0, 1] = -math.inf
    with pytest.raises(ValueError, match=r"non-finite pixels \(1 NaN, 2 inf\)"):
        check_images(bad, 3, (4, 4))
    with pytest.raises(TypeError):
        check_images("x.png", 3, (4, 4))
    assert check_images(np.zeros((1, 3, 4, 4), np.float32), 3, (4, 4)).shape == (1, 3, 4, 4)


def test_dtype_and_batch_checks():
    assert check_dtype(torch.float64) is torch.float64
    with pytest.raises(ValueError, match="half precision cannot hold the spike times"):
        check_dtype(torch.float16)
    with pytest.raises(ValueError, match="an integer dtype would round"):
        check_dtype(torch.int32)
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            check_batch(bad)
    check_batch(1)


# ------------------------------------------------------------------ ONNX reader

def _key(field, wire):
    return bytes([(field << 3) | wire])


def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _tensor_bytes(dims, values, name="w"):
    raw = np.asarray(values, "<f4").tobytes()
    out = b"".join(_key(1, 0) + _varint(d) for d in dims)
    out += _key(2, 0) + _varint(1) + _key(8, 2) + _varint(len(name)) + name.encode()
    return out + _key(9, 2) + _varint(len(raw)) + raw


def test_varint_reads_multi_byte_values_and_refuses_truncation_and_overlong():
    for v in (0, 1, 127, 128, 300, 2 ** 35 + 7, 2 ** 63 + 5):
        assert onnx_reader._varint(memoryview(_varint(v)), 0) == (v, len(_varint(v)))
    with pytest.raises(ValueError, match="truncated inside a varint at byte 1"):
        onnx_reader._varint(memoryview(b"\x80"), 0)
    with pytest.raises(ValueError, match="over-long varint"):
        onnx_reader._varint(memoryview(b"\xff" * 11), 0)
    assert onnx_reader._signed64(2 ** 64 - 1) == -1 and onnx_reader._signed64(2 ** 63 - 1) == 2 ** 63 - 1


def test_tensor_read_byte_by_byte():
    name, arr = onnx_reader._tensor(memoryview(_tensor_bytes([2, 3], np.arange(6) * 0.5, "fc.weight")))
    assert name == "fc.weight" and arr.shape == (2, 3) and arr.dtype == np.float32
    assert arr.tolist() == [[0.0, 0.5, 1.0], [1.5, 2.0, 2.5]]
    with pytest.raises(ValueError, match=r"5 values for dims \[2, 3\]"):
        onnx_reader._tensor(memoryview(_tensor_bytes([2, 3], np.arange(5), "x")))
    ext = _tensor_bytes([1], [1.0], "e") + _key(14, 0) + _varint(1)
    with pytest.raises(ValueError, match="stored in an external file"):
        onnx_reader._tensor(memoryview(ext))
    fixed = _key(1, 0) + _varint(1) + _key(2, 0) + _varint(1) + _key(4, 5) + struct.pack("<f", 1.25)
    assert onnx_reader._tensor(memoryview(fixed))[1].tolist() == [1.25]


def test_fields_refuse_a_length_past_the_end():
    with pytest.raises(ValueError):
        list(onnx_reader._fields(memoryview(_key(9, 2) + _varint(10) + b"abc")))


# ------------------------------------------------------------------ symbolic ranges

def test_check_range_refuses_empty_ranges_and_non_positive_delta():
    a, b, d = check_range("0.1", 2, 1)
    assert a == as_number(0.1, "a") and str(a) == "1/10" and b == 2 and d == 1
    with pytest.raises(RangeError, match=r"empty range: need a < b, got \[a, b\] = \[1, 1\]"):
        check_range(1, 1)
    with pytest.raises(RangeError, match="delta must be positive, got 0"):
        check_range(0, 1, 0)
    for bad in (math.inf, math.nan, True, "x"):
        with pytest.raises(RangeError):
            as_number(bad, "a")
