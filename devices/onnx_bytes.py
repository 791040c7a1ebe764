"""A few ONNX protobuf messages written by hand, so the device checks need only onnxruntime, not ``onnx``.

Field numbers are those of ``onnx.proto``: ModelProto (ir_version 1, opset_import 8, graph 7), GraphProto
(node 1, name 2, initializer 5, input 11, output 12), NodeProto (input 1, output 2, op_type 4), TensorProto
(dims 1, data_type 2, name 8, raw_data 9).
"""

from __future__ import annotations

FLOAT = 1  # onnx.TensorProto element type

Node = tuple[tuple[str, ...], tuple[str, ...], str]  # inputs, outputs, op_type


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num: int, value: int | str | bytes) -> bytes:
    """One protobuf field: a varint for ``int``, length-delimited for ``str`` and ``bytes``."""
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def value_info(name: str, dims: tuple[int, ...], elem_type: int = FLOAT) -> bytes:
    """A graph input or output of a fixed shape."""
    shape = b"".join(field(1, field(1, d)) for d in dims)
    tensor_type = field(1, elem_type) + field(2, shape)
    return field(1, name) + field(2, field(1, tensor_type))


def tensor(name: str, dims: tuple[int, ...], elem_type: int, raw: bytes) -> bytes:
    """An initializer from little-endian raw bytes."""
    return b"".join(field(1, d) for d in dims) + field(2, elem_type) + field(8, name) + field(9, raw)


def model_bytes(nodes: list[Node], initializers: list[bytes], inputs: list[bytes], outputs: list[bytes], opset: int = 13) -> bytes:
    """A serialized ModelProto (IR version 8) of one graph."""
    graph = b"".join(field(1, b"".join(field(1, i) for i in ins) + b"".join(field(2, o) for o in outs) + field(4, op))
                     for ins, outs, op in nodes)
    graph += field(2, "edge-sdk-check") + b"".join(field(5, t) for t in initializers)
    graph += b"".join(field(11, v) for v in inputs) + b"".join(field(12, v) for v in outputs)
    return field(1, 8) + field(8, field(1, "") + field(2, opset)) + field(7, graph)
