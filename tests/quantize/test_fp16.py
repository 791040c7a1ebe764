"""The one fp16 converter: fp32 inputs and outputs, fp16 inside, and an output read inside stays fp16 there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_sdk.quantize.fp16 import convert_fp16


def _cache_like(path: Path) -> None:
    """x + w -> y (an output, like a grown KV cache) and y * w -> z (an output that reads y)."""
    w = numpy_helper.from_array(np.full((1, 4), 0.5, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"]), helper.make_node("Mul", ["y", "w"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4]), helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("converter", ["onnxruntime", "onnxconverter-common"])
def test_fp16_keeps_fp32_io_and_the_same_outputs(tmp_path: Path, converter: str):
    _cache_like(tmp_path / "fp32.onnx")
    recipe = convert_fp16(tmp_path / "fp32.onnx", tmp_path / "fp16.onnx", converter)
    model = onnx.load(str(tmp_path / "fp16.onnx"))
    assert recipe["keep_io_types"] is True
    assert {v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]} == {TensorProto.FLOAT}
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    x = np.arange(4, dtype=np.float32)[None]
    y, z = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(y, x + 0.5)
    np.testing.assert_allclose(z, (x + 0.5) * 0.5)


@pytest.mark.parametrize("converter", ["onnxruntime", "onnxconverter-common"])
def test_an_output_read_inside_is_read_in_fp16(tmp_path: Path, converter: str):
    _cache_like(tmp_path / "fp32.onnx")
    convert_fp16(tmp_path / "fp32.onnx", tmp_path / "fp16.onnx", converter)
    model = onnx.load(str(tmp_path / "fp16.onnx"))
    mul = next(n for n in model.graph.node if n.op_type == "Mul")
    assert "y" not in mul.input  # not the fp32 copy made for the outside


def test_an_unknown_converter_is_named(tmp_path: Path):
    _cache_like(tmp_path / "fp32.onnx")
    with pytest.raises(ValueError, match="'fp8'"):
        convert_fp16(tmp_path / "fp32.onnx", tmp_path / "fp16.onnx", "fp8")  # type: ignore[arg-type]
