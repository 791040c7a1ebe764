"""fp16 variants (for CUDA profiles): fp16 weights and compute, fp32 inputs and outputs, one function for every model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Converter = Literal["onnxruntime", "onnxconverter-common"]


def convert_fp16(src: Path, dst: Path, converter: Converter = "onnxruntime") -> dict:
    """Write ``src`` with fp16 weights and compute and fp32 inputs and outputs to ``dst``.

    The two converters are forks of one code base that now write different graphs; each bundle keeps the one it
    was built with (text: ``onnxruntime``, speech: ``onnxconverter-common``), so its fp16 file stays the same.
    A graph output that other nodes also read (the grown KV cache of a decoder feeds attention) gets a Cast to
    fp32 for the outside; its inside readers are pointed back at the fp16 tensor before that Cast (a no-op for
    graphs without such outputs).

    Args:
        src: the fp32 ONNX file.
        dst: where the fp16 file goes.
        converter: which ``convert_float_to_float16`` to use.

    Returns:
        The recipe to record next to the variant.

    Raises:
        ValueError: ``converter`` is not one of the two.
    """
    import onnx

    if converter == "onnxruntime":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        half = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        method = "onnxruntime.transformers.float16.convert_float_to_float16"
    elif converter == "onnxconverter-common":
        from onnxconverter_common import float16

        # the KV cache is an input fed back from the outputs: keep I/O fp32 so the runtime is unchanged
        half = float16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, disable_shape_infer=False)
        method = "onnxconverter_common.float16.convert_float_to_float16"
    else:
        raise ValueError(f"unknown fp16 converter {converter!r}; use 'onnxruntime' or 'onnxconverter-common'")
    _read_outputs_inside_as_fp16(half)
    onnx.save(half, str(dst))
    return {"method": method, "keep_io_types": True}


def _read_outputs_inside_as_fp16(model) -> None:
    outputs = {o.name for o in model.graph.output}
    fp16_of = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Cast" and n.output[0] in outputs}
    for node in model.graph.node:
        if node.op_type == "Cast" and node.output[0] in outputs:
            continue
        for i, name in enumerate(node.input):
            if name in fp16_of:
                node.input[i] = fp16_of[name]
