"""The int8 speech graphs: the tied token embedding is stored once, in the int8 format of the profile."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="building graphs needs onnx (edge-sdk-ondevice[quantize])")
pytest.importorskip("onnxruntime.quantization", reason="quantizing needs onnxruntime (edge-sdk-ondevice[quantize])")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edge_sdk.bundle import load_bundle  # noqa: E402
from edge_sdk.quantize.speech.variants import EMBEDDING, quantize_int8  # noqa: E402

D_MODEL, VOCAB = 16, 300
INTEGER_TYPES = {"u8s8": TensorProto.INT8, "s8s8": TensorProto.INT8, "u8u8": TensorProto.UINT8}


def _tied_graph(path, weight: np.ndarray, last: int | None = None) -> None:
    """Whisper's decoder in miniature: ``x = W[:, ids]^T``, ``logits = x @ W`` with one (d_model, vocab) weight;
    with ``last``, the logits of the last ``last`` rows only."""
    nodes = [
        helper.make_node("Gather", ["W", "ids"], ["cols"], name="/Gather_3", axis=1),
        helper.make_node("Transpose", ["cols"], ["x"], name="/Transpose", perm=[1, 0]),
        helper.make_node("MatMul", ["x_last" if last else "x", "W"], ["logits"], name="/MatMul_16"),
    ]
    inits = [numpy_helper.from_array(weight, "W")]
    if last:
        nodes.insert(2, helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["x_last"], name="/Slice"))
        inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("starts", [-last]), ("ends", [2**62]), ("axes", [0]))]
    graph = helper.make_graph(
        nodes, "tied", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", D_MODEL]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["rows", VOCAB])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _matmul_weight_types(model) -> set[int]:
    inits = {i.name: i.data_type for i in model.graph.initializer}
    return {inits[n.input[1]] for n in model.graph.node if n.op_type == "MatMulInteger" and n.input[1] in inits}


@pytest.fixture(scope="module")
def weight() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.05, (D_MODEL, VOCAB)).astype(np.float32)


@pytest.mark.parametrize("int8_format", ["u8s8", "u8u8"])
def test_token_lookup_reads_the_int8_projection_weight(tmp_path, weight, int8_format):
    import onnxruntime as ort

    _tied_graph(tmp_path / "fp32.onnx", weight)
    kept = quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", int8_format)
    model = onnx.load(str(tmp_path / "int8.onnx"))
    big = [i for i in model.graph.initializer if int(np.prod(i.dims)) == weight.size]
    assert kept == [] and [i.data_type for i in big] == [INTEGER_TYPES[int8_format]], [(i.name, i.data_type) for i in big]
    assert _matmul_weight_types(model) == {INTEGER_TYPES[int8_format]}  # u8u8 builds hold no u8 x s8 matmul
    ids = np.array([0, 7, 299, 7], np.int64)
    sess = ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"])
    x = sess.run(["x"], {"ids": ids})[0]
    step = (weight.max(axis=0) - np.minimum(weight.min(axis=0), 0)) / 127  # one scale per token (column)
    assert np.all(np.abs(x - weight[:, ids].T) <= step[ids][:, None]), np.abs(x - weight[:, ids].T).max()


def test_embedding_exclusion_keeps_the_float_lookup(tmp_path, weight, int8_format):
    _tied_graph(tmp_path / "fp32.onnx", weight)
    kept = quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", int8_format, (EMBEDDING,))
    model = onnx.load(str(tmp_path / "int8.onnx"))
    types = sorted(i.data_type for i in model.graph.initializer if int(np.prod(i.dims)) == weight.size)
    assert kept == ["/Gather_3"] and types == sorted([TensorProto.FLOAT, INTEGER_TYPES[int8_format]])


def test_sliced_projection_quantizes_every_row_so_the_kept_rows_match_the_full_graph(tmp_path, weight, int8_format):
    import onnxruntime as ort

    def logits(last: int | None) -> np.ndarray:
        _tied_graph(tmp_path / f"fp32-{last}.onnx", weight, last)
        quantize_int8(tmp_path / f"fp32-{last}.onnx", tmp_path / f"int8-{last}.onnx", int8_format)
        sess = ort.InferenceSession(str(tmp_path / f"int8-{last}.onnx"), providers=["CPUExecutionProvider"])
        return sess.run(["logits"], {"ids": ids})[0]

    ids = np.array([0, 7, 299, 7, 5, 120, 64, 3], np.int64)
    weight = weight.copy()
    weight[:, 0] *= 40  # the first row's activations set the per-tensor scale: slicing before quantizing would change it
    full, last = logits(None), logits(2)
    assert last.shape == (2, VOCAB)
    np.testing.assert_array_equal(last, full[-2:])


def test_bundle_int8_decoder_holds_the_embedding_once_in_int8(speech_bundle):
    b = load_bundle(speech_bundle)
    int8 = b.variants["int8"]
    model = onnx.load_from_string(b.read(int8.files["decoder"]))
    vocab_sized = [(i.name, i.data_type) for i in model.graph.initializer if int(np.prod(i.dims)) >= 51864 * 384]
    assert vocab_sized == [("embed_t_quantized", INTEGER_TYPES[int8.recipe["int8_format"]])], vocab_sized
    assert _matmul_weight_types(model) == {INTEGER_TYPES[int8.recipe["int8_format"]]}
    total_mb = sum((b.root / f.path).stat().st_size for f in int8.files.values()) / 1e6
    assert total_mb <= 45, f"int8 variant is {total_mb:.1f} MB"
