"""onnxruntime sessions for the int8 build, and the float inputs of a classifier's Convs on calibration photos."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edge_sdk.quantize.vision.export import INPUT_NAME

# onnxruntime's graph transformer that re-quantizes, per tensor, the float weights of a Conv/Gemm fed by a
# DequantizeLinear (an inner node kept in float); the int8 sweep can turn it off to measure such nodes as float.
WEIGHT_REQUANTIZATION = "WeightBiasQuantization"


def session(path: Path, threads: int = 2, float_weights_at_load: bool = False) -> ort.InferenceSession:
    """A CPU session; ``float_weights_at_load`` turns off :data:`WEIGHT_REQUANTIZATION`."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    disabled = [WEIGHT_REQUANTIZATION] if float_weights_at_load else []
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)


def weighted_convs(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The Conv nodes whose weight is an initializer (the ones int8 quantizes)."""
    init = {t.name for t in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "Conv" and len(n.input) > 1 and n.input[1] in init]


def conv_inputs(path: Path, photos: np.ndarray, tensors: set[str], batch: int = 8) -> Iterator[dict[str, np.ndarray]]:
    """For each batch of ``photos``, the float values of ``tensors`` (Conv inputs, or any other) in the model at ``path``."""
    probe = onnx.load(str(path))
    known = {i.name for i in probe.graph.input} | {o.name for o in probe.graph.output}
    for t in sorted(tensors - known):
        probe.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(probe, str(Path(tmp) / "probe.onnx"))
        sess = session(Path(tmp) / "probe.onnx")
        names = [o.name for o in sess.get_outputs()]
        for i in range(0, len(photos), batch):
            x = photos[i : i + batch]
            outs = dict(zip(names, sess.run(None, {INPUT_NAME: x}), strict=True)) | {INPUT_NAME: x}
            yield {t: outs[t] for t in tensors}
