"""Vision classifiers in plain torch, with timm's and torchvision's state-dict key names.

timm and torchvision are not needed (and not imported): a checkpoint saved from either loads
here with ``load_state_dict(strict=True)``. Architectures:

- EfficientNet-Lite0/1/2 as timm's ``tf_efficientnet_lite*``: TensorFlow "same" padding, ReLU6,
  no squeeze-excite, BatchNorm eps 1e-3, inputs scaled to [-1, 1].
- ResNet-18/50 as torchvision's ``resnet18`` / ``resnet50`` (ImageNet mean/std inputs).
- MobileNetV2 as torchvision's ``mobilenet_v2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    """How an architecture is built and what preprocessing its weights were trained with."""

    name: str
    image_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

# Lite: (channel multiplier, depth multiplier, image size); crop_pct 0.875 as timm's default cfg.
LITE = {"efficientnet-lite0": (1.0, 1.0, 224), "efficientnet-lite1": (1.0, 1.1, 240), "efficientnet-lite2": (1.1, 1.2, 260)}

ARCHS = {
    **{name: ArchSpec(name, size, int(math.floor(size / 0.875)), HALF, HALF) for name, (_, _, size) in LITE.items()},
    "resnet18": ArchSpec("resnet18", 224, 256, IMAGENET_MEAN, IMAGENET_STD, "bilinear"),
    "resnet50": ArchSpec("resnet50", 224, 256, IMAGENET_MEAN, IMAGENET_STD, "bilinear"),
    "mobilenetv2": ArchSpec("mobilenetv2", 224, 256, IMAGENET_MEAN, IMAGENET_STD, "bilinear"),
}


# ----------------------------------------------------------------------------- EfficientNet-Lite


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: the extra pixel of an odd total pad goes right/bottom."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # int(): H and W are fixed at export, so the pad is a constant in the ONNX graph
        ih, iw = int(x.shape[-2]), int(x.shape[-1])
        pads = []
        for size, k, s in ((iw, self.kernel_size[1], self.stride[1]), (ih, self.kernel_size[0], self.stride[0])):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    # timm uses a static symmetric pad where TF "same" is symmetric (stride 1, odd kernel).
    if stride == 1:
        return nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False)
    return Conv2dSame(cin, cout, k, stride, padding=0, groups=groups, bias=False)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3)


class DepthwiseSeparable(nn.Module):
    """timm ``DepthwiseSeparableConv`` without SE: conv_dw, bn1, conv_pw, bn2."""

    def __init__(self, cin: int, cout: int, k: int, stride: int):
        super().__init__()
        self.has_skip = stride == 1 and cin == cout
        self.conv_dw = _conv(cin, cin, k, stride, groups=cin)
        self.bn1 = _bn(cin)
        self.conv_pw = _conv(cin, cout, 1)
        self.bn2 = _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.conv_dw(x)))
        y = self.bn2(self.conv_pw(y))
        return x + y if self.has_skip else y


class InvertedResidual(nn.Module):
    """timm ``InvertedResidual`` without SE: conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_skip = stride == 1 and cin == cout
        self.conv_pw = _conv(cin, mid, 1)
        self.bn1 = _bn(mid)
        self.conv_dw = _conv(mid, mid, k, stride, groups=mid)
        self.bn2 = _bn(mid)
        self.conv_pwl = _conv(mid, cout, 1)
        self.bn3 = _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.conv_pw(x)))
        y = F.relu6(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.has_skip else y


# (block type, repeats, kernel, stride, expansion, channels) as in timm's _gen_efficientnet_lite.
_LITE_STAGES = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)


def _round_channels(c: float, multiplier: float, divisor: int = 8) -> int:
    c *= multiplier
    new = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return int(new + divisor) if new < 0.9 * c else int(new)


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite with timm ``tf_efficientnet_lite*`` key names (conv_stem, blocks.S.I, conv_head, classifier)."""

    def __init__(self, channel_mult: float = 1.0, depth_mult: float = 1.0, num_classes: int = 1000):
        super().__init__()
        self.conv_stem = _conv(3, 32, 3, 2)  # Lite fixes the stem at 32 channels
        self.bn1 = _bn(32)
        stages, cin = [], 32
        last = len(_LITE_STAGES) - 1
        for i, (kind, reps, k, s, e, c) in enumerate(_LITE_STAGES):
            # Lite keeps the first and last stage depth fixed when scaling.
            reps = reps if i in (0, last) else int(math.ceil(reps * depth_mult))
            cout = _round_channels(c, channel_mult)
            blocks = []
            for r in range(reps):
                stride = s if r == 0 else 1
                blk = DepthwiseSeparable(cin, cout, k, stride) if kind == "ds" else InvertedResidual(cin, cout, k, stride, e)
                blocks.append(blk)
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = _conv(cin, 1280, 1)  # Lite fixes the head at 1280 channels
        self.bn2 = _bn(1280)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = F.relu6(self.bn2(self.conv_head(x)))
        return self.classifier(x.mean(dim=(2, 3)))


# ----------------------------------------------------------------------------- ResNet (torchvision names)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # torchvision v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ResNet(nn.Module):
    """torchvision ``ResNet`` (v1.5) with the same key names (conv1, bn1, layer1..4, fc)."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, ...], num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or cin != planes * block.expansion:
                down = nn.Sequential(nn.Conv2d(cin, planes * block.expansion, 1, stride, bias=False), nn.BatchNorm2d(planes * block.expansion))
            blocks = [block(cin, planes, stride, down)]
            cin = planes * block.expansion
            blocks += [block(cin, planes) for _ in range(1, n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(x.mean(dim=(2, 3), keepdim=True), 1))


# ----------------------------------------------------------------------------- MobileNetV2 (torchvision names)


def _cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class MV2Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers = [] if expand == 1 else [_cbr(cin, mid, 1)]
        layers += [_cbr(mid, mid, 3, stride, groups=mid), nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision ``mobilenet_v2`` (width 1.0) with the same key names (features.N, classifier.1)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        cfg = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
        feats: list[nn.Module] = [_cbr(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in cfg:
            for i in range(n):
                feats.append(MV2Block(cin, c, s if i == 0 else 1, t))
                cin = c
        feats.append(_cbr(cin, 1280, 1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def build_model(arch: str, num_classes: int = 1000) -> nn.Module:
    """An uninitialised model (random weights) of ``arch``, in eval mode.

    Raises:
        ValueError: Unknown architecture; the message lists the known ones.
    """
    if arch in LITE:
        cm, dm, _ = LITE[arch]
        model: nn.Module = EfficientNetLite(cm, dm, num_classes)
    elif arch == "resnet18":
        model = ResNet(BasicBlock, (2, 2, 2, 2), num_classes)
    elif arch == "resnet50":
        model = ResNet(Bottleneck, (3, 4, 6, 3), num_classes)
    elif arch == "mobilenetv2":
        model = MobileNetV2(num_classes)
    else:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHS)}")
    return model.eval()
