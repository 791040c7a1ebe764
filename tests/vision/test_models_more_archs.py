"""MobileNetV3 large/small and EfficientNet-B0: same keys and same logits as torchvision/timm, ONNX equals torch.

The references in tests/fixtures/vision_archs/ were written by make_reference.py there from the real
torchvision/timm models (in a side environment: neither is a dependency). Both sides load the same
deterministic weights (det_state.py), so a fixture stores key shapes and a logit summary, not weights.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model preparation needs torch (edge-sdk-ondevice[quantize])")
pytest.importorskip("cv2", reason="photos are decoded with OpenCV")

from edge_sdk.quantize.vision import data  # noqa: E402
from edge_sdk.quantize.vision.export import export_onnx, max_abs_diff_vs_torch  # noqa: E402
from edge_sdk.quantize.vision.models import ARCHS, build_model  # noqa: E402
from edge_sdk.quantize.vision.weights import load_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision_archs"
NEW_ARCHS = ("mobilenetv3-large", "mobilenetv3-small", "efficientnet-b0")
_spec = importlib.util.spec_from_file_location("det_state", FIXTURES / "det_state.py")
det_state = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det_state)


def _fixture(arch: str) -> dict:
    return json.loads((FIXTURES / f"{arch}.json").read_text())


def _det_model(arch: str) -> tuple[torch.nn.Module, dict]:
    """Our model with the deterministic weights of the fixture's keys (strict), and the fixture."""
    fx = _fixture(arch)
    model = build_model(arch)
    model.load_state_dict(det_state.det_state_dict(dict(fx["keys"])), strict=True)
    return model.eval(), fx


@pytest.mark.parametrize("arch", NEW_ARCHS)
def test_keys_and_shapes_equal_the_reference_in_order(arch):
    fx = _fixture(arch)
    ours = [[k, list(v.shape)] for k, v in build_model(arch).state_dict().items()]
    assert ours == fx["keys"]


@pytest.mark.parametrize("arch", NEW_ARCHS)
def test_logits_equal_the_reference(arch):
    model, fx = _det_model(arch)
    x = det_state.fixed_input()
    assert det_state.input_checksum(x) == pytest.approx(fx["input"], rel=1e-9)  # same draw as the generator's torch
    with torch.no_grad():
        got = det_state.summary(model(x))
    want = fx["logits"]
    scale = max(abs(v) for row in want["first10"] for v in row)
    assert np.abs(np.array(got["first10"]) - np.array(want["first10"])).max() <= 1e-4 * scale
    assert got["row_sum"] == pytest.approx(want["row_sum"], rel=1e-4, abs=1e-4 * scale)
    assert got["argmax"] == want["argmax"]
    # the weights carry the input through the net: two inputs give clearly different logits
    assert abs(want["row_sum"][0] - want["row_sum"][1]) > 1e-3 * abs(want["row_sum"][0])


@pytest.mark.parametrize("arch", NEW_ARCHS)
def test_onnx_equals_torch(tmp_path, arch):
    model, _ = _det_model(arch)
    spec = ARCHS[arch]
    from edge_sdk.vision.preprocess import PreprocessConfig

    pre = PreprocessConfig(spec.image_size, spec.resize_size, spec.mean, spec.std, spec.interpolation)
    photos = data.photo_sets()
    batch = np.concatenate([data.batch(photos.holdout[:2], pre), det_state.fixed_input().numpy()[:1]])
    path = export_onnx(model, tmp_path / f"{arch}.onnx", spec.image_size)
    with torch.no_grad():
        scale = float(model(torch.from_numpy(batch)).abs().max())
    assert max_abs_diff_vs_torch(model, path, batch) <= 1e-4 * max(1.0, scale)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_checkpoint_on_disk_loads_by_name(tmp_path, suffix):
    arch = "efficientnet-b0" if suffix == ".safetensors" else "mobilenetv3-small"
    model, _ = _det_model(arch)
    sd = model.state_dict()
    path = tmp_path / f"{arch}{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save({"model": {f"module.{k}": v for k, v in sd.items()}}, path)
    loaded, info = load_checkpoint(arch, path)
    assert info["mapping"] == "by name"
    assert all(torch.equal(a, b) for a, b in zip(sd.values(), loaded.state_dict().values(), strict=True))


def test_preprocessing_as_the_weights_were_trained():
    b0, large, small = (ARCHS[a] for a in ("efficientnet-b0", "mobilenetv3-large", "mobilenetv3-small"))
    assert (b0.image_size, b0.resize_size, b0.interpolation) == (224, 256, "bicubic")  # timm: crop_pct 0.875
    assert (large.resize_size, large.interpolation) == (small.resize_size, small.interpolation) == (256, "bilinear")
    assert b0.mean == large.mean == small.mean == (0.485, 0.456, 0.406) and b0.std == (0.229, 0.224, 0.225)
