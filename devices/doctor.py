"""``edge-sdk devices --doctor``: run a tiny model on every provider of a profile.

The model is encoded here as ONNX protobuf bytes (MatMul + Relu), so the check needs only
onnxruntime, not the ``onnx`` package. CPU profiles also have their int8 format checked against what this CPU's
integer kernel computes (:mod:`edge_sdk.devices.kernels`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edge_sdk.devices.detect import available_providers
from edge_sdk.devices.kernels import int8_format_problem
from edge_sdk.devices.onnx_bytes import FLOAT, model_bytes, tensor, value_info
from edge_sdk.devices.profile import Profile


def tiny_model(n: int = 64) -> bytes:
    """ONNX bytes of ``y = relu(x @ W)`` with x: (1, n), W: (n, n)."""
    w = np.linspace(-1, 1, n * n, dtype=np.float32).reshape(n, n)
    nodes = [(("x", "W"), ("h",), "MatMul"), (("h",), ("y",), "Relu")]
    return model_bytes(nodes, [tensor("W", (n, n), FLOAT, w.tobytes())], [value_info("x", (1, n))], [value_info("y", (1, n))])


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
    if any(spec.name == "CPUExecutionProvider" for spec in profile.providers) and profile.int8_format != "none":
        problem = int8_format_problem(profile.int8_format)
        checks.append(ProviderCheck(f"int8 format {profile.int8_format}", not problem, "CPUExecutionProvider", 0.0, problem))
    return checks
