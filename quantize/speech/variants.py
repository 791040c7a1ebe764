"""Make the int8 and fp16 variants of the exported Whisper graphs."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

log = logging.getLogger(__name__)

# Integer format of a device profile -> onnxruntime weight type. Activations are always dynamic
# uint8; "u8s8" (VNNI, ARM dotprod) takes int8 weights, plain AVX2 needs uint8 weights (u8u8)
# because vpmaddubsw can saturate on u8 x s8 pairs.
WEIGHT_TYPES = {"u8s8": "QInt8", "s8s8": "QInt8", "u8u8": "QUInt8"}

# Attempts in order, each keeping more of the MatMuls most sensitive to int8 in fp32: the decoder's
# FFN output (fc2) reads GELU outputs whose outliers one dynamic uint8 scale per tensor flattens; the
# output projection (the tied embedding) picks every token; the first encoder layers see raw acoustics.
INT8_ATTEMPTS: tuple[tuple[str, dict[str, tuple[str, ...]]], ...] = (
    ("all MatMul weights", {"encoder": (), "decoder": ()}),
    ("decoder fc2 kept fp32", {"encoder": (), "decoder": ("/fc2",)}),
    ("decoder fc2 and output projection kept fp32", {"encoder": (), "decoder": ("/fc2", "logits")}),
    ("decoder fc2, output projection and encoder layer 0 kept fp32", {"encoder": ("layers.0",), "decoder": ("/fc2", "logits")}),
)


def _nodes_matching(model: onnx.ModelProto, patterns: tuple[str, ...], outputs: tuple[str, ...] = ()) -> list[str]:
    names = []
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        projection = "logits" in node.output or "embed_t" in node.input  # the tied embedding, whole or trimmed
        if any(p in node.name for p in patterns if p != "logits") or ("logits" in patterns and projection):
            names.append(node.name)
    return names


def quantize_int8(src: Path, dst: Path, int8_format: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Dynamic int8 (per-channel weights, dynamic uint8 activations) of the MatMuls with constant weights.

    Args:
        src: fp32 ONNX file.
        dst: Output file.
        int8_format: Device profile's ``int8_format`` (``u8s8``, ``u8u8``, ``s8s8``).
        exclude: Node-name patterns (or ``"logits"``: the output projection) kept fp32.

    Returns:
        Names of the nodes kept in fp32.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if int8_format not in WEIGHT_TYPES:
        raise ValueError(f"int8_format {int8_format!r} is not one of {sorted(WEIGHT_TYPES)}")
    model = onnx.load(str(src))
    excluded = _nodes_matching(model, exclude)
    quantize_dynamic(
        model,
        str(dst),
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        weight_type=getattr(QuantType, WEIGHT_TYPES[int8_format]),
        nodes_to_exclude=excluded,
        extra_options={"MatMulConstBOnly": True},
    )
    return excluded


def integer_op_count(path: Path) -> int:
    """Number of integer matmul nodes in an ONNX file (proves a graph really is int8)."""
    model = onnx.load(str(path), load_external_data=False)
    return sum(1 for n in model.graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"))


def convert_fp16(src: Path, dst: Path) -> None:
    """fp16 weights and compute, fp32 inputs and outputs (for CUDA profiles)."""
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    # the KV cache is an input fed back from the outputs: keep I/O fp32 so the runtime is unchanged
    half = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    # A graph output that other nodes also read (the grown KV cache feeds attention) gets a Cast to
    # fp32 for the outside; point the inside readers back at the fp16 tensor before that Cast.
    outputs = {o.name for o in half.graph.output}
    fp16_of = {n.output[0]: n.input[0] for n in half.graph.node if n.op_type == "Cast" and n.output[0] in outputs}
    for node in half.graph.node:
        if node.op_type == "Cast" and node.output[0] in outputs:
            continue
        for i, name in enumerate(node.input):
            if name in fp16_of:
                node.input[i] = fp16_of[name]
    onnx.save(half, str(dst))
