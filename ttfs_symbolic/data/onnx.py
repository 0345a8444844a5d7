"""Read the weights and the node list of an ONNX file, with NumPy only (no ``onnx`` package).

An ONNX file is one protocol-buffers message (``ModelProto``). This reader
decodes the wire format for the few fields a weight mapping needs:

* ``ModelProto.graph`` (field 7) -> ``GraphProto``;
* ``GraphProto.node`` (1), ``GraphProto.initializer`` (5);
* ``NodeProto``: ``input`` (1), ``output`` (2), ``name`` (3), ``op_type`` (4);
* ``TensorProto``: ``dims`` (1), ``data_type`` (2), ``float_data`` (4),
  ``int32_data`` (5), ``int64_data`` (7), ``name`` (8), ``raw_data`` (9),
  ``double_data`` (10), ``data_location`` (14).

Tensors stored outside the file (``data_location = EXTERNAL``) are refused
with an error naming the tensor; nothing else in the file is executed or
interpreted. Every length is checked against the bytes that remain, so a
truncated or corrupt file gives a :class:`ValueError` naming the offset.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: ONNX TensorProto.DataType -> NumPy dtype (little-endian), for the types weights use
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
           10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


@dataclass(frozen=True)
class Node:
    """One graph node: its operator and the names of its inputs and outputs."""

    op_type: str
    name: str
    inputs: tuple
    outputs: tuple


@dataclass
class OnnxGraph:
    """The initializers (name -> array) and nodes (in file order) of an ONNX model."""

    initializers: dict
    nodes: list

    def consumers(self, name: str) -> list[Node]:
        """The nodes that take ``name`` as an input."""
        return [n for n in self.nodes if name in n.inputs]


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError(f"ONNX file truncated inside a varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError(f"ONNX file has an over-long varint at byte {pos}")


def _fields(buf: memoryview):
    """Yield ``(field number, wire type, value)``; value: int (varint, fixed) or memoryview (bytes)."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise ValueError(f"ONNX file truncated at byte {pos}")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ValueError(f"ONNX file truncated: a field of {n} bytes at byte {pos} runs past the end")
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            if pos + 4 > end:
                raise ValueError(f"ONNX file truncated at byte {pos}")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"ONNX file has an unsupported wire type {wire} at byte {pos}")
        yield field, wire, value


def _packed_varints(value) -> list[int]:
    if isinstance(value, int):
        return [value]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return out


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _tensor(buf: memoryview) -> tuple[str, np.ndarray]:
    dims, dtype, name, raw, external = [], 1, "", None, False
    floats, doubles, ints = [], [], []
    for field, wire, value in _fields(buf):
        if field == 1:
            dims += [_signed64(v) for v in _packed_varints(value)]
        elif field == 2:
            dtype = value
        elif field == 4:
            floats.append(np.frombuffer(value, "<f4") if wire == 2 else
                          np.array([value], "<u4").view("<f4"))
        elif field in (5, 7):
            ints += [_signed64(v) for v in _packed_varints(value)]
        elif field == 8:
            name = bytes(value).decode("utf-8")
        elif field == 9:
            raw = value
        elif field == 10:
            doubles.append(np.frombuffer(value, "<f8") if wire == 2 else
                           np.array([value], "<u8").view("<f8"))
        elif field == 14:
            external = value == 1
    if external:
        raise ValueError(f"ONNX tensor {name!r} is stored in an external file, which this reader does not follow")
    if dtype not in _DTYPES:
        raise ValueError(f"ONNX tensor {name!r} has data type {dtype}, which this reader does not support")
    np_dtype = np.dtype(_DTYPES[dtype]).newbyteorder("<")
    if raw is not None:
        arr = np.frombuffer(raw, dtype=np_dtype)
    elif floats:
        arr = np.concatenate(floats)
    elif doubles:
        arr = np.concatenate(doubles)
    else:
        arr = np.asarray(ints, dtype=np_dtype)
    count = int(np.prod(dims)) if dims else 1
    if arr.size != count:
        raise ValueError(f"ONNX tensor {name!r}: {arr.size} values for dims {dims}")
    return name, arr.reshape(dims).astype(np_dtype.newbyteorder("="), copy=True)


def _node(buf: memoryview) -> Node:
    inputs, outputs, name, op = [], [], "", ""
    for field, _, value in _fields(buf):
        if field == 1:
            inputs.append(bytes(value).decode("utf-8"))
        elif field == 2:
            outputs.append(bytes(value).decode("utf-8"))
        elif field == 3:
            name = bytes(value).decode("utf-8")
        elif field == 4:
            op = bytes(value).decode("utf-8")
    return Node(op, name, tuple(inputs), tuple(outputs))


def read_onnx(path) -> OnnxGraph:
    """The initializers and nodes of the ONNX model in ``path`` (a ValueError for a malformed file)."""
    data = memoryview(Path(path).read_bytes())
    graph = None
    for field, wire, value in _fields(data):
        if field == 7 and wire == 2:
            graph = value
    if graph is None:
        raise ValueError(f"{path} holds no ONNX graph (is it an ONNX model file?)")
    inits, nodes = {}, []
    for field, wire, value in _fields(graph):
        if field == 1 and wire == 2:
            nodes.append(_node(value))
        elif field == 5 and wire == 2:
            name, arr = _tensor(value)
            inits[name] = arr
    return OnnxGraph(inits, nodes)
