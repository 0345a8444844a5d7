"""Options, folders, shards, pixel checks and the ONNX reader at their edges
(the second blind mutation audit's survivors, docs/mutation.md)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ttfs_symbolic.data.files import DataError, TensorSource, iter_batches, open_data, parse_floats, shard_batches
from ttfs_symbolic.data.inputs import check_images
from ttfs_symbolic.data.onnx import read_onnx


def test_one_mean_or_std_value_stands_for_every_channel():
    assert parse_floats("0.5", "--mean", 3) == (0.5, 0.5, 0.5)
    assert parse_floats("0.1,0.2,0.3", "--std", 3) == (0.1, 0.2, 0.3)
    assert parse_floats("0.5", "--mean") == (0.5,)
    with pytest.raises(DataError, match="--mean needs 1 or 3 values, got 2"):
        parse_floats("0.5,0.5", "--mean", 3)


def test_a_flat_folder_finds_upper_case_extensions(tmp_path):
    for name in ("A.PNG", "b.jpg", "C.JpEg", "notes.txt", "D.TIFF"):
        (tmp_path / name).write_bytes(b"")   # listed, not decoded, when the folder is opened
    src = open_data(tmp_path, transform=lambda img: img)
    assert sorted(p.name for p, _ in src.items) == ["A.PNG", "C.JpEg", "D.TIFF", "b.jpg"]
    assert not src.has_labels


@pytest.mark.parametrize("n, size, world", [(10, 4, 1), (10, 4, 2), (9, 3, 2), (7, 10, 3), (5, 1, 2)])
def test_shards_cover_every_image_once_and_stop_at_the_end(n, size, world):
    shards = [shard_batches(n, size, r, world) for r in range(world)]
    got = sorted(i for part in shards for batch in part for i in batch)
    assert got == list(range(n))
    assert all(len(b) <= size and b.stop <= n for part in shards for b in part)
    src = TensorSource(torch.arange(float(n)).reshape(n, 1, 1, 1), torch.arange(n))
    seen = [int(v) for r in range(world) for b in iter_batches(src, size, r, world) for v in b.labels]
    assert sorted(seen) == list(range(n))


def test_shard_of_ten_in_fours():
    assert shard_batches(10, 4) == [range(0, 4), range(4, 8), range(8, 10)]
    assert shard_batches(10, 4, 1, 2) == [range(4, 8)]


def test_the_non_finite_pixel_message_counts_each_kind_once():
    x = torch.zeros(1, 3, 4, 4)
    x[0, 0, 0, :2] = float("nan")
    x[0, 1, 1, 1] = float("inf")
    x[0, 2, 2, 2] = -float("inf")
    with pytest.raises(ValueError, match=r"images contain non-finite pixels \(2 NaN, 2 inf\)"):
        check_images(x, 3, (4, 4))
    x[0, 1, 1, 1] = x[0, 2, 2, 2] = 0.0
    with pytest.raises(ValueError, match=r"non-finite pixels \(2 NaN\):"):
        check_images(x, 3, (4, 4))


# ---- a hand-made ONNX file: ModelProto.graph (7) -> GraphProto.initializer (5) -> TensorProto
def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:   # wire type 2 (length-delimited)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _tensor(name: str, dims, data_type: int, field: int, values) -> bytes:
    body = _field(1, b"".join(_varint(d) for d in dims)) + _varint(2 << 3) + _varint(data_type)
    body += _field(field, b"".join(_varint(v) for v in values)) + _field(8, name.encode())
    return body


def test_onnx_int32_and_int64_initializers(tmp_path):
    graph = _field(5, _tensor("i32", [3], 6, 5, [1, -2, 3])) + _field(5, _tensor("i64", [2], 7, 7, [-5, 1 << 40]))
    path = tmp_path / "m.onnx"
    path.write_bytes(_field(7, graph))
    g = read_onnx(path)
    assert g.initializers["i32"].dtype == np.int32 and g.initializers["i32"].tolist() == [1, -2, 3]
    assert g.initializers["i64"].dtype == np.int64 and g.initializers["i64"].tolist() == [-5, 1 << 40]
