"""A small DeepSpeech-style CTC model (2-D CNN over time x mel + GRU/LSTM + linear), built in torch
from a config, exported to ONNX and written as a ``ctc`` speech bundle.

No pretrained CTC weights ship in the packages this project may use, so the model is built with seeded
random weights (or loaded from a ``state_dict`` file with ``torch.load(weights_only=True)``). The
architecture is what the runtime's :mod:`edge_sdk.speech.ctc` streams natively: convolutions causal in
time (no time padding; the caller prepends ``context_frames`` frames) and a unidirectional RNN whose state
is an input and an output of the graph.

    python -m edge_sdk.quantize.speech.ctc --out DIR [--rnn lstm] [--weights state_dict.pt]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from edge_sdk.quantize.bundle_writer import BundleWriter

DEFAULT_VOCAB = ("<blank>", " ", "'", *"abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class CTCConfig:
    """Architecture of :class:`DeepSpeechCTC`: a handful of plain values."""

    n_mels: int = 80
    conv_channels: tuple[int, ...] = (32, 32)
    conv_time_kernel: tuple[int, ...] = (5, 3)
    conv_freq_kernel: tuple[int, ...] = (11, 7)
    conv_freq_stride: tuple[int, ...] = (2, 2)
    rnn_type: str = "gru"
    rnn_hidden: int = 192
    rnn_layers: int = 2
    vocab: tuple[str, ...] = DEFAULT_VOCAB

    def __post_init__(self) -> None:
        lengths = {len(self.conv_channels), len(self.conv_time_kernel), len(self.conv_freq_kernel), len(self.conv_freq_stride)}
        if len(lengths) != 1:
            raise ValueError(f"conv_channels, conv_time_kernel, conv_freq_kernel, conv_freq_stride must have one length, got {lengths}")
        if self.rnn_type not in ("gru", "lstm"):
            raise ValueError(f"rnn_type {self.rnn_type!r} must be 'gru' or 'lstm'")
        if len(self.vocab) < 2 or self.vocab[0] != "<blank>":
            raise ValueError("vocab must start with '<blank>' (the CTC blank, index 0)")

    @property
    def context_frames(self) -> int:
        """Left-context feature frames the causal convolutions consume per call."""
        return sum(k - 1 for k in self.conv_time_kernel)

    def freq_bins_out(self) -> int:
        f = self.n_mels
        for k, s in zip(self.conv_freq_kernel, self.conv_freq_stride, strict=True):
            f = (f + 2 * (k // 2) - k) // s + 1
        return f


class DeepSpeechCTC(nn.Module):
    """CNN (time x frequency) -> unidirectional RNN -> linear -> log-softmax over the vocabulary.

    ``forward(features (B, context + T, n_mels), h0 [, c0]) -> (log_probs (B, T, V), hn [, cn])``.
    """

    def __init__(self, config: CTCConfig) -> None:
        super().__init__()
        self.config = config
        layers, cin = [], 1
        for c, kt, kf, sf in zip(config.conv_channels, config.conv_time_kernel, config.conv_freq_kernel, config.conv_freq_stride, strict=True):
            layers += [nn.Conv2d(cin, c, (kt, kf), stride=(1, sf), padding=(0, kf // 2)), nn.BatchNorm2d(c), nn.Hardtanh(0, 20)]
            cin = c
        self.conv = nn.Sequential(*layers)
        rnn = nn.GRU if config.rnn_type == "gru" else nn.LSTM
        self.rnn = rnn(cin * config.freq_bins_out(), config.rnn_hidden, config.rnn_layers, batch_first=True)
        self.fc = nn.Linear(config.rnn_hidden, len(config.vocab))

    def forward(self, features: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor | None = None):
        x = self.conv(features.unsqueeze(1))  # (B, C, T, F)
        b, c, t, f = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, t, c * f)
        if self.config.rnn_type == "lstm":
            y, (hn, cn) = self.rnn(x, (h0, c0))
            return torch.log_softmax(self.fc(y), dim=-1), hn, cn
        y, hn = self.rnn(x, h0)
        return torch.log_softmax(self.fc(y), dim=-1), hn


def build_model(config: CTCConfig, seed: int = 0, weights: Path | None = None) -> DeepSpeechCTC:
    """The model in eval mode: seeded random weights, or a state dict loaded without unpickling code."""
    torch.manual_seed(seed)
    model = DeepSpeechCTC(config)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def initial_state(config: CTCConfig, batch: int = 1) -> tuple[torch.Tensor, ...]:
    h = torch.zeros(config.rnn_layers, batch, config.rnn_hidden)
    return (h, h.clone()) if config.rnn_type == "lstm" else (h,)


def export_onnx(model: DeepSpeechCTC, path: Path, opset: int = 17) -> Path:
    """Export with dynamic time; inputs ``features``, ``h0`` (``c0``); outputs ``log_probs``, ``hn`` (``cn``)."""
    cfg = model.config
    lstm = cfg.rnn_type == "lstm"
    feats = torch.randn(1, cfg.context_frames + 20, cfg.n_mels)
    state = initial_state(cfg)
    inputs = ["features", "h0"] + (["c0"] if lstm else [])
    outputs = ["log_probs", "hn"] + (["cn"] if lstm else [])
    axes = {"features": {1: "frames"}, "log_probs": {1: "out_frames"}}
    with torch.no_grad():
        torch.onnx.export(model, (feats, *state), str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    return path


def silero_vad_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("silero-vad is not installed: pip install 'edge-sdk-ondevice[quantize]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


def write_bundle(root: Path, config: CTCConfig = CTCConfig(), seed: int = 0, weights: Path | None = None,
                 name: str = "deepspeech-ctc-tiny") -> Path:
    """Build, export and write a ``ctc`` speech bundle into ``root``; returns the folder."""
    root = Path(root)
    model = build_model(config, seed, weights)
    source = {"kind": "path", "path": str(weights)} if weights else {"kind": "random-init", "seed": seed, "note": "no pretrained CTC weights at hand"}
    preprocessing = {
        "sample_rate": 16000, "n_mels": config.n_mels, "n_fft": 400, "hop_length": 160, "features": "log-mel, HTK, not centred",
        "context_frames": config.context_frames, "rnn_type": config.rnn_type, "rnn_layers": config.rnn_layers,
        "rnn_hidden": config.rnn_hidden, "blank": 0,
    }
    writer = BundleWriter(root, name=name, task="speech", family="ctc", source=source, preprocessing=preprocessing)
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.json"
        vocab.write_text(json.dumps(list(config.vocab)))
        writer.add_asset("vocab", vocab)
        writer.add_asset("vad", silero_vad_path())
        onnx_path = export_onnx(model, Path(tmp) / "model.onnx")
        recipe = {"config": asdict(config), "seed": seed, "weights": str(weights) if weights else None, "opset": 17}
        writer.add_variant("fp32", {"model": onnx_path}, metrics={}, recipe=recipe)
        return writer.write(recipe)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build a DeepSpeech-style CTC speech bundle.")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--rnn", choices=["gru", "lstm"], default="gru")
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", type=Path, help="a state_dict saved with torch.save (loaded with weights_only=True)")
    args = ap.parse_args(argv)
    config = CTCConfig(rnn_type=args.rnn, rnn_hidden=args.hidden, rnn_layers=args.layers)
    print(f"bundle ready: {write_bundle(args.out, config, args.seed, args.weights)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
