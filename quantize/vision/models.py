"""Vision classifiers in plain torch, with timm's and torchvision's state-dict key names.

timm and torchvision are not needed (and not imported): a checkpoint saved from either loads
here with ``load_state_dict(strict=True)``. Architectures:

- EfficientNet-Lite0/1/2 as timm's ``tf_efficientnet_lite*``: TensorFlow "same" padding, ReLU6,
  no squeeze-excite, BatchNorm eps 1e-3, inputs scaled to [-1, 1].
- EfficientNet-B0 as timm's ``efficientnet_b0``: symmetric padding, SiLU, squeeze-excite,
  BatchNorm eps 1e-5, ImageNet mean/std inputs.
- ResNet-18/50 as torchvision's ``resnet18`` / ``resnet50`` (ImageNet mean/std inputs).
- MobileNetV2 as torchvision's ``mobilenet_v2``.
- MobileNetV3 large/small as torchvision's ``mobilenet_v3_large`` / ``mobilenet_v3_small``:
  hardswish, squeeze-excite with a hardsigmoid gate, BatchNorm eps 1e-3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_sdk.vision.preprocess import PreprocessConfig


@dataclass(frozen=True)
class ArchSpec:
    """How an architecture is built and what preprocessing its weights were trained with."""

    name: str
    image_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"

    @property
    def preprocess(self) -> PreprocessConfig:
        """The runtime's preprocessing for these weights."""
        return PreprocessConfig(self.image_size, self.resize_size, self.mean, self.std, self.interpolation)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

# Lite: (channel multiplier, depth multiplier, image size); crop_pct 0.875 as timm's default cfg.
LITE = {"efficientnet-lite0": (1.0, 1.0, 224), "efficientnet-lite1": (1.0, 1.1, 240), "efficientnet-lite2": (1.1, 1.2, 260)}

ARCHS = {
    **{name: ArchSpec(name, size, int(math.floor(size / 0.875)), HALF, HALF) for name, (_, _, size) in LITE.items()},
    "efficientnet-b0": ArchSpec("efficientnet-b0", 224, 256, IMAGENET_MEAN, IMAGENET_STD),
    # torchvision's IMAGENET1K_V1 transforms: resize 256, crop 224, bilinear (mobilenet_v3_large's V2 weights resize to 232)
    **{
        name: ArchSpec(name, 224, 256, IMAGENET_MEAN, IMAGENET_STD, "bilinear")
        for name in ("resnet18", "resnet50", "mobilenetv2", "mobilenetv3-large", "mobilenetv3-small")
    },
}


# ----------------------------------------------------------------------------- EfficientNet (timm names)


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: the extra pixel of an odd total pad goes right/bottom."""

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` padded as TensorFlow pads it before this convolution."""
        # int(): H and W are fixed at export, so the pad is a constant in the ONNX graph
        ih, iw = int(x.shape[-2]), int(x.shape[-1])
        pads = []
        for size, k, s in ((iw, self.kernel_size[1], self.stride[1]), (ih, self.kernel_size[0], self.stride[0])):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


@dataclass(frozen=True)
class EffNetVariant:
    """What differs between timm's TensorFlow-ported Lite models and its native EfficientNet."""

    act: Callable[[torch.Tensor], torch.Tensor]
    eps: float
    tf_same: bool  # TensorFlow "same" padding for strided convs, else timm's static symmetric pad
    se_ratio: float  # squeeze-excite width as a fraction of the block input; 0: none
    fixed_ends: bool  # Lite: stem, head and first/last stage depth do not scale

    def conv(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
        # timm uses a static symmetric pad where TF "same" is symmetric (stride 1, odd kernel).
        if self.tf_same and stride != 1:
            return Conv2dSame(cin, cout, k, stride, padding=0, groups=groups, bias=False)
        return nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False)

    def bn(self, c: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(c, eps=self.eps)

    def se(self, mid: int, cin: int) -> nn.Module | None:
        return SqueezeExcite(mid, round(cin * self.se_ratio), self.act) if self.se_ratio else None


LITE_VARIANT = EffNetVariant(F.relu6, 1e-3, tf_same=True, se_ratio=0.0, fixed_ends=True)
B0_VARIANT = EffNetVariant(F.silu, 1e-5, tf_same=False, se_ratio=0.25, fixed_ends=False)


class SqueezeExcite(nn.Module):
    """timm ``SqueezeExcite``: conv_reduce, act, conv_expand, sigmoid gate."""

    def __init__(self, c: int, rd: int, act: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.act = act
        self.conv_reduce = nn.Conv2d(c, rd, 1)
        self.conv_expand = nn.Conv2d(rd, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv_expand(self.act(self.conv_reduce(x.mean((2, 3), keepdim=True)))))


class DepthwiseSeparable(nn.Module):
    """timm ``DepthwiseSeparableConv``: conv_dw, bn1, [se], conv_pw, bn2."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, v: EffNetVariant):
        super().__init__()
        self.act = v.act
        self.has_skip = stride == 1 and cin == cout
        self.conv_dw = v.conv(cin, cin, k, stride, groups=cin)
        self.bn1 = v.bn(cin)
        self.se = v.se(cin, cin)
        self.conv_pw = v.conv(cin, cout, 1)
        self.bn2 = v.bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv_dw(x)))
        y = self.bn2(self.conv_pw(y if self.se is None else self.se(y)))
        return x + y if self.has_skip else y


class InvertedResidual(nn.Module):
    """timm ``InvertedResidual``: conv_pw, bn1, conv_dw, bn2, [se], conv_pwl, bn3."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int, v: EffNetVariant):
        super().__init__()
        mid = cin * expand
        self.act = v.act
        self.has_skip = stride == 1 and cin == cout
        self.conv_pw = v.conv(cin, mid, 1)
        self.bn1 = v.bn(mid)
        self.conv_dw = v.conv(mid, mid, k, stride, groups=mid)
        self.bn2 = v.bn(mid)
        self.se = v.se(mid, cin)
        self.conv_pwl = v.conv(mid, cout, 1)
        self.bn3 = v.bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv_pw(x)))
        y = self.act(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y if self.se is None else self.se(y)))
        return x + y if self.has_skip else y


# (block type, repeats, kernel, stride, expansion, channels) as in timm's _gen_efficientnet(_lite).
_EFFNET_STAGES = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)


def _round_channels(c: float, multiplier: float = 1.0, divisor: int = 8) -> int:
    c *= multiplier
    new = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return int(new + divisor) if new < 0.9 * c else int(new)


class EfficientNet(nn.Module):
    """timm ``EfficientNet`` key names (conv_stem, bn1, blocks.S.I, conv_head, bn2, classifier)."""

    def __init__(self, v: EffNetVariant, channel_mult: float = 1.0, depth_mult: float = 1.0, num_classes: int = 1000):
        super().__init__()
        self.act = v.act
        stem = 32 if v.fixed_ends else _round_channels(32, channel_mult)
        self.conv_stem = v.conv(3, stem, 3, 2)
        self.bn1 = v.bn(stem)
        stages, cin = [], stem
        last = len(_EFFNET_STAGES) - 1
        for i, (kind, reps, k, s, e, c) in enumerate(_EFFNET_STAGES):
            if not (v.fixed_ends and i in (0, last)):
                reps = int(math.ceil(reps * depth_mult))
            cout = _round_channels(c, channel_mult)
            blocks = []
            for r in range(reps):
                stride = s if r == 0 else 1
                if kind == "ds":
                    blocks.append(DepthwiseSeparable(cin, cout, k, stride, v))
                else:
                    blocks.append(InvertedResidual(cin, cout, k, stride, e, v))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        head = 1280 if v.fixed_ends else _round_channels(1280, channel_mult)
        self.conv_head = v.conv(cin, head, 1)
        self.bn2 = v.bn(head)
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.act(self.bn2(self.conv_head(x)))
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


def _cbr(
    cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU6, eps: float = 1e-5
) -> nn.Sequential:
    """torchvision ``Conv2dNormActivation``: conv (no bias), BatchNorm, optional activation (keys .0, .1)."""
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps)]
    return nn.Sequential(*layers, act(inplace=True)) if act else nn.Sequential(*layers)


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


# ----------------------------------------------------------------------------- MobileNetV3 (torchvision names)


class SqueezeExcitation(nn.Module):
    """torchvision ``ops.SqueezeExcitation`` as MobileNetV3 uses it: fc1, ReLU, fc2, hardsigmoid gate."""

    def __init__(self, c: int, squeeze: int):
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class MV3Block(nn.Module):
    """torchvision MobileNetV3 ``InvertedResidual``: block = [expand], depthwise, [se], project."""

    def __init__(self, cin: int, k: int, mid: int, cout: int, se: bool, hs: bool, stride: int):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = [] if mid == cin else [_cbr(cin, mid, 1, act=act, eps=1e-3)]
        layers.append(_cbr(mid, mid, k, stride, groups=mid, act=act, eps=1e-3))
        if se:
            layers.append(SqueezeExcitation(mid, _round_channels(mid // 4)))
        layers.append(_cbr(mid, cout, 1, act=None, eps=1e-3))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res_connect else self.block(x)


# (input, kernel, expanded, output, squeeze-excite, hardswish, stride) as torchvision's _mobilenet_v3_conf.
_MV3_LARGE = (
    (16, 3, 16, 16, False, False, 1),
    (16, 3, 64, 24, False, False, 2),
    (24, 3, 72, 24, False, False, 1),
    (24, 5, 72, 40, True, False, 2),
    (40, 5, 120, 40, True, False, 1),
    (40, 5, 120, 40, True, False, 1),
    (40, 3, 240, 80, False, True, 2),
    (80, 3, 200, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 480, 112, True, True, 1),
    (112, 3, 672, 112, True, True, 1),
    (112, 5, 672, 160, True, True, 2),
    (160, 5, 960, 160, True, True, 1),
    (160, 5, 960, 160, True, True, 1),
)
_MV3_SMALL = (
    (16, 3, 16, 16, True, False, 2),
    (16, 3, 72, 24, False, False, 2),
    (24, 3, 88, 24, False, False, 1),
    (24, 5, 96, 40, True, True, 2),
    (40, 5, 240, 40, True, True, 1),
    (40, 5, 240, 40, True, True, 1),
    (40, 5, 120, 48, True, True, 1),
    (48, 5, 144, 48, True, True, 1),
    (48, 5, 288, 96, True, True, 2),
    (96, 5, 576, 96, True, True, 1),
    (96, 5, 576, 96, True, True, 1),
)


class MobileNetV3(nn.Module):
    """torchvision ``mobilenet_v3_large/small`` (width 1.0) with the same key names (features.N, classifier.0/3)."""

    def __init__(self, cfg: tuple[tuple, ...], last_channel: int, num_classes: int = 1000):
        super().__init__()
        feats: list[nn.Module] = [_cbr(3, cfg[0][0], 3, 2, act=nn.Hardswish, eps=1e-3)]
        feats += [MV3Block(*c) for c in cfg]
        lastconv = 6 * cfg[-1][3]
        feats.append(_cbr(cfg[-1][3], lastconv, 1, act=nn.Hardswish, eps=1e-3))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(
            nn.Linear(lastconv, last_channel), nn.Hardswish(inplace=True), nn.Dropout(0.2), nn.Linear(last_channel, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def build_model(arch: str, num_classes: int = 1000) -> nn.Module:
    """An uninitialised model (random weights) of ``arch``, in eval mode.

    Raises:
        ValueError: Unknown architecture; the message lists the known ones.
    """
    if arch in LITE:
        cm, dm, _ = LITE[arch]
        model: nn.Module = EfficientNet(LITE_VARIANT, cm, dm, num_classes)
    elif arch == "efficientnet-b0":
        model = EfficientNet(B0_VARIANT, num_classes=num_classes)
    elif arch == "resnet18":
        model = ResNet(BasicBlock, (2, 2, 2, 2), num_classes)
    elif arch == "resnet50":
        model = ResNet(Bottleneck, (3, 4, 6, 3), num_classes)
    elif arch == "mobilenetv2":
        model = MobileNetV2(num_classes)
    elif arch == "mobilenetv3-large":
        model = MobileNetV3(_MV3_LARGE, 1280, num_classes)
    elif arch == "mobilenetv3-small":
        model = MobileNetV3(_MV3_SMALL, 1024, num_classes)
    else:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHS)}")
    return model.eval()
