"""Export a torch classifier to ONNX (dynamic batch) and check it against torch."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
OPSET = 17


def export_onnx(model: nn.Module, path: Path, image_size: int) -> Path:
    """Write ``model`` as a single-file ONNX graph ``image[N,3,S,S] -> logits[N,C]`` with a dynamic batch axis."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(1, 3, image_size, image_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about python ints from shapes (static H, W by design)
        torch.onnx.export(
            model.eval(),
            (x,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load(str(path))
    used = {i for n in model.graph.node for i in n.input}
    unused = [t for t in model.graph.initializer if t.name not in used]  # constant-folding leftovers
    for t in unused:
        model.graph.initializer.remove(t)
    if unused:
        onnx.save(model, str(path))
    onnx.checker.check_model(model)
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def max_abs_diff_vs_torch(model: nn.Module, onnx_path: Path, batch: np.ndarray) -> float:
    """Largest absolute logit difference between onnxruntime (CPU) and torch on ``batch``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: batch.astype(np.float32)})[0]
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(batch.astype(np.float32))).numpy()
    return float(np.abs(got - want).max())
