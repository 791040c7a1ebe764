"""Read a CTranslate2 ``model.bin`` (binary version 6) into named numpy arrays.

Layout: uint32 version, name, uint32 revision, uint32 count, then per tensor: name, uint8 rank,
uint32 per dim, uint8 dtype, uint32 byte count, raw little-endian data; then uint32 alias count,
each alias two names. A name is a uint16 byte length followed by NUL-terminated bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# CTranslate2 DataType enum values.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.float16}


@dataclass(frozen=True)
class CT2Model:
    """Tensors of a CTranslate2 model by name, with aliases resolved."""

    spec: str
    version: int
    revision: int
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        out = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return out[0] if len(out) == 1 else out

    def name(self) -> str:
        n = self.take("H")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.rstrip(b"\x00").decode("utf-8")


def read_ct2(path: str | Path) -> CT2Model:
    """Parse ``model.bin``.

    Raises:
        ValueError: Unsupported binary version or data type, or a truncated file.
    """
    r = _Reader(Path(path).read_bytes())
    version = r.take("I")
    if version != 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version} is not supported (expected 6)")
    spec = r.name()
    revision = r.take("I")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(r.take("I")):
        name = r.name()
        rank = r.take("B")
        shape = tuple(r.take("I") for _ in range(rank))
        dtype_id = r.take("B")
        nbytes = r.take("I")
        if dtype_id not in DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported CTranslate2 dtype {dtype_id}")
        if dtype_id == 5:
            raise ValueError(f"{path}: tensor {name!r} is bfloat16, which this reader does not convert")
        buf = r.data[r.pos : r.pos + nbytes]
        if len(buf) != nbytes:
            raise ValueError(f"{path}: truncated at tensor {name!r}")
        r.pos += nbytes
        tensors[name] = np.frombuffer(buf, dtype=DTYPES[dtype_id]).reshape(shape).copy()
    for _ in range(r.take("I")):
        alias, target = r.name(), r.name()
        tensors[alias] = tensors[target]
    return CT2Model(spec=spec, version=version, revision=revision, tensors=tensors)
