"""Float-side int8 preparation: GPTQ weight rounding (closer layer outputs than rounding to nearest, on the grid
onnxruntime quantizes to exactly), bias correction, and the nodes each exclusion keeps in float."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_sdk.quantize.vision import gptq, int8
from edge_sdk.quantize.vision.export import INPUT_NAME
from edge_sdk.quantize.vision.probe import conv_inputs


@pytest.mark.parametrize("signed", [True, False])
def test_gptq_rows_beat_rounding_to_nearest_and_stay_on_the_int8_grid(signed):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 27)) @ rng.normal(size=(27, 27)) + 0.5  # correlated inputs with a mean, as after a ReLU
    w = rng.normal(size=(16, 27)) * rng.uniform(0.1, 3, size=(16, 1)) + 0.2
    nearest = int8._fake_quant_weight(w.astype(np.float32), signed).astype(np.float64)
    rounded = gptq.gptq_rows(w, x.T @ x, signed)
    output_error = lambda q: np.mean(((q - w) @ x.T) ** 2)  # noqa: E731
    assert output_error(rounded) < 0.7 * output_error(nearest)
    # quantizing the result again (as onnxruntime will) changes nothing: same scale, values on the grid
    again = int8._fake_quant_weight(rounded.astype(np.float32), signed)
    np.testing.assert_allclose(again, rounded, rtol=0, atol=1e-6 * np.abs(w).max())
    # one Hessian per row (a depthwise Conv) gives the same rows when the Hessians are the same
    np.testing.assert_array_equal(gptq.gptq_rows(w, np.stack([x.T @ x] * 16), signed), rounded)


def _conv(name, inp, out, w, group=1, pads=(0, 0, 0, 0), strides=(1, 1)):
    weight = numpy_helper.from_array(w.astype(np.float32), f"{name}.weight")
    bias = numpy_helper.from_array(np.zeros(w.shape[0], np.float32), f"{name}.bias")
    node = helper.make_node("Conv", [inp, weight.name, bias.name], [out], name=name, group=group, pads=list(pads),
                            strides=list(strides), kernel_shape=list(w.shape[2:]))
    return node, [weight, bias]


@pytest.fixture
def small_net(tmp_path):
    """image -> 3x3 stride-2 Conv -> ReLU -> depthwise 3x3 Conv (asymmetric pads) -> ReLU -> 1x1 Conv."""
    rng = np.random.default_rng(1)
    layers = [_conv("stem", INPUT_NAME, "a", rng.normal(size=(8, 3, 3, 3)), pads=(1, 1, 1, 1), strides=(2, 2)),
              _conv("dw", "a_relu", "b", rng.normal(size=(8, 1, 3, 3)), group=8, pads=(0, 0, 1, 1)),
              _conv("pw", "b_relu", "logits", rng.normal(size=(4, 8, 1, 1)))]
    relus = [helper.make_node("Relu", ["a"], ["a_relu"], name="relu_a"), helper.make_node("Relu", ["b"], ["b_relu"], name="relu_b")]
    nodes = [layers[0][0], relus[0], layers[1][0], relus[1], layers[2][0]]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
                              [t for _, ts in layers for t in ts])
    path = tmp_path / "small.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path, rng.normal(size=(24, 3, 16, 16)).astype(np.float32)


def test_receptive_fields_reproduce_each_conv(small_net):
    path, photos = small_net
    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    outs = next(conv_inputs(path, photos[:2], {INPUT_NAME, "a", "a_relu", "b", "b_relu", "logits"}))
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        w = init[node.input[1]]
        p = gptq.patches(outs[node.input[0]], node, w.shape[2:])  # (N, C, h, w, k)
        if w.shape[1] == 1:  # depthwise: channel c with its own filter
            got = np.einsum("nchwk,ck->nchw", p, w.reshape(w.shape[0], -1))
        else:
            got = np.einsum("nchwk,ock->nohw", p, w.reshape(w.shape[0], w.shape[1], -1))
        np.testing.assert_allclose(got, outs[node.output[0]], rtol=1e-4, atol=1e-4)


def test_onnxruntime_quantizes_the_rounded_weights_exactly(small_net, tmp_path):
    path, photos = small_net
    rounded = tmp_path / "gptq.onnx"
    assert gptq.round_weights(path, rounded, photos, signed=True, skip=["stem"]) == 2  # the stem stays float
    q = int8.quantize_int8(rounded, tmp_path / "int8.onnx", photos, int8.Int8Recipe("minmax", "u8s8", gptq=True), ["stem"])
    floats = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(rounded)).graph.initializer}
    original = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    qinit = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(q)).graph.initializer}
    np.testing.assert_array_equal(floats["stem.weight"], original["stem.weight"])
    checked = 0
    for n in onnx.load(str(q)).graph.node:
        if n.op_type == "DequantizeLinear" and qinit.get(n.input[0], np.zeros(0)).dtype == np.int8:
            ints, scale = qinit[n.input[0]].astype(np.float64), qinit[n.input[1]]
            name = n.input[0].removesuffix("_quantized")
            np.testing.assert_allclose(ints * scale.reshape(-1, 1, 1, 1), floats[name], rtol=0, atol=1e-6)
            assert not np.allclose(floats[name], original[name])
            checked += 1
    assert checked == 2


def test_bias_correction_leaves_the_convs_kept_in_float_alone(small_net, tmp_path):
    """A float conv makes no rounding error, so correcting its bias would add one (the stem kept in float did)."""
    path, photos = small_net
    biases = lambda p: {t.name: numpy_helper.to_array(t) for t in onnx.load(str(p)).graph.initializer if t.name.endswith(".bias")}  # noqa: E731
    assert int8.correct_biases(path, tmp_path / "all.onnx", photos, "u8s8") == 3
    assert biases(tmp_path / "all.onnx")["stem.bias"].any()
    assert int8.correct_biases(path, tmp_path / "bc.onnx", photos, "u8s8", skip=["stem"]) == 2
    got = biases(tmp_path / "bc.onnx")
    assert not got["stem.bias"].any() and got["dw.bias"].any() and got["pw.bias"].any()
    np.testing.assert_array_equal(got["dw.bias"], biases(tmp_path / "all.onnx")["dw.bias"])


def test_front_keeps_the_stem_and_the_conv_reading_it_in_float_with_their_activations(small_net):
    model = onnx.load(str(small_net[0]))
    assert int8.float_nodes(model, "stem") == ["relu_a", "stem"]
    assert int8.float_nodes(model, "front") == ["dw", "relu_a", "relu_b", "stem"]


def test_exclusions_join_with_a_plus_and_a_wrong_part_is_refused(small_net):
    model = onnx.load(str(small_net[0]))
    assert int8.float_nodes(model, "stem+depthwise") == ["dw", "relu_a", "relu_b", "stem"]
    assert int8.float_nodes(model, "stem+head") == ["dw", "pw", "relu_a", "relu_b", "stem"]
    assert int8.float_nodes(model, "none") == []
    with pytest.raises(ValueError, match="joined by"):
        int8.float_nodes(model, "stem+everything")


@pytest.mark.kernel
def test_float_weights_at_load_run_an_inner_float_conv_as_written(small_net, tmp_path, int8_format):
    """onnxruntime re-quantizes a float conv between DequantizeLinear and QuantizeLinear per tensor at load, unless
    the sweep turns that off: then the optimized session computes what the unoptimized graph does.

    In the profile's int8 format: with ``u8s8`` on a kernel that saturates (AVX2 without VNNI) the fused integer
    convs differ from the float graph by up to 9 quantization steps, which is why that profile uses ``u8u8``."""
    path, photos = small_net
    q = int8.quantize_int8(path, tmp_path / "int8.onnx", photos, int8.Int8Recipe("minmax", int8_format),
                           int8.float_nodes(onnx.load(str(path)), "depthwise"))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    as_written = ort.InferenceSession(str(q), opts, providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: photos})[0]
    np.testing.assert_allclose(int8.predict(q, photos, float_weights_at_load=True), as_written, rtol=0, atol=1e-5)
    assert np.abs(int8.predict(q, photos) - as_written).mean() > 0.01


def test_u8s7_keeps_dense_weights_within_64_and_depthwise_ones_within_127(small_net, tmp_path):
    """u8s7: every pair of u8 x s8 products of a dense conv fits int16 (2 x 255 x 64 = 32,640), so AVX2's vpmaddubsw
    computes it exactly; the depthwise conv keeps the full grid, and bias correction measures the error of each grid."""
    path, photos = small_net
    model = onnx.load(str(path))
    assert int8.dense_weights(model) == ["stem.weight", "pw.weight"] and int8.dense_weights(model, ["stem"]) == ["pw.weight"]
    nodes = {n.name: n for n in model.graph.node}
    assert [int8.weight_qmax(f, nodes[n]) for f in ("u8s7", "u8s8") for n in ("dw", "pw")] == [127, 64, 127, 127]
    q = int8.quantize_int8(path, tmp_path / "int8.onnx", photos, int8.Int8Recipe("minmax", "u8s7"), ["stem", "relu_a"])
    assert int8.largest_dense_weight(q) == 64
    qinit = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(q)).graph.initializer}
    assert np.abs(qinit["dw.weight_quantized"]).max() == 127
    s8 = int8.quantize_int8(path, tmp_path / "s8.onnx", photos, int8.Int8Recipe("minmax", "u8s8"), ["stem", "relu_a"])
    assert int8.largest_dense_weight(s8) == 127
    pw = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "pw.weight"))
    on_grid = int8._fake_quant_weight(pw, True, 64)
    np.testing.assert_allclose(qinit["pw.weight_quantized"] * qinit["pw.weight_scale"].reshape(-1, 1, 1, 1), on_grid, rtol=0, atol=1e-6)
