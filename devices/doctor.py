"""``edge-sdk devices --doctor``: run a tiny model on every provider of a profile.

The model is encoded here as ONNX protobuf bytes (MatMul + Relu), so the check needs only
onnxruntime, not the ``onnx`` package.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from devices.detect import available_providers
from devices.profile import Profile


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, value) -> bytes:
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, dims: tuple[int, ...]) -> bytes:
    shape = b"".join(_field(1, _field(1, d)) for d in dims)
    tensor_type = _field(1, 1) + _field(2, shape)  # elem_type FLOAT
    return _field(1, name) + _field(2, _field(1, tensor_type))


def tiny_model(n: int = 64) -> bytes:
    """ONNX bytes of ``y = relu(x @ W)`` with x: (1, n), W: (n, n)."""
    w = np.linspace(-1, 1, n * n, dtype=np.float32).reshape(n, n)
    init = _field(1, n) + _field(1, n) + _field(2, 1) + _field(8, "W") + _field(9, w.tobytes())
    nodes = _field(1, _field(1, "x") + _field(1, "W") + _field(2, "h") + _field(4, "MatMul")) + _field(
        1, _field(1, "h") + _field(2, "y") + _field(4, "Relu")
    )
    graph = nodes + _field(2, "doctor") + _field(5, init) + _field(11, _value_info("x", (1, n))) + _field(12, _value_info("y", (1, n)))
    return _field(1, 8) + _field(8, _field(1, "") + _field(2, 13)) + _field(7, graph)


@dataclass(frozen=True)
class ProviderCheck:
    provider: str
    ok: bool
    executed_on: str
    latency_ms: float
    error: str = ""


def check_provider(provider: str, options: dict, runs: int = 20) -> ProviderCheck:
    """Run the tiny model on ``provider`` alone and report where it really executed."""
    import onnxruntime as ort

    x = np.ones((1, 64), np.float32)
    try:
        sess = ort.InferenceSession(tiny_model(), providers=[(provider, options)])
        executed = sess.get_providers()[0]
        sess.run(None, {"x": x})
        t0 = time.perf_counter()
        for _ in range(runs):
            y = sess.run(None, {"x": x})[0]
        ms = (time.perf_counter() - t0) * 1000 / runs
        expected = np.maximum(x @ np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(64, 64), 0)
        if not np.allclose(y, expected, atol=1e-3):
            return ProviderCheck(provider, False, executed, ms, "wrong result")
        if executed != provider:
            return ProviderCheck(provider, False, executed, ms, f"onnxruntime ran it on {executed} instead")
        return ProviderCheck(provider, True, executed, ms)
    except Exception as exc:  # onnxruntime raises untyped errors
        return ProviderCheck(provider, False, "", 0.0, str(exc).splitlines()[0][:200])


def run_doctor(profile: Profile) -> list[ProviderCheck]:
    """Check every provider the profile names; missing ones fail with the available list."""
    available = available_providers()
    checks = []
    for spec in profile.providers:
        if spec.name not in available:
            checks.append(ProviderCheck(spec.name, False, "", 0.0, f"not offered by this onnxruntime; available: {list(available)}"))
        else:
            checks.append(check_provider(spec.name, dict(spec.options)))
    return checks
