"""Logits of an ONNX classifier on saved inputs, with nothing but numpy and onnxruntime.

Run as a script by :mod:`edge_sdk.quantize.vision.kernel_check`, under an emulator (qemu-x86_64 -cpu Haswell,
qemu-aarch64) whose Python has only those two packages:

    python kernel_worker.py MODEL INPUTS.npy OUT.npy
"""

import sys

import numpy as np
import onnxruntime as ort


def main(model: str, inputs: str, out: str, batch: int = 8) -> None:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.load(inputs, mmap_mode="r")
    np.save(out, np.concatenate([sess.run(None, {name: np.ascontiguousarray(x[i : i + batch])})[0] for i in range(0, len(x), batch)]))


if __name__ == "__main__":
    main(*sys.argv[1:4])
