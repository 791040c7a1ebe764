"""Preprocessing against the torch reference pipeline, and image decoding edge cases."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="OpenCV (edge-sdk-ondevice[camera]) is needed for image decoding")
torch = pytest.importorskip("torch", reason="torch is the reference implementation")
F = torch.nn.functional

from edge_sdk.errors import InvalidInputError  # noqa: E402
from edge_sdk.vision.image_io import decode_image, load_image  # noqa: E402
from edge_sdk.vision.preprocess import PreprocessConfig, preprocess, resized_shape  # noqa: E402

LITE = PreprocessConfig()  # EfficientNet-Lite: bicubic, 256 -> 224, [-1, 1]
RESNET = PreprocessConfig(224, 256, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear")


def torch_reference(rgb: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """torchvision eval transform on a float64 tensor: Resize(shorter, antialias) -> CenterCrop -> Normalize."""
    x = torch.from_numpy(rgb.astype(np.float64) / 255.0).permute(2, 0, 1)[None]
    h, w = rgb.shape[:2]
    rh, rw = resized_shape(h, w, cfg.resize_size)
    x = F.interpolate(x, size=(rh, rw), mode=cfg.interpolation, align_corners=False, antialias=True)
    s = cfg.image_size
    top, left = int(round((rh - s) / 2.0)), int(round((rw - s) / 2.0))
    x = x[:, :, top : top + s, left : left + s]
    mean = torch.tensor(cfg.mean, dtype=torch.float64)[:, None, None]
    std = torch.tensor(cfg.std, dtype=torch.float64)[:, None, None]
    return ((x - mean) / std).numpy()


@pytest.mark.parametrize("name", ["chelsea.png", "grace_hopper.jpg", "rocket.jpg", "camera.png"])
@pytest.mark.parametrize("cfg", [LITE, RESNET], ids=["lite-bicubic", "resnet-bilinear"])
def test_preprocess_matches_torch_reference_on_photos(data_dir, name, cfg):
    bgr = load_image(data_dir / "images" / name)
    rgb = bgr[:, :, ::-1] if bgr.ndim == 3 else np.repeat(bgr[:, :, None], 3, axis=2)
    ours = preprocess(bgr, cfg)
    assert ours.shape == (1, 3, 224, 224) and ours.dtype == np.float32
    assert np.abs(ours - torch_reference(np.ascontiguousarray(rgb), cfg)).max() < 1e-5


@pytest.mark.parametrize("shape", [(1080, 1920), (480, 640), (300, 200), (100, 150)], ids=["1080p", "vga", "portrait", "upscale"])
def test_preprocess_matches_torch_reference_on_sizes(shape):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = preprocess(rgb, LITE, color_order="rgb")
    assert np.abs(ours - torch_reference(rgb, LITE)).max() < 1e-5


def test_grayscale_equals_replicated_rgb():
    gray = np.random.default_rng(1).integers(0, 256, (240, 320), dtype=np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    assert np.abs(preprocess(gray, LITE) - torch_reference(rgb, LITE)).max() < 1e-5
    assert np.array_equal(preprocess(gray[:, :, None], LITE), preprocess(gray, LITE))


def test_rgba_drops_alpha():
    rng = np.random.default_rng(2)
    bgra = rng.integers(0, 256, (240, 320, 4), dtype=np.uint8)
    assert np.array_equal(preprocess(bgra, LITE), preprocess(np.ascontiguousarray(bgra[:, :, :3]), LITE))


def test_16bit_scales_to_8bit_range():
    rng = np.random.default_rng(3)
    img8 = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    img16 = img8.astype(np.uint16) * 257  # exact 8 -> 16 bit mapping
    assert np.abs(preprocess(img16, LITE) - preprocess(img8, LITE)).max() < 1e-5


def test_16bit_and_4channel_png_files_decode(tmp_path):
    rng = np.random.default_rng(4)
    cv2.imwrite(str(tmp_path / "g16.png"), rng.integers(0, 65536, (64, 80), dtype=np.uint16))
    cv2.imwrite(str(tmp_path / "rgba.png"), rng.integers(0, 256, (64, 80, 4), dtype=np.uint8))
    g16 = load_image(tmp_path / "g16.png")
    assert g16.dtype == np.uint16 and g16.shape == (64, 80)
    rgba = load_image(tmp_path / "rgba.png")
    assert rgba.shape == (64, 80, 3)
    for img in (g16, rgba):
        assert preprocess(img, LITE).shape == (1, 3, 224, 224)


def test_exif_orientation_is_applied(tmp_path):
    pil = pytest.importorskip("PIL.Image", reason="Pillow writes the EXIF test file")
    im = pil.new("RGB", (40, 20), (255, 0, 0))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    im.save(tmp_path / "o6.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "o6.jpg").shape[:2] == (40, 20)


def test_zero_size_frame_is_refused():
    with pytest.raises(InvalidInputError, match="zero size"):
        preprocess(np.zeros((0, 10, 3), np.uint8), LITE)


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 2), np.uint8), np.zeros((10, 10, 3), np.int32), [[1, 2], [3, 4]]])
def test_bad_arrays_are_refused(bad):
    with pytest.raises(InvalidInputError):
        preprocess(bad, LITE)


def test_unreadable_and_truncated_files(tmp_path, data_dir):
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(InvalidInputError, match="cannot decode"):
        load_image(tmp_path / "text.jpg")
    data = (data_dir / "images" / "grace_hopper.jpg").read_bytes()
    with pytest.raises(InvalidInputError, match="truncated"):
        decode_image(data[: len(data) // 2], "half.jpg")
    png = (data_dir / "images" / "camera.png").read_bytes()
    with pytest.raises(InvalidInputError):
        decode_image(png[: len(png) // 3], "half.png")
    with pytest.raises(InvalidInputError, match="empty"):
        decode_image(b"", "empty.png")
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.jpg")


def test_config_validation_names_the_bad_value():
    with pytest.raises(InvalidInputError, match="interpolation='nearest'"):
        PreprocessConfig(interpolation="nearest")
    with pytest.raises(InvalidInputError, match="resize_size=100"):
        PreprocessConfig(image_size=224, resize_size=100)
