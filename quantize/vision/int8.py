"""int8 (static QDQ, per-channel weights) and fp16 variants, with the accuracy gate.

from-model -> calibrate (real photos) -> quantize -> evaluate (held-out agreement, labelled
accuracy) -> accept, or try the next recipe; when every recipe fails the gate,
:class:`QualityGateError` says what was tried and what each recipe measured.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge_sdk.errors import QualityGateError
from quantize.vision.export import INPUT_NAME

log = logging.getLogger(__name__)

MAX_TOP1_CHANGE = 0.03

# int8_format of the device profile -> (activation type, weight type). u8s8 runs on VNNI / ARM
# dotprod; u8u8 avoids vpmaddubsw saturation on AVX2 without VNNI; s8s8 is what TensorRT wants.
FORMATS = {
    "u8s8": (QuantType.QUInt8, QuantType.QInt8),
    "u8u8": (QuantType.QUInt8, QuantType.QUInt8),
    "s8s8": (QuantType.QInt8, QuantType.QInt8),
}
METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}


@dataclass(frozen=True)
class Int8Recipe:
    """One way to quantize: calibration method, integer format, and nodes kept in float."""

    method: str = "minmax"
    int8_format: str = "u8s8"
    exclude: str = "none"  # "none" | "stem+head" | "sensitive"

    def to_dict(self) -> dict:
        return asdict(self) | {"quant_format": "QDQ", "per_channel": True}


class _Reader(CalibrationDataReader):
    def __init__(self, inputs: np.ndarray):
        self._it = iter(inputs[i : i + 1] for i in range(len(inputs)))

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {INPUT_NAME: x}


def _session(path: Path, threads: int = 2) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def predict(path: Path, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    """Logits of an ONNX classifier on ``inputs`` (run in batches)."""
    sess = _session(path)
    return np.concatenate([sess.run(None, {INPUT_NAME: inputs[i : i + batch]})[0] for i in range(0, len(inputs), batch)])


def labelled_accuracy(logits: np.ndarray, labels: np.ndarray) -> dict:
    """top-1 / top-5 accuracy and counts."""
    top5 = np.argsort(-logits, axis=1)[:, :5]
    t1 = int((top5[:, 0] == labels).sum())
    t5 = int((top5 == labels[:, None]).any(axis=1).sum())
    n = len(labels)
    return {"top1": round(t1 / n, 4), "top5": round(t5 / n, 4), "top1_correct": t1, "top5_correct": t5, "n": n}


def _float_node_names(model_path: Path, recipe: Int8Recipe, sensitive: list[str]) -> list[str]:
    if recipe.exclude == "none":
        return []
    nodes = [n for n in onnx.load(str(model_path)).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    keep = [nodes[0].name, nodes[-1].name]  # first conv sees raw pixels; the classifier sets the scores
    return keep + (sensitive if recipe.exclude == "sensitive" else [])


def sensitive_nodes(fp32: Path, calib: np.ndarray, count: int = 6) -> list[str]:
    """The depthwise convolutions with the widest activation range relative to their mean (hardest to quantize)."""
    model = onnx.load(str(fp32))
    dw = [n for n in model.graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    if not dw:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        probe = onnx.load(str(fp32))
        for n in dw:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, None))
        onnx.save(probe, f"{tmp}/probe.onnx")
        outs = _session(Path(f"{tmp}/probe.onnx")).run([n.output[0] for n in dw], {INPUT_NAME: calib[:16]})
    ratio = [float(np.abs(o).max() / (np.abs(o).mean() + 1e-6)) for o in outs]
    return [dw[i].name for i in np.argsort(ratio)[::-1][:count]]


def quantize_int8(fp32: Path, out: Path, calib: np.ndarray, recipe: Int8Recipe, exclude: list[str]) -> Path:
    """Static QDQ quantization with per-channel weights, calibrated on ``calib``."""
    act, weight = FORMATS[recipe.int8_format]
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            _Reader(calib),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=act,
            weight_type=weight,
            calibrate_method=METHODS[recipe.method],
            nodes_to_exclude=exclude,
            extra_options={"CalibMovingAverage": recipe.method == "minmax", "CalibPercentile": 99.999, "CalibTensorRangeSymmetric": False},
        )
    return out


def gate(fp32_holdout: np.ndarray, int8_holdout: np.ndarray, fp32_lab: dict, int8_lab: dict) -> tuple[bool, dict]:
    """Apply the budget: <= 3 % held-out top-1 changes and no lost labelled top-1 or top-5 photo."""
    changed = int((fp32_holdout.argmax(1) != int8_holdout.argmax(1)).sum())
    frac = changed / len(fp32_holdout)
    metrics = {
        "holdout_top1_agreement": round(1 - frac, 4),
        "holdout_top1_changed": changed,
        "holdout_n": len(fp32_holdout),
        "labelled": int8_lab,
    }
    ok = frac <= MAX_TOP1_CHANGE and int8_lab["top1_correct"] >= fp32_lab["top1_correct"] and int8_lab["top5_correct"] >= fp32_lab["top5_correct"]
    return ok, metrics


def build_int8(fp32: Path, out: Path, calib: np.ndarray, holdout: np.ndarray, labelled: tuple[np.ndarray, np.ndarray], int8_format: str) -> tuple[Int8Recipe, dict]:
    """Try recipes in order until one passes the gate; write the accepted model to ``out``.

    Raises:
        QualityGateError: No recipe passed; the message lists every recipe and its measurements.
    """
    lab_x, lab_y = labelled
    fp32_hold = predict(fp32, holdout)
    fp32_lab = labelled_accuracy(predict(fp32, lab_x), lab_y)
    sensitive: list[str] | None = None
    tried = []
    recipes = [Int8Recipe(m, int8_format, e) for e in ("none", "stem+head", "sensitive") for m in ("minmax", "percentile", "entropy")]
    for recipe in recipes:
        if recipe.exclude == "sensitive" and sensitive is None:
            sensitive = sensitive_nodes(fp32, calib)
        excluded = _float_node_names(fp32, recipe, sensitive or [])
        with tempfile.TemporaryDirectory() as tmp:
            cand = quantize_int8(fp32, Path(tmp) / "int8.onnx", calib, recipe, excluded)
            ok, metrics = gate(fp32_hold, predict(cand, holdout), fp32_lab, labelled_accuracy(predict(cand, lab_x), lab_y))
            metrics |= {"fp32_labelled": fp32_lab, "nodes_in_float": excluded}
            tried.append((recipe, metrics))
            log.info("int8 %s: agreement %.3f, labelled top1 %s -> %s: %s", recipe, metrics["holdout_top1_agreement"],
                     fp32_lab["top1_correct"], metrics["labelled"]["top1_correct"], "accepted" if ok else "refused")
            if ok:
                shutil.copyfile(cand, out)
                return recipe, metrics
    lines = "; ".join(
        f"{r.method}/{r.int8_format}/exclude={r.exclude}: agreement {m['holdout_top1_agreement']:.3f} "
        f"({m['holdout_top1_changed']}/{m['holdout_n']} changed), labelled top1 {m['labelled']['top1_correct']}/{m['labelled']['n']} "
        f"vs fp32 {m['fp32_labelled']['top1_correct']}, top5 {m['labelled']['top5_correct']} vs {m['fp32_labelled']['top5_correct']}"
        for r, m in tried
    )
    raise QualityGateError(
        f"int8 refused: no recipe kept >= {1 - MAX_TOP1_CHANGE:.0%} held-out top-1 agreement without losing labelled accuracy. Tried: {lines}"
    )


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
        if "Quantize" in n.op_type or n.op_type.startswith("QLinear") or n.op_type.endswith("Integer"):
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts
