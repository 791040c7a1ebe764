"""Replace the int8 decoder's output projection by 4-bit MatMulNBits: ``make.py INT8_DECODER OUT BLOCK``."""
import sys, numpy as np, onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
src, dst, block = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = onnx.load(src)
g = m.graph
init = {i.name: i for i in g.initializer}
q = numpy_helper.to_array(init["embed_t_quantized"]).astype(np.float32)      # (384, V) int8
scale = numpy_helper.to_array(init["embed_t_scale"])                         # (V,)
zp = numpy_helper.to_array(init["embed_t_zero_point"]).astype(np.float32)    # (V,)
W = (q - zp[None]) * scale[None]
K, N = W.shape
# a one-node model to let onnxruntime pack the 4-bit weights
A = helper.make_tensor_value_info("A", onnx.TensorProto.FLOAT, [1, K])
Y = helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [1, N])
tiny = helper.make_model(helper.make_graph([helper.make_node("MatMul", ["A", "W"], ["Y"], name="proj")], "t", [A], [Y],
                                          initializer=[numpy_helper.from_array(W, "W")]), opset_imports=[helper.make_opsetid("", 17)])
qz = MatMulNBitsQuantizer(tiny, bits=4, block_size=block, is_symmetric=False, accuracy_level=4)
qz.process()
t = qz.model.model
nb = next(n for n in t.graph.node if n.op_type == "MatMulNBits")
prod = {o: n for n in g.node for o in n.output}
mm = next(n for n in g.node if n.name == "/MatMul_16_quant")
sl = prod[mm.input[0]]                     # Slice of the uint8 activations
dq = prod[sl.input[0]]                     # DynamicQuantizeLinear of the float activations
fsl = helper.make_node("Slice", [dq.input[0], *sl.input[1:]], ["proj_in_f"], name="proj_in_slice")
new = helper.make_node("MatMulNBits", ["proj_in_f", *[("proj4_" + i) for i in nb.input[1:]]], ["logits"], name="proj4", domain="com.microsoft")
new.attribute.extend(nb.attribute)
for i in t.graph.initializer:
    if i.name in nb.input[1:]:
        c = onnx.TensorProto(); c.CopyFrom(i); c.name = "proj4_" + i.name; g.initializer.append(c)
# drop the nodes that produced logits from the integer matmul
drop = set()
def up(name):
    n = prod.get(name)
    if n is None or n.name in drop: return
    if n.op_type in ("MatMulInteger", "Cast", "Mul"):
        drop.add(n.name)
        for i in n.input: up(i)
up("logits")
keep = [n for n in g.node if n.name not in drop]
idx = keep.index(sl)
keep[idx+1:idx+1] = [fsl, new]
del g.node[:]; g.node.extend(keep)
# remove now-unread nodes (the uint8 slice) and unused initializers
read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
changed = True
while changed:
    changed = False
    for n in list(g.node):
        if not any(o in read for o in n.output):
            g.node.remove(n); changed = True
    read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
if m.opset_import and not any(o.domain == "com.microsoft" for o in m.opset_import):
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
onnx.save(m, dst)
print("dropped", sorted(drop), "nodes", len(g.node))
