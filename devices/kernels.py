"""What onnxruntime's integer kernels on this CPU really compute, measured, not read from CPU flags.

On x86 without VNNI (AVX2, and AVX-512 without VNNI) onnxruntime multiplies u8 activations by s8 weights with
``vpmaddubsw``, which adds pairs of products into int16 *with saturation*; VNNI, AMX and ARM's dot product
accumulate in int32. A model quantized to the ``u8s8`` format then computes different numbers on the two kinds of
kernel. Emulators and some virtual machines report host CPU flags that the kernel in use does not have, so the
profile's int8 format is checked against this probe rather than against ``/proc/cpuinfo`` alone.

The probe model is encoded here as ONNX protobuf bytes, so it needs only onnxruntime.
"""

from __future__ import annotations

import functools

import numpy as np

from edge_sdk.devices.onnx_bytes import model_bytes, tensor, value_info

UINT8, INT8, INT32 = 2, 3, 6  # onnx.TensorProto element types
_K = 64  # inner dimension: 32 pairs of 255 * 127 overflow int16 (32767) in every pair


def u8s8_probe_model() -> bytes:
    """ONNX bytes of ``y = MatMulInteger(a, W)`` with a: uint8 (1, 64), W: int8 (64, 1) all 127."""
    w = tensor("W", (_K, 1), INT8, np.full(_K, 127, np.int8).tobytes())
    node = (("a", "W"), ("y",), "MatMulInteger")
    return model_bytes([node], [w], [value_info("a", (1, _K), UINT8)], [value_info("y", (1, 1), INT32)], opset=10)


@functools.lru_cache(maxsize=1)
def u8s8_saturates() -> bool:
    """Whether onnxruntime's CPU kernel here saturates u8 x s8 products in int16 (AVX2 or AVX-512 without VNNI).

    Runs one 64-long dot product of 255 x 127 on the CPU execution provider: exact int32 accumulation gives
    2,072,640; pairwise int16 saturation gives 32 x 32,767.
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(u8s8_probe_model(), providers=["CPUExecutionProvider"])
    y = int(sess.run(None, {"a": np.full((1, _K), 255, np.uint8)})[0][0, 0])
    return y != 255 * 127 * _K


def kernel_int8_format() -> str:
    """``"u8u8"`` where this CPU's kernel saturates u8 x s8 products, so that only u8u8 (or s8s8) builds run as
    built; ``""`` where every int8 format does (VNNI, AMX, ARM), whatever profile is in use."""
    return "u8u8" if u8s8_saturates() else ""


def int8_format_problem(int8_format: str) -> str:
    """Why ``int8_format`` computes wrong numbers on this CPU's kernel, or ``""`` when it does not."""
    if int8_format == "u8s8" and u8s8_saturates():
        return ("this CPU's int8 kernel saturates u8 x s8 products in int16 (no VNNI): u8s8 models lose accuracy "
                "here; use a profile with int8_format = 'u8u8' (x86_64-avx2)")
    return ""
