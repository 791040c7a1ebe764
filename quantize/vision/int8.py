"""int8 (static QDQ, per-channel weights) and fp16 variants, with the accuracy gate.

from-model -> calibrate (real photos) -> quantize -> evaluate (held-out agreement, labelled
accuracy) -> accept, or try the next recipe; when every recipe fails the gate,
:class:`QualityGateError` says what was tried and what each recipe measured.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge_sdk.errors import QualityGateError
from edge_sdk.quantize.calibration import CalibrationReader
from edge_sdk.quantize.vision.export import INPUT_NAME
from edge_sdk.quantize.vision.gptq import QMAX, round_weights, weight_grid
from edge_sdk.quantize.vision.probe import conv_inputs, session, weighted_convs

log = logging.getLogger(__name__)

# The gate (see gate()): on at least MIN_GATE_IMAGES held-out photos, the 95 % lower bound of top-1 agreement with
# fp32 is at least MIN_AGREEMENT, and top-1 accuracy loses at most MAX_TOP1_LOSS: the label-free estimate (fp32's own
# probabilities as soft labels) with its upper bound, and on the labelled photos not significantly more.
MIN_GATE_IMAGES = 1000
MIN_AGREEMENT = 0.92
MAX_TOP1_LOSS = 0.005
Z95 = 1.959964
# The figures of gate() that reports and bundle.json carry per recipe and per kernel.
GATE_FIGURES = ("holdout_n", "holdout_top1_agreement", "holdout_top1_agreement_ci95", "holdout_top1_changed", "top1_change_estimate",
                "top1_change_estimate_ci95", "labelled_top1_change", "labelled_top1_change_ci95")
# Writes a float model fine-tuned for int8 to the given path; returns it and a report (edge_sdk.quantize.vision.qat.tuner).
Tune = Callable[[Path], tuple[Path, dict]]

# int8 format -> (activation type, weight type). u8s8 runs exactly on VNNI / ARM dotprod; u8u8 avoids vpmaddubsw
# saturation on AVX2 without VNNI; s8s8 is what TensorRT wants. u8s7 is u8s8 with the weights of every matrix
# product (dense Conv, Gemm) within [-64, 64] (onnxruntime's reduced range): AVX2 without VNNI multiplies u8 x s8
# with vpmaddubsw, which adds pairs of products in int16 with saturation, and 2 x 255 x 64 = 32,640 fits, so every
# kernel (AVX2, AVX-512, VNNI, AMX, ARM dot product) computes the same integers and one file runs as built
# everywhere. Depthwise convs (MLAS's own kernel widens before it multiplies) keep [-127, 127].
PORTABLE_FORMAT = "u8s7"
DENSE_QMAX = {PORTABLE_FORMAT: 64}
FORMATS = {
    PORTABLE_FORMAT: (QuantType.QUInt8, QuantType.QInt8),
    "u8s8": (QuantType.QUInt8, QuantType.QInt8),
    "u8u8": (QuantType.QUInt8, QuantType.QUInt8),
    "s8s8": (QuantType.QInt8, QuantType.QInt8),
}
DEFAULT_PERCENTILE = 99.999
METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}


@dataclass(frozen=True)
class Int8Recipe:
    """One way to quantize: calibration method, integer format, and nodes kept in float."""

    method: str = "minmax"
    int8_format: str = "u8s8"
    exclude: str = "none"  # nodes kept in float: see valid_exclusion
    bias_correction: bool = False  # fold the mean int8 weight-rounding error of each Conv into its bias
    percentile: float = DEFAULT_PERCENTILE  # the activation range kept by the ``percentile`` method
    gptq: bool = False  # round Conv weights to keep each layer's outputs close (edge_sdk.quantize.vision.gptq), not each weight
    qat: bool = False  # quantize weights fine-tuned for int8 by edge_sdk.quantize.vision.qat (needs the torch model)

    def __post_init__(self) -> None:
        if sum((self.gptq, self.bias_correction, self.qat)) > 1:
            raise ValueError("bias correction, gptq rounding and qat each adjust the weights for int8; use one at a time")

    def to_dict(self) -> dict:
        return asdict(self) | {"quant_format": "QDQ", "per_channel": True}

    def label(self) -> str:
        custom = self.method == "percentile" and self.percentile != DEFAULT_PERCENTILE
        method = f"percentile-{self.percentile:g}" if custom else self.method
        weights = "/bias-corrected" if self.bias_correction else "/gptq" if self.gptq else "/qat" if self.qat else ""
        return f"{method}/{self.int8_format}/exclude={self.exclude}{weights}"


def predict(path: Path, inputs: np.ndarray, batch: int = 16, float_weights_at_load: bool = False) -> np.ndarray:
    """Logits of an ONNX classifier on ``inputs`` (run in batches; see :func:`~edge_sdk.quantize.vision.probe.session`)."""
    return predict_each(path, (inputs,), batch, float_weights_at_load)[0]


def predict_each(path: Path, input_sets: tuple[np.ndarray, ...], batch: int = 16,
                 float_weights_at_load: bool = False) -> list[np.ndarray]:
    """:func:`predict` on each of ``input_sets``, from one session (the model is loaded and optimized once)."""
    sess = session(path, float_weights_at_load=float_weights_at_load)
    return [np.concatenate([sess.run(None, {INPUT_NAME: x[i : i + batch]})[0] for i in range(0, len(x), batch)]) for x in input_sets]


def labelled_accuracy(logits: np.ndarray, labels: np.ndarray) -> dict:
    """top-1 / top-5 accuracy and counts."""
    top5 = np.argsort(-logits, axis=1)[:, :5]
    t1 = int((top5[:, 0] == labels).sum())
    t5 = int((top5 == labels[:, None]).any(axis=1).sum())
    n = len(labels)
    return {"top1": round(t1 / max(n, 1), 4), "top5": round(t5 / max(n, 1), 4), "top1_correct": t1, "top5_correct": t5, "n": n}


EXCLUSION_PARTS = ("stem", "front", "head", "tail", "depthwise")  # "none", or parts joined by "+"
HISTOGRAM_CALIBRATION_PHOTOS = 64  # percentile/entropy keep every activation in memory: bound it


def valid_exclusion(exclude: str) -> bool:
    """Whether ``exclude`` is ``"none"`` or :data:`EXCLUSION_PARTS` joined by ``+`` (``"front+depthwise"``)."""
    return exclude == "none" or all(part in EXCLUSION_PARTS for part in exclude.split("+"))


def float_nodes(model: onnx.ModelProto, exclude: str) -> list[str]:
    """Names of the nodes kept in float for an exclusion (see :func:`valid_exclusion`).

    ``stem``: the first conv; ``front``: the first two; ``head``: the last two; ``tail``: the last quarter;
    ``depthwise``: every grouped conv. A conv kept in float keeps its ReLU6 (Clip) in float too: quantizing
    the unclipped conv output over its full range and clipping afterwards would waste most of the 8 bits.
    """
    if not valid_exclusion(exclude):
        raise ValueError(f"exclusion {exclude!r}: expected 'none' or parts of {EXCLUSION_PARTS} joined by '+'")
    if exclude == "none":
        return []
    nodes = list(model.graph.node)
    convs = [n for n in nodes if n.op_type in ("Conv", "Gemm", "MatMul")]
    parts = {
        "stem": convs[:1],  # reads the float image: keeping it float needs no re-quantization at load
        "front": convs[:2],  # the stem and the conv that reads its (then float) output
        "head": convs[-2:],
        "tail": convs[-max(2, len(convs) // 4) :],
        "depthwise": [n for n in convs if is_depthwise(n)],
    }
    picked = [n for part in exclude.split("+") for n in parts[part]]
    names = {n.name for n in picked}
    outputs = {n.output[0] for n in picked}
    acts = {n.name for n in nodes if n.op_type in ("Clip", "Relu") and n.input[0] in outputs}
    return sorted(names | acts)


BIAS_CORRECTION_PHOTOS = 256  # every calibration photo, up to this many


def signed_weights(int8_format: str) -> bool:
    """Whether ``int8_format`` quantizes weights to signed int8 (else unsigned, with a zero point)."""
    return FORMATS[int8_format][1] == QuantType.QInt8


def is_depthwise(node: onnx.NodeProto) -> bool:
    return any(a.name == "group" and a.i > 1 for a in node.attribute)


def weight_qmax(int8_format: str, node: onnx.NodeProto) -> int:
    """The largest magnitude of ``node``'s signed integer weights in ``int8_format`` (see :data:`DENSE_QMAX`)."""
    return QMAX if is_depthwise(node) else DENSE_QMAX.get(int8_format, QMAX)


def dense_weights(model: onnx.ModelProto, exclude: Collection[str] = ()) -> list[str]:
    """The weight initializers of the matrix products (dense Convs, Gemm, MatMul) quantized with the model."""
    init = {t.name for t in model.graph.initializer}
    return [n.input[1] for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1
            and n.input[1] in init and n.name not in exclude and not is_depthwise(n)]


def largest_dense_weight(path: Path) -> int:
    """The largest magnitude of the int8 weights that feed a dense Conv or Gemm in a QDQ model (<= 64 is u8s7)."""
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {t.name: t for t in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    largest = 0
    for n in model.graph.node:
        dq = producers.get(n.input[1]) if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1 else None
        if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in init and not is_depthwise(n):
            largest = max(largest, int(np.abs(numpy_helper.to_array(init[dq.input[0]]).astype(np.int32)).max()))
    return largest


def _fake_quant_weight(w: np.ndarray, signed: bool, qmax: int = QMAX) -> np.ndarray:
    """``w`` after onnxruntime's per-channel (axis 0) weight quantization and back (:func:`~edge_sdk.quantize.vision.gptq.weight_grid`)."""
    rows = w.reshape(len(w), -1)
    scale, qmin, qmax = weight_grid(rows, signed, qmax)
    return (np.clip(np.round(rows / scale[:, None]), qmin[:, None], qmax[:, None]) * scale[:, None]).reshape(w.shape).astype(np.float32)


def correct_biases(pre: Path, out: Path, calib: np.ndarray, int8_format: str, skip: Collection[str] = ()) -> int:
    """Empirical bias correction (Nagel et al. 2019): each Conv's bias absorbs the mean error that
    int8 rounding of its weights adds to its outputs, ``(W_q - W) . E[x]``, with ``E[x]`` the
    per-channel mean of the Conv's fp32 input over the calibration photos (at most ``BIAS_CORRECTION_PHOTOS``).
    Convs named in ``skip`` stay float, so their biases are left alone: correcting them would add an
    error their weights never make. Writes the corrected float model to ``out``; returns how many biases changed.

    Why, on EfficientNet-Lite0: after BatchNorm folding, some 3x3 filters of the first depthwise
    conv are large edge detectors whose taps cancel (|w| up to 17.7, sum ~0), so rounding the taps
    shifts their outputs by a roughly constant amount. Per-channel int8 weights alone (float
    activations) changed 7/78 held-out top-1, 6 of them from that one conv; 2/78 with the correction.
    """
    from onnx import numpy_helper

    model = onnx.load(str(pre))
    init = {t.name: t for t in model.graph.initializer}
    skip = set(skip)
    convs = [n for n in weighted_convs(model) if len(n.input) > 2 and n.input[2] in init and n.name not in skip]
    photos = calib[:: max(1, len(calib) // BIAS_CORRECTION_PHOTOS)][:BIAS_CORRECTION_PHOTOS]
    sums: dict[str, np.ndarray] = {}
    for outs in conv_inputs(pre, photos, {n.input[0] for n in convs}):
        for t, x in outs.items():
            sums[t] = sums.get(t, 0) + x.mean(axis=(2, 3)).sum(axis=0)
    signed = signed_weights(int8_format)
    changed = 0
    for n in convs:
        w = numpy_helper.to_array(init[n.input[1]]).astype(np.float32)
        b = numpy_helper.to_array(init[n.input[2]]).astype(np.float32)
        mean = sums[n.input[0]] / len(photos)
        err = _fake_quant_weight(w, signed, weight_qmax(int8_format, n)) - w  # (O, I/group, kh, kw)
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        per_in = err.sum(axis=(2, 3))  # (O, I/group)
        mean_g = mean.reshape(group, -1)  # (group, I/group)
        shift = (per_in.reshape(group, -1, per_in.shape[1]) * mean_g[:, None, :]).sum(axis=2).reshape(-1)
        init[n.input[2]].CopyFrom(numpy_helper.from_array((b - shift).astype(np.float32), n.input[2]))
        changed += 1
    onnx.save(model, str(out))
    return changed


def fold_pads_into_convs(model: onnx.ModelProto) -> int:
    """Fold zero ``Pad`` nodes (TF "same" padding) into the ``pads`` of the Conv they feed; returns how many.

    onnxruntime leaves them in place, and a Pad between two quantized ops costs accuracy in
    the fused int8 kernels; Conv's own asymmetric pads do the same job.
    """
    from onnx import numpy_helper

    init = {t.name: t for t in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    folded = 0
    for pad in [n for n in model.graph.node if n.op_type == "Pad"]:
        mode = next((a.s.decode() for a in pad.attribute if a.name == "mode"), "constant")
        users = consumers.get(pad.output[0], [])
        if mode != "constant" or len(users) != 1 or users[0].op_type != "Conv" or pad.input[1] not in init:
            continue
        if len(pad.input) > 2 and pad.input[2] and (pad.input[2] not in init or numpy_helper.to_array(init[pad.input[2]]).any()):
            continue
        pads = numpy_helper.to_array(init[pad.input[1]]).tolist()  # [n0, c0, t, l, n1, c1, b, r]
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)):
            continue
        conv = users[0]
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        old = list(attr.ints) if attr is not None else [0, 0, 0, 0]
        new = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]]
        if attr is not None:
            conv.attribute.remove(attr)
        conv.attribute.append(onnx.helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        model.graph.node.remove(pad)
        folded += 1
    return folded


def optimize_for_quantization(fp32: Path, out: Path) -> Path:
    """onnxruntime's recommended pre-processing (BatchNorm folded, shapes inferred), then Pads folded into Convs."""
    quant_pre_process(str(fp32), str(out), skip_symbolic_shape=True)
    model = onnx.load(str(out))
    if fold_pads_into_convs(model):
        onnx.save(model, str(out))
    return out


def quantize_int8(pre: Path, out: Path, calib: np.ndarray, recipe: Int8Recipe, exclude: list[str]) -> Path:
    """Static QDQ quantization of the pre-processed model ``pre``, per-channel weights, calibrated on ``calib``.

    With ``recipe.bias_correction``, ``pre`` should already be the output of :func:`correct_biases`.
    """
    act, weight = FORMATS[recipe.int8_format]
    if recipe.method != "minmax":
        calib = calib[:: max(1, len(calib) // HISTOGRAM_CALIBRATION_PHOTOS)]
    reduced = dense_weights(onnx.load(str(pre)), exclude) if recipe.int8_format in DENSE_QMAX else []
    quantize_static(
        str(pre),
        str(out),
        CalibrationReader(calib, INPUT_NAME),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=act,
        weight_type=weight,
        calibrate_method=METHODS[recipe.method],
        nodes_to_exclude=exclude,
        extra_options={"CalibPercentile": recipe.percentile,
                       "TensorQuantOverrides": {name: [{"axis": 0, "reduce_range": True}] for name in reduced}},
    )
    return out


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n`` (95 % by default)."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, z * z
    centre, half = (p + z2 / (2 * n)) / (1 + z2 / n), z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return float(centre - half), float(centre + half)


def mean_interval(x: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """Mean of ``x`` and its normal-approximation interval (95 % by default)."""
    mean = float(x.mean()) if len(x) else 0.0
    half = z * float(x.std(ddof=1)) / np.sqrt(len(x)) if len(x) > 1 else 1.0
    return mean, mean - half, mean + half


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _r(*values: float) -> list[float]:
    return [round(float(v), 4) for v in values]


def gate(fp32_holdout: np.ndarray, int8_holdout: np.ndarray, fp32_lab: np.ndarray, int8_lab: np.ndarray,
         lab_y: np.ndarray) -> tuple[bool, dict]:
    """Decide on held-out logits (``(n, classes)``, fp32 and int8) and labelled ones (with their classes ``lab_y``).

    Accepted when there are at least :data:`MIN_GATE_IMAGES` held-out photos, the 95 % Wilson lower bound of
    top-1 agreement is at least :data:`MIN_AGREEMENT`, the label-free estimate of the top-1 change (the
    fp32 probability of int8's top-1 minus that of fp32's, per photo: exact when fp32 is calibrated) has a 95 %
    lower bound above ``-MAX_TOP1_LOSS``, and on the labelled photos the paired top-1 change is not
    significantly below ``-MAX_TOP1_LOSS`` (its upper bound is above it).
    """
    n = len(fp32_holdout)
    f1, i1 = fp32_holdout.argmax(1), int8_holdout.argmax(1)
    agree = int((f1 == i1).sum())
    agree_ci = wilson_interval(agree, n)
    p = _softmax(fp32_holdout.astype(np.float64))
    est, est_lo, est_hi = mean_interval(p[np.arange(n), i1] - p[np.arange(n), f1])
    fp32_acc, int8_acc = labelled_accuracy(fp32_lab, lab_y), labelled_accuracy(int8_lab, lab_y)
    lab_change, lab_lo, lab_hi = mean_interval((int8_lab.argmax(1) == lab_y).astype(float) - (fp32_lab.argmax(1) == lab_y))
    metrics = {
        "holdout_top1_agreement": round(agree / n, 4) if n else 0.0,
        "holdout_top1_agreement_ci95": _r(*agree_ci),
        "holdout_top1_changed": n - agree,
        "holdout_n": n,
        "top1_change_estimate": round(est, 4),
        "top1_change_estimate_ci95": _r(est_lo, est_hi),
        "labelled": int8_acc | {"top1_ci95": _r(*wilson_interval(int8_acc["top1_correct"], int8_acc["n"]))},
        "fp32_labelled": fp32_acc | {"top1_ci95": _r(*wilson_interval(fp32_acc["top1_correct"], fp32_acc["n"]))},
        "labelled_top1_change": round(lab_change, 4),
        "labelled_top1_change_ci95": _r(lab_lo, lab_hi),
        "budget": {"min_images": MIN_GATE_IMAGES, "min_agreement_lower_bound": MIN_AGREEMENT, "max_top1_loss": MAX_TOP1_LOSS},
    }
    ok = n >= MIN_GATE_IMAGES and agree_ci[0] >= MIN_AGREEMENT and est_lo >= -MAX_TOP1_LOSS and lab_hi >= -MAX_TOP1_LOSS
    return ok, metrics


# Int8Recipe fields but the format, cheapest first. A float Conv *between* QDQ nodes gets its
# weights re-quantized per-tensor when onnxruntime loads the model (the WeightBiasQuantization
# transformer, on at every level above ORT_DISABLE_ALL), so "depthwise"/"tail" exclusions lose
# accuracy on EfficientNet-Lite ("depthwise+tail" 0.744); the stem conv reads the float image, so
# keeping it float is left alone. Measured on EfficientNet-Lite0 (78 held-out photos, u8s8, ORT 1.32,
# ORT_ENABLE_ALL): minmax 0.923, percentile 0.872, entropy 0.897; bias-corrected percentile 0.962
# (3 changed), minmax 0.936; bias-corrected percentile with the stem in float 0.987 (1 changed, logit RMSE 0.089,
# labelled top-1 55/77 vs fp32 53/77), which the gate (<= 2 of 78 changed) accepts. Bias correction leaves the convs
# kept in float alone: correcting the float stem's bias as well had changed 2 or 3 of 78 (near-ties, top-1 margin
# 0.09-0.31 logits), and the gate refused int8 on some builds.
# "front" keeps the first depthwise conv (the edge detectors of correct_biases) in float too; it reads the float
# stem's output, so onnxruntime leaves its weights alone, and it costs no measurable speed (2.56 vs 2.64 ms). It
# lowers the held-out logit RMSE on Lite0 (0.074 against 0.089; 3 of 78 changed) and on the distilled Lite0 student
# (0.060 against 0.072), whose int8 it takes from 3 changed to 2 (still refused: it loses a labelled top-5 photo).
# Inner convs kept float as written (the sweep's --float-weights-at-load turns WeightBiasQuantization off) do not
# pay either: "front+tail" lowers the logit RMSE by 0.008 (0.066 against 0.074 on Lite0, 0.054 against 0.060 on the
# distilled student) and still changes 3 near-tie photos of 78, so the runtime keeps onnxruntime's default.
# GPTQ-rounded weights (edge_sdk.quantize.vision.gptq) do no better than bias correction once activations are int8 too
# (percentile, stem in float: held-out logit RMSE 0.104 against 0.090, 3 of 78 changed either way), so the
# ladder does not try them; the sweep (edge_sdk.quantize.vision.int8_sweep) can.
# With the 1,033-photo gate and the portable u8s7 format (dense weights within [-64, 64]; EfficientNet-Lite0, 78
# calibration photos, AMD EPYC, ORT 1.32; benchmarks/experiments/vision-int8-portable/): percentile, stem in float,
# bias-corrected agrees on 0.949 [0.933, 0.961] (estimated top-1 change -0.23 [-0.39, -0.07] points); front 0.947,
# minmax with the stem in float 0.945. The same recipe in u8s8 agrees on 0.962 of the 716 photos measured first against
# u8s7's 0.944, but computes other numbers on AVX2 without VNNI. The ladder starts with the recipe that passes.
LADDER: tuple[dict, ...] = (
    {"method": "percentile", "exclude": "stem", "bias_correction": True},
    {"method": "minmax", "exclude": "stem", "bias_correction": True},
    {"method": "percentile", "exclude": "front", "bias_correction": True},
    {"method": "percentile", "exclude": "none", "bias_correction": True},
    {"method": "minmax", "exclude": "none"},
)

# Tried after the ladder only when asked (``edge-sdk prepare vision --qat``): weights fine-tuned for int8
# (edge_sdk.quantize.vision.qat, 450 steps, ~12 min on 2 cores), then the same percentile recipe with the stem in float.
# Measured on EfficientNet-Lite0 (int8_sweep ... percentile,stem,qat): 3 of 78 held-out photos changed, logit RMSE
# 0.094 (bias correction, before it left the float stem alone: 3, 0.090), labelled top-1 53/77 as fp32 (2 changed
# with another order of the same batches); minmax 6 changed, nothing in float 4. On the distilled Lite0 student it
# changes 6 (bias correction 3): a help at the margin, not a cure.
QAT_RUNG: dict = {"method": "percentile", "exclude": "stem", "qat": True}


@dataclass(frozen=True)
class Int8Outcome:
    """What the gate decided: the accepted recipe, or the best refused one and why."""

    accepted: bool
    recipe: Int8Recipe
    metrics: dict
    tried: tuple[tuple[Int8Recipe, dict], ...]

    def refusal(self) -> str:
        lines = "; ".join(f"{r.label()}: {summary(m)}" for r, m in self.tried)
        return (f"int8 refused: no recipe kept, on >= {MIN_GATE_IMAGES} held-out photos, a 95 % lower bound of top-1 agreement "
                f">= {MIN_AGREEMENT:.0%} and an estimated top-1 loss <= {MAX_TOP1_LOSS:.1%} (label-free and on the labelled photos). "
                f"Tried: {lines}. Not in the ladder: keeping inner nodes in float, which onnxruntime undoes at "
                f"load (WeightBiasQuantization re-quantizes their weights per-tensor) and which helped little when measured "
                f"as float (see LADDER in quantize/vision/int8.py)")


def summary(m: dict) -> str:
    """One line of a recipe's gate metrics."""
    lo, hi = m["holdout_top1_agreement_ci95"]
    elo, ehi = m["top1_change_estimate_ci95"]
    llo, lhi = m["labelled_top1_change_ci95"]
    return (f"agreement {m['holdout_top1_agreement']:.3f} [{lo:.3f}, {hi:.3f}] ({m['holdout_top1_changed']}/{m['holdout_n']} changed), "
            f"estimated top-1 change {100 * m['top1_change_estimate']:+.2f} [{100 * elo:+.2f}, {100 * ehi:+.2f}] points, labelled top-1 "
            f"{m['labelled']['top1_correct']}/{m['labelled']['n']} vs fp32 {m['fp32_labelled']['top1_correct']} "
            f"(change [{100 * llo:+.2f}, {100 * lhi:+.2f}]): {m['gate']}")


def measure_recipes(fp32: Path, workdir: Path, calib: np.ndarray, holdout: np.ndarray, labelled: tuple[np.ndarray, np.ndarray],
                    int8_format: str, ladder: tuple[dict, ...], tune: Tune | None = None,
                    float_weights_at_load: bool = False) -> Iterator[tuple[Int8Recipe, dict, Path]]:
    """Quantize ``fp32`` with each recipe of ``ladder`` (:class:`Int8Recipe` fields but the format) in turn and
    yield ``(recipe, gate metrics, candidate)``.

    The fp32 predictions, the pre-processed model, the bias-corrected and the GPTQ-rounded ones (one per
    exclusion) and the fine-tuned one (``tune``, for ``qat`` recipes; the gate still compares with ``fp32``)
    are made once, in ``workdir``, which also holds the candidates; stop iterating to skip the remaining recipes.
    ``float_weights_at_load`` measures the candidates with onnxruntime's weight re-quantization off, so inner
    nodes kept in float stay float (a research option of the sweep: the runtime loads with it on).
    """
    lab_x, lab_y = labelled
    fp32_hold, fp32_lab_logits = predict_each(fp32, (holdout, lab_x))
    pre = optimize_for_quantization(fp32, Path(workdir) / "pre.onnx")
    pre_model = onnx.load(str(pre))
    signed = signed_weights(int8_format)
    tuning: dict = {}  # the fine-tuning report, once a qat recipe has made the tuned model
    for i, entry in enumerate(ladder):
        recipe = Int8Recipe(int8_format=int8_format, **entry)
        excluded = float_nodes(pre_model, recipe.exclude)
        src = pre
        if recipe.bias_correction:  # each float model with adjusted weights is made once
            src = Path(workdir) / f"pre-bias-corrected-{recipe.exclude}.onnx"
            if not src.is_file():
                correct_biases(pre, src, calib, int8_format, excluded)
        if recipe.gptq:
            src = Path(workdir) / f"pre-gptq-{recipe.exclude}.onnx"
            if not src.is_file():
                round_weights(pre, src, calib, signed, excluded, lambda node: weight_qmax(int8_format, node))
        if recipe.qat:
            if tune is None:
                raise ValueError(f"{recipe.label()} fine-tunes the torch model: give measure_recipes a tune function")
            src = Path(workdir) / "pre-qat.onnx"
            if not src.is_file():
                tuned, tuning = tune(Path(workdir) / "qat.onnx")
                optimize_for_quantization(tuned, src)
        cand = quantize_int8(src, Path(workdir) / f"int8-{i}.onnx", calib, recipe, excluded)
        int8_hold, int8_lab_logits = predict_each(cand, (holdout, lab_x), float_weights_at_load=float_weights_at_load)
        ok, metrics = gate(fp32_hold, int8_hold, fp32_lab_logits, int8_lab_logits, lab_y)
        metrics |= {"holdout_logit_rmse": round(float(np.sqrt(((int8_hold - fp32_hold) ** 2).mean())), 4), "nodes_in_float": len(excluded),
                    "gate": "accepted" if ok else "refused"} | ({"qat": tuning} if recipe.qat else {})
        log.warning("int8 %s: %s", recipe.label(), summary(metrics))
        yield recipe, metrics, cand


def search_int8(fp32: Path, out: Path, calib: np.ndarray, holdout: np.ndarray, labelled: tuple[np.ndarray, np.ndarray],
                int8_format: str, ladder: tuple[dict, ...] = LADDER, tune: Tune | None = None) -> Int8Outcome:
    """Try recipes in ``ladder`` order until one passes the gate; write it (or the best refused one) to ``out``.

    :data:`LADDER` starts with the recipe that passes on Lite0 and goes on to the others measured. Use
    :func:`require_accepted` to turn a refusal into an error.
    """
    tried: list[tuple[Int8Recipe, dict]] = []
    best: tuple[float, Int8Recipe, dict] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for recipe, metrics, cand in measure_recipes(fp32, Path(tmp), calib, holdout, labelled, int8_format, ladder, tune):
            tried.append((recipe, metrics))
            if metrics["gate"] == "accepted":
                shutil.copyfile(cand, out)
                return Int8Outcome(True, recipe, metrics | {"recipes_tried": len(tried)}, tuple(tried))
            if best is None or metrics["holdout_top1_agreement"] > best[0]:
                best = (metrics["holdout_top1_agreement"], recipe, metrics)
                shutil.copyfile(cand, out)
    if best is None:
        raise ValueError("the int8 ladder is empty; give at least one entry")
    return Int8Outcome(False, best[1], best[2] | {"recipes_tried": len(tried)}, tuple(tried))


def require_accepted(outcome: Int8Outcome) -> Int8Outcome:
    """Raise :class:`QualityGateError` (what was tried, what each measured) unless the gate accepted."""
    if not outcome.accepted:
        raise QualityGateError(outcome.refusal())
    return outcome


def build_fp16(fp32: Path, out: Path) -> Path:
    """fp16 weights and activations (inputs/outputs stay float32), for CUDA/TensorRT profiles."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    onnx.save(model, str(out))
    return out


def integer_op_counts(path: Path) -> dict[str, int]:
    """Counts of integer ops in a graph (QuantizeLinear, DequantizeLinear, QLinear*, ConvInteger...)."""
    counts: dict[str, int] = {}
    for n in onnx.load(str(path)).graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.op_type.startswith("QLinear") or n.op_type.endswith("Integer"):
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts
