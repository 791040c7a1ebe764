"""``ref:torch-eager``: the vision and text benchmarks' own runners with the model call swapped for PyTorch eager,
in a process of its own. It lives in the preparation package because it needs torch, which the runtime (and
``edge_sdk.bench``) never imports; ``edge-sdk bench --reference`` starts it.

    python -m edge_sdk.quantize.torch_eager vision|text --data DIR [--quick]   # prints one JSON result row
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


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


def lite_eager(bundle, threads: int):
    """PyTorch eager EfficientNet-Lite of ``bundle``'s family on ``threads`` threads: ``(predict(image) -> logits,
    set_threads(n))``, fed by the bundle's own preprocessing."""
    import torch

    from edge_sdk.quantize.vision.weights import load_lite
    from edge_sdk.vision.preprocess import PreprocessConfig, preprocess

    pre = PreprocessConfig.from_dict(bundle.preprocessing)
    model, _ = load_lite(bundle.family)
    torch.set_num_threads(threads)

    def predict(img: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(preprocess(img, pre)))[0].numpy()

    return predict, torch.set_num_threads


def vision_runner(data: Path, quick: bool, device):
    from edge_sdk.bench.vision import Runner
    from edge_sdk.bundle import load_bundle

    runner = Runner("ref:onnxruntime-fp32", device, data, quick)
    runner.predict, _ = lite_eager(load_bundle("efficientnet-lite0"), device.intra_op_threads)
    runner.providers = ("torch-eager-cpu",)
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
