"""Quantization-aware fine-tuning of EfficientNet-Lite for onnxruntime's static int8 (QDQ) graph.

Post-training int8 leaves Lite0 3 held-out photos of 78 away from its float answer whatever the
calibration or rounding (:mod:`edge_sdk.quantize.vision.int8`). Here the float weights learn to absorb the
rounding instead: the network runs as onnxruntime's QDQ graph will, every Conv with its BatchNorm
folded in and its weights on onnxruntime's per-channel int8 grid (:func:`~edge_sdk.quantize.vision.gptq.weight_grid`),
and every activation the graph quantizes (each ReLU6 output, each block's projection and residual sum,
the pooled features) rounded to uint8 over its calibration range; gradients pass straight through the
rounding (Jacob et al. 2018), and the loss is the KL divergence from the untouched float model's
predictions on unlabelled photos and video frames. The tuned float model is then quantized by the
usual recipe, which recalibrates, and gated against the *original* float model.

from-model -> ranges on calibration views -> fine-tune against the float model -> tuned float model
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_sdk.quantize.sampling import epoch_order
from edge_sdk.quantize.vision import int8
from edge_sdk.quantize.vision.data import PhotoSets
from edge_sdk.quantize.vision.export import export_onnx
from edge_sdk.quantize.vision.gptq import weight_grid
from edge_sdk.quantize.vision.images import collect_unlabelled, render_view, views
from edge_sdk.quantize.vision.models import ARCHS, Conv2dSame, DepthwiseSeparable, EfficientNet, InvertedResidual
from edge_sdk.vision.preprocess import PreprocessConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QatConfig:
    """How the float weights are tuned.

    Attributes:
        steps: Optimizer steps (batches).
        batch_size: Views per step.
        lr: Adam learning rate (BatchNorm scales stay fixed); 1e-5 halves the held-out logit error of the
            int8 simulation in 450 steps, 2e-5 does less in 200.
        views_per_image: Views per photo or frame (the first is the runtime's centre crop).
        video_every_n: Keep every n-th video frame.
        percentile: Activation ranges keep this share of each tensor's values, as onnxruntime's
            ``percentile`` calibration does.
        observe_views: Views the activation ranges are measured on.
        observe_every: Steps between measurements: the ranges follow the changing weights, since
            onnxruntime calibrates the tuned model afresh (on Lite0, percentile with the stem in float:
            3 of 78 held-out photos changed, logit RMSE 0.094; with the ranges of the start, 4 and 0.095).
        float_stem: The first Conv stays float (the ``stem`` exclusion of the int8 recipes).
        signed_weights: int8 (symmetric) weights, else uint8 with a zero point.
        seed: Views and batch order.
    """

    steps: int = 450
    batch_size: int = 16
    lr: float = 1e-5
    views_per_image: int = 8
    video_every_n: int = 10
    percentile: float = 99.999
    observe_views: int = 128
    observe_every: int = 25
    float_stem: bool = True
    signed_weights: bool = True
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def fake_quant_weight(w: torch.Tensor, signed: bool) -> torch.Tensor:
    """``w`` on onnxruntime's per-output-channel weight grid (:func:`~edge_sdk.quantize.vision.gptq.weight_grid`), with
    gradients passed straight through the rounding."""
    rows = w.reshape(len(w), -1)
    scale, qmin, qmax = (torch.from_numpy(np.asarray(a)).to(w.dtype)[:, None] for a in weight_grid(rows.detach().numpy(), signed))
    return (_RoundSTE.apply(rows / scale).clamp(qmin, qmax) * scale).reshape(w.shape)


def fake_quant_act(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``x`` rounded to uint8 over ``[lo, hi]`` (widened to hold 0, as onnxruntime does) and back; outside
    the range the gradient is zero, inside it passes straight through."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zero = round(-lo / scale)
    q = (_RoundSTE.apply(x / scale) + zero).clamp(0, 255)
    return (q - zero) * scale


def fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``conv`` followed by ``bn`` in inference mode, as one Conv (differentiable)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv.weight * scale.view(-1, 1, 1, 1), bias


class QuantSim(nn.Module):
    """An EfficientNet-Lite run as onnxruntime's QDQ graph of it: folded Convs on the int8 weight grid and
    uint8 activations. ``observe()`` records activation ranges on calibration inputs; then ``forward``
    quantizes with them."""

    def __init__(self, model: EfficientNet, float_stem: bool = True, signed_weights: bool = True, percentile: float = 99.999):
        super().__init__()
        blocks = [b for stage in model.blocks for b in stage]
        if not all(isinstance(b, (InvertedResidual, DepthwiseSeparable)) and b.se is None for b in blocks):
            raise ValueError("QuantSim expects an EfficientNet-Lite (no squeeze-excite)")
        self.model = model
        self.float_stem, self.signed, self.percentile = float_stem, signed_weights, percentile
        self.ranges: dict[str, tuple[float, float]] = {}
        self._observing = False

    @torch.no_grad()
    def observe(self, batches) -> dict[str, tuple[float, float]]:
        """Set each quantized activation's range from ``batches`` of inputs (lowest low, highest high
        of each batch's ``percentile`` bounds), running the network in float."""
        self.ranges, self._observing = {}, True
        try:
            for x in batches:
                self.forward(x)
        finally:
            self._observing = False
        return self.ranges

    def _act(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if self._observing:
            flat = x.detach().flatten().float()
            k = max(1, int(round(len(flat) * (1 - self.percentile / 100))))
            lo, hi = -torch.topk(-flat, k).values[-1].item(), torch.topk(flat, k).values[-1].item()
            old = self.ranges.get(name, (lo, hi))
            self.ranges[name] = (min(old[0], lo), max(old[1], hi))
            return x
        return fake_quant_act(x, *self.ranges[name])

    def _conv(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        w, b = fold(conv, bn)
        if quantize and not self._observing:
            w = fake_quant_weight(w, self.signed)
        padding = conv.padding
        if isinstance(conv, Conv2dSame):
            x, padding = conv.pad(x), 0
        return F.conv2d(x, w, b, conv.stride, padding, conv.dilation, conv.groups)

    def _block(self, name: str, b: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(b, InvertedResidual):
            y = self._act(f"{name}.pw", b.act(self._conv(b.conv_pw, b.bn1, x)))
            y = self._act(f"{name}.dw", b.act(self._conv(b.conv_dw, b.bn2, y)))
            y = self._act(f"{name}.pwl", self._conv(b.conv_pwl, b.bn3, y))
        else:
            y = self._act(f"{name}.dw", b.act(self._conv(b.conv_dw, b.bn1, x)))
            y = self._act(f"{name}.pw", self._conv(b.conv_pw, b.bn2, y))
        return self._act(f"{name}.add", x + y) if b.has_skip else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        if not self.float_stem:
            x = self._act("input", x)
        x = self._act("stem", m.act(self._conv(m.conv_stem, m.bn1, x, quantize=not self.float_stem)))
        for s, stage in enumerate(m.blocks):
            for i, block in enumerate(stage):
                x = self._block(f"blocks.{s}.{i}", block, x)
        x = self._act("head", m.act(self._conv(m.conv_head, m.bn2, x)))
        x = self._act("pool", x.mean((2, 3)))
        w = m.classifier.weight if self._observing else fake_quant_weight(m.classifier.weight, self.signed)
        return F.linear(x, w, m.classifier.bias)


def training_views(sources: list[Path], config: PreprocessConfig, cfg: QatConfig) -> torch.Tensor:
    """Rendered views ``(N, 3, S, S)`` of the photos and video frames in ``sources`` (files or folders)."""
    images, _ = collect_unlabelled(sources, set(), cfg.video_every_n)
    picked = views(len(images), [im.shape[:2] for im in images], cfg.views_per_image, cfg.seed)
    return torch.stack([render_view(images, v, config) for v in picked])


def fine_tune(model: EfficientNet, inputs: torch.Tensor, cfg: QatConfig, log_every: int = 25) -> tuple[EfficientNet, dict]:
    """A copy of ``model`` whose weights are tuned so that its int8 simulation matches ``model`` on ``inputs``.

    Returns:
        The tuned float model (BatchNorm statistics unchanged) and a report: the configuration, steps, views,
        the mean KL of the first and of the last steps, and how many activation ranges were observed.
    """
    torch.manual_seed(cfg.seed)
    reference = model.eval()
    tuned = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)  # 1.3 s a step of 16 against 1.65 s
    sim = QuantSim(tuned, cfg.float_stem, cfg.signed_weights, cfg.percentile)
    observed = inputs[epoch_order(len(inputs), 0, min(cfg.observe_views, len(inputs)), cfg.seed)]
    batches = [observed[i : i + cfg.batch_size] for i in range(0, len(observed), cfg.batch_size)]
    # BatchNorm scales stay: the Conv weights they multiply carry the same freedom, without Adam's
    # per-parameter step moving a near-zero scale by a large fraction of itself
    params = [p for n, p in tuned.named_parameters() if not (n.split(".")[-2].startswith("bn") and n.endswith("weight"))]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + np.cos(np.pi * step / cfg.steps)))
    curve = []
    for step in range(cfg.steps):
        if step % cfg.observe_every == 0:  # the ranges follow the weights, as onnxruntime will recalibrate the tuned model
            sim.observe(batches)
        x = inputs[epoch_order(len(inputs), step, cfg.batch_size, cfg.seed)].contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            target = F.log_softmax(reference(x), -1)
        loss = F.kl_div(F.log_softmax(sim(x), -1), target, log_target=True, reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curve.append(loss.item())
        if step % log_every == 0 or step == cfg.steps - 1:
            log.info("qat step %d/%d: KL %.4f", step + 1, cfg.steps, float(np.mean(curve[-log_every:])))
    n = max(1, min(10, cfg.steps // 4))  # steps averaged at each end of the curve
    report = {"config": cfg.to_dict(), "steps": cfg.steps, "views": len(inputs), "first_kl": round(float(np.mean(curve[:n])), 5),
              "last_kl": round(float(np.mean(curve[-n:])), 5), "activation_ranges": len(sim.ranges)}
    return tuned.eval().to(memory_format=torch.contiguous_format), report


def tuner(model: EfficientNet, arch: str, photos: PhotoSets, int8_format: str, cfg: QatConfig | None = None) -> int8.Tune:
    """A ``tune`` function for :func:`edge_sdk.quantize.vision.int8.measure_recipes`: fine-tunes ``model`` for ``int8_format``
    on views of the calibration photos and videos of ``photos`` (never the held-out ones) and exports the tuned
    float model."""
    cfg = replace(cfg or QatConfig(), signed_weights=int8.signed_weights(int8_format))
    sources = list(photos.calibration + photos.videos)

    def tune(out: Path) -> tuple[Path, dict]:
        spec = ARCHS[arch]
        tuned, report = fine_tune(model, training_views(sources, spec.preprocess, cfg), cfg)
        return export_onnx(tuned, out, spec.image_size), report | {"sources": len(sources)}

    return tune


def int8_ladder(model: EfficientNet, arch: str, photos: PhotoSets, int8_format: str, fallback: bool) -> tuple[tuple[dict, ...], int8.Tune | None]:
    """The build's int8 ladder and the ``tune`` function its rungs need: with ``fallback``, fine-tuning ``model``
    for int8 is the last rung (the dearest: ~12 min on 2 cores)."""
    if not fallback:
        return int8.LADDER, None
    return int8.LADDER + (int8.QAT_RUNG,), tuner(model, arch, photos, int8_format)
