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

# Exclusion pattern: the token lookup reads an fp32 copy of the tied embedding instead of the projection's int8 one.
EMBEDDING = "embedding"

# Attempts in order, each keeping more of the MatMuls most sensitive to int8 in fp32: the decoder's
# FFN output (fc2) reads GELU outputs whose outliers one dynamic uint8 scale per tensor flattens; the
# output projection (the tied embedding) picks every token; the first encoder layers see raw acoustics.
# With the projection in int8 the token lookup gathers rows of the same int8 copy (one scale per token),
# so the 51,864 x 384 embedding is stored once, in int8: 20 MB instead of 80 MB fp32 + 20 MB int8.
INT8_ATTEMPTS: tuple[tuple[str, dict[str, tuple[str, ...]]], ...] = (
    ("all MatMul weights, token embedding shared with the int8 projection", {"encoder": (), "decoder": ()}),
    ("all MatMul weights, token embedding fp32", {"encoder": (), "decoder": (EMBEDDING,)}),
    ("decoder fc2 kept fp32", {"encoder": (), "decoder": ("/fc2",)}),
    ("decoder fc2 and output projection kept fp32", {"encoder": (), "decoder": ("/fc2", "logits")}),
    ("decoder fc2, output projection and encoder layer 0 kept fp32", {"encoder": ("layers.0",), "decoder": ("/fc2", "logits")}),
)


def _nodes_matching(model: onnx.ModelProto, patterns: tuple[str, ...], outputs: tuple[str, ...] = ()) -> list[str]:
    names = []
    patterns = tuple(p for p in patterns if p != EMBEDDING)
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        projection = "logits" in node.output or "embed_t" in node.input  # the tied embedding, whole or trimmed
        if any(p in node.name for p in patterns if p != "logits") or ("logits" in patterns and projection):
            names.append(node.name)
    return names


def quantize_int8(src: Path, dst: Path, int8_format: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Dynamic int8 (per-channel weights, dynamic uint8 activations) of the MatMuls with constant weights.

    A Slice before a quantized MatMul ends up after its activation quantization (:func:`slice_after_quantization`).

    Args:
        src: fp32 ONNX file.
        dst: Output file.
        int8_format: Device profile's ``int8_format`` (``u8s8``, ``u8u8``, ``s8s8``).
        exclude: Node-name patterns kept fp32, or ``"logits"`` (the output projection), or ``"embedding"``
            (the token lookup keeps an fp32 copy of the tied embedding).

    Returns:
        Names of the nodes kept in fp32 (MatMuls, and token lookups that read a float copy of a tied weight).
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
    quantized = onnx.load(str(dst))
    shared = share_tied_weights(quantized) if EMBEDDING not in exclude else []
    if shared:
        log.info("%s: token lookups %s read the int8 projection weights", dst.name, shared)
    sliced = slice_after_quantization(quantized)
    if sliced:
        log.info("%s: %s quantize every position, then slice", dst.name, sliced)
    if shared or sliced:
        onnx.save(quantized, str(dst))
    return excluded + tied_float_lookups(quantized)


def slice_after_quantization(model: onnx.ModelProto) -> list[str]:
    """Make every DynamicQuantizeLinear of a Slice's output quantize the Slice's input, and slice its uint8 output.

    The decoder's output projection reads only the last positions (``logit_positions`` in
    :mod:`edge_sdk.quantize.speech.export`). Quantized before the slice, those rows get the activation scale of
    every position, as in a graph without the slice, so their logits are bit-identical to that graph's.

    Returns:
        Names of the DynamicQuantizeLinear nodes rewritten.
    """
    from onnx import helper

    producers = {o: n for n in model.graph.node for o in n.output}
    nodes, moved, sources = [], [], []
    for node in model.graph.node:
        nodes.append(node)
        src = producers.get(node.input[0]) if node.op_type == "DynamicQuantizeLinear" else None
        if src is None or src.op_type != "Slice":
            continue
        whole, sliced = node.output[0], node.output[0] + "_sliced"
        for reader in model.graph.node:
            reader.input[:] = [sliced if name == whole else name for name in reader.input]
        node.input[0] = src.input[0]
        nodes.append(helper.make_node("Slice", [whole, *src.input[1:]], [sliced], name=f"{node.name or whole}_slice"))
        moved.append(node.name)
        sources.append(src.output[0])
    if moved:
        read = {name for n in nodes for name in n.input} | {o.name for o in model.graph.output}
        unused = {o for o in sources if o not in read}
        del model.graph.node[:]
        model.graph.node.extend(n for n in nodes if not set(n.output) & unused)
    return moved


def _quantized_weights(model: onnx.ModelProto) -> dict[str, tuple[str, str, str]]:
    """Float weight name -> (int8/uint8 weight, scale, zero point) of every MatMulInteger that quantize_dynamic made."""
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type != "MatMulInteger" or len(node.input) < 4 or not node.input[1].endswith("_quantized"):
            continue
        name = node.input[1].removesuffix("_quantized")
        if {node.input[1], name + "_scale", node.input[3]} <= inits:
            out[name] = (node.input[1], name + "_scale", node.input[3])
    return out


def share_tied_weights(model: onnx.ModelProto) -> list[str]:
    """Make every Gather that reads a float weight quantized for an int8 MatMul gather the int8 copy instead.

    Whisper ties the token embedding to the output projection: one ``(d_model, vocab)`` weight serves the
    lookup (Gather along axis 1) and the projection (MatMul). ``quantize_dynamic`` quantizes the MatMul's copy
    per output column, which is one scale per token, and leaves the float weight for the Gather. Here the
    Gather reads the int8 columns and dequantizes them, ``(q - zero_point[id]) * scale[id]``, so the float
    weight goes. Works for int8 (u8s8, s8s8) and uint8 (u8u8) weights: the Gather never multiplies integers.

    Returns:
        Names of the Gather nodes rewritten (none when no lookup shares an int8 weight).
    """
    from onnx import TensorProto, helper

    quantized = _quantized_weights(model)
    inits = {i.name: i for i in model.graph.initializer}
    nodes, shared = [], []
    for node in model.graph.node:
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
        weight = node.input[0] if node.op_type == "Gather" else None
        if weight not in quantized or weight not in inits or len(inits[weight].dims) != 2 or axis not in (1, -1):
            nodes.append(node)  # per-column scales line up with the gathered columns only along axis 1
            continue
        q, scale, zero = quantized[weight]
        ids, out = node.input[1], node.output[0]
        tag = node.name or out
        nodes += [
            helper.make_node("Gather", [q, ids], [f"{tag}_q"], name=f"{tag}_int8", axis=1),
            helper.make_node("Gather", [scale, ids], [f"{tag}_scale"], name=f"{tag}_scale", axis=0),
            helper.make_node("Gather", [zero, ids], [f"{tag}_zero"], name=f"{tag}_zero", axis=0),
            helper.make_node("Cast", [f"{tag}_q"], [f"{tag}_qf"], name=f"{tag}_qf", to=TensorProto.FLOAT),
            helper.make_node("Cast", [f"{tag}_zero"], [f"{tag}_zf"], name=f"{tag}_zf", to=TensorProto.FLOAT),
            helper.make_node("Sub", [f"{tag}_qf", f"{tag}_zf"], [f"{tag}_centred"], name=f"{tag}_centred"),
            helper.make_node("Mul", [f"{tag}_centred", f"{tag}_scale"], [out], name=f"{tag}_dequantized"),
        ]
        shared.append(node.name)
    if not shared:
        return []
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    read = {name for n in model.graph.node for name in n.input} | {o.name for o in model.graph.output}
    unused = [i for i in model.graph.initializer if i.name not in read]
    for init in unused:
        model.graph.initializer.remove(init)
    return shared


def tied_float_lookups(model: onnx.ModelProto) -> list[str]:
    """Gather nodes that read a float copy of a weight an int8 MatMul also holds (the tied embedding kept fp32)."""
    quantized = _quantized_weights(model)
    return [n.name for n in model.graph.node if n.op_type == "Gather" and n.input[0] in quantized]


def token_lookup_precision(path: Path) -> str:
    """How the token lookup of an int8 decoder reads the tied embedding, for the recipe."""
    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name: i for i in model.graph.initializer}
    gathered = [inits[n.input[0]] for n in model.graph.node if n.op_type == "Gather" and n.input[0] in inits]
    if not gathered:
        return "none"
    big = max(gathered, key=lambda i: len(i.raw_data) or len(i.float_data))
    if big.name.endswith("_quantized"):
        return "int8 rows of the output projection's weight, dequantized per token"
    return "fp32, beside the output projection's int8 copy" if big.name in _quantized_weights(model) else "fp32"


def integer_op_count(path: Path) -> int:
    """Number of integer matmul nodes in an ONNX file (proves a graph really is int8)."""
    model = onnx.load(str(path), load_external_data=False)
    return sum(1 for n in model.graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"))
