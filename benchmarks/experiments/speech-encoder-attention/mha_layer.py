"""One encoder attention layer (1500 frames, 6 heads, 384 wide): MatMul-Softmax-MatMul against MultiHeadAttention, 2 threads, arena off and on.

``python benchmarks/experiments/speech-encoder-attention/mha_layer.py``
"""
import time, numpy as np, onnx, onnx.helper as oh, onnxruntime as ort, resource
S, H, N = 1500, 384, 6
D = H // N
F = onnx.TensorProto.FLOAT
def sess(model, arena):
    o = ort.SessionOptions(); o.intra_op_num_threads=2; o.log_severity_level=3; o.enable_cpu_mem_arena=arena; o.enable_mem_pattern=arena
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), o, providers=["CPUExecutionProvider"])
io = [oh.make_tensor_value_info(n, F, [1, S, H]) for n in "QKV"]
out = [oh.make_tensor_value_info("Y", F, [1, S, H])]
mha = oh.make_model(oh.make_graph([oh.make_node("MultiHeadAttention", ["Q","K","V"], ["Y"], domain="com.microsoft", num_heads=N, scale=1.0)], "m", io, out),
                    opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("com.microsoft", 1)])
shape = oh.make_tensor("shape", onnx.TensorProto.INT64, [4], [1, S, N, D])
oshape = oh.make_tensor("oshape", onnx.TensorProto.INT64, [3], [1, S, H])
nodes = [oh.make_node("Reshape", ["Q","shape"], ["q4"]), oh.make_node("Transpose", ["q4"], ["q"], perm=[0,2,1,3]),
         oh.make_node("Reshape", ["K","shape"], ["k4"]), oh.make_node("Transpose", ["k4"], ["k"], perm=[0,2,3,1]),
         oh.make_node("Reshape", ["V","shape"], ["v4"]), oh.make_node("Transpose", ["v4"], ["v"], perm=[0,2,1,3]),
         oh.make_node("MatMul", ["q","k"], ["s"]), oh.make_node("Softmax", ["s"], ["p"], axis=-1),
         oh.make_node("MatMul", ["p","v"], ["o"]), oh.make_node("Transpose", ["o"], ["o2"], perm=[0,2,1,3]),
         oh.make_node("Reshape", ["o2","oshape"], ["Y"])]
plain = oh.make_model(oh.make_graph(nodes, "p", io, out, initializer=[shape, oshape]), opset_imports=[oh.make_opsetid("", 17)])
rng = np.random.default_rng(0)
feeds = {n: rng.standard_normal((1, S, H), dtype=np.float32) * 0.3 for n in "QKV"}
res = {}
for name, m in (("plain", plain), ("mha", mha)):
    for arena in (False, True):
        s = sess(m, arena); s.run(None, feeds)
        t = time.perf_counter()
        for _ in range(8): y = s.run(None, feeds)[0]
        res[name] = y
        print(name, arena, f"{(time.perf_counter()-t)/8*1e3:.1f} ms", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss//1024, "MB")
print("maxdiff", np.abs(res["plain"] - res["mha"]).max())
