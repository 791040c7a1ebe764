"""Per-frame latency, batch 1, 2 threads, of Lite0 fp32 and int8 models on the same frames, interleaved.

    python benchmarks/experiments/vision-int8-portable/latency.py NAME=MODEL.onnx ... [--rounds 15] [--frames 20]

Each round runs every model on the same ``--frames`` preprocessed gate photos, in turn; the figure per model is the
median over all rounds and frames, and the ratios are to the first model (onnxruntime fp32, default options).
"""

import argparse
import time

import numpy as np
import onnxruntime as ort

from edge_sdk.quantize.vision import data
from edge_sdk.quantize.vision.models import ARCHS

parser = argparse.ArgumentParser()
parser.add_argument("models", nargs="+", help="NAME=path.onnx; the first is the reference")
parser.add_argument("--rounds", type=int, default=15)
parser.add_argument("--frames", type=int, default=20)
args = parser.parse_args()
frames = data.batch(data.photo_sets().holdout[:: max(1, 1033 // args.frames)][: args.frames], ARCHS["efficientnet-lite0"].preprocess)
sessions = {}
for spec in args.models:
    name, path = spec.split("=", 1)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sessions[name] = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
times = {name: [] for name in sessions}
for _ in range(2):  # warm-up
    for s in sessions.values():
        s.run(None, {"image": frames[:1]})
for _ in range(args.rounds):
    for name, s in sessions.items():
        for i in range(len(frames)):
            t = time.perf_counter()
            s.run(None, {"image": frames[i : i + 1]})
            times[name].append(time.perf_counter() - t)
ref = np.median(times[next(iter(sessions))])
for name, ts in times.items():
    print(f"{name:12s} p50 {1000 * np.median(ts):6.2f} ms  p90 {1000 * np.percentile(ts, 90):6.2f} ms  ratio to the first {np.median(ts) / ref:.3f}")
