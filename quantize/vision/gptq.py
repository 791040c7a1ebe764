"""Round Conv weights onto the int8 grid so that each layer's outputs, not its weights, stay close (GPTQ).

Round-to-nearest makes each weight's error as small as it can be, but a Conv's output sums many
weights times correlated inputs, and those errors add up. GPTQ (Frantar et al. 2022, after Optimal
Brain Quantization) rounds the weights of a row one at a time and spreads each rounding error over
the weights not yet rounded, in proportion to the inverse of ``H = E[x x^T]`` of the layer's inputs
on calibration photos, which minimises ``E[((W_q - W) x)^2]`` far better than rounding to nearest.

The result is a float model whose Conv weights already lie on the per-channel int8 grid onnxruntime
will use (per output channel; symmetric for signed weights, with a zero point for unsigned ones). The
weights that set each channel's range are never moved by the others' errors, so onnxruntime derives
the same scale and quantizes the weights exactly; no runtime change is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edge_sdk.quantize.vision.probe import conv_inputs, weighted_convs

log = logging.getLogger(__name__)

QMAX = 127  # onnxruntime's symmetric signed weights: [-127, 127]
DAMPING = 0.01  # of the mean diagonal of H, added to it (GPTQ's default)
PHOTOS = 64


def _attr(node: onnx.NodeProto, name: str, default):
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def patches(x: np.ndarray, node: onnx.NodeProto, kernel: tuple[int, int]) -> np.ndarray:
    """The Conv's receptive fields of ``x`` (N, C, H, W): ``(N, C, out_h, out_w, kh * kw)``."""
    top, left, bottom, right = _attr(node, "pads", [0, 0, 0, 0])
    sh, sw = _attr(node, "strides", [1, 1])
    if _attr(node, "dilations", [1, 1]) != [1, 1]:
        raise ValueError(f"{node.name}: dilated convolutions are not supported")
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, kernel, axis=(2, 3))[:, :, ::sh, ::sw]
    return windows.reshape(*windows.shape[:4], -1)


def input_hessian(x: np.ndarray, node: onnx.NodeProto, kernel: tuple[int, int], group: int) -> np.ndarray:
    """``sum x x^T`` over the receptive fields of ``x``: ``(d, d)`` for a dense Conv, ``(C, d, d)`` for a depthwise one."""
    if group not in (1, x.shape[1]):
        raise ValueError(f"{node.name}: grouped convolutions other than depthwise are not supported")
    total = 0
    for photo in x:  # one at a time: a 5x5 depthwise Conv's fields are 25x its input
        p = patches(photo[None], node, kernel)[0]  # (C, h, w, k)
        if group == 1:
            flat = p.transpose(1, 2, 0, 3).reshape(-1, p.shape[0] * p.shape[3])  # (h*w, C*k): the weight's (I, kh, kw) order
            total = total + (flat.T @ flat).astype(np.float64)
        else:
            per_channel = p.reshape(p.shape[0], -1, p.shape[3])  # (C, h*w, k)
            total = total + (per_channel.transpose(0, 2, 1) @ per_channel).astype(np.float64)
    return total


def weight_grid(w: np.ndarray, signed: bool, qmax: int = QMAX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row (``w`` is (rows, d)) scale and integer bounds of onnxruntime's per-channel weight quantization: symmetric
    [-qmax, qmax] for signed weights (127; 64 with onnxruntime's reduced range), [0, 255] with a zero point (the range
    including 0) for unsigned ones; bounds are zero-point relative."""
    if signed:
        scale = np.abs(w).max(axis=1) / qmax
        scale[scale == 0] = 1.0
        return scale, np.full(len(w), -qmax), np.full(len(w), qmax)
    lo, hi = np.minimum(w.min(axis=1), 0), np.maximum(w.max(axis=1), 0)
    scale = (hi - lo) / 255.0
    scale[scale == 0] = 1.0
    zero = np.round(-lo / scale)
    return scale, -zero, 255 - zero


def gptq_rows(w: np.ndarray, h: np.ndarray, signed: bool = True, qmax: int = QMAX) -> np.ndarray:
    """``w`` (rows, d) rounded onto its per-row int8 grid, GPTQ style, against ``h``: one ``(d, d)`` for every
    row (a dense Conv) or ``(rows, d, d)`` (a depthwise one).

    Returns the dequantized weights. The weights that set a row's range (its largest magnitude, or its
    minimum and maximum for unsigned weights) are never moved by the others' rounding errors, so the
    scale onnxruntime derives from the result is the one rounded to.
    """
    w = w.astype(np.float64).copy()
    rows, d = w.shape
    h = h.reshape(-1, d, d).astype(np.float64).copy()
    scale, qmin, qmax = weight_grid(w, signed, qmax)
    idx = np.arange(d)
    diag = h[:, idx, idx]
    diag[diag == 0] = 1.0  # an input that is always zero: its weight does not matter
    h[:, idx, idx] = diag + DAMPING * diag.mean(axis=1, keepdims=True)
    # upper Cholesky factor of H^-1: row j says how rounding weight j moves the weights after it
    u = np.linalg.cholesky(np.linalg.inv(h)).transpose(0, 2, 1)
    ends = [np.abs(w).argmax(axis=1)] if signed else [w.argmin(axis=1), w.argmax(axis=1)]
    movable = np.all([idx[None, :] != e[:, None] for e in ends], axis=0)
    for j in range(d):
        q = np.clip(np.round(w[:, j] / scale), qmin, qmax) * scale
        err = (w[:, j] - q) / u[:, j, j]
        w[:, j + 1 :] -= err[:, None] * u[:, j, j + 1 :] * movable[:, j + 1 :]
        w[:, j] = q
    return w


def round_weights(pre: Path, out: Path, calib: np.ndarray, signed: bool = True, skip: list[str] = (),
                  qmax: Callable[[onnx.NodeProto], int] = lambda node: QMAX) -> int:
    """Write ``pre`` with the weights of its Convs (but those named in ``skip``, kept float) GPTQ-rounded onto
    the ``signed`` (s8, within ``qmax(conv)``) or unsigned (u8) int8 grid against their inputs on ``calib`` (at most
    :data:`PHOTOS`); return how many Convs changed."""
    model = onnx.load(str(pre))
    init = {t.name: t for t in model.graph.initializer}
    skip = set(skip)
    convs = [n for n in weighted_convs(model) if n.name not in skip]
    photos = calib[:: max(1, len(calib) // PHOTOS)][:PHOTOS]
    hess: dict[str, np.ndarray] = {}
    for batch in conv_inputs(pre, photos, {n.input[0] for n in convs}):
        for n in convs:
            w = init[n.input[1]].dims
            hess[n.name] = hess.get(n.name, 0) + input_hessian(batch[n.input[0]], n, (w[2], w[3]), _attr(n, "group", 1))
    for n in convs:
        w = numpy_helper.to_array(init[n.input[1]]).astype(np.float32)
        q = gptq_rows(w.reshape(w.shape[0], -1), hess[n.name], signed, qmax(n)).reshape(w.shape)
        init[n.input[1]].CopyFrom(numpy_helper.from_array(q.astype(np.float32), n.input[1]))
    onnx.save(model, str(out))
    log.info("GPTQ-rounded %d Convs on %d photos", len(convs), len(photos))
    return len(convs)
